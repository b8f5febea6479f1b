"""Stage 5 of the query, the search: which removal sets to verify, in what order, under one budget.

A *search policy* decides which sets the :class:`~whytoken.query.verification.Verifier`
sends to the model. Policies register by name (:func:`register_policy`) and
:func:`whytoken.query.explain` takes ``policy=``. Built in:

``graph-guided`` (default, :class:`GraphGuidedSearch`)
    1. *singles*: single tokens, strongest graph evidence first. After the first
       token that changes the target, the screen stops once ``patience`` tokens in
       a row do not; before one is found it covers the tokens with graph support
       (some head's PDS-tree holds them, or the predicting row attends to them more
       than uniformly), up to ``singles_share`` of the budget; if that covered at least
       half the pool, the other half is checked too. Never more passes than an
       exhaustive search of single tokens.
    2. *pool* (no single found): remove every candidate at once (one pass). If even
       that leaves the target unchanged, no smaller removal is likely to change it
       (it cannot, when removing more never undoes a change): the search stops and
       the result says so. Otherwise the words the screen skipped (every token
       but image patches: few) are checked too when they fit in half of the
       remaining budget, so that a word without graph support that changes the
       target alone is not missed.
    3. *groups* (no single found): growth orders from the proposers
       (:mod:`whytoken.query.proposals`: measured effects, image regions, words,
       the target's neighbourhood), each grown until it changes the target and
       shrunk to an irreducible set, up to ``max_groups`` sets.
    4. *fallback* (nothing found yet): every candidate, by measured effect, then
       by graph evidence, grown and shrunk the same way. With removals that never
       undo a change this finds an explanation whenever one exists and the budget
       allows: the search is complete.
    5. *pairs* (the smallest set found has more than two members, or none was
       found): pairs among the ``pair_tokens`` tokens whose single removal had the
       largest measured effect.
    6. *minimality*: when what remains of an exhaustive search up to the smallest
       size found is at most ``completion`` of a whole one, it is finished (every
       set of that size is then listed); otherwise, when the smallest set has 2 or
       3 members and every smaller subset fits in the budget, those are checked.
       Either way a set can then be called globally minimal.
``exhaustive`` (:class:`ExhaustiveSearch`)
    Every subset of size 1, 2, ... up to ``max_size`` (evidence order within a
    size) until a size has a set that changes the target: the ground truth for
    small pools, and the cost baseline.

Examples
--------
>>> list_policies()
['exhaustive', 'graph-guided', 'greedy']
>>> get_policy("graph-guided", patience=6).patience
6
"""

from __future__ import annotations

import abc
import itertools
import logging
import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence, TypeVar

from whytoken.errors import InvalidParameterError, UnknownPolicyError
from whytoken.query.graphs import TokenEvidence
from whytoken.query.proposals import ProposalContext, effect_order, get_proposer
from whytoken.query.records import TokenInfo
from whytoken.query.verification import Verifier, grow, shrink
from whytoken.registry import Registry

__all__ = [
    "exhaustive_passes",
    "FoundSet",
    "SearchResult",
    "SearchContext",
    "SearchPolicy",
    "GraphGuidedSearch",
    "ExhaustiveSearch",
    "register_policy",
    "get_policy",
    "list_policies",
    "DEFAULT_POLICY",
]

logger = logging.getLogger(__name__)

#: The policy :func:`whytoken.query.explain` uses when none is named.
DEFAULT_POLICY = "graph-guided"


@dataclass(frozen=True)
class FoundSet:
    """A verified set the search found: its positions, the stage that found it, whether it is irreducible."""

    positions: tuple[int, ...]
    source: str
    irreducible: bool | None


@dataclass(frozen=True)
class SearchResult:
    """What a policy returns: the verified sets found, in the order found, and why it stopped."""

    found: tuple[FoundSet, ...]
    pool_changes_target: bool | None
    stopped: str


