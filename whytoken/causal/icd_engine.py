"""The ICD engine behind the ``icd`` and ``ordered-icd`` learners: levels, removals, re-orientation.

One :class:`ICDRun` learns one graph over local node indices ``0 .. n-1``
(the caller's nodes sorted by value, so nothing depends on how they were
listed). The graph is an ``int8`` mark matrix; separating sets live in a
:class:`~whytoken.causal.sepsets.SepsetTable`.

Levels
------
* **Level 0** tests every pair marginally.
* **Level 1** tests every edge ``x *-* y`` given each single node ``z``
  adjacent to ``x`` or ``y`` (with a causal order: earlier than the later of
  the two). ICD-Sep's third condition (``z`` a possible ancestor of ``x`` or
  ``y``) is read here with the only ancestral knowledge that does not come
  from the level-0 decisions themselves: every node is a possible ancestor
  without an order, every node earlier than the later endpoint with one. See
  :mod:`whytoken.causal.icd` ("Level 1") for why.
* **Levels r >= 2** test the ICD-Sep sets of size ``r``
  (:mod:`whytoken.causal.icd_sep`) in the graph oriented after level ``r-1``.

Every level decides all its tests against the graph as it stood at the start
of the level and applies the removals together; each removed edge keeps its
largest-p separating set (ties: see :meth:`ICDRun._remove`). The graph is
re-oriented from the background marks only when a level needs the marks (or
at the end), so the level-0 graph, which level 1 does not read, is never
oriented.

Fast paths
----------
With a :class:`~whytoken.causal.ci_tests.PartialCorrelationTest`, levels 0
and 1 run on the correlation matrix (:mod:`whytoken.causal.evidence`, no
triples listed); :func:`whytoken.causal.layer.learn_layer` computes them for
all heads of a layer at once and hands each run its share
(:class:`Precomputed`). Other tests with ``test_batch`` (the d-separation
oracle) get whole levels in bulk; the rest are asked one triple at a time.
All paths give the same graph.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Hashable, Iterator, Sequence

import numpy as np

from whytoken.causal import evidence
from whytoken.causal.base import CITest
from whytoken.causal.ci_tests import PartialCorrelationTest
from whytoken.causal.icd_sep import icd_sep_candidates, possible_ancestors
from whytoken.causal.orientation import ARROW, ARROWHEAD_RULES, CIRCLE, apply_rules, orient
from whytoken.causal.sep_growth import SetCache
from whytoken.causal.sepsets import SepsetTable

__all__ = ["ICDRun", "Precomputed", "Tester", "LabelledSepsets", "TIE_RTOL"]

logger = logging.getLogger(__name__)

#: p-values within this relative distance of an edge's largest one count as tied.
TIE_RTOL = 1e-9
#: CI tests per batched call (bounds the memory of a level on dense graphs).
_CHUNK = 1 << 20


class Tester:
    """Runs CI tests on local node indices, batched when the CI test supports it."""

    def __init__(self, ci_test: CITest, nodes: Sequence[Hashable]) -> None:
        self.ci_test = ci_test
        self.nodes = list(nodes)
        self.batched = callable(getattr(ci_test, "test_batch", None))
        self.n_ci = len(ci_test.nodes)
        if self.batched:
            position = {node: i for i, node in enumerate(ci_test.nodes)}
            self.pos = np.array([position[n] for n in self.nodes], dtype=np.intp)
        # the correlation fast path: only for the class whose arithmetic evidence.py reproduces
        self.correlation: np.ndarray | None = None
        if isinstance(ci_test, PartialCorrelationTest) and type(ci_test).test_batch is PartialCorrelationTest.test_batch:
            self.correlation = ci_test.correlation[np.ix_(self.pos, self.pos)]

    def count(self, k: int) -> None:
        """Add ``k`` tests run outside the CI test (the fast path) to its counter."""
        self.ci_test.n_tests += int(k)

    def __call__(self, xs: np.ndarray, ys: np.ndarray, zs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """p-values and independence decisions for the triples (xs[k], ys[k], zs[k])."""
        if xs.size == 0:
            return np.empty(0), np.empty(0, dtype=bool)
        if self.batched:
            _, p, indep = self.ci_test.test_batch(self.pos[xs], self.pos[ys], self.pos[zs])
            return np.asarray(p, dtype=np.float64), np.asarray(indep, dtype=bool)
        p = np.empty(xs.size)
        indep = np.empty(xs.size, dtype=bool)
        nodes = self.nodes
        for k in range(xs.size):
            res = self.ci_test.test(nodes[xs[k]], nodes[ys[k]], [nodes[z] for z in zs[k]])
            p[k] = res.p_value
            indep[k] = res.independent
        return p, indep


@dataclass(frozen=True)
class Precomputed:
    """Levels 0 and 1 of one head computed elsewhere (by :func:`whytoken.causal.layer.learn_layer`).

    ``adjacency0`` is the graph after level 0 and ``hits1`` the level-1
    outcome, both over the run's local indices; ``n_tests0``/``n_tests1``
    are the tests they stand for.
    """

    adjacency0: np.ndarray
    hits1: evidence.Level1Hits | None
    n_tests0: int


class ICDRun:
    """One ICD run over local indices ``0 .. n-1`` (``rank``: position in the causal order, or None)."""

    def __init__(
        self,
        tester: Tester,
        n: int,
        rank: np.ndarray | None,
        max_cond_size: int | None,
        selection_bias: bool,
        tail_completeness: bool,
        tie_key: list[Any],
    ) -> None:
        self.test = tester
        self.n = n
        self.rank = rank
        self.max_cond_size = max_cond_size
        self.selection_bias = selection_bias
        self.tail_completeness = tail_completeness
        self.tie_key = tie_key  # per local index: a value-based sort key for tie-breaking
        self.adj = ~np.eye(n, dtype=bool)
        self.sepsets = SepsetTable(n)  # what orientation reads
        self.reported: dict[tuple[int, int], tuple[int, ...]] = {}  # where that differs from the reported set
        self._marks: np.ndarray | None = None  # None: stale, re-orient before reading
        self.level_times: list[float] = []
        self._tie_ranks: np.ndarray | None = None
        self._set_cache = SetCache()  # each root's ICD-Sep sets of the last level, grown by one at the next

    # ------------------------------------------------------------------ marks
    def _base_marks(self) -> np.ndarray:
        m = np.where(self.adj, CIRCLE, 0).astype(np.int8)
        if self.rank is not None:
            later = self.rank[None, :] > self.rank[:, None]  # [i, j]: j comes after i
            m[self.adj & later] = ARROW
        return m

    @property
    def marks(self) -> np.ndarray:
        """The graph oriented with R0-R4 from the background marks (computed when first read after a change)."""
        if self._marks is None:
            self._marks = orient(self._base_marks(), self.sepsets, selection_bias=self.selection_bias,
                                 tail_completeness=self.tail_completeness, final=False)
        return self._marks

    def _finalize(self) -> np.ndarray:
        extra: tuple[int, ...] = ()
        if self.selection_bias:
            extra += (5, 6, 7)
        if self.tail_completeness:
            extra += (8, 9, 10)
        marks = self.marks
        if extra:
            marks = apply_rules(marks, self.sepsets, ARROWHEAD_RULES + extra)
        return marks

    # ------------------------------------------------------------------ levels
    def run(self, pre: Precomputed | None = None) -> np.ndarray:
        """Learn; return the final mark matrix."""
        t0 = time.perf_counter()
        self._level0(pre)
        self.level_times.append(time.perf_counter() - t0)
        r = 1
        while self.max_cond_size is None or r <= self.max_cond_size:
            t0 = time.perf_counter()
            n_tested, removed = self._level1(pre) if r == 1 else self._level(r)
            self.level_times.append(time.perf_counter() - t0)
            logger.debug("ICD level %d: %d tests, %d edges removed", r, n_tested, removed)
            if n_tested == 0:
                break
            r += 1
        t0 = time.perf_counter()
        marks = self._finalize()
        self.level_times[-1] += time.perf_counter() - t0
        return marks

    def _level0(self, pre: Precomputed | None) -> None:
        n = self.n
        if pre is not None:
            adj0 = np.asarray(pre.adjacency0, dtype=bool)
            self.test.count(pre.n_tests0)
        elif self.test.correlation is not None:
            ci = self.test.ci_test
            adj0 = evidence.level0(self.test.correlation, n_samples=ci.n_samples, alpha=ci.alpha)[0]
            self.test.count(n * (n - 1) // 2)
        else:
            xs, ys = (v.astype(np.intp) for v in np.triu_indices(n, 1))
            _, indep = self.test(xs, ys, np.empty((xs.size, 0), dtype=np.intp))
            adj0 = self.adj.copy()
            adj0[xs[indep], ys[indep]] = False
            adj0[ys[indep], xs[indep]] = False
        xs, ys = np.nonzero(np.triu(self.adj & ~adj0, 1))
        self.sepsets.add_empty(xs, ys)
        self.adj &= adj0
        self._marks = None
        logger.debug("ICD level 0: %d edges left", int(self.adj.sum()) // 2)

    def _level1(self, pre: Precomputed | None) -> tuple[int, int]:
        """Every edge given each single node adjacent to either end (earlier than the later end, with an order)."""
        if not np.triu(self.adj, 1).any():
            return 0, 0
        if pre is not None and pre.hits1 is not None:
            hits = pre.hits1
            self.test.count(hits.n_tests)
        elif self.test.correlation is not None:
            hits = self._level1_correlation()
            self.test.count(hits.n_tests)
        else:
            return self._level_listed(self._order1_triples())
        if hits.n_tests == 0:
            return 0, 0
        removed = self._remove(hits.x, hits.y, hits.z.reshape(-1, 1), hits.p_value)
        return hits.n_tests, removed

    def _level1_correlation(self) -> evidence.Level1Hits:
        ci = self.test.ci_test
        corr, adj = self.test.correlation, self.adj
        if self.rank is None:
            return evidence.level1(corr, adj, n_samples=ci.n_samples, alpha=ci.alpha, tie_rtol=TIE_RTOL)[0]
        perm = np.argsort(self.rank, kind="stable")  # local indices in causal order
        hits = evidence.level1(corr[np.ix_(perm, perm)], adj[np.ix_(perm, perm)], n_samples=ci.n_samples,
                               alpha=ci.alpha, ordered=True, tie_rtol=TIE_RTOL)[0]
        a, b, z = perm[hits.x], perm[hits.y], perm[hits.z]
        return evidence.Level1Hits(np.minimum(a, b), np.maximum(a, b), z, hits.p_value, hits.n_tests)

    def _order1_triples(self) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Level-1 candidates listed as triples, in chunks (CI tests without the correlation fast path)."""
        ex, ey = self._edges()
        adj = self.adj
        step = max(1, _CHUNK // max(1, self.n))
        for start in range(0, ex.size, step):
            x, y = ex[start : start + step], ey[start : start + step]
            mask = adj[x] | adj[y]
            if self.rank is not None:
                mask &= self.rank[None, :] < np.maximum(self.rank[x], self.rank[y])[:, None]
            mask[np.arange(x.size), x] = False
            mask[np.arange(x.size), y] = False
            e, z = np.nonzero(mask)
            if e.size:
                yield x[e], y[e], z.astype(np.intp).reshape(-1, 1)

    def _level(self, r: int) -> tuple[int, int]:
        """Level ``r >= 2``: the ICD-Sep sets of size ``r`` in the graph oriented after level ``r - 1``."""
        ex, ey = self._edges()
        if ex.size == 0:
            return 0, 0
        marks = self.marks
        pa = possible_ancestors(self.adj, marks)
        chunks = icd_sep_candidates(self.adj, marks, pa, self.rank, ex, ey, r, _CHUNK, self._set_cache)
        return self._level_listed(chunks)

    def _level_listed(self, chunks: Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> tuple[int, int]:
        n_tested = 0
        hits: list[tuple[np.ndarray, ...]] = []
        for ex, ey, zs in chunks:
            p, indep = self.test(ex, ey, zs)
            n_tested += ex.size
            if indep.any():
                hits.append((ex[indep], ey[indep], zs[indep], p[indep]))
        removed = 0
        if hits:
            hx, hy, hz, hp = (np.concatenate(v) for v in zip(*hits))
            removed = self._remove(hx, hy, hz, hp)
        return n_tested, removed

    def _remove(self, hx: np.ndarray, hy: np.ndarray, zs: np.ndarray, hp: np.ndarray) -> int:
        """Remove every edge with an independent test; its separating set is the one of largest p-value.

        Ties in that p-value (duplicated variables make them; rounding is
        absorbed by a relative tolerance of ``TIE_RTOL``) are broken
        by node value for the reported set, but orientation must not depend
        on that choice, so it reads the union of the tied sets: a node in any
        of them counts as separating. With a perfect oracle every separating
        set of an unshielded or discriminated triple agrees on its middle
        node, so the union changes nothing there.
        """
        if hx.size == 0:
            return 0
        key = hx.astype(np.int64) * self.n + hy
        order = np.lexsort((-hp, key))  # by edge, then largest p first
        key_s, p_s = key[order], hp[order]
        first = np.ones(order.size, dtype=bool)
        first[1:] = key_s[1:] != key_s[:-1]
        group = np.cumsum(first) - 1
        top = p_s[first]
        # p-values equal up to rounding tie: permuting nodes permutes the arithmetic of a solve
        tied = p_s >= top[group] * (1.0 - TIE_RTOL)
        n_tied = np.bincount(group, weights=tied)
        starts = np.flatnonzero(first)
        xs, ys = hx[order[starts]], hy[order[starts]]
        self.adj[xs, ys] = False
        self.adj[ys, xs] = False
        self._marks = None
        single = n_tied == 1
        self.sepsets.add_many(xs[single], ys[single], zs[order[starts[single]]])
        multi = np.flatnonzero(~single)
        if multi.size:
            self._add_tied(xs[multi], ys[multi], order, starts[multi], n_tied[multi].astype(np.intp), zs)
        return int(starts.size)

    def _add_tied(self, xs: np.ndarray, ys: np.ndarray, order: np.ndarray, starts: np.ndarray, counts: np.ndarray,
                  zs: np.ndarray) -> None:
        """Edges whose largest p-value is tied: the union of the tied sets for orientation, the least by node value
        (sorted tie keys, compared lexicographically) as the reported set. Vectorised over the edges."""
        gid = np.repeat(np.arange(xs.size), counts)
        offset = np.arange(gid.size) - np.repeat(np.cumsum(counts) - counts, counts)
        tied = zs[order[starts[gid] + offset]]  # (tied sets, r), grouped by edge
        union = np.unique(np.repeat(gid, tied.shape[1]).astype(np.int64) * self.n + tied.reshape(-1))
        ug, uv = union // self.n, union % self.n
        size = np.bincount(ug, minlength=xs.size)
        padded = np.full((xs.size, int(size.max())), -1, dtype=np.intp)
        padded[ug, np.arange(union.size) - np.repeat(np.cumsum(size) - size, size)] = uv
        self.sepsets.add_many(xs, ys, padded)
        ranks = np.sort(self._tie_rank()[tied], axis=1)
        pick = np.lexsort(tuple(ranks[:, c] for c in reversed(range(ranks.shape[1]))) + (gid,))
        least = pick[np.concatenate([[True], gid[pick][1:] != gid[pick][:-1]])]
        self.reported.update(zip(zip(xs.tolist(), ys.tolist()), map(tuple, tied[least].tolist())))

    def _tie_rank(self) -> np.ndarray:
        """Each local index's rank under its tie key (comparing ranks compares the keys)."""
        if self._tie_ranks is None:
            ranked = sorted(range(self.n), key=lambda i: self.tie_key[i])
            self._tie_ranks = np.empty(self.n, dtype=np.intp)
            self._tie_ranks[ranked] = np.arange(self.n)
        return self._tie_ranks

    def _edges(self) -> tuple[np.ndarray, np.ndarray]:
        xs, ys = np.nonzero(np.triu(self.adj, 1))
        return xs.astype(np.intp), ys.astype(np.intp)


class LabelledSepsets(Mapping):
    """``frozenset({u, v}) -> tuple`` of node labels, read lazily from a :class:`SepsetTable`."""

    def __init__(
        self, table: SepsetTable, labels: list[Hashable], reported: dict[tuple[int, int], tuple[int, ...]]
    ) -> None:
        self._table = table
        self._labels = labels
        self._reported = reported
        self._index = {v: i for i, v in enumerate(labels)}

    def __getitem__(self, key: frozenset) -> tuple:
        try:
            u, v = tuple(key)
            i, j = self._index[u], self._index[v]
        except (TypeError, ValueError, KeyError):
            raise KeyError(key) from None
        pair = (min(i, j), max(i, j))
        sep = self._reported.get(pair)
        if sep is None:
            sep = self._table.get(pair)
        if sep is None:
            raise KeyError(key)
        return tuple(self._labels[k] for k in sorted(sep))

    def __iter__(self) -> Iterator[frozenset]:
        labels = self._labels
        return (frozenset((labels[i], labels[j])) for i, j in self._table)

    def __len__(self) -> int:
        return len(self._table)

    def __repr__(self) -> str:
        return f"<{len(self)} separating sets>"
