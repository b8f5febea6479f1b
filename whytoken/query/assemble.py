"""Stage 6 of the query: the verified sets become a ranked, claimed, explained result.

Ranking. Among the verified sets of the smallest size found, the one whose
removal hurts the target most comes first: the measured effect (the relative
drop of the target token's probability, ``1 - after / before``, compared to
:data:`EFFECT_RESOLUTION`: a 99.7 % and a 99.9 % drop are a tie), then the
graph evidence (the attention the predicting row puts on the set, the weakest
member's graph tier and dependence), then the positions. Claims: ``irreducible`` comes from the shrink
that produced the set; ``globally_minimal`` is set only when every smaller
subset of the pool was checked (always for one token).

Examples
--------
>>> from whytoken.query.records import InterventionOutcome
>>> o = lambda e: InterventionOutcome(True, 1, "x", .5, .8 * (1 - e), e)
>>> sorted([(0.2, "a"), (0.9, "b")], key=lambda t: effect_key(o(t[0])))[0][1]
'b'
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

from whytoken.query.criteria import Criterion
from whytoken.query.graphs import HeadGraph, TokenEvidence
from whytoken.query.records import ExplainingSet, InterventionOutcome, Member, TokenInfo
from whytoken.query.summaries import Hint
from whytoken.query.search import FoundSet, SearchResult, exhaustive_passes
from whytoken.query.verification import Verifier, subsets_checked

__all__ = ["EFFECT_RESOLUTION", "effect_key", "build_set", "rank_sets", "status_message", "hints_for", "exhaustive_estimate"]


#: Effects closer than this count as equal when ranking sets (the graph evidence then decides).
EFFECT_RESOLUTION = 0.01


def effect_key(outcome: InterventionOutcome | None) -> tuple:
    """Sort key of a set's outcome: larger effect first, to :data:`EFFECT_RESOLUTION`."""
    if outcome is None:
        return (1, 0.0)
    effect = outcome.effect if math.isfinite(outcome.effect) else -math.inf
    return (0, -round(effect / EFFECT_RESOLUTION) if math.isfinite(effect) else math.inf)


def _best_head(positions: Sequence[int], graphs: Sequence[HeadGraph]) -> HeadGraph | None:
    def key(g: HeadGraph) -> tuple:
        depths = [g.depth.get(p) for p in positions]
        worst = max((d if d is not None and d > 0 else math.inf) for d in depths)
        total = sum((d if d is not None and d > 0 else 99) for d in depths)
        logp = max(g.evidence.log10_p.get(p, 0.0) for p in positions)
        return (worst, total, logp, g.head)

    if not graphs or not any(g.depth.get(p, 0) > 0 for g in graphs for p in positions):
        return None  # no head's PDS-tree holds a member: no head speaks for the set
    return min(graphs, key=key)


def build_set(found: FoundSet, tokens: Mapping[int, TokenInfo], graphs: Sequence[HeadGraph],
              verifier: Verifier, pool_size: int, verified: bool | None = True,
              conditional_limit: int = 24) -> ExplainingSet:
    """An :class:`ExplainingSet` for a set the search found (members, best head, outcome, claims)."""
    positions = tuple(sorted(found.positions))
    best = _best_head(positions, graphs)
    # p-values come from the best head, or (no head's tree holds a member) the most dependent head
    stats = best if best is not None or not graphs else min(
        graphs, key=lambda g: (max(g.evidence.log10_p.get(p, 0.0) for p in positions), g.head))
    members = []
    for pos in positions:
        tok = tokens[pos]
        depth = best.depth.get(pos) if best is not None else None
        log_p = stats.evidence.log10_p.get(pos) if stats is not None else None
        rest = [q for q in positions if q != pos]
        log_rest = None
        if stats is not None and rest and len(rest) <= min(conditional_limit, stats.evidence.n_samples - 4):
            log_rest = stats.evidence.log10_p_given(pos, rest)
        members.append(Member(position=pos, kind=tok.kind, text=tok.text, patch=tok.patch,
                              pds_distance=depth if depth else None, log10_p_value=log_p,
                              log10_p_value_given_rest=log_rest))
    heads = tuple(sorted(g.head for g in graphs if any(g.depth.get(p, 0) > 0 for p in positions)))
    depths = [best.depth.get(p) for p in positions] if best is not None else []
    complete = bool(depths) and all(d is not None and d > 0 for d in depths)
    minimal = None
    if verified:
        minimal = True if len(positions) == 1 else (subsets_checked(verifier, pool_size, len(positions)) or None)
    return ExplainingSet(
        members=tuple(members), verified=verified, heads=heads, best_head=None if best is None else best.head,
        pds_distance=max(depths) if complete else None, depth_sum=sum(depths) if complete else None,
        outcome=verifier.known(positions) if verified is not None else None,
        irreducible=found.irreducible if verified else None, globally_minimal=minimal, source=found.source)


