"""Partial ancestral graphs (PAGs), with DAGs, CPDAGs and MAGs as special cases.

A PAG represents a Markov equivalence class of maximal ancestral graphs
(MAGs) over observed variables when latent confounders may exist. Each edge
carries a :class:`~whytoken.graphs.Mark` at each end; a tail or arrowhead is
shared by every member of the class, a circle is not. A DAG is a PAG whose
edges are all ``-->``, a CPDAG one whose edges are ``-->`` or ``---``.

The class stores marks in a dict of dicts: ``pag.mark(u, v)`` is the mark at
``v``'s end of the edge between ``u`` and ``v``. Graphs compare by value: two
PAGs are equal when they have the same nodes and the same edges with the same
marks (node attributes and ``meta`` do not take part).

Examples
--------
>>> from whytoken.graphs import PAG, Mark
>>> g = PAG(nodes=["a", "b", "c"])
>>> g.add_edge("a", "b", Mark.TAIL, Mark.ARROW)      # a --> b
>>> g.add_edge("c", "b", Mark.CIRCLE, Mark.ARROW)    # c o-> b
>>> g.parents("b")
['a']
>>> sorted(g.possible_ancestors("b"))
['a', 'c']
>>> g == PAG.from_edges(["a", "b", "c"], g.edges())
True
"""

from __future__ import annotations

import copy as _copy
from collections import deque
from pathlib import Path
from typing import Any, Hashable, Iterable, Iterator, Mapping

import numpy as np

from whytoken.errors import InvalidGraphError, NodeNotFoundError
from whytoken.graphs.marks import Edge, Mark, node_sort_key

__all__ = ["PAG", "MARK_CODES", "CODE_MARKS"]

#: Integer codes used by the dense (matrix) form of a PAG: ``M[i, j]`` is the
#: mark at ``j``'s end of the edge between ``i`` and ``j`` (0 = no edge).
MARK_CODES: dict[Mark, int] = {Mark.CIRCLE: 1, Mark.ARROW: 2, Mark.TAIL: 3}
CODE_MARKS: dict[int, Mark] = {code: mark for mark, code in MARK_CODES.items()}


