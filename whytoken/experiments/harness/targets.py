"""Which generated tokens of a sample a run explains: the configuration's ``targets`` rule.

``first``, ``last``, ``all``, a list of generated-token indices, or
``answer``: the sample's target, else the first generated token whose text
is the expected answer, else the first.

Examples
--------
>>> _target_indices(3, "last"), _target_indices(3, [0, -1, 7])
([2], [0, 2])
"""

from __future__ import annotations

from typing import Any

from whytoken.adapters.trace import Trace
from whytoken.experiments.harness.datasets import ExperimentSample

__all__ = ["select_targets"]


def select_targets(trace: Trace, sample: ExperimentSample, targets: Any) -> list[int]:
    """Generated-token indices to explain for a sample under the run's ``targets`` rule.

    ``first``/``last``/``all``; ``answer``: the sample's ``target`` when set,
    else the first generated token whose text is the expected answer, else
    the first; a list: those generated indices that exist.
    """
    n = len(trace.generated)
    if targets != "answer":
        return _target_indices(n, targets)
    if n == 0:
        return []
    if sample.target is not None:
        position = trace.target_index(sample.target)
        return [i for i, g in enumerate(trace.generated) if g.position == position][:1] or [0]
    if sample.answer is not None:
        for i, g in enumerate(trace.generated):
            if g.text.strip().lower() == sample.answer.strip().lower():
                return [i]
    return [0]


def _target_indices(n: int, targets: Any) -> list[int]:
    """Generated indices for the rules that need only the generation length ``n``."""
    if n == 0:
        return []
    if targets == "first":
        return [0]
    if targets == "last":
        return [n - 1]
    if targets == "all":
        return list(range(n))
    return sorted({int(i) % n for i in targets if -n <= int(i) < n})
