"""The verified black-box search baseline: the greedy policy against oracles whose flip rule is known.

A fake model flips the target by a rule over removed positions (">= 3 of these 8 patches", "A or (B and C)",
"never"); its probability falls with every cause removed, so the greedy order is predictable. The tests check
that the policy finds a verified, irreducible set whenever the rule allows, never exceeds its budget, ignores
the graphs, is deterministic, and that the harness methods (``greedy-search``, ``exhaustive-search``) run it
over whytoken's pool and report the exhaustive minimum correctly.
"""

from __future__ import annotations

import itertools
from types import SimpleNamespace as NS

import numpy as np
import pytest

from whytoken.adapters.trace import GeneratedToken, Position, Prediction, Trace
from whytoken.errors import InvalidParameterError
from whytoken.experiments.baselines import get_baseline, list_baselines, min_size_bounds, search_pool
from whytoken.query import explain, get_policy, list_policies
from whytoken.query.blackbox import GreedySearch, search_units
from whytoken.query.criteria import get_criterion
from whytoken.query.graphs import TokenEvidence
from whytoken.query.records import TokenInfo
from whytoken.query.search import SearchContext
from whytoken.query.verification import Verifier


def grid_tokens(side: int, words: int = 0) -> dict[int, TokenInfo]:
    tokens = {p: TokenInfo(p, "image_patch", "<image>", patch=divmod(p, side)) for p in range(side * side)}
    for i in range(words):
        p = side * side + i
        tokens[p] = TokenInfo(p, "prompt_text", f" w{i}")
    return tokens


class RuleModel:
    """``predict(sets)``: flips iff ``rule(removed)``; p(original) = 0.9 - 0.1 * |removed & weighted| (>= 0.01)."""

    def __init__(self, rule, weighted=()):
        self.rule, self.weighted, self.sets = rule, frozenset(weighted), 0

    def __call__(self, sets):
        self.sets += len(sets)
        out = []
        for s in sets:
            flip = bool(self.rule(frozenset(s)))
            p = max(0.9 - 0.1 * len(self.weighted & set(s)), 0.01)
            out.append(NS(top_token_id=1 if flip else 0, original_token_id=0, original_token_prob_after=p,
                          top_token_text="x", top_prob=0.5))
        return out


def run_greedy(model, tokens, pool=None, budget=5000, **params):
    pool = tuple(sorted(tokens)) if pool is None else tuple(pool)
    verifier = Verifier(model, get_criterion("top-token"), 0.9, budget)
    ctx = SearchContext(pool, tokens, TokenEvidence({}, {}, {}, {}), verifier)
    return GreedySearch(**params).search(ctx), verifier


EIGHT = frozenset({100, 101, 124, 125, 148, 149, 172, 173})  # two columns of a 24 x 24 grid, four rows


def at_least_three(s):
    return len(s & EIGHT) >= 3


def test_greedy_is_registered_and_checks_its_parameters():
    assert "greedy" in list_policies()
    assert {"greedy-search", "exhaustive-search"} <= set(list_baselines())
    with pytest.raises(InvalidParameterError, match="units must be one of regions, tokens, got 'pixels'"):
        get_policy("greedy", units="pixels")
    with pytest.raises(InvalidParameterError, match="grid must be a positive int.*got 0"):
        get_policy("greedy", grid=0)
    with pytest.raises(InvalidParameterError, match="greedy-search: units = 'x' is invalid"):
        get_baseline("greedy-search", units="x")
    with pytest.raises(InvalidParameterError, match="exhaustive-search: max_passes = 0 is invalid"):
        get_baseline("exhaustive-search", max_passes=0)


def test_regions_partition_the_pool_into_an_eagle_grid():
    tokens = grid_tokens(24, words=5)
    units = search_units(tuple(tokens), tokens, "regions", grid=8)
    assert len(units) == 64 + 5
    assert sorted(p for u in units for p in u) == sorted(tokens)
    assert {len(u) for u in units[:64]} == {9} and all(len(u) == 1 for u in units[64:])
    # a grid finer than the patch grid keeps one patch per region
    small = grid_tokens(6)
    assert search_units(tuple(small), small, "regions", grid=8) == [(p,) for p in range(36)]
    # only pool members, never an empty region
    part = search_units((0, 1, 30), tokens, "regions", grid=8)
    assert part == [(0, 1), (30,)]


