"""No silent wrong answers: where whytoken used to answer without complaint, it now either gives the
right answer or refuses.

* model identity: a trace explained with another checkpoint of the same class and depth is refused
  (it reported "explained" before); the same weights loaded again are accepted, and old traces
  without a fingerprint still work, with a warning that says what is not checked;
* images: the CLI and the library read a file through one loader, so a 16-bit PNG gives the same,
  correctly rescaled pixels in both (the CLI clipped 99.5 % of them before);
* the context window is checked before tracing (rotary models traced past it without error).
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from tests.adapters.tiny import tiny_llama
from whytoken.adapters import load_model
from whytoken.adapters.identity import weights_fingerprint
from whytoken.adapters.images import load_image, to_rgb_array
from whytoken.adapters.trace import Trace
from whytoken.cli import app
from whytoken.errors import ContextLengthError, ModelMismatchError

PROMPT = "the cat sits on the mat and the dog"


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """Two checkpoints of the same class and depth (seeds 1 and 2) saved to disk."""
    root = tmp_path_factory.mktemp("ckpts")
    paths = []
    for seed in (1, 2):
        model, tokenizer = tiny_llama(seed=seed)
        path = root / f"seed{seed}"
        model.save_pretrained(path)
        tokenizer.save_pretrained(path)
        paths.append(path)
    return paths


def test_the_fingerprint_survives_a_round_trip_through_disk(checkpoints):
    first, again = load_model(checkpoints[0]), load_model(checkpoints[0])
    assert weights_fingerprint(first.model) == weights_fingerprint(again.model)
    trace = first.trace(prompt=PROMPT, max_new_tokens=2, stop_at_eos=False)
    assert trace.fingerprint == weights_fingerprint(first.model)
    assert again.predict(trace, -1, removed=[1]).target == trace.generated[-1].position


def test_another_checkpoint_of_the_same_class_and_depth_is_refused(checkpoints, tmp_path):
    one, two = (load_model(p) for p in checkpoints)
    assert (one.hf_class, one.n_layers) == (two.hf_class, two.n_layers)
    saved = one.trace(prompt=PROMPT, max_new_tokens=2, stop_at_eos=False).save(tmp_path / "t.safetensors")
    trace = Trace.load(saved)
    with pytest.raises(ModelMismatchError, match="same architecture, different weights") as err:
        two.predict(trace, -1, removed=[1])
    assert str(checkpoints[0]) in str(err.value) and str(checkpoints[1]) in str(err.value)
    assert trace.fingerprint[:16] in str(err.value) and weights_fingerprint(two.model)[:16] in str(err.value)


def test_the_cli_refuses_to_explain_a_trace_with_another_checkpoint(checkpoints, tmp_path):
    runner = CliRunner()
    traced = runner.invoke(app, ["trace", "--model", str(checkpoints[0]), "--prompt", PROMPT,
                                 "--max-new-tokens", "2", "--out", str(tmp_path / "t.safetensors")])
    assert traced.exit_code == 0, traced.output
    result = runner.invoke(app, ["explain", "--trace", str(tmp_path / "t.safetensors"), "--model",
                                 str(checkpoints[1]), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "different weights" in errors[0] and "seed1" in errors[0] and "seed2" in errors[0]
    assert not (tmp_path / "out" / "explanation.json").exists()


def test_a_trace_without_a_fingerprint_still_works_and_says_what_is_not_checked(checkpoints, caplog):
    adapter = load_model(checkpoints[0])
    trace = adapter.trace(prompt=PROMPT, max_new_tokens=2, stop_at_eos=False)
    info = {k: v for k, v in trace.model_info.items() if k != "fingerprint"}
    old = dataclasses.replace(trace, model_info=info)
    assert old.fingerprint is None
    with caplog.at_level(logging.WARNING, logger="whytoken.adapters.base"):
        assert adapter.predict(old, -1, removed=[1]).target == trace.generated[-1].position
    assert any("no weights fingerprint" in r.message and "not that" in r.message for r in caplog.records)


def test_a_changed_dtype_is_another_model(checkpoints):
    import torch

    adapter = load_model(checkpoints[0])
    trace = adapter.trace(prompt=PROMPT, max_new_tokens=1)
    half = load_model(checkpoints[0], dtype=torch.bfloat16)
    with pytest.raises(ModelMismatchError, match="different weights"):
        half.predict(trace, -1, removed=[1])


def _sixteen_bit_png(path):
    ramp = np.linspace(0, 65535, 32 * 32).reshape(32, 32).astype(np.uint16)
    Image.fromarray(ramp).save(path)
    return ramp


def test_a_16_bit_image_is_rescaled_not_clipped_in_the_library_and_the_cli(tmp_path):
    ramp = _sixteen_bit_png(tmp_path / "deep.png")
    expected = ((ramp.astype(np.uint32) + 128) // 257).astype(np.uint8)
    from_file = np.asarray(load_image(tmp_path / "deep.png"))
    assert np.array_equal(from_file[..., 0], expected) and np.array_equal(from_file[..., 2], expected)
    assert np.array_equal(to_rgb_array(tmp_path / "deep.png"), from_file)  # adapter.trace(image=path)
    with Image.open(tmp_path / "deep.png") as opened:  # an already opened PIL image: the same pixels
        assert np.array_equal(to_rgb_array(opened), from_file)
    from whytoken.cli.options import load_image as cli_load_image

    assert np.array_equal(np.asarray(cli_load_image(tmp_path / "deep.png")), from_file)
    assert (from_file[..., 0] == 255).mean() < 0.01  # PIL's convert("RGB") made 99.5 % of them 255


def test_palette_transparency_is_composited_on_white(tmp_path):
    palette = Image.new("P", (8, 8), 0)
    palette.putpalette([0, 0, 0] + [255, 0, 0] * 255)
    palette.info["transparency"] = 0
    palette.save(tmp_path / "p.png", transparency=0)
    assert np.asarray(load_image(tmp_path / "p.png"))[0, 0].tolist() == [255, 255, 255]


def test_the_context_window_is_checked_before_tracing():
    model, tokenizer = tiny_llama(seed=3)
    adapter = load_model(model, tokenizer)
    with pytest.raises(ContextLengthError, match=r"max_new_tokens <= \d+"):
        adapter.trace(prompt=" ".join(["the cat"] * 100), max_new_tokens=100)
    fits = adapter.trace(prompt=" ".join(["the cat"] * 100), max_new_tokens=2, stop_at_eos=False)
    assert fits.n_positions <= 256
