"""Toy models: tiny random LLaMA and LLaVA models with offline word-level tokenizers.

They exercise the real ``transformers`` code paths of the adapters in
milliseconds, need no download and explain nothing meaningful: use them for
examples, tests and smoke runs of the pipeline (the causal core, the CLI),
never for results. Every builder takes a seed.

Examples
--------
>>> from whytoken.adapters.toy import toy_adapter
>>> adapter = toy_adapter("llama", seed=0)
>>> trace = adapter.trace(prompt="the cat sits on the", max_new_tokens=2, stop_at_eos=False)
>>> trace.n_positions, trace.attentions[adapter.n_layers - 1].shape
(8, (4, 8, 8))
>>> adapter.predict(trace, -1, removed=[2]).kind
'mask'
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from tokenizers import Tokenizer, models, pre_tokenizers, processors
from transformers import PreTrainedTokenizerFast

from whytoken.errors import UnknownModelError

__all__ = ["WORDS", "INIT", "LM_SPECIALS", "word_tokenizer", "tiny_llama", "tiny_llava", "toy_model", "toy_adapter",
           "toy_image", "TOY_FAMILIES"]

WORDS = ("the cat dog is on a mat red blue green what where describe image picture of capital france paris "
         "rome city country small big sits sees left right top bottom color shape and in").split()


def word_tokenizer(specials: dict[str, str], extra_special: dict[str, str] | None = None,
                   added: tuple[str, ...] = (), bos: bool = False, template: str | None = None,
                   model_max_length: int = 4096) -> PreTrainedTokenizerFast:
    """A whitespace word-level tokenizer over :data:`WORDS` plus the given special tokens.

    ``specials`` maps the standard roles (bos_token, eos_token, pad_token, unk_token, mask_token, cls_token,
    sep_token) to strings; ``extra_special`` adds named special tokens (image_token ...); ``added`` adds more
    special tokens without a role. ``template`` is an optional tokenizers TemplateProcessing single template.
    """
    extra_special = extra_special or {}
    vocab_tokens = list(dict.fromkeys([*specials.values(), *extra_special.values(), *added, *WORDS]))
    vocab = {w: i for i, w in enumerate(vocab_tokens)}
    backend = Tokenizer(models.WordLevel(vocab, unk_token=specials.get("unk_token", "<unk>")))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    if template is not None:
        names = [t for t in template.split() if t in vocab]
        backend.post_processor = processors.TemplateProcessing(
            single=template, special_tokens=[(t, vocab[t]) for t in dict.fromkeys(names)])
    elif bos:
        bos_token = specials["bos_token"]
        backend.post_processor = processors.TemplateProcessing(
            single=f"{bos_token} $A", special_tokens=[(bos_token, vocab[bos_token])])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, model_max_length=model_max_length,
                                        extra_special_tokens=extra_special or None, **specials)
    if added:
        tokenizer.add_special_tokens({"additional_special_tokens": list(added)})
    return tokenizer


#: Weight init scale: larger than the HF default so tiny random models have peaked, input-dependent outputs.
INIT = 0.25

LM_SPECIALS = {"bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>"}


def tiny_llama(seed: int = 0, vocab_size: int | None = None, layers: int = 2):
    """A tiny ``LlamaForCausalLM`` (hidden 32, 4 heads, 2 KV heads) and its word-level tokenizer (adds BOS)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = word_tokenizer(LM_SPECIALS, bos=True)
    config = LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=layers, num_attention_heads=4,
                         num_key_value_heads=2, vocab_size=vocab_size or len(tokenizer), max_position_embeddings=256,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id, initializer_range=INIT)
    config._attn_implementation = "eager"
    torch.manual_seed(seed)
    return LlamaForCausalLM(config).eval(), tokenizer


def tiny_llava(seed: int = 0, image_side: int = 32, patch: int = 8, pad_to_square: bool = False):
    """A tiny LLaVA-1.5 (CLIP vision tower, LLaMA text model) and its ``LlavaProcessor``."""
    from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig, LlavaForConditionalGeneration, LlavaProcessor
    from transformers.models.llava.image_processing_pil_llava import LlavaImageProcessorPil

    tokenizer = word_tokenizer(LM_SPECIALS, extra_special={"image_token": "<image>"}, bos=True)
    image_processor = LlavaImageProcessorPil(size={"shortest_edge": image_side},
                                             crop_size={"height": image_side, "width": image_side},
                                             do_pad=pad_to_square)
    processor = LlavaProcessor(image_processor=image_processor, tokenizer=tokenizer, patch_size=patch,
                               vision_feature_select_strategy="default", num_additional_image_tokens=1)
    vision = CLIPVisionConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                              image_size=image_side, patch_size=patch, initializer_range=INIT)
    text = LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                       num_key_value_heads=2, vocab_size=len(tokenizer), max_position_embeddings=256,
                       bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                       pad_token_id=tokenizer.pad_token_id, initializer_range=INIT)
    config = LlavaConfig(vision_config=vision, text_config=text, image_token_id=tokenizer.image_token_id,
                         vision_feature_select_strategy="default", vision_feature_layer=-1)
    config._attn_implementation = "eager"
    torch.manual_seed(seed)
    return LlavaForConditionalGeneration(config).eval(), processor



#: Families :func:`toy_model` can build.
TOY_FAMILIES = ("llama", "llava")


def toy_model(family: str = "llama", seed: int = 0) -> tuple[Any, Any]:
    """A tiny random ``(model, processor_or_tokenizer)`` of a family in :data:`TOY_FAMILIES`."""
    builders = {"llama": tiny_llama, "llava": tiny_llava}
    if family not in builders:
        raise UnknownModelError(f"unknown toy family {family!r}; toy families: {', '.join(TOY_FAMILIES)}")
    return builders[family](seed=seed)


def toy_adapter(family: str = "llama", seed: int = 0) -> Any:
    """:func:`toy_model` wrapped by :func:`~whytoken.adapters.load_model`."""
    from whytoken.adapters.loading import load_model

    model, processor = toy_model(family, seed)
    return load_model(model, processor, name=f"toy-{family}-seed{seed}")


def toy_image(height: int = 40, width: int = 48, seed: int = 0) -> np.ndarray:
    """A seeded random RGB image, uint8 ``(height, width, 3)``."""
    return np.random.default_rng(seed).integers(0, 256, size=(height, width, 3), dtype=np.uint8)
