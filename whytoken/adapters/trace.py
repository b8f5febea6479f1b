"""Traces: what a model saw, what it generated and how it attended.

A :class:`Trace` is the adapter layer's only output that the causal core
reads. It lists every token position with its provenance (:class:`Position`:
image patch with its grid cell and pixel box, prompt text, template/special
token, or generated token), the generated tokens with their probabilities
(:class:`GeneratedToken`), and for each captured layer the attention matrix
over all positions, a float32 array of shape ``(heads, n, n)``.

For causal decoders row ``i`` of an attention matrix is the distribution of
query position ``i`` over key positions ``0..i`` (the matrix is
lower-triangular): the prompt rows come from the prefill and each generated
token adds one row. For bidirectional encoders (BERT) every row covers all
positions.

A trace also keeps what a re-run needs -- the full token id sequence and the
original images as uint8 arrays -- so that interventions
(:meth:`whytoken.adapters.ModelAdapter.predict`) work on a trace loaded from
disk. It saves to one safetensors (or ``.npz``) file; :meth:`Trace.load`
restores it exactly.

This module imports numpy and the standard library only (plus
``safetensors.numpy`` when saving or loading), so the causal core can read
traces on machines without torch.

Conventions
-----------
* ``image_size`` is ``(width, height)`` in pixels, like ``PIL.Image.size``.
* ``patch_grid`` and ``Position.patch`` are ``(row, col)``.
* ``Position.box`` is ``(x0, y0, x1, y1)`` in pixels of the *original* image,
  half-open (``x1``/``y1`` exclusive), clipped to the image.

Examples
--------
>>> import numpy as np
>>> from whytoken.adapters.trace import Trace, Position, TokenKind, GeneratedToken
>>> positions = (
...     Position(0, TokenKind.SPECIAL, 1, "<s>"),
...     Position(1, TokenKind.PROMPT_TEXT, 7, " hello"),
...     Position(2, TokenKind.GENERATED, 9, " world"),
... )
>>> attention = np.tril(np.ones((1, 3, 3), dtype=np.float32))
>>> attention /= attention.sum(-1, keepdims=True)
>>> trace = Trace(positions=positions, generated=(GeneratedToken(2, 9, " world", 0.5),),
...               attentions={0: attention}, prompt="hello", image_size=None, patch_grid=None,
...               model_info={"n_layers": 1, "n_heads": 1, "head_dim": 4, "is_causal": True},
...               input_ids=np.array([1, 7, 9]))
>>> trace.n_positions, trace.target_index(-1), trace.find_generated("world")
(3, 2, 2)
>>> trace.positions_of(TokenKind.PROMPT_TEXT)
(1,)
"""

from __future__ import annotations

import errno
import json
import logging
import os
import re
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

from whytoken.errors import CheckpointError, LayerError, SchemaError, TargetError
from whytoken.files import atomic_path

__all__ = [
    "TRACE_SCHEMA",
    "TokenKind",
    "Position",
    "GeneratedToken",
    "Prediction",
    "Trace",
]

logger = logging.getLogger(__name__)

#: Schema tag written into every saved trace; :meth:`Trace.load` refuses other tags.
TRACE_SCHEMA = "whytoken.trace/1"

_META_KEY = "whytoken_trace"


class TokenKind(str, Enum):
    """What a token position holds.

    Examples
    --------
    >>> TokenKind("image_patch") is TokenKind.IMAGE_PATCH
    True
    """

    IMAGE_PATCH = "image_patch"
    """One visual token: a patch (or merged patch) of an input image."""
    PROMPT_TEXT = "prompt_text"
    """A token of the user's prompt text."""
    SPECIAL = "special"
    """Template, BOS/EOS, image delimiters, newline-of-image and other special tokens."""
    GENERATED = "generated"
    """A token the model produced (for encoders: a masked position the model fills)."""

    def __str__(self) -> str:
        return self.value


def _int_tuple(value: Iterable[int] | None, length: int, what: str) -> tuple[int, ...] | None:
    if value is None:
        return None
    out = tuple(int(v) for v in value)
    if len(out) != length:
        raise SchemaError(f"{what} must have {length} integers, got {value!r}")
    return out


