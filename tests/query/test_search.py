"""Oracle tests of the search itself: fake models whose flip rule is known, graphs that are right, wrong or empty.

Every rule here is monotone (removing more never undoes a change), so the truth is
computable by brute force: which sets change the target, the smallest such size, and
whether a set is irreducible. The search must be complete within its budget, return
only irreducible sets, claim global minimality only when it holds, never exceed the
budget, rank by the measured effect, and be deterministic.
"""

from __future__ import annotations

import itertools
from types import SimpleNamespace as NS

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from whytoken.errors import InvalidParameterError, UnknownPolicyError, UnknownProposerError
from whytoken.query import get_criterion, get_policy
from whytoken.query.graphs import TokenEvidence
from whytoken.query.records import TokenInfo
from whytoken.query.search import SearchContext
from whytoken.query.verification import Verifier

ORIGINAL = 0.8
GRID = 8  # an 8 x 8 image: positions 0..63 are patches, 64..71 words


def grid_tokens(n_words: int = 16) -> dict[int, TokenInfo]:
    tokens = {p: TokenInfo(p, "image_patch", "<image>", patch=divmod(p, GRID), image_index=0)
              for p in range(GRID * GRID)}
    for i in range(n_words):
        p = GRID * GRID + i
        tokens[p] = TokenInfo(p, "prompt_text", f" w{i}")
    return tokens


class Rule:
    """A monotone DNF rule: the target changes iff some term is contained in the removed set.

    The target's probability after a removal falls with each removed "relevant" token
    (weights), so effects are known and rankable.
    """

    def __init__(self, terms, weights=None):
        self.terms = [frozenset(t) for t in terms]
        self.weights = dict(weights or {})

    def changes(self, removed) -> bool:
        removed = frozenset(removed)
        return any(t <= removed for t in self.terms)

    def prob_after(self, removed) -> float:
        drop = sum(self.weights.get(p, 0.02) for p in removed)
        base = max(ORIGINAL * (1 - min(drop, 0.95)), 1e-4)
        return min(base, 0.1) if self.changes(removed) else base

    def predict(self, sets):
        out = []
        for s in sets:
            changed = self.changes(s)
            out.append(NS(top_token_id=7 if changed else 42, original_token_id=42, original_prob=ORIGINAL,
                          original_token_prob_after=self.prob_after(s), top_token_text=" no" if changed else " yes",
                          top_prob=0.6 if changed else self.prob_after(s)))
        return out

    def minimal_size(self, pool) -> int | None:
        pool = set(pool)
        sizes = [len(t) for t in self.terms if t <= pool]
        return min(sizes) if sizes else None


def evidence(pool, strong=(), weak=()):
    """Graph evidence: ``strong`` tokens adjacent to the target, ``weak`` further away, the rest unsupported."""
    depth = {p: 1 for p in strong}
    depth.update({p: 3 for p in weak if p not in depth})
    logp = {p: -50.0 + i for i, p in enumerate(strong)}
    logp.update({p: -5.0 for p in weak if p not in logp})
    return TokenEvidence(depth, logp, {p: 0.0 for p in pool}, {p: 1 for p in depth})


def run(rule, pool, ev, max_passes=300, policy="graph-guided", max_set_size=None, **params):
    verifier = Verifier(rule.predict, get_criterion("top-token"), ORIGINAL, max_passes)
    ctx = SearchContext(tuple(pool), grid_tokens(), ev, verifier, max_set_size)
    return get_policy(policy, **params).search(ctx), verifier


def irreducible(rule, positions) -> bool:
    s = set(positions)
    return rule.changes(s) and not any(rule.changes(s - {m}) for m in s)


def check_claims(rule, pool, result, verifier):
    for f in result.found:
        assert rule.changes(f.positions), f"{f.positions} does not change the target"
        if f.irreducible:
            assert irreducible(rule, f.positions)
    assert verifier.passes <= verifier.max_passes


# ---------------------------------------------------------------------------- object of 8 patches, >= 3 needed
OBJECT = [18, 19, 20, 26, 27, 28, 34, 35]


class ThreeOfEight(Rule):
    def __init__(self):
        super().__init__([], {p: 0.1 for p in OBJECT})

    def changes(self, removed):
        return len(set(removed) & set(OBJECT)) >= 3


