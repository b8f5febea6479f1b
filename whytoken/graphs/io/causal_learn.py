"""Conversion to and from causal-learn's ``GeneralGraph`` (imported only when called).

causal-learn stores endpoints in ``graph.graph[i, j]``, the endpoint at node
*i*'s end of the edge *i* -- *j*: TAIL -1, ARROW 1, CIRCLE 2. Its double edges
and NULL/STAR endpoints have no PAG counterpart and are refused on reading.
"""

from __future__ import annotations

import copy
from typing import Any, Hashable

import numpy as np

from whytoken.errors import InvalidGraphError
from whytoken.graphs.marks import Mark
from whytoken.graphs.pag import PAG

__all__ = ["pag_to_causallearn", "pag_from_causallearn"]


def _causallearn_endpoints() -> dict[Mark, Any]:
    from causallearn.graph.Endpoint import Endpoint

    return {Mark.TAIL: Endpoint.TAIL, Mark.ARROW: Endpoint.ARROW, Mark.CIRCLE: Endpoint.CIRCLE}


# (mark at node1, mark at node2) pairs that GeneralGraph.add_edge accepts; the others are flipped.
_CAUSALLEARN_ORIENTED = {
    (Mark.TAIL, Mark.TAIL), (Mark.TAIL, Mark.ARROW), (Mark.TAIL, Mark.CIRCLE),
    (Mark.ARROW, Mark.ARROW), (Mark.CIRCLE, Mark.ARROW), (Mark.CIRCLE, Mark.CIRCLE),
}


def pag_to_causallearn(pag: PAG) -> tuple[Any, list[Hashable]]:
    """A causal-learn ``GeneralGraph`` for ``pag`` and the PAG node of each of its nodes, in index order.

    causal-learn's matrix convention is ``graph.graph[i, j]`` = the endpoint at node *i*'s end of the
    edge *i* -- *j* (TAIL -1, ARROW 1, CIRCLE 2): ``i --> j`` is ``graph[i, j] = -1, graph[j, i] = 1``.
    Node names are ``str(node)``; node attributes go to ``GraphNode.attributes`` and meta to
    ``GeneralGraph.attributes`` (deep copies).

    Raises
    ------
    InvalidGraphError
        Two nodes with the same ``str()`` (causal-learn identifies nodes by name).

    Examples
    --------
    >>> from whytoken.graphs import PAG, Mark
    >>> g = PAG(); g.add_edge(0, 1, Mark.TAIL, Mark.ARROW)
    >>> cl, nodes = pag_to_causallearn(g)
    >>> cl.graph.tolist(), nodes
    ([[0, -1], [1, 0]], [0, 1])
    >>> pag_from_causallearn(cl, nodes) == g
    True
    """
    from causallearn.graph.Edge import Edge as CLEdge
    from causallearn.graph.GeneralGraph import GeneralGraph
    from causallearn.graph.GraphNode import GraphNode

    endpoints = _causallearn_endpoints()
    nodes = pag.nodes
    names = [str(n) for n in nodes]
    if len(set(names)) != len(names):
        dup = next(name for i, name in enumerate(names) if name in names[:i])
        clash = [n for n in nodes if str(n) == dup]
        raise InvalidGraphError(
            f"nodes {clash} share the name {dup!r}; causal-learn identifies nodes by str(node): relabel them"
        )
    cl_nodes = []
    for node, name in zip(nodes, names):
        cl_node = GraphNode(name)
        cl_node.attributes = copy.deepcopy(pag.node_attributes(node))
        cl_nodes.append(cl_node)
    cl_of = dict(zip(nodes, cl_nodes))
    graph = GeneralGraph(list(cl_nodes))
    graph.attributes = copy.deepcopy(pag.meta)
    index = {node: i for i, node in enumerate(nodes)}
    for e in pag.edges():
        u, v, at_u, at_v = e.u, e.v, e.at_u, e.at_v
        if (at_u, at_v) not in _CAUSALLEARN_ORIENTED:
            u, v, at_u, at_v = v, u, at_v, at_u
        graph.add_edge(CLEdge(cl_of[u], cl_of[v], endpoints[at_u], endpoints[at_v]))
        i, j = index[u], index[v]
        # add_edge reports success inconsistently (None or True) and refuses some orientations
        # silently, so check the matrix it wrote.
        if (graph.graph[i, j], graph.graph[j, i]) != (endpoints[at_u].value, endpoints[at_v].value):
            raise InvalidGraphError(
                f"causal-learn did not store edge {e!r} (matrix holds {graph.graph[i, j]}, {graph.graph[j, i]}); "
                "expected its endpoint codes: this causal-learn version encodes edges differently"
            )
    return graph, list(nodes)