@dataclass(frozen=True)
class Position:
    """One token position of a trace, with its provenance.

    Parameters
    ----------
    index : int
        Position in the sequence, 0-based.
    kind : TokenKind
        What the position holds.
    token_id : int
        The id fed to the model at this position (for an encoder's masked
        position: the mask token id; the filled token is in
        :class:`GeneratedToken`).
    text : str
        The decoded token (``" Paris"``, ``"<image>"``).
    patch : tuple of int or None
        ``(row, col)`` of an image patch in its patch grid.
    box : tuple of int or None
        ``(x0, y0, x1, y1)`` pixel box of an image patch in the original image.
    image_index : int or None
        Which input image an image patch comes from.

    Examples
    --------
    >>> p = Position(3, TokenKind.IMAGE_PATCH, 32000, "<image>", patch=(0, 1), box=(14, 0, 28, 14),
    ...              image_index=0)
    >>> Position.from_dict(p.to_dict()) == p
    True
    """

    index: int
    kind: TokenKind
    token_id: int
    text: str
    patch: tuple[int, int] | None = None
    box: tuple[int, int, int, int] | None = None
    image_index: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "index", int(self.index))
        object.__setattr__(self, "kind", TokenKind(self.kind))
        object.__setattr__(self, "token_id", int(self.token_id))
        object.__setattr__(self, "text", str(self.text))
        object.__setattr__(self, "patch", _int_tuple(self.patch, 2, "Position.patch"))
        object.__setattr__(self, "box", _int_tuple(self.box, 4, "Position.box"))
        if self.image_index is not None:
            object.__setattr__(self, "image_index", int(self.image_index))

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-able dict (lists instead of tuples, the kind by value)."""
        return {
            "index": self.index,
            "kind": self.kind.value,
            "token_id": self.token_id,
            "text": self.text,
            "patch": list(self.patch) if self.patch is not None else None,
            "box": list(self.box) if self.box is not None else None,
            "image_index": self.image_index,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Position":
        """Inverse of :meth:`to_dict`."""
        return cls(
            index=data["index"],
            kind=TokenKind(data["kind"]),
            token_id=data["token_id"],
            text=data["text"],
            patch=data.get("patch"),
            box=data.get("box"),
            image_index=data.get("image_index"),
        )


@dataclass(frozen=True)
class GeneratedToken:
    """A token the model generated (or, for an encoder, filled in at a mask).

    Parameters
    ----------
    position : int
        Its position index in the trace.
    token_id : int
        The generated token id.
    text : str
        The decoded token.
    prob : float
        Its probability under the model, teacher-forced on the traced sequence.

    Examples
    --------
    >>> GeneratedToken(5, 9, " Paris", 0.77).text
    ' Paris'
    """

    position: int
    token_id: int
    text: str
    prob: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "position", int(self.position))
        object.__setattr__(self, "token_id", int(self.token_id))
        object.__setattr__(self, "text", str(self.text))
        object.__setattr__(self, "prob", float(self.prob))

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-able dict."""
        return {"position": self.position, "token_id": self.token_id, "text": self.text, "prob": self.prob}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "GeneratedToken":
        """Inverse of :meth:`to_dict`."""
        return cls(data["position"], data["token_id"], data["text"], data["prob"])