class PAG:
    """A partial ancestral graph over hashable nodes.

    Parameters
    ----------
    nodes : iterable of hashable, optional
        Nodes to add, in order. Node order is kept (for display and export)
        but does not affect equality.
    meta : mapping, optional
        Graph-level attributes (provenance, learner settings, ...), exported
        with the graph.
    """

    def __init__(self, nodes: Iterable[Hashable] = (), meta: Mapping[str, Any] | None = None) -> None:
        self._nodes: dict[Hashable, dict[str, Any]] = {}
        self._adj: dict[Hashable, dict[Hashable, Mark]] = {}
        self.meta: dict[str, Any] = dict(meta or {})
        self.add_nodes_from(nodes)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_edges(
        cls,
        nodes: Iterable[Hashable],
        edges: Iterable[Edge],
        meta: Mapping[str, Any] | None = None,
    ) -> "PAG":
        """Build a PAG from nodes and :class:`Edge` values."""
        pag = cls(nodes, meta=meta)
        for edge in edges:
            pag.add_edge(edge.u, edge.v, edge.at_u, edge.at_v)
        return pag

    @classmethod
    def complete(cls, nodes: Iterable[Hashable], mark: Mark = Mark.CIRCLE) -> "PAG":
        """The complete graph with ``mark`` at every endpoint (``o-o`` by default).

        Examples
        --------
        >>> PAG.complete([0, 1, 2]).number_of_edges()
        3
        """
        pag = cls(nodes)
        nodes_list = pag.nodes
        for i, u in enumerate(nodes_list):
            for v in nodes_list[i + 1 :]:
                pag.add_edge(u, v, mark, mark)
        return pag

    @classmethod
    def from_dag(cls, dag: Any) -> "PAG":
        """A PAG whose edges are the directed edges of ``dag`` (a ``networkx.DiGraph``).

        Examples
        --------
        >>> import networkx as nx
        >>> PAG.from_dag(nx.DiGraph([(0, 1)])).parents(1)
        [0]
        """
        if not (hasattr(dag, "nodes") and hasattr(dag, "edges")):
            raise InvalidGraphError(f"from_dag needs a networkx.DiGraph, got {type(dag).__name__}")
        pag = cls(dag.nodes)
        for u, v in dag.edges:
            pag.add_edge(u, v, Mark.TAIL, Mark.ARROW)
        return pag

    @classmethod
    def from_mark_matrix(
        cls, matrix: np.ndarray, nodes: Iterable[Hashable] | None = None, meta: Mapping[str, Any] | None = None
    ) -> "PAG":
        """Build a PAG from its dense form (see :data:`MARK_CODES`).

        ``matrix[i, j]`` is the code of the mark at ``j``'s end of the edge
        ``i`` -- ``j``; 0 means no edge. Both triangles must agree on which
        pairs are adjacent.
        """
        m = np.asarray(matrix)
        if m.ndim != 2 or m.shape[0] != m.shape[1]:
            raise InvalidGraphError(f"mark matrix must be square, got shape {m.shape}")
        node_list = list(range(m.shape[0])) if nodes is None else list(nodes)
        if len(node_list) != m.shape[0]:
            raise InvalidGraphError(f"{len(node_list)} nodes given for a {m.shape[0]} x {m.shape[0]} mark matrix")
        if len(set(node_list)) != len(node_list):
            seen: set[Hashable] = set()
            dup = next(n for n in node_list if n in seen or seen.add(n))
            raise InvalidGraphError(f"node {dup!r} appears twice in `nodes`; each row/column needs its own node")
        # Validate codes before building: a NaN or 7 must not half-build a graph.
        bad = ~np.isin(m, [0, *CODE_MARKS])
        if np.any(bad):
            i, j = np.argwhere(bad)[0]
            raise InvalidGraphError(f"unknown mark code {m[i, j].item()!r} at ({i}, {j}); expected 0 (no edge), 1, 2 or 3")
        if np.any(np.diagonal(m) != 0):
            i = int(np.flatnonzero(np.diagonal(m))[0])
            raise InvalidGraphError(
                f"mark matrix has code {m[i, i].item()!r} on the diagonal at ({i}, {i}): a self-loop on node "
                f"{node_list[i]!r}; the diagonal must be 0"
            )
        if np.any((m != 0) != (m.T != 0)):
            i, j = np.argwhere((m != 0) != (m.T != 0))[0]
            raise InvalidGraphError(f"mark matrix is not symmetric in adjacency at ({i}, {j})")
        pag = cls(node_list, meta=meta)
        for i, j in zip(*np.nonzero(np.triu(m, 1))):
            pag.add_edge(node_list[i], node_list[j], CODE_MARKS[int(m[j, i])], CODE_MARKS[int(m[i, j])])
        return pag

    def to_mark_matrix(self, nodes: Iterable[Hashable] | None = None) -> np.ndarray:
        """The dense form: an ``int8`` matrix with ``M[i, j]`` the code of the mark at ``j``.

        Examples
        --------
        >>> g = PAG([0, 1]); g.add_edge(0, 1, Mark.TAIL, Mark.ARROW)
        >>> g.to_mark_matrix().tolist()
        [[0, 2], [3, 0]]
        """
        node_list = self.nodes if nodes is None else list(nodes)
        index = {node: i for i, node in enumerate(node_list)}
        missing = set(self._nodes) - set(index)
        if missing:
            raise NodeNotFoundError(f"node(s) {sorted(missing, key=node_sort_key)} of the graph are missing from `nodes`")
        m = np.zeros((len(node_list), len(node_list)), dtype=np.int8)
        for u, nbrs in self._adj.items():
            for v, mark in nbrs.items():
                m[index[u], index[v]] = MARK_CODES[mark]
        return m

    def copy(self) -> "PAG":
        """A deep copy of structure, node attributes and meta.

        Examples
        --------
        >>> g = PAG(); g.add_node(0, tags=["a"])
        >>> h = g.copy(); h.node_attributes(0)["tags"].append("b")
        >>> g.node_attributes(0)
        {'tags': ['a']}
        """
        new = PAG(meta=_copy.deepcopy(self.meta))
        new._nodes = {n: _copy.deepcopy(attrs) for n, attrs in self._nodes.items()}
        new._adj = {n: dict(nbrs) for n, nbrs in self._adj.items()}
        return new

    # ------------------------------------------------------------------ nodes
    def add_node(self, node: Hashable, **attrs: Any) -> None:
        """Add ``node`` (or update its attributes if present)."""
        try:
            hash(node)
        except TypeError:
            raise InvalidGraphError(f"node {node!r} is not hashable ({type(node).__name__}); node ids are ints "
                                    "(token positions), strings or other hashable values such as tuples") from None
        if node not in self._nodes:
            self._nodes[node] = {}
            self._adj[node] = {}
        self._nodes[node].update(attrs)

    def add_nodes_from(self, nodes: Iterable[Hashable]) -> None:
        """Add every node in ``nodes``."""
        for node in nodes:
            self.add_node(node)

    @property
    def nodes(self) -> list[Hashable]:
        """The nodes, in insertion order."""
        return list(self._nodes)

    def node_attributes(self, node: Hashable) -> dict[str, Any]:
        """The attribute dict of ``node`` (live: updates change the graph)."""
        self._check_node(node)
        return self._nodes[node]

    def __contains__(self, node: object) -> bool:
        return node in self._nodes

    def __iter__(self) -> Iterator[Hashable]:
        return iter(self._nodes)

    def __len__(self) -> int:
        return len(self._nodes)

    def _check_node(self, *nodes: Hashable) -> None:
        missing = [n for n in nodes if n not in self._nodes]
        if missing:
            raise NodeNotFoundError(
                f"node(s) {missing} are not in the graph; it has {len(self._nodes)} nodes"
                + (f" ({self.nodes[:10]}{' ...' if len(self._nodes) > 10 else ''})" if self._nodes else "")
            )

    # ------------------------------------------------------------------ edges
    def add_edge(self, u: Hashable, v: Hashable, at_u: Mark | str = Mark.CIRCLE, at_v: Mark | str = Mark.CIRCLE) -> None:
        """Add (or replace) the edge between ``u`` and ``v`` with marks ``at_u`` and ``at_v``.

        Both nodes are added if missing.
        """
        if u == v:
            raise InvalidGraphError(f"self-loop on node {u!r}: a PAG edge needs two distinct nodes")
        # Parse both marks before touching the graph, so a bad mark leaves it unchanged
        # (not with new nodes or a one-sided edge).
        mark_u, mark_v = Mark.parse(at_u), Mark.parse(at_v)
        self.add_node(u)
        self.add_node(v)
        self._adj[u][v] = mark_v
        self._adj[v][u] = mark_u

    def remove_edge(self, u: Hashable, v: Hashable) -> None:
        """Remove the edge between ``u`` and ``v``."""
        self._check_edge(u, v)
        del self._adj[u][v]
        del self._adj[v][u]

    def has_edge(self, u: Hashable, v: Hashable) -> bool:
        """Whether ``u`` and ``v`` are adjacent (any marks)."""
        return u in self._adj and v in self._adj[u]

    is_adjacent = has_edge

    def _check_edge(self, u: Hashable, v: Hashable) -> None:
        self._check_node(u, v)
        if v not in self._adj[u]:
            raise NodeNotFoundError(f"no edge between {u!r} and {v!r}; adjacent to {u!r}: {self.adjacent(u)}")

    def mark(self, u: Hashable, v: Hashable) -> Mark:
        """The mark at ``v``'s end of the edge between ``u`` and ``v``.

        Examples
        --------
        >>> g = PAG(); g.add_edge(0, 1, Mark.CIRCLE, Mark.ARROW)
        >>> g.mark(0, 1), g.mark(1, 0)
        (<Mark.ARROW: 'arrow'>, <Mark.CIRCLE: 'circle'>)
        """
        self._check_edge(u, v)
        return self._adj[u][v]

    def set_mark(self, u: Hashable, v: Hashable, mark: Mark | str) -> None:
        """Set the mark at ``v``'s end of the existing edge between ``u`` and ``v``."""
        self._check_edge(u, v)
        self._adj[u][v] = Mark.parse(mark)

    def edge(self, u: Hashable, v: Hashable) -> Edge:
        """The edge between ``u`` and ``v`` as an :class:`Edge` value."""
        self._check_edge(u, v)
        return Edge(u, v, self._adj[v][u], self._adj[u][v])

    def edges(self) -> list[Edge]:
        """All edges, sorted canonically."""
        seen: list[Edge] = []
        for u, nbrs in self._adj.items():
            for v in nbrs:
                if node_sort_key(u) < node_sort_key(v):
                    seen.append(Edge(u, v, self._adj[v][u], nbrs[v]))
        return sorted(seen, key=lambda e: (node_sort_key(e.u), node_sort_key(e.v)))

    def number_of_edges(self) -> int:
        """The number of edges."""
        return sum(len(nbrs) for nbrs in self._adj.values()) // 2

    def adjacent(self, node: Hashable) -> list[Hashable]:
        """The nodes adjacent to ``node``, sorted."""
        self._check_node(node)
        return sorted(self._adj[node], key=node_sort_key)

    # ------------------------------------------------------------------ kinship
    def _by_marks(self, node: Hashable, at_node: Mark, at_other: Mark) -> list[Hashable]:
        self._check_node(node)
        return sorted(
            (w for w, mark_at_node in self._adj[node].items()
             if self._adj[w][node] is at_node and mark_at_node is at_other),
            key=node_sort_key,
        )

    def parents(self, node: Hashable) -> list[Hashable]:
        """Nodes ``w`` with ``w --> node``."""
        return self._by_marks(node, Mark.ARROW, Mark.TAIL)

    def children(self, node: Hashable) -> list[Hashable]:
        """Nodes ``w`` with ``node --> w``."""
        return self._by_marks(node, Mark.TAIL, Mark.ARROW)

    def spouses(self, node: Hashable) -> list[Hashable]:
        """Nodes ``w`` with ``w <-> node``."""
        return self._by_marks(node, Mark.ARROW, Mark.ARROW)

    def possible_parents(self, node: Hashable) -> list[Hashable]:
        """Nodes ``w`` adjacent to ``node`` with no arrowhead at ``w`` and no tail at ``node``."""
        self._check_node(node)
        return sorted(
            (w for w in self._adj[node] if self._adj[node][w] is not Mark.ARROW and self._adj[w][node] is not Mark.TAIL),
            key=node_sort_key,
        )

    def ancestors(self, node: Hashable) -> set[Hashable]:
        """Nodes with a directed path (all ``-->``) into ``node``."""
        return self._reach(node, lambda w, x: self._adj[w][x] is Mark.TAIL and self._adj[x][w] is Mark.ARROW)

    def possible_ancestors(self, node: Hashable) -> set[Hashable]:
        """Nodes with a possibly directed path into ``node`` (no arrowhead pointing back along it)."""
        return self._reach(node, lambda w, x: self._adj[w][x] is not Mark.ARROW)

    def _reach(self, node: Hashable, step_ok) -> set[Hashable]:
        """Walk backwards from ``node``: ``x`` is reached from ``w`` when edge ``x *-* w`` passes ``step_ok(w, x)``."""
        self._check_node(node)
        seen = {node}
        queue = deque([node])
        while queue:
            w = queue.popleft()
            for x in self._adj[w]:
                if x not in seen and step_ok(w, x):
                    seen.add(x)
                    queue.append(x)
        seen.discard(node)
        return seen

    def is_dag(self) -> bool:
        """Whether every edge is ``-->`` and there is no directed cycle."""
        import networkx as nx

        if any(sorted((e.at_u, e.at_v), key=lambda m: m.value) != [Mark.ARROW, Mark.TAIL] for e in self.edges()):
            return False
        return nx.is_directed_acyclic_graph(self.to_directed_graph())

    def to_directed_graph(self) -> Any:
        """The ``-->`` edges as a ``networkx.DiGraph`` (other edges are dropped)."""
        import networkx as nx

        g = nx.DiGraph()
        g.add_nodes_from(self._nodes)
        g.add_edges_from((e.u, e.v) if e.at_v is Mark.ARROW else (e.v, e.u)
                         for e in self.edges() if {e.at_u, e.at_v} == {Mark.TAIL, Mark.ARROW})
        return g

    def subgraph(self, nodes: Iterable[Hashable]) -> "PAG":
        """The induced subgraph over ``nodes`` (attributes copied)."""
        keep = list(nodes)
        self._check_node(*keep)
        keep_set = set(keep)
        sub = PAG(meta=_copy.deepcopy(self.meta))
        for n in keep:
            # Copy the dict directly: an attribute called "node" would clash with add_node's parameter.
            sub.add_node(n)
            sub._nodes[n].update(_copy.deepcopy(self._nodes[n]))
        for e in self.edges():
            if e.u in keep_set and e.v in keep_set:
                sub.add_edge(e.u, e.v, e.at_u, e.at_v)
        return sub

    # ------------------------------------------------------------------ value semantics
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PAG):
            return NotImplemented
        return set(self._nodes) == set(other._nodes) and self._adj == other._adj

    __hash__ = None  # mutable

    def __repr__(self) -> str:
        return f"PAG(nodes={len(self._nodes)}, edges={self.number_of_edges()})"

    def describe(self) -> str:
        """One line per edge in ``u o-> v`` notation.

        Examples
        --------
        >>> g = PAG(); g.add_edge("x", "y", Mark.CIRCLE, Mark.ARROW)
        >>> print(g.describe())
        x o-> y
        """
        return "\n".join(f"{e.u} {e.symbol} {e.v}" for e in self.edges())

    # ------------------------------------------------------------------ export (see whytoken.graphs.io)
    def to_json(self) -> dict[str, Any]:
        """The ``whytoken.pag/1`` JSON form (a dict); see :mod:`whytoken.graphs.io`."""
        from whytoken.graphs import io

        return io.pag_to_json(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | str) -> "PAG":
        """Read the ``whytoken.pag/1`` JSON form (a dict or a JSON string)."""
        from whytoken.graphs import io

        return io.pag_from_json(data)

    def to_networkx(self) -> Any:
        """A ``networkx.Graph`` with edge attributes ``marks`` ({node: mark value})."""
        from whytoken.graphs import io

        return io.pag_to_networkx(self)

    @classmethod
    def from_networkx(cls, graph: Any) -> "PAG":
        """Inverse of :meth:`to_networkx`."""
        from whytoken.graphs import io

        return io.pag_from_networkx(graph)

    def to_graphml(self, path: str | Path | None = None) -> str:
        """GraphML text (marks as ``mark_u``/``mark_v`` edge data); also written to ``path`` when given.

        Examples
        --------
        >>> g = PAG(); g.add_edge(0, 1, Mark.CIRCLE, Mark.ARROW)
        >>> PAG.from_graphml(g.to_graphml()) == g
        True
        """
        from whytoken.graphs import io

        return io.pag_to_graphml(self, path)

    @classmethod
    def from_graphml(cls, source: str | bytes | Path) -> "PAG":
        """Read GraphML from a file path or from GraphML text; see :func:`whytoken.graphs.io.pag_from_graphml`."""
        from whytoken.graphs import io

        return io.pag_from_graphml(source)

    def to_dot(self, path: str | Path | None = None) -> str:
        """Graphviz DOT text (``dir=both`` with ``none``/``normal``/``odot`` ends); also written to ``path``.

        Examples
        --------
        >>> g = PAG(); g.add_edge("a", "b", Mark.TAIL, Mark.ARROW)
        >>> PAG.from_dot(g.to_dot()) == g
        True
        """
        from whytoken.graphs import io

        return io.pag_to_dot(self, path)

    @classmethod
    def from_dot(cls, source: str | Path) -> "PAG":
        """Read DOT from a file path or DOT text; see :func:`whytoken.graphs.io.pag_from_dot`."""
        from whytoken.graphs import io

        return io.pag_from_dot(source)

    def to_causallearn(self) -> tuple[Any, list[Hashable]]:
        """A causal-learn ``GeneralGraph`` and the PAG node of each of its indices.

        Examples
        --------
        >>> g = PAG(); g.add_edge(0, 1, Mark.TAIL, Mark.ARROW)
        >>> cl, nodes = g.to_causallearn()
        >>> PAG.from_causallearn(cl, nodes) == g
        True
        """
        from whytoken.graphs import io

        return io.pag_to_causallearn(self)

    @classmethod
    def from_causallearn(cls, graph: Any, nodes: Iterable[Hashable] | None = None) -> "PAG":
        """A PAG from a causal-learn ``GeneralGraph``; ``nodes`` names its indices (default: node names)."""
        from whytoken.graphs import io

        return io.pag_from_causallearn(graph, None if nodes is None else list(nodes))

    def save(self, path: str | Path, format: str | None = None) -> Path:
        """Write the graph to ``path``; ``format`` is one of :func:`whytoken.graphs.io.list_formats`
        (default: from the suffix, ``.json``, ``.graphml``/``.xml`` or ``.dot``/``.gv``).

        Examples
        --------
        >>> import tempfile, pathlib
        >>> g = PAG(meta={"model": "tiny"}); g.add_edge(0, 1, Mark.ARROW, Mark.ARROW)
        >>> path = g.save(pathlib.Path(tempfile.mkdtemp()) / "pag.graphml")
        >>> PAG.load(path) == g, PAG.load(path).meta
        (True, {'model': 'tiny'})
        """
        from whytoken.graphs import io

        return io.write_pag(self, path, format)

    @classmethod
    def load(cls, path: str | Path, format: str | None = None) -> "PAG":
        """Read a graph written by :meth:`save` (format from the suffix unless given)."""
        from whytoken.graphs import io

        return io.read_pag(path, format)
