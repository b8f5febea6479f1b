"""Per-architecture facts, as data: one table keyed by the Hugging Face class name.

Every model family an adapter supports is described by one
:class:`ArchitectureSpec`: where the transformer stack that consumes input
embeddings lives, which modules hold its self-attention, whether it is
causal, which config attribute names the image token, how image tokens map
to patches of the input image (a named *image layout*), which processor
outputs the model needs, and how position ids are built. The adapter code
reads these fields; it has no branches on model names.

Adding a model is one call::

    register_adapter("MyVLMForConditionalGeneration", ArchitectureSpec(
        family="my-vlm", decoder="model.language_model",
        attention="layers.{layer}.self_attn", text_config="text_config",
        image_token=("image_token_id",), image_layout="square",
        image_inputs=("pixel_values",), image_placeholder="{image_token}\\n"))

This module imports no torch; it is safe to read from the causal core.

Examples
--------
>>> from whytoken.adapters.architectures import get_architecture, list_adapters
>>> get_architecture("LlavaForConditionalGeneration").image_layout
'square'
>>> "Qwen2VLForConditionalGeneration" in list_adapters()
True
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Iterable, Mapping

from whytoken.errors import DuplicateRegistrationError, UnknownAdapterError

__all__ = [
    "ArchitectureSpec",
    "ARCHITECTURES",
    "IMAGE_LAYOUT_NAMES",
    "DERIVED_INPUT_RULES",
    "POSITION_ID_RULES",
    "register_adapter",
    "get_architecture",
    "list_adapters",
    "spec_from_mapping",
]

#: Names of the image layouts implemented in :mod:`whytoken.adapters.layouts`.
IMAGE_LAYOUT_NAMES = ("square", "anyres", "merged", "tiled")

#: How a per-token model input is rebuilt for any token sequence:
#: ``"prefix"`` is 0 on prompt positions and 1 on generated ones (PaliGemma's
#: ``token_type_ids``), ``"image"`` is 1 on image tokens and 0 elsewhere
#: (Qwen2-VL's ``mm_token_type_ids``).
DERIVED_INPUT_RULES = ("prefix", "image")

#: ``"arange"``: ``position_offset + 0..n-1``; ``"mrope"``: the model's own
#: 3-D multimodal rope index (``rope_index`` names the method).
POSITION_ID_RULES = ("arange", "mrope")


@dataclass(frozen=True)
class ArchitectureSpec:
    """What the adapter needs to know about one model class.

    Parameters
    ----------
    family : str
        A short family name recorded in traces (``"llava"``, ``"decoder-lm"``).
    decoder : str
        Dotted attribute path from the HF model to the transformer stack that
        receives ``inputs_embeds`` (after image features are merged in).
    attention : str
        Path template, relative to ``decoder``, of layer ``{layer}``'s
        self-attention module; its forward must return ``(output, weights)``.
    is_causal : bool
        Causal decoder (generation) or bidirectional encoder (mask filling).
    text_config : str or None
        Config attribute holding the language model's config; None when the
        config itself is the text config.
    image_token : tuple of str
        Config attributes naming the image placeholder token id (first
        present wins). Empty for text-only models.
    image_layout : str or None
        Name of the image layout that maps image tokens to patches and pixel
        boxes (one of :data:`IMAGE_LAYOUT_NAMES`); None for text-only models.
    image_inputs : tuple of str
        Image processor outputs the model's forward takes.
    derived_inputs : tuple of (str, str)
        Per-token inputs rebuilt from the token sequence: ``(name, rule)``
        with a rule from :data:`DERIVED_INPUT_RULES`.
    image_placeholder : str or None
        Text inserted before a raw (template-free) prompt once per image that
        the prompt does not already place; ``{image_token}`` is replaced by
        the processor's image token. None: the processor inserts images itself.
    position_ids : str
        How position ids are built (one of :data:`POSITION_ID_RULES`).
    position_offset : int
        Added to ``arange`` positions (PaliGemma counts from 1).
    rope_index : str or None
        Method path (from the HF model) computing ``mrope`` position ids.
    mask_token : bool
        Encoders only: targets are the prompt's mask-token positions.
    attention_pattern : str
        ``"causal"``, ``"bidirectional"`` or ``"prefix-lm"`` (bidirectional
        over the prompt, causal over generated tokens), recorded in traces.
    prefix_cache : bool
        Verification may reuse the unablated key/value cache before a removal
        set's first removed position (:mod:`whytoken.adapters.verification`).
        Only sound when no position attends to a later one: False for
        bidirectional and prefix-LM attention, which re-run every position.
    notes : str
        Free text for humans.

    Examples
    --------
    >>> spec = ArchitectureSpec(family="decoder-lm", decoder="model", attention="layers.{layer}.self_attn")
    >>> spec.is_text_only
    True
    """

    family: str
    decoder: str
    attention: str
    is_causal: bool = True
    text_config: str | None = None
    image_token: tuple[str, ...] = ()
    image_layout: str | None = None
    image_inputs: tuple[str, ...] = ()
    derived_inputs: tuple[tuple[str, str], ...] = ()
    image_placeholder: str | None = None
    position_ids: str = "arange"
    position_offset: int = 0
    rope_index: str | None = None
    mask_token: bool = False
    attention_pattern: str = "causal"
    prefix_cache: bool = True
    notes: str = ""

    def __post_init__(self) -> None:
        if self.image_layout is not None and self.image_layout not in IMAGE_LAYOUT_NAMES:
            raise UnknownAdapterError(
                f"image_layout {self.image_layout!r} is not implemented; known layouts: {', '.join(IMAGE_LAYOUT_NAMES)}"
            )
        if self.position_ids not in POSITION_ID_RULES:
            raise UnknownAdapterError(
                f"position_ids rule {self.position_ids!r} is unknown; known rules: {', '.join(POSITION_ID_RULES)}"
            )
        for name, rule in self.derived_inputs:
            if rule not in DERIVED_INPUT_RULES:
                raise UnknownAdapterError(
                    f"derived input {name!r} has rule {rule!r}; known rules: {', '.join(DERIVED_INPUT_RULES)}"
                )
        if "{layer}" not in self.attention:
            raise UnknownAdapterError(f"attention path {self.attention!r} must contain '{{layer}}'")

    @property
    def is_text_only(self) -> bool:
        """Whether the model takes no images."""
        return self.image_layout is None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form, recorded in a trace's ``model_info``."""
        return {
            "family": self.family,
            "decoder": self.decoder,
            "attention": self.attention,
            "is_causal": self.is_causal,
            "image_layout": self.image_layout,
            "position_ids": self.position_ids,
            "attention_pattern": self.attention_pattern,
        }


