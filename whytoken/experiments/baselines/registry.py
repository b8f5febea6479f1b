"""The registry of attribution methods: register a class under a name, look it up, instantiate it.

:func:`register_baseline` is a class decorator; a taken name raises
:class:`~whytoken.errors.DuplicateRegistrationError` unless ``overwrite=True``, and
an unknown name raises :class:`~whytoken.errors.UnknownBaselineError` listing
the known ones. The built-in methods register when
:mod:`whytoken.experiments.baselines` is imported.

Examples
--------
>>> baseline_class("random").defaults
{'offset': 0}
"""

from __future__ import annotations

from typing import Any, Callable, TypeVar

from whytoken.errors import UnknownBaselineError
from whytoken.experiments.baselines.base import AttributionMethod
from whytoken.registry import Registry

__all__ = ["register_baseline", "list_baselines", "baseline_class", "get_baseline"]


_BASELINES: Registry[type[AttributionMethod]] = Registry(
    "attribution method", plural="methods", error=UnknownBaselineError,
    fix="Register a new one with @register_baseline(name).", name_attribute="name",
)
M = TypeVar("M", bound=type[AttributionMethod])


def register_baseline(name: str, *, overwrite: bool = False) -> Callable[[M], M]:
    """Class decorator: register an :class:`AttributionMethod` subclass under ``name`` (and set its ``name``).

    Raises
    ------
    DuplicateRegistrationError
        If ``name`` is taken by another class and ``overwrite`` is false.
    """
    return _BASELINES.register(name, overwrite=overwrite)


def list_baselines() -> list[str]:
    """Names of the registered attribution methods (whytoken included), sorted.

    Examples
    --------
    >>> list_baselines()
    ['attention', 'exhaustive-search', 'grad-x-input', 'greedy-search', 'random', 'relevancy', 'rollout', 'whytoken']
    """
    return _BASELINES.names()


def baseline_class(name: str) -> type[AttributionMethod]:
    """The class registered as ``name``.

    Raises
    ------
    UnknownBaselineError
        Listing the known names.
    """
    return _BASELINES.get(name)


def get_baseline(name: str, **params: Any) -> AttributionMethod:
    """Instantiate the method registered as ``name`` with ``params``.

    Examples
    --------
    >>> get_baseline("attention", layer=-2).get_params()
    {'layer': -2, 'heads': 'mean'}
    >>> get_baseline("saliency")
    Traceback (most recent call last):
    ...
    whytoken.errors.UnknownBaselineError: unknown attribution method 'saliency'; known methods: attention, \
exhaustive-search, grad-x-input, greedy-search, random, relevancy, rollout, whytoken. Register a new one with \
@register_baseline(name).
    """
    return baseline_class(name)(**params)
