"""Faithfulness metrics for token attributions, computed on the model itself.

An attribution method ranks the *candidate* tokens (image patches, prompt
tokens, earlier generated tokens) by how much they are supposed to matter for
one generated *target* token. The metrics here ask the model whether the
ranking is right, by removing tokens (with the adapter's intervention) and
reading the target position's prediction again:

**Deletion curve**
    ``p_k`` = probability of the original target token after removing the
    top-``k`` ranked candidates, ``k = 0..K``. A faithful ranking makes it
    fall fast: *lower* area is better.
**Insertion curve**
    Start from every candidate removed and put back the top-``k``; ``p_k`` is
    the original token's probability then. A faithful ranking makes it rise
    fast: *higher* area is better.
**Area under a curve**
    The trapezoid rule over ``x = k / K`` in ``[0, 1]``, on the raw
    probabilities, so areas lie in ``[0, 1]`` and compare across samples with
    different candidate counts (:func:`normalized_auc`).
**Flip size**
    The smallest ``k >= 1`` such that removing the top-``k`` changes the
    target (by default: the most likely token is no longer the original one),
    read off the deletion curve; ``None`` when no ``k <= K`` flips it. For a
    method that returns an explaining set (whytoken) the set is put first in
    its ranking, so a verified minimal set of size ``s`` gives flip size ``s``.
**Ground-truth precision and recall**
    On data with known causes (the synthetic world), the share of a selected
    set that are true causes and the share of true causes selected
    (:func:`precision_recall`).

The model is reached only through a *predict* callable, ``predict(removal_sets)
-> list of predictions``, each prediction having ``top_token_id``,
``original_token_id`` and ``original_token_prob_after`` (the original token's
probability after the removal), as :class:`whytoken.adapters.trace.Prediction`
does. :class:`CachedPredictor` wraps an
adapter's batched ``predict_batch`` so one batch evaluates a whole curve and
removal sets shared between methods are run once.

Examples
--------
A toy model whose target token flips exactly when tokens 3 and 5 are both
removed, and whose probability drops by 0.2 for each of them removed:

>>> from types import SimpleNamespace
>>> def predict(removal_sets):
...     out = []
...     for removed in removal_sets:
...         hits = len({3, 5} & set(removed))
...         out.append(SimpleNamespace(top_token_id=1 if hits == 2 else 0,
...                                    original_token_id=0, original_token_prob_after=0.9 - 0.2 * hits))
...     return out
>>> curve = deletion_curve([5, 3, 1, 2], predict, max_k=4)
>>> [round(p, 2) for p in curve.probs]
[0.9, 0.7, 0.5, 0.5, 0.5]
>>> curve.flip_size, round(curve.auc, 3)
(2, 0.6)
>>> deletion_curve([1, 2, 5, 3], predict, max_k=4).flip_size
4
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Protocol, Sequence

import numpy as np

from whytoken.errors import InvalidParameterError

__all__ = [
    "PredictionLike",
    "ChangeCriterion",
    "Predict",
    "RemovalCurve",
    "CachedPredictor",
    "deletion_curve",
    "insertion_curve",
    "normalized_auc",
    "flip_size_from_changes",
    "precision_recall",
    "flip_rate",
    "describe_flip_sizes",
    "top_token_changed",
    "prob_after",
]

logger = logging.getLogger(__name__)


class PredictionLike(Protocol):
    """What the metrics read from one prediction made with some tokens removed."""

    top_token_id: int
    original_token_id: int
    original_token_prob_after: float | None


class ChangeCriterion(Protocol):
    """Decides whether a prediction counts as a changed target (see :mod:`whytoken.query.criteria`)."""

    def changed(self, prediction: PredictionLike, original_prob: float) -> bool: ...


#: ``predict(removal_sets) -> predictions``, one prediction per removal set, in order.
Predict = Callable[[Sequence[tuple[int, ...]]], Sequence[PredictionLike]]


def top_token_changed(prediction: PredictionLike, original_prob: float) -> bool:
    """The default change rule: the most likely token is no longer the original one.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> top_token_changed(SimpleNamespace(top_token_id=4, original_token_id=4), 0.9)
    False
    """
    return int(prediction.top_token_id) != int(prediction.original_token_id)


def _change_rule(criterion: ChangeCriterion | None) -> Callable[[PredictionLike, float], bool]:
    if criterion is None:
        return top_token_changed
    if not hasattr(criterion, "changed"):
        raise InvalidParameterError(
            f"criterion {criterion!r} has no changed(prediction, original_prob) method; pass a "
            "whytoken.query.criteria.Criterion (e.g. get_criterion('top-token')) or None"
        )
    return criterion.changed


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


def flip_size_from_changes(changed: Sequence[bool]) -> int | None:
    """The smallest ``k >= 1`` with ``changed[k]`` true, or ``None``.

    Step 0 (nothing removed) never counts: a target that "changes" with
    nothing removed signals a broken predictor, and is logged.

    Examples
    --------
    >>> flip_size_from_changes([False, False, True, True])
    2
    >>> flip_size_from_changes([False, False]) is None
    True
    """
    if changed and changed[0]:
        logger.warning("the target counts as changed with nothing removed; check the model's determinism")
    for k in range(1, len(changed)):
        if changed[k]:
            return k
    return None


def prob_after(prediction: PredictionLike) -> float:
    """The original target token's probability after the intervention.

    Raises
    ------
    InvalidParameterError
        If the prediction does not carry it (``original_token_prob_after`` missing or None).

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> prob_after(SimpleNamespace(original_token_prob_after=0.25))
    0.25
    """
    value = getattr(prediction, "original_token_prob_after", None)
    if value is None:
        raise InvalidParameterError(
            f"prediction {prediction!r} has no original_token_prob_after; the adapter's predict_batch must "
            "report the original token's probability after the intervention for deletion/insertion curves"
        )
    return float(value)


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


def flip_rate(flip_sizes: Sequence[int | None], k: int) -> float:
    """Share of samples whose flip size is at most ``k`` (``None`` counts as not flipped).

    Examples
    --------
    >>> flip_rate([1, 3, None, 2], k=2)
    0.5
    """
    if not flip_sizes:
        return math.nan
    return sum(1 for s in flip_sizes if s is not None and s <= k) / len(flip_sizes)


def describe_flip_sizes(flip_sizes: Sequence[int | None], max_k: int) -> dict[str, float]:
    """Summary statistics of a flip-size distribution.

    Returns ``n``, ``flip_rate`` (share flipped within ``max_k``), ``mean`` and
    ``median`` over the flipped samples, and ``mean_capped`` where unflipped
    samples count as ``max_k + 1`` (a pessimistic mean over all samples).

    Examples
    --------
    >>> d = describe_flip_sizes([1, 3, None, 2], max_k=5)
    >>> d["flip_rate"], d["mean"], d["median"], d["mean_capped"]
    (0.75, 2.0, 2.0, 3.0)
    """
    flipped = [s for s in flip_sizes if s is not None and s <= max_k]
    capped = [s if s is not None and s <= max_k else max_k + 1 for s in flip_sizes]
    return {
        "n": float(len(flip_sizes)),
        "flip_rate": flip_rate(flip_sizes, max_k),
        "mean": float(np.mean(flipped)) if flipped else math.nan,
        "median": float(np.median(flipped)) if flipped else math.nan,
        "mean_capped": float(np.mean(capped)) if capped else math.nan,
    }


class CachedPredictor:
    """A memoizing ``predict(removal_sets)`` over an adapter's ``predict_batch``.

    Removal sets are keyed as sorted tuples, so curves of different methods
    that share steps (nothing removed, everything removed, equal prefixes)
    run once. ``n_forward`` counts the removal sets actually sent to the
    model; ``n_calls`` the batched calls.

    Parameters
    ----------
    predict_batch : callable
        ``predict_batch(removal_sets) -> predictions`` on one trace and target,
        e.g. ``functools.partial(adapter.predict_batch, trace, target, kind="mask")``.
    batch_size : int
        Largest number of removal sets sent in one call.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> calls = []
    >>> def batch(sets):
    ...     calls.append(len(sets))
    ...     return [SimpleNamespace(top_token_id=0, original_token_id=0,
    ...                             original_token_prob_after=1.0 / (1 + len(s))) for s in sets]
    >>> cached = CachedPredictor(batch, batch_size=8)
    >>> [p.original_token_prob_after for p in cached([(), (1,), (1,)])]
    [1.0, 0.5, 0.5]
    >>> _ = cached([(1,), (2, 1)])
    >>> cached.n_forward, calls
    (3, [2, 1])
    """

    def __init__(self, predict_batch: Callable[[list[tuple[int, ...]]], Sequence[Any]], batch_size: int = 64) -> None:
        if batch_size < 1:
            raise InvalidParameterError(f"batch_size must be >= 1, got {batch_size!r}; e.g. 64")
        self.predict_batch = predict_batch
        self.batch_size = int(batch_size)
        self.n_forward = 0
        self.n_calls = 0
        self._cache: dict[tuple[int, ...], Any] = {}

    def __call__(self, removal_sets: Sequence[Iterable[int]]) -> list[Any]:
        keys = [tuple(sorted(int(i) for i in s)) for s in removal_sets]
        todo = list(dict.fromkeys(k for k in keys if k not in self._cache))
        for start in range(0, len(todo), self.batch_size):
            chunk = todo[start:start + self.batch_size]
            predictions = list(self.predict_batch(chunk))
            if len(predictions) != len(chunk):
                raise InvalidParameterError(
                    f"predict_batch returned {len(predictions)} predictions for {len(chunk)} removal sets; "
                    "it must return one per set, in order"
                )
            self._cache.update(zip(chunk, predictions))
            self.n_forward += len(chunk)
            self.n_calls += 1
        return [self._cache[k] for k in keys]

    def stats(self) -> Mapping[str, int]:
        """Forward passes and batched calls made so far."""
        return {"forward_passes": self.n_forward, "batched_calls": self.n_calls, "cached_sets": len(self._cache)}
