"""The verification-criterion registry."""

from __future__ import annotations

import pytest

from whytoken.adapters.trace import Prediction
from whytoken.errors import DuplicateRegistrationError, ExplanationError, InvalidParameterError
from whytoken.query import (
    Criterion,
    ProbabilityDrop,
    UnknownCriterionError,
    get_criterion,
    list_criteria,
    register_criterion,
)


def prediction(top: int, after: float | None) -> Prediction:
    return Prediction((3,), "mask", top, "x", 0.5, 9, 0.8, target=5, original_token_prob_after=after)


@pytest.mark.parametrize("name", list_criteria())
def test_every_criterion_decides_both_ways(name):
    criterion = get_criterion(name)
    assert criterion.name == name
    assert criterion.changed(prediction(top=4, after=0.01), 0.8) is True
    assert criterion.changed(prediction(top=9, after=0.79), 0.8) is False
    assert isinstance(criterion.describe(), str)


def test_top_token_ignores_probability():
    assert get_criterion("top-token").changed(prediction(top=9, after=0.01), 0.8) is False


def test_prob_drop_fraction():
    assert get_criterion("prob-drop", fraction=0.5).changed(prediction(top=9, after=0.39), 0.8)
    assert not get_criterion("prob-drop", fraction=0.25).changed(prediction(top=9, after=0.39), 0.8)
    assert get_criterion("prob-drop").effect(prediction(top=9, after=0.2), 0.8) == pytest.approx(0.75)
    with pytest.raises(ExplanationError, match="original_token_prob_after"):
        get_criterion("prob-drop").changed(prediction(top=9, after=None), 0.8)


@pytest.mark.parametrize("fraction", [0.0, 1.0, -1, float("nan"), "half"])
def test_prob_drop_rejects_bad_fraction(fraction):
    with pytest.raises(InvalidParameterError, match="fraction"):
        ProbabilityDrop(fraction)


def test_unknown_criterion_lists_known_names():
    with pytest.raises(UnknownCriterionError, match="prob-drop, top-token"):
        get_criterion("flip")


def test_registration_is_loud():
    with pytest.raises(DuplicateRegistrationError, match="overwrite=True"):
        @register_criterion("top-token")
        class Other(Criterion):
            def changed(self, prediction, original_prob):
                return True
    assert get_criterion("top-token").__class__.__name__ == "TopTokenChanged"