def test_greedy_finds_an_irreducible_set_for_three_of_eight_patches():
    tokens = grid_tokens(24, words=4)
    model = RuleModel(at_least_three, weighted=EIGHT)
    result, v = run_greedy(model, tokens)
    (found,) = result.found
    assert len(found.positions) == 3 and set(found.positions) <= EIGHT and found.irreducible
    assert at_least_three(frozenset(found.positions))
    for m in found.positions:  # irreducible: each one-smaller subset was checked and does not flip
        rest = tuple(x for x in found.positions if x != m)
        assert v.known(rest) is not None and not v.known(rest).changed
    assert set(v.passes_by_stage) == {"greedy", "shrink"} and v.passes == model.sets
    # units = tokens: every single token is checked in the first step
    result_t, v_t = run_greedy(RuleModel(at_least_three, EIGHT), tokens, units="tokens")
    assert len(result_t.found[0].positions) == 3 and v_t.passes_by_stage["greedy"] >= len(tokens)


def test_greedy_picks_the_single_token_of_a_or_b_and_c():
    tokens = grid_tokens(4, words=3)
    a, b, c = 16, 3, 9
    model = RuleModel(lambda s: a in s or (b in s and c in s), weighted=[a, b, c])
    result, v = run_greedy(model, tokens, units="tokens")
    assert [f.positions for f in result.found] == [(a,)]
    assert v.passes == len(tokens)  # one step: every token alone, then no shrink for one token
    # without A, the greedy adds B (or C) first, then flips with the other one
    result2, _ = run_greedy(RuleModel(lambda s: b in s and c in s, weighted=[b, c]), tokens, units="tokens")
    assert result2.found[0].positions == (b, c) and result2.found[0].irreducible


def test_budget_is_never_exceeded_and_stops_the_search():
    tokens = grid_tokens(24)
    for budget in (1, 10, 64, 65, 130, 200):
        model = RuleModel(at_least_three, EIGHT)
        result, v = run_greedy(model, tokens, budget=budget)
        assert v.passes <= budget and model.sets == v.passes
        for f in result.found:  # whatever is returned was verified
            assert v.known(f.positions).changed
        if not result.found:
            assert result.stopped == "budget"


def test_a_pool_that_never_changes_the_target_returns_nothing():
    tokens = grid_tokens(4, words=2)
    result, v = run_greedy(RuleModel(lambda s: False), tokens, grid=2)
    assert result.found == () and result.pool_changes_target is False and result.stopped == "done"
    units = search_units(tuple(tokens), tokens, "regions", grid=2)
    n = len(units)
    assert v.passes == n * (n + 1) // 2  # every step checks every remaining unit


def test_greedy_is_deterministic_and_ignores_graph_evidence():
    tokens = grid_tokens(8, words=2)
    cause = frozenset({9, 10, 17, 18, 26})
    rule = lambda s: len(s & cause) >= 4  # noqa: E731
    first, _ = run_greedy(RuleModel(rule, cause), tokens, grid=4)
    again, _ = run_greedy(RuleModel(rule, cause), tokens, grid=4)
    assert first == again
    model = RuleModel(rule, cause)
    verifier = Verifier(model, get_criterion("top-token"), 0.9, 5000)
    misleading = TokenEvidence({p: 1 for p in range(40, 64)}, {p: -50.0 for p in range(40, 64)},
                               {p: 0.5 for p in range(40, 64)}, {p: 4 for p in range(40, 64)})
    ctx = SearchContext(tuple(sorted(tokens)), tokens, misleading, verifier)
    assert GreedySearch(grid=4).search(ctx) == first


def test_a_set_larger_than_max_set_size_is_not_reported():
    tokens = grid_tokens(24)
    verifier = Verifier(RuleModel(at_least_three, EIGHT), get_criterion("top-token"), 0.9, 5000)
    ctx = SearchContext(tuple(sorted(tokens)), tokens, TokenEvidence({}, {}, {}, {}), verifier, max_set_size=2)
    assert GreedySearch().search(ctx).found == ()


