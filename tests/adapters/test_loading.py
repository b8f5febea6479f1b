"""load_model: checkpoint directories, short names, the adapter registry, and lazy torch imports."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from whytoken.adapters import ArchitectureSpec, TokenKind, get_architecture, load_model, register_adapter
from whytoken.adapters.architectures import ARCHITECTURES
from whytoken.errors import CheckpointError, DuplicateRegistrationError, UnknownAdapterError

from .tiny import random_image, tiny_llama, tiny_llava


def test_load_from_checkpoint_directory(tmp_path):
    model, tokenizer = tiny_llama(seed=4)
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    adapter = load_model(str(tmp_path))
    assert adapter.source == str(tmp_path) and adapter.hf_class == "LlamaForCausalLM"
    trace = adapter.trace(prompt="the cat sits", max_new_tokens=2, stop_at_eos=False)
    reference = load_model(model, tokenizer).trace(prompt="the cat sits", max_new_tokens=2, stop_at_eos=False)
    assert [g.token_id for g in trace.generated] == [g.token_id for g in reference.generated]
    assert trace.model_info["source"] == str(tmp_path)


def test_load_llava_checkpoint_directory_with_processor(tmp_path):
    """The demo model is a LLaVA checkpoint directory: model and processor must both come back offline."""
    model, processor = tiny_llava(seed=4)
    model.save_pretrained(tmp_path)
    processor.save_pretrained(tmp_path)
    adapter = load_model(tmp_path, name="tiny-llava-dir")
    assert type(adapter.processor).__name__ == "LlavaProcessor" and adapter.name == "tiny-llava-dir"
    image = random_image(32, 40)
    trace = adapter.trace(image, "what is the cat", max_new_tokens=2, stop_at_eos=False)
    live = load_model(model, processor).trace(image, "what is the cat", max_new_tokens=2, stop_at_eos=False)
    assert [p.box for p in trace.positions] == [p.box for p in live.positions]
    assert trace.generated[0].prob == pytest.approx(live.generated[0].prob, rel=1e-5)


def test_directory_errors(tmp_path):
    with pytest.raises(CheckpointError, match="no config.json"):
        load_model(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"architectures": ["FancyNewForCausalLM"]}))
    with pytest.raises(UnknownAdapterError, match="FancyNewForCausalLM"):
        load_model(tmp_path)  # refused before any weights are read


def test_demo_checkpoint_missing_is_a_clear_error(monkeypatch, tmp_path):
    import importlib.resources

    from whytoken.adapters import loading

    monkeypatch.setattr(importlib.resources, "files", lambda package: tmp_path)
    with pytest.raises(CheckpointError, match="demo checkpoint is not in the package"):
        loading.demo_checkpoint()


def test_cache_dir_honours_the_environment(monkeypatch, tmp_path):
    from whytoken.adapters import cache_dir

    monkeypatch.setenv("WHYTOKEN_CACHE", str(tmp_path / "c"))
    assert cache_dir() == tmp_path / "c"


def test_registering_a_new_architecture():
    from transformers import OPTConfig, OPTForCausalLM

    spec = ArchitectureSpec(family="opt", decoder="model.decoder", attention="layers.{layer}.self_attn")
    model = OPTForCausalLM(OPTConfig(hidden_size=16, ffn_dim=32, num_hidden_layers=2, num_attention_heads=2,
                                     word_embed_proj_dim=16, vocab_size=64, max_position_embeddings=64,
                                     attn_implementation="eager"))
    _, tokenizer = tiny_llama()
    try:
        register_adapter("OPTForCausalLM", spec)
        with pytest.raises(DuplicateRegistrationError, match="overwrite=True"):
            register_adapter("OPTForCausalLM", spec)
        adapter = load_model(model, tokenizer)
        assert get_architecture(model) is spec and adapter.n_layers == 2
        trace = adapter.trace(prompt="the cat sits on", max_new_tokens=2, stop_at_eos=False)
        assert trace.attentions[1].shape == (2, trace.n_positions, trace.n_positions)
        assert trace.positions_of(TokenKind.GENERATED) == tuple(g.position for g in trace.generated)
        assert adapter.predict(trace, -1, [1]).target == trace.n_positions - 1
    finally:
        ARCHITECTURES.pop("OPTForCausalLM", None)


def test_wrong_decoder_path_in_a_spec():
    model, tokenizer = tiny_llama()
    from whytoken.adapters import ModelAdapter

    bad = ArchitectureSpec(family="x", decoder="model.nowhere", attention="layers.{layer}.self_attn")
    with pytest.raises(UnknownAdapterError, match="model.nowhere"):
        ModelAdapter(model, tokenizer, spec=bad)


@pytest.mark.slow  # two fresh interpreters importing torch and transformers
def test_data_types_import_without_torch():
    code = (
        "import sys\n"
        "import whytoken.adapters as a\n"
        "a.Trace, a.Position, a.TokenKind, a.GeneratedToken, a.Prediction\n"
        "assert a.list_interventions() and a.list_adapters()\n"
        "print('torch' in sys.modules)\n"
        "a.load_model\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True"]


@pytest.mark.parametrize("dtype", ["float64", "bfloat16"])
def test_dtype_and_device_arguments(dtype):
    import numpy as np
    import torch

    model, tokenizer = tiny_llava(seed=4)
    adapter = load_model(model, tokenizer, device="cpu", dtype=getattr(torch, dtype))
    assert adapter.dtype == getattr(torch, dtype) and adapter.model_info()["dtype"] == dtype
    trace = adapter.trace(random_image(32, 40), "what is the cat", max_new_tokens=2, stop_at_eos=False)
    attention = trace.attentions[adapter.n_layers - 1]
    assert attention.dtype == np.float32 and np.isfinite(attention).all()
    assert adapter.predict(trace, -1, removed=[1, 2], kind="pixel").kind == "pixel"