_DECODER_LM = dict(decoder="model", attention="layers.{layer}.self_attn", family="decoder-lm")

#: The table: HF model class name -> facts. Extend it with :func:`register_adapter`.
ARCHITECTURES: dict[str, ArchitectureSpec] = {
    # ---- decoder-only language models
    "LlamaForCausalLM": ArchitectureSpec(**_DECODER_LM),
    "Qwen2ForCausalLM": ArchitectureSpec(**_DECODER_LM),
    "MistralForCausalLM": ArchitectureSpec(**_DECODER_LM),
    "GPT2LMHeadModel": ArchitectureSpec(family="decoder-lm", decoder="transformer", attention="h.{layer}.attn"),
    # ---- bidirectional encoders: targets are [MASK] positions
    "BertForMaskedLM": ArchitectureSpec(
        family="bert-mlm", decoder="bert", attention="encoder.layer.{layer}.attention.self",
        is_causal=False, mask_token=True, attention_pattern="bidirectional", prefix_cache=False,
    ),
    # ---- vision-language models
    "LlavaForConditionalGeneration": ArchitectureSpec(
        family="llava", decoder="model.language_model", attention="layers.{layer}.self_attn",
        text_config="text_config", image_token=("image_token_id", "image_token_index"),
        image_layout="square", image_inputs=("pixel_values",), image_placeholder="{image_token}\n",
        notes="LLaVA-1.5: CLIP grid (CLS dropped with vision_feature_select_strategy='default')",
    ),
    "LlavaNextForConditionalGeneration": ArchitectureSpec(
        family="llava-next", decoder="model.language_model", attention="layers.{layer}.self_attn",
        text_config="text_config", image_token=("image_token_id", "image_token_index"),
        image_layout="anyres", image_inputs=("pixel_values", "image_sizes"), image_placeholder="{image_token}\n",
        notes="any-resolution: base image grid, then the unpadded high-resolution tile grid with one newline "
              "token per row",
    ),
    "Qwen2VLForConditionalGeneration": ArchitectureSpec(
        family="qwen2-vl", decoder="model.language_model", attention="layers.{layer}.self_attn",
        text_config="text_config", image_token=("image_token_id",), image_layout="merged",
        image_inputs=("pixel_values", "image_grid_thw"), derived_inputs=(("mm_token_type_ids", "image"),),
        image_placeholder="<|vision_start|>{image_token}<|vision_end|>", position_ids="mrope",
        rope_index="model.get_rope_index",
        notes="variable patch grid, 2x2 merged patches, 3-D M-RoPE positions kept fixed under interventions",
    ),
    "PaliGemmaForConditionalGeneration": ArchitectureSpec(
        family="paligemma", decoder="model.language_model", attention="layers.{layer}.self_attn",
        text_config="text_config", image_token=("image_token_id", "image_token_index"), image_layout="square",
        image_inputs=("pixel_values",), derived_inputs=(("token_type_ids", "prefix"),),
        image_placeholder="{image_token}",
        position_offset=1, attention_pattern="prefix-lm", prefix_cache=False,
        notes="prefix-LM: image and prompt attend bidirectionally, generated tokens causally; positions from 1",
    ),
    "Idefics3ForConditionalGeneration": ArchitectureSpec(
        family="idefics3", decoder="model.text_model", attention="layers.{layer}.self_attn",
        text_config="text_config", image_token=("image_token_id",), image_layout="tiled",
        image_inputs=("pixel_values", "pixel_attention_mask"), image_placeholder="{image_token}",
        notes="image split into tiles plus a global view; pixel-shuffled tokens (scale_factor^2 patches each)",
    ),
}

