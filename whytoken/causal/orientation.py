"""FCI orientation rules R0-R10 on dense mark matrices, applied order-independently.

Constraint-based learners first find which pairs are adjacent (the skeleton)
and, for every removed edge, a separating set. The orientation rules of FCI
(Spirtes et al. 2000; completed by Zhang 2008, "On the completeness of
orientation rules for causal discovery in the presence of latent confounders
and selection bias") then turn circles into arrowheads and tails:

* **R0** -- unshielded colliders: ``a *-* b *-* c`` with ``a``, ``c`` not
  adjacent and ``b`` not in ``sepset(a, c)`` becomes ``a *-> b <-* c``.
* **R1-R4** -- arrowhead propagation (R4 follows discriminating paths and
  reads separating sets).
* **R5-R7** -- tails that only selection bias produces (off by default).
* **R8-R10** -- tails that make the result tail-complete.

Graphs here are ``int8`` matrices in the dense form of
:class:`~whytoken.graphs.PAG`: ``M[i, j]`` is the code of the mark at ``j``'s
end of the edge ``i -- j`` (0 no edge, 1 circle, 2 arrowhead, 3 tail).

**Order independence.** Rules are applied in *rounds*: every rule is evaluated
on the graph as it stands at the start of the round, all proposed marks are
collected, and only then applied. A rule only ever changes a circle. When two
rules propose different marks for one circle in the same round, the
arrowhead wins (it makes no causal claim). The result therefore depends on
the graph and the separating sets only, never on the order in which nodes are
stored; with a perfect CI oracle no conflict arises and the rounds reach the
same fixed point as the usual sequential application.

Examples
--------
>>> import numpy as np
>>> from whytoken.causal.orientation import orient
>>> M = np.zeros((3, 3), dtype=np.int8)
>>> M[0, 1] = M[1, 0] = M[1, 2] = M[2, 1] = 1          # 0 o-o 1 o-o 2
>>> orient(M, sepsets={(0, 2): ()}).tolist()           # 1 not in sepset(0, 2)
[[0, 2, 0], [1, 0, 1], [0, 2, 0]]
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Mapping
from typing import Any, Collection, Hashable, Iterable, Iterator, Sequence

import numpy as np

from whytoken.causal.sepsets import SepsetTable
from whytoken.errors import InvalidGraphError, InvalidParameterError
from whytoken.graphs import PAG

__all__ = [
    "CIRCLE",
    "ARROW",
    "TAIL",
    "ARROWHEAD_RULES",
    "SELECTION_RULES",
    "TAIL_RULES",
    "orient_colliders",
    "apply_rules",
    "orient",
    "orient_pag",
    "SepsetTable",
]

logger = logging.getLogger(__name__)

CIRCLE, ARROW, TAIL = 1, 2, 3
#: Rules that propagate arrowheads (and the tails of R1), used after every ICD level.
ARROWHEAD_RULES: tuple[int, ...] = (1, 2, 3, 4)
#: Rules needed only when selection bias may be present.
SELECTION_RULES: tuple[int, ...] = (5, 6, 7)
#: Rules for tail completeness.
TAIL_RULES: tuple[int, ...] = (8, 9, 10)

SepsetMap = Mapping[tuple[int, int], Collection[int]]


def _key(i: int, j: int) -> tuple[int, int]:
    return (i, j) if i < j else (j, i)


class _Row(dict):
    """Marks from one node: ``row[j]`` is the mark at j's end, 0 when not adjacent."""

    def __missing__(self, key: int) -> int:
        return 0


