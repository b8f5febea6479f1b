"""The embedded demo model: a tiny LLaVA that answers questions about the synthetic world.

The checkpoint in ``whytoken/data/whytoken-demo/`` is an ordinary Hugging Face
LLaVA checkpoint: ``LlavaForConditionalGeneration.from_pretrained(dir)`` and
``AutoProcessor.from_pretrained(dir)`` load it offline like any other. This
module builds its parts and reads it back.

Architecture (defaults of :class:`DemoArchitecture`)
------------------------------------------------------
* vision tower: ``CLIPVisionModel``, 96 x 96 images, 16 px patches (6 x 6 = 36
  patches, one per world cell), hidden 64, 2 layers, 4 heads, MLP 192;
  ``vision_feature_layer=-1`` and ``vision_feature_select_strategy="default"``
  (CLS dropped), so there is exactly one image token per patch, in row-major
  order, and no pooling;
* projector: LLaVA's two-layer GELU MLP, 64 -> 64 -> 64;
* language model: ``LlamaForCausalLM``, hidden 64, 3 layers, 4 heads, MLP 192,
  word-level vocabulary of the world (:func:`whytoken.experiments.worlds.demo.vocabulary`)
  plus ``<pad> <s> </s> <unk> <image>``.

Always load it with ``attn_implementation="eager"`` (transformers does not save
the attention implementation; SDPA returns no attention weights).

Processor
---------
``LlavaProcessor`` = ``CLIPImageProcessor`` (resize to 96 x 96, which leaves a
96 x 96 image untouched, no centre crop, mean = std = 0.5 so that
``pixel = 2 * value / 255 - 1``) + a ``tokenizers`` WordLevel tokenizer (lower-case,
whitespace and punctuation split) wrapped as ``PreTrainedTokenizerFast``. The
prompt format is ``"{question} <image> answer :"``
(:data:`~whytoken.experiments.worlds.demo.PROMPT_TEMPLATE`): the question comes
first so that the image tokens can read it, the processor expands ``<image>``
to 36 image tokens, and the answer follows ``":"``. The chat template renders
a user message with a text and an image part to the same prompt. The model
answers with one word followed by ``</s>``. Batches of world samples become model inputs
with :func:`~whytoken.experiments.training.encoding.encode`.

Examples
--------
>>> from whytoken.experiments.training.demo_model import build_processor
>>> processor = build_processor()
>>> processor.tokenizer.tokenize("what color is the circle ? <image> answer :")[-4:]
['?', '<image>', 'answer', ':']
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
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
from whytoken.experiments.worlds.demo import IMAGE_PLACEHOLDER, WorldConfig, vocabulary

__all__ = [
    "DEFAULT_CHECKPOINT_DIR",
    "METADATA_FILE",
    "SPECIAL_TOKENS",
    "CHAT_TEMPLATE",
    "DemoArchitecture",
    "sincos_position_table",
    "build_tokenizer",
    "build_image_processor",
    "build_processor",
    "build_model",
    "load_demo",
    "read_metadata",
    "world_config_of",
]

logger = logging.getLogger(__name__)

#: Where the committed checkpoint lives (``load_model("whytoken-demo")`` resolves here).
DEFAULT_CHECKPOINT_DIR = Path(__file__).resolve().parents[2] / "data" / "whytoken-demo"
#: File beside the checkpoint with world parameters, training command and accuracy.
METADATA_FILE = "whytoken_demo.json"
#: Special tokens, in id order: pad=0, bos=1, eos=2, unk=3, image=4.
SPECIAL_TOKENS: tuple[str, ...] = ("<pad>", "<s>", "</s>", "<unk>", IMAGE_PLACEHOLDER)
#: Renders ``[{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": q}]}]`` to
#: ``"q <image>"`` (text parts first, then the image, whatever their order) and, with
#: ``add_generation_prompt=True``, appends ``" answer :"``: the demo prompt format.
CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{%- if message['role'] == 'user' -%}"
    "{%- if message['content'] is string -%}{{ message['content'] }}"
    "{%- else -%}"
    "{%- for part in message['content'] if part['type'] == 'text' -%}{{ part['text'] }}{%- endfor -%}"
    "{%- for part in message['content'] if part['type'] == 'image' -%}{{ ' <image>' }}{%- endfor -%}"
    "{%- endif -%}"
    "{%- elif message['role'] == 'assistant' -%}"
    "{{ ' answer : ' }}{{ message['content'] if message['content'] is string else message['content'][0]['text'] }}"
    "{{ ' </s>' }}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ ' answer :' }}{%- endif -%}"
)


@dataclass(frozen=True)
class DemoArchitecture:
    """Sizes of the demo model's vision tower and language model.

    Examples
    --------
    >>> DemoArchitecture().text_hidden
    64
    """

    vision_hidden: int = 64
    vision_layers: int = 2
    vision_heads: int = 4
    vision_intermediate: int = 192
    text_hidden: int = 64
    text_layers: int = 3
    text_heads: int = 4
    text_intermediate: int = 192
    sincos_positions: bool = True

    def __post_init__(self) -> None:
        for hidden, heads, name in ((self.vision_hidden, self.vision_heads, "vision"),
                                    (self.text_hidden, self.text_heads, "text")):
            if hidden <= 0 or heads <= 0 or hidden % heads or (hidden // heads) % 2:
                raise ConfigError(
                    f"{name}_hidden={hidden}, {name}_heads={heads}: expected positive sizes with an even head "
                    "dimension hidden // heads (e.g. 64 and 4)"
                )

    def to_dict(self) -> dict[str, int | bool]:
        """A JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DemoArchitecture:
        """Inverse of :meth:`to_dict`; unknown keys raise :class:`ConfigError`."""
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown architecture parameters {unknown}; expected a subset of {sorted(known)}")
        return cls(**{k: (bool(v) if k == "sincos_positions" else int(v)) for k, v in data.items()})


