"""The ``whytoken-easyvqa`` model: a tiny LLaVA that answers easy-VQA questions from local image tokens.

The checkpoint in ``whytoken/data/whytoken-easyvqa/`` is an ordinary Hugging
Face LLaVA checkpoint: ``LlavaForConditionalGeneration.from_pretrained(dir)``
and ``AutoProcessor.from_pretrained(dir)`` load it offline, without the
``easy-vqa`` package or whytoken. This module builds its parts and reads it
back.

Architecture (:data:`ARCHITECTURE`)
-----------------------------------
* vision tower: ``CLIPVisionModel``, 64 x 64 images, 8 px patches (an 8 x 8
  grid, 64 image tokens), hidden 128, **one layer, read at**
  ``vision_feature_layer=-2``: the features are the patch embeddings (a
  linear map of the patch's pixels plus its position code) after CLIP's
  pre-layernorm, before any attention. Every image token is a function of its
  own 8 x 8 pixels only -- changing one patch changes exactly one image token
  -- so removing an image token removes exactly that patch's evidence and the
  ground-truth mask is the real cause. (The layer itself is computed and
  unused; ``vision_feature_layer=0`` would say the same but transformers 5
  reads 0 as "no hidden states".)
* projector: LLaVA's two-layer GELU MLP, 128 -> 64 -> 64, per token;
* language model: ``LlamaForCausalLM``, hidden 64, 3 layers, 4 heads, MLP
  192, a word-level vocabulary of easy-VQA's question words and answers plus
  ``<pad> <s> </s> <unk> <image>``.

Always load it with ``attn_implementation="eager"`` (transformers does not
save the attention implementation; SDPA returns no attention weights).

Processor
---------
``LlavaProcessor`` = ``CLIPImageProcessor`` (64 x 64, no crop,
``pixel = 2 * value / 255 - 1``) + the word-level tokenizer; the prompt is
``"{question} <image> answer :"`` (question words lower case, ``?`` split off),
``<image>`` expands to 64 image tokens, and the model answers with one word
and ``</s>``. The chat template renders a user message with a text and an image
part to the same prompt (the demo model's template).

Examples
--------
>>> from whytoken.experiments.worlds.easyvqa import demo_sample
>>> processor = build_processor()
>>> batch = processor(images=[demo_sample().image], text=[demo_sample().prompt], return_tensors="pt")
>>> int((batch["input_ids"] == processor.tokenizer.convert_tokens_to_ids("<image>")).sum())
64
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from transformers import (
    LlavaForConditionalGeneration,
    LlavaProcessor,
    PreTrainedTokenizerFast,
)

from whytoken.experiments.training.loader import load_llava_checkpoint, read_checkpoint_metadata
from whytoken.errors import ConfigError
from whytoken.experiments.training.demo_model import DemoArchitecture
from whytoken.experiments.training.demo_model import build_model as build_demo_model
from whytoken.experiments.training.demo_model import build_processor as build_demo_processor
from whytoken.experiments.training.demo_model import build_tokenizer as build_demo_tokenizer
from whytoken.experiments.worlds.easyvqa import GEOMETRY, vocabulary

__all__ = [
    "DEFAULT_CHECKPOINT_DIR",
    "METADATA_FILE",
    "MODEL_NAME",
    "ARCHITECTURE",
    "VISION_FEATURE_LAYER",
    "build_tokenizer",
    "build_processor",
    "build_model",
    "load_easyvqa",
    "read_metadata",
]

MODEL_NAME = "whytoken-easyvqa"
#: Where the committed checkpoint lives (``load_model("whytoken-easyvqa")`` resolves here).
DEFAULT_CHECKPOINT_DIR = Path(__file__).resolve().parents[2] / "data" / MODEL_NAME
#: File beside the checkpoint with the recipe, command, curve and test figures.
METADATA_FILE = "whytoken_easyvqa.json"


#: The model's sizes, in the demo recipe's terms: a one-layer vision tower (read below its layer, see the
#: module docstring), a three-layer language model.
ARCHITECTURE = DemoArchitecture(
    vision_hidden=128, vision_layers=1, vision_heads=4, vision_intermediate=256,
    text_hidden=64, text_layers=3, text_heads=4, text_intermediate=192, sincos_positions=True,
)
#: Read the vision tower's hidden states below its only layer: the patch embeddings, one per patch.
VISION_FEATURE_LAYER = -2


def build_tokenizer() -> PreTrainedTokenizerFast:
    """The word-level tokenizer: :data:`~whytoken.experiments.training.demo_model.SPECIAL_TOKENS`
    (ids 0-4), then :func:`~whytoken.experiments.worlds.easyvqa.vocabulary` (the demo recipe's builder).

    Lower-cases, splits on whitespace and punctuation (so ``"shape?"`` is
    ``shape ?``) and prepends ``<s>``.

    Examples
    --------
    >>> tok = build_tokenizer()
    >>> tok.convert_ids_to_tokens(tok("Is there a red shape?").input_ids)
    ['<s>', 'is', 'there', 'a', 'red', 'shape', '?']
    """
    return build_demo_tokenizer(words=vocabulary())


def build_processor() -> LlavaProcessor:
    """The model's ``LlavaProcessor`` (64 x 64 CLIP image processor + word-level tokenizer)."""
    return build_demo_processor(GEOMETRY, tokenizer=build_tokenizer())  # reads the geometry's sizes only


def build_model(
    tokenizer: PreTrainedTokenizerFast, architecture: DemoArchitecture | None = None, seed: int = 0
) -> LlavaForConditionalGeneration:
    """A randomly initialised easy-VQA LLaVA with eager attention and local image tokens.

    The demo recipe's builder at easy-VQA's geometry, read at
    :data:`VISION_FEATURE_LAYER`.

    Parameters
    ----------
    tokenizer : PreTrainedTokenizerFast
        From :func:`build_tokenizer`.
    architecture : DemoArchitecture, optional
        :data:`ARCHITECTURE` by default; ``vision_layers`` must be 1 for local image tokens.
    seed : int, default 0
        Seed of the weight initialisation (``torch.manual_seed``).

    Examples
    --------
    >>> model = build_model(build_tokenizer())
    >>> model.config.vision_feature_layer, model.config.vision_config.num_hidden_layers
    (-2, 1)
    """
    arch = architecture or ARCHITECTURE
    if arch.vision_layers != 1:
        raise ConfigError(
            f"vision_layers={arch.vision_layers}; expected 1: the easy-VQA model reads the patch embeddings below "
            "the vision tower's only layer, so that every image token sees its own patch alone"
        )
    model = build_demo_model(tokenizer, GEOMETRY, arch, seed=seed)  # reads the geometry's sizes only
    model.config.vision_feature_layer = VISION_FEATURE_LAYER
    return model


def read_metadata(path: str | Path | None = None) -> dict[str, Any]:
    """The checkpoint's ``whytoken_easyvqa.json`` (recipe, command, curve, test figures).

    Examples
    --------
    >>> read_metadata()["model"]
    'whytoken-easyvqa'
    """
    return read_checkpoint_metadata(path if path is not None else DEFAULT_CHECKPOINT_DIR, METADATA_FILE, "easy-VQA",
                                    "whytoken.experiments.training.easyvqa_train")


def load_easyvqa(
    path: str | Path | None = None, dtype: torch.dtype = torch.float32
) -> tuple[LlavaForConditionalGeneration, LlavaProcessor]:
    """Load the easy-VQA model (eval mode, eager attention) and its processor, offline, with plain transformers.

    Parameters
    ----------
    path : str or Path, optional
        Checkpoint directory; the committed ``whytoken-easyvqa`` by default.
    dtype : torch.dtype, default torch.float32

    Examples
    --------
    >>> model, processor = load_easyvqa()
    >>> model.config._attn_implementation, model.training
    ('eager', False)
    """
    return load_llava_checkpoint(path if path is not None else DEFAULT_CHECKPOINT_DIR, dtype, "easy-VQA",
                                 "whytoken.experiments.training.easyvqa_train", DEFAULT_CHECKPOINT_DIR)