def pag_from_causallearn(graph: Any, nodes: list[Hashable] | None = None) -> PAG:
    """A PAG from a causal-learn ``GeneralGraph`` (for example ``fci(...)[0]`` or ``cg.G``).

    Parameters
    ----------
    graph : causallearn.graph.GeneralGraph.GeneralGraph
        Endpoints are read from ``graph.graph`` (see :func:`pag_to_causallearn`).
    nodes : list of hashable, optional
        The PAG node for each causal-learn node, in index order (as returned by
        :func:`pag_to_causallearn`). Default: the causal-learn node names (str).

    Raises
    ------
    InvalidGraphError
        ``nodes`` of the wrong length or with repeats, or a pair whose endpoints are no PAG edge
        (one-sided, STAR/NULL, or causal-learn's double edges TAIL_AND_ARROW / ARROW_AND_ARROW).

    Examples
    --------
    >>> from causallearn.graph.GeneralGraph import GeneralGraph
    >>> from causallearn.graph.GraphNode import GraphNode
    >>> from causallearn.graph.Edge import Edge
    >>> from causallearn.graph.Endpoint import Endpoint
    >>> x, y = GraphNode("X1"), GraphNode("X2")
    >>> cl = GeneralGraph([x, y]); _ = cl.add_edge(Edge(x, y, Endpoint.CIRCLE, Endpoint.ARROW))
    >>> print(pag_from_causallearn(cl).describe())
    X1 o-> X2
    """
    if not (hasattr(graph, "get_nodes") and hasattr(graph, "graph")):
        raise InvalidGraphError(f"expected a causal-learn GeneralGraph (e.g. fci(...)[0]), got "
                                f"{type(graph).__name__}")
    cl_nodes = list(graph.get_nodes())
    matrix = np.asarray(graph.graph)
    if nodes is None:
        node_list: list[Hashable] = [node.get_name() for node in cl_nodes]
    else:
        node_list = list(nodes)
        if len(node_list) != len(cl_nodes):
            raise InvalidGraphError(
                f"{len(node_list)} nodes given for a causal-learn graph with {len(cl_nodes)} nodes; "
                "expected one PAG node per causal-learn node, in index order"
            )
    if len(set(node_list)) != len(node_list):
        dup = next(n for i, n in enumerate(node_list) if n in node_list[:i])
        raise InvalidGraphError(f"node {dup!r} appears twice; expected distinct nodes")
    if matrix.shape != (len(cl_nodes), len(cl_nodes)):
        raise InvalidGraphError(f"graph.graph has shape {matrix.shape}; expected ({len(cl_nodes)}, {len(cl_nodes)})")
    marks = {-1: Mark.TAIL, 1: Mark.ARROW, 2: Mark.CIRCLE}
    pag = PAG(meta=copy.deepcopy(getattr(graph, "attributes", None) or {}))
    for node, cl_node in zip(node_list, cl_nodes):
        pag.add_node(node)
        pag.node_attributes(node).update(copy.deepcopy(getattr(cl_node, "attributes", None) or {}))
    for i in range(len(node_list)):
        if matrix[i, i] != 0:
            raise InvalidGraphError(
                f"causal-learn matrix has {matrix[i, i]} at ({i}, {i}): a self-loop on {node_list[i]!r}; expected 0"
            )
    for i, j in zip(*np.nonzero(np.triu((matrix != 0) | (matrix.T != 0), 1))):
        a, b = int(matrix[i, j]), int(matrix[j, i])
        if a not in marks or b not in marks:
            raise InvalidGraphError(
                f"edge {node_list[i]!r} -- {node_list[j]!r} has causal-learn endpoint codes ({a}, {b}); expected "
                "-1 (TAIL), 1 (ARROW) or 2 (CIRCLE) at both ends: a PAG cannot hold double edges, NULL or STAR ends"
            )
        pag.add_edge(node_list[i], node_list[j], marks[a], marks[b])
    return pag