def sincos_position_table(grid: int, dim: int) -> torch.Tensor:
    """2-D sine-cosine position codes for a CLIP position table (row 0 = CLS = zeros), as in MAE.

    The first half of the channels encodes the patch row, the second half the
    column, each with sines and cosines of frequencies spaced geometrically
    from a period of 4 patches to a period of ``4 * grid`` patches.
    The demo model initialises its (learned) vision position embeddings with
    it, so that "the patch left of me" is a fixed linear map from the start.

    Returns
    -------
    torch.Tensor
        ``(1 + grid * grid, dim)``, scaled to an RMS of 0.1 (the order of the
        patch embeddings at initialisation).

    Examples
    --------
    >>> sincos_position_table(6, 64).shape
    torch.Size([37, 64])
    """
    if dim % 4:
        raise ConfigError(f"vision_hidden={dim} is not a multiple of 4; 2-D sine-cosine codes need dim % 4 == 0")
    quarter = dim // 4
    exponents = torch.arange(quarter, dtype=torch.float64) / max(1, quarter - 1)
    omega = (math.pi / 2) * (1.0 / grid) ** exponents
    rows, cols = torch.meshgrid(torch.arange(grid, dtype=torch.float64), torch.arange(grid, dtype=torch.float64),
                                indexing="ij")
    parts = []
    for coord in (rows.reshape(-1), cols.reshape(-1)):
        angles = coord[:, None] * omega[None, :]
        parts += [torch.sin(angles), torch.cos(angles)]
    table = torch.cat(parts, dim=1)
    table = 0.1 * table / table.pow(2).mean().sqrt()
    return torch.cat([torch.zeros((1, dim), dtype=torch.float64), table], dim=0).to(torch.float32)