class _Graph:
    """Read-only helpers over a snapshot of a mark matrix.

    ``arr`` is the numpy matrix (callers keep it current between rounds). The
    Python views (``m``, ``nbrs``, ``nbr_sets``: scalar access to numpy arrays
    is several times slower) hold the edges only and are built on first use,
    since the matrix-product rules for dense graphs never need them.
    """

    def __init__(self, m: np.ndarray) -> None:
        self.arr = m
        deg = np.count_nonzero(m, axis=1)
        #: nodes with at least one / two neighbours (the only ones rules can touch)
        self.active: list[int] = np.flatnonzero(deg >= 1).tolist()
        self.active2: list[int] = np.flatnonzero(deg >= 2).tolist()
        # loops cost ~ sum of squared degrees; matrix products ~ (active nodes)^3 at BLAS speed
        self.dense = int((deg.astype(np.int64) ** 2).sum()) * 32 > len(self.active) ** 3
        self._m: list[_Row] | None = None
        self._nbrs: list[list[int]] = []
        self._nbr_sets: list[set[int]] = []

    def _build(self) -> None:
        n = self.arr.shape[0]
        rows_py: list[_Row] = [_Row() for _ in range(n)]
        nbrs: list[list[int]] = [[] for _ in range(n)]
        rows, cols = np.nonzero(self.arr)
        for i, j, mark in zip(rows.tolist(), cols.tolist(), self.arr[rows, cols].tolist()):
            nbrs[i].append(j)
            rows_py[i][j] = mark
        self._nbrs = nbrs
        self._nbr_sets = [set(nb) for nb in nbrs]
        self._m = rows_py

    @property
    def m(self) -> list[_Row]:
        if self._m is None:
            self._build()
        return self._m  # type: ignore[return-value]

    @property
    def nbrs(self) -> list[list[int]]:
        if self._m is None:
            self._build()
        return self._nbrs

    @property
    def nbr_sets(self) -> list[set[int]]:
        if self._m is None:
            self._build()
        return self._nbr_sets

    def set_mark(self, i: int, j: int, mark: int) -> None:
        self.arr[i, j] = mark
        if self._m is not None:
            self._m[i][j] = mark

    def adjacent(self, i: int, j: int) -> bool:
        return j in self.nbr_sets[i]

    def is_parent(self, a: int, b: int) -> bool:
        """``a --> b``."""
        return self.m[a][b] == ARROW and self.m[b][a] == TAIL

    def pd_edge(self, u: int, w: int) -> bool:
        """The edge u *-* w is potentially directed from u to w: not into u, not out of w."""
        return self.m[w][u] != ARROW and self.m[u][w] != TAIL

    # ------------------------------------------------------------------ path searches
    def uncovered_pd_first_steps(self, a: int, target: int, *, exclude: Collection[int] = ()) -> set[int]:
        """First nodes ``mu`` of uncovered potentially directed paths ``<a, mu, ..., target>``.

        ``mu == target`` counts (a one-edge path). Paths are simple and avoid ``exclude``.
        """
        found: set[int] = set()
        for mu in self.nbrs[a]:
            if mu in exclude or not self.pd_edge(a, mu):
                continue
            if mu == target or self._uncovered_path_exists(a, mu, target, set(exclude) | {a, mu}, self.pd_edge):
                found.add(mu)
        return found

    def _uncovered_path_exists(self, prev: int, cur: int, target: int, on_path: set[int], step_ok) -> bool:
        """Depth-first search for an uncovered path continuing ``prev, cur`` to ``target`` with ``step_ok`` edges."""
        stack = [(prev, cur, frozenset(on_path))]
        seen_states: set[tuple[int, int, frozenset]] = set()
        while stack:
            p, c, path = stack.pop()
            for w in self.nbrs[c]:
                if w == p or (w in path and w != target) or self.adjacent(p, w) or not step_ok(c, w):
                    continue
                if w == target:
                    return True
                state = (c, w, path)
                if state in seen_states:
                    continue
                seen_states.add(state)
                stack.append((c, w, path | {w}))
        return False

    def discriminating_ends(self, b: int, c: int) -> list[tuple[int, int]]:
        """Discriminating paths ``<theta, ..., a, b, c>`` for ``b``, as ``(theta, a)`` pairs.

        ``a`` is the node before ``b`` (``b *-> a --> c``); every node between
        ``theta`` and ``b`` is a collider on the path and a parent of ``c``,
        and ``theta`` is not adjacent to ``c``. Whether a node extends the
        path depends only on that node and its predecessor, so a
        breadth-first search finds every reachable ``theta``.
        """
        m = self.m
        ends: set[tuple[int, int]] = set()
        starts = [a for a in self.nbrs[b] if a != c and m[b][a] == ARROW and self.is_parent(a, c)]
        for a0 in starts:
            visited = {b, c, a0}
            queue = deque([a0])
            while queue:
                a = queue.popleft()
                for q in self.nbrs[a]:
                    # the path enters a from q with an arrowhead at a (a is a collider)
                    if q in visited or m[q][a] != ARROW:
                        continue
                    if not self.adjacent(q, c):
                        ends.add((q, a0))
                        continue
                    if self.is_parent(q, c) and m[a][q] == ARROW:
                        visited.add(q)
                        queue.append(q)
        return sorted(ends)


