"""ICD-Sep: the conditioning sets ICD tests at level ``r >= 2``, built for every edge at once.

For an edge ``x *-* y`` of the current PAG, a set ``Z`` of ``r`` nodes is an
**ICD-Sep** set (Rohekar et al. 2021) when

1. ``|Z| = r``;
2. every node of ``Z`` is reached from ``x`` -- or every node from ``y``
   (causality-lab's reading, one PDS-tree per endpoint) -- by a
   possible-d-separating (PDS) path all of whose nodes lie in ``Z``: a path
   whose inner triples are colliders ``u *-> v <-* w`` or triangles;
3. every node of ``Z`` is a possible ancestor of ``x`` or ``y`` (and, with
   a causal order, earlier than the later of the two).

Legality under (2) does not depend on the edge, only on the root, so the
sets are grown once per root: the legal sets of size ``k`` are the legal
sets of size ``k - 1`` plus one node reachable through them (dropping the
node deepest in the search from a legal set leaves a legal set). Each
edge then keeps the sets of its two roots that lie inside its own usable
nodes (3).

The growth runs in bulk (:func:`root_set_rows`, :mod:`whytoken.causal.sep_growth`):
a root's candidates (the usable nodes a PDS walk reaches) get local bit
positions, a whole level of sets is one ``int64`` array grown by a compiled
loop, and the sets of one level are kept for the next while the graph does
not change. :func:`root_sets` is the same construction one set at a time on
Python-int bitmasks; it serves roots with more candidates than an ``int64``
holds (or no numba) and is the reference the bulk version is tested against.

Examples
--------
>>> import numpy as np
>>> from whytoken.causal.icd_sep import possible_ancestors, icd_sep_candidates
>>> adj = np.ones((4, 4), dtype=bool); np.fill_diagonal(adj, False)     # complete, all circles
>>> marks = adj.astype(np.int8)
>>> pa = possible_ancestors(adj, marks)
>>> xs, ys, zs = next(icd_sep_candidates(adj, marks, pa, None, np.array([0]), np.array([1]), 2, 100))
>>> zs.tolist()                        # the one set of two other nodes
[[2, 3]]
"""

from __future__ import annotations

import itertools
from typing import Iterator

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import shortest_path

from whytoken.causal import sep_growth
from whytoken.causal.orientation import ARROW, TAIL
from whytoken.causal.sep_growth import SetCache

__all__ = ["possible_ancestors", "icd_sep_candidates", "root_sets", "root_set_rows", "bitmasks"]




def possible_ancestors(adj: np.ndarray, marks: np.ndarray) -> np.ndarray:
    """``pa[z, x]``: a potentially directed path runs from ``z`` to ``x`` (no arrowhead toward z, no tail toward x).

    Examples
    --------
    >>> import numpy as np
    >>> m = np.array([[0, 2, 0], [3, 0, 2], [0, 3, 0]], dtype=np.int8)    # 0 --> 1 --> 2
    >>> possible_ancestors(m != 0, m).astype(int).tolist()
    [[0, 1, 1], [0, 0, 1], [0, 0, 0]]
    """
    n = adj.shape[0]
    us, ws = np.nonzero(adj & (marks.T != ARROW) & (marks != TAIL))
    if us.size == 0:
        return np.zeros((n, n), dtype=bool)
    reach = np.isfinite(shortest_path(csr_matrix((np.ones(us.size), (us, ws)), shape=(n, n)), unweighted=True))
    np.fill_diagonal(reach, False)
    return reach


def root_sets(root: int, r: int, usable: int, nb: list[int], arrow_in: list[int]) -> list[int]:
    """All sets (bitmasks) of ``r`` nodes among ``usable`` that are legal for ``root`` under ICD-Sep (2).

    Parameters
    ----------
    root : int
    r : int
    usable : int
        Bitmask of the nodes sets may contain.
    nb : list of int
        ``nb[v]``: bitmask of ``v``'s neighbours.
    arrow_in : list of int
        ``arrow_in[v]``: bitmask of the neighbours ``u`` with ``u *-> v``.

    A step ``u - v - w`` may continue a PDS path when ``w`` is adjacent to
    ``u`` (triangle) or ``v`` is a collider (``u *-> v <-* w``). Each set
    carries the PDS states ``(u, v)`` (last edge walked) reachable inside it.

    Examples
    --------
    >>> nb = [0b0110, 0b0101, 0b0011, 0b0000]     # 0-1, 0-2, 1-2: a triangle; 3 isolated
    >>> sorted(root_sets(0, 2, 0b1110, nb, [0, 0, 0, 0]))
    [6]
    """
    cont = _continuation(nb, arrow_in)
    first = nb[root] & usable
    if not _reaches_beyond(root, first, usable, cont):
        # every legal set is a set of the root's usable neighbours: all r-subsets, none other
        return [sum(1 << v for v in combo) for combo in itertools.combinations(_members(first), r)]
    # level k: bitmask of the set -> frozenset of PDS states (u, v) reachable inside it
    level: dict[int, frozenset] = {}
    bits = first
    while bits:
        low = bits & -bits
        v = low.bit_length() - 1
        level[low] = frozenset(((root, v),))
        bits ^= low
    for size in range(2, r + 1):
        last = size == r
        nxt: dict[int, frozenset] = {}
        for zset, states in level.items():
            ext = first
            for u, v in states:
                ext |= cont(u, v)
            ext &= usable & ~zset & ~(1 << root)
            while ext:
                low = ext & -ext
                ext ^= low
                grown = zset | low
                if grown in nxt:
                    continue
                if last:
                    nxt[grown] = frozenset()
                    continue
                w = low.bit_length() - 1
                out = set(states)
                stack = [(root, w)] if (first >> w) & 1 else []
                stack += [(v, w) for u, v in states if (cont(u, v) >> w) & 1]
                while stack:
                    state = stack.pop()
                    if state in out:
                        continue
                    out.add(state)
                    u, v = state
                    onward = cont(u, v) & grown
                    while onward:
                        b = onward & -onward
                        onward ^= b
                        t = b.bit_length() - 1
                        if (v, t) not in out:
                            stack.append((v, t))
                nxt[grown] = frozenset(out)
        level = nxt
        if not level:
            break
    return list(level)