def rank_sets(sets: Sequence[ExplainingSet], evidence: TokenEvidence) -> list[ExplainingSet]:
    """Smallest first; within a size by measured effect, then graph evidence, then positions."""
    return sorted(sets, key=lambda s: (s.size, effect_key(s.outcome), evidence.strength(s.positions), s.positions))


def exhaustive_estimate(pool_size: int, smallest: int | None, max_set_size: int | None) -> int:
    """Passes an exhaustive search over the pool needs to find every set of the smallest size found."""
    if smallest is None:
        smallest = pool_size if max_set_size is None else min(pool_size, max_set_size)
    if smallest > 3 and pool_size > 40:
        return math.comb(pool_size, smallest)  # the sum is dominated by its last term; avoid huge sums
    return exhaustive_passes(pool_size, smallest)


def status_message(verify: bool, sets: Sequence[ExplainingSet], text: str, result: SearchResult | None,
                   verifier: Verifier | None, crit: Criterion, pool_size: int) -> tuple[str, str]:
    """``(status, message)``: one plain sentence, with the claim the checks support."""
    if not verify:
        if sets:
            return "unverified", (f"Best graph candidate for {text!r}: {sets[0].describe()} (not verified on the "
                                  f"model; {len(sets)} candidate(s)).")
        return "unverified", f"No graph candidate for {text!r}: no removable token is near the target in any head."
    if sets:
        best = sets[0]
        claim = {"minimal": "a minimal explaining set (every smaller set was checked)",
                 "irreducible": "an irreducible explaining set (no member can be dropped)",
                 "verified": "a verified explaining set"}[best.claim()]
        effect = f"; the target's probability drops by {best.effect:.0%}" if best.effect == best.effect else ""
        alt = f"; {len(sets) - 1} other set(s) of the same size also verify" if len(sets) > 1 else ""
        return "explained", (f"Removing {best.describe()} changes {text!r}: {claim} (criterion: "
                             f"{crit.describe()}){effect}{alt}.")
    spent = f"{verifier.passes} of {verifier.max_passes} forward passes" if verifier is not None else "no passes"
    if result is not None and result.pool_changes_target is False:
        why = (f"even removing all {pool_size} candidate tokens at once leaves {text!r} unchanged, so no subset "
               "of them is likely to change it")
    elif result is not None and result.stopped == "budget":
        why = f"the budget ran out ({spent}) before any removal changed {text!r}"
    else:
        why = f"no removal tried ({spent}) changed {text!r}"
    return "not-explained", f"No explanation found under the criterion '{crit.describe()}': {why}."


def hints_for(result: SearchResult | None, crit: Criterion, include_special: bool, max_passes: int,
              pool: str) -> tuple[Hint, ...]:
    """What a user can change after a not-explained result (structured; the caller renders them)."""
    hints = []
    if result is not None and result.stopped == "budget":
        hints.append(Hint("max_passes", 2 * max_passes, "the search stopped at its budget"))
    if crit.name == "top-token":
        hints.append(Hint("criterion", "prob-drop", "count a large probability drop as a change, not only a new "
                                                     "top token"))
    if not include_special:
        hints.append(Hint("include_special", True, "let the first token (attention sink) and template tokens be "
                                                   "removed"))
    if pool != "all":
        hints.append(Hint("pool", "all", f"the pool was restricted to {pool} tokens"))
    return tuple(hints)

