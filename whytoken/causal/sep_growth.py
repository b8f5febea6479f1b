"""Growing one root's ICD-Sep sets a level at a time, compiled: local bitmasks and a PDS-state closure per set.

:func:`whytoken.causal.icd_sep.root_sets` grows the sets legal for a root
(ICD-Sep condition 2) one set at a time in Python. On the hubs of real
networks with latent confounders (insurance, water, hailfinder) a root has
15-30 candidates and ICD asks for their sets at every level up to 12-16,
hundreds of thousands per level, regrown from size 1 each time.

Here a root's candidates get local bit positions (bit 0: the root), so a set
is one ``int64``. :func:`grow` turns the legal sets of size ``k`` into those
of size ``k + 1``: for each set, a compiled loop (:mod:`numba`) closes the
PDS states (walked edges ``u -> v``) reachable from the root through the
set's own nodes, and every node one step beyond them is a legal extension
(dropping the node deepest in the search from a legal set leaves a legal
set, so this lists every legal set of size ``k + 1``). Successive ICD levels
on an unchanged graph grow the cached sets of the previous level by one
(:class:`SetCache`) instead of from size 1.

Examples
--------
>>> from whytoken.causal.sep_growth import local_graph, grow
>>> cont = lambda u, v: {(0, 1): 0b100, (0, 2): 0b010}.get((u, v), 0)   # 0-1, 0-2, 1-2: a triangle
>>> g = local_graph(0, [1, 2], cont, first=0b110)
>>> grow(g.singletons(), g).tolist()      # the one legal pair, local bits 1 and 2
[6]
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Callable

import numpy as np

__all__ = ["LocalGraph", "local_graph", "grow", "available", "SetCache", "LOCAL_BITS"]

#: Most candidates a root may have (local bit positions 1..62 of an int64).
LOCAL_BITS = 62
_KERNEL = None



class SetCache:
    """Each local graph's legal sets of the last size built, kept from one ICD level to the next.

    :meth:`advance` at the end of a level drops what that level did not use
    (a graph that changed never comes back).

    >>> cache = SetCache(); cache.put("g", (2, None)); cache.advance(); cache.get("g")
    (2, None)
    >>> cache.advance(); cache.get("g") is None
    True
    """

    def __init__(self) -> None:
        self._previous: dict = {}
        self._current: dict = {}

    def get(self, key: tuple) -> tuple[int, np.ndarray] | None:
        """The (size, local masks) stored for ``key`` this level or the last, or None."""
        found = self._current.get(key)
        return self._previous.get(key) if found is None else found

    def put(self, key: tuple, value: tuple[int, np.ndarray]) -> None:
        self._current[key] = value

    def advance(self) -> None:
        """End a level: keep only what it stored."""
        self._previous, self._current = self._current, {}


def available() -> bool:
    """Whether the compiled growth can run (numba is installed).

    >>> isinstance(available(), bool)
    True
    """
    return importlib.util.find_spec("numba") is not None


@dataclass(frozen=True)
class LocalGraph:
    """A root's candidates on local bit positions.

    Attributes
    ----------
    nodes : ndarray of int
        Local index -> node; index 0 is the root.
    cont : ndarray of int64, shape (c, c)
        ``cont[u, v]``: local mask of the nodes that may follow the walked
        edge ``u -> v`` on a PDS walk (read only for adjacent ``u, v``: a
        walk only ever steps along edges).
    first : int
        Local mask of the root's usable neighbours.
    """

    nodes: np.ndarray
    cont: np.ndarray
    first: int

    def key(self) -> tuple[bytes, bytes, int]:
        """What the legal sets depend on (a :class:`SetCache` key)."""
        return self.nodes.tobytes(), self.cont.tobytes(), self.first

    def singletons(self) -> np.ndarray:
        """The legal sets of size 1: each usable neighbour of the root."""
        bits = [j for j in range(1, self.nodes.size) if (self.first >> j) & 1]
        return np.left_shift(np.int64(1), np.array(bits, dtype=np.int64))

    def rows(self, masks: np.ndarray, r: int) -> np.ndarray:
        """Local masks of ``r`` nodes as a sorted ``(m, r)`` array of node indices."""
        if masks.size == 0:
            return np.empty((0, r), dtype=np.intp)
        bit = np.left_shift(np.int64(1), np.arange(self.nodes.size, dtype=np.int64))
        _, local = np.nonzero((masks[:, None] & bit[None, :]) != 0)
        return np.sort(self.nodes[local.reshape(masks.size, r)], axis=1)


def local_graph(root: int, cand: list[int], cont: Callable[[int, int], int], first: int) -> LocalGraph:
    """The local graph of ``root`` over its candidates ``cand`` (at most :data:`LOCAL_BITS`).

    ``cont(u, v)`` gives the (global) bitmask of nodes that may follow the
    walked edge ``u -> v``; ``first`` is the global mask of the root's usable
    neighbours.
    """
    nodes = np.array([root, *cand], dtype=np.intp)
    c = nodes.size
    table = np.zeros((c, c), dtype=np.int64)
    local_of = {int(v): i for i, v in enumerate(nodes.tolist())}
    for i, u in enumerate(nodes.tolist()):
        for j in range(1, c):
            nxt = cont(u, int(nodes[j]))
            mask = 0
            while nxt:
                low = nxt & -nxt
                nxt ^= low
                w = local_of.get(low.bit_length() - 1)
                if w:  # a candidate, never the root
                    mask |= 1 << w
            table[i, j] = mask
    first_local = sum(1 << local_of[v] for v in cand if (first >> v) & 1)
    return LocalGraph(nodes, table, first_local)


def _grow_compiled(masks, cont, first, out):  # pragma: no cover - compiled by numba
    """Write every legal one-node extension of each set in ``masks``; return how many there are."""
    c = cont.shape[0]
    room = out.size
    count = 0
    members = np.empty(c, dtype=np.int64)
    pred = np.zeros(c, dtype=np.int64)  # pred[v]: local mask of u whose state (u, v) is reached
    stack_u = np.empty(c * c + 1, dtype=np.int64)
    stack_v = np.empty(c * c + 1, dtype=np.int64)
    one = np.int64(1)
    for i in range(masks.size):
        z = masks[i]
        k = 0
        for j in range(1, c):
            if (z >> j) & one:
                members[k] = j
                k += 1
            pred[j] = 0
        sp = 0
        ext = first
        for t in range(k):
            v = members[t]
            if (first >> v) & one:
                pred[v] |= one
                stack_u[sp] = 0
                stack_v[sp] = v
                sp += 1
        while sp > 0:
            sp -= 1
            u = stack_u[sp]
            v = stack_v[sp]
            nxt = cont[u, v]
            ext |= nxt
            for t in range(k):
                w = members[t]
                if (nxt >> w) & one and not (pred[w] >> v) & one:
                    pred[w] |= one << v
                    stack_u[sp] = v
                    stack_v[sp] = w
                    sp += 1
        ext &= ~z
        for j in range(1, c):
            if (ext >> j) & one:
                if count < room:
                    out[count] = z | (one << j)
                count += 1
    return count


def _kernel():
    global _KERNEL
    if _KERNEL is None:
        import numba

        _KERNEL = numba.njit(cache=True, nogil=True)(_grow_compiled)
    return _KERNEL


def grow(masks: np.ndarray, graph: LocalGraph) -> np.ndarray:
    """The legal sets one node larger than the legal sets ``masks`` (local int64 masks), sorted and distinct."""
    masks = np.ascontiguousarray(masks, dtype=np.int64)
    if masks.size == 0:
        return masks
    out = np.empty(masks.size * (graph.nodes.size - 1), dtype=np.int64)
    count = _kernel()(masks, graph.cont, np.int64(graph.first), out)
    return np.unique(out[:count])