def _as_table(sepsets: SepsetMap, n: int) -> SepsetTable:
    if isinstance(sepsets, SepsetTable):
        return sepsets
    table = SepsetTable(n)
    for (i, j), sep in sepsets.items():
        table.add(i, j, sep)
    return table


def _colliders_dense(m: np.ndarray, g: _Graph, table: SepsetTable) -> np.ndarray:
    """R0 with matrix products: ``m[a, b] = ARROW`` when some c, not adjacent to a, with a known
    separating set of (a, c) that misses b, is adjacent to b."""
    idx = np.asarray(g.active, dtype=np.intp)
    sub = m[np.ix_(idx, idx)]
    adj = sub != 0
    ids = table._ids[np.ix_(idx, idx)]
    nonadj = ~adj
    np.fill_diagonal(nonadj, False)
    known = nonadj & (ids >= 0)
    count = _f32(known) @ _f32(adj)  # c adjacent to b, (a, c) separated by a known set
    a_i, c_i = np.nonzero(known & (ids > 0))
    if a_i.size:  # take back the c whose separating set holds b
        members = table._matrix()[ids[a_i, c_i]]  # global indices, -1 padded
        local = np.full(m.shape[0] + 1, -1, dtype=np.intp)
        local[idx] = np.arange(idx.size)
        s = local[members]  # -1 for padding or inactive nodes
        ok = s >= 0
        s_safe = np.where(ok, s, 0)
        ok &= adj[c_i[:, None], s_safe] & adj[a_i[:, None], s_safe]
        flat = (a_i[:, None] * idx.size + s_safe)[ok]
        count -= np.bincount(flat, minlength=idx.size * idx.size).reshape(idx.size, idx.size)
    heads = adj & (count > 0.5)
    rows, cols = np.nonzero(heads)
    m[idx[rows], idx[cols]] = ARROW
    return m


# ---------------------------------------------------------------------------------------------- R0
def orient_colliders(marks: np.ndarray, sepsets: SepsetMap) -> np.ndarray:
    """Rule R0: orient every unshielded triple ``a *-* b *-* c`` with ``b`` not in ``sepset(a, c)`` as a collider.

    All triples are judged on the input graph and applied together, so the
    result does not depend on node order. Pairs without a recorded
    separating set are left alone.

    Parameters
    ----------
    marks : ndarray, shape (n, n)
        Mark matrix (see module docstring); not modified.
    sepsets : mapping of (i, j) with i < j -> collection of int
        Separating sets of the non-adjacent pairs.

    Returns
    -------
    ndarray
        A new mark matrix.

    Examples
    --------
    >>> import numpy as np
    >>> M = np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]], dtype=np.int8)
    >>> orient_colliders(M, {(0, 2): (1,)}).tolist()   # 1 separates: no collider
    [[0, 1, 0], [1, 0, 1], [0, 1, 0]]
    """
    m = np.array(marks, dtype=np.int8, copy=True)
    g = _Graph(m)
    if g.dense:
        return _colliders_dense(m, g, _as_table(sepsets, m.shape[0]))
    ta: list[int] = []
    tb: list[int] = []
    tc: list[int] = []
    for b in g.active2:
        nb = g.nbrs[b]
        for k, a in enumerate(nb):
            near_a = g.nbr_sets[a]
            for c in nb[k + 1 :]:
                if c not in near_a:
                    ta.append(a)
                    tb.append(b)
                    tc.append(c)
    if not ta:
        return m
    a_arr, b_arr, c_arr = (np.asarray(v, dtype=np.intp) for v in (ta, tb, tc))
    if isinstance(sepsets, SepsetTable):
        verdict = sepsets.separates_many(a_arr, c_arr, b_arr)
    else:
        verdict = np.empty(a_arr.size, dtype=np.int8)
        for k, (a, b, c) in enumerate(zip(ta, tb, tc)):
            sep = sepsets.get(_key(a, c))
            verdict[k] = -1 if sep is None else int(b in sep)
    hit = verdict == 0  # a separating set is known and b is not in it
    m[a_arr[hit], b_arr[hit]] = ARROW
    m[c_arr[hit], b_arr[hit]] = ARROW
    return m


