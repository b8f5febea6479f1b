"""The trace data types: validation, queries, target resolution and exact save/load round trips."""

from __future__ import annotations

import json

import numpy as np
import pytest

from whytoken.adapters.trace import GeneratedToken, Position, Prediction, TokenKind, Trace
from whytoken.errors import CheckpointError, LayerError, SchemaError, TargetError


def _trace(n_prompt: int = 4, n_generated: int = 2, layers=(0, 3), seed: int = 0, with_image: bool = True) -> Trace:
    rng = np.random.default_rng(seed)
    n = n_prompt + n_generated
    positions = [Position(0, TokenKind.SPECIAL, 1, "<s>")]
    if with_image:
        positions.append(Position(1, TokenKind.IMAGE_PATCH, 5, "<image>", patch=(0, 0), box=(0, 0, 7, 7),
                                  image_index=0))
    while len(positions) < n_prompt:
        positions.append(Position(len(positions), TokenKind.PROMPT_TEXT, 10 + len(positions), f" w{len(positions)}"))
    generated = []
    for k in range(n_generated):
        index = n_prompt + k
        positions.append(Position(index, TokenKind.GENERATED, 20 + k, f" g{k}"))
        generated.append(GeneratedToken(index, 20 + k, f" g{k}", float(rng.uniform(0.1, 0.9))))
    attentions = {}
    for layer in layers:
        raw = np.tril(rng.uniform(size=(3, n, n))).astype(np.float32)
        attentions[layer] = raw / raw.sum(-1, keepdims=True)
    images = (rng.integers(0, 256, size=(7, 9, 3), dtype=np.uint8),) if with_image else ()
    return Trace(tuple(positions), tuple(generated), attentions, prompt="say something",
                 image_size=(9, 7) if with_image else None, patch_grid=(1, 1) if with_image else None,
                 model_info={"name": "fake", "n_layers": 4, "n_heads": 3, "head_dim": 8, "is_causal": True,
                             "generation": {"max_new_tokens": n_generated}, "score": 0.1 + 0.2},
                 input_ids=np.array([p.token_id for p in positions]), images=images)


@pytest.mark.parametrize("suffix", [".safetensors", ".npz", ".trace"])
def test_save_load_round_trip_is_exact(tmp_path, suffix):
    trace = _trace()
    loaded = Trace.load(trace.save(tmp_path / f"t{suffix}"))
    assert loaded == trace
    assert loaded.adapter is None
    for layer in trace.layers:
        assert loaded.attentions[layer].dtype == np.float32
        np.testing.assert_array_equal(loaded.attentions[layer], trace.attentions[layer])
    np.testing.assert_array_equal(loaded.images[0], trace.images[0])
    assert loaded.model_info["score"] == 0.1 + 0.2  # floats survive JSON bit-exactly
    assert loaded.positions[1].patch == (0, 0) and isinstance(loaded.positions[1].box, tuple)


def test_round_trip_without_images_or_attention(tmp_path):
    trace = _trace(layers=(), with_image=False)
    assert Trace.load(trace.save(tmp_path / "t.safetensors")) == trace


def test_equality_sees_attention_values():
    a, b = _trace(seed=1), _trace(seed=1)
    assert a == b
    b.attentions[0][0, 0, 0] += 1e-3
    assert a != b


def test_queries():
    trace = _trace()
    assert trace.n_positions == 6 and trace.prompt_length == 4
    assert trace.positions_of(TokenKind.IMAGE_PATCH) == (1,)
    assert trace.positions_of("generated") == (4, 5)
    assert trace.head_dim == 8 and trace.n_heads == 3 and trace.is_causal
    assert trace.layers == (0, 3)
    assert trace.attention(-1).shape == (6, 6)
    np.testing.assert_allclose(trace.attention(0).sum(-1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(trace.attention(3, head=2), trace.attentions[3][2])
    assert trace.generated_text == " g0 g1"
    assert "fake" in repr(trace)


def test_target_resolution():
    trace = _trace()
    assert trace.target_index(-1) == 5
    assert trace.target_index(-2) == 4
    assert trace.target_index(4) == 4
    assert trace.target_index(trace.generated[0]) == 4
    assert trace.target_index(" g1") == 5
    assert trace.find_generated("g0") == 4  # stripped match
    with pytest.raises(TargetError, match=r"0\.\.5"):
        trace.target_index(6)
    with pytest.raises(TargetError, match=r"\[-2, -1\]"):
        trace.target_index(-3)
    with pytest.raises(TargetError, match="g0"):
        trace.find_generated("nope")


def test_layer_errors():
    trace = _trace()
    with pytest.raises(LayerError, match=r"captured layers are \[0, 3\]"):
        trace.attention(1)
    with pytest.raises(LayerError, match="0..2"):
        trace.attention(0, head=3)


def test_validation_rejects_inconsistent_traces():
    trace = _trace()
    with pytest.raises(SchemaError, match="shape"):
        Trace(trace.positions, trace.generated, {0: np.ones((3, 5, 5))}, "p", None, None, {})
    with pytest.raises(SchemaError, match="in order"):
        Trace(trace.positions[::-1], (), {}, "p", None, None, {})
    with pytest.raises(SchemaError, match="not a GENERATED"):
        Trace(trace.positions, (GeneratedToken(0, 1, "<s>", 1.0),), {}, "p", None, None, {})
    with pytest.raises(SchemaError, match="uint8"):
        Trace(trace.positions, (), {}, "p", None, None, {}, images=(np.zeros((4, 4, 3), dtype=np.float32),))


def test_load_errors(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        Trace.load(tmp_path / "missing.safetensors")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a trace at all")
    with pytest.raises(CheckpointError, match="not a whytoken trace"):
        Trace.load(bad)
    path = _trace().save(tmp_path / "t.npz")
    data = dict(np.load(path))
    meta = json.loads(str(data["__whytoken_meta__"]))
    meta["schema"] = "whytoken.trace/999"
    data["__whytoken_meta__"] = np.array(json.dumps(meta))
    np.savez(tmp_path / "future.npz", **data)
    with pytest.raises(SchemaError, match="whytoken.trace/999"):
        Trace.load(tmp_path / "future.npz")


def test_position_and_prediction_values():
    position = Position(2, "image_patch", 5, "<image>", patch=[1, 2], box=[0, 0, 4, 4], image_index=0)
    assert position.kind is TokenKind.IMAGE_PATCH and position.patch == (1, 2)
    assert Position.from_dict(json.loads(json.dumps(position.to_dict()))) == position
    with pytest.raises(SchemaError, match="4 integers"):
        Position(0, "image_patch", 5, "<image>", box=(1, 2))
    unchanged = Prediction((3, 1), "mask", 9, " Paris", 0.7, 9, 0.77, target=5, original_token_prob_after=0.7)
    assert unchanged.removed == (1, 3) and not unchanged.changed
    assert unchanged.prob_drop == pytest.approx(0.07)
    changed = Prediction((), "mask", 4, " the", 0.2, 9, 0.77)
    assert changed.changed and np.isnan(changed.prob_drop)
    assert json.loads(json.dumps(changed.to_dict()))["top_token_text"] == " the"