@dataclass(frozen=True)
class Prediction:
    """The model's prediction at a target position after removing some positions.

    Parameters
    ----------
    removed : tuple of int
        The removed positions, sorted.
    kind : str
        The intervention kind (``"mask"``, ``"zero"``, ``"mean"``, ``"pixel"``).
    top_token_id, top_token_text, top_prob
        The most likely token after the intervention and its probability.
    original_token_id, original_prob
        The token of the unablated run and its probability there.
    target : int or None
        The target position.
    original_token_prob_after : float or None
        The probability of the original token after the intervention.

    Examples
    --------
    >>> p = Prediction((3,), "mask", 11, " Rome", 0.4, 9, 0.77, target=6, original_token_prob_after=0.2)
    >>> p.changed, round(p.prob_drop, 2)
    (True, 0.57)
    """

    removed: tuple[int, ...]
    kind: str
    top_token_id: int
    top_token_text: str
    top_prob: float
    original_token_id: int
    original_prob: float
    target: int | None = None
    original_token_prob_after: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "removed", tuple(sorted(int(i) for i in self.removed)))
        object.__setattr__(self, "top_token_id", int(self.top_token_id))
        object.__setattr__(self, "top_prob", float(self.top_prob))
        object.__setattr__(self, "original_token_id", int(self.original_token_id))
        object.__setattr__(self, "original_prob", float(self.original_prob))
        if self.target is not None:
            object.__setattr__(self, "target", int(self.target))
        if self.original_token_prob_after is not None:
            object.__setattr__(self, "original_token_prob_after", float(self.original_token_prob_after))

    @property
    def changed(self) -> bool:
        """Whether the intervention changed the top token."""
        return self.top_token_id != self.original_token_id

    @property
    def prob_drop(self) -> float:
        """``original_prob - original_token_prob_after`` (NaN when the latter is unknown)."""
        if self.original_token_prob_after is None:
            return float("nan")
        return self.original_prob - self.original_token_prob_after

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-able dict."""
        return {
            "removed": list(self.removed),
            "kind": self.kind,
            "top_token_id": self.top_token_id,
            "top_token_text": self.top_token_text,
            "top_prob": self.top_prob,
            "original_token_id": self.original_token_id,
            "original_prob": self.original_prob,
            "target": self.target,
            "original_token_prob_after": self.original_token_prob_after,
        }


def _as_attention(layer: int, array: Any, n: int) -> np.ndarray:
    out = np.ascontiguousarray(np.asarray(array, dtype=np.float32))
    if out.ndim != 3 or out.shape[1:] != (n, n):
        raise SchemaError(
            f"attention of layer {layer} must have shape (heads, {n}, {n}) for {n} positions, got {out.shape}"
        )
    return out


def _as_image(index: int, array: Any) -> np.ndarray:
    out = np.ascontiguousarray(np.asarray(array))
    if out.dtype != np.uint8 or out.ndim != 3 or out.shape[2] != 3:
        raise SchemaError(
            f"image {index} of a trace must be a uint8 array of shape (height, width, 3), "
            f"got {out.dtype} {out.shape}"
        )
    return out


@dataclass(frozen=True, eq=False)
class Trace:
    """A traced generation: positions, generated tokens, attention and replay data.

    Parameters
    ----------
    positions : tuple of Position
        Every position of the sequence (prompt then generated), ``positions[i].index == i``.
    generated : tuple of GeneratedToken
        The generated tokens in order (for encoders: the filled mask positions).
    attentions : mapping of int to ndarray
        Layer index (non-negative) -> float32 array ``(heads, n, n)`` of
        attention weights; rows sum to 1.
    prompt : str
        The user's prompt, before any chat template.
    image_size : tuple of int or None
        ``(width, height)`` of the first image.
    patch_grid : tuple of int or None
        ``(rows, cols)`` of the first image's (base) patch grid as the language
        model sees it (merged patches for Qwen2-VL).
    model_info : dict
        JSON-able provenance: model name, HF class, adapter, ``n_layers``,
        ``n_heads``, ``head_dim``, ``hidden_size``, ``is_causal``, dtype,
        library versions, generation settings, image layouts.
    input_ids : ndarray
        int64 array ``(n,)``: the token id at every position (replay data).
    images : tuple of ndarray
        The original images as uint8 ``(height, width, 3)`` arrays (replay data).
    adapter : ModelAdapter or None
        The live adapter when traced in this process; never saved, not compared.
    """

    positions: tuple[Position, ...]
    generated: tuple[GeneratedToken, ...]
    attentions: Mapping[int, np.ndarray]
    prompt: str
    image_size: tuple[int, int] | None
    patch_grid: tuple[int, int] | None
    model_info: dict[str, Any]
    input_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    images: tuple[np.ndarray, ...] = ()
    adapter: Any = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        positions = tuple(self.positions)
        for i, position in enumerate(positions):
            if not isinstance(position, Position):
                raise SchemaError(f"positions[{i}] must be a Position, got {type(position).__name__}")
            if position.index != i:
                raise SchemaError(
                    f"positions[{i}] has index {position.index}; positions must be listed in order 0..n-1"
                )
        n = len(positions)
        object.__setattr__(self, "positions", positions)
        generated = tuple(self.generated)
        for g in generated:
            if not 0 <= g.position < n or positions[g.position].kind is not TokenKind.GENERATED:
                raise SchemaError(
                    f"generated token {g.text!r} points at position {g.position}, which is not a GENERATED "
                    f"position of this {n}-position trace"
                )
        object.__setattr__(self, "generated", generated)
        attentions = {int(layer): _as_attention(int(layer), a, n) for layer, a in dict(self.attentions).items()}
        if any(layer < 0 for layer in attentions):
            raise SchemaError(f"attention layers must be non-negative indices, got {sorted(attentions)}")
        object.__setattr__(self, "attentions", dict(sorted(attentions.items())))
        ids = np.asarray(self.input_ids, dtype=np.int64).reshape(-1)
        if ids.size == 0 and n:
            ids = np.array([p.token_id for p in positions], dtype=np.int64)
        if ids.shape != (n,):
            raise SchemaError(f"input_ids must have one id per position ({n}), got shape {ids.shape}")
        object.__setattr__(self, "input_ids", ids)
        object.__setattr__(self, "images", tuple(_as_image(i, im) for i, im in enumerate(self.images)))
        object.__setattr__(self, "image_size", _int_tuple(self.image_size, 2, "Trace.image_size"))
        object.__setattr__(self, "patch_grid", _int_tuple(self.patch_grid, 2, "Trace.patch_grid"))
        object.__setattr__(self, "model_info", dict(self.model_info))

    # ------------------------------------------------------------------ queries
    @property
    def n_positions(self) -> int:
        """Number of positions ``n`` (prompt plus generated)."""
        return len(self.positions)

    @property
    def n_heads(self) -> int:
        """Attention heads per layer (from ``model_info``, else from the arrays)."""
        if "n_heads" in self.model_info:
            return int(self.model_info["n_heads"])
        for array in self.attentions.values():
            return int(array.shape[0])
        raise SchemaError("this trace records no n_heads and holds no attention")

    @property
    def head_dim(self) -> int:
        """Per-head dimension of the traced model (``model_info["head_dim"]``)."""
        try:
            return int(self.model_info["head_dim"])
        except KeyError as err:
            raise SchemaError("model_info of this trace has no 'head_dim'") from err

    @property
    def is_causal(self) -> bool:
        """Whether the traced model is a causal decoder (lower-triangular attention)."""
        return bool(self.model_info.get("is_causal", True))

    @property
    def layers(self) -> tuple[int, ...]:
        """The captured layer indices, ascending."""
        return tuple(self.attentions)

    @property
    def prompt_length(self) -> int:
        """Number of positions before the first generated token (all of them for encoders)."""
        if not self.is_causal or not self.generated:
            return self.n_positions
        return self.generated[0].position

    @property
    def generated_text(self) -> str:
        """The generated tokens' texts, concatenated."""
        return "".join(g.text for g in self.generated)

    def positions_of(self, kind: TokenKind | str) -> tuple[int, ...]:
        """Indices of the positions of one kind.

        Examples
        --------
        >>> from whytoken.adapters.trace import Position, TokenKind
        >>> t = Trace((Position(0, "special", 1, "<s>"), Position(1, "generated", 5, "a")),
        ...           (GeneratedToken(1, 5, "a", 0.9),), {}, "x", None, None, {})
        >>> t.positions_of("generated")
        (1,)
        """
        kind = TokenKind(kind)
        return tuple(p.index for p in self.positions if p.kind is kind)

    def attention(self, layer: int | None = None, head: int | None = None) -> np.ndarray:
        """One layer's attention: ``(n, n)`` averaged over heads, or one head's.

        Parameters
        ----------
        layer : int or None
            A captured layer; negative counts from the model's last layer; None
            takes the last captured layer.
        head : int or None
            A head index, or None for the mean over heads.

        Returns
        -------
        ndarray
            float32 array ``(n, n)``.
        """
        if not self.attentions:
            raise LayerError("this trace captured no attention; trace again with layers=(...)")
        if layer is None:
            layer = self.layers[-1]
        n_layers = self.model_info.get("n_layers")
        resolved = layer + int(n_layers) if layer < 0 and n_layers is not None else layer
        if resolved not in self.attentions:
            raise LayerError(
                f"layer {layer} was not captured in this trace; captured layers are {list(self.layers)} "
                "(trace again with layers=(...) to capture others)"
            )
        array = self.attentions[resolved]
        if head is None:
            return array.mean(axis=0)
        if not -array.shape[0] <= head < array.shape[0]:
            raise LayerError(f"head {head} is out of range; valid heads are 0..{array.shape[0] - 1}")
        return array[head]

    def target_index(self, target: int | str | GeneratedToken) -> int:
        """Resolve a target to a position index.

        Parameters
        ----------
        target : int, str or GeneratedToken
            A non-negative int is a position index; a negative int ``-k`` is the
            k-th generated token from the end (``-1``: the last generated
            token); a string is looked up with :meth:`find_generated`.

        Returns
        -------
        int
            The position index.

        Raises
        ------
        TargetError
            If the target is out of range or names no generated token.
        """
        if isinstance(target, GeneratedToken):
            target = target.position
        if isinstance(target, str):
            return self.find_generated(target)
        if isinstance(target, (bool, np.bool_)) or not isinstance(target, (int, np.integer)):
            raise TargetError(f"target must be an int, a str or a GeneratedToken, got {target!r}")
        target = int(target)
        if target < 0:
            if not -len(self.generated) <= target:
                raise TargetError(
                    f"target {target} is out of range: this trace has {len(self.generated)} generated token(s), "
                    f"so negative targets must be in [-{len(self.generated)}, -1]"
                    if self.generated else f"target {target} is out of range: this trace has no generated tokens"
                )
            return self.generated[target].position
        if target >= self.n_positions:
            raise TargetError(
                f"target {target} is out of range: valid positions are 0..{self.n_positions - 1} "
                f"(generated: {[g.position for g in self.generated]})"
            )
        return target

    def find_generated(self, text: str) -> int:
        """Position of the first generated token whose text is ``text``.

        An exact match wins; otherwise the first whose stripped text equals
        ``text.strip()``.

        Raises
        ------
        TargetError
            If no generated token matches; the message lists them.
        """
        for g in self.generated:
            if g.text == text:
                return g.position
        for g in self.generated:
            if g.text.strip() == text.strip():
                return g.position
        raise TargetError(
            f"no generated token has the text {text!r}; generated tokens are "
            f"{[(g.position, g.text) for g in self.generated]}"
        )

    def generated_at(self, position: int) -> GeneratedToken | None:
        """The generated token at a position, or None."""
        for g in self.generated:
            if g.position == position:
                return g
        return None

    # ---------------------------------------------------------------- equality
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Trace):
            return NotImplemented
        return (
            self.positions == other.positions
            and self.generated == other.generated
            and self.prompt == other.prompt
            and self.image_size == other.image_size
            and self.patch_grid == other.patch_grid
            and self.model_info == other.model_info
            and list(self.attentions) == list(other.attentions)
            and all(
                a.dtype == b.dtype and np.array_equal(a, b)
                for a, b in zip(self.attentions.values(), other.attentions.values())
            )
            and np.array_equal(self.input_ids, other.input_ids)
            and len(self.images) == len(other.images)
            and all(np.array_equal(a, b) for a, b in zip(self.images, other.images))
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        name = self.model_info.get("name", "?")
        return (
            f"Trace(model={name!r}, n_positions={self.n_positions}, generated={self.generated_text!r}, "
            f"layers={list(self.layers)}, images={len(self.images)})"
        )

    # ----------------------------------------------------------- serialization
    def metadata(self) -> dict[str, Any]:
        """The JSON-able part of the trace (everything but the arrays)."""
        return {
            "schema": TRACE_SCHEMA,
            "prompt": self.prompt,
            "image_size": list(self.image_size) if self.image_size is not None else None,
            "patch_grid": list(self.patch_grid) if self.patch_grid is not None else None,
            "model_info": self.model_info,
            "positions": [p.to_dict() for p in self.positions],
            "generated": [g.to_dict() for g in self.generated],
            "layers": list(self.layers),
            "n_images": len(self.images),
        }

    def _arrays(self) -> dict[str, np.ndarray]:
        arrays = {"input_ids": self.input_ids}
        arrays.update({f"attention.{layer}": a for layer, a in self.attentions.items()})
        arrays.update({f"image.{i}": im for i, im in enumerate(self.images)})
        return arrays

    @property
    def fingerprint(self) -> str | None:
        """The weights fingerprint of the model that made the trace (None for traces made before
        fingerprints were recorded); see :mod:`whytoken.adapters.identity`."""
        value = self.model_info.get("fingerprint")
        return str(value) if value else None

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Save to one file: safetensors by default, ``.npz`` when the name ends so.

        The arrays are stored as they are (bit-exact); the rest is JSON in the
        file's metadata. The file is written atomically (:mod:`whytoken.files`): a
        failed save (full disk, read-only directory) raises
        :class:`~whytoken.errors.OutputError` and leaves any previous file at ``path``
        unchanged. Returns the path written.

        Examples
        --------
        >>> import tempfile, os
        >>> t = Trace((Position(0, "special", 1, "<s>"),), (), {}, "x", None, None, {"n_layers": 1})
        >>> with tempfile.TemporaryDirectory() as d:
        ...     Trace.load(t.save(os.path.join(d, "t.safetensors"))) == t
        True
        """
        path = Path(path)
        meta = json.dumps(self.metadata(), ensure_ascii=False, allow_nan=True)
        arrays = self._arrays()
        with atomic_path(path, what="trace") as tmp:
            if path.suffix == ".npz":
                np.savez(tmp, __whytoken_meta__=np.array(meta), **arrays)
            else:
                from safetensors import SafetensorError
                from safetensors.numpy import save_file

                try:
                    save_file(arrays, str(tmp), metadata={_META_KEY: meta})
                except SafetensorError as err:  # the Rust writer's I/O errors: re-raise as the OSError they are
                    raise _safetensors_os_error(err, tmp) from err
        logger.debug("saved trace with %d positions to %s", self.n_positions, path)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> "Trace":
        """Load a trace written by :meth:`save` (safetensors or npz, detected from content).

        Raises
        ------
        CheckpointError
            The file does not exist or is not a readable safetensors/npz file (truncated,
            corrupt, another format).
        SchemaError
            The file is readable but its whytoken metadata or arrays are missing, corrupt or
            inconsistent (the message names the file and the field).
        """
        path = Path(path)
        if path.is_dir():
            found = sorted(path.glob("*.safetensors")) + sorted(path.glob("*.npz"))
            hint = f", e.g. {str(found[0])!r}" if found else ""
            raise CheckpointError(f"trace path {str(path)!r} is a directory; pass the trace file inside it{hint}")
        if not path.is_file():
            raise CheckpointError(f"trace file {str(path)!r} does not exist; pass the path written by Trace.save")
        source = repr(str(path))
        meta_text, arrays = _read_trace_file(path, source)
        if meta_text is None:
            raise SchemaError(f"{source} has no whytoken trace metadata; was it written by Trace.save?")
        try:
            meta = json.loads(meta_text)
        except ValueError as err:
            raise SchemaError(f"{source}: the trace metadata is not valid JSON ({err}); the file is damaged: "
                              "re-create it with `whytoken trace` or Trace.save") from err
        return cls._from_parts(meta, arrays, source=source)

    @classmethod
    def _from_parts(cls, meta: Any, arrays: Mapping[str, np.ndarray], source: str) -> "Trace":
        if not isinstance(meta, Mapping):
            raise SchemaError(f"{source}: the trace metadata must be a JSON object, got {type(meta).__name__}")
        if meta.get("schema") != TRACE_SCHEMA:
            raise SchemaError(f"{source} has schema {meta.get('schema')!r}, expected {TRACE_SCHEMA!r}")
        try:
            layers = meta["layers"]
            if not isinstance(layers, list):
                raise SchemaError(f"'layers' must be a list of layer indices, got {layers!r}")
            attentions = {int(layer): arrays[f"attention.{layer}"] for layer in layers}
            images = tuple(arrays[f"image.{i}"] for i in range(int(meta["n_images"])))
            input_ids = arrays["input_ids"]
            _check_arrays(attentions, input_ids, meta.get("model_info"))
            return cls(
                positions=tuple(Position.from_dict(p) for p in meta["positions"]),
                generated=tuple(GeneratedToken.from_dict(g) for g in meta["generated"]),
                attentions=attentions,
                prompt=_string(meta["prompt"], "prompt"),
                image_size=meta["image_size"],
                patch_grid=meta["patch_grid"],
                model_info=_mapping(meta["model_info"], "model_info"),
                input_ids=input_ids,
                images=images,
            )
        except KeyError as err:
            raise SchemaError(f"{source} lacks the field or array {err.args[0]!r} of a {TRACE_SCHEMA} trace") from err
        except SchemaError as err:
            raise SchemaError(f"{source}: {err}") from err
        except (TypeError, ValueError, AttributeError, IndexError, OverflowError) as err:
            raise SchemaError(f"{source} is not a valid {TRACE_SCHEMA} trace: {err}; the file is damaged or was "
                              "edited: re-create it with `whytoken trace` or Trace.save") from err


def _string(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise SchemaError(f"{what!r} must be a string, got {type(value).__name__}")
    return value


def _mapping(value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise SchemaError(f"{what!r} must be a JSON object, got {type(value).__name__}")
    return value


def _check_arrays(attentions: Mapping[int, np.ndarray], input_ids: np.ndarray, model_info: Any) -> None:
    """What the constructor cannot see: integer ids inside the recorded vocabulary, finite attention."""
    ids = np.asarray(input_ids)
    if ids.size and not np.issubdtype(ids.dtype, np.integer):
        raise SchemaError(f"array 'input_ids' must hold integers, got dtype {ids.dtype}")
    vocab = model_info.get("vocab_size") if isinstance(model_info, Mapping) else None
    if ids.size and (int(ids.min()) < 0 or (isinstance(vocab, int) and vocab > 0 and int(ids.max()) >= vocab)):
        bad = int(ids.min()) if int(ids.min()) < 0 else int(ids.max())
        raise SchemaError(f"token id {bad} in 'input_ids' is outside the vocabulary of the model that made the "
                          f"trace (0..{vocab - 1 if isinstance(vocab, int) and vocab > 0 else '?'})")
    for layer, array in attentions.items():
        a = np.asarray(array)
        if not np.issubdtype(a.dtype, np.floating):
            raise SchemaError(f"array 'attention.{layer}' must hold floats, got dtype {a.dtype}")
        if not np.isfinite(a).all():
            raise SchemaError(f"array 'attention.{layer}' holds NaN or infinite weights")


def _read_trace_file(path: Path, source: str) -> tuple[str | None, dict[str, np.ndarray]]:
    """The metadata text and the arrays of a safetensors or npz trace file."""
    try:
        with open(path, "rb") as handle:
            magic = handle.read(4)
        if magic[:2] == b"PK":
            with np.load(path, allow_pickle=False) as data:
                meta = str(data["__whytoken_meta__"]) if "__whytoken_meta__" in data.files else None
                return meta, {k: data[k] for k in data.files if k != "__whytoken_meta__"}
        from safetensors import SafetensorError, safe_open

        try:
            with safe_open(str(path), framework="numpy") as handle:
                meta = (handle.metadata() or {}).get(_META_KEY)
                return meta, {k: handle.get_tensor(k) for k in handle.keys()}
        except SafetensorError as err:  # not an OSError/ValueError subclass
            raise ValueError(str(err)) from err
    except CheckpointError:
        raise
    except Exception as err:  # noqa: BLE001 -- numpy parses a damaged .npy header with ast/tokenize and
        # raises whatever they raise (SyntaxError, tokenize.TokenError, MemoryError for absurd shapes, ...)
        raise CheckpointError(f"{source} is not a whytoken trace file that can be read ({type(err).__name__}: "
                              f"{err}); it is truncated, damaged or of another format: re-create it with "
                              "`whytoken trace` or Trace.save") from err


def _safetensors_os_error(err: Exception, path: Path) -> OSError:
    match = re.search(r"os error (\d+)", str(err))
    code = int(match.group(1)) if match else errno.EIO
    return OSError(code, os.strerror(code), str(path))