# ---------------------------------------------------------------------- through explain() and the harness
def _trace(side=4, words=(" what", " color", " is", " it")):
    """A decoder trace: <s>, side x side patches, the words, then ':' predicting the generated answer."""
    positions = [Position(0, "special", 1, "<s>")]
    for p in range(side * side):
        positions.append(Position(p + 1, "image_patch", 2, "<image>", patch=divmod(p, side), image_index=0))
    for w in words + (" :",):
        positions.append(Position(len(positions), "prompt_text", 3, w))
    target = len(positions)
    positions.append(Position(target, "generated", 9, " red"))
    n = len(positions)
    rng = np.random.default_rng(0)
    a = np.tril(rng.random((2, n, n)) + 0.05)
    a /= a.sum(axis=-1, keepdims=True)
    info = {"n_layers": 1, "n_heads": 2, "head_dim": 16, "hidden_size": 32, "is_causal": True}
    return Trace(tuple(positions), (GeneratedToken(target, 9, " red", 0.9),), {0: a.astype(np.float32)},
                 " ".join(words), None, None, info)


class FakeAdapter:
    """predict_batch with a known rule: flips iff patches (0,0) and (0,1) are both removed, or ' color' is."""

    def __init__(self):
        self.sets = 0

    def predict_batch(self, trace, target, sets, kind="mask", **_):
        self.sets += len(sets)
        out = []
        for s in sets:
            s = set(s)
            flip = {1, 2} <= s or 18 in s
            p = 0.05 if flip else 0.9 - 0.2 * len(s & {1, 2})
            out.append(Prediction(tuple(s), kind, 5 if flip else 9, "?", 0.5, 9, 0.9, target, p))
        return out


def test_explain_runs_the_greedy_policy_through_the_same_verifier_and_budget():
    trace, model = _trace(), FakeAdapter()
    exp = explain(trace, model=model, policy="greedy", pool="image", max_passes=200)
    assert exp.status == "explained" and exp.explaining_set.positions == (1, 2)
    assert exp.search.policy == "greedy" and exp.search.passes_used == model.sets <= 200
    assert set(exp.search.passes_by_stage) <= {"greedy", "shrink"}
    assert exp.explaining_set.irreducible
    tight = explain(trace, model=FakeAdapter(), policy="greedy", pool="image", max_passes=5)
    assert tight.search.passes_used <= 5


def test_harness_methods_search_whytokens_pool_and_report_the_minimum():
    trace, model = _trace(), FakeAdapter()
    target = trace.generated[0].position
    candidates = tuple(range(1, target))
    pool = search_pool(trace, target, candidates)
    assert target - 1 not in pool and pool == tuple(range(1, target - 1))  # the predicting ':' is the target node
    assert search_pool(trace, target, candidates, "image") == tuple(range(1, 17))

    greedy = get_baseline("greedy-search", pool="image").attribute(trace, target, model=model, candidates=candidates)
    assert greedy.explaining_set == (1, 2) and greedy.verified and greedy.details["claim"] in ("irreducible", "minimal")
    assert greedy.forward_passes <= greedy.params["max_passes"] and greedy.ranking[:2] == (1, 2)

    exhaustive = get_baseline("exhaustive-search", pool="image").attribute(trace, target, model=FakeAdapter(),
                                                                            candidates=candidates)
    assert exhaustive.explaining_set == (1, 2) and exhaustive.details["claim"] == "minimal"
    assert exhaustive.details["min_size_exact"] == 2 and exhaustive.details["min_size_at_least"] == 2
    assert exhaustive.forward_passes == 16 + 120  # every single patch, then every pair

    everything = get_baseline("exhaustive-search").attribute(trace, target, model=FakeAdapter(), candidates=candidates)
    assert everything.explaining_set == (18,) and everything.details["min_size_exact"] == 1  # ' color' alone
    capped = get_baseline("exhaustive-search", pool="image", max_passes=10).attribute(
        trace, target, model=FakeAdapter(), candidates=candidates)
    assert capped.forward_passes == 10 and capped.explaining_set is None and capped.verified is False
    assert capped.details["stopped"] == "budget" and capped.details["min_size_at_least"] == 1


def test_min_size_bounds_match_brute_force():
    pool = range(6)
    for cause in ({1}, {1, 4}, {0, 2, 5}):
        rule = lambda s, c=frozenset(cause): c <= s  # noqa: E731
        model = RuleModel(rule, cause)
        v = Verifier(model, get_criterion("top-token"), 0.9, 10_000)
        tokens = {p: TokenInfo(p, "prompt_text", f" t{p}") for p in pool}
        ctx = SearchContext(tuple(pool), tokens, TokenEvidence({}, {}, {}, {}), v)
        get_policy("exhaustive", max_size=3).search(ctx)
        brute = min(k for k in range(1, 7) for s in itertools.combinations(pool, k) if rule(frozenset(s)))
        assert min_size_bounds(v, 6) == (brute, brute)
