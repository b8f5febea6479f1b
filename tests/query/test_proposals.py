"""Proposal strategies: growth orders from graph evidence (regions stay connected, words stay whole)."""

from __future__ import annotations

import pytest

from whytoken.errors import DuplicateRegistrationError, UnknownProposerError
from whytoken.query import Proposal, Proposer, get_proposer, list_proposers, register_proposer
from whytoken.query.graphs import TokenEvidence
from whytoken.query.proposals import _PROPOSERS, ProposalContext
from whytoken.query.records import TokenInfo

GRID = 6


def context(strong, ties=None, effects=None, words=()):
    tokens = {p: TokenInfo(p, "image_patch", "<image>", patch=divmod(p, GRID), image_index=0)
              for p in range(GRID * GRID)}
    for i, text in enumerate(words):
        tokens[100 + i] = TokenInfo(100 + i, "prompt_text", text)
    pool = tuple(sorted(tokens))
    attention = {p: (1.0 - 0.01 * i if p in strong else 0.0) for i, p in enumerate(strong)}
    attention = {p: attention.get(p, 0.0) for p in pool}
    ev = TokenEvidence({p: 1 for p in strong}, {p: -10.0 for p in strong}, attention, {p: 1 for p in strong},
                       {p: frozenset((ties or {}).get(p, ())) for p in pool})
    return ProposalContext(pool, tokens, ev, effects or {})


def grid_adjacent(a, b):
    (ra, ca), (rb, cb) = divmod(a, GRID), divmod(b, GRID)
    return max(abs(ra - rb), abs(ca - cb)) == 1


def test_regions_grow_connected_from_the_strongest_patches():
    proposals = get_proposer("regions").propose(context(strong=[14, 8, 33]))
    first = proposals[0]
    assert first.source == "regions" and first.order[0] == 14 and "patch 2,2" in first.note
    for i, p in enumerate(first.order[1:], start=1):  # every patch touches one grown before it
        assert any(grid_adjacent(p, q) for q in first.order[:i])
    assert sorted(first.order) == list(range(GRID * GRID))  # the whole image, eventually
    assert first.order[1] == 8  # strongest neighbour first
    # weak patches come nearest first: the first 9 lie within 1 cell of the seed (2, 2) or of patch 8 (1, 2)
    assert all(max(abs(r - 2), abs(c - 2)) <= 1 or max(abs(r - 1), abs(c - 2)) <= 1
               for r, c in (divmod(p, GRID) for p in first.order[:9]))
    # the next seed is the strongest patch outside the first region's start; weak patches seed nothing
    assert [p.order[0] for p in proposals] == [14, 33]


def test_regions_prefer_patches_the_graph_ties_to_the_region():
    ctx = context(strong=[14], ties={21: {14}})
    assert get_proposer("regions").propose(ctx)[0].order[1] == 21


def test_words_keep_sub_word_tokens_together():
    ctx = context(strong=[101], words=[" the", " cap", "ital", " city"])
    orders = [p.order for p in get_proposer("words").propose(ctx)]
    assert (101, 102) in [o[:2] for o in orders]


def test_effect_order_uses_measured_effects_first():
    ctx = context(strong=[3, 4], effects={5: 0.9, 3: 0.1})
    (proposal,) = get_proposer("effect").propose(ctx)
    assert proposal.order[:3] == (5, 3, 4)


def test_registry():
    assert {"regions", "words", "neighbourhood", "effect"} <= set(list_proposers())
    with pytest.raises(UnknownProposerError, match="regions"):
        get_proposer("region")

    @register_proposer("test-everything")
    class Everything(Proposer):
        def propose(self, ctx):
            return [Proposal(self.name, tuple(ctx.pool))]

    try:
        assert get_proposer("test-everything").propose(context([]))[0].source == "test-everything"
        with pytest.raises(DuplicateRegistrationError):
            register_proposer("test-everything")(type("Other", (Proposer,), {"propose": lambda self, ctx: []}))
    finally:
        _PROPOSERS.unregister("test-everything")
    assert "test-everything" not in list_proposers()
