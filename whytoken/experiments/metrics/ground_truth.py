"""Agreement with known causes: precision and recall of a selected token set against the ground truth.

On data whose causes are known (the synthetic worlds), a method's selection
(its top-``|GT|`` tokens, its explaining set, or its flipping prefix) is
compared with the true cause positions.

Examples
--------
>>> precision_recall([1, 2], [2])
(0.5, 1.0)
"""

from __future__ import annotations

from typing import Iterable

__all__ = ["precision_recall"]


def precision_recall(selected: Iterable[int], truth: Iterable[int]) -> tuple[float, float]:
    """Precision and recall of ``selected`` against the true causes ``truth``.

    An empty selection has precision 1.0 (it claims nothing wrong); an empty
    truth has recall 1.0.

    Examples
    --------
    >>> precision_recall([1, 2, 3, 4], [2, 4, 9])
    (0.5, 0.6666666666666666)
    >>> precision_recall([], [1])
    (1.0, 0.0)
    """
    sel, true = set(selected), set(truth)
    hits = len(sel & true)
    precision = hits / len(sel) if sel else 1.0
    recall = hits / len(true) if true else 1.0
    return precision, recall
