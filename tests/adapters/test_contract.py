"""Contract tests, parametrized over every family in the architecture table, on tiny random models.

Each family is traced once (module scope); the tests then check what every
adapter promises: attention shapes and normalisation, provenance of every
position, reproduction of the traced probabilities by an unablated re-run,
batched interventions equal to one-at-a-time ones for every intervention kind,
exact save/load and interventions on a loaded trace.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from whytoken.adapters import Trace, TokenKind, list_adapters, list_interventions, load_model

from .tiny import BUILDERS, DEFAULT_PROMPT, PROMPTS, random_image

# PaliGemma's processor calls np.array(..., copy=False) on a list, which numpy 2 deprecates (not ours)
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

def test_every_registered_family_is_tested():
    assert set(list_adapters()) == set(BUILDERS)


@pytest.fixture(scope="module", params=sorted(BUILDERS))
def traced(request):
    hf_class = request.param
    model, processor = BUILDERS[hf_class](seed=0)
    adapter = load_model(model, processor, name=f"tiny-{hf_class}")
    image = None if adapter.spec.is_text_only else random_image(40, 56, seed=1)
    trace = adapter.trace(image, PROMPTS.get(hf_class, DEFAULT_PROMPT), max_new_tokens=3, layers=(0, -1),
                          stop_at_eos=False)
    return adapter, trace


def _removal_sets(adapter, trace, kind, seed=0, count=4):
    rng = np.random.default_rng(seed)
    t = trace.generated[-1].position
    if kind == "pixel":
        pool = list(trace.positions_of(TokenKind.IMAGE_PATCH))
    else:
        pool = [p for p in range(t if adapter.is_causal else trace.n_positions) if p != t]
    sets = [()]
    for size in (1, 2, 3)[:count - 1]:
        sets.append(tuple(sorted(rng.choice(pool, size=min(size, len(pool)), replace=False).tolist())))
    return t, sets


def test_attention_shapes_and_normalisation(traced):
    adapter, trace = traced
    n = trace.n_positions
    assert trace.layers == (0, adapter.n_layers - 1)
    for layer, attention in trace.attentions.items():
        assert attention.shape == (adapter.n_heads, n, n) and attention.dtype == np.float32
        assert (attention >= 0).all()
        np.testing.assert_allclose(attention.sum(-1), 1.0, atol=1e-4)
        upper = np.triu(attention, k=1)
        if adapter.spec.attention_pattern == "causal":
            assert upper.max() == 0.0
        elif adapter.spec.attention_pattern == "prefix-lm":
            assert upper[:, trace.prompt_length:].max() == 0.0  # generated rows are causal
            assert upper[:, :trace.prompt_length, :trace.prompt_length].max() > 0.0  # the prefix is not
        else:
            assert upper.max() > 0.0


def test_positions_have_provenance(traced):
    adapter, trace = traced
    kinds = [p.kind for p in trace.positions]
    assert [p.index for p in trace.positions] == list(range(trace.n_positions))
    np.testing.assert_array_equal(trace.input_ids, [p.token_id for p in trace.positions])
    assert TokenKind.PROMPT_TEXT in kinds
    if adapter.is_causal:
        assert len(trace.generated) == 3
        assert kinds[trace.prompt_length:] == [TokenKind.GENERATED] * 3
    else:
        assert [g.position for g in trace.generated] == list(trace.positions_of(TokenKind.GENERATED))
    for g in trace.generated:
        assert 0.0 < g.prob <= 1.0
    patches = [trace.positions[i] for i in trace.positions_of(TokenKind.IMAGE_PATCH)]
    if adapter.spec.is_text_only:
        assert not patches and trace.image_size is None and trace.patch_grid is None
        return
    width, height = trace.image_size
    assert (width, height) == (56, 40) and trace.patch_grid is not None
    assert patches and all(p.image_index == 0 and p.patch is not None for p in patches)
    for p in patches:
        x0, y0, x1, y1 = p.box
        assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height
    covered = np.zeros((height, width), dtype=bool)
    for p in patches:
        x0, y0, x1, y1 = p.box
        covered[y0:y1, x0:x1] = True
    assert covered.mean() > 0.5  # the patches tile (most of) the picture
    layout = trace.model_info["image_layouts"][0]
    assert layout["layout"] == adapter.spec.image_layout and tuple(
        (layout["grids"][0]["rows"], layout["grids"][0]["cols"])) == trace.patch_grid


def test_model_info_is_json_provenance(traced):
    adapter, trace = traced
    info = json.loads(json.dumps(trace.model_info))
    for key in ("name", "hf_class", "adapter", "n_layers", "n_heads", "head_dim", "hidden_size", "is_causal",
                "dtype", "versions", "generation"):
        assert key in info
    assert info["n_layers"] == adapter.n_layers and info["head_dim"] == adapter.head_dim == trace.head_dim
    assert trace.is_causal == adapter.is_causal


def test_unablated_rerun_reproduces_the_trace(traced):
    adapter, trace = traced
    for g in trace.generated:
        prediction = adapter.predict(trace, g.position, removed=[])
        assert prediction.top_token_id == g.token_id or not adapter.is_causal or g.prob < prediction.top_prob
        assert prediction.original_token_prob_after == pytest.approx(g.prob, rel=1e-4, abs=1e-6)
        assert not prediction.changed or prediction.top_prob >= g.prob


@pytest.mark.parametrize("kind", list_interventions())
def test_batched_equals_one_at_a_time(traced, kind):
    adapter, trace = traced
    if kind == "pixel" and adapter.spec.is_text_only:
        pytest.skip("text-only model: no image patches to blank")
    t, sets = _removal_sets(adapter, trace, kind)
    batched = adapter.predict_batch(trace, t, sets, kind=kind, batch_size=3)
    single = [adapter.predict(trace, t, s, kind=kind) for s in sets]
    assert [p.removed for p in batched] == [tuple(s) for s in sets]
    for b, s in zip(batched, single):
        assert b.kind == kind and b.target == t
        assert b.top_token_id == s.top_token_id
        assert b.top_prob == pytest.approx(s.top_prob, rel=1e-4, abs=1e-6)
        assert b.original_token_prob_after == pytest.approx(s.original_token_prob_after, rel=1e-4, abs=1e-6)
    if kind != "pixel":
        # removing things changes the distribution (the interventions are not no-ops)
        assert any(abs(b.original_token_prob_after - batched[0].original_token_prob_after) > 1e-6
                   for b in batched[1:])


def test_loaded_trace_replays_like_the_live_one(traced, tmp_path):
    adapter, trace = traced
    loaded = Trace.load(trace.save(tmp_path / "trace.safetensors"))
    assert loaded == trace and loaded.adapter is None
    kinds = ["mask"] if adapter.spec.is_text_only else ["mask", "pixel"]
    for kind in kinds:
        t, sets = _removal_sets(adapter, trace, kind, seed=3, count=3)
        live = adapter.predict_batch(trace, t, sets, kind=kind)
        replayed = adapter.predict_batch(loaded, t, sets, kind=kind)
        for a, b in zip(live, replayed):
            assert a.top_token_id == b.top_token_id
            assert a.original_token_prob_after == pytest.approx(b.original_token_prob_after, rel=1e-5, abs=1e-7)


def _hooks(model):
    return {(name, key) for name, module in model.named_modules()
            for key in [*module._forward_hooks, *module._forward_pre_hooks]}


def test_hooks_are_removed(traced):
    adapter, trace = traced
    before = _hooks(adapter.model)  # transformers installs some of its own (output recorders)
    adapter.predict_batch(trace, trace.generated[-1].position, [[], [1]], kind="zero")
    adapter.trace(None if adapter.spec.is_text_only else trace.images[0], trace.prompt, max_new_tokens=1,
                  layers="all")
    assert _hooks(adapter.model) == before


def test_model_inputs_are_what_predict_feeds(traced):
    import torch

    adapter, trace = traced
    t = trace.generated[-1].position
    length = t if adapter.is_causal else trace.n_positions
    inputs = adapter.model_inputs(trace, length)
    assert inputs["input_ids"].shape == (1, length)
    with torch.no_grad():
        logits = adapter.model(**inputs, use_cache=False).logits[0, length - 1 if adapter.is_causal else t]
    expected = adapter.predict(trace, t, removed=[]).original_token_prob_after
    assert float(logits.float().softmax(-1)[trace.generated[-1].token_id]) == pytest.approx(expected, rel=1e-4)