def build_tokenizer(
    world: WorldConfig | None = None, words: Sequence[str] | None = None, model_max_length: int = 128
) -> PreTrainedTokenizerFast:
    """A word-level tokenizer over the world's vocabulary.

    Lower-cases, splits on whitespace and punctuation, and prepends ``<s>``.
    Special tokens get ids 0-4 (:data:`SPECIAL_TOKENS`); words follow in
    :func:`~whytoken.experiments.worlds.demo.vocabulary` order, or in the order
    of ``words`` when given (another world's vocabulary, e.g. world576's).

    Examples
    --------
    >>> tok = build_tokenizer()
    >>> tok("How many circles?").input_ids[:1] == [tok.bos_token_id]
    True
    >>> tok.convert_ids_to_tokens(tok("how many circles ?").input_ids)
    ['<s>', 'how', 'many', 'circles', '?']
    """
    words = list(words) if words is not None else vocabulary(world)
    vocab = {tok: i for i, tok in enumerate(list(SPECIAL_TOKENS) + words)}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    core.normalizer = normalizers.Lowercase()
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    core.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A $B", special_tokens=[("<s>", vocab["<s>"])]
    )
    core.add_special_tokens(list(SPECIAL_TOKENS))
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
        extra_special_tokens={"image_token": IMAGE_PLACEHOLDER},
        padding_side="left",
        model_max_length=model_max_length,
    )
    return tokenizer


def build_image_processor(world: WorldConfig | None = None) -> Any:
    """A CLIP image processor that maps a world image to pixel values without resampling.

    ``do_resize`` to exactly ``image_size x image_size`` (a no-op for world
    images), no centre crop, mean = std = 0.5.

    Examples
    --------
    >>> processor = build_image_processor()
    >>> processor.size["height"], processor.size["width"]
    (96, 96)
    """
    world = world or WorldConfig()
    side = world.image_size
    kwargs = dict(
        size={"height": side, "width": side},
        crop_size={"height": side, "width": side},
        do_resize=True,
        do_center_crop=False,
        do_rescale=True,
        do_normalize=True,
        image_mean=[0.5, 0.5, 0.5],
        image_std=[0.5, 0.5, 0.5],
        do_convert_rgb=True,
    )
    try:  # the torchvision backend when torchvision is installed, else the PIL one (same numbers)
        import torchvision  # noqa: F401
        from transformers import CLIPImageProcessor

        return CLIPImageProcessor(**kwargs)
    except ImportError:
        from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

        return CLIPImageProcessorPil(**kwargs)


def build_processor(
    world: WorldConfig | None = None, tokenizer: PreTrainedTokenizerFast | None = None, chat_template: str | None = None
) -> LlavaProcessor:
    """The LLaVA processor of the demo model (image processor + word-level tokenizer).

    ``tokenizer`` and ``chat_template`` replace the demo's (:func:`build_tokenizer`,
    :data:`CHAT_TEMPLATE`) for another world's model; ``world`` fixes the image and patch size.

    Examples
    --------
    >>> from whytoken.experiments.worlds.demo import generate
    >>> processor = build_processor()
    >>> sample = generate("test", 1)[0]
    >>> batch = processor(images=sample.image, text=sample.prompt, return_tensors="pt")
    >>> tuple(batch["pixel_values"].shape), int((batch["input_ids"] == 4).sum())
    ((1, 3, 96, 96), 36)
    """
    world = world or WorldConfig()
    return LlavaProcessor(
        image_processor=build_image_processor(world),
        tokenizer=tokenizer if tokenizer is not None else build_tokenizer(world),
        patch_size=world.patch_size,
        vision_feature_select_strategy="default",
        chat_template=chat_template if chat_template is not None else CHAT_TEMPLATE,
        image_token=IMAGE_PLACEHOLDER,
        num_additional_image_tokens=1,
    )