# Qwen2.5-VL shares Qwen2-VL's layout and M-RoPE; SmolVLM is Idefics3 with another name.
ARCHITECTURES["Qwen2_5_VLForConditionalGeneration"] = replace(
    ARCHITECTURES["Qwen2VLForConditionalGeneration"], family="qwen2.5-vl"
)
ARCHITECTURES["SmolVLMForConditionalGeneration"] = replace(
    ARCHITECTURES["Idefics3ForConditionalGeneration"], family="smolvlm"
)

#: Optional custom adapter classes (subclasses of ModelAdapter), by HF class name.
ADAPTER_CLASSES: dict[str, Any] = {}


def register_adapter(
    hf_class: str, spec: ArchitectureSpec, adapter_class: Any = None, *, overwrite: bool = False
) -> ArchitectureSpec:
    """Register the facts (and optionally a custom adapter class) for an HF model class.

    Parameters
    ----------
    hf_class : str
        The model class name, e.g. ``"LlavaForConditionalGeneration"``.
    spec : ArchitectureSpec
        Its facts.
    adapter_class : type or None
        A :class:`~whytoken.adapters.ModelAdapter` subclass to use instead of
        the default one.
    overwrite : bool
        Replace an existing entry.

    Raises
    ------
    DuplicateRegistrationError
        If ``hf_class`` is registered and ``overwrite`` is False.

    Examples
    --------
    >>> spec = ArchitectureSpec(family="decoder-lm", decoder="model", attention="layers.{layer}.self_attn")
    >>> _ = register_adapter("MyLlamaForCausalLM", spec)
    >>> get_architecture("MyLlamaForCausalLM") is spec
    True
    >>> _ = ARCHITECTURES.pop("MyLlamaForCausalLM")
    """
    if not isinstance(spec, ArchitectureSpec):
        raise TypeError(f"spec must be an ArchitectureSpec, got {type(spec).__name__}")
    if hf_class in ARCHITECTURES and not overwrite:
        raise DuplicateRegistrationError(
            f"an adapter is already registered for {hf_class!r}; pass overwrite=True to replace it"
        )
    ARCHITECTURES[hf_class] = spec
    if adapter_class is not None:
        ADAPTER_CLASSES[hf_class] = adapter_class
    else:
        ADAPTER_CLASSES.pop(hf_class, None)
    return spec


def list_adapters() -> list[str]:
    """The HF class names with a registered adapter, sorted."""
    return sorted(ARCHITECTURES)


def _class_names(model_or_name: Any) -> Iterable[str]:
    if isinstance(model_or_name, str):
        yield model_or_name
        return
    cls = model_or_name if isinstance(model_or_name, type) else type(model_or_name)
    for base in cls.__mro__:
        yield base.__name__


def get_architecture(model_or_name: Any) -> ArchitectureSpec:
    """The spec for a model, a model class or a class name (base classes are searched too).

    Raises
    ------
    UnknownAdapterError
        If no spec is registered; the message lists the known classes and how
        to register one.
    """
    return _lookup(model_or_name)[1]


def _lookup(model_or_name: Any) -> tuple[str, ArchitectureSpec]:
    names = list(_class_names(model_or_name))
    for name in names:
        if name in ARCHITECTURES:
            return name, ARCHITECTURES[name]
    raise UnknownAdapterError(
        f"no adapter is registered for the model class {names[0]!r}; known classes: "
        f"{', '.join(list_adapters())}. Register one with "
        f"whytoken.adapters.register_adapter({names[0]!r}, ArchitectureSpec(family=..., decoder=..., "
        "attention='layers.{layer}.self_attn', ...)) describing where its decoder and attention modules are"
    )


def spec_from_mapping(data: Mapping[str, Any]) -> ArchitectureSpec:
    """Build a spec from a plain mapping (e.g. read from YAML/JSON), tuples restored."""
    values = dict(data)
    for key in ("image_token", "image_inputs"):
        if key in values:
            values[key] = tuple(values[key])
    if "derived_inputs" in values:
        values["derived_inputs"] = tuple(tuple(pair) for pair in values["derived_inputs"])
    return ArchitectureSpec(**values)