# ---------------------------------------------------------------------------------------------- R1-R10
def _rule1(g: _Graph, out: list) -> None:
    # a *-> b o-* c, a and c not adjacent  =>  b --> c
    m = g.m
    for b in g.active2:
        into = [a for a in g.nbrs[b] if m[a][b] == ARROW]
        if not into:
            continue
        for c in g.nbrs[b]:
            if m[c][b] != CIRCLE:
                continue
            if any(a != c and not g.adjacent(a, c) for a in into):
                out.append((c, b, TAIL))
                out.append((b, c, ARROW))


def _rule2(g: _Graph, out: list) -> None:
    # a --> b *-> c  or  a *-> b --> c,  and a *-o c  =>  a *-> c
    m = g.m
    for a in g.active2:
        for c in g.nbrs[a]:
            if m[a][c] != CIRCLE:
                continue
            for b in g.nbrs[a]:
                if b == c or not g.adjacent(b, c):
                    continue
                if (g.is_parent(a, b) and m[b][c] == ARROW) or (m[a][b] == ARROW and g.is_parent(b, c)):
                    out.append((a, c, ARROW))
                    break


def _rule3(g: _Graph, out: list) -> None:
    # a *-> b <-* c, a *-o d o-* c, a and c not adjacent, d *-o b  =>  d *-> b
    m = g.m
    for b in g.active2:
        into = [a for a in g.nbrs[b] if m[a][b] == ARROW]
        if len(into) < 2:
            continue
        for d in g.nbrs[b]:
            if m[d][b] != CIRCLE:
                continue
            cands = [a for a in into if a != d and g.adjacent(a, d) and m[a][d] == CIRCLE]
            if any(not g.adjacent(a, c) for i, a in enumerate(cands) for c in cands[i + 1 :]):
                out.append((d, b, ARROW))


def _rule4(g: _Graph, sepsets: SepsetMap, out: list) -> None:
    # discriminating path <theta, ..., a, b, c> for b with b o-* c:
    #   b in sepset(theta, c)  =>  b --> c;  otherwise  a <-> b <-> c
    m = g.m
    pairs = []
    for b in g.active2:
        heads = [a for a in g.nbrs[b] if m[b][a] == ARROW]  # b *-> a: the path's last collider candidates
        if not heads:
            continue
        for c in g.nbrs[b]:
            if m[c][b] == CIRCLE and any(a != c and g.is_parent(a, c) for a in heads):
                pairs.append((b, c))
    _rule4_pairs(g, sepsets, out, pairs)


def _rule4_pairs(g: _Graph, sepsets: SepsetMap, out: list, pairs: Iterable[tuple[int, int]]) -> None:
    for b, c in pairs:
        found = g.discriminating_ends(b, c)
        verdicts: dict[bool, set[int]] = {}
        for theta, a in found:
            sep = sepsets.get(_key(theta, c))
            if sep is not None:
                verdicts.setdefault(b in sep, set()).add(a)
        if not verdicts:
            continue
        if set(verdicts) == {True}:
            out.append((c, b, TAIL))
            out.append((b, c, ARROW))
        else:  # collider (also when discriminating paths disagree: arrowheads win)
            out.append((c, b, ARROW))
            out.append((b, c, ARROW))
            for a in verdicts[False]:
                out.append((a, b, ARROW))


def _rule5(g: _Graph, out: list) -> None:
    # a o-o b with an uncovered circle path <a, g, ..., t, b>, a-t and b-g not adjacent
    #   => a --- b and every edge on the path becomes ---
    m = g.m

    def circle(u: int, w: int) -> bool:
        return m[u][w] == CIRCLE and m[w][u] == CIRCLE

    for a in g.active2:
        for b in g.nbrs[a]:
            if b < a or not circle(a, b):
                continue
            path = _uncovered_circle_path(g, a, b, circle)
            if path is None:
                continue
            out.append((a, b, TAIL))
            out.append((b, a, TAIL))
            for u, w in zip(path, path[1:]):
                out.append((u, w, TAIL))
                out.append((w, u, TAIL))


