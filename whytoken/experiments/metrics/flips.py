"""Flip size: the fewest top-ranked tokens whose removal changes the target, and its distribution.

The flip size is read off a deletion curve's "changed" flags
(:func:`flip_size_from_changes`); over samples, :func:`flip_rate` and
:func:`describe_flip_sizes` summarise it (unflipped samples count as not
flipped, or as ``K + 1`` in the capped mean).

Examples
--------
>>> flip_size_from_changes([False, True]), flip_rate([1, None], k=1)
(1, 0.5)
"""

from __future__ import annotations

import logging
import math
from typing import Sequence

import numpy as np

__all__ = ["flip_size_from_changes", "flip_rate", "describe_flip_sizes"]

logger = logging.getLogger(__name__)


def flip_size_from_changes(changed: Sequence[bool]) -> int | None:
    """The smallest ``k >= 1`` with ``changed[k]`` true, or ``None``.

    Step 0 (nothing removed) never counts: a target that "changes" with
    nothing removed signals a broken predictor, and is logged.

    Examples
    --------
    >>> flip_size_from_changes([False, False, True, True])
    2
    >>> flip_size_from_changes([False, False]) is None
    True
    """
    if changed and changed[0]:
        logger.warning("the target counts as changed with nothing removed; check the model's determinism")
    for k in range(1, len(changed)):
        if changed[k]:
            return k
    return None


def flip_rate(flip_sizes: Sequence[int | None], k: int) -> float:
    """Share of samples whose flip size is at most ``k`` (``None`` counts as not flipped).

    Examples
    --------
    >>> flip_rate([1, 3, None, 2], k=2)
    0.5
    """
    if not flip_sizes:
        return math.nan
    return sum(1 for s in flip_sizes if s is not None and s <= k) / len(flip_sizes)


def describe_flip_sizes(flip_sizes: Sequence[int | None], max_k: int) -> dict[str, float]:
    """Summary statistics of a flip-size distribution.

    Returns ``n``, ``flip_rate`` (share flipped within ``max_k``), ``mean`` and
    ``median`` over the flipped samples, and ``mean_capped`` where unflipped
    samples count as ``max_k + 1`` (a pessimistic mean over all samples).

    Examples
    --------
    >>> d = describe_flip_sizes([1, 3, None, 2], max_k=5)
    >>> d["flip_rate"], d["mean"], d["median"], d["mean_capped"]
    (0.75, 2.0, 2.0, 3.0)
    """
    flipped = [s for s in flip_sizes if s is not None and s <= max_k]
    capped = [s if s is not None and s <= max_k else max_k + 1 for s in flip_sizes]
    return {
        "n": float(len(flip_sizes)),
        "flip_rate": flip_rate(flip_sizes, max_k),
        "mean": float(np.mean(flipped)) if flipped else math.nan,
        "median": float(np.median(flipped)) if flipped else math.nan,
        "mean_capped": float(np.mean(capped)) if capped else math.nan,
    }
