"""How the metrics read the model: the prediction protocol, the change rule and a cached batched predictor.

The model is reached only through ``predict(removal_sets) -> predictions``;
each prediction has ``top_token_id``, ``original_token_id`` and
``original_token_prob_after`` (:class:`PredictionLike`, as
:class:`whytoken.adapters.trace.Prediction` has). :class:`CachedPredictor`
wraps an adapter's ``predict_batch`` so that removal sets shared between
curves and methods run once.

Examples
--------
>>> from types import SimpleNamespace
>>> top_token_changed(SimpleNamespace(top_token_id=3, original_token_id=4), 0.9)
True
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Mapping, Protocol, Sequence

from whytoken.errors import InvalidParameterError

__all__ = ["PredictionLike", "ChangeCriterion", "Predict", "CachedPredictor", "top_token_changed", "prob_after"]


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
