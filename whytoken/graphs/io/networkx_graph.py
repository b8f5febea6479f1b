"""Conversion to and from networkx graphs.

A PAG becomes an undirected ``networkx.Graph`` whose edges carry ``marks``, a
dict from each endpoint to its mark name; node attributes and meta are deep
copies and any hashable node is kept as it is. A ``networkx.DiGraph`` without
marks reads as a graph of ``-->`` edges.
"""

from __future__ import annotations

import copy
from typing import Any, Mapping

from whytoken.errors import InvalidGraphError
from whytoken.graphs.io._schema import MARK_NAMES
from whytoken.graphs.marks import Mark
from whytoken.graphs.pag import PAG

__all__ = ["pag_to_networkx", "pag_from_networkx"]


def pag_to_networkx(pag: PAG) -> Any:
    """An undirected ``networkx.Graph``: edge attribute ``marks`` maps each endpoint to its mark value.

    Node attributes and ``meta`` (as ``graph.graph``) are deep copies; node order is kept.

    Examples
    --------
    >>> from whytoken.graphs import PAG, Mark
    >>> g = PAG(meta={"seed": 0}); g.add_edge(0, 1, Mark.TAIL, Mark.ARROW)
    >>> nxg = pag_to_networkx(g)
    >>> nxg.edges[0, 1]["marks"], nxg.graph
    ({0: 'tail', 1: 'arrow'}, {'seed': 0})
    """
    import networkx as nx

    graph = nx.Graph()
    graph.graph.update(copy.deepcopy(pag.meta))
    for node in pag.nodes:
        graph.add_node(node)
        graph.nodes[node].update(copy.deepcopy(pag.node_attributes(node)))
    for e in pag.edges():
        graph.add_edge(e.u, e.v, marks={e.u: e.at_u.value, e.v: e.at_v.value})
    return graph


def pag_from_networkx(graph: Any) -> PAG:
    """A PAG from a ``networkx.Graph`` made by :func:`pag_to_networkx`, or from a ``networkx.DiGraph``.

    In an undirected graph every edge needs ``marks``: a mapping from each of its two endpoints to a
    :class:`Mark` or mark name. In a ``DiGraph`` an edge ``u -> v`` without ``marks`` is ``u --> v``.

    Raises
    ------
    InvalidGraphError
        A multigraph, an edge without usable marks, a self-loop, or both ``u -> v`` and ``v -> u``.

    Examples
    --------
    >>> import networkx as nx
    >>> nxg = nx.Graph(); nxg.add_edge("a", "b", marks={"a": "circle", "b": "arrow"})
    >>> print(pag_from_networkx(nxg).describe())
    a o-> b
    """
    if graph.is_multigraph():
        raise InvalidGraphError(
            f"{type(graph).__name__} has parallel edges; a PAG has at most one edge per pair: convert it to "
            "networkx.Graph (with 'marks') or networkx.DiGraph first"
        )
    pag = PAG(meta=copy.deepcopy(dict(graph.graph)))
    for node, attrs in graph.nodes(data=True):
        pag.add_node(node)
        pag.node_attributes(node).update(copy.deepcopy(attrs))
    directed = graph.is_directed()
    for u, v, attrs in graph.edges(data=True):
        if u == v:
            raise InvalidGraphError(f"self-loop on node {u!r}: a PAG edge needs two distinct nodes; remove it")
        marks = attrs.get("marks")
        if marks is None and directed:
            at_u, at_v = Mark.TAIL, Mark.ARROW
        elif isinstance(marks, Mapping) and u in marks and v in marks and len(marks) == 2:
            at_u, at_v = Mark.parse(marks[u]), Mark.parse(marks[v])
        else:
            raise InvalidGraphError(
                f"edge ({u!r}, {v!r}) has marks={marks!r}; expected a dict mapping {u!r} and {v!r} to "
                f"{MARK_NAMES} (e.g. marks={{{u!r}: 'tail', {v!r}: 'arrow'}})"
            )
        if directed and pag.has_edge(u, v):
            raise InvalidGraphError(
                f"the DiGraph has both ({u!r}, {v!r}) and ({v!r}, {u!r}); a PAG has one edge per pair: "
                "keep one, or give the pair a single edge with 'marks'"
            )
        pag.add_edge(u, v, at_u, at_v)
    return pag