def _continuation(nb: list[int], arrow_in: list[int]):
    def cont(u: int, v: int) -> int:
        """Nodes w that may follow the walked edge u -> v (triangle, or collider u *-> v <-* w)."""
        onward = nb[v] & ~(1 << u)
        return onward & (nb[u] | (arrow_in[v] if (arrow_in[v] >> u) & 1 else 0))
    return cont


def root_set_rows(root: int, r: int, usable: int, nb: list[int], arrow_in: list[int],
                  cache: SetCache | None = None) -> np.ndarray:
    """:func:`root_sets` as a sorted ``(m, r)`` array of node indices, grown a whole level at a time.

    ``cache`` (a :class:`~whytoken.causal.sep_growth.SetCache` kept across the levels of one run) holds each local
    graph's sets of the last size asked for, so the next level grows them by
    one node instead of from size 1 (:mod:`whytoken.causal.sep_growth`).

    Examples
    --------
    >>> nb = [0b0110, 0b0101, 0b0011, 0b0000]     # 0-1, 0-2, 1-2: a triangle; 3 isolated
    >>> root_set_rows(0, 2, 0b1110, nb, [0, 0, 0, 0]).tolist()
    [[1, 2]]
    """
    cont = _continuation(nb, arrow_in)
    first = nb[root] & usable & ~(1 << root)
    if not _reaches_beyond(root, first, usable, cont):
        return _combination_rows(_members(first), r)
    cand = _candidates(root, first, usable, cont)
    if len(cand) > sep_growth.LOCAL_BITS or not sep_growth.available():
        return _masks_to_rows(root_sets(root, r, usable, nb, arrow_in), r)
    graph = sep_growth.local_graph(root, cand, cont, first)
    key = graph.key()
    found = cache.get(key) if cache is not None else None
    size, masks = found if found is not None and found[0] <= r else (1, graph.singletons())
    while size < r and masks.size:
        masks = sep_growth.grow(masks, graph)
        size += 1
    if cache is not None:
        cache.put(key, (size, masks))
    return graph.rows(masks, r)


def _combination_rows(members: list[int], r: int) -> np.ndarray:
    if len(members) < r:
        return np.empty((0, r), dtype=np.intp)
    flat = np.fromiter(itertools.chain.from_iterable(itertools.combinations(members, r)), dtype=np.intp)
    return flat.reshape(-1, r)


def _candidates(root: int, first: int, usable: int, cont) -> list[int]:
    """The usable nodes a PDS walk from ``root`` through usable nodes reaches, sorted.

    A walk, not a path: the legality search follows PDS states (walked
    edges), which may pass a node twice, so no depth bound applies.
    """
    allowed = usable & ~(1 << root)
    stack = [(root, v) for v in _members(first)]
    seen = set(stack)
    reached = first
    while stack:
        u, v = stack.pop()
        for w in _members(cont(u, v) & allowed):
            if (v, w) not in seen:
                seen.add((v, w))
                stack.append((v, w))
                reached |= 1 << w
    return _members(reached)


def _masks_to_rows(masks: list[int], r: int) -> np.ndarray:
    return np.array([_members(m) for m in masks], dtype=np.intp).reshape(-1, r)


def _reaches_beyond(root: int, first: int, usable: int, cont) -> bool:
    """Whether a PDS walk from ``root`` that stays inside ``first`` can step to a usable node outside it.

    If not, no legal set holds a node that is not a neighbour of the root
    (such a node would be reached through neighbours only).
    """
    seen: set[tuple[int, int]] = set()
    stack = [(root, v) for v in _members(first)]
    outside = usable & ~first & ~(1 << root)
    while stack:
        state = stack.pop()
        if state in seen:
            continue
        seen.add(state)
        onward = cont(*state)
        if onward & outside:
            return True
        inside = onward & first
        v = state[1]
        for t in _members(inside):
            if (v, t) not in seen:
                stack.append((v, t))
    return False


