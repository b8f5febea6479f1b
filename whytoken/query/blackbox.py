"""A verified black-box search baseline: greedy removal of units (tokens or image regions), then the same shrink.

The strongest peers of whytoken for "which input region makes the model say
this token" verify on the model by *black-box search*: they read nothing
inside the model, only its output after an intervention. EAGLE (arXiv
2509.22496) greedily grows a set of image sub-regions (64 per image) under a
combined sufficiency and necessity objective. :class:`GreedySearch` is our own
implementation of its necessity side, on the candidates whytoken uses:

1. **Units.** ``units="tokens"``: every pool token is a unit. ``units="regions"``
   (default): the image patches are cut into a ``grid x grid`` lattice of
   regions (an 8 x 8 grid over a 24 x 24 patch grid gives 64 regions of 3 x 3
   patches, as EAGLE's 64 sub-regions; a patch grid smaller than the lattice
   keeps one patch per region); text and other non-patch tokens stay single
   units.
2. **Greedy growth.** Starting from the empty set ``S``, each step checks
   ``S + u`` for *every* remaining unit ``u`` (one batch of forward passes)
   and keeps the unit whose removal leaves the target token least likely. The
   first step at which some ``S + u`` changes the target ends the growth (the
   changing candidate with the lowest target probability wins).
3. **Shrink.** The flipping set goes through
   :func:`whytoken.query.verification.shrink` -- the same irreducibility shrink
   whytoken's own search uses -- so both return token sets of the same kind:
   verified and (budget permitting) irreducible.

Every removal goes through the query's
:class:`~whytoken.query.verification.Verifier`, so the budget
(``max_passes``) is never exceeded and the passes are booked to the stages
``greedy`` and ``shrink``. The policy ignores the graphs entirely: ties are
broken by unit order (image position first), never by graph evidence, so it is
a true black box and gives the same result whether or not graphs were
learned. It costs about ``U + (U - 1) + ... `` passes for ``U`` units until
the flip, plus ``O(k)`` for the shrink of a ``k``-token set.

What it is not: EAGLE's *insight* (sufficiency) term and its attribution
ordering inside the chosen regions are not implemented; this is the
deletion-only greedy search the benchmark issue asks for.

Examples
--------
A stand-in model whose answer changes once 3 of the patches {0, 1, 2, 3} (one
corner of a 4 x 4 grid) are removed:

>>> from types import SimpleNamespace as NS
>>> from whytoken.query.criteria import get_criterion
>>> from whytoken.query.graphs import TokenEvidence
>>> from whytoken.query.records import TokenInfo
>>> from whytoken.query.search import SearchContext, get_policy
>>> from whytoken.query.verification import Verifier
>>> cells = {p: (p // 4, p % 4) for p in range(16)}
>>> tokens = {p: TokenInfo(p, "image_patch", "<image>", patch=cells[p]) for p in range(16)}
>>> cause = {0, 1, 4, 5}
>>> def predict(sets):
...     hit = [len(set(s) & cause) for s in sets]
...     return [NS(top_token_id=0 if h >= 3 else 9, original_token_id=9, original_prob=.8,
...                original_token_prob_after=.8 - .2 * h, top_token_text="?", top_prob=.5) for h in hit]
>>> v = Verifier(predict, get_criterion("top-token"), original_prob=.8, max_passes=100)
>>> ctx = SearchContext(tuple(range(16)), tokens, TokenEvidence({}, {}, {}, {}), v)
>>> result = get_policy("greedy", units="regions", grid=2).search(ctx)
>>> result.found[0].positions, result.found[0].irreducible, result.stopped
((0, 1, 4), True, 'done')
>>> v.passes_by_stage
{'greedy': 4, 'shrink': 4}
"""

from __future__ import annotations

import logging
import math
from typing import Mapping, Sequence

from whytoken.errors import InvalidParameterError
from whytoken.query.records import InterventionOutcome, TokenInfo
from whytoken.query.search import FoundSet, SearchContext, SearchPolicy, SearchResult, register_policy
from whytoken.query.verification import shrink as shrink_to_irreducible

__all__ = ["UNIT_KINDS", "GreedySearch", "search_units"]

logger = logging.getLogger(__name__)

#: Values of :class:`GreedySearch`'s ``units`` parameter.
UNIT_KINDS = ("regions", "tokens")


