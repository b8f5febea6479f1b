"""Deletion and insertion curves of the target token's probability, and their normalised area.

A deletion curve removes the top-``k`` ranked candidates for ``k = 0..K``
(a faithful ranking makes the probability fall fast: lower area is better);
an insertion curve starts with every candidate removed and puts back the
top-``k`` (higher area is better). Areas use the trapezoid rule over
``x = k / K`` (:func:`normalized_auc`), so they lie in ``[0, 1]``.

Examples
--------
>>> normalized_auc([1.0, 0.5, 0.0])
0.5
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from whytoken.errors import InvalidParameterError
from whytoken.experiments.metrics.flips import flip_size_from_changes
from whytoken.experiments.metrics.predictor import ChangeCriterion, Predict, _change_rule, prob_after

__all__ = ["RemovalCurve", "deletion_curve", "insertion_curve", "normalized_auc"]


@dataclass(frozen=True)
class RemovalCurve:
    """A deletion or insertion curve of the target token's probability.

    Attributes
    ----------
    kind : {"deletion", "insertion"}
        Deletion removes the top-``k``; insertion removes every candidate but the top-``k``.
    probs : tuple of float
        ``probs[k]`` is the original target token's probability at step ``k = 0..K``.
    changed : tuple of bool
        ``changed[k]`` is whether the target counts as changed at step ``k``.
    auc : float
        :func:`normalized_auc` of ``probs``.
    n_candidates : int
        How many candidates were ranked (``K <= n_candidates``).
    """

    kind: str
    probs: tuple[float, ...]
    changed: tuple[bool, ...]
    auc: float
    n_candidates: int

    @property
    def max_k(self) -> int:
        """The last step ``K``."""
        return len(self.probs) - 1

    @property
    def flip_size(self) -> int | None:
        """Smallest ``k >= 1`` whose step changed the target (deletion curves; ``None`` if none did)."""
        return flip_size_from_changes(self.changed)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        return {"kind": self.kind, "probs": list(self.probs), "changed": list(self.changed),
                "auc": self.auc, "n_candidates": self.n_candidates}


def normalized_auc(probs: Sequence[float]) -> float:
    """Area under ``probs`` over ``x = k / K`` in ``[0, 1]`` (trapezoid rule).

    A single point (``K = 0``) has area equal to its value.

    Examples
    --------
    >>> normalized_auc([1.0, 0.0])
    0.5
    >>> normalized_auc([0.8, 0.4, 0.4])
    0.5
    """
    y = np.asarray(probs, dtype=float)
    if y.ndim != 1 or y.size == 0:
        raise InvalidParameterError(f"a curve needs at least one point, got shape {y.shape}; pass probs for k = 0..K")
    if y.size == 1:
        return float(y[0])
    return float(((y[:-1] + y[1:]) / 2.0).sum() / (y.size - 1))


def _check_ranking(ranking: Sequence[int], max_k: int) -> tuple[tuple[int, ...], int]:
    ranking = tuple(int(i) for i in ranking)
    if len(set(ranking)) != len(ranking):
        raise InvalidParameterError(f"the ranking repeats positions: {ranking[:20]}; rank each candidate once")
    if not isinstance(max_k, (int, np.integer)) or isinstance(max_k, bool) or max_k < 1:
        raise InvalidParameterError(f"max_k must be an integer >= 1, got {max_k!r}; e.g. max_k=20")
    return ranking, min(int(max_k), len(ranking))


def _evaluate(
    kind: str,
    removal_sets: list[tuple[int, ...]],
    predict: Predict,
    criterion: ChangeCriterion | None,
    n_candidates: int,
    original_prob: float | None,
) -> RemovalCurve:
    rule = _change_rule(criterion)
    predictions = list(predict(removal_sets))
    if len(predictions) != len(removal_sets):
        raise InvalidParameterError(
            f"predict returned {len(predictions)} predictions for {len(removal_sets)} removal sets; "
            "it must return one prediction per set, in order"
        )
    probs = tuple(prob_after(p) for p in predictions)
    if original_prob is None:
        original_prob = probs[0]
    changed = tuple(bool(rule(p, original_prob)) for p in predictions)
    return RemovalCurve(kind=kind, probs=probs, changed=changed, auc=normalized_auc(probs), n_candidates=n_candidates)


def deletion_curve(
    ranking: Sequence[int],
    predict: Predict,
    max_k: int,
    *,
    criterion: ChangeCriterion | None = None,
) -> RemovalCurve:
    """Remove the top-``k`` ranked candidates for ``k = 0..K`` and record the target's probability.

    Parameters
    ----------
    ranking : sequence of int
        Candidate positions, most important first (all candidates).
    predict : callable
        ``predict(removal_sets) -> predictions`` (see :class:`CachedPredictor`).
    max_k : int
        ``K``, capped at the number of candidates.
    criterion : ChangeCriterion, optional
        Decides "changed" (default: the top token is no longer the original one).
        Its reference probability is the one at ``k = 0``.

    Returns
    -------
    RemovalCurve
        With ``flip_size`` the smallest flipping ``k``.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> predict = lambda sets: [SimpleNamespace(top_token_id=int(2 in s), original_token_id=0,
    ...                                         original_token_prob_after=0.5 if 2 in s else 1.0) for s in sets]
    >>> c = deletion_curve([0, 2, 1], predict, max_k=3)
    >>> c.probs, c.flip_size
    ((1.0, 1.0, 0.5, 0.5), 2)
    """
    ranking, k_max = _check_ranking(ranking, max_k)
    sets = [tuple(sorted(ranking[:k])) for k in range(k_max + 1)]
    return _evaluate("deletion", sets, predict, criterion, len(ranking), None)


def insertion_curve(
    ranking: Sequence[int],
    predict: Predict,
    max_k: int,
    *,
    criterion: ChangeCriterion | None = None,
    original_prob: float | None = None,
) -> RemovalCurve:
    """Start with every candidate removed, put back the top-``k`` for ``k = 0..K``.

    Parameters
    ----------
    ranking : sequence of int
        All candidate positions, most important first; step ``k`` removes ``ranking[k:]``.
    predict, max_k, criterion
        As for :func:`deletion_curve`.
    original_prob : float, optional
        The target's probability with nothing removed, the criterion's
        reference (default: the probability at ``k = 0``, which only matters
        for probability-based criteria).

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> predict = lambda sets: [SimpleNamespace(top_token_id=0, original_token_id=0,
    ...                                         original_token_prob_after=0.2 if 2 in s else 0.8) for s in sets]
    >>> insertion_curve([2, 0, 1], predict, max_k=2).probs
    (0.2, 0.8, 0.8)
    """
    ranking, k_max = _check_ranking(ranking, max_k)
    sets = [tuple(sorted(ranking[k:])) for k in range(k_max + 1)]
    return _evaluate("insertion", sets, predict, criterion, len(ranking), original_prob)
