"""Verification criteria: when does removing a set of tokens *change* the target?

An explaining set is only an explanation once the model confirms it: the
tokens are removed (by the adapter's intervention, e.g. attention masking)
and the target position is predicted again. A *criterion* decides from that
new prediction whether the target changed. Two are built in:

``top-token``
    The most likely token at the target position is no longer the original
    token (the strict, discrete reading of "the token changes").
``prob-drop``
    The original token's probability falls below ``fraction`` times its
    original value (default 0.5). Useful when the model keeps the same top
    token with much less confidence, or to rank effects continuously.

Criteria register themselves by name with :func:`register_criterion`;
:func:`get_criterion` raises :class:`UnknownCriterionError` listing the known
names, and the command line takes its ``--criterion`` choices from
:func:`list_criteria`.

Examples
--------
>>> from types import SimpleNamespace
>>> drop = get_criterion("prob-drop", fraction=0.5)
>>> after = SimpleNamespace(top_token_id=7, original_token_id=7, original_prob=0.8,
...                         original_token_prob_after=0.3)
>>> drop.changed(after, original_prob=0.8)
True
>>> get_criterion("top-token").changed(after, original_prob=0.8)
False
"""

from __future__ import annotations

import abc
import math
from typing import Any, Callable, Protocol, TypeVar

from whytoken.errors import ExplanationError, InvalidParameterError, UnknownCriterionError
from whytoken.registry import Registry

__all__ = [
    "UnknownCriterionError",
    "PredictionLike",
    "Criterion",
    "TopTokenChanged",
    "ProbabilityDrop",
    "register_criterion",
    "get_criterion",
    "list_criteria",
    "DEFAULT_CRITERION",
]

#: The criterion used when none is named.
DEFAULT_CRITERION = "top-token"


class PredictionLike(Protocol):
    """What a criterion reads from the model's prediction after an intervention.

    :class:`whytoken.adapters.trace.Prediction` satisfies it: ``original_prob``
    is the target token's probability in the unmodified run and
    ``original_token_prob_after`` its probability after the intervention.
    """

    top_token_id: int
    original_token_id: int
    original_prob: float
    original_token_prob_after: float | None


class Criterion(abc.ABC):
    """Base class of verification criteria.

    Subclasses store their parameters in ``__init__`` and decide in
    :meth:`changed`.
    """

    #: registry name, set by :func:`register_criterion`
    name: str = ""

    @abc.abstractmethod
    def changed(self, prediction: PredictionLike, original_prob: float) -> bool:
        """Whether ``prediction`` (made with some tokens removed) counts as a changed target.

        Parameters
        ----------
        prediction : PredictionLike
            The prediction at the target position after the intervention.
        original_prob : float
            The target token's probability in the unmodified run.
        """

    def effect(self, prediction: PredictionLike, original_prob: float) -> float:
        """A continuous effect size, larger is stronger: the relative drop of the original token's probability.

        NaN when the prediction does not report the probability after the intervention.
        """
        after = getattr(prediction, "original_token_prob_after", None)
        if after is None or original_prob <= 0:
            return float("nan")
        return float(1.0 - float(after) / original_prob)

    def get_params(self) -> dict[str, Any]:
        """The constructor parameters."""
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}

    def describe(self) -> str:
        """A short human-readable statement of the rule."""
        return self.name


_CRITERIA: Registry[type[Criterion]] = Registry(
    "verification criterion", plural="criteria", error=UnknownCriterionError,
    fix="Register a new one with @register_criterion(name).", name_attribute="name",
)
C = TypeVar("C", bound=type[Criterion])


def register_criterion(name: str, *, overwrite: bool = False) -> Callable[[C], C]:
    """Class decorator: register a :class:`Criterion` subclass under ``name`` (and set its ``name``).

    Raises
    ------
    DuplicateRegistrationError
        If ``name`` is taken by another class and ``overwrite`` is false.
    """
    return _CRITERIA.register(name, overwrite=overwrite)


def list_criteria() -> list[str]:
    """Names of the registered verification criteria, sorted.

    Examples
    --------
    >>> list_criteria()
    ['prob-drop', 'top-token']
    """
    return _CRITERIA.names()


def get_criterion(name: "str | Criterion", **params: Any) -> Criterion:
    """The criterion registered as ``name``, built with ``params`` (a Criterion is returned as is).

    Raises
    ------
    UnknownCriterionError
        If no criterion has that name; the message lists the known ones.
    """
    if isinstance(name, Criterion):
        return name
    return _CRITERIA.get(name)(**params)


@register_criterion("top-token")
class TopTokenChanged(Criterion):
    """The target changed when the most likely token is no longer the original one."""

    def changed(self, prediction: PredictionLike, original_prob: float) -> bool:
        return int(prediction.top_token_id) != int(prediction.original_token_id)

    def describe(self) -> str:
        return "the top token changes"


@register_criterion("prob-drop")
class ProbabilityDrop(Criterion):
    """The target changed when its probability falls below ``fraction`` of the original.

    Parameters
    ----------
    fraction : float
        In (0, 1). 0.5 means "the original token lost at least half its probability".
    """

    def __init__(self, fraction: float = 0.5) -> None:
        if not (isinstance(fraction, (int, float)) and math.isfinite(fraction) and 0.0 < fraction < 1.0):
            raise InvalidParameterError(
                f"prob-drop fraction must be a number in (0, 1), got {fraction!r}; "
                "e.g. 0.5 means the original token keeps less than half its probability"
            )
        self.fraction = float(fraction)

    def changed(self, prediction: PredictionLike, original_prob: float) -> bool:
        after = getattr(prediction, "original_token_prob_after", None)
        if after is None:
            raise ExplanationError(
                "the prob-drop criterion needs the original token's probability after the intervention, but the "
                "model's prediction has original_token_prob_after=None; use criterion='top-token' or an adapter "
                "that reports it")
        return float(after) < self.fraction * float(original_prob)

    def describe(self) -> str:
        return f"the original token's probability falls below {self.fraction:g} x its original value"
