"""Bad inputs to the adapters: checkpoints, prompts, images, context and vocabulary limits, traces, predictions."""

from __future__ import annotations

import dataclasses
import json
import zipfile

import numpy as np

from tests.reliability.harness import Kit, bad_input
from whytoken.errors import (
    AdapterError,
    CheckpointError,
    ContextLengthError,
    InterventionError,
    InvalidImageError,
    InvalidParameterError,
    InvalidPromptError,
    LayerError,
    ModelMismatchError,
    OutputError,
    SchemaError,
    TargetError,
    UnknownAdapterError,
    UnknownInterventionError,
    UnknownModelError,
)

PROMPT = "the cat sits on the"


# ------------------------------------------------------------------ shared tiny models and files
def llama(kit: Kit, seed: int = 3):
    def build():
        from tests.adapters.tiny import tiny_llama
        from whytoken.adapters import load_model

        model, tokenizer = tiny_llama(seed=seed)
        return load_model(model, tokenizer)

    return kit.cached(f"llama{seed}", build)


def llama_trace(kit: Kit):
    return kit.cached("llama-trace", lambda: llama(kit).trace(prompt=PROMPT, max_new_tokens=2, stop_at_eos=False))


def llava(kit: Kit):
    def build():
        from tests.adapters.tiny import tiny_llava
        from whytoken.adapters import load_model

        model, processor = tiny_llava(seed=3)
        return load_model(model, processor)

    return kit.cached("llava", build)


def gpt2(kit: Kit):
    def build():
        from tests.adapters.tiny import tiny_gpt2
        from whytoken.adapters import load_model

        model, tokenizer = tiny_gpt2(seed=3)
        return load_model(model, tokenizer)

    return kit.cached("gpt2", build)


def checkpoint(kit: Kit, name: str):
    """A fresh copy of a saved tiny LLaMA checkpoint directory, to damage."""
    import shutil

    def build():
        from tests.adapters.tiny import tiny_llama

        model, tokenizer = tiny_llama(seed=5)
        path = kit.path("pristine-checkpoint")
        model.save_pretrained(path)
        tokenizer.save_pretrained(path)
        return path

    pristine = kit.cached("checkpoint", build)
    copy = kit.tmp / f"ckpt-{name}"
    shutil.copytree(pristine, copy)
    return copy


def saved_trace(kit: Kit, name: str, suffix: str = ".safetensors"):
    return llama_trace(kit).save(kit.path(f"traces/{name}{suffix}"))


def _png(kit: Kit, name: str, array: np.ndarray, mode: str | None = None):
    from PIL import Image

    path = kit.path(f"images/{name}.png")
    (Image.fromarray(array, mode) if mode else Image.fromarray(array)).save(path)
    return path


# ------------------------------------------------------------------ loading models
@bad_input("models", UnknownModelError, "smolm2")
def case_unknown_short_name(kit: Kit):
    """A misspelled packaged model name."""
    from whytoken.adapters import load_model

    return load_model("smolm2")


@bad_input("models", CheckpointError, "config.json")
def case_checkpoint_without_config(kit: Kit):
    """A directory that is not a checkpoint."""
    from whytoken.adapters import load_model

    return load_model(kit.path("empty-dir/x").parent)


@bad_input("models", CheckpointError, "JSON list")
def case_config_json_is_a_list(kit: Kit):
    """A config.json holding a JSON array."""
    from whytoken.adapters import load_model

    path = checkpoint(kit, "config-list")
    (path / "config.json").write_text("[1, 2]")
    return load_model(path)