@pytest.mark.parametrize("graph", ["right", "wrong", "empty"])
def test_k_of_n_object_is_found_and_shrunk_to_three(graph):
    rule = ThreeOfEight()
    pool = list(range(72))
    ev = {"right": evidence(pool, strong=OBJECT),
          "wrong": evidence(pool, strong=[0, 7, 56, 63, 64, 65]),
          "empty": evidence(pool)}[graph]
    result, verifier = run(rule, pool, ev)
    assert result.found, f"{graph} graph: nothing found in {verifier.passes} passes"
    for f in result.found:
        assert len(f.positions) == 3 and set(f.positions) <= set(OBJECT) and f.irreducible
    check_claims(rule, pool, result, verifier)
    if graph == "right":
        # exhaustive search over sizes 1-3 of 72 tokens needs 62,196 passes; the graph cuts that to a few dozen
        assert verifier.passes < 60


def test_a_or_b_and_c_prefers_the_single_token():
    a, b, c = 64, 65, 66
    rule = Rule([{a}, {b, c}], {a: 0.9, b: 0.3, c: 0.3})
    pool = list(range(72))
    for ev in (evidence(pool, strong=[b, c, a]), evidence(pool, strong=[b, c]), evidence(pool)):
        result, verifier = run(rule, pool, ev)
        smallest = min(len(f.positions) for f in result.found)
        assert smallest == 1 and any(f.positions == (a,) for f in result.found)
        check_claims(rule, pool, result, verifier)


def test_conjunction_found_by_growing_measured_effects_when_singles_fail():
    rule = Rule([{64, 70}], {64: 0.4, 70: 0.4})
    pool = list(range(72))
    result, verifier = run(rule, pool, evidence(pool, strong=[64, 70, 3, 4]))
    assert [f.positions for f in result.found][:1] == [(64, 70)]
    assert result.found[0].source == "effect" and result.found[0].irreducible
    searching = verifier.passes - verifier.passes_by_stage.get("minimality", 0)
    # the screen, the skipped words (6 of the 8: every non-patch token is checked alone before groups), the pool,
    # one growth; then every remaining single is checked so that the pair can be called minimal
    assert searching < 16
    assert verifier.passes_by_stage["minimality"] == len(pool) - verifier.passes_by_stage["singles"]


def test_pairs_stage_finds_a_pair_the_groups_missed():
    # the groups find the triple {64, 65, 66} first (largest effects); the pair {67, 68} is smaller
    rule = Rule([{64, 65, 66}, {67, 68}], {64: 0.3, 65: 0.3, 66: 0.3, 67: 0.2, 68: 0.2})
    pool = list(range(64, 72))
    result, verifier = run(rule, pool, evidence(pool, strong=[64, 65, 66, 67, 68]), proposers=("effect",))
    sizes = sorted(len(f.positions) for f in result.found)
    assert sizes[0] == 2 and any(f.positions == (67, 68) and f.source == "pairs" for f in result.found)


def test_nothing_to_find_is_said_quickly():
    rule = Rule([])
    pool = list(range(72))
    result, verifier = run(rule, pool, evidence(pool, strong=[1, 2, 3]))
    assert result.found == () and result.pool_changes_target is False
    assert verifier.passes_by_stage["pool"] == 1
    assert verifier.passes < 30  # no group growth once the whole pool is known not to change it


@pytest.mark.parametrize("budget", [1, 2, 5, 17, 40])
def test_budget_is_never_exceeded(budget):
    rule = ThreeOfEight()
    pool = list(range(72))
    result, verifier = run(rule, pool, evidence(pool), max_passes=budget)
    assert verifier.passes <= budget
    if not result.found:
        assert result.stopped == "budget"
    check_claims(rule, pool, result, verifier)


def test_ranked_by_measured_effect_not_graph_order():
    # both 64 and 66 change the target alone; the graph prefers 66, the model says 64 matters more
    rule = Rule([{64}, {66}], {64: 0.95, 66: 0.5})
    pool = list(range(64, 72))
    result, _ = run(rule, pool, evidence(pool, strong=[66, 64]))
    from whytoken.query.assemble import build_set, rank_sets

    verifier = Verifier(rule.predict, get_criterion("top-token"), ORIGINAL, 100)
    verifier.check_many([f.positions for f in result.found], "singles")
    sets = [build_set(f, grid_tokens(), [], verifier, len(pool)) for f in result.found]
    ranked = rank_sets(sets, evidence(pool, strong=[66, 64]))
    assert [s.positions for s in ranked][:2] == [(64,), (66,)]
    assert ranked[0].globally_minimal and ranked[0].claim() == "minimal"


