"""Iterative Causal Discovery (ICD) and its causal-order variant, as registered learners.

ICD (Rohekar, Nisimov, Gurwicz & Novik, NeurIPS 2021, "Iterative Causal
Discovery in the Possible Presence of Latent Confounders and Selection Bias")
learns a PAG like FCI, sound and complete, but with small conditioning sets
drawn near the tested pair. It starts from the complete ``o-o`` graph and, for
``r = 0, 1, 2, ...``:

1. tests every remaining edge ``x *-* y`` given the conditioning sets ``Z``
   that satisfy **ICD-Sep** in the current graph: ``|Z| = r``; every node of
   ``Z`` is reached from ``x`` (or, symmetrically, from ``y``) by a
   possible-d-separating path all of whose nodes lie in ``Z``; and every node
   of ``Z`` is a possible ancestor of ``x`` or ``y``;
2. removes the edge when some ``Z`` makes the pair independent and records
   that ``Z`` as the separating set;
3. re-orients the graph from circles with R0 (unshielded colliders) and
   R1-R4 (see :mod:`whytoken.causal.orientation`).

It stops when no edge has an ICD-Sep set of the next size (or at
``max_cond_size``) and then applies R8-R10 (and R5-R7 with
``selection_bias=True``).

**Order independence.** The result does not depend on how nodes are listed or
labelled: all tests of a level are decided against the graph as it was at the
start of the level and applied together (as PC-stable does); every ICD-Sep
set of the level is tested and the separating set kept is the one with the
largest p-value (ties, which only an oracle produces, by node value); the
orientation rules run in order-free rounds.

**ordered-icd** takes a causal order (for a decoder: the token order). Only
``earlier o-> later`` edges exist at the start (a later token cannot cause an
earlier one), conditioning sets use only nodes earlier than the later node of
the pair, and every re-orientation starts from those arrowheads. It needs
``order``; without one it raises :class:`~whytoken.errors.InvalidOrderError`
rather than guess from the listing order.

**Speed.** The graph is an ``int8`` mark matrix while learning and
separating sets live in arrays (:class:`~whytoken.causal.orientation.SepsetTable`).
Level 0 tests all pairs in one vectorised call; level 1 screens every
(edge, z) candidate over whole correlation rows when the CI test offers
``screen_order1`` (:class:`~whytoken.causal.ci_tests.PartialCorrelationTest`
does), and higher levels batch every candidate set of the level into
``test_batch`` calls when the test has one
(:class:`~whytoken.causal.base.BatchCITest`); other tests are called one
triple at a time, with the same results. ICD-Sep sets are grown once per
root rather than filtered from all subsets, and the orientation rules switch
to boolean matrix products on dense graphs. On peaky attention (the
``benchmarks/structure.py`` defaults) a 640-token head takes well under a
second on one core.

Examples
--------
>>> import networkx as nx
>>> from whytoken.causal import DSeparationOracle, learn_pag
>>> dag = nx.DiGraph([("a", "c"), ("b", "c"), ("L", "c"), ("L", "d")])
>>> oracle = DSeparationOracle(dag, observed=["a", "b", "c", "d"])
>>> print(learn_pag(oracle, ["a", "b", "c", "d"], method="icd").pag.describe())
a o-> c
b o-> c
c <-o d
>>> res = learn_pag(oracle, ["a", "b", "c", "d"], method="ordered-icd", order=["a", "b", "c", "d"])
>>> print(res.pag.describe())
a o-> c
b o-> c
c <-> d
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any, Hashable, Iterator, Sequence

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import shortest_path

from whytoken.causal.base import CITest, LearnResult, Learner, check_order, register_learner
from whytoken.causal.orientation import ARROW, ARROWHEAD_RULES, CIRCLE, TAIL, SepsetTable, apply_rules, orient
from whytoken.errors import InvalidOrderError, InvalidParameterError
from whytoken.graphs import PAG, node_sort_key

__all__ = ["ICD", "OrderedICD"]

logger = logging.getLogger(__name__)

#: p-values within this relative distance of an edge's largest one count as tied.
_TIE_RTOL = 1e-9
#: CI tests per batched call (bounds the memory of a level on dense graphs).
_CHUNK = 1 << 20


# ---------------------------------------------------------------------------------------------- CI access
class _Tester:
    """Runs CI tests on local node indices, batched when the CI test supports it."""

    def __init__(self, ci_test: CITest, nodes: Sequence[Hashable]) -> None:
        self.ci_test = ci_test
        self.nodes = list(nodes)
        self.batched = callable(getattr(ci_test, "test_batch", None))
        self.screens = self.batched and callable(getattr(ci_test, "screen_order1", None))
        self.n_ci = len(ci_test.nodes)
        if self.batched:
            position = {node: i for i, node in enumerate(ci_test.nodes)}
            self.pos = np.array([position[n] for n in self.nodes], dtype=np.intp)

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

    def screen_order1(
        self, xs: np.ndarray, ys: np.ndarray, cand: np.ndarray, tie_rtol: float
    ) -> tuple[np.ndarray, ...]:
        """Through the CI test's ``screen_order1`` (local indices in and out)."""
        wide = np.zeros((xs.size, self.n_ci), dtype=bool)
        wide[:, self.pos] = cand
        k, z_pos, p = self.ci_test.screen_order1(self.pos[xs], self.pos[ys], wide, tie_rtol)
        local = np.full(self.n_ci, -1, dtype=np.intp)
        local[self.pos] = np.arange(self.pos.size)
        return k, local[z_pos], p


