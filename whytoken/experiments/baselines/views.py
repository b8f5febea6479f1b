"""Baseline views of one explained token, for display next to an explanation (e.g. in the HTML report).

Examples
--------
>>> from whytoken.experiments.harness.toy_model import ToyModel
>>> list(baseline_views(ToyModel().trace(prompt="a b", max_new_tokens=1), -1, methods=("attention",)))
['attention']
"""

from __future__ import annotations

import logging
from typing import Any, Sequence

from whytoken.adapters.trace import Trace
from whytoken.errors import AdapterError, ExplanationError, LayerError
from whytoken.experiments.baselines.base import Attribution
from whytoken.experiments.baselines.registry import get_baseline

__all__ = ["baseline_views"]

logger = logging.getLogger(__name__)


def baseline_views(
    trace: Trace,
    target: int | str,
    methods: Sequence[str] = ("attention", "rollout", "relevancy", "grad-x-input"),
    *,
    model: Any = None,
    seed: int = 0,
) -> dict[str, Attribution]:
    """Baseline attributions of one target for display next to an explanation (e.g. in the HTML report).

    Methods that cannot run on what is at hand (gradient methods without a live
    model, rollout on a trace without every layer) are left out and logged,
    so a report can show whatever is available.

    Returns
    -------
    dict of str -> Attribution
        In the order of ``methods``.

    Examples
    --------
    >>> from whytoken.experiments.harness.toy_model import ToyModel
    >>> trace = ToyModel().trace(prompt="a b c", max_new_tokens=1)
    >>> sorted(baseline_views(trace, -1, methods=("attention", "rollout", "random")))
    ['attention', 'random', 'rollout']
    """
    out: dict[str, Attribution] = {}
    for name in methods:
        method = get_baseline(name)
        try:
            out[name] = method.attribute(trace, target, model=model, seed=seed)
        except (ExplanationError, LayerError, AdapterError) as err:
            logger.info("baseline view %s skipped: %s", name, err)
    return out