def test_deterministic():
    rule = ThreeOfEight()
    pool = list(range(72))
    first = run(rule, pool, evidence(pool, strong=[5, 6]))
    second = run(rule, pool, evidence(pool, strong=[5, 6]))
    assert first[0] == second[0]
    assert [c.positions for c in first[1].checks] == [c.positions for c in second[1].checks]


def test_max_set_size_is_respected():
    rule = ThreeOfEight()
    pool = list(range(72))
    result, verifier = run(rule, pool, evidence(pool, strong=OBJECT), max_set_size=2)
    assert all(len(f.positions) <= 2 for f in result.found) and not result.found


def test_exhaustive_policy_is_the_ground_truth():
    rule = Rule([{64, 65}, {66, 67}, {68}])
    pool = list(range(64, 72))
    result, verifier = run(rule, pool, evidence(pool), policy="exhaustive", max_size=3)
    assert [f.positions for f in result.found] == [(68,)]
    assert verifier.passes == 8


def test_minimality_stage_proves_size_two():
    rule = Rule([{64, 65}], {64: 0.3, 65: 0.3})
    pool = list(range(64, 72))
    result, verifier = run(rule, pool, evidence(pool, strong=[66, 67]))
    from whytoken.query.verification import subsets_checked

    assert [f.positions for f in result.found][:1] == [(64, 65)]
    assert subsets_checked(verifier, len(pool), 2)  # every single token was checked


def test_bad_policy_and_proposer_names():
    with pytest.raises(UnknownPolicyError, match="graph-guided"):
        get_policy("graph-guidd")
    with pytest.raises(UnknownProposerError, match="regions"):
        get_policy("graph-guided", proposers=("region",))
    with pytest.raises(InvalidParameterError, match="patience"):
        get_policy("graph-guided", patience=0)
    with pytest.raises(InvalidParameterError, match="does not take"):
        get_policy("graph-guided", bogus=1)


# ---------------------------------------------------------------------------- properties over random monotone rules
@st.composite
def monotone_rules(draw):
    pool = list(range(64, 76))
    n_terms = draw(st.integers(0, 3))
    terms = [draw(st.sets(st.sampled_from(pool), min_size=1, max_size=4)) for _ in range(n_terms)]
    weights = {p: draw(st.floats(0.0, 0.3)) for p in pool}
    graph = draw(st.sampled_from(["right", "wrong", "empty"]))
    return Rule(terms, weights), pool, graph


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(monotone_rules())
def test_complete_irreducible_and_honest(case):
    rule, pool, graph = case
    causes = sorted(set().union(*rule.terms)) if rule.terms else []
    others = [p for p in pool if p not in causes]
    ev = {"right": evidence(pool, strong=causes), "wrong": evidence(pool, strong=others[:4]),
          "empty": evidence(pool)}[graph]
    result, verifier = run(rule, pool, ev, max_passes=400)
    check_claims(rule, pool, result, verifier)
    truth = rule.minimal_size(pool)
    if truth is None:
        assert result.found == ()
    else:
        assert result.found, "complete: a set exists and the budget suffices"
        assert all(f.irreducible for f in result.found)
    from whytoken.query.verification import subsets_checked

    for f in result.found:
        k = len(f.positions)
        if k == 1 or subsets_checked(verifier, len(pool), k):
            assert truth is not None and k == truth, "a globally-minimal claim must be true"


def test_a_word_without_graph_support_is_found_before_a_group_of_patches():
    """easy-VQA's case: one question word changes the answer alone, but no head supports it, and an object's
    patches (supported) change it together; the result is the word, not an irreducible set of patches."""
    word = 69
    rule = Rule([{word}, set(OBJECT[:4])], {p: 0.2 for p in OBJECT[:4]})
    pool = list(range(72))
    result, verifier = run(rule, pool, evidence(pool, strong=OBJECT))
    assert min(len(f.positions) for f in result.found) == 1
    assert (word,) in [f.positions for f in result.found]
    assert not any(len(f.positions) > 1 for f in result.found if f.source != "pairs")
    check_claims(rule, pool, result, verifier)