# ---------------------------------------------------------------------------------------------- engine
class _ICDRun:
    """One ICD run over local indices ``0 .. n-1`` (``rank``: position in the causal order, or None)."""

    def __init__(
        self,
        tester: _Tester,
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
        self.marks = self._base_marks()
        self.level_times: list[float] = []

    # ------------------------------------------------------------------ marks
    def _base_marks(self) -> np.ndarray:
        m = np.where(self.adj, CIRCLE, 0).astype(np.int8)
        if self.rank is not None:
            later = self.rank[None, :] > self.rank[:, None]  # [i, j]: j comes after i
            m[self.adj & later] = ARROW
        return m

    def _orient(self, final: bool) -> None:
        self.marks = orient(
            self._base_marks(), self.sepsets, selection_bias=self.selection_bias,
            tail_completeness=self.tail_completeness, final=final,
        )

    def _finalize(self) -> None:
        extra: tuple[int, ...] = ()
        if self.selection_bias:
            extra += (5, 6, 7)
        if self.tail_completeness:
            extra += (8, 9, 10)
        if extra:
            self.marks = apply_rules(self.marks, self.sepsets, ARROWHEAD_RULES + extra)

    # ------------------------------------------------------------------ levels
    def run(self) -> None:
        n = self.n
        t0 = time.perf_counter()
        xs, ys = np.triu_indices(n, 1)
        xs, ys = xs.astype(np.intp), ys.astype(np.intp)
        _, indep = self.test(xs, ys, np.empty((xs.size, 0), dtype=np.intp))
        self.sepsets.add_empty(xs[indep], ys[indep])
        self.adj[xs[indep], ys[indep]] = False
        self.adj[ys[indep], xs[indep]] = False
        self._orient(final=False)
        self.level_times.append(time.perf_counter() - t0)
        logger.debug("ICD level 0: %d tests, %d edges left", xs.size, int(self.adj.sum()) // 2)

        r = 1
        while self.max_cond_size is None or r <= self.max_cond_size:
            t0 = time.perf_counter()
            n_tested = 0
            hits: list[tuple[np.ndarray, ...]] = []
            # candidates come in chunks so that memory stays bounded on dense graphs
            if r == 1 and self.test.screens:
                # whole rows at once; only the independent tests that can be chosen come back
                for x, y, cand in self._order1_masks():
                    k, z, p = self.test.screen_order1(x, y, cand, _TIE_RTOL)
                    n_tested += int(cand.sum())
                    if k.size:
                        hits.append((x[k], y[k], z.reshape(-1, 1), p))
            else:
                for ex, ey, zs in self._candidates(r):
                    p, indep = self.test(ex, ey, zs)
                    n_tested += ex.size
                    if indep.any():
                        hits.append((ex[indep], ey[indep], zs[indep], p[indep]))
            if n_tested == 0:
                self.level_times.append(time.perf_counter() - t0)
                break
            removed = 0
            if hits:
                hx, hy, hz, hp = (np.concatenate(v) for v in zip(*hits))
                removed = self._remove(hx, hy, hz, hp, np.ones(hx.size, dtype=bool))
            if removed:
                self._orient(final=False)
            self.level_times.append(time.perf_counter() - t0)
            logger.debug("ICD level %d: %d tests, %d edges removed", r, n_tested, removed)
            r += 1
        t0 = time.perf_counter()
        self._finalize()
        self.level_times[-1] += time.perf_counter() - t0

    def _remove(self, ex: np.ndarray, ey: np.ndarray, zs: np.ndarray, p: np.ndarray, indep: np.ndarray) -> int:
        """Remove every edge with an independent candidate; its separating set is the one of largest p-value.

        Ties in that p-value (duplicated variables make them; rounding is
        absorbed by a relative tolerance of ``_TIE_RTOL``) are broken
        by node value for the reported set, but orientation must not depend
        on that choice, so it reads the union of the tied sets: a node in any
        of them counts as separating. With a perfect oracle every separating
        set of an unshielded or discriminated triple agrees on its middle
        node, so the union changes nothing there.
        """
        hits = np.flatnonzero(indep)
        if hits.size == 0:
            return 0
        hx, hy, hp = ex[hits], ey[hits], p[hits]
        key = hx.astype(np.int64) * self.n + hy
        order = np.lexsort((-hp, key))  # by edge, then largest p first
        key_s, p_s = key[order], hp[order]
        first = np.ones(order.size, dtype=bool)
        first[1:] = key_s[1:] != key_s[:-1]
        group = np.cumsum(first) - 1
        top = p_s[first]
        # p-values equal up to rounding tie: permuting nodes permutes the arithmetic of a solve
        tied = p_s >= top[group] * (1.0 - _TIE_RTOL)
        n_tied = np.bincount(group, weights=tied)
        starts = np.flatnonzero(first)
        xs, ys = hx[order[starts]], hy[order[starts]]
        self.adj[xs, ys] = False
        self.adj[ys, xs] = False
        zs_h = zs[hits]
        single = n_tied == 1
        self.sepsets.add_many(xs[single], ys[single], zs_h[order[starts[single]]])
        for g_idx in np.flatnonzero(~single).tolist():
            x, y = int(xs[g_idx]), int(ys[g_idx])
            members = order[starts[g_idx] : starts[g_idx] + int(n_tied[g_idx])]
            sets = [tuple(v) for v in zs_h[members].tolist()]
            self.sepsets.add(x, y, {v for z in sets for v in z})
            self.reported[(x, y)] = min(sets, key=lambda z: sorted(self.tie_key[v] for v in z))
        return int(starts.size)

    # ------------------------------------------------------------------ ICD-Sep candidates
    def _edges(self) -> tuple[np.ndarray, np.ndarray]:
        xs, ys = np.nonzero(np.triu(self.adj, 1))
        return xs.astype(np.intp), ys.astype(np.intp)

    def _possible_ancestors(self) -> np.ndarray:
        """``pa[z, x]``: a potentially directed path runs from z to x in the current graph."""
        m = self.marks
        n = self.n
        # u -> w is potentially directed: no arrowhead at u, no tail at w
        us, ws = np.nonzero(self.adj & (m.T != ARROW) & (m != TAIL))
        if us.size > 16 * n:  # dense: let scipy search from every node in C
            dist = shortest_path(csr_matrix((np.ones(us.size), (us, ws)), shape=(n, n)), unweighted=True)
            pa = np.isfinite(dist)
            np.fill_diagonal(pa, False)
            return pa
        preds: list[list[int]] = [[] for _ in range(n)]
        for u, w in zip(us.tolist(), ws.tolist()):
            preds[w].append(u)
        rows: list[int] = []
        cols: list[int] = []
        for x in range(n):
            if not preds[x]:
                continue
            seen = {x}
            stack = [x]
            while stack:
                for u in preds[stack.pop()]:
                    if u not in seen:
                        seen.add(u)
                        stack.append(u)
            seen.discard(x)
            rows.extend(seen)
            cols.extend([x] * len(seen))
        pa = np.zeros((n, n), dtype=bool)
        pa[rows, cols] = True
        return pa

    def _candidates(self, r: int) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """The ICD-Sep candidates ``(x, y, Z)`` of level ``r``, in chunks of at most about ``_CHUNK`` tests."""
        if r == 1:  # listed as triples (CI tests without screen_order1)
            for x, y, mask in self._order1_masks():
                e, z = np.nonzero(mask)
                if e.size:
                    yield x[e], y[e], z.astype(np.intp).reshape(-1, 1)
            return
        ex, ey = self._edges()
        if ex.size == 0:
            return
        pa = self._possible_ancestors()
        nb: list[set[int]] = [set() for _ in range(self.n)]
        mk: list[dict[int, int]] = [{} for _ in range(self.n)]
        rows, cols = np.nonzero(self.adj)
        for i, j, mark in zip(rows.tolist(), cols.tolist(), self.marks[rows, cols].tolist()):
            nb[i].add(j)
            mk[i][j] = mark
        # usable[e, z]: z may condition edge e (an allowed possible ancestor of x or y)
        usable = (pa[:, ex] | pa[:, ey]).T
        if self.rank is not None:
            usable &= self.rank[None, :] < np.maximum(self.rank[ex], self.rank[ey])[:, None]
        usable[np.arange(ex.size), ex] = False
        usable[np.arange(ex.size), ey] = False
        edge_usable: list[set[int]] = [set() for _ in range(ex.size)]
        for e, z in zip(*(v.tolist() for v in np.nonzero(usable))):
            edge_usable[e].add(z)
        # legality of a set does not depend on the edge, so enumerate once per root over the
        # union of what its edges may use, then keep, per edge, the sets inside its own mask
        root_usable: dict[int, set[int]] = {}
        for k, (x, y) in enumerate(zip(ex.tolist(), ey.tolist())):
            if len(edge_usable[k]) < r:
                continue
            root_usable.setdefault(x, set()).update(edge_usable[k])
            root_usable.setdefault(y, set()).update(edge_usable[k])
        root_sets = {root: _icd_sep_sets(root, r, allowed, nb, mk) for root, allowed in root_usable.items()}
        out_x: list[int] = []
        out_y: list[int] = []
        out_z: list[tuple[int, ...]] = []
        for k, (x, y) in enumerate(zip(ex.tolist(), ey.tolist())):
            ok = edge_usable[k]
            if len(ok) < r:
                continue
            sets = {z for root in (x, y) for z in root_sets[root] if ok.issuperset(z)}
            for z in sorted(sets):
                out_x.append(x)
                out_y.append(y)
                out_z.append(z)
        for start in range(0, len(out_x), _CHUNK):
            yield (
                np.asarray(out_x[start : start + _CHUNK], dtype=np.intp),
                np.asarray(out_y[start : start + _CHUNK], dtype=np.intp),
                np.asarray(out_z[start : start + _CHUNK], dtype=np.intp).reshape(-1, r),
            )

    def _order1_masks(self) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Edges and their ICD-Sep size-1 candidates as boolean rows, in chunks.

        Size-1 ICD-Sep sets of (x, y): a neighbour of x or y (a PDS path of one
        edge) that is a possible ancestor of x or y (and, with a causal order,
        earlier than the later of the two).
        """
        ex, ey = self._edges()
        if ex.size == 0:
            return
        pa = self._possible_ancestors()
        adj = self.adj
        step = max(1, _CHUNK // max(1, self.n))
        for start in range(0, ex.size, step):
            x, y = ex[start : start + step], ey[start : start + step]
            mask = (adj[x] | adj[y]) & (pa[:, x].T | pa[:, y].T)
            if self.rank is not None:
                mask &= self.rank[None, :] < np.maximum(self.rank[x], self.rank[y])[:, None]
            mask[np.arange(x.size), x] = False
            mask[np.arange(x.size), y] = False
            yield x, y, mask


class _LabelledSepsets(Mapping):
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


# ---------------------------------------------------------------------------------------------- learners
def _check_max_cond_size(value: int | None) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise InvalidParameterError(f"max_cond_size must be an int >= 0 or None (no limit), got {value!r}")
    return int(value)


@register_learner("icd")
class ICD(Learner):
    """Iterative Causal Discovery (see the module docstring).

    Parameters
    ----------
    max_cond_size : int, optional
        Largest conditioning-set size ``r`` (None: run until no edge has an
        ICD-Sep set of the next size).
    selection_bias : bool, default False
        Also apply R5-R7 at the end (selection variables may exist).
    tail_completeness : bool, default True
        Apply R8-R10 at the end.

    Examples
    --------
    >>> import networkx as nx
    >>> from whytoken.causal import DSeparationOracle
    >>> oracle = DSeparationOracle(nx.DiGraph([(0, 2), (1, 2), (2, 3)]))
    >>> res = ICD().learn(oracle, [0, 1, 2, 3])
    >>> print(res.pag.describe())
    0 o-> 2
    1 o-> 2
    2 --> 3
    >>> res.sepsets[frozenset({0, 3})]
    (2,)
    """

    uses_order = False

    def __init__(
        self,
        max_cond_size: int | None = None,
        selection_bias: bool = False,
        tail_completeness: bool = True,
    ) -> None:
        self.max_cond_size = max_cond_size
        self.selection_bias = selection_bias
        self.tail_completeness = tail_completeness

    def _validate(self) -> None:
        _check_max_cond_size(self.max_cond_size)
        for name in ("selection_bias", "tail_completeness"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise InvalidParameterError(f"{name} must be True or False, got {getattr(self, name)!r}")

    def _rank(self, nodes: list[Hashable], order: Sequence[Hashable] | None) -> np.ndarray | None:
        return None

    def learn(
        self,
        ci_test: CITest,
        nodes: Sequence[Hashable],
        order: Sequence[Hashable] | None = None,
    ) -> LearnResult:
        """Learn a PAG over ``nodes`` with ``ci_test`` (``order`` is ignored by ``icd``)."""
        self._validate()
        nodes = list(nodes)
        if len(set(nodes)) != len(nodes):
            raise InvalidParameterError(f"nodes repeat an entry: {nodes[:20]}; pass each node once")
        rank = self._rank(nodes, order)
        # index nodes by value so that nothing depends on the listing order
        local = sorted(nodes, key=node_sort_key)
        where = {v: i for i, v in enumerate(nodes)}
        perm = None if rank is None else rank[[where[v] for v in local]]
        before = int(getattr(ci_test, "n_tests", 0))
        tester = _Tester(ci_test, local)
        run = _ICDRun(
            tester, len(local), perm, _check_max_cond_size(self.max_cond_size),
            bool(self.selection_bias), bool(self.tail_completeness), [node_sort_key(v) for v in local],
        )
        if len(local) >= 2:
            run.run()
        else:
            run.level_times.append(0.0)
        to_local = {v: i for i, v in enumerate(local)}
        idx = np.array([to_local[v] for v in nodes], dtype=np.intp)
        # the caller's node order is kept for display
        pag = PAG.from_mark_matrix(run.marks[np.ix_(idx, idx)], nodes)
        sepsets = _LabelledSepsets(run.sepsets, local, run.reported)
        params: dict[str, Any] = self.get_params()
        for name in ("alpha", "n_samples"):  # the CI test's settings, when it has them
            if hasattr(ci_test, name):
                params[name] = getattr(ci_test, name)
        if order is not None and self.uses_order:
            params["order"] = list(order)
        return LearnResult(
            pag=pag,
            sepsets=sepsets,
            n_tests=int(getattr(ci_test, "n_tests", 0)) - before,
            level_times=tuple(run.level_times),
            method=self.name,
            params=params,
        )


@register_learner("ordered-icd")
class OrderedICD(ICD):
    """ICD given a causal order of the nodes (see the module docstring).

    ``learn`` requires ``order``, a permutation of ``nodes`` from causes to
    effects (token order for decoders).

    Examples
    --------
    >>> import networkx as nx
    >>> from whytoken.causal import DSeparationOracle
    >>> oracle = DSeparationOracle(nx.DiGraph([(0, 1), (1, 2)]))
    >>> print(OrderedICD().learn(oracle, [0, 1, 2], order=[0, 1, 2]).pag.describe())
    0 o-> 1
    1 --> 2
    """

    uses_order = True

    def _rank(self, nodes: list[Hashable], order: Sequence[Hashable] | None) -> np.ndarray | None:
        if order is None:
            raise InvalidOrderError(
                "ordered-icd needs a causal order: pass order=[...] listing every node from causes to effects "
                "(for a decoder, the token positions in order), or use method='icd'"
            )
        order = check_order(nodes, order)
        pos = {node: i for i, node in enumerate(order)}
        return np.array([pos[n] for n in nodes], dtype=np.intp)


def _icd_sep_sets(
    root: int, r: int, usable: set[int], nb: list[set[int]], mk: list[dict[int, int]]
) -> list[tuple[int, ...]]:
    """All ICD-Sep sets of size ``r`` around ``root`` made of ``usable`` nodes.

    A set Z is legal when every node of Z is reached from ``root`` by a PDS
    walk inside Z. Dropping the node deepest in that search from a legal set
    leaves a legal set, so the legal sets of size k are exactly the legal sets
    of size k - 1 plus one node reached through them; they are grown level by
    level instead of filtering all r-subsets. Each set carries the PDS states
    ``(u, v)`` (last edge walked) reachable inside it.
    """

    def step_ok(u: int, v: int, w: int) -> bool:
        # (u, v, w) may sit on a PDS path: a triangle or a collider at v
        return w in nb[u] or (mk[u][v] == ARROW and mk[w][v] == ARROW)

    first = nb[root] & usable
    level: dict[frozenset, frozenset] = {frozenset((v,)): frozenset(((root, v),)) for v in first}
    for size in range(2, r + 1):
        last = size == r
        nxt: dict[frozenset, frozenset] = {}
        for zset, states in level.items():
            ext = first - zset
            for u, v in states:
                for w in nb[v]:
                    if w in usable and w not in zset and w != u and w not in ext and step_ok(u, v, w):
                        ext.add(w)
            for w in ext:
                grown = zset | {w}
                if grown in nxt:
                    continue
                if last:
                    nxt[grown] = frozenset()
                    continue
                # the PDS states reachable inside the grown set
                out = set(states)
                stack = [(root, w)] if w in first else []
                stack += [(v, w) for u, v in states if w in nb[v] and w != u and step_ok(u, v, w)]
                while stack:
                    state = stack.pop()
                    if state in out:
                        continue
                    out.add(state)
                    u, v = state
                    for t in grown:
                        if t != u and t != v and t in nb[v] and (v, t) not in out and step_ok(u, v, t):
                            stack.append((v, t))
                nxt[grown] = frozenset(out)
        level = nxt
        if not level:
            break
    return [tuple(sorted(z)) for z in level if len(z) == r]
