"""Verified black-box searches as harness methods: ``greedy-search`` (EAGLE-style) and ``exhaustive-search``.

Both run a search policy of the query (:mod:`whytoken.query.blackbox`'s
``greedy``, :mod:`whytoken.query.search`'s ``exhaustive``) through the query's
own :class:`~whytoken.query.verification.Verifier` over the *same pool* as
whytoken (:func:`search_pool`: the harness candidates without the position
that predicts the target, which whytoken's graphs use as the target node), and
return a verified set of the same kind as whytoken's. They read nothing inside
the model: no attention, no gradients, no graphs (the search context carries
an empty evidence table, so ties are broken by position), and their cost is
their forward passes and the wall time of the search alone.

``greedy-search``
    Greedy growth over units (image regions of a ``grid x grid`` lattice, text
    tokens single; or ``units: tokens``) until the target flips, then whytoken's
    shrink to an irreducible set. Parameters: ``units``, ``grid``, ``max_passes``
    (the budget, never exceeded), ``pool``.
``exhaustive-search``
    Every subset of size 1, 2, ... ``max_size`` of the pool until a size has a
    set that flips the target: the ground-truth minimum where it finishes
    (``details.min_size_exact``), else a lower bound (``details.min_size_at_least``).

The ranking (for the deletion and insertion curves) puts the chosen set
first, then the members of the other verified sets, then every token by the
effect of the first removal that contained it (its unit removed alone for the
greedy search, itself alone for the exhaustive one), then the rest by position.

Examples
--------
>>> GreedySearchMethod().get_params()["units"], ExhaustiveSearchMethod().get_params()["max_size"]
('regions', 2)
>>> GreedySearchMethod(grid=0)
Traceback (most recent call last):
...
whytoken.errors.InvalidParameterError: greedy-search: grid = 0 is invalid; expected a positive int (regions per \
image side), e.g. 8
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, Mapping

import numpy as np

from whytoken.adapters.trace import Trace
from whytoken.errors import ExplanationError, InvalidParameterError
from whytoken.experiments.baselines.base import AttributionMethod, predicting_row
from whytoken.experiments.baselines.registry import register_baseline

__all__ = ["SearchMethod", "GreedySearchMethod", "ExhaustiveSearchMethod", "search_pool", "min_size_bounds"]

_TEXT_KINDS = ("prompt_text", "generated")


def search_pool(trace: Trace, target: int, candidates: tuple[int, ...], pool: str = "all") -> tuple[int, ...]:
    """The removable tokens of a search: the candidates whytoken's query would remove.

    The position that predicts the target (a decoder's ``target - 1``) is the
    target node of whytoken's graphs and never in its pool, so it is left out
    here too; ``pool`` keeps ``image`` patches or ``text`` tokens only.

    Raises
    ------
    ExplanationError
        When nothing is left to remove.
    """
    from whytoken.query.targets import kind_name

    if pool not in ("all", "image", "text"):
        raise InvalidParameterError(f"pool = {pool!r} is invalid; expected all, image or text")
    root = predicting_row(trace, target)
    kinds = {"all": None, "image": ("image_patch",), "text": _TEXT_KINDS}[pool]
    out = tuple(c for c in candidates if c != root
                and (kinds is None or kind_name(trace.positions[c].kind) in kinds))
    if not out:
        raise ExplanationError(f"no removable token of kind {pool!r} before the target at position {target}; "
                               "use pool: all, or a sample with such tokens")
    return out


def min_size_bounds(verifier: Any, pool_size: int) -> tuple[int, int | None]:
    """``(at_least, exact)``: the smallest explaining set has at least ``at_least`` members (every smaller
    removal was checked and none changed the target), and exactly ``exact`` when a set of that size was
    verified too (None otherwise).

    Examples
    --------
    Every single token of a pool of 3 checked and none changed the target; then a pair that did:

    >>> from types import SimpleNamespace as NS
    >>> checks = [NS(positions=(p,), changed=False) for p in range(3)]
    >>> v = NS(checks=checks, n_known=lambda k: sum(len(c.positions) == k for c in checks))
    >>> min_size_bounds(v, 3)
    (2, None)
    >>> checks.append(NS(positions=(0, 1), changed=True))
    >>> min_size_bounds(v, 3)
    (2, 2)
    """
    changed_sizes = [len(c.positions) for c in verifier.checks if c.changed]
    smallest_found = min(changed_sizes) if changed_sizes else None
    at_least = 1
    while at_least <= pool_size and verifier.n_known(at_least) >= math.comb(pool_size, at_least) \
            and (smallest_found is None or at_least < smallest_found):
        at_least += 1
    exact = smallest_found if smallest_found is not None and smallest_found == at_least else None
    return at_least, exact


def _token_infos(trace: Trace, last: int) -> dict[int, Any]:
    from whytoken.query.records import TokenInfo
    from whytoken.query.targets import kind_name

    out = {}
    for p in trace.positions[: last + 1]:
        patch = None if p.patch is None else (int(p.patch[0]), int(p.patch[1]))
        out[int(p.index)] = TokenInfo(position=int(p.index), kind=kind_name(p.kind), text=str(p.text), patch=patch,
                                      image_index=None if p.image_index is None else int(p.image_index))
    return out


def _positive_int(method: str, key: str, value: Any, example: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise InvalidParameterError(f"{method}: {key} = {value!r} is invalid; expected a positive int{example}")


class SearchMethod(AttributionMethod):
    """Base of the black-box search methods: a query search policy run over whytoken's pool, verified."""

    needs_model = True
    policy: ClassVar[str] = ""
    defaults: ClassVar[Mapping[str, Any]] = {"max_passes": 3000, "pool": "all", "intervention": "mask",
                                             "criterion": "top-token"}

    def check_params(self, params: Mapping[str, Any]) -> None:
        _positive_int(self.name, "max_passes", params["max_passes"], " (the budget of forward passes), e.g. 3000")
        if params["pool"] not in ("all", "image", "text"):
            raise InvalidParameterError(f"{self.name}: pool = {params['pool']!r} is invalid; expected all, image or "
                                        "text")
        from whytoken.query import get_criterion

        get_criterion(params["criterion"])  # an unknown name raises UnknownCriterionError listing the known ones

    def policy_params(self) -> dict[str, Any]:
        """Parameters of the query policy (the method's own, without budget, pool and probing keys)."""
        return {k: v for k, v in self.params.items() if k not in SearchMethod.defaults}

    def _attribute(self, trace: Trace, target: int, candidates: tuple[int, ...], model: Any,
                   seed: int) -> dict[str, Any]:
        from whytoken.query import get_criterion, get_policy
        from whytoken.query.assemble import effect_key
        from whytoken.query.graphs import TokenEvidence
        from whytoken.query.search import SearchContext
        from whytoken.query.verification import Verifier, subsets_checked

        p = self.params
        gen = next((g for g in trace.generated if g.position == target), None)
        if gen is None:
            raise ExplanationError(f"{self.name}: position {target} is not a generated token; explain a generated one")
        pool = search_pool(trace, target, candidates, p["pool"])
        kind = p["intervention"]

        def predict(sets: list[tuple[int, ...]]) -> list[Any]:
            return list(model.predict_batch(trace, target, [list(s) for s in sets], kind=kind))

        verifier = Verifier(predict, get_criterion(p["criterion"]), float(gen.prob), int(p["max_passes"]))
        ctx = SearchContext(pool, _token_infos(trace, target), TokenEvidence({}, {}, {}, {}), verifier)
        result = get_policy(self.policy, **self.policy_params()).search(ctx)
        found = sorted(result.found, key=lambda f: (len(f.positions), effect_key(verifier.known(f.positions)),
                                                    f.positions))
        chosen = found[0] if found else None
        at_least, exact = min_size_bounds(verifier, len(pool))
        claim = None
        if chosen is not None:
            minimal = len(chosen.positions) == 1 or subsets_checked(verifier, len(pool), len(chosen.positions))
            claim = "minimal" if minimal else "irreducible" if chosen.irreducible else "verified"
        scores = _search_scores(verifier, candidates, chosen.positions if chosen else (), found)
        outcome = verifier.known(chosen.positions) if chosen is not None else None
        return {
            "scores": scores,
            "explaining_set": chosen.positions if chosen is not None else None,
            "verified": chosen is not None,
            "forward_passes": verifier.passes,
            "details": {
                "status": "explained" if chosen is not None else "not-explained",
                "policy": self.policy, "policy_params": self.policy_params(), "max_passes": int(p["max_passes"]),
                "passes_by_stage": dict(verifier.passes_by_stage), "model_calls": verifier.n_calls,
                "stopped": result.stopped, "pool": p["pool"], "pool_size": len(pool),
                "pool_changes_target": result.pool_changes_target, "claim": claim,
                "n_sets": sum(1 for f in found if chosen is not None and len(f.positions) == len(chosen.positions)),
                "effect": None if outcome is None or not math.isfinite(outcome.effect) else float(outcome.effect),
                "min_size_at_least": at_least, "min_size_exact": exact,
            },
        }


def _search_scores(verifier: Any, candidates: tuple[int, ...], chosen: tuple[int, ...], found: list) -> list[float]:
    """Scores from a search's checks (see the module docstring): chosen set, other sets, first-removal effect."""
    first_effect: dict[int, float] = {}
    for check in verifier.checks:
        effect = check.outcome.effect if math.isfinite(check.outcome.effect) else -math.inf
        for q in check.positions:
            first_effect.setdefault(q, effect)
    others = {q for f in found for q in f.positions} - set(chosen)
    order_in_set = {q: i for i, q in enumerate(chosen)}

    def key(c: int) -> tuple:
        tier = 0 if c in order_in_set else 1 if c in others else 2 if c in first_effect else 3
        return (tier, -first_effect.get(c, -math.inf) if tier < 3 else 0.0, order_in_set.get(c, 0), c)

    order = sorted(candidates, key=key)
    rank = {c: len(candidates) - i for i, c in enumerate(order)}
    return [float(rank[c]) for c in candidates]


@register_baseline("greedy-search")
class GreedySearchMethod(SearchMethod):
    """EAGLE-style greedy black-box search over image regions or tokens, shrunk to an irreducible set."""

    policy = "greedy"
    defaults = {**SearchMethod.defaults, "units": "regions", "grid": 8}

    def check_params(self, params: Mapping[str, Any]) -> None:
        super().check_params(params)
        from whytoken.query.blackbox import UNIT_KINDS

        if params["units"] not in UNIT_KINDS:
            raise InvalidParameterError(f"{self.name}: units = {params['units']!r} is invalid; expected one of "
                                        f"{', '.join(UNIT_KINDS)}")
        _positive_int(self.name, "grid", params["grid"], " (regions per image side), e.g. 8")


@register_baseline("exhaustive-search")
class ExhaustiveSearchMethod(SearchMethod):
    """Every subset of size 1..``max_size`` of the pool, until a size flips the target: the ground-truth minimum."""

    policy = "exhaustive"
    defaults = {**SearchMethod.defaults, "max_size": 2, "max_passes": 5000}

    def check_params(self, params: Mapping[str, Any]) -> None:
        super().check_params(params)
        _positive_int(self.name, "max_size", params["max_size"], " (largest subset size searched), e.g. 2")
