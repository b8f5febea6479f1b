"""Bad input: every failure is a named WhytokenError subclass whose message says what was wrong and how to fix it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from whytoken.adapters import load_model
from whytoken.errors import (
    AdapterError,
    AttentionCaptureError,
    InterventionError,
    InvalidImageError,
    InvalidParameterError,
    InvalidPromptError,
    LayerError,
    TargetError,
    UnknownAdapterError,
    UnknownInterventionError,
    UnknownModelError,
)

from .tiny import random_image, tiny_bert, tiny_llama, tiny_llava, tiny_qwen2_vl


@pytest.fixture(scope="module")
def llama():
    model, tokenizer = tiny_llama(seed=3)
    adapter = load_model(model, tokenizer)
    return adapter, adapter.trace(prompt="the cat sits on the", max_new_tokens=2, stop_at_eos=False)


@pytest.fixture(scope="module")
def llava():
    model, processor = tiny_llava(seed=3)
    adapter = load_model(model, processor)
    return adapter, adapter.trace(random_image(32, 40), "what is the cat", max_new_tokens=2, stop_at_eos=False)


def test_image_given_to_text_only_model(llama):
    adapter, _ = llama
    with pytest.raises(InvalidImageError, match="text-only model"):
        adapter.trace(random_image(), "the cat")


@pytest.mark.parametrize("image, message", [
    (np.zeros((1, 1, 3), dtype=np.uint8), "too small"),
    (Image.fromarray(np.zeros((16, 16), dtype=np.float32), mode="F"), "mode 'F'"),
    (np.zeros((3, 32, 32), dtype=np.uint8), "channels-first"),
    (np.zeros((2, 8, 8, 3), dtype=np.uint8), "must have shape"),
    (np.full((16, 16, 3), 2.0), r"\[0, 1\]"),
    ("picture.png", "image file .picture.png. does not exist"),
], ids=["1x1", "mode-F", "channels-first", "4-d", "float-range", "path"])
def test_image_the_adapter_rejects(llava, image, message):
    adapter, _ = llava
    with pytest.raises(InvalidImageError, match=message):
        adapter.trace(image, "what is the cat")


def test_image_the_processor_rejects():
    model, processor = tiny_qwen2_vl(seed=3)
    adapter = load_model(model, processor)
    with pytest.raises(InvalidImageError, match=r"rejected the input with image\(s\) of size 500x2"):
        adapter.trace(random_image(2, 500), "what is the cat")  # aspect ratio 250 > 200, Qwen2-VL refuses


def test_target_out_of_range(llama):
    adapter, trace = llama
    with pytest.raises(TargetError, match=rf"valid positions are 0..{trace.n_positions - 1}"):
        adapter.predict(trace, trace.n_positions + 3, removed=[1])
    with pytest.raises(TargetError, match=r"\[-2, -1\]"):
        adapter.predict(trace, -5, removed=[1])
    with pytest.raises(TargetError, match="not a generated token"):
        adapter.predict(trace, 2, removed=[1])
    with pytest.raises(TargetError, match="removed position 99 is out of range"):
        adapter.predict(trace, -1, removed=[99])


def test_encoder_target_range():
    model, tokenizer = tiny_bert(seed=3)
    adapter = load_model(model, tokenizer)
    trace = adapter.trace(prompt="the cat is [MASK] the mat")
    with pytest.raises(TargetError, match=rf"1..{trace.n_positions - 1}"):
        adapter.predict(trace, 0)
    assert adapter.predict(trace, 2, removed=[1]).target == 2  # any position > 0 of an encoder


@pytest.mark.parametrize("prompt", ["", "   \n", None], ids=["empty", "blank", "none"])
def test_empty_prompt(llama, prompt):
    adapter, _ = llama
    with pytest.raises(InvalidPromptError, match="empty|must be a string"):
        adapter.trace(prompt=prompt)


def test_prompt_problems(llava):
    adapter, _ = llava
    with pytest.raises(InvalidPromptError, match="no chat template"):
        adapter.trace(random_image(), "what is it", chat_template=True)
    with pytest.raises(InvalidPromptError, match="places 2 image token"):
        adapter.trace(random_image(), "<image> <image> what is it")
    model, tokenizer = tiny_bert(seed=3)
    with pytest.raises(InvalidPromptError, match=r"needs at least one mask token '\[MASK\]'"):
        load_model(model, tokenizer).trace(prompt="the cat is on the mat")


def test_layer_out_of_range(llama):
    adapter, _ = llama
    with pytest.raises(LayerError, match=r"valid layers are -2..1"):
        adapter.trace(prompt="the cat", layers=(0, 2))
    with pytest.raises(LayerError, match="ints or 'all'"):
        adapter.trace(prompt="the cat", layers="last")


def test_removal_set_containing_the_target(llama):
    adapter, trace = llama
    t = trace.generated[-1].position
    with pytest.raises(InterventionError, match=f"contains the target position {t}"):
        adapter.predict(trace, t, removed=[1, t])
    with pytest.raises(InterventionError, match="come after the target"):
        adapter.predict(trace, trace.generated[0].position, removed=[t])


def test_intervention_problems(llava):
    adapter, trace = llava
    with pytest.raises(UnknownInterventionError, match="mask, mean, pixel, zero"):
        adapter.predict(trace, -1, removed=[1], kind="blur")
    text = trace.n_positions - 3
    with pytest.raises(InterventionError, match="image patches only"):
        adapter.predict(trace, -1, removed=[1, text], kind="pixel")
    with pytest.raises(InvalidParameterError, match="batch_size"):
        adapter.predict_batch(trace, -1, [[1]], batch_size=0)


def test_trace_of_another_model(llama, llava):
    adapter, _ = llama
    _, trace = llava
    with pytest.raises(AdapterError, match="re-run predict with the adapter that made the trace"):
        adapter.predict(trace, -1, removed=[1])


def test_attention_implementation_that_cannot_be_switched():
    model, tokenizer = tiny_llama(seed=3)
    model.set_attn_implementation("sdpa")

    def refuse(implementation):
        raise ValueError(f"this model only supports sdpa, not {implementation}")

    model.set_attn_implementation = refuse
    with pytest.raises(AttentionCaptureError, match="attn_implementation='eager'"):
        load_model(model, tokenizer)


def test_sdpa_models_are_switched_to_eager():
    model, tokenizer = tiny_llama(seed=3)
    model.set_attn_implementation("sdpa")
    adapter = load_model(model, tokenizer)
    assert model.config._attn_implementation == "eager"
    assert adapter.trace(prompt="the cat", max_new_tokens=1).attentions


def test_attention_module_that_returns_no_weights():
    model, tokenizer = tiny_llama(seed=3)
    adapter = load_model(model, tokenizer)
    attention = model.model.layers[1].self_attn
    original = attention.forward

    def without_weights(*args, **kwargs):
        output, _ = original(*args, **kwargs)
        return output, None

    attention.forward = without_weights
    with pytest.raises(AttentionCaptureError, match="returned no attention weights"):
        adapter.trace(prompt="the cat", max_new_tokens=1)


def test_nan_attention_is_reported():
    model, tokenizer = tiny_llama(seed=3)
    with torch.no_grad():
        model.model.layers[1].self_attn.q_proj.weight.fill_(float("nan"))
    adapter = load_model(model, tokenizer)
    with pytest.raises(AttentionCaptureError, match="NaN"):
        adapter.trace(prompt="the cat", max_new_tokens=1, layers=(1,))


def test_unknown_architecture_says_how_to_register():
    from transformers import OPTConfig, OPTForCausalLM

    model = OPTForCausalLM(OPTConfig(hidden_size=16, ffn_dim=32, num_hidden_layers=1, num_attention_heads=2,
                                     word_embed_proj_dim=16, vocab_size=50, max_position_embeddings=32))
    with pytest.raises(UnknownAdapterError, match=r"register_adapter\('OPTForCausalLM'"):
        load_model(model, tiny_llama()[1])


def test_unknown_model_name_lists_known_names():
    with pytest.raises(UnknownModelError, match="smollm2-135m-instruct, whytoken-demo"):
        load_model("smollm3-9b")


def test_in_memory_model_without_processor():
    model, _ = tiny_llama(seed=3)
    with pytest.raises(AdapterError, match=r"load_model\(model, processor\)"):
        load_model(model)


def test_bad_max_new_tokens(llama):
    adapter, _ = llama
    with pytest.raises(InvalidParameterError, match="max_new_tokens"):
        adapter.trace(prompt="the cat", max_new_tokens=0)