def _uncovered_circle_path(g: _Graph, a: int, b: int, circle) -> list[int] | None:
    """Shortest-first search for an uncovered circle path from a to b of length >= 3 for R5."""
    for gam in g.nbrs[a]:
        if gam == b or not circle(a, gam) or g.adjacent(gam, b):
            continue
        queue = deque([(a, gam, (a, gam))])
        while queue:
            p, cur, path = queue.popleft()
            for w in g.nbrs[cur]:
                if w in path or not circle(cur, w) or g.adjacent(p, w):
                    continue
                if w == b:
                    if not g.adjacent(a, cur) and cur != gam:
                        return list(path) + [b]
                    continue
                queue.append((cur, w, path + (w,)))
    return None


def _rule6(g: _Graph, out: list) -> None:
    # a --- b o-* c  =>  b --* c
    m = g.m
    for b in g.active2:
        if any(m[a][b] == TAIL and m[b][a] == TAIL for a in g.nbrs[b]):
            for c in g.nbrs[b]:
                if m[c][b] == CIRCLE:
                    out.append((c, b, TAIL))


def _rule7(g: _Graph, out: list) -> None:
    # a --o b o-* c, a and c not adjacent  =>  b --* c
    m = g.m
    for b in g.active2:
        sources = [a for a in g.nbrs[b] if m[b][a] == TAIL and m[a][b] == CIRCLE]
        if not sources:
            continue
        for c in g.nbrs[b]:
            if m[c][b] == CIRCLE and any(a != c and not g.adjacent(a, c) for a in sources):
                out.append((c, b, TAIL))


def _rule8(g: _Graph, out: list) -> None:
    # a --> b --> c  or  a --o b --> c,  and a o-> c  =>  a --> c
    m = g.m
    for a in g.active2:
        for c in g.nbrs[a]:
            if not (m[c][a] == CIRCLE and m[a][c] == ARROW):
                continue
            for b in g.nbrs[a]:
                if b != c and g.is_parent(b, c) and m[b][a] == TAIL and m[a][b] in (ARROW, CIRCLE):
                    out.append((c, a, TAIL))
                    break


def _rule9(g: _Graph, out: list) -> None:
    # a o-> c and an uncovered p.d. path <a, b, t, ..., c> with b, c not adjacent  =>  a --> c
    m = g.m
    for a in g.active2:
        for c in g.nbrs[a]:
            if not (m[c][a] == CIRCLE and m[a][c] == ARROW):
                continue
            for b in g.nbrs[a]:
                if b == c or g.adjacent(b, c) or not g.pd_edge(a, b):
                    continue
                if g._uncovered_path_exists(a, b, c, {a, b}, g.pd_edge):
                    out.append((c, a, TAIL))
                    break


def _rule10(g: _Graph, out: list) -> None:
    # a o-> c, b --> c <-- t, uncovered p.d. paths a..b and a..t whose first nodes mu, omega
    # are distinct and not adjacent  =>  a --> c
    m = g.m
    for a in g.active2:
        for c in g.nbrs[a]:
            if not (m[c][a] == CIRCLE and m[a][c] == ARROW):
                continue
            parents = [p for p in g.nbrs[c] if p != a and g.is_parent(p, c)]
            if len(parents) < 2:
                continue
            firsts = {p: g.uncovered_pd_first_steps(a, p) for p in parents}
            fired = False
            for i, b in enumerate(parents):
                for t in parents[i + 1 :]:
                    if any(mu != om and not g.adjacent(mu, om) for mu in firsts[b] for om in firsts[t]):
                        fired = True
                        break
                if fired:
                    break
            if fired:
                out.append((c, a, TAIL))


# ---------------------------------------------------------------------------------------------- dense variants
# On dense graphs the per-node Python loops above cost O(n d^2); these evaluate the same rules
# with boolean matrix products over the nodes that have edges. They read the numpy snapshot
# ``g.arr`` and propose exactly what the loop versions propose.
def _sub(g: _Graph) -> tuple[np.ndarray, np.ndarray]:
    idx = np.asarray(g.active, dtype=np.intp)
    return idx, g.arr[np.ix_(idx, idx)]


def _f32(mask: np.ndarray) -> np.ndarray:
    return mask.astype(np.float32)


