"""Stage 4 of the query, verification: removal sets sent to the model under a budget, and the two
procedures every search policy is built from (grow a set until it flips the target, shrink it until
no member can go).

:class:`Verifier` is the only way the search talks to the model. It sends
removal sets in batches, never more than ``max_passes`` of them in all (one
*pass* is one removal set, i.e. one forward sequence), remembers every answer
(a set is never sent twice), and books each pass to the stage that asked for
it, so that a result can say how much of the budget it spent and on what.

:func:`grow` walks a growth order (tokens, strongest first) and checks
prefixes of sizes 1, 2, 4, 8, ...; at the first prefix that changes the target
it binary-searches the shortest one between the last two sizes. :func:`shrink`
then drops members, weakest first, while the removal still changes the
target, and confirms that the result is *irreducible*: every subset with one
member fewer was sent to the model and none changed the target. A verified
set of one token is irreducible without any check (the empty removal is the
original run).

Examples
--------
A stand-in model whose answer changes once 3 of the tokens {1, 2, 3, 4} are removed:

>>> from types import SimpleNamespace as NS
>>> rule = lambda s: len(set(s) & {1, 2, 3, 4}) >= 3
>>> predict = lambda sets: [NS(top_token_id=0 if rule(s) else 9, original_token_id=9, original_prob=.8,
...                           original_token_prob_after=.1 if rule(s) else .8, top_token_text="?", top_prob=.5)
...                        for s in sets]
>>> from whytoken.query.criteria import get_criterion
>>> v = Verifier(predict, get_criterion("top-token"), original_prob=.8, max_passes=50)
>>> prefix = grow(v, [1, 2, 7, 3, 4, 8, 9], "groups")
>>> prefix
(1, 2, 3, 7)
>>> shrink(v, [1, 2, 7, 3], "shrink")
((1, 2, 3), True)
>>> v.passes <= 50, v.passes_by_stage["groups"] > 0
(True, True)
"""

from __future__ import annotations

import logging
import math
from typing import Any, Callable, Iterable, Sequence

from whytoken.errors import ExplanationError
from whytoken.query.criteria import Criterion
from whytoken.query.records import InterventionOutcome
from whytoken.query.summaries import Check

__all__ = ["Verifier", "grow", "shrink", "subsets_checked"]

logger = logging.getLogger(__name__)

#: ``predict(sets) -> predictions``: one prediction per removal set (see InterveningModel).
PredictFunction = Callable[[list[tuple[int, ...]]], Sequence[Any]]


def _key(positions: Iterable[int]) -> tuple[int, ...]:
    return tuple(sorted({int(p) for p in positions}))


def _outcome(prediction: Any, criterion: Criterion, original_prob: float) -> InterventionOutcome:
    after = getattr(prediction, "original_token_prob_after", None)
    return InterventionOutcome(
        changed=bool(criterion.changed(prediction, original_prob)),
        top_token_id=int(prediction.top_token_id),
        top_token_text=str(prediction.top_token_text),
        top_prob=float(prediction.top_prob),
        target_prob_after=float("nan") if after is None else float(after),
        effect=float(criterion.effect(prediction, original_prob)),
    )


class Verifier:
    """Removal sets checked on the model, at most ``max_passes`` of them, each at most once.

    Parameters
    ----------
    predict : callable
        ``predict(list of position tuples) -> predictions`` (one per set, in order).
    criterion : Criterion
        Decides whether a prediction counts as a changed target.
    original_prob : float
        The target's probability in the unmodified run.
    max_passes : int
        The budget.
    batch_size : int, optional
        Most sets per ``predict`` call (None: all pending sets in one call).
    progress : callable, optional
        ``progress("verify", passes, max_passes)`` after each call.
    """

    def __init__(self, predict: PredictFunction, criterion: Criterion, original_prob: float, max_passes: int,
                 batch_size: int | None = None, progress: Callable[[str, int, int], None] | None = None) -> None:
        self._predict = predict
        self.criterion = criterion
        self.original_prob = float(original_prob)
        self.max_passes = int(max_passes)
        self.batch_size = batch_size
        self._progress = progress
        self._known: dict[tuple[int, ...], InterventionOutcome] = {(): None}  # type: ignore[dict-item]
        self.checks: list[Check] = []
        self.passes_by_stage: dict[str, int] = {}
        self.n_calls = 0
        self.first_hit: int | None = None

    # ------------------------------------------------------------------ state
    @property
    def passes(self) -> int:
        """Removal sets sent so far."""
        return len(self.checks)

    @property
    def remaining(self) -> int:
        return self.max_passes - self.passes

    @property
    def exhausted(self) -> bool:
        return self.remaining <= 0

    def known(self, positions: Iterable[int]) -> InterventionOutcome | None:
        """The outcome of a set already checked (None: not checked; the empty set is the original run)."""
        return self._known.get(_key(positions))

    def is_known(self, positions: Iterable[int]) -> bool:
        return _key(positions) in self._known

    def n_known(self, size: int) -> int:
        """How many distinct sets of ``size`` members have been checked."""
        return sum(1 for k in self._known if len(k) == size)

    # ------------------------------------------------------------------ checking
    def check_many(self, sets: Iterable[Iterable[int]], stage: str) -> list[InterventionOutcome | None]:
        """Outcomes for ``sets`` in order, sending the unknown ones (None where the budget ran out)."""
        keys = [_key(s) for s in sets]
        pending: list[tuple[int, ...]] = []
        for k in keys:
            if k not in self._known and k not in pending:
                pending.append(k)
        pending = pending[: max(self.remaining, 0)]
        step = self.batch_size or max(len(pending), 1)
        for start in range(0, len(pending), step):
            self._send(pending[start:start + step], stage)
        return [self._known.get(k) if k else None for k in keys]

    def check(self, positions: Iterable[int], stage: str) -> InterventionOutcome | None:
        """The outcome of one set (None: the empty set, or the budget ran out)."""
        return self.check_many([positions], stage)[0]

    def changed(self, positions: Iterable[int], stage: str) -> bool | None:
        """Whether removing ``positions`` changes the target (None: budget exhausted)."""
        key = _key(positions)
        if not key:
            return False
        outcome = self.check(key, stage)
        return None if outcome is None else outcome.changed

    def _send(self, batch: list[tuple[int, ...]], stage: str) -> None:
        predictions = list(self._predict(list(batch)))
        self.n_calls += 1
        if len(predictions) != len(batch):
            raise ExplanationError(f"the model returned {len(predictions)} predictions for {len(batch)} removal "
                                   "sets; predict_batch must return one prediction per set")
        for key, prediction in zip(batch, predictions):
            outcome = _outcome(prediction, self.criterion, self.original_prob)
            self._known[key] = outcome
            self.checks.append(Check(key, stage, outcome))
            self.passes_by_stage[stage] = self.passes_by_stage.get(stage, 0) + 1
            if outcome.changed and self.first_hit is None:
                self.first_hit = self.passes
        if self._progress is not None:
            self._progress("verify", self.passes, self.max_passes)