def bitmasks(rows: np.ndarray) -> list[int]:
    """Each row of a boolean matrix as an int whose bit ``j`` is ``rows[i, j]``.

    Examples
    --------
    >>> bitmasks(np.array([[True, False, True], [False, False, False]]))
    [5, 0]
    """
    packed = np.packbits(np.asarray(rows, dtype=bool), axis=1, bitorder="little")
    return [int.from_bytes(row.tobytes(), "little") for row in packed]


def _members(mask: int) -> list[int]:
    out = []
    while mask:
        low = mask & -mask
        out.append(low.bit_length() - 1)
        mask ^= low
    return out


def icd_sep_candidates(
    adj: np.ndarray,
    marks: np.ndarray,
    pa: np.ndarray,
    rank: np.ndarray | None,
    ex: np.ndarray,
    ey: np.ndarray,
    r: int,
    chunk: int,
    cache: SetCache | None = None,
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The ICD-Sep candidates ``(x, y, Z)`` of level ``r`` for the edges ``(ex[k], ey[k])``, in chunks.

    Parameters
    ----------
    adj, marks : ndarray, shape (n, n)
        The current graph and its marks (``marks[i, j]``: the mark at ``j``).
    pa : ndarray of bool, shape (n, n)
        :func:`possible_ancestors` of the graph.
    rank : ndarray of int or None
        Positions in the causal order.
    ex, ey : ndarray of int
        The edges to test.
    r : int
        The level (set size), >= 2.
    chunk : int
        Largest number of triples per yielded chunk.
    cache : SetCache, optional
        Kept by the caller across the levels of one run: each root's sets of
        this level, grown by one node at the next (see :func:`root_set_rows`).

    Yields
    ------
    xs, ys : ndarray of int, shape (m,)
    zs : ndarray of int, shape (m, r)
        Sorted conditioning sets; each edge's sets are distinct and sorted.
    """
    n = adj.shape[0]
    usable = (pa[:, ex] | pa[:, ey]).T
    if rank is not None:
        usable &= rank[None, :] < np.maximum(rank[ex], rank[ey])[:, None]
    usable[np.arange(ex.size), ex] = False
    usable[np.arange(ex.size), ey] = False
    keep = usable.sum(axis=1) >= r
    if not keep.any():
        return
    ex, ey, usable = ex[keep], ey[keep], usable[keep]
    edge_mask = bitmasks(usable)
    nb = bitmasks(adj)
    arrow_in = bitmasks((adj & (marks == ARROW)).T)  # arrow_in[v]: the u with u *-> v
    # legality does not depend on the edge: enumerate once per root over what its edges may use
    root_usable: dict[int, int] = {}
    for x, y, mask in zip(ex.tolist(), ey.tolist(), edge_mask):
        root_usable[x] = root_usable.get(x, 0) | mask
        root_usable[y] = root_usable.get(y, 0) | mask
    rows_of = {root: root_set_rows(root, r, allowed, nb, arrow_in, cache) for root, allowed in root_usable.items()}
    if cache is not None:
        cache.advance()
    # a set legal for both roots is listed once: keyed by its bitmask where n fits an int64
    keys_of = {root: _row_keys(z, n) for root, z in rows_of.items()} if n <= 63 else None
    out_x: list[np.ndarray] = []
    out_y: list[np.ndarray] = []
    out_z: list[np.ndarray] = []
    for k, (x, y) in enumerate(zip(ex.tolist(), ey.tolist())):
        ok = usable[k]
        fits = [ok[rows_of[v]].all(axis=1) if rows_of[v].size else None for v in (x, y)]
        parts = [rows_of[v][f] for v, f in zip((x, y), fits) if f is not None and f.any()]
        if not parts:
            continue
        if len(parts) == 1:
            zs = parts[0]
        elif keys_of is not None:
            keys = np.concatenate([keys_of[v][f] for v, f in zip((x, y), fits)])
            _, first_seen = np.unique(keys, return_index=True)
            zs = np.concatenate(parts)[np.sort(first_seen)]
        else:
            zs = np.unique(np.concatenate(parts), axis=0)
        if zs.size:
            out_x.append(np.full(zs.shape[0], x, dtype=np.intp))
            out_y.append(np.full(zs.shape[0], y, dtype=np.intp))
            out_z.append(zs)
    if not out_x:
        return
    xs, ys, zs = np.concatenate(out_x), np.concatenate(out_y), np.concatenate(out_z)
    for start in range(0, xs.size, chunk):
        yield xs[start : start + chunk], ys[start : start + chunk], zs[start : start + chunk]


def _row_keys(rows: np.ndarray, n: int) -> np.ndarray:
    """Each set (a row of node indices < n <= 63) as its int64 bitmask."""
    if rows.size == 0:
        return np.empty(0, dtype=np.int64)
    return np.bitwise_or.reduce(np.left_shift(np.int64(1), rows.astype(np.int64)), axis=1)