def _rule1_dense(g: _Graph, out: list) -> None:
    idx, m = _sub(g)
    nonadj = (m == 0)
    np.fill_diagonal(nonadj, False)
    # f[b, c]: some a *-> b with a, c not adjacent, and b o-* c
    f = ((_f32(m == ARROW).T @ _f32(nonadj)) > 0) & (m.T == CIRCLE)
    rows, cols = np.nonzero(f)
    for b, c in zip(idx[rows].tolist(), idx[cols].tolist()):
        out.append((c, b, TAIL))
        out.append((b, c, ARROW))


def _rule2_dense(g: _Graph, out: list) -> None:
    idx, m = _sub(g)
    arr = _f32(m == ARROW)
    par = _f32((m == ARROW) & (m.T == TAIL))  # par[a, b]: a --> b
    f = (m == CIRCLE) & (((par @ arr) + (arr @ par)) > 0)
    rows, cols = np.nonzero(f)
    for a, c in zip(idx[rows].tolist(), idx[cols].tolist()):
        out.append((a, c, ARROW))


def _rule3_dense(g: _Graph, out: list) -> None:
    arr_all = g.arr
    adj_all = arr_all != 0
    for b in g.active2:
        into = np.flatnonzero(arr_all[:, b] == ARROW)
        if into.size < 2:
            continue
        ds = np.flatnonzero(arr_all[:, b] == CIRCLE)
        if ds.size == 0:
            continue
        k = _f32(arr_all[np.ix_(into, ds)] == CIRCLE)  # k[a, d]: a *-o d (a, d adjacent)
        nonadj = ~adj_all[np.ix_(into, into)]
        np.fill_diagonal(nonadj, False)
        pairs = ((_f32(nonadj) @ k) * k).sum(axis=0)  # non-adjacent pairs a, c with a *-o d o-* c
        for d in ds[pairs > 0].tolist():
            out.append((d, b, ARROW))


def _rule4_dense(g: _Graph, sepsets: SepsetMap, out: list) -> None:
    idx, m = _sub(g)
    # only (b, c) with b o-* c and some a: b *-> a --> c can start a discriminating path
    par = _f32((m == ARROW) & (m.T == TAIL))
    start = ((_f32(m == ARROW) @ par) > 0) & (m.T == CIRCLE)
    rows, cols = np.nonzero(start)
    _rule4_pairs(g, sepsets, out, zip(idx[rows].tolist(), idx[cols].tolist()))


_RULES = {1: _rule1, 2: _rule2, 3: _rule3, 5: _rule5, 6: _rule6, 7: _rule7, 8: _rule8, 9: _rule9, 10: _rule10}
_DENSE_RULES = {1: _rule1_dense, 2: _rule2_dense, 3: _rule3_dense}


def _apply(m: np.ndarray, g: _Graph, proposals: list[tuple[int, int, int]]) -> bool:
    """Apply proposals to circles only (in ``m`` and ``g``); arrowheads win conflicts. True if anything changed."""
    chosen: dict[tuple[int, int], int] = {}
    for i, j, mark in proposals:
        prev = chosen.get((i, j))
        if prev is None or (prev != mark and mark == ARROW):
            chosen[(i, j)] = mark
    changed = False
    for (i, j), mark in chosen.items():
        if m[i, j] == CIRCLE:
            g.set_mark(i, j, mark)
            changed = True
    return changed


def apply_rules(
    marks: np.ndarray,
    sepsets: SepsetMap,
    rules: Iterable[int] = ARROWHEAD_RULES,
    max_rounds: int | None = None,
) -> np.ndarray:
    """Apply orientation ``rules`` in rounds until none changes a mark.

    Parameters
    ----------
    marks : ndarray, shape (n, n)
        Mark matrix; not modified.
    sepsets : mapping of (i, j) with i < j -> collection of int
        Separating sets (read by R4).
    rules : iterable of int
        Rule numbers among 1-10 (R0 is :func:`orient_colliders`).
    max_rounds : int, optional
        Safety cap (default ``n * n``); rounds only turn circles into other
        marks, so the loop ends long before.

    Returns
    -------
    ndarray
        A new mark matrix.

    Examples
    --------
    >>> import numpy as np
    >>> M = np.zeros((3, 3), dtype=np.int8)
    >>> M[0, 1], M[1, 0] = 2, 1            # 0 o-> 1
    >>> M[1, 2], M[2, 1] = 1, 1            # 1 o-o 2
    >>> apply_rules(M, {}, rules=[1])[1:, 1:].tolist()   # R1: 1 --> 2
    [[0, 2], [3, 0]]
    """
    rule_list = sorted(set(int(r) for r in rules))
    bad = [r for r in rule_list if r not in _RULES and r != 4]
    if bad:
        raise InvalidParameterError(
            f"unknown orientation rule(s) {bad}; expected numbers in 1..10 (R0 is orient_colliders)"
        )
    m = np.array(marks, dtype=np.int8, copy=True)
    _check_marks(m)
    limit = m.shape[0] ** 2 + 1 if max_rounds is None else int(max_rounds)
    g = _Graph(m)  # adjacency never changes below; marks are updated in place between rounds
    for _ in range(limit):
        proposals: list[tuple[int, int, int]] = []
        for r in rule_list:  # every rule reads the graph as it stood at the start of the round
            if r == 4:
                (_rule4_dense if g.dense else _rule4)(g, sepsets, proposals)
            elif g.dense and r in _DENSE_RULES:
                _DENSE_RULES[r](g, proposals)
            else:
                _RULES[r](g, proposals)
        if not _apply(m, g, proposals):
            break
    return m


