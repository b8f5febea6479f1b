"""The budgeted verifier and the grow / shrink procedures, against rules whose answers are known."""

from __future__ import annotations

from types import SimpleNamespace as NS

import pytest

from whytoken.errors import ExplanationError
from whytoken.query import get_criterion
from whytoken.query.verification import Verifier, grow, shrink, subsets_checked


def predictor(rule, calls=None):
    def predict(sets):
        if calls is not None:
            calls.append(list(sets))
        return [NS(top_token_id=0 if rule(frozenset(s)) else 9, original_token_id=9, original_prob=0.8,
                   original_token_prob_after=0.1 if rule(frozenset(s)) else 0.8, top_token_text="?", top_prob=0.5)
                for s in sets]
    return predict


def verifier(rule, budget=100, batch_size=None, calls=None):
    return Verifier(predictor(rule, calls), get_criterion("top-token"), 0.8, budget, batch_size=batch_size)


def test_each_set_is_sent_once_and_booked_to_its_stage():
    calls = []
    v = verifier(lambda s: 3 in s, calls=calls)
    assert [o.changed for o in v.check_many([(1,), (3,), (3,), (1, 3)], "a")] == [False, True, True, True]
    v.check_many([(3,), (2, 1)], "b")
    assert v.passes == 4 and v.passes_by_stage == {"a": 3, "b": 1}
    assert [len(c) for c in calls] == [3, 1] and v.n_calls == 2
    assert v.first_hit == 2 and v.known((1, 2)).changed is False and v.known((5,)) is None
    assert v.changed((), "a") is False  # the empty removal is the original run


def test_budget_is_a_hard_limit():
    v = verifier(lambda s: False, budget=3)
    outcomes = v.check_many([(i,) for i in range(10)], "x")
    assert v.passes == 3 and outcomes[:3] != [None] * 3 and outcomes[3:] == [None] * 7
    assert v.exhausted and v.changed((20,), "x") is None


def test_batch_size_splits_calls():
    calls = []
    v = verifier(lambda s: False, batch_size=2, calls=calls)
    v.check_many([(i,) for i in range(5)], "x")
    assert [len(c) for c in calls] == [2, 2, 1]


def test_a_model_returning_the_wrong_number_of_predictions_is_an_error():
    v = Verifier(lambda sets: [], get_criterion("top-token"), 0.8, 10)
    with pytest.raises(ExplanationError, match="one prediction per set"):
        v.check((1,), "x")


def test_grow_bisects_to_the_shortest_changing_prefix():
    v = verifier(lambda s: {4, 6} <= s)
    order = [1, 4, 2, 3, 6, 7, 8, 9, 10]
    assert grow(v, order, "g") == (1, 2, 3, 4, 6)  # prefix of 5: the first containing both 4 and 6
    assert grow(verifier(lambda s: False), order, "g") is None
    assert grow(v, order, "g", max_size=3) is None  # not within 3


def test_shrink_is_irreducible_even_when_removal_is_not_monotone():
    # changes iff exactly two of {1, 2, 3} are removed, or 5 alone is among the removed with 6
    rule = lambda s: len(s & {1, 2, 3}) == 2 or {5, 6} <= s
    v = verifier(rule)
    v.check((1, 2, 5, 6), "seed")  # changes (5 and 6)
    members, irreducible = shrink(v, [1, 2, 5, 6], "shrink")
    assert irreducible is True and rule(frozenset(members))
    assert all(not rule(frozenset(members) - {m}) for m in members)


def test_shrink_needs_a_changing_set_and_reports_a_short_budget():
    v = verifier(lambda s: len(s) >= 2, budget=2)
    with pytest.raises(ExplanationError, match="changes the target"):
        shrink(v, [1, 2], "shrink")
    v.check((1, 2, 3, 4), "seed")
    members, irreducible = shrink(v, [1, 2, 3, 4], "shrink")
    assert irreducible is None and v.passes == 2


def test_subsets_checked_needs_every_smaller_set_to_fail():
    v = verifier(lambda s: s == {1, 2})
    v.check_many([(1,), (2,), (3,)], "x")
    assert subsets_checked(v, 3, 2)
    v2 = verifier(lambda s: 1 in s)
    v2.check_many([(1,), (2,), (3,)], "x")
    assert not subsets_checked(v2, 3, 2)  # a single changed the target: a pair is not minimal
    assert not subsets_checked(verifier(lambda s: False), 3, 2)  # nothing checked
