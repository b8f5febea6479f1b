"""The model adapter: trace a generation, re-run it with tokens removed.

:class:`ModelAdapter` wraps a Hugging Face model and its processor (or
tokenizer). Everything it needs to know about the architecture comes from the
table in :mod:`whytoken.adapters.architectures`; there are no branches on
model names here.

``trace`` generates greedily, then runs one teacher-forced forward pass over
the whole sequence with hooks on the requested layers' attention modules only
(memory: one ``(heads, n, n)`` array per requested layer). Generated-token
probabilities come from that same pass, so a re-run through ``predict`` with
nothing removed reproduces them.

``predict``/``predict_batch`` (:mod:`whytoken.adapters.predicting`, mixed in)
re-run the model teacher-forced with positions removed, on the model plumbing
defined here (``_replay``, ``_forward``, the capture and embedding hooks).
Position ids are always passed explicitly, computed once on the full
unablated sequence, so removing tokens never renumbers the others.
"""

from __future__ import annotations

import functools
import inspect
import logging
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import torch
from jinja2 import TemplateError

from whytoken.adapters.architectures import ArchitectureSpec, _lookup
from whytoken.adapters.identity import weights_fingerprint
from whytoken.adapters.images import to_pil, to_rgb_arrays
from whytoken.adapters.interventions import RowEdit
from whytoken.adapters.layouts import ImageLayout, flatten, get_layout
from whytoken.adapters.limits import check_context_length, context_window
from whytoken.adapters.predicting import PredictingMixin
from whytoken.adapters.trace import GeneratedToken, Position, TokenKind, Trace
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
)

__all__ = ["ModelAdapter", "adapter_for"]

logger = logging.getLogger(__name__)


def _get_path(root: Any, path: str) -> Any:
    obj = root
    for part in path.split("."):
        obj = obj[int(part)] if part.isdigit() else getattr(obj, part)
    return obj


@dataclass
class _Encoded:
    """A prompt (and images) as the model takes it."""

    text: str
    template: bool
    batch: dict[str, Any]
    input_ids: list[int]
    images: list[np.ndarray]
    layouts: list[ImageLayout]
    positions: list[Position]


@dataclass
class _Replay:
    """Unablated inputs for ``length`` positions of a trace, batch size 1."""

    input_ids: torch.Tensor  # (1, length)
    position_ids: torch.Tensor  # (1, length) or (3, 1, length)
    image_inputs: dict[str, torch.Tensor]
    derived: dict[str, torch.Tensor]  # per-token inputs, (1, length)
    length: int
    n_images: int = 0


