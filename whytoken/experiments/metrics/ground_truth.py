"""Agreement with known causes: precision and recall of a selected set, and the pointing game.

On data whose causes are known (the synthetic worlds, easy-VQA's shape masks),
a method's selection (its top-``|GT|`` tokens, its explaining set, or its
flipping prefix) is compared with the true cause positions
(:func:`precision_recall`), and its highest-ranked image patch with the
ground-truth object's patches (:func:`pointing_game`).

Examples
--------
>>> precision_recall([1, 2], [2])
(0.5, 1.0)
"""

from __future__ import annotations

from typing import Iterable, Sequence

__all__ = ["precision_recall", "pointing_game"]


def precision_recall(selected: Iterable[int], truth: Iterable[int]) -> tuple[float, float]:
    """Precision and recall of ``selected`` against the true causes ``truth``.

    An empty selection has precision 1.0 (it claims nothing wrong); an empty
    truth has recall 1.0.

    Examples
    --------
    >>> precision_recall([1, 2, 3, 4], [2, 4, 9])
    (0.5, 0.6666666666666666)
    >>> precision_recall([], [1])
    (1.0, 0.0)
    """
    sel, true = set(selected), set(truth)
    hits = len(sel & true)
    precision = hits / len(sel) if sel else 1.0
    recall = hits / len(true) if true else 1.0
    return precision, recall


def pointing_game(ranking: Sequence[int], truth_patches: Iterable[int], image_positions: Iterable[int]) -> bool | None:
    """The pointing game on patches: is the method's highest-ranked image patch inside the ground-truth object?

    The classic pointing game (Zhang et al., 2018) asks whether the maximum of a
    saliency map falls inside the annotated object. Here the units are the
    model's image tokens: the first image patch of ``ranking`` (text tokens
    ranked above it are skipped) must be one of ``truth_patches``. None when
    there is no ground-truth patch (e.g. an absent answer) or no image patch is
    ranked.

    Examples
    --------
    >>> pointing_game([9, 4, 2], truth_patches=[2, 3], image_positions=[2, 3, 4])
    False
    >>> pointing_game([9, 3, 4], truth_patches=[2, 3], image_positions=[2, 3, 4])
    True
    >>> pointing_game([9], truth_patches=[], image_positions=[2]) is None
    True
    """
    truth, image = set(truth_patches), set(image_positions)
    if not truth:
        return None
    top = next((p for p in ranking if p in image), None)
    return None if top is None else top in truth
