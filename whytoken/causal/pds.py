"""PDS-trees: the nodes reachable from a root along possible-d-separating paths, nearest first.

In a PAG, a path ``<root, v1, ..., w>`` is *possible-d-separating* (a PDS
path) when every inner triple ``(u, v, w)`` on it is either a collider
(``u *-> v <-* w``) or a triangle (``u`` and ``w`` adjacent). Such paths are
the ones that may have to be blocked to separate the root from another node,
so their nodes are the candidates for conditioning sets (FCI's
Possible-D-SEP; ICD's ICD-Sep draws from the part within distance ``r``) and,
in whytoken, the candidate explanations of a token, ranked nearest first.

:func:`pds_tree` runs a breadth-first search over directed edges (a state is
the last edge ``u -> v`` walked, because whether ``w`` may follow depends on
``u``), the usual way to compute Possible-D-SEP (pcalg, causality-lab). Each
node keeps the length of its shortest PDS walk from the root as its depth
and the node before it on that walk as its parent.

Examples
--------
>>> from whytoken.graphs import PAG, Mark
>>> from whytoken.causal.pds import pds_tree
>>> g = PAG([0, 1, 2, 3])
>>> g.add_edge(0, 1, Mark.CIRCLE, Mark.ARROW)    # 0 o-> 1
>>> g.add_edge(2, 1, Mark.CIRCLE, Mark.ARROW)    # 2 o-> 1 : 1 is a collider on 0, 1, 2
>>> g.add_edge(2, 3, Mark.CIRCLE, Mark.CIRCLE)   # 2 o-o 3 : 2 is not a collider on 1, 2, 3
>>> t = pds_tree(g, 0)
>>> dict(t.depth)
{0: 0, 1: 1, 2: 2}
>>> t.ranked(), t.path(2)
([1, 2], [0, 1, 2])
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Hashable, Mapping, Sequence

import numpy as np

from whytoken.errors import InvalidParameterError, NodeNotFoundError
from whytoken.graphs import PAG, node_sort_key

__all__ = ["PDSTree", "pds_tree", "pds_reach"]

_ARROW = 2


@dataclass(frozen=True)
class PDSTree:
    """The PDS-tree of a root node (see :func:`pds_tree`).

    Attributes
    ----------
    root : hashable
        The root.
    depth : mapping of node -> int
        Length of the shortest PDS path from the root (root: 0); only nodes
        in the tree appear.
    parent : mapping of node -> node
        The node before each non-root node on its shortest PDS path. Chains
        of ``parent`` links need not retrace a PDS path (whether a step is
        allowed depends on the step before it); :meth:`path` gives one.
    max_depth : int or None
        The depth limit the tree was built with.
    """

    root: Hashable
    depth: Mapping[Hashable, int]
    parent: Mapping[Hashable, Hashable]
    max_depth: int | None = None
    _paths: Mapping[Hashable, tuple] = field(default_factory=dict, repr=False, compare=False)

    def __contains__(self, node: object) -> bool:
        return node in self.depth

    def __len__(self) -> int:
        return len(self.depth)

    @property
    def nodes(self) -> list[Hashable]:
        """All tree nodes except the root, nearest first (same as :meth:`ranked`)."""
        return self.ranked()

    def nodes_at(self, d: int) -> list[Hashable]:
        """The nodes at depth ``d``, sorted by :func:`~whytoken.graphs.node_sort_key`."""
        return sorted((n for n, k in self.depth.items() if k == d), key=node_sort_key)

    def ranked(self) -> list[Hashable]:
        """Non-root nodes, nearest first; ties broken by :func:`~whytoken.graphs.node_sort_key`."""
        return sorted((n for n in self.depth if n != self.root), key=lambda n: (self.depth[n], node_sort_key(n)))

    def path(self, node: Hashable) -> list[Hashable]:
        """A shortest PDS path (walk) from the root to ``node``, root first.

        Raises
        ------
        NodeNotFoundError
            If ``node`` is not in the tree.
        """
        if node not in self.depth:
            raise NodeNotFoundError(
                f"node {node!r} is not in the PDS-tree of {self.root!r} (it has {len(self.depth)} nodes"
                + (f", max_depth={self.max_depth}" if self.max_depth is not None else "")
                + "); it may be unreachable by possible-d-separating paths or too far"
            )
        return list(self._paths[node])


def pds_reach(
    marks: np.ndarray,
    root: int,
    max_depth: int | None = None,
    allowed: np.ndarray | None = None,
    nbrs: Sequence[Sequence[int]] | None = None,
) -> tuple[dict[int, int], dict[int, tuple[int, ...]]]:
    """PDS search on a mark matrix (the engine of :func:`pds_tree`).

    Parameters
    ----------
    marks : ndarray, shape (n, n)
        Dense PAG (``M[i, j]`` = mark code at ``j``; 0 = no edge).
    root : int
        Index of the root.
    max_depth : int, optional
        Do not go further than this many edges.
    allowed : ndarray of bool, shape (n,), optional
        Only these nodes may appear on paths (the root always may).
    nbrs : sequence of sequences of int, optional
        Precomputed sorted neighbour lists of ``marks``.

    Returns
    -------
    depth : dict int -> int
        Shortest PDS distance of every reached node (root included, 0).
    paths : dict int -> tuple of int
        A shortest PDS walk from the root to each reached node.

    Examples
    --------
    >>> import numpy as np
    >>> M = np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]], dtype=np.int8)   # 0 o-o 1 o-o 2
    >>> pds_reach(M, 0)[0]            # 1 is no collider on 0, 1, 2 and 0, 2 are not adjacent
    {0: 0, 1: 1}
    """
    m = marks
    if nbrs is None:
        nbrs = [np.flatnonzero(row).tolist() for row in (m != 0)]
    depth = {root: 0}
    paths: dict[int, tuple[int, ...]] = {root: (root,)}
    frontier: list[tuple[int, int, tuple[int, ...]]] = []
    seen: set[tuple[int, int]] = set()
    for v in nbrs[root]:
        if allowed is None or allowed[v]:
            frontier.append((root, v, (root, v)))
            seen.add((root, v))
    d = 0
    while frontier:
        d += 1
        for _, v, path in frontier:
            if v not in depth:
                depth[v] = d
                paths[v] = path
        if max_depth is not None and d >= max_depth:
            break
        nxt: list[tuple[int, int, tuple[int, ...]]] = []
        for u, v, path in frontier:
            row_u = m[u]
            for w in nbrs[v]:
                if w == u or w == root or (v, w) in seen or (allowed is not None and not allowed[w]):
                    continue
                if row_u[w] != 0 or (m[u, v] == _ARROW and m[w, v] == _ARROW):
                    seen.add((v, w))
                    nxt.append((v, w, path + (w,)))
        frontier = nxt
    return depth, paths


def pds_tree(pag: PAG, root: Hashable, max_depth: int | None = None) -> PDSTree:
    """The tree of possible-d-separating paths from ``root`` in ``pag``.

    Parameters
    ----------
    pag : PAG
        The graph.
    root : hashable
        A node of ``pag``.
    max_depth : int, optional
        Keep only nodes within this many edges of the root (None: no limit).

    Returns
    -------
    PDSTree

    Raises
    ------
    NodeNotFoundError
        If ``root`` is not in ``pag``.
    InvalidParameterError
        If ``max_depth`` is negative.

    Examples
    --------
    >>> from whytoken.graphs import PAG
    >>> g = PAG.complete(["a", "b", "c"])    # triangles: every path is PDS
    >>> pds_tree(g, "a").ranked()
    ['b', 'c']
    >>> pds_tree(g, "a", max_depth=0).ranked()
    []
    """
    if root not in pag:
        raise NodeNotFoundError(f"root {root!r} is not in the graph; it has {len(pag)} nodes ({pag.nodes[:10]})")
    bad_type = isinstance(max_depth, bool) or not isinstance(max_depth, (int, np.integer))
    if max_depth is not None and (bad_type or max_depth < 0):
        raise InvalidParameterError(f"max_depth must be an int >= 0 or None, got {max_depth!r}")
    # index nodes by value so ties and stored paths do not depend on insertion order
    nodes = sorted(pag.nodes, key=node_sort_key)
    m = pag.to_mark_matrix(nodes)
    r = nodes.index(root)
    if max_depth == 0:
        depth_i, paths_i = {r: 0}, {r: (r,)}
    else:
        depth_i, paths_i = pds_reach(m, r, max_depth)
    depth = {nodes[i]: d for i, d in sorted(depth_i.items(), key=lambda kv: (kv[1], kv[0]))}
    paths = {nodes[i]: tuple(nodes[k] for k in p) for i, p in paths_i.items()}
    parent = {node: p[-2] for node, p in paths.items() if len(p) > 1}
    return PDSTree(
        root=root,
        depth=MappingProxyType(depth),
        parent=MappingProxyType(parent),
        max_depth=max_depth,
        _paths=MappingProxyType(paths),
    )