class ModelAdapter(PredictingMixin):
    """A Hugging Face model plus processor, seen as a tracer and an oracle.

    Parameters
    ----------
    model : transformers.PreTrainedModel
        The model. Its attention is switched to the ``eager`` implementation
        (the only one that returns attention weights).
    processor : ProcessorMixin or PreTrainedTokenizerBase
        The multimodal processor, or the tokenizer of a text-only model.
    spec : ArchitectureSpec or None
        The architecture facts; None looks the model's class up in the table.
    name : str or None
        A name recorded in traces (default: the model's ``name_or_path`` or class).

    Raises
    ------
    UnknownAdapterError
        If no spec is registered for the model's class.
    AttentionCaptureError
        If the attention implementation cannot be switched to ``eager``.

    Examples
    --------
    A tiny random LLaVA (meaningless, instant) shows the mechanics:

    >>> from whytoken.adapters.toy import toy_adapter, toy_image
    >>> adapter = toy_adapter("llava", seed=0)
    >>> trace = adapter.trace(toy_image(), "what is the cat on", max_new_tokens=2, stop_at_eos=False)
    >>> trace.patch_grid, len(trace.positions_of("image_patch"))
    ((4, 4), 16)
    >>> patch = trace.positions[trace.positions_of("image_patch")[5]]
    >>> patch.patch, patch.box
    ((1, 1), (13, 10, 24, 20))
    >>> [p.removed for p in adapter.predict_batch(trace, -1, [[1, 2], [6]], kind="pixel")]
    [(1, 2), (6,)]

    The packaged SmolLM2 (135M parameters, ~20 s to load):

    >>> from whytoken.adapters import load_model  # doctest: +SKIP
    >>> adapter = load_model("smollm2-135m-instruct")  # doctest: +SKIP
    >>> trace = adapter.trace(prompt="The capital of France is", max_new_tokens=1,
    ...                       chat_template=False)  # doctest: +SKIP
    >>> trace.generated[0].text  # doctest: +SKIP
    ' Paris'
    >>> adapter.predict(trace, -1, removed=[3]).changed  # doctest: +SKIP
    True
    """

    def __init__(self, model: Any, processor: Any, *, spec: ArchitectureSpec | None = None,
                 name: str | None = None, source: str | None = None) -> None:
        hf_class, found = _lookup(model)
        self.hf_class = type(model).__name__
        self.registered_class = hf_class
        self.spec = spec if spec is not None else found
        self.model = model
        self.processor = processor
        self.tokenizer = getattr(processor, "tokenizer", processor)
        if self.tokenizer is None:
            raise AdapterError(f"{type(processor).__name__} has no tokenizer; pass the model's processor or tokenizer")
        self._name = name or getattr(model, "name_or_path", None) or self.hf_class
        self.source = source
        config = model.config
        self.text_config = getattr(config, self.spec.text_config) if self.spec.text_config else config
        try:
            self.decoder = _get_path(model, self.spec.decoder)
        except (AttributeError, IndexError) as err:
            raise UnknownAdapterError(
                f"the registered spec of {self.hf_class} says its decoder is at {self.spec.decoder!r}, but the model "
                f"has no such attribute ({err}); fix the spec with register_adapter(..., overwrite=True)"
            ) from err
        self._ensure_eager()
        self.model.eval()
        forward_params = inspect.signature(model.forward).parameters
        self._has_logits_to_keep = "logits_to_keep" in forward_params
        self.image_token_id = self._config_image_token_id()

    # ------------------------------------------------------------ properties
    @property
    def name(self) -> str:
        """The model's name as recorded in traces."""
        return str(self._name)

    @property
    def n_layers(self) -> int:
        """Number of language-model layers."""
        return int(self.text_config.num_hidden_layers)

    @property
    def n_heads(self) -> int:
        """Attention heads per layer."""
        return int(self.text_config.num_attention_heads)

    @property
    def hidden_size(self) -> int:
        """Width of the residual stream."""
        return int(self.text_config.hidden_size)

    @property
    def head_dim(self) -> int:
        """Dimension of one attention head."""
        return int(getattr(self.text_config, "head_dim", None) or self.hidden_size // self.n_heads)

    @property
    def is_causal(self) -> bool:
        """Causal decoder (True) or bidirectional encoder (False)."""
        return bool(self.spec.is_causal)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.model.parameters()).dtype

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(name={self.name!r}, class={self.hf_class}, family={self.spec.family!r}, "
                f"n_layers={self.n_layers}, n_heads={self.n_heads})")

    # --------------------------------------------------------------- set-up
    def _ensure_eager(self) -> None:
        configs = [self.model.config, self.text_config]
        current = {getattr(c, "_attn_implementation", None) for c in configs}
        if current != {"eager"}:
            try:
                self.model.set_attn_implementation("eager")
            except Exception as err:  # noqa: BLE001 -- any failure means no weights
                raise AttentionCaptureError(
                    f"{self.hf_class} uses the attention implementation {sorted(map(str, current))}, which returns "
                    f"no attention weights, and switching it to 'eager' failed: {err}. Load the model with "
                    "attn_implementation='eager' (from_pretrained(..., attn_implementation='eager'))"
                ) from err
        current = {getattr(c, "_attn_implementation", None) for c in configs}
        if current != {"eager"}:
            raise AttentionCaptureError(
                f"{self.hf_class} still uses the attention implementation {sorted(map(str, current))} after "
                "set_attn_implementation('eager'); load it with attn_implementation='eager'"
            )

    def _config_image_token_id(self) -> int | None:
        for attr in self.spec.image_token:
            value = getattr(self.model.config, attr, None)
            if value is not None:
                return int(value)
        return None

    def model_info(self) -> dict[str, Any]:
        """Provenance recorded in every trace (JSON-able)."""
        import transformers

        revision = getattr(self.model.config, "_commit_hash", None)
        return {
            "name": self.name,
            "source": self.source,
            "revision": revision,
            "hf_class": self.hf_class,
            "adapter": type(self).__name__,
            "architecture": self.spec.to_dict(),
            "n_layers": self.n_layers,
            "n_heads": self.n_heads,
            "n_kv_heads": int(getattr(self.text_config, "num_key_value_heads", None) or self.n_heads),
            "head_dim": self.head_dim,
            "hidden_size": self.hidden_size,
            "vocab_size": int(getattr(self.text_config, "vocab_size", 0) or 0),
            "is_causal": self.is_causal,
            "attention_pattern": self.spec.attention_pattern,
            "dtype": str(self.dtype).replace("torch.", ""),
            "device": str(self.device),
            "image_token_id": self.image_token_id,
            "versions": {"torch": torch.__version__, "transformers": transformers.__version__},
        }

    # ---------------------------------------------------------------- inputs
    def _resolve_layers(self, layers: int | str | Iterable[int]) -> tuple[int, ...]:
        if isinstance(layers, str):
            if layers != "all":
                raise LayerError(f"layers must be ints or 'all', got {layers!r}")
            return tuple(range(self.n_layers))
        if isinstance(layers, (int, np.integer)):
            layers = (int(layers),)
        resolved = []
        for layer in layers:
            if isinstance(layer, bool) or not isinstance(layer, (int, np.integer)):
                raise LayerError(f"layer indices must be ints, got {layer!r}")
            if not -self.n_layers <= layer < self.n_layers:
                raise LayerError(
                    f"layer {layer} is out of range for {self.name} with {self.n_layers} layers: "
                    f"valid layers are {-self.n_layers}..{self.n_layers - 1} (negative counts from the last)"
                )
            resolved.append(int(layer) % self.n_layers)
        return tuple(sorted(set(resolved)))

    def _image_token_text(self) -> str:
        token = getattr(self.processor, "image_token", None)
        if token:
            return str(token)
        if self.image_token_id is None:
            raise AdapterError(f"{self.hf_class} has no image token in its config")
        return self.tokenizer.convert_ids_to_tokens(self.image_token_id)

    def _chat_template(self) -> str | None:
        return getattr(self.processor, "chat_template", None) or getattr(self.tokenizer, "chat_template", None)

    def _format_prompt(self, prompt: str, n_images: int, chat_template: bool | None) -> tuple[str, bool]:
        has_template = bool(self._chat_template())
        use = has_template if chat_template is None else bool(chat_template)
        if use:
            if not has_template:
                raise InvalidPromptError(
                    f"chat_template=True but {type(self.processor).__name__} has no chat template; pass "
                    "chat_template=False to feed the raw prompt"
                )
            if hasattr(self.processor, "image_processor"):
                content = [{"type": "image"} for _ in range(n_images)] + [{"type": "text", "text": prompt}]
                messages = [{"role": "user", "content": content}]
            else:
                messages = [{"role": "user", "content": prompt}]
            try:
                text = self.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
            except (TemplateError, TypeError, ValueError, KeyError, IndexError, AttributeError) as err:
                raise InvalidPromptError(
                    f"the chat template of {self.name} does not fit these inputs ({type(err).__name__}: {err}); "
                    "feed the raw prompt instead: --no-chat-template on the command line, chat_template=False "
                    "in Python"
                ) from err
            return str(text), True
        if n_images and self.spec.image_placeholder is not None:
            token = self._image_token_text()
            present = prompt.count(token)
            if present > n_images:
                raise InvalidPromptError(
                    f"the prompt places {present} image token(s) {token!r} but {n_images} image(s) were given; "
                    "pass one image per placeholder"
                )
            prompt = self.spec.image_placeholder.format(image_token=token) * (n_images - present) + prompt
        return prompt, False

    def _special_ids(self) -> set[int]:
        ids = set(int(i) for i in getattr(self.tokenizer, "all_special_ids", []) or [])
        decoder = getattr(self.tokenizer, "added_tokens_decoder", {}) or {}
        ids.update(int(i) for i, tok in decoder.items() if getattr(tok, "special", False))
        return ids

    def _find_prompt_span(self, ids: Sequence[int], prompt: str) -> tuple[int, int] | None:
        for candidate in dict.fromkeys([prompt, " " + prompt, prompt.strip()]):
            if not candidate:
                continue
            sub = self.tokenizer(candidate, add_special_tokens=False)["input_ids"]
            if not sub:
                continue
            for start in range(len(ids) - len(sub), -1, -1):
                if list(ids[start:start + len(sub)]) == list(sub):
                    return start, start + len(sub)
        return None

    def _decode_each(self, ids: Sequence[int]) -> list[str]:
        return [self.tokenizer.decode([int(i)], skip_special_tokens=False, clean_up_tokenization_spaces=False)
                for i in ids]

    def _process_images(self, images: Sequence[np.ndarray]) -> dict[str, torch.Tensor]:
        """Image-processor outputs the model takes, for a list of images (one prompt)."""
        image_processor = getattr(self.processor, "image_processor", None)
        if image_processor is None:
            raise AdapterError(f"{type(self.processor).__name__} has no image_processor")
        pil = [to_pil(im) for im in images]
        nested = "pixel_attention_mask" in self.spec.image_inputs  # Idefics3 takes one list of images per prompt
        try:
            out = image_processor(images=[pil] if nested else pil, return_tensors="pt")
        except (ValueError, TypeError, RuntimeError, IndexError) as err:
            sizes = ", ".join(f"{im.shape[1]}x{im.shape[0]}" for im in images)
            raise InvalidImageError(
                f"{type(image_processor).__name__} rejected the image(s) of size {sizes}: {err}; pass an RGB image "
                "large enough for the model's patch size (and of a moderate aspect ratio)"
            ) from err
        return {k: out[k] for k in self.spec.image_inputs if k in out}

    def _encode(self, prompt: Any, image: Any, chat_template: bool | None) -> _Encoded:
        if not isinstance(prompt, str):
            raise InvalidPromptError(f"prompt must be a string, got {type(prompt).__name__}")
        if not prompt.strip():
            raise InvalidPromptError("the prompt is empty; pass some text, e.g. prompt='Describe the image.'")
        images = to_rgb_arrays(image)
        if images and self.spec.is_text_only:
            raise InvalidImageError(
                f"{self.name} ({self.hf_class}) is a text-only model and takes no image; drop the image argument "
                "or load a vision-language model"
            )
        text, template = self._format_prompt(prompt, len(images), chat_template)
        try:
            if images:
                batch = self.processor(images=[to_pil(im) for im in images], text=text, return_tensors="pt")
            else:
                call = self.processor if hasattr(self.processor, "image_processor") else self.tokenizer
                batch = call(text=text, return_tensors="pt")
        except (ValueError, TypeError, RuntimeError, IndexError) as err:
            if images:
                sizes = ", ".join(f"{im.shape[1]}x{im.shape[0]}" for im in images)
                raise InvalidImageError(
                    f"{type(self.processor).__name__} rejected the input with image(s) of size {sizes}: {err}; "
                    "pass an RGB image large enough for the model's patch size (and of a moderate aspect ratio)"
                ) from err
            raise InvalidPromptError(f"{type(self.processor).__name__} could not tokenize {prompt!r}: {err}") from err
        batch = dict(batch)
        ids = [int(i) for i in batch["input_ids"][0].tolist()]
        if not ids:
            raise InvalidPromptError(f"the prompt {prompt!r} tokenizes to no tokens")
        layouts: list[ImageLayout] = []
        if images:
            layout_fn = get_layout(self.spec.image_layout)  # type: ignore[arg-type]
            image_inputs = {k: batch[k] for k in self.spec.image_inputs if k in batch}
            layouts = [layout_fn(self.model, self.processor, im, image_inputs, i) for i, im in enumerate(images)]
        positions = self._prompt_positions(ids, prompt, layouts)
        return _Encoded(text, template, batch, ids, images, layouts, positions)

    def _prompt_positions(self, ids: list[int], prompt: str, layouts: list[ImageLayout]) -> list[Position]:
        special = self._special_ids()
        texts = self._decode_each(ids)
        image_tokens = flatten(layouts)
        n_image = sum(1 for i in ids if i == self.image_token_id) if self.image_token_id is not None else 0
        if n_image != len(image_tokens):
            raise AdapterError(
                f"the prompt holds {n_image} image token(s) but the {self.spec.image_layout!r} layout of "
                f"{len(layouts)} image(s) accounts for {len(image_tokens)}; the processor and the model config "
                "disagree (e.g. num_additional_image_tokens / vision_feature_select_strategy / patch_size)"
            )
        mask_id = getattr(self.tokenizer, "mask_token_id", None) if self.spec.mask_token else None
        span = self._find_prompt_span(ids, prompt)
        positions: list[Position] = []
        k = 0
        for index, (token_id, text) in enumerate(zip(ids, texts)):
            if self.image_token_id is not None and token_id == self.image_token_id:
                image_index, token = image_tokens[k]
                k += 1
                if token.is_patch:
                    positions.append(Position(index, TokenKind.IMAGE_PATCH, token_id, text, token.patch, token.box,
                                              image_index))
                else:
                    positions.append(Position(index, TokenKind.SPECIAL, token_id, token.label or text,
                                              image_index=image_index))
            elif mask_id is not None and token_id == mask_id:
                positions.append(Position(index, TokenKind.GENERATED, token_id, text))
            elif token_id in special:
                positions.append(Position(index, TokenKind.SPECIAL, token_id, text))
            elif span is None or span[0] <= index < span[1]:
                positions.append(Position(index, TokenKind.PROMPT_TEXT, token_id, text))
            else:
                positions.append(Position(index, TokenKind.SPECIAL, token_id, text))
        return positions

    # -------------------------------------------------------- replay inputs
    def _derived_inputs(self, ids: torch.Tensor, prompt_length: int) -> dict[str, torch.Tensor]:
        out = {}
        for name, rule in self.spec.derived_inputs:
            if rule == "prefix":
                values = (torch.arange(ids.shape[-1]) >= prompt_length).long()[None]
            else:  # "image"
                values = (ids == self.image_token_id).long() if self.image_token_id is not None else ids * 0
            out[name] = values.to(ids.device)
        return out

    def _position_ids(self, ids: torch.Tensor, image_inputs: Mapping[str, torch.Tensor],
                      derived: Mapping[str, torch.Tensor]) -> torch.Tensor:
        n = ids.shape[-1]
        if self.spec.position_ids == "mrope" and image_inputs:
            rope_index = _get_path(self.model, self.spec.rope_index or "model.get_rope_index")
            kwargs = {k: v for k, v in derived.items()}
            kwargs.update({k: v for k, v in image_inputs.items() if k.endswith("grid_thw")})
            position_ids, _ = rope_index(input_ids=ids, attention_mask=torch.ones_like(ids), **kwargs)
            return position_ids
        if self.spec.position_ids == "mrope":
            return (torch.arange(n, device=ids.device) + self.spec.position_offset)[None, None].expand(3, 1, n)
        return (torch.arange(n, device=ids.device) + self.spec.position_offset)[None]

    def _replay(self, input_ids: np.ndarray, images: Sequence[np.ndarray], prompt_length: int, length: int,
                image_inputs: Mapping[str, torch.Tensor] | None = None) -> _Replay:
        device = self.device
        ids = torch.as_tensor(np.asarray(input_ids, dtype=np.int64), device=device)[None]
        if image_inputs is None:
            image_inputs = self._process_images(images) if images else {}
        image_inputs = {k: v.to(device) for k, v in image_inputs.items()}
        if "pixel_values" in image_inputs:
            image_inputs["pixel_values"] = image_inputs["pixel_values"].to(self.dtype)
        derived = self._derived_inputs(ids, prompt_length)
        position_ids = self._position_ids(ids, image_inputs, derived)
        return _Replay(
            input_ids=ids[:, :length],
            position_ids=position_ids[..., :length],
            image_inputs=image_inputs,
            derived={k: v[:, :length] for k, v in derived.items()},
            length=length,
            n_images=len(images),
        )

    def model_inputs(self, trace: Trace, length: int | None = None) -> dict[str, torch.Tensor]:
        """The unablated keyword inputs of ``model(...)`` for positions ``0..length-1`` of a trace.

        Exactly what :meth:`predict` feeds before any intervention (batch size
        1): ``input_ids``, an all-ones ``attention_mask``, explicit
        ``position_ids`` (3-D for M-RoPE models), the derived per-token inputs
        and the re-encoded image inputs. Used by gradient-based baselines.

        Parameters
        ----------
        trace : Trace
            A trace of this model.
        length : int or None
            Number of leading positions; None for all.
        """
        self._check_trace(trace)
        length = trace.n_positions if length is None else int(length)
        if not 1 <= length <= trace.n_positions:
            raise TargetError(f"length {length} is out of range: valid lengths are 1..{trace.n_positions}")
        replay = self._replay(trace.input_ids, trace.images, trace.prompt_length, length)
        inputs: dict[str, torch.Tensor] = {
            "input_ids": replay.input_ids,
            "attention_mask": torch.ones_like(replay.input_ids),
            "position_ids": replay.position_ids,
        }
        inputs.update(replay.derived)
        inputs.update(replay.image_inputs)
        return inputs

    # --------------------------------------------------------------- forward
    def _forward(self, replay: _Replay, rows: Sequence[RowEdit], *, capture: Sequence[int] = (),
                 logits_to_keep: int | None = None, mean_groups: Mapping[int, list[int]] | None = None
                 ) -> tuple[torch.Tensor, dict[int, torch.Tensor]]:
        """One forward pass over ``len(rows)`` edited copies of ``replay``.

        Returns logits ``(B, k, vocab)`` (the last ``k`` positions, all when
        ``logits_to_keep`` is None) and the captured attention per layer,
        ``(B, heads, length, length)``.
        """
        batch = len(rows)
        device = self.device
        ids = replay.input_ids.expand(batch, -1)
        attention_mask = torch.as_tensor(np.stack([r.attention_mask for r in rows]), device=device, dtype=torch.long)
        if replay.position_ids.ndim == 3:
            position_ids = replay.position_ids.expand(-1, batch, -1)
        else:
            position_ids = replay.position_ids.expand(batch, -1)
        kwargs: dict[str, Any] = {
            "input_ids": ids,
            "attention_mask": attention_mask,
            "position_ids": position_ids,
            "use_cache": False,
        }
        kwargs.update({k: v.expand(batch, -1) for k, v in replay.derived.items()})
        if replay.image_inputs:
            per_row = []
            for r in rows:
                if r.images is None:
                    per_row.append(replay.image_inputs)
                else:
                    per_row.append({k: v.to(device) for k, v in self._process_images(r.images).items()})
            for key in replay.image_inputs:
                value = torch.cat([p[key] for p in per_row], dim=0)
                kwargs[key] = value.to(self.dtype) if key == "pixel_values" else value
        if logits_to_keep is not None and self._has_logits_to_keep:
            kwargs["logits_to_keep"] = logits_to_keep

        captured: dict[int, torch.Tensor] = {}
        handles = []
        for layer in capture:
            module = _get_path(self.decoder, self.spec.attention.format(layer=layer))
            handles.append(module.register_forward_hook(functools.partial(self._capture_hook, captured, layer)))
        if any(r.embeddings for r in rows):
            handles.append(self.decoder.register_forward_pre_hook(
                functools.partial(self._embedding_hook, [r.embeddings for r in rows], mean_groups or {}),
                with_kwargs=True))
        try:
            with torch.no_grad():
                out = self.model(**kwargs)
        finally:
            for handle in handles:
                handle.remove()
        self._count(model_calls=1, sequences=batch, tokens=batch * replay.length, full_tokens=batch * replay.length,
                    images_encoded=batch * replay.n_images if replay.image_inputs else 0)
        logits = out.logits
        if logits_to_keep is not None and logits.shape[1] > logits_to_keep:
            logits = logits[:, -logits_to_keep:]
        for layer in capture:
            if layer not in captured:
                raise AttentionCaptureError(
                    f"the attention module of layer {layer} "
                    f"({self.spec.decoder}.{self.spec.attention.format(layer=layer)}) "
                    "was not called during the forward pass; the architecture spec's attention path is wrong"
                )
        return logits, captured

    def _capture_hook(self, store: dict[int, torch.Tensor], layer: int, module: Any, args: Any, output: Any) -> None:
        weights = output[1] if isinstance(output, tuple) and len(output) > 1 else None
        if weights is None:
            raise AttentionCaptureError(
                f"the attention module of layer {layer} ({type(module).__name__}) returned no attention weights "
                f"(implementation {getattr(self.text_config, '_attn_implementation', None)!r}); SDPA/flash kernels "
                "do not return them: load the model with attn_implementation='eager' or call "
                "model.set_attn_implementation('eager')"
            )
        store[layer] = weights.detach()

    @staticmethod
    def _embedding_hook(edits: list[list[tuple[int, str]]], mean_groups: Mapping[int, list[int]], module: Any,
                        args: tuple, kwargs: dict) -> tuple:
        """Replace input embeddings before the first layer (``zero``/``mean`` interventions)."""
        args = list(args)
        embeds = kwargs.get("inputs_embeds")
        input_ids = kwargs.get("input_ids")
        if args and isinstance(args[0], torch.Tensor) and not args[0].is_floating_point():
            input_ids = args.pop(0)
        if embeds is None:
            embeds = module.get_input_embeddings()(input_ids)
        embeds = embeds.clone()
        token_mean = module.get_input_embeddings().weight.mean(dim=0)
        for row, row_edits in enumerate(edits):
            original = embeds[row].clone()
            for position, mode in row_edits:
                if mode == "zero":
                    embeds[row, position] = 0
                elif mode == "mean":
                    group = mean_groups.get(position)
                    embeds[row, position] = original[group].mean(dim=0) if group else token_mean
                else:
                    raise InterventionError(f"unknown embedding edit {mode!r}; expected 'zero' or 'mean'")
        kwargs["inputs_embeds"] = embeds
        kwargs["input_ids"] = None
        return tuple(args), kwargs

    # ----------------------------------------------------------------- trace
    def trace(self, image: Any = None, prompt: str = "", max_new_tokens: int = 16,
              layers: int | str | Iterable[int] = (-1,), chat_template: bool | None = None, *,
              stop_at_eos: bool = True) -> Trace:
        """Generate greedily and record positions, probabilities and attention.

        Parameters
        ----------
        image : PIL image, array, list of them, or None
            Input image(s); None for a text-only prompt.
        prompt : str
            The user's prompt. Images not placed in it with the model's image
            token are put before it (raw prompts) or into the chat message.
        max_new_tokens : int
            Tokens to generate (causal models; ignored by encoders, which fill
            the prompt's mask tokens).
        layers : int, iterable of int, or "all"
            Layers whose attention to capture; negative counts from the last.
        chat_template : bool or None
            Wrap the prompt in the processor's chat template; None: when it has one.
        stop_at_eos : bool
            Stop at the end-of-sequence token (it is kept as the last generated
            token); False forces exactly ``max_new_tokens``.

        Returns
        -------
        Trace
            With ``attentions[layer]`` of shape ``(heads, n, n)`` for each layer.

        Raises
        ------
        InvalidPromptError, InvalidImageError, LayerError, AttentionCaptureError
        """
        capture = self._resolve_layers(layers)
        if self.is_causal and (not isinstance(max_new_tokens, (int, np.integer)) or max_new_tokens < 1):
            raise InvalidParameterError(f"max_new_tokens must be a positive int, got {max_new_tokens!r}")
        encoded = self._encode(prompt, image, chat_template)
        check_context_length(self.name, len(encoded.input_ids), int(max_new_tokens) if self.is_causal else 0,
                             context_window(self.text_config))
        prompt_length = len(encoded.input_ids)
        if self.is_causal:
            new_ids = self._generate(encoded, int(max_new_tokens), stop_at_eos)
            targets = list(range(prompt_length, prompt_length + len(new_ids)))
        else:
            targets = [p.index for p in encoded.positions if p.kind is TokenKind.GENERATED]
            if not targets:
                raise InvalidPromptError(
                    f"{self.name} is a masked-language model: the prompt needs at least one mask token "
                    f"{getattr(self.tokenizer, 'mask_token', '[MASK]')!r} to fill, e.g. 'Paris is the "
                    f"{getattr(self.tokenizer, 'mask_token', '[MASK]')} of France.'"
                )
            new_ids = []
        all_ids = np.asarray(encoded.input_ids + new_ids, dtype=np.int64)
        n = len(all_ids)
        image_inputs = {k: encoded.batch[k] for k in self.spec.image_inputs if k in encoded.batch}
        replay = self._replay(all_ids, encoded.images, prompt_length, n, image_inputs=image_inputs or None)
        row = RowEdit(attention_mask=np.ones(n, dtype=np.int64))
        keep = (len(new_ids) + 1) if self.is_causal else None
        logits, captured = self._forward(replay, [row], capture=capture, logits_to_keep=keep)
        probs = torch.softmax(logits[0].float(), dim=-1)

        generated: list[GeneratedToken] = []
        positions = list(encoded.positions)
        if self.is_causal:
            texts = self._decode_each(new_ids)
            for k, (token_id, text) in enumerate(zip(new_ids, texts)):
                p = prompt_length + k
                positions.append(Position(p, TokenKind.GENERATED, token_id, text))
                generated.append(GeneratedToken(p, token_id, text, float(probs[k, token_id])))
        else:
            for p in targets:
                token_id = self._top_ids(probs[p][None])[0]
                generated.append(GeneratedToken(p, token_id, self._decode_each([token_id])[0],
                                                float(probs[p, token_id])))

        attentions = {}
        for layer, weights in captured.items():
            array = weights[0].float().cpu().numpy()
            if not np.isfinite(array).all():
                raise AttentionCaptureError(
                    f"the attention weights of layer {layer} contain NaN/inf (model dtype {self.dtype}); "
                    "half precision overflows in eager attention: load the model with dtype=torch.float32 "
                    "(or torch.bfloat16)"
                )
            attentions[layer] = array

        first_layout = encoded.layouts[0] if encoded.layouts else None
        info = self.model_info()
        info["fingerprint"] = weights_fingerprint(self.model)
        info.update({
            "prompt_text": encoded.text,
            "chat_template": encoded.template,
            "prompt_length": prompt_length,
            "generation": {"strategy": "greedy", "max_new_tokens": int(max_new_tokens), "stop_at_eos": stop_at_eos,
                           "n_generated": len(generated)},
            "image_layouts": [
                {"image_index": i, "layout": self.spec.image_layout, "grids": [dict(g) for g in lay.grids],
                 "image_size": [int(im.shape[1]), int(im.shape[0])]}
                for i, (lay, im) in enumerate(zip(encoded.layouts, encoded.images))
            ],
        })
        trace = Trace(
            positions=tuple(positions),
            generated=tuple(generated),
            attentions=attentions,
            prompt=prompt,
            image_size=(int(encoded.images[0].shape[1]), int(encoded.images[0].shape[0])) if encoded.images else None,
            patch_grid=first_layout.primary_grid if first_layout is not None else None,
            model_info=info,
            input_ids=all_ids,
            images=tuple(encoded.images),
            adapter=self,
        )
        logger.info("traced %s: %d positions, generated %r", self.name, n, trace.generated_text)
        return trace

    def _generate(self, encoded: _Encoded, max_new_tokens: int, stop_at_eos: bool) -> list[int]:
        from transformers import GenerationConfig

        base = getattr(self.model, "generation_config", None)
        eos = getattr(base, "eos_token_id", None)
        if eos is None:
            eos = getattr(self.tokenizer, "eos_token_id", None)
        pad = getattr(self.tokenizer, "pad_token_id", None)
        if pad is None:
            pad = eos[0] if isinstance(eos, list) else eos
        config = GenerationConfig(
            max_new_tokens=max_new_tokens, do_sample=False, num_beams=1, eos_token_id=eos, pad_token_id=pad,
            bos_token_id=getattr(base, "bos_token_id", None),
            min_new_tokens=0 if stop_at_eos else max_new_tokens,
            # a generated image placeholder would break the re-run (placeholders must match image features)
            suppress_tokens=[self.image_token_id] if self.image_token_id is not None else None,
        )
        keys = {"input_ids", "attention_mask", *self.spec.image_inputs, *(n for n, _ in self.spec.derived_inputs)}
        kwargs = {k: v.to(self.device) for k, v in encoded.batch.items() if k in keys and isinstance(v, torch.Tensor)}
        if "pixel_values" in kwargs:
            kwargs["pixel_values"] = kwargs["pixel_values"].to(self.dtype)
        ids = torch.as_tensor([encoded.input_ids], device=self.device)
        derived = self._derived_inputs(ids, ids.shape[1])
        for name, value in derived.items():
            kwargs.setdefault(name, value)
        with torch.no_grad():
            out = self.model.generate(**kwargs, generation_config=config)
        return [int(t) for t in out[0, len(encoded.input_ids):].tolist()]



def adapter_for(model: Any, processor: Any, **kwargs: Any) -> ModelAdapter:
    """The adapter for an in-memory model: its registered custom class, else :class:`ModelAdapter`."""
    from whytoken.adapters.architectures import ADAPTER_CLASSES

    hf_class, _ = _lookup(model)
    cls = ADAPTER_CLASSES.get(hf_class, ModelAdapter)
    return cls(model, processor, **kwargs)