def search_units(pool: Sequence[int], tokens: Mapping[int, TokenInfo], units: str = "regions",
                 grid: int = 8) -> list[tuple[int, ...]]:
    """The pool cut into search units: single tokens, or image regions of a ``grid x grid`` lattice.

    Regions are taken per image over its whole patch grid (read from every image
    token in ``tokens``, not only the pool): patch ``(r, c)`` of a ``R x C`` grid
    falls in region ``(r * g_r // R, c * g_c // C)`` with ``g_r = min(grid, R)``
    (likewise for columns). Only pool members are kept; empty regions are dropped.
    Units are ordered by their first position (images before the text that
    follows them in the sequence).

    Examples
    --------
    >>> from whytoken.query.records import TokenInfo
    >>> toks = {p: TokenInfo(p, "image_patch", "<image>", patch=divmod(p, 4)) for p in range(16)}
    >>> toks[16] = TokenInfo(16, "prompt_text", " red")
    >>> search_units(range(17), toks, "regions", grid=2)
    [(0, 1, 4, 5), (2, 3, 6, 7), (8, 9, 12, 13), (10, 11, 14, 15), (16,)]
    >>> len(search_units(range(17), toks, "tokens"))
    17
    """
    pool = [int(p) for p in pool]
    if units == "tokens":
        return [(p,) for p in sorted(pool)]
    shape: dict[int, list[int]] = {}
    for tok in tokens.values():
        if tok.kind == "image_patch" and tok.patch is not None:
            dims = shape.setdefault(tok.image_index or 0, [0, 0])
            dims[0], dims[1] = max(dims[0], tok.patch[0] + 1), max(dims[1], tok.patch[1] + 1)
    groups: dict[tuple, list[int]] = {}
    for p in sorted(pool):
        tok = tokens[p]
        if tok.kind == "image_patch" and tok.patch is not None:
            image = tok.image_index or 0
            rows, cols = shape[image]
            gr, gc = min(grid, rows), min(grid, cols)
            key: tuple = ("image", image, tok.patch[0] * gr // rows, tok.patch[1] * gc // cols)
        else:
            key = ("token", p)
        groups.setdefault(key, []).append(p)
    return sorted((tuple(g) for g in groups.values()), key=lambda g: g[0])


def _prob_after(outcome: InterventionOutcome) -> float:
    """The target token's probability after a removal (lower: a stronger removal)."""
    after = outcome.target_prob_after
    if math.isfinite(after):
        return after
    return -outcome.effect if math.isfinite(outcome.effect) else math.inf


@register_policy("greedy")
class GreedySearch(SearchPolicy):
    """EAGLE-style greedy black-box search over units, then whytoken's shrink (see the module docstring).

    Parameters
    ----------
    units : {"regions", "tokens"}, default "regions"
        Search over image regions (text tokens stay single units) or over single tokens.
    grid : int, default 8
        Regions per side of an image (``grid x grid`` regions; 8 gives EAGLE's 64).
    shrink : bool, default True
        Shrink the flipping set to an irreducible one (False: return the greedy union as found,
        with ``irreducible`` unknown).
    """

    def __init__(self, units: str = "regions", grid: int = 8, shrink: bool = True) -> None:
        if units not in UNIT_KINDS:
            raise InvalidParameterError(f"units must be one of {', '.join(UNIT_KINDS)}, got {units!r}; use "
                                        "'regions' (EAGLE's grid of image regions) or 'tokens'")
        if isinstance(grid, bool) or not isinstance(grid, int) or grid < 1:
            raise InvalidParameterError(f"grid must be a positive int (regions per image side), got {grid!r}; "
                                        "e.g. 8 for 64 regions")
        self.units = units
        self.grid = grid
        self.shrink = bool(shrink)

    def search(self, ctx: SearchContext) -> SearchResult:
        v = ctx.verifier
        remaining = search_units(ctx.pool, ctx.tokens, self.units, self.grid)
        n_units = len(remaining)
        chosen: list[tuple[int, ...]] = []
        current: tuple[int, ...] = ()
        flipped: tuple[int, ...] | None = None
        pool_changes = None
        while remaining and flipped is None:
            candidates = [tuple(sorted(current + u)) for u in remaining]
            outcomes = v.check_many(candidates, "greedy")
            checked = [(i, o) for i, o in enumerate(outcomes) if o is not None]
            if not checked:
                break
            changing = [(i, o) for i, o in checked if o.changed]
            pick = min(changing or checked, key=lambda io: (_prob_after(io[1]), io[0]))[0]
            chosen.append(remaining.pop(pick))
            current = candidates[pick]
            if changing:
                flipped = current
            elif len(checked) < len(outcomes):  # the budget ran out inside this step
                break
            elif not remaining:
                pool_changes = False  # the last candidate was the whole pool
        if flipped is None:
            return SearchResult((), pool_changes, "budget" if v.exhausted else "done")
        if len(chosen) == n_units:
            pool_changes = True
        order = [p for unit in chosen for p in unit]  # strongest first: units in the order they were added
        if self.shrink:
            members, irreducible = shrink_to_irreducible(v, order, "shrink")
        else:
            members, irreducible = tuple(sorted(order)), (True if len(order) == 1 else None)
        if not ctx.allows(len(members)):
            return SearchResult((), pool_changes, "done")
        return SearchResult((FoundSet(members, "greedy", irreducible),), pool_changes,
                            "budget" if v.exhausted else "done")
