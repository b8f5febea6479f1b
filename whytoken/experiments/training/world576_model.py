"""The ``whytoken-world576`` model: a tiny LLaVA-1.5-shaped model over 576 image tokens that see the whole image.

Architecture (defaults of :class:`World576Architecture`)
--------------------------------------------------------
* vision tower: ``CLIPVisionModel`` at LLaVA-1.5's geometry, 336 x 336 images
  and 14 px patches (24 x 24 = 576 image tokens), two encoder layers with
  global attention, and ``vision_feature_layer=-1`` (the last layer's output,
  the CLS token dropped, as LLaVA's ``"default"`` strategy). A 14 px patch of a
  20-72 px object does not show the object's shape, so, as in a real LLaVA,
  image tokens see the whole image; the vision probe (see
  :mod:`~whytoken.experiments.training.world576_batches`) trains each token to
  carry the colour and shape of the object covering it, and training with
  removed objects' tokens dropped teaches the language model that a removed
  token is absent content. Whether the world's ground-truth patches are the
  model's real causes is then *measured*, by blanking their pixels and by
  masking their tokens (:func:`~whytoken.experiments.training.world576_evaluate.intervention_check`).
  The position embeddings start from 2-D sine-cosine codes.
* projector: LLaVA's two-layer GELU MLP;
* language model: ``LlamaForCausalLM``, hidden 128, 4 layers, 4 heads, MLP 384,
  word-level vocabulary of the world plus ``<pad> <s> </s> <unk> <image>``. It
  groups the tokens of one object, counts and relates objects, and answers.

The prompt puts the image first, ``"<image> {question} answer :"``, as
LLaVA-1.5 does, so all questions about an image share the image prefix.
Load with ``attn_implementation="eager"`` to trace attention (the checkpoint
does not store an attention implementation).

Examples
--------
>>> processor = build_processor()
>>> processor.tokenizer.tokenize("<image> are the circle and the square the same color ? answer :")[:3]
['<image>', 'are', 'the']
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Mapping

import torch
from transformers import (
    CLIPVisionConfig,
    GenerationConfig,
    LlamaConfig,
    LlavaConfig,
    LlavaForConditionalGeneration,
    LlavaProcessor,
    PreTrainedTokenizerFast,
)

from whytoken.experiments.training.loader import load_llava_checkpoint, read_checkpoint_metadata
from whytoken.errors import ConfigError
from whytoken.experiments.training.demo_model import build_processor as build_demo_processor
from whytoken.experiments.training.demo_model import build_tokenizer as build_word_tokenizer
from whytoken.experiments.training.demo_model import sincos_position_table
from whytoken.experiments.worlds.world576 import IMAGE_PLACEHOLDER, WorldConfig, vocabulary

__all__ = [
    "DEFAULT_CHECKPOINT_DIR",
    "METADATA_FILE",
    "CHAT_TEMPLATE",
    "World576Architecture",
    "build_tokenizer",
    "build_processor",
    "build_model",
    "read_metadata",
    "load_world576",
]

#: Where the committed checkpoint lives (``load_model("whytoken-world576")`` resolves here).
DEFAULT_CHECKPOINT_DIR = Path(__file__).resolve().parents[2] / "data" / "whytoken-world576"
#: File beside the checkpoint with world, architecture, recipe, command, curve and figures.
METADATA_FILE = "whytoken_world576.json"
#: Renders a user message with an image and a text part to ``"<image> q"`` (the image first, whatever the
#: parts' order) and, with ``add_generation_prompt=True``, appends ``" answer :"``.
CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{%- if message['role'] == 'user' -%}"
    "{%- if message['content'] is string -%}{{ message['content'] }}"
    "{%- else -%}"
    "{%- for part in message['content'] if part['type'] == 'image' -%}{{ '<image> ' }}{%- endfor -%}"
    "{%- for part in message['content'] if part['type'] == 'text' -%}{{ part['text'] }}{%- endfor -%}"
    "{%- endif -%}"
    "{%- elif message['role'] == 'assistant' -%}"
    "{{ ' answer : ' }}{{ message['content'] if message['content'] is string else message['content'][0]['text'] }}"
    "{{ ' </s>' }}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ ' answer :' }}{%- endif -%}"
)


@dataclass(frozen=True)
class World576Architecture:
    """Sizes of the vision tower and the language model.

    Examples
    --------
    >>> World576Architecture().text_hidden
    128
    """

    vision_hidden: int = 96
    vision_heads: int = 4
    vision_intermediate: int = 192
    vision_layers: int = 2
    text_hidden: int = 128
    text_layers: int = 4
    text_heads: int = 4
    text_intermediate: int = 384

    def __post_init__(self) -> None:
        for hidden, heads, name in ((self.vision_hidden, self.vision_heads, "vision"),
                                    (self.text_hidden, self.text_heads, "text")):
            if hidden <= 0 or heads <= 0 or hidden % heads or (hidden // heads) % 2:
                raise ConfigError(
                    f"{name}_hidden={hidden}, {name}_heads={heads}: expected positive sizes with an even head "
                    "dimension hidden // heads (e.g. 128 and 4)"
                )
        if self.vision_layers < 1:
            raise ConfigError(f"vision_layers={self.vision_layers}; expected at least one CLIP encoder layer")
        if self.vision_hidden % 4:
            raise ConfigError(f"vision_hidden={self.vision_hidden}; expected a multiple of 4 (2-D sine-cosine codes)")

    def to_dict(self) -> dict[str, int]:
        """A JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> World576Architecture:
        """Inverse of :meth:`to_dict`; unknown keys raise :class:`ConfigError`."""
        unknown = sorted(set(data) - set(cls.__dataclass_fields__))
        if unknown:
            raise ConfigError(f"unknown architecture parameters {unknown}; expected a subset of {sorted(cls.__dataclass_fields__)}")
        return cls(**{k: int(v) for k, v in data.items()})


