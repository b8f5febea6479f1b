"""Modality reliance: does an answer come from the image, from the text, or from both?

LVLM-Interpret's case study asked by hand whether a model answers from the
image or from the question. Two kinds of evidence answer it per answer:

**The verified set** (:func:`set_modality`)
    The kinds of the members of a verified explaining set: ``image`` (patches
    only), ``text`` (question words only) or ``mixed``. A set is sufficient
    evidence that its modality carries a cause: removing it changes the answer.
**Two ablations** (:func:`modality_reliance`, two extra forward passes)
    Remove *all* image tokens, then *all* question words, and ask whether the
    answer changes. :func:`ablation_reliance` reads the pair: ``image`` (only
    the image removal changes it), ``text`` (only the text removal), ``both``
    (either removal changes it: the answer needs both), ``neither`` (neither
    removal alone changes it: the answer survives without the image and
    without the question, e.g. a prior or a template answer). Text-only
    inputs have no image ablation (``None``), so they read ``text`` or
    ``neither``.

Examples
--------
>>> set_modality(["image_patch", "image_patch"]), set_modality(["prompt_text", "image_patch"])
('image', 'mixed')
>>> ablation_reliance(True, False), ablation_reliance(True, True), ablation_reliance(None, False)
('image', 'both', 'neither')
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from whytoken.errors import InvalidParameterError
from whytoken.experiments.metrics.predictor import ChangeCriterion, Predict, _change_rule, prob_after

__all__ = ["RELIANCE", "SET_MODALITIES", "ModalityReliance", "set_modality", "ablation_reliance",
           "modality_reliance"]

#: Verdicts of :func:`ablation_reliance`.
RELIANCE = ("image", "text", "both", "neither")
#: Values of :func:`set_modality`.
SET_MODALITIES = ("image", "text", "mixed")

_IMAGE_KINDS = ("image_patch",)
_TEXT_KINDS = ("prompt_text", "generated")


def _modality(kind: str) -> str:
    kind = str(getattr(kind, "name", kind)).lower()
    if kind in _IMAGE_KINDS:
        return "image"
    if kind in _TEXT_KINDS:
        return "text"
    return "other"


def set_modality(kinds: Iterable[Any]) -> str | None:
    """``image``, ``text`` or ``mixed`` for the token kinds of a set's members (None for an empty set).

    Special/template tokens (only in the pool with ``include_special``) count as text.

    Examples
    --------
    >>> set_modality(["prompt_text"]), set_modality([]) is None
    ('text', True)
    """
    found = {("text" if m == "other" else m) for m in map(_modality, kinds)}
    if not found:
        return None
    return found.pop() if len(found) == 1 else "mixed"


def ablation_reliance(image_changes: bool | None, text_changes: bool | None) -> str:
    """The verdict of the two ablations (see the module docstring); None means the ablation does not apply.

    Examples
    --------
    >>> ablation_reliance(False, True), ablation_reliance(False, False)
    ('text', 'neither')
    """
    image, text = bool(image_changes), bool(text_changes)
    if image and text:
        return "both"
    if image:
        return "image"
    if text:
        return "text"
    return "neither"


@dataclass(frozen=True)
class ModalityReliance:
    """One answer's modality evidence.

    Attributes
    ----------
    image_removed_changes, text_removed_changes : bool or None
        Whether removing every image token / every question word changes the answer (None: no such tokens).
    image_removed_prob, text_removed_prob : float or None
        The answer token's probability after each ablation.
    reliance : str
        :func:`ablation_reliance` of the two.
    set_modality : str or None
        :func:`set_modality` of the verified explaining set (None: no set).
    n_image, n_text : int
        Tokens removed by each ablation.
    """

    image_removed_changes: bool | None
    text_removed_changes: bool | None
    image_removed_prob: float | None
    text_removed_prob: float | None
    reliance: str
    set_modality: str | None
    n_image: int
    n_text: int

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        def num(x: float | None) -> float | None:
            return None if x is None or not math.isfinite(x) else float(f"{x:.6g}")

        return {"image_removed_changes": self.image_removed_changes, "text_removed_changes": self.text_removed_changes,
                "image_removed_prob": num(self.image_removed_prob), "text_removed_prob": num(self.text_removed_prob),
                "reliance": self.reliance, "set_modality": self.set_modality, "n_image": self.n_image,
                "n_text": self.n_text}


def modality_reliance(predict: Predict, image_positions: Sequence[int], text_positions: Sequence[int],
                      original_prob: float, *, set_kinds: Iterable[Any] = (),
                      criterion: ChangeCriterion | None = None) -> ModalityReliance:
    """Remove every image token, then every question word (one pass each), and read the reliance.

    Parameters
    ----------
    predict : callable
        ``predict(removal_sets) -> predictions`` (e.g. a :class:`~whytoken.experiments.metrics.CachedPredictor`).
    image_positions, text_positions : sequence of int
        The image tokens and the question words of the pool (either may be empty).
    original_prob : float
        The answer token's probability with nothing removed (the criterion's reference).
    set_kinds : iterable of str
        Token kinds of the members of the verified explaining set (empty: no set).
    criterion : ChangeCriterion, optional
        Default: the top token is no longer the original one.

    Examples
    --------
    A model that answers from the image only (any image token removed changes it):

    >>> from types import SimpleNamespace as NS
    >>> predict = lambda sets: [NS(top_token_id=int(any(p < 4 for p in s)), original_token_id=0,
    ...                            original_token_prob_after=0.1 if any(p < 4 for p in s) else 0.9) for s in sets]
    >>> r = modality_reliance(predict, [0, 1, 2, 3], [5, 6], 0.9, set_kinds=["image_patch"])
    >>> r.reliance, r.set_modality, r.image_removed_prob
    ('image', 'image', 0.1)
    """
    image, text = tuple(sorted({int(p) for p in image_positions})), tuple(sorted({int(p) for p in text_positions}))
    if set(image) & set(text):
        raise InvalidParameterError(f"positions {sorted(set(image) & set(text))[:10]} are both image and text; "
                                    "pass each position in one list")
    rule = _change_rule(criterion)
    sets = [s for s in (image, text) if s]
    outcomes = dict(zip(sets, predict(sets))) if sets else {}

    def read(s: tuple[int, ...]) -> tuple[bool | None, float | None]:
        if not s:
            return None, None
        prediction = outcomes[s]
        return bool(rule(prediction, original_prob)), prob_after(prediction)

    image_changes, image_prob = read(image)
    text_changes, text_prob = read(text)
    return ModalityReliance(image_changes, text_changes, image_prob, text_prob,
                            ablation_reliance(image_changes, text_changes), set_modality(set_kinds),
                            len(image), len(text))
