"""Faithfulness metrics against hand-computed oracles.

The fake model's target token flips exactly when every token of a known
cause set is removed, and its probability falls by a fixed step per removed
cause token, so flip sizes and curve areas can be worked out on paper.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from whytoken.adapters.trace import Prediction
from whytoken.errors import InvalidParameterError
from whytoken.experiments.metrics import (
    CachedPredictor,
    deletion_curve,
    describe_flip_sizes,
    flip_rate,
    flip_size_from_changes,
    insertion_curve,
    normalized_auc,
    precision_recall,
    prob_after,
)
from whytoken.query.criteria import get_criterion


@dataclass
class SetFlipModel:
    """Flips iff all of ``cause`` is removed; p(original) = base - step * |removed & cause|."""

    cause: frozenset
    base: float = 0.8
    step: float = 0.3
    calls: int = 0
    sets_seen: int = 0

    def __call__(self, removal_sets):
        self.calls += 1
        self.sets_seen += len(removal_sets)
        out = []
        for removed in removal_sets:
            hits = len(self.cause & set(removed))
            p = self.base - self.step * hits
            flipped = hits == len(self.cause)
            out.append(Prediction(tuple(removed), "mask", 1 if flipped else 0, "x", 1 - p if flipped else p,
                                  0, self.base, original_token_prob_after=p))
        return out


def test_deletion_curve_matches_the_hand_computed_oracle():
    model = SetFlipModel(frozenset({2, 5}))
    curve = deletion_curve([5, 1, 2, 3], model, max_k=4)
    assert curve.probs == pytest.approx((0.8, 0.5, 0.5, 0.2, 0.2))
    assert curve.changed == (False, False, False, True, True)
    assert curve.flip_size == 3
    # trapezoids over x = k/4: (0.65 + 0.5 + 0.35 + 0.2) / 4
    assert curve.auc == pytest.approx(0.425)
    assert curve.max_k == 4 and curve.n_candidates == 4


def test_insertion_curve_matches_the_hand_computed_oracle():
    model = SetFlipModel(frozenset({2, 5}))
    curve = insertion_curve([5, 1, 2, 3], model, max_k=4)
    # step k removes ranking[k:]: {5,1,2,3}, {1,2,3}, {2,3}, {3}, {}
    assert curve.probs == pytest.approx((0.2, 0.5, 0.5, 0.8, 0.8))
    assert curve.auc == pytest.approx((0.35 + 0.5 + 0.65 + 0.8) / 4)


def test_flip_size_is_none_when_the_cause_lies_beyond_k():
    model = SetFlipModel(frozenset({2, 5}))
    curve = deletion_curve([5, 1, 3, 4, 2], model, max_k=3)
    assert curve.flip_size is None
    assert len(curve.probs) == 4


def test_perfect_ranking_flips_at_the_cause_size():
    model = SetFlipModel(frozenset({7, 3, 9}))
    assert deletion_curve([3, 7, 9, 1, 2], model, max_k=5).flip_size == 3


def test_k_is_capped_by_the_number_of_candidates():
    curve = deletion_curve([4, 2], SetFlipModel(frozenset({4})), max_k=20)
    assert len(curve.probs) == 3 and curve.flip_size == 1


def test_probability_criterion_counts_drops_not_only_top_token_changes():
    model = SetFlipModel(frozenset({2, 5}))
    # prob-drop at 0.7: changed once p < 0.7 * 0.8 = 0.56, i.e. after the first cause token
    criterion = get_criterion("prob-drop", fraction=0.7)
    assert deletion_curve([5, 1, 2, 3], model, max_k=4, criterion=criterion).flip_size == 1


def test_cached_predictor_runs_shared_sets_once():
    model = SetFlipModel(frozenset({2, 5}))
    cached = CachedPredictor(model, batch_size=3)
    deletion_curve([5, 1, 2, 3], cached, max_k=4)
    insertion_curve([5, 1, 2, 3], cached, max_k=4)
    # deletion: {}, {5}, {1,5}, {1,2,5}, {1,2,3,5}; insertion adds {1,2,3}, {2,3}, {3}
    assert cached.n_forward == 8 == model.sets_seen
    assert cached.n_calls == model.calls == 3  # ceil(5 / 3) + ceil(3 / 3)
    deletion_curve([5, 1, 2, 3], cached, max_k=4)
    assert cached.n_forward == 8


def test_normalized_auc_edge_cases():
    assert normalized_auc([0.3]) == pytest.approx(0.3)
    assert normalized_auc([1.0, 1.0, 1.0]) == pytest.approx(1.0)
    with pytest.raises(InvalidParameterError, match="at least one point"):
        normalized_auc([])


def test_precision_recall_and_flip_statistics():
    assert precision_recall({1, 2}, {2, 3, 4, 5}) == (0.5, 0.25)
    assert precision_recall([], []) == (1.0, 1.0)
    assert flip_rate([1, None, 5, 2], k=2) == 0.5
    stats = describe_flip_sizes([1, None, 5, 2], max_k=4)
    assert stats["flip_rate"] == 0.5 and stats["mean"] == 1.5 and stats["mean_capped"] == pytest.approx((1 + 5 + 5 + 2) / 4)
    assert flip_size_from_changes([False, False, False]) is None


@pytest.mark.parametrize(
    "ranking, max_k, match",
    [([1, 1, 2], 2, "repeats"), ([1, 2], 0, "max_k"), ([1, 2], 1.5, "max_k")],
)
def test_bad_rankings_raise(ranking, max_k, match):
    with pytest.raises(InvalidParameterError, match=match):
        deletion_curve(ranking, SetFlipModel(frozenset({1})), max_k=max_k)


def test_predictions_without_post_intervention_probability_are_rejected():
    def predict(sets):
        return [Prediction(tuple(s), "mask", 0, "x", 0.9, 0, 0.9) for s in sets]

    with pytest.raises(InvalidParameterError, match="original_token_prob_after"):
        deletion_curve([1, 2], predict, max_k=2)
    with pytest.raises(InvalidParameterError, match="original_token_prob_after"):
        prob_after(predict([()])[0])


def test_predictor_returning_the_wrong_count_is_rejected():
    with pytest.raises(InvalidParameterError, match="one prediction per"):
        deletion_curve([1, 2], lambda sets: [], max_k=2)
    with pytest.raises(InvalidParameterError, match="one per set"):
        CachedPredictor(lambda sets: [])([(1,)])


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(min_value=1, max_value=9),
    data=st.data(),
)
def test_flip_size_equals_brute_force_first_prefix(n, data):
    candidates = list(range(1, n + 1))
    cause = frozenset(data.draw(st.sets(st.sampled_from(candidates), min_size=1)))
    ranking = data.draw(st.permutations(candidates))
    max_k = data.draw(st.integers(min_value=1, max_value=n))
    model = SetFlipModel(cause, base=0.9, step=0.8 / len(cause))
    curve = deletion_curve(ranking, model, max_k=max_k)
    expected = next((k for k in range(1, max_k + 1) if cause <= set(ranking[:k])), None)
    assert curve.flip_size == expected
    assert 0.0 <= curve.auc <= 1.0
    # a monotone model never rises along the deletion curve
    assert all(a >= b - 1e-12 for a, b in zip(curve.probs, curve.probs[1:]))
