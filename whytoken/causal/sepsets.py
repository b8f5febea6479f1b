"""Separating sets of node-index pairs, stored as arrays: cheap for the many sets a learner level removes.

A constraint-based learner records, for every pair it separates, the
conditioning set that made the pair independent; the orientation rules then
ask "is ``b`` in the separating set of ``a`` and ``c``?" for many triples
at once. :class:`SepsetTable` keeps the sets in an id matrix plus a padded
member matrix, so thousands are added in one call and membership queries are
vectorised (:meth:`SepsetTable.separates_many`).

Examples
--------
>>> from whytoken.causal.sepsets import SepsetTable
>>> t = SepsetTable(3)
>>> t.add(0, 2, [1])
>>> t.separates_many([0, 0], [2, 2], [1, 0]).tolist(), t.get((0, 1))
([1, 0], None)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Iterable, Iterator

import numpy as np

__all__ = ["SepsetTable"]


class SepsetTable(Mapping):
    """Separating sets of node-index pairs, stored as arrays (cheap for the many sets a level removes).

    A read-only :class:`~collections.abc.Mapping` from ``(i, j)`` with
    ``i < j`` to a ``frozenset`` of indices. Sets live in an id matrix plus
    a padded member matrix, so learners can add thousands at once and rules
    can query membership vectorised. Iteration yields ``(i, j)`` with
    ``i < j``; lookups accept either order.

    Examples
    --------
    >>> t = SepsetTable(4)
    >>> t.add_empty([0], [1]); t.add(1, 3, (0, 2))
    >>> t.get((0, 1)), t[(1, 3)], t.get((0, 2)), len(t)
    (frozenset(), frozenset({0, 2}), None, 2)
    """

    def __init__(self, n: int) -> None:
        self._ids = np.full((n, n), -1, dtype=np.int32)  # -1: none, 0: the empty set, k: row k
        self._blocks: list[np.ndarray] = [np.empty((1, 0), dtype=np.intp)]
        self._count = 1
        self._members: np.ndarray | None = None

    def add_empty(self, xs: Iterable[int], ys: Iterable[int]) -> None:
        """Record the empty set for every pair ``(xs[k], ys[k])``."""
        xs, ys = np.asarray(xs, dtype=np.intp), np.asarray(ys, dtype=np.intp)
        self._ids[xs, ys] = 0
        self._ids[ys, xs] = 0

    def add(self, x: int, y: int, sep: Iterable[int]) -> None:
        """Record ``sep`` for the pair ``(x, y)``."""
        members = sorted({int(v) for v in sep})
        if not members:
            self.add_empty([x], [y])
            return
        self.add_many([x], [y], np.asarray([members], dtype=np.intp))

    def add_many(self, xs: Iterable[int], ys: Iterable[int], sets: np.ndarray) -> None:
        """Record ``sets[k]`` (rows of one length; -1 pads) for every pair ``(xs[k], ys[k])``."""
        xs, ys = np.asarray(xs, dtype=np.intp), np.asarray(ys, dtype=np.intp)
        if xs.size == 0:
            return
        sets = np.asarray(sets, dtype=np.intp).reshape(xs.size, -1)
        if sets.shape[1] == 0:
            self.add_empty(xs, ys)
            return
        ids = np.arange(self._count, self._count + xs.size, dtype=np.int32)
        self._ids[xs, ys] = ids
        self._ids[ys, xs] = ids
        self._blocks.append(sets)
        self._count += xs.size
        self._members = None

    def _matrix(self) -> np.ndarray:
        """All sets as one (count, width) matrix padded with -1."""
        if self._members is None:
            width = max(b.shape[1] for b in self._blocks)
            out = np.full((self._count, max(width, 1)), -1, dtype=np.intp)
            row = 0
            for b in self._blocks:
                out[row : row + b.shape[0], : b.shape[1]] = b
                row += b.shape[0]
            self._members = out
        return self._members

    def separates_many(self, xs: np.ndarray, ys: np.ndarray, zs: np.ndarray) -> np.ndarray:
        """Per k: 1 if ``zs[k]`` is in the separating set of ``(xs[k], ys[k])``, 0 if not, -1 if none is known."""
        ids = self._ids[xs, ys]
        out = np.where(ids < 0, -1, 0).astype(np.int8)
        sel = np.flatnonzero(ids > 0)
        if sel.size:
            rows = self._matrix()[ids[sel]]
            out[sel] = (rows == np.asarray(zs)[sel, None]).any(axis=1)
        return out

    def get(self, key: tuple[int, int], default: Any = None) -> Any:
        k = self._ids[key[0], key[1]]
        if k < 0:
            return default
        if k == 0:
            return frozenset()
        row = self._matrix()[k]
        return frozenset(row[row >= 0].tolist())

    def __getitem__(self, key: tuple[int, int]) -> frozenset[int]:
        out = self.get(key)
        if out is None:
            raise KeyError(key)
        return out

    def __contains__(self, key: object) -> bool:
        try:
            return self.get(key) is not None  # type: ignore[arg-type]
        except (TypeError, IndexError, ValueError):
            return False

    def __iter__(self) -> Iterator[tuple[int, int]]:
        xs, ys = np.nonzero(np.triu(self._ids >= 0, 1))
        return iter(zip(xs.tolist(), ys.tolist()))

    def __len__(self) -> int:
        return int(np.count_nonzero(np.triu(self._ids >= 0, 1)))
