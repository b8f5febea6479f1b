"""An explaining set's size against the exhaustive minimum.

An exhaustive search over the pool (the ``exhaustive-search`` method) checks
every subset of size 1, 2, ... until one changes the target. Where it
finishes, it gives the exact minimum size; where its budget or ``max_size``
stops it first, it still proves a lower bound: every smaller set was checked
and none changed the target. :func:`size_against_minimum` places another
method's verified set against that.

Examples
--------
>>> size_against_minimum(1, at_least=1, exact=1), size_against_minimum(3, at_least=1, exact=2)
('at-minimum', 'above-minimum')
"""

from __future__ import annotations

__all__ = ["MINIMUM_VERDICTS", "size_against_minimum"]

#: Values of :func:`size_against_minimum`.
MINIMUM_VERDICTS = ("at-minimum", "above-minimum", "unknown", "no-set")


def size_against_minimum(size: int | None, at_least: int | None, exact: int | None) -> str:
    """``at-minimum``, ``above-minimum``, ``unknown`` or ``no-set`` for a verified set of ``size`` members.

    ``at_least``: every removal smaller than this was checked by the exhaustive
    search and none changed the target; ``exact``: the smallest size it found
    (None: it found none within its limits). A verified set of size
    ``at_least`` is therefore minimal even when the search stopped before
    finding one.

    Examples
    --------
    >>> size_against_minimum(3, at_least=3, exact=None), size_against_minimum(4, at_least=3, exact=None)
    ('at-minimum', 'unknown')
    >>> size_against_minimum(None, at_least=1, exact=1)
    'no-set'
    """
    if size is None:
        return "no-set"
    if exact is not None:
        return "at-minimum" if size <= exact else "above-minimum"
    if at_least is not None and size <= at_least:
        return "at-minimum"
    return "unknown"