def _sizes(start: int, stop: int) -> list[int]:
    sizes, s = [], max(1, start)
    while s < stop:
        sizes.append(s)
        s *= 2
    sizes.append(stop)
    return sizes


def grow(verifier: Verifier, order: Sequence[int], stage: str, start: int = 1,
         max_size: int | None = None) -> tuple[int, ...] | None:
    """The shortest prefix of ``order`` whose removal changes the target, or None.

    Prefixes of sizes ``start, 2 start, 4 start, ..., len(order)`` are checked until
    one changes the target; the shortest changing prefix between the last two
    checked sizes is then found by bisection (exact when more removal never
    undoes a change; otherwise a changing prefix all the same). None when no
    prefix up to ``max_size`` changes it, or the budget runs out first.
    """
    order = list(dict.fromkeys(int(p) for p in order))
    stop = len(order) if max_size is None else min(len(order), int(max_size))
    if stop < 1:
        return None
    low, high = 0, None
    for size in _sizes(start, stop):
        verdict = verifier.changed(order[:size], stage)
        if verdict is None:
            return None
        if verdict:
            high = size
            break
        low = size
    if high is None:
        return None
    while high - low > 1:
        mid = (low + high) // 2
        verdict = verifier.changed(order[:mid], stage)
        if verdict is None:
            break
        if verdict:
            high = mid
        else:
            low = mid
    return _key(order[:high])


def shrink(verifier: Verifier, members: Sequence[int], stage: str) -> tuple[tuple[int, ...], bool | None]:
    """Drop members (weakest, i.e. last, first) while the removal still changes the target.

    ``members`` must be a set whose removal changes the target, strongest member
    first. Returns the remaining set and whether it was confirmed irreducible
    (True), or the budget ran out before every one-member-fewer subset was
    checked (None).
    """
    current = list(dict.fromkeys(int(m) for m in members))
    if verifier.known(current) is None or not verifier.known(current).changed:
        raise ExplanationError(f"shrink needs a set that changes the target; {current[:8]} was not verified to")
    confirmed: set[int] = set()  # members whose exact one-fewer subset of *current* did not change the target

    def try_drop(m: int) -> bool | None:
        rest = [x for x in current if x != m]
        verdict = verifier.changed(rest, stage)
        if verdict is None:
            return None
        if verdict:
            current.remove(m)
            confirmed.clear()
        else:
            confirmed.add(m)
        return verdict

    for m in reversed(list(current)):
        if len(current) == 1:
            break
        if try_drop(m) is None:
            return _key(current), None
    while len(current) > 1:
        todo = [m for m in current if m not in confirmed]
        if not todo:
            break
        for m in todo:
            verdict = try_drop(m)
            if verdict is None:
                return _key(current), None
            if verdict:
                break
    return _key(current), True


def subsets_checked(verifier: Verifier, pool_size: int, below: int) -> bool:
    """Whether every non-empty subset of the pool with fewer than ``below`` members was checked and none
    changed the target (what a *globally minimal* claim for a set of ``below`` members needs)."""
    for size in range(1, below):
        if verifier.n_known(size) < math.comb(pool_size, size):
            return False
    return not any(c.changed for c in verifier.checks if len(c.positions) < below)