def build_tokenizer(world: WorldConfig | None = None) -> PreTrainedTokenizerFast:
    """A word-level tokenizer over the world's vocabulary (special tokens first, ids 0-4), as the demo model's.

    Examples
    --------
    >>> tok = build_tokenizer()
    >>> tok.convert_ids_to_tokens(tok("<image> how many circles ?").input_ids)
    ['<s>', '<image>', 'how', 'many', 'circles', '?']
    """
    return build_word_tokenizer(words=vocabulary(world), model_max_length=640)


def build_processor(world: WorldConfig | None = None) -> LlavaProcessor:
    """The LLaVA processor: a CLIP image processor that leaves 336 px images untouched + the tokenizer.

    Examples
    --------
    >>> from whytoken.experiments.worlds.world576 import generate
    >>> sample = generate("test", 1)[0]
    >>> batch = build_processor()(images=sample.image, text=sample.prompt, return_tensors="pt")
    >>> tuple(batch["pixel_values"].shape), int((batch["input_ids"] == 4).sum())
    ((1, 3, 336, 336), 576)
    """
    world = world or WorldConfig()
    return build_demo_processor(world, tokenizer=build_tokenizer(world), chat_template=CHAT_TEMPLATE)


def build_model(
    tokenizer: PreTrainedTokenizerFast,
    world: WorldConfig | None = None,
    architecture: World576Architecture | None = None,
    seed: int = 0,
    attn_implementation: str = "eager",
) -> LlavaForConditionalGeneration:
    """A randomly initialised world576 LLaVA.

    Examples
    --------
    >>> model = build_model(build_tokenizer())
    >>> model.config.vision_feature_layer, model.config.image_seq_length
    (-1, 576)
    """
    world = world or WorldConfig()
    arch = architecture or World576Architecture()
    vision = CLIPVisionConfig(
        hidden_size=arch.vision_hidden, intermediate_size=arch.vision_intermediate,
        num_hidden_layers=arch.vision_layers,
        num_attention_heads=arch.vision_heads, image_size=world.image_size, patch_size=world.patch_size,
        num_channels=3, projection_dim=arch.vision_hidden,
    )
    text = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=arch.text_hidden, intermediate_size=arch.text_intermediate,
        num_hidden_layers=arch.text_layers, num_attention_heads=arch.text_heads,
        num_key_value_heads=arch.text_heads, max_position_embeddings=640,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=False,
    )
    config = LlavaConfig(
        vision_config=vision, text_config=text,
        image_token_index=tokenizer.convert_tokens_to_ids(IMAGE_PLACEHOLDER),
        image_seq_length=world.num_patches, vision_feature_select_strategy="default",
        vision_feature_layer=-1, projector_hidden_act="gelu",
    )
    torch.manual_seed(seed)
    model = LlavaForConditionalGeneration._from_config(config, attn_implementation=attn_implementation)
    with torch.no_grad():
        table = sincos_position_table(world.patch_grid, arch.vision_hidden)
        model.model.vision_tower.embeddings.position_embedding.weight.copy_(table)
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, max_new_tokens=2, do_sample=False,
    )
    return model


def read_metadata(path: str | Path | None = None) -> dict[str, Any]:
    """The checkpoint's ``whytoken_world576.json`` (world, architecture, recipe, command, curve, figures).

    Raises
    ------
    CheckpointError
        If the file is missing or not JSON.
    """
    return read_checkpoint_metadata(path if path is not None else DEFAULT_CHECKPOINT_DIR, METADATA_FILE, "world576",
                                    "whytoken.experiments.training.world576_train")


def load_world576(
    path: str | Path | None = None, dtype: torch.dtype = torch.float32
) -> tuple[LlavaForConditionalGeneration, LlavaProcessor]:
    """Load the world576 model (eval mode, eager attention) and its processor with plain ``from_pretrained``.

    Raises
    ------
    CheckpointError
        If the directory holds no loadable checkpoint.
    """
    return load_llava_checkpoint(path if path is not None else DEFAULT_CHECKPOINT_DIR, dtype, "world576",
                                 "whytoken.experiments.training.world576_train", DEFAULT_CHECKPOINT_DIR)