def build_model(
    tokenizer: PreTrainedTokenizerFast,
    world: WorldConfig | None = None,
    architecture: DemoArchitecture | None = None,
    seed: int = 0,
) -> LlavaForConditionalGeneration:
    """A randomly initialised demo LLaVA with eager attention.

    Parameters
    ----------
    tokenizer : PreTrainedTokenizerFast
        From :func:`build_tokenizer`; fixes the vocabulary and special ids.
    world : WorldConfig, optional
        Fixes image and patch size.
    architecture : DemoArchitecture, optional
        Layer sizes.
    seed : int, default 0
        Seed of the weight initialisation (``torch.manual_seed``).

    Examples
    --------
    >>> model = build_model(build_tokenizer())
    >>> model.config.vision_feature_select_strategy, model.config.text_config.num_hidden_layers
    ('default', 3)
    """
    world = world or WorldConfig()
    arch = architecture or DemoArchitecture()
    vision = CLIPVisionConfig(
        hidden_size=arch.vision_hidden,
        intermediate_size=arch.vision_intermediate,
        num_hidden_layers=arch.vision_layers,
        num_attention_heads=arch.vision_heads,
        image_size=world.image_size,
        patch_size=world.patch_size,
        num_channels=3,
        projection_dim=arch.vision_hidden,
    )
    text = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=arch.text_hidden,
        intermediate_size=arch.text_intermediate,
        num_hidden_layers=arch.text_layers,
        num_attention_heads=arch.text_heads,
        num_key_value_heads=arch.text_heads,
        max_position_embeddings=128,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )
    config = LlavaConfig(
        vision_config=vision,
        text_config=text,
        image_token_index=tokenizer.convert_tokens_to_ids(IMAGE_PLACEHOLDER),
        image_seq_length=world.num_patches,
        vision_feature_select_strategy="default",
        vision_feature_layer=-1,
        projector_hidden_act="gelu",
    )
    torch.manual_seed(seed)
    model = LlavaForConditionalGeneration._from_config(config, attn_implementation="eager")
    if arch.sincos_positions:
        with torch.no_grad():
            table = sincos_position_table(world.patch_grid, arch.vision_hidden)
            model.model.vision_tower.embeddings.position_embedding.weight.copy_(table)
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        max_new_tokens=2,
        do_sample=False,
    )
    return model


def read_metadata(path: str | Path | None = None) -> dict[str, Any]:
    """The checkpoint's ``whytoken_demo.json`` (world, architecture, training, accuracy).

    Examples
    --------
    >>> sorted(read_metadata())[:3]
    ['accuracy', 'architecture', 'evaluate_command']
    """
    return read_checkpoint_metadata(path if path is not None else DEFAULT_CHECKPOINT_DIR, METADATA_FILE, "demo",
                                    "whytoken.experiments.training.train")


def world_config_of(path: str | Path | None = None) -> WorldConfig:
    """The :class:`WorldConfig` a checkpoint was trained on, to regenerate matching scenes.

    Examples
    --------
    >>> world_config_of() == WorldConfig()
    True
    """
    return WorldConfig.from_dict(read_metadata(path)["world"])


def load_demo(
    path: str | Path | None = None, dtype: torch.dtype = torch.float32
) -> tuple[LlavaForConditionalGeneration, LlavaProcessor]:
    """Load the demo model (eval mode, eager attention) and its processor, offline.

    Parameters
    ----------
    path : str or Path, optional
        Checkpoint directory; the committed ``whytoken-demo`` by default.
    dtype : torch.dtype, default torch.float32
        Weights dtype.

    Returns
    -------
    (LlavaForConditionalGeneration, LlavaProcessor)

    Examples
    --------
    >>> model, processor = load_demo()
    >>> model.config._attn_implementation, model.training
    ('eager', False)
    """
    return load_llava_checkpoint(path if path is not None else DEFAULT_CHECKPOINT_DIR, dtype, "demo",
                                 "whytoken.experiments.training.train", DEFAULT_CHECKPOINT_DIR)
