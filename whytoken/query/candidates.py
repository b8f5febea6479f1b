"""Ranking candidate explaining sets from a PDS-tree.

A head's PDS-tree, rooted at the target token, orders the other tokens by
how directly they can influence the target in the learned graph: depth 1 are
the target's neighbours, depth 2 the nodes reached through them on possible
d-separating paths, and so on. Candidate explaining sets of a given size are
drawn from the tree's nodes and ranked *nearest first*:

1. the largest member depth (a set is only as close as its farthest member),
2. the sum of member depths,
3. the largest member p-value against the target (the weakest dependence;
   smaller is stronger),
4. the member positions (a deterministic tie-break).

:func:`rank_candidate_sets` returns the best ``limit`` sets of one size
under that key; when a pool is so large that its combinations exceed
:data:`ENUMERATION_LIMIT`, they are drawn from the best-ranked nodes only.

Examples
--------
>>> depth = {10: 0, 3: 1, 7: 1, 5: 2}
>>> p = {3: 0.001, 7: 0.01, 5: 0.02}
>>> [c.positions for c in rank_candidate_sets(depth, p, removable={3, 5, 7}, size=1)]
[(3,), (7,), (5,)]
>>> [c.positions for c in rank_candidate_sets(depth, p, removable={3, 5, 7}, size=2)]
[(3, 7), (3, 5), (5, 7)]
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Collection, Mapping

from whytoken.errors import InvalidParameterError

__all__ = ["RankedSet", "rank_candidate_sets", "n_subsets_up_to", "ENUMERATION_LIMIT"]

#: Most combinations materialised per (head, size) before the node pool is narrowed.
ENUMERATION_LIMIT = 50_000


@dataclass(frozen=True, order=True)
class RankedSet:
    """A candidate set with its ranking key (compare to sort nearest-first).

    Attributes
    ----------
    pds_distance : int
        Largest member depth in the PDS-tree.
    depth_sum : int
        Sum of member depths.
    max_p_value : float
        Largest member p-value against the target (1.0 when unknown).
    positions : tuple of int
        Member positions, sorted.
    """

    pds_distance: int
    depth_sum: int
    max_p_value: float
    positions: tuple[int, ...]

    @property
    def key(self) -> tuple:
        """The ranking key; smaller ranks first."""
        return (self.pds_distance, self.depth_sum, self.max_p_value, self.positions)


def _p(p_values: Mapping[int, float], node: int) -> float:
    value = p_values.get(node)
    return 1.0 if value is None or math.isnan(value) else float(value)


def rank_candidate_sets(
    depth: Mapping[int, int],
    p_values: Mapping[int, float],
    removable: Collection[int],
    size: int,
    limit: int | None = None,
) -> list[RankedSet]:
    """The best-ranked candidate sets of ``size`` nodes from one PDS-tree.

    Parameters
    ----------
    depth : mapping of int -> int
        Node -> distance from the target (the root has depth 0 and is never a member).
    p_values : mapping of int -> float
        Node -> p-value of its test against the target (missing: 1.0).
    removable : collection of int
        Nodes allowed in a set (others in ``depth`` are skipped).
    size : int
        Set size (>= 1).
    limit : int, optional
        Return at most this many sets (None: all of them).

    Returns
    -------
    list of RankedSet
        Sorted nearest first.
    """
    if size < 1:
        raise InvalidParameterError(f"candidate set size must be >= 1, got {size}")
    allowed = set(removable)
    pool = sorted((n for n, d in depth.items() if d > 0 and n in allowed),
                  key=lambda n: (depth[n], _p(p_values, n), n))
    if len(pool) < size:
        return []
    # The pool is sorted by (depth, p-value), so combinations of its best
    # nodes rank first; when listing every combination would be too costly we
    # keep the longest prefix of the pool whose combinations fit the limit.
    n_use = len(pool)
    while n_use > size and math.comb(n_use, size) > ENUMERATION_LIMIT:
        n_use -= 1
    keys = []
    for combo in itertools.combinations(pool[:n_use], size):
        depths = [depth[n] for n in combo]
        keys.append((max(depths), sum(depths), max(_p(p_values, n) for n in combo), tuple(sorted(combo))))
    keys.sort()
    if limit is not None:
        keys = keys[:limit]
    return [RankedSet(*k) for k in keys]


def n_subsets_up_to(n: int, k: int) -> int:
    """Number of non-empty subsets of ``n`` items with at most ``k`` members.

    This is the number of interventions an exhaustive search needs to find
    every minimal explaining set of size ``k``.

    Examples
    --------
    >>> n_subsets_up_to(5, 2)
    15
    """
    return sum(math.comb(n, r) for r in range(1, min(n, k) + 1))
