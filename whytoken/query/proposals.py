"""Stage 3 of the query, proposals: groups of tokens the graphs suggest removing together.

A single token rarely explains an answer about an object that covers many
image patches: the object's other patches still carry it. A *proposer* turns
the graphs' evidence into *growth orders*: sequences of tokens, strongest
first, that the search removes in growing prefixes until the target changes
(:func:`whytoken.query.verification.grow`) and then shrinks to an irreducible
set. Proposers register by name (:func:`register_proposer`); a search policy
lists the ones it uses. Built in:

``regions``
    Connected regions of image patches: from the patches with the strongest
    evidence, grow over grid neighbours (8-connected), preferring patches that
    are tied to the region in some head's PAG, then patches with graph support,
    then the nearest to the seed (objects are compact), then by evidence.
``words``
    The tokens of one word (a word split into several sub-word tokens), and
    each word's tokens joined to the tokens it is tied to in the graphs.
``neighbourhood``
    The target's neighbourhood in the graphs: the tokens adjacent to it in any
    head, then their neighbours, strongest evidence first.
``effect``
    Tokens by the effect their removal alone had on the target (measured by the
    single-token screen), then by evidence: a greedy order that needs no
    further forward passes to build.

Examples
--------
>>> from whytoken.query.graphs import TokenEvidence
>>> from whytoken.query.records import TokenInfo
>>> tokens = {p: TokenInfo(p, "image_patch", "<image>", patch=divmod(p, 3)) for p in range(9)}
>>> ev = TokenEvidence({4: 1}, {4: -30.0, 5: -10.0, 0: -5.0}, {}, {4: 1})
>>> ctx = ProposalContext(pool=tuple(range(9)), tokens=tokens, evidence=ev, effects={})
>>> [p.order[:3] for p in get_proposer("regions").propose(ctx)][:1]
[(4, 5, 0)]
>>> list_proposers()
['effect', 'neighbourhood', 'regions', 'words']
"""

from __future__ import annotations

import abc
import heapq
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Sequence, TypeVar

from whytoken.errors import UnknownProposerError
from whytoken.query.graphs import TokenEvidence
from whytoken.query.records import TokenInfo
from whytoken.registry import Registry

__all__ = [
    "Proposal",
    "ProposalContext",
    "Proposer",
    "register_proposer",
    "get_proposer",
    "list_proposers",
    "RegionProposer",
    "WordProposer",
    "NeighbourhoodProposer",
    "EffectProposer",
    "effect_order",
]


@dataclass(frozen=True)
class Proposal:
    """A growth order: tokens to remove in growing prefixes, strongest first.

    Attributes
    ----------
    source : str
        The proposer's name.
    order : tuple of int
    note : str
        What the proposal is (e.g. ``"region from patch 3,4"``).
    """

    source: str
    order: tuple[int, ...]
    note: str = ""


@dataclass(frozen=True)
class ProposalContext:
    """What proposers read: the candidate pool, its tokens, the graph evidence, measured single effects.

    ``effects`` maps a token to the measured effect of removing it alone (only
    for tokens the search has checked alone).
    """

    pool: tuple[int, ...]
    tokens: Mapping[int, TokenInfo]
    evidence: TokenEvidence
    effects: Mapping[int, float] = field(default_factory=dict)


class Proposer(abc.ABC):
    """Base class of proposal strategies: parameters in ``__init__``, work in :meth:`propose`."""

    #: registry name, set by :func:`register_proposer`
    name: str = ""

    @abc.abstractmethod
    def propose(self, ctx: ProposalContext) -> list[Proposal]:
        """Growth orders, best first (possibly none)."""

    def get_params(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}


_PROPOSERS: Registry[type[Proposer]] = Registry(
    "proposer", error=UnknownProposerError, fix="Register a new one with @register_proposer(name).",
    name_attribute="name",
)
P = TypeVar("P", bound=type[Proposer])


def register_proposer(name: str, *, overwrite: bool = False) -> Callable[[P], P]:
    """Class decorator: register a :class:`Proposer` subclass under ``name``."""
    return _PROPOSERS.register(name, overwrite=overwrite)


def get_proposer(name: "str | Proposer", **params: Any) -> Proposer:
    """The proposer registered as ``name`` built with ``params`` (a Proposer is returned as is).

    Raises
    ------
    UnknownProposerError
        Listing the known names.
    """
    if isinstance(name, Proposer):
        return name
    return _PROPOSERS.get(name)(**params)


def list_proposers() -> list[str]:
    """Names of the registered proposers, sorted."""
    return _PROPOSERS.names()


def _by_strength(ctx: ProposalContext, tokens: Iterable[int]) -> list[int]:
    return ctx.evidence.ranked(tokens)