@dataclass
class SearchContext:
    """Everything a policy works with.

    Attributes
    ----------
    pool : tuple of int
        The removable tokens.
    tokens : mapping of int -> TokenInfo
    evidence : TokenEvidence
        The graphs' summary over the pool.
    verifier : Verifier
        The only way to the model (budgeted).
    max_set_size : int or None
        Largest set the result may report.
    """

    pool: tuple[int, ...]
    tokens: Mapping[int, TokenInfo]
    evidence: TokenEvidence
    verifier: Verifier
    max_set_size: int | None = None

    def single_effects(self) -> dict[int, float]:
        """Measured effect of each pool token removed alone (only those checked alone)."""
        out = {}
        for p in self.pool:
            outcome = self.verifier.known((p,))
            if outcome is not None and outcome.effect == outcome.effect:
                out[p] = outcome.effect
        return out

    def proposal_context(self) -> ProposalContext:
        return ProposalContext(self.pool, self.tokens, self.evidence, self.single_effects())

    def allows(self, size: int) -> bool:
        return self.max_set_size is None or size <= self.max_set_size


class SearchPolicy(abc.ABC):
    """Base class of search policies: parameters in ``__init__``, the search in :meth:`search`."""

    #: registry name, set by :func:`register_policy`
    name: str = ""

    @abc.abstractmethod
    def search(self, ctx: SearchContext) -> SearchResult:
        """Verify sets through ``ctx.verifier`` and return the ones that changed the target."""

    def get_params(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}


_POLICIES: Registry[type[SearchPolicy]] = Registry(
    "search policy", plural="search policies", error=UnknownPolicyError,
    fix="Register a new one with @register_policy(name).", name_attribute="name",
)
S = TypeVar("S", bound=type[SearchPolicy])


def register_policy(name: str, *, overwrite: bool = False) -> Callable[[S], S]:
    """Class decorator: register a :class:`SearchPolicy` subclass under ``name``."""
    return _POLICIES.register(name, overwrite=overwrite)


def get_policy(name: "str | SearchPolicy", **params: Any) -> SearchPolicy:
    """The policy registered as ``name`` built with ``params`` (a SearchPolicy is returned as is).

    Raises
    ------
    UnknownPolicyError
        Listing the known names.
    InvalidParameterError
        For a parameter the policy does not take.
    """
    if isinstance(name, SearchPolicy):
        return name
    cls = _POLICIES.get(name)
    try:
        return cls(**params)
    except TypeError as err:
        import inspect

        accepted = [p for p in inspect.signature(cls).parameters]
        raise InvalidParameterError(f"search policy {name!r} does not take {sorted(params)}: {err}; "
                                    f"its parameters are {accepted}") from None


def list_policies() -> list[str]:
    """Names of the registered search policies, sorted."""
    return _POLICIES.names()


