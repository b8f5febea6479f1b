"""Interventions: how a set of token positions is *removed* before a re-run.

Each kind registers itself under a name; :func:`get_intervention` raises
:class:`~whytoken.errors.UnknownInterventionError` listing the registered
names. An intervention edits one batch row, described by a
:class:`RowEdit` (numpy only); the adapter turns rows into tensors.

``mask`` (default)
    The removed positions are masked out of every attention (key side) in the
    language model. Positions are *not* renumbered: every remaining token
    keeps its position id (and Qwen2-VL its 3-D M-RoPE position), so the
    removal does not shift the rotary phases of the rest. Caveats: the
    query row that makes the prediction (the position right before a causal
    target) keeps its own residual stream even when masked as a key, and an
    image token's content also reaches the other image tokens through the
    vision encoder; use ``zero``/``mean`` or ``pixel`` for those.
``zero``
    The removed positions' input embeddings (after image features are merged
    in, before the first layer) are set to zero; attention is unchanged.
``mean``
    As ``zero`` but with a mean embedding: the mean of the vocabulary's token
    embeddings for text/special/generated positions, the mean of the same
    image's patch features for image patches.
``pixel``
    Image patches only: the pixels of the removed patches' boxes are set to
    the image's mean colour and the image is re-encoded; the token sequence
    is unchanged.

This module imports numpy only.

Examples
--------
>>> from whytoken.adapters.interventions import list_interventions, get_intervention
>>> list_interventions()
['mask', 'mean', 'pixel', 'zero']
>>> get_intervention("mask").name
'mask'
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, TypeVar

import numpy as np

from whytoken.adapters.images import blank_boxes
from whytoken.adapters.trace import TokenKind, Trace
from whytoken.errors import InterventionError, UnknownInterventionError
from whytoken.registry import Registry

__all__ = [
    "RowEdit",
    "Intervention",
    "register_intervention",
    "get_intervention",
    "list_interventions",
    "MaskIntervention",
    "ZeroEmbeddingIntervention",
    "MeanEmbeddingIntervention",
    "PixelIntervention",
]


@dataclass
class RowEdit:
    """The edits of one batch row.

    Attributes
    ----------
    attention_mask : ndarray
        int64 ``(length,)``; 0 masks a position out of attention.
    embeddings : list of (int, str)
        ``(position, mode)`` input-embedding replacements, mode ``"zero"`` or ``"mean"``.
    images : list of ndarray or None
        Replacement images (uint8 ``(H, W, 3)``) to re-encode, or None to keep the trace's.
    """

    attention_mask: np.ndarray
    embeddings: list[tuple[int, str]] = field(default_factory=list)
    images: list[np.ndarray] | None = None


class Intervention(abc.ABC):
    """One way of removing positions. Subclasses set ``name`` and implement :meth:`apply`."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""

    def check(self, trace: Trace, target: int, removed: tuple[int, ...]) -> None:
        """Raise :class:`~whytoken.errors.InterventionError` if ``removed`` cannot be removed this way."""

    @abc.abstractmethod
    def apply(self, row: RowEdit, trace: Trace, removed: tuple[int, ...]) -> None:
        """Edit ``row`` in place to remove ``removed``."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


_INTERVENTIONS: Registry[type[Intervention]] = Registry(
    "intervention kind", error=UnknownInterventionError,
    fix="Register a new one with @register_intervention(name).", name_attribute="name",
)
IC = TypeVar("IC", bound=type[Intervention])


def register_intervention(name: str, *, overwrite: bool = False) -> Callable[[IC], IC]:
    """Class decorator registering an :class:`Intervention` under ``name`` (and setting its ``name``).

    Raises
    ------
    DuplicateRegistrationError
        If ``name`` is taken by another class and ``overwrite`` is False.
    """
    return _INTERVENTIONS.register(name, overwrite=overwrite)


def list_interventions() -> list[str]:
    """The registered intervention names, sorted."""
    return _INTERVENTIONS.names()


def get_intervention(name: str | Intervention) -> Intervention:
    """An instance of the intervention registered under ``name`` (instances pass through).

    Raises
    ------
    UnknownInterventionError
        If no intervention has that name; the message lists the known ones.
    """
    if isinstance(name, Intervention):
        return name
    return _INTERVENTIONS.get(name)()


@register_intervention("mask")
class MaskIntervention(Intervention):
    description = "mask the positions out of attention; position ids stay fixed"

    def apply(self, row: RowEdit, trace: Trace, removed: tuple[int, ...]) -> None:
        row.attention_mask[list(removed)] = 0


@register_intervention("zero")
class ZeroEmbeddingIntervention(Intervention):
    description = "replace the input embeddings by zeros"

    def apply(self, row: RowEdit, trace: Trace, removed: tuple[int, ...]) -> None:
        row.embeddings.extend((p, "zero") for p in removed)


@register_intervention("mean")
class MeanEmbeddingIntervention(Intervention):
    description = "replace the input embeddings by the mean token embedding (mean patch feature for image patches)"

    def apply(self, row: RowEdit, trace: Trace, removed: tuple[int, ...]) -> None:
        row.embeddings.extend((p, "mean") for p in removed)


@register_intervention("pixel")
class PixelIntervention(Intervention):
    description = "blank the patches' pixels to the image mean and re-encode the image"

    def check(self, trace: Trace, target: int, removed: tuple[int, ...]) -> None:
        bad = [p for p in removed if trace.positions[p].kind is not TokenKind.IMAGE_PATCH
               or trace.positions[p].box is None]
        if bad:
            raise InterventionError(
                f"the 'pixel' intervention removes image patches only; positions {bad} are "
                f"{sorted({trace.positions[p].kind.value for p in bad})}. Use kind='mask' (or 'zero'/'mean') "
                "for text tokens, or drop them from the removal set"
            )
        if not trace.images:
            raise InterventionError("the 'pixel' intervention needs the trace's images, and this trace has none")

    def apply(self, row: RowEdit, trace: Trace, removed: tuple[int, ...]) -> None:
        boxes: dict[int, list[Any]] = {}
        for p in removed:
            position = trace.positions[p]
            boxes.setdefault(position.image_index or 0, []).append(position.box)
        row.images = [blank_boxes(image, boxes.get(i, ())) if i in boxes else image
                      for i, image in enumerate(trace.images)]