@register_proposer("regions")
class RegionProposer(Proposer):
    """Connected regions of image patches grown from the strongest patches.

    Parameters
    ----------
    n_seeds : int
        Regions proposed (from the strongest patches, each seed outside the earlier regions' first
        ``spacing`` patches).
    max_size : int or None
        Longest growth order (None: the whole image).
    """

    def __init__(self, n_seeds: int = 3, max_size: int | None = None, spacing: int = 16) -> None:
        self.n_seeds = int(n_seeds)
        self.max_size = max_size
        self.spacing = int(spacing)

    def propose(self, ctx: ProposalContext) -> list[Proposal]:
        cells: dict[tuple[Any, int, int], int] = {}
        for p in ctx.pool:
            tok = ctx.tokens[p]
            if tok.patch is not None and tok.kind == "image_patch":
                cells[(tok.image_index or 0, tok.patch[0], tok.patch[1])] = p
        if len(cells) < 2:
            return []
        where = {p: cell for cell, p in cells.items()}
        rank = {p: i for i, p in enumerate(_by_strength(ctx, where))}
        proposals: list[Proposal] = []
        covered: set[int] = set()
        for seed in sorted(where, key=rank.__getitem__):
            if len(proposals) >= self.n_seeds:
                break
            if seed in covered or (proposals and not ctx.evidence.supported(seed)):
                continue
            order = self._grow(seed, where, cells, rank, ctx.evidence)
            covered.update(order[: self.spacing])
            r, c = where[seed][1:]
            proposals.append(Proposal(self.name, tuple(order), f"region from patch {r},{c}"))
        return proposals

    def _grow(self, seed: int, where: Mapping[int, tuple], cells: Mapping[tuple, int], rank: Mapping[int, int],
              evidence: TokenEvidence) -> list[int]:
        """Best-first growth: patches the graphs tie to the region, then supported ones, then the nearest."""
        limit = len(where) if self.max_size is None else min(len(where), int(self.max_size))
        order, members = [seed], {seed}
        frontier: list[tuple[int, int, int, int, int]] = []
        _, r0, c0 = where[seed]

        def push_neighbours(p: int) -> None:
            image, r, c = where[p]
            for dr in (-1, 0, 1):
                for dc in (-1, 0, 1):
                    q = cells.get((image, r + dr, c + dc))
                    if q is not None and q not in members:
                        tied = 0 if evidence.neighbours.get(q, frozenset()) & members else 1
                        distance = max(abs(r + dr - r0), abs(c + dc - c0))
                        heapq.heappush(frontier, (tied, 0 if evidence.supported(q) else 1, distance, rank[q], q))

        push_neighbours(seed)
        while frontier and len(order) < limit:
            q = heapq.heappop(frontier)[-1]
            if q in members:
                continue
            members.add(q)
            order.append(q)
            push_neighbours(q)
        return order


def _word_groups(ctx: ProposalContext) -> list[list[int]]:
    """Runs of text tokens that form one word (a token not starting with a space or punctuation continues it)."""
    groups: list[list[int]] = []
    previous = None
    for p in sorted(ctx.pool):
        tok = ctx.tokens[p]
        if tok.kind not in ("prompt_text", "generated"):
            previous = None
            continue
        text = tok.text
        continues = (previous is not None and p == previous + 1 and text[:1].isalnum()
                     and groups and groups[-1][-1] == previous)
        if continues:
            groups[-1].append(p)
        else:
            groups.append([p])
        previous = p
    return groups


@register_proposer("words")
class WordProposer(Proposer):
    """Words made of several tokens, and words joined to the tokens the graphs tie them to."""

    def __init__(self, max_words: int = 4) -> None:
        self.max_words = int(max_words)

    def propose(self, ctx: ProposalContext) -> list[Proposal]:
        groups = _word_groups(ctx)
        groups.sort(key=lambda g: ctx.evidence.strength(g))
        proposals = []
        for group in groups[: self.max_words]:
            tied = set().union(*(ctx.evidence.neighbours.get(p, frozenset()) for p in group)) - set(group)
            order = tuple(group) + tuple(_by_strength(ctx, tied))
            if len(order) > 1:
                proposals.append(Proposal(self.name, order, f"word {''.join(ctx.tokens[p].text for p in group)!r}"))
        return proposals


@register_proposer("neighbourhood")
class NeighbourhoodProposer(Proposer):
    """The target's neighbourhood in the graphs, nearest and strongest first."""

    def propose(self, ctx: ProposalContext) -> list[Proposal]:
        ev = ctx.evidence
        near = [p for p in ctx.pool if ev.depth.get(p) == 1]
        if not near:
            return []
        order = _by_strength(ctx, near)
        seen = set(order)
        second = set().union(*(ev.neighbours.get(p, frozenset()) for p in order)) - seen
        order += _by_strength(ctx, second)
        return [Proposal(self.name, tuple(order), "the target's neighbourhood")] if len(order) > 1 else []


@register_proposer("effect")
class EffectProposer(Proposer):
    """Tokens by their measured single-token effect (largest first), then by evidence."""

    def propose(self, ctx: ProposalContext) -> list[Proposal]:
        order = tuple(effect_order(ctx, ctx.pool))
        return [Proposal(self.name, order, "tokens by measured effect")] if len(order) > 1 else []


def effect_order(ctx: ProposalContext, tokens: Sequence[int]) -> list[int]:
    """``tokens`` by measured effect (largest first), then unmeasured ones by evidence."""
    measured = sorted((p for p in tokens if p in ctx.effects), key=lambda p: (-ctx.effects[p], p))
    return measured + _by_strength(ctx, (p for p in tokens if p not in ctx.effects))