def _positive(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidParameterError(f"{name} must be a positive int, got {value!r}")
    return value


def _changing(verifier: Verifier, sets: Sequence[Sequence[int]], stage: str, source: str) -> list[FoundSet]:
    """Check ``sets`` in one batch (booked to ``stage``); the ones that change the target, as irreducible FoundSets.

    Irreducible because every set checked here is a single or a pair whose members were each checked alone first.
    """
    outcomes = verifier.check_many(list(sets), stage)
    return [FoundSet(tuple(sorted(members)), source, True) for members, outcome in zip(sets, outcomes)
            if outcome is not None and outcome.changed]


@register_policy("graph-guided")
class GraphGuidedSearch(SearchPolicy):
    """Graph evidence first, measured effects next, completeness last (see the module docstring).

    Parameters
    ----------
    patience : int
        Single tokens in a row that may fail after the last one that changed the target.
    singles_share : float
        Most of the budget the single-token screen may use before any token changes the target.
    pair_tokens : int
        Pairs are drawn from this many tokens with the largest measured single effect.
    proposers : sequence of str
        Proposers of the group stage, in order (:func:`whytoken.query.list_proposers`).
    max_groups : int
        Stop the group stage after this many distinct verified sets.
    minimality : bool
        Run the minimality stage.
    completion : float
        Finish the exhaustive search up to the smallest size found when what is left of it is at most
        this fraction of a whole exhaustive search (then every set of that size is found and the
        smallest is proven minimal); 0 never finishes it.
    """

    def __init__(self, patience: int = 4, singles_share: float = 0.35, pair_tokens: int = 6,
                 proposers: Sequence[str] = ("effect", "regions", "words", "neighbourhood"),
                 max_groups: int = 1, minimality: bool = True, completion: float = 0.5) -> None:
        self.patience = _positive("patience", patience)
        if not isinstance(singles_share, (int, float)) or not 0.0 < float(singles_share) <= 1.0:
            raise InvalidParameterError(f"singles_share must be in (0, 1], got {singles_share!r}")
        self.singles_share = float(singles_share)
        self.pair_tokens = _positive("pair_tokens", pair_tokens)
        self.proposers = tuple(proposers)
        for name in self.proposers:
            get_proposer(name)  # unknown names fail now, not mid-search
        self.max_groups = _positive("max_groups", max_groups)
        self.minimality = bool(minimality)
        if not isinstance(completion, (int, float)) or not 0.0 <= float(completion) <= 1.0:
            raise InvalidParameterError(f"completion must be in [0, 1], got {completion!r}")
        self.completion = float(completion)

    # ------------------------------------------------------------------ stages
    def search(self, ctx: SearchContext) -> SearchResult:
        v = ctx.verifier
        pool_changes = None
        found = self._singles(ctx)
        if not found and len(ctx.pool) > 1 and not v.exhausted:
            pool_changes = v.changed(ctx.pool, "pool")
        if not found and pool_changes is not False and not v.exhausted:
            found = self._finish_singles(ctx)
        if not found and ctx.allows(2) and not v.exhausted and pool_changes is not False:
            found = self._groups(ctx)
            if not found and pool_changes is not False:
                found = self._fallback(ctx)
            if not found or min(len(f.positions) for f in found) > 2:
                found = found + self._pairs(ctx)
        if self.minimality and found:
            found = found + self._minimality(ctx, min(len(f.positions) for f in found))
        unique = {}
        for f in found:
            unique.setdefault(f.positions, f)
        return SearchResult(tuple(unique.values()), pool_changes, "budget" if v.exhausted else "done")

    def _singles(self, ctx: SearchContext) -> list[FoundSet]:
        v, ev = ctx.verifier, ctx.evidence
        order = ev.ranked(ctx.pool)
        cap = max(1, int(self.singles_share * v.max_passes))
        hits: list[FoundSet] = []
        misses, tested = 0, 0
        for p in order:
            if hits and misses >= self.patience:
                break
            if not hits and tested >= cap:
                break
            if not hits and not ev.supported(p):
                continue
            verdict = v.changed((p,), "singles")
            if verdict is None:
                break
            tested += 1
            if verdict:
                hits.append(FoundSet((p,), "singles", True))
                misses = 0
            elif hits:
                misses += 1
        rest = [p for p in order if not v.is_known((p,))]
        if not hits and rest and len(rest) <= min(tested, v.remaining):
            # the screen covered at least half the pool: finishing it costs less than growing groups and
            # says for certain whether one token suffices
            hits = _changing(v, [(p,) for p in rest], "singles", "singles")
        return hits

    def _finish_singles(self, ctx: SearchContext) -> list[FoundSet]:
        """The words the screen skipped (every token but image patches), when they fit in half of what is left.

        A group stage would return an irreducible set of several patches where one unscreened word (without
        graph support, e.g. a question word the predicting row barely attends to) changes the target alone.
        Words are few beside the patches, so checking them costs little; skipped patches are left to the
        group stage, where objects spanning many patches are found.
        """
        v = ctx.verifier
        rest = [p for p in ctx.evidence.ranked(ctx.pool) if not v.is_known((p,))
                and getattr(ctx.tokens.get(p), "kind", None) != "image_patch"]
        if not rest or len(rest) > v.remaining // 2:
            return []
        return _changing(v, [(p,) for p in rest], "singles", "singles")

    def _pairs(self, ctx: SearchContext) -> list[FoundSet]:
        v = ctx.verifier
        effects = ctx.single_effects()
        top = sorted(effects, key=lambda p: (-effects[p], ctx.evidence.key(p)))[: self.pair_tokens]
        rank = {p: i for i, p in enumerate(top)}
        pairs = sorted(itertools.combinations(top, 2), key=lambda ab: (rank[ab[0]] + rank[ab[1]], ab))
        return _changing(v, pairs, "pairs", "pairs")

    def _grow_and_shrink(self, ctx: SearchContext, order: Sequence[int], stage: str) -> FoundSet | None:
        prefix = grow(ctx.verifier, order, stage, start=2, max_size=ctx.max_set_size)
        if prefix is None:
            return None
        position = {p: i for i, p in enumerate(order)}
        members, irreducible = shrink(ctx.verifier, sorted(prefix, key=position.__getitem__), "shrink")
        if not ctx.allows(len(members)):
            return None
        return FoundSet(members, stage, irreducible)

    def _groups(self, ctx: SearchContext) -> list[FoundSet]:
        found: list[FoundSet] = []
        pctx = ctx.proposal_context()
        for name in self.proposers:
            for proposal in get_proposer(name).propose(pctx):
                if len(found) >= self.max_groups or ctx.verifier.exhausted:
                    return found
                hit = self._grow_and_shrink(ctx, proposal.order, proposal.source)
                if hit is not None and all(f.positions != hit.positions for f in found):
                    found.append(hit)
        return found

    def _fallback(self, ctx: SearchContext) -> list[FoundSet]:
        order = effect_order(ctx.proposal_context(), ctx.pool)
        hit = self._grow_and_shrink(ctx, order, "fallback")
        return [] if hit is None else [hit]

    def _minimality(self, ctx: SearchContext, smallest: int) -> list[FoundSet]:
        v, n = ctx.verifier, len(ctx.pool)
        ranked = ctx.evidence.ranked(ctx.pool)
        # finish the exhaustive search up to the size found when the rest of it is cheap
        unknown = sum(math.comb(n, k) - v.n_known(k) for k in range(1, smallest + 1))
        if 0 < unknown <= min(self.completion * exhaustive_passes(n, smallest), v.remaining):
            sizes = range(1, smallest + 1)
        elif 2 <= smallest <= 3:  # prove that nothing smaller changes the target, if affordable
            unknown = sum(math.comb(n, k) - v.n_known(k) for k in range(1, smallest))
            if not 0 < unknown <= v.remaining:
                return []
            sizes = range(1, smallest)
        else:
            return []
        todo = [s for k in sizes for s in itertools.combinations(ranked, k) if not v.is_known(s)]
        outcomes = v.check_many(todo, "minimality")
        changed = {tuple(sorted(s)) for s, o in zip(todo, outcomes) if o is not None and o.changed}
        changed |= {c.positions for c in v.checks if c.changed and len(c.positions) < smallest}
        # a set is irreducible when no subset one smaller changes the target (all of them were checked)
        return [FoundSet(s, "minimality", True) for s in sorted(changed, key=lambda s: (len(s), s))
                if not any(tuple(x for x in s if x != m) in changed for m in s)]


@register_policy("exhaustive")
class ExhaustiveSearch(SearchPolicy):
    """Every subset of size 1, 2, ... ``max_size``, until a size has a set that changes the target.

    Parameters
    ----------
    max_size : int
        Largest size tried (also bounded by the explanation's ``max_set_size``).
    """

    def __init__(self, max_size: int = 2) -> None:
        self.max_size = _positive("max_size", max_size)

    def search(self, ctx: SearchContext) -> SearchResult:
        v = ctx.verifier
        ranked = ctx.evidence.ranked(ctx.pool)
        limit = self.max_size if ctx.max_set_size is None else min(self.max_size, ctx.max_set_size)
        for size in range(1, limit + 1):
            sets = list(itertools.combinations(ranked, size))
            hits = [FoundSet(tuple(sorted(s)), "exhaustive", True)
                    for s, o in zip(sets, v.check_many(sets, "exhaustive")) if o is not None and o.changed]
            if hits or v.exhausted:
                return SearchResult(tuple(hits), None, "budget" if v.exhausted else "done")
        return SearchResult((), None, "done")


def exhaustive_passes(pool_size: int, size: int) -> int:
    """Removal sets an exhaustive search needs to find every set of ``size`` members (all subsets up to it).

    Examples
    --------
    >>> exhaustive_passes(5, 2)
    15
    """
    return sum(math.comb(pool_size, r) for r in range(1, min(pool_size, size) + 1))