def orient(
    marks: np.ndarray,
    sepsets: SepsetMap,
    *,
    selection_bias: bool = False,
    tail_completeness: bool = True,
    final: bool = True,
) -> np.ndarray:
    """R0, then R1-R4 to a fixed point, then (if ``final``) the tail rules with R1-R4.

    Parameters
    ----------
    marks : ndarray, shape (n, n)
        Mark matrix whose marks are the starting point (usually all circles,
        or circles plus background-knowledge arrowheads).
    sepsets : mapping of (i, j) with i < j -> collection of int
    selection_bias : bool
        Also apply R5-R7 (for data that may carry selection bias).
    tail_completeness : bool
        Apply R8-R10.
    final : bool
        Whether to apply R5-R10 at all (ICD applies them only at the end).

    Returns
    -------
    ndarray
        A new mark matrix.
    """
    m = orient_colliders(marks, sepsets)
    m = apply_rules(m, sepsets, ARROWHEAD_RULES)
    if final:
        extra: tuple[int, ...] = ()
        if selection_bias:
            extra += SELECTION_RULES
        if tail_completeness:
            extra += TAIL_RULES
        if extra:
            m = apply_rules(m, sepsets, ARROWHEAD_RULES + extra)
    return m


def orient_pag(
    pag: PAG,
    sepsets: Mapping[frozenset, Sequence[Hashable]],
    *,
    selection_bias: bool = False,
    tail_completeness: bool = True,
) -> PAG:
    """Orient a :class:`PAG`'s circles with R0-R4 and the final rules, keeping its existing marks as background.

    Parameters
    ----------
    pag : PAG
        The skeleton with starting marks (e.g. ``PAG.complete``-style circles).
    sepsets : mapping of frozenset({u, v}) -> sequence of nodes
        Separating sets of non-adjacent pairs (as in :class:`~whytoken.causal.base.LearnResult`).

    Returns
    -------
    PAG
        A new graph over the same nodes.

    Examples
    --------
    >>> from whytoken.graphs import PAG, Mark
    >>> g = PAG(["a", "b", "c"])
    >>> g.add_edge("a", "b"); g.add_edge("b", "c")
    >>> print(orient_pag(g, {frozenset({"a", "c"}): ()}).describe())
    a o-> b
    b <-o c
    """
    nodes = pag.nodes
    index = {n: i for i, n in enumerate(nodes)}
    seps: dict[tuple[int, int], frozenset[int]] = {}
    for pair, sep in sepsets.items():
        u, v = tuple(pair)
        if u in index and v in index:
            seps[_key(index[u], index[v])] = frozenset(index[s] for s in sep if s in index)
    m = orient(pag.to_mark_matrix(nodes), seps, selection_bias=selection_bias, tail_completeness=tail_completeness)
    return PAG.from_mark_matrix(m, nodes, meta=pag.meta)


def _check_marks(m: np.ndarray) -> None:
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise InvalidGraphError(f"mark matrix must be square, got shape {m.shape}")
    if ((m != 0) != (m.T != 0)).any():
        i, j = np.argwhere((m != 0) != (m.T != 0))[0]
        raise InvalidGraphError(
            f"mark matrix is not symmetric in adjacency at ({i}, {j}); set both M[i, j] and M[j, i]"
        )