@bad_input("models", CheckpointError, "not valid JSON")
def case_config_json_truncated(kit: Kit):
    """A config.json cut off in the middle."""
    from whytoken.adapters import load_model

    path = checkpoint(kit, "config-cut")
    text = (path / "config.json").read_text()
    (path / "config.json").write_text(text[: len(text) // 2])
    return load_model(path)


@bad_input("models", UnknownAdapterError, "T5ForConditionalGeneration")
def case_config_names_unsupported_class(kit: Kit):
    """A checkpoint of an architecture with no adapter."""
    from whytoken.adapters import load_model

    path = checkpoint(kit, "t5")
    config = json.loads((path / "config.json").read_text())
    config["architectures"] = ["T5ForConditionalGeneration"]
    (path / "config.json").write_text(json.dumps(config))
    return load_model(path)


@bad_input("models", CheckpointError, "hidden_size")
def case_config_field_of_wrong_type(kit: Kit):
    """A config field holding a string where a number belongs."""
    from whytoken.adapters import load_model

    path = checkpoint(kit, "config-type")
    config = json.loads((path / "config.json").read_text())
    config["hidden_size"] = "big"
    (path / "config.json").write_text(json.dumps(config))
    return load_model(path)


@bad_input("models", CheckpointError, "ckpt-truncated")
def case_truncated_weights(kit: Kit):
    """model.safetensors cut off by an interrupted copy."""
    from whytoken.adapters import load_model

    path = checkpoint(kit, "truncated")
    weights = path / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    return load_model(path)


@bad_input("models", CheckpointError, "q_proj")
def case_weights_missing_a_tensor(kit: Kit):
    """A checkpoint lacking a tensor (from_pretrained would fill it with random values)."""
    from safetensors.torch import load_file, save_file

    from whytoken.adapters import load_model

    path = checkpoint(kit, "missing-tensor")
    state = load_file(path / "model.safetensors")
    del state[next(k for k in state if "q_proj" in k)]
    save_file(state, str(path / "model.safetensors"), metadata={"format": "pt"})
    return load_model(path)


@bad_input("models", CheckpointError, "tokenizer")
def case_damaged_tokenizer(kit: Kit):
    """A tokenizer.json whose structure is wrong."""
    from whytoken.adapters import load_model

    path = checkpoint(kit, "tokenizer")
    doc = json.loads((path / "tokenizer.json").read_text())
    doc["model"]["vocab"] = "x"
    (path / "tokenizer.json").write_text(json.dumps(doc))
    return load_model(path)


@bad_input("models", UnknownModelError, "dict")
def case_load_model_of_a_dict(kit: Kit):
    """Something that is neither a name, a directory nor a model."""
    from whytoken.adapters import load_model

    return load_model({"model": "x"})


# ------------------------------------------------------------------ prompts and limits
@bad_input("prompts", InvalidPromptError, "empty")
def case_empty_prompt(kit: Kit):
    """A blank prompt."""
    return llama(kit).trace(prompt="   ")


@bad_input("prompts", InvalidPromptError, "int")
def case_prompt_not_a_string(kit: Kit):
    """A prompt that is a number."""
    return llama(kit).trace(prompt=42)


@bad_input("prompts", ContextLengthError, "130 tokens", "128 positions")
def case_prompt_beyond_the_context_window(kit: Kit):
    """A prompt longer than GPT-2's position table (IndexError inside torch before)."""
    return gpt2(kit).trace(prompt=" ".join(["the cat"] * 65), max_new_tokens=1)


@bad_input("prompts", ContextLengthError, "max_new_tokens <= ", "256 positions")
def case_generation_beyond_the_context_window(kit: Kit):
    """Room for the prompt but not for the tokens to generate (rotary models degrade silently)."""
    return llama(kit).trace(prompt=" ".join(["the cat"] * 60), max_new_tokens=200)


@bad_input("prompts", InvalidParameterError, "0")
def case_zero_new_tokens(kit: Kit):
    """max_new_tokens of 0."""
    return llama(kit).trace(prompt=PROMPT, max_new_tokens=0)


@bad_input("prompts", LayerError, "layer 5", "-2..1")
def case_layer_out_of_range(kit: Kit):
    """Capturing a layer the model does not have."""
    return llama(kit).trace(prompt=PROMPT, layers=(5,))


@bad_input("prompts", LayerError, "'last'")
def case_layers_by_a_word(kit: Kit):
    """layers='last' instead of -1."""
    return llama(kit).trace(prompt=PROMPT, layers="last")


@bad_input("prompts", InvalidPromptError, "--no-chat-template", "chat_template=False", "TypeError")
def case_chat_template_that_does_not_fit(kit: Kit):
    """A chat template that fails on these messages (Jinja TypeError before)."""
    from tests.adapters.tiny import tiny_llama
    from whytoken.adapters import load_model

    model, tokenizer = tiny_llama(seed=3)
    tokenizer.chat_template = "{{ messages[0]['content'] + 1 }}"
    return load_model(model, tokenizer).trace(prompt=PROMPT, max_new_tokens=1)


@bad_input("prompts", InvalidPromptError, "no chat template", "chat_template=False")
def case_chat_template_requested_but_absent(kit: Kit):
    """chat_template=True for a model without one."""
    return llama(kit).trace(prompt=PROMPT, chat_template=True)


@bad_input("prompts", InvalidPromptError, "places 2 image token")
def case_more_image_placeholders_than_images(kit: Kit):
    """Two <image> placeholders and one image."""
    from tests.adapters.tiny import random_image

    return llava(kit).trace(random_image(), "<image> <image> what is it")


# ------------------------------------------------------------------ images
@bad_input("images", InvalidImageError, "text-only")
def case_image_for_a_text_model(kit: Kit):
    """An image given to a language model."""
    from tests.adapters.tiny import random_image

    return llama(kit).trace(random_image(), PROMPT)


@bad_input("images", InvalidImageError, "mode 'F'")
def case_float_mode_image(kit: Kit):
    """A 32-bit float PIL image (no known value range)."""
    from PIL import Image

    return llava(kit).trace(Image.fromarray(np.zeros((16, 16), dtype=np.float32), mode="F"), "what is it")


@bad_input("images", InvalidImageError, "ghost.png")
def case_image_file_missing(kit: Kit):
    """An image path that does not exist."""
    return llava(kit).trace(kit.tmp / "ghost.png", "what is it")


@bad_input("images", InvalidImageError, "cut.png", "truncated or damaged")
def case_image_file_truncated(kit: Kit):
    """A PNG cut off by an interrupted download."""
    from tests.adapters.tiny import random_image
    from whytoken.adapters.images import load_image

    path = _png(kit, "cut", random_image(64, 64))
    path.write_bytes(path.read_bytes()[:300])
    return load_image(path)


@bad_input("images", InvalidImageError, "notes.png", "not an image")
def case_image_file_is_text(kit: Kit):
    """A text file with an image suffix."""
    from whytoken.adapters.images import load_image

    path = kit.path("images/notes.png")
    path.write_text("shopping list")
    return load_image(path)


@bad_input("images", InvalidImageError, "8100x8100", "64,000,000")
def case_image_too_many_pixels(kit: Kit):
    """A 66-megapixel image (refused from its header, before decoding)."""
    from PIL import Image

    from whytoken.adapters.images import load_image

    path = kit.path("images/huge.png")
    Image.new("1", (8100, 8100)).save(path)
    return load_image(path)


@bad_input("images", InvalidImageError, "bomb.png", "too large to decode")
def case_decompression_bomb(kit: Kit):
    """A 196-megapixel PNG: PIL's DecompressionBombError."""
    from PIL import Image

    from whytoken.adapters.images import load_image

    path = kit.path("images/bomb.png")
    Image.new("1", (14000, 14000)).save(path)
    return load_image(path)


@bad_input("images", InvalidImageError, "1x1", "too small")
def case_image_one_pixel(kit: Kit):
    """A 1x1 image."""
    return llava(kit).trace(np.zeros((1, 1, 3), dtype=np.uint8), "what is it")


@bad_input("images", InvalidImageError, "(3, 32, 32)", "channels-first")
def case_image_channels_first(kit: Kit):
    """A (3, H, W) array."""
    return llava(kit).trace(np.zeros((3, 32, 32), dtype=np.uint8), "what is it")


@bad_input("images", InvalidImageError, "[0, 2]")
def case_image_float_out_of_range(kit: Kit):
    """A float image scaled to [0, 2]."""
    return llava(kit).trace(np.linspace(0.0, 2.0, 16 * 16 * 3).reshape(16, 16, 3), "what is it")


@bad_input("images", InvalidImageError, "12 bytes")
def case_image_as_bytes(kit: Kit):
    """Encoded bytes instead of an image."""
    return llava(kit).trace(b"\x89PNG\r\n\x1a\n0000", "what is it")


@bad_input("images", InvalidImageError, "int32")
def case_image_int32_range(kit: Kit):
    """A 32-bit integer array beyond 255."""
    return llava(kit).trace(np.full((16, 16, 3), 4000, dtype=np.int32), "what is it")


# ------------------------------------------------------------------ predictions and model identity
@bad_input("predict", TargetError, "target 99")
def case_target_out_of_range(kit: Kit):
    """A target position past the end."""
    return llama(kit).predict(llama_trace(kit), 99, removed=[1])


@bad_input("predict", TargetError, "removed position 77")
def case_removed_position_out_of_range(kit: Kit):
    """Removing a position that does not exist."""
    return llama(kit).predict(llama_trace(kit), -1, removed=[77])


@bad_input("predict", InterventionError, "contains the target position")
def case_removal_set_holds_the_target(kit: Kit):
    """Removing the target itself."""
    trace = llama_trace(kit)
    t = trace.generated[-1].position
    return llama(kit).predict(trace, t, removed=[1, t])


@bad_input("predict", UnknownInterventionError, "blur")
def case_unknown_intervention(kit: Kit):
    """An intervention kind that does not exist."""
    return llama(kit).predict(llama_trace(kit), -1, removed=[1], kind="blur")


@bad_input("predict", InvalidParameterError, "batch_size", "0")
def case_batch_size_zero(kit: Kit):
    """batch_size=0."""
    return llama(kit).predict_batch(llama_trace(kit), -1, [[1]], batch_size=0)


@bad_input("predict", ModelMismatchError, "LlavaForConditionalGeneration", "LlamaForCausalLM")
def case_trace_of_another_architecture(kit: Kit):
    """A LLaVA trace predicted with a LLaMA."""
    from tests.adapters.tiny import random_image

    trace = llava(kit).trace(random_image(32, 40), "what is the cat", max_new_tokens=1)
    return llama(kit).predict(trace, -1, removed=[1])


@bad_input("predict", ModelMismatchError, "different weights", "wt1:")
def case_trace_of_other_weights(kit: Kit):
    """Same class and depth, other weights: a silent wrong answer before fingerprints."""
    return llama(kit, seed=4).predict(llama_trace(kit), -1, removed=[1])


@bad_input("predict", ModelMismatchError, "token id 999")
def case_trace_token_beyond_vocabulary(kit: Kit):
    """A trace holding a token id the model has no embedding for."""
    trace = llama_trace(kit)
    ids = trace.input_ids.copy()
    ids[1] = 999
    return llama(kit).predict(dataclasses.replace(trace, input_ids=ids), -1, removed=[2])


@bad_input("predict", ContextLengthError, "at most 4 positions")
def case_replay_longer_than_the_model_accepts(kit: Kit):
    """Replaying a trace longer than the replaying model's window."""
    from tests.adapters.tiny import tiny_llama
    from whytoken.adapters import load_model

    model, tokenizer = tiny_llama(seed=3)
    adapter = load_model(model, tokenizer)
    trace = adapter.trace(prompt=PROMPT, max_new_tokens=1)
    adapter.text_config.max_position_embeddings = 4
    return adapter.predict(trace, -1, removed=[1])


# ------------------------------------------------------------------ trace files
@bad_input("traces", CheckpointError, "gone.safetensors", "does not exist")
def case_trace_missing(kit: Kit):
    """Loading a trace that does not exist."""
    from whytoken.adapters import Trace

    return Trace.load(kit.tmp / "gone.safetensors")


@bad_input("traces", CheckpointError, "half.safetensors", "truncated")
def case_trace_truncated_safetensors(kit: Kit):
    """A trace cut off by a full disk."""
    from whytoken.adapters import Trace

    path = saved_trace(kit, "half")
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return Trace.load(path)


@bad_input("traces", CheckpointError, "half.npz", "BadZipFile")
def case_trace_truncated_npz(kit: Kit):
    """An .npz trace cut off (zipfile.BadZipFile before)."""
    from whytoken.adapters import Trace

    path = saved_trace(kit, "half", ".npz")
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return Trace.load(path)


def _rewrite_npz_meta(kit: Kit, name: str, meta_text: str):
    path = saved_trace(kit, name, ".npz")
    data = dict(np.load(path))
    data["__whytoken_meta__"] = np.array(meta_text)
    np.savez(path, **data)
    return path


@bad_input("traces", SchemaError, "meta-cut.npz", "not valid JSON")
def case_trace_metadata_not_json(kit: Kit):
    """Trace metadata that is not JSON (JSONDecodeError before)."""
    from whytoken.adapters import Trace

    return Trace.load(_rewrite_npz_meta(kit, "meta-cut", '{"schema": "whytoken.trace/1", "positions": ['))


@bad_input("traces", SchemaError, "meta-list.npz", "JSON object")
def case_trace_metadata_is_a_list(kit: Kit):
    """Trace metadata that is a JSON array (AttributeError before)."""
    from whytoken.adapters import Trace

    return Trace.load(_rewrite_npz_meta(kit, "meta-list", "[1, 2]"))


@bad_input("traces", SchemaError, "kinds.npz", "'pixel'")
def case_trace_position_of_unknown_kind(kit: Kit):
    """A position whose kind is not a TokenKind."""
    from whytoken.adapters import Trace

    meta = llama_trace(kit).metadata()
    meta["positions"][1]["kind"] = "pixel"
    return Trace.load(_rewrite_npz_meta(kit, "kinds", json.dumps(meta)))


@bad_input("traces", SchemaError, "nan.npz", "attention.1", "NaN")
def case_trace_attention_with_nan(kit: Kit):
    """A trace whose attention holds NaN."""
    from whytoken.adapters import Trace

    path = saved_trace(kit, "nan", ".npz")
    data = dict(np.load(path))
    data["attention.1"] = data["attention.1"].copy()
    data["attention.1"][0, 2, 1] = np.nan
    np.savez(path, **data)
    return Trace.load(path)


@bad_input("traces", SchemaError, "vocab.npz", "token id 5000")
def case_trace_token_beyond_its_own_vocabulary(kit: Kit):
    """A trace file whose ids exceed the vocabulary it records."""
    from whytoken.adapters import Trace

    path = saved_trace(kit, "vocab", ".npz")
    data = dict(np.load(path))
    data["input_ids"] = data["input_ids"].copy()
    data["input_ids"][1] = 5000
    np.savez(path, **data)
    return Trace.load(path)


@bad_input("traces", CheckpointError, "trace-dir", "directory")
def case_trace_path_is_a_directory(kit: Kit):
    """Passing the directory instead of the trace file."""
    from whytoken.adapters import Trace

    saved_trace(kit, "trace-dir/trace")
    return Trace.load(kit.tmp / "traces" / "trace-dir")


@bad_input("traces", OutputError, "nowhere", "does not exist")
def case_trace_save_into_missing_directory(kit: Kit):
    """Saving a trace into a directory that does not exist."""
    return llama_trace(kit).save(kit.tmp / "nowhere" / "t.safetensors")


@bad_input("traces", SchemaError, "zipped.npz", "no whytoken trace metadata")
def case_trace_zip_without_arrays(kit: Kit):
    """A zip file that holds no trace arrays."""
    from whytoken.adapters import Trace

    path = kit.path("traces/zipped.npz")
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "hello")
    return Trace.load(path)


@bad_input("adapters", AdapterError, "processor")
def case_in_memory_model_without_processor(kit: Kit):
    """An in-memory model passed without its tokenizer."""
    from tests.adapters.tiny import tiny_llama
    from whytoken.adapters import load_model

    model, _ = tiny_llama(seed=3)
    return load_model(model)
