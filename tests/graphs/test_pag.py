"""The PAG model on small fixed graphs whose answers are worked out by hand.

Fixture ``fork`` (six nodes)::

    0 --> 1 o-> 2 <-> 3
                |
                2 --> 4 o-o 5

* parents: 1 <- {0}; 4 <- {2}; 2 has none (``o->`` and ``<->`` are not ``-->``).
* spouses: 2 <-> 3.
* possible parents of 4: 2 (``-->``) and 5 (``o-o``); of 2: only 1 (``o->``; 3 has an
  arrowhead at 3's end, 4 has one at 4's end).
* ancestors of 4: {2} (``1 o-> 2`` is not directed); of 1: {0}.
* possible ancestors of 4: 2 and 5 directly, then 1 (``1 o-> 2``), then 0 (``0 --> 1``);
  3 is not one (``3 <-> 2`` has an arrowhead at 3). Of 0 and of 3: none.
"""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

from whytoken.errors import InvalidGraphError, NodeNotFoundError
from whytoken.graphs import CODE_MARKS, MARK_CODES, PAG, Edge, Mark

T, A, C = Mark.TAIL, Mark.ARROW, Mark.CIRCLE


@pytest.fixture
def fork() -> PAG:
    g = PAG(range(6), meta={"learner": "hand"})
    g.add_edge(0, 1, T, A)
    g.add_edge(1, 2, C, A)
    g.add_edge(3, 2, A, A)
    g.add_edge(2, 4, T, A)
    g.add_edge(4, 5, C, C)
    return g


# ---------------------------------------------------------------------------- kinship
def test_parents_children_spouses(fork):
    assert fork.parents(1) == [0]
    assert fork.parents(2) == []
    assert fork.parents(4) == [2]
    assert fork.children(0) == [1]
    assert fork.children(2) == [4]
    assert fork.children(1) == []
    assert fork.spouses(2) == [3] and fork.spouses(3) == [2]
    assert fork.spouses(4) == []


def test_possible_parents(fork):
    assert fork.possible_parents(4) == [2, 5]
    assert fork.possible_parents(2) == [1]
    assert fork.possible_parents(0) == []


def test_ancestors(fork):
    assert fork.ancestors(4) == {2}
    assert fork.ancestors(1) == {0}
    assert fork.ancestors(2) == set()


def test_possible_ancestors(fork):
    assert fork.possible_ancestors(4) == {0, 1, 2, 5}
    assert fork.possible_ancestors(2) == {0, 1}
    assert fork.possible_ancestors(0) == set()
    assert fork.possible_ancestors(3) == set()


def test_adjacency_and_marks(fork):
    assert fork.adjacent(2) == [1, 3, 4]
    assert fork.has_edge(2, 1) and fork.is_adjacent(1, 2) and not fork.has_edge(0, 2)
    assert fork.mark(1, 2) is A and fork.mark(2, 1) is C  # mark(u, v) is the mark at v
    assert fork.edge(2, 1) == Edge(1, 2, C, A)
    assert fork.number_of_edges() == 5
    assert fork.describe().splitlines() == ["0 --> 1", "1 o-> 2", "2 <-> 3", "2 --> 4", "4 o-o 5"]


def test_set_mark_changes_one_end_only(fork):
    fork.set_mark(2, 1, "tail")  # 1 --> 2
    assert fork.parents(2) == [1]
    assert fork.mark(1, 2) is A


def test_remove_edge(fork):
    fork.remove_edge(2, 3)
    assert not fork.has_edge(3, 2) and fork.spouses(2) == [] and 3 in fork


def test_is_dag_and_directed_graph():
    g = PAG.from_dag(nx.DiGraph([(0, 1), (1, 2), (0, 2)]))
    assert g.is_dag()
    assert sorted(g.to_directed_graph().edges) == [(0, 1), (0, 2), (1, 2)]
    cyclic = PAG.from_dag(nx.DiGraph([(0, 1), (1, 2), (2, 0)]))
    assert not cyclic.is_dag()
    g.set_mark(1, 0, C)  # 0 o-> 1 is not a DAG edge
    assert not g.is_dag()
    assert PAG([0, 1]).is_dag()


def test_complete_graph():
    g = PAG.complete(["a", "b", "c", "d"], mark=Mark.CIRCLE)
    assert g.number_of_edges() == 6
    assert all((e.at_u, e.at_v) == (C, C) for e in g.edges())


# ---------------------------------------------------------------------------- dense form
def test_mark_matrix_entries_by_hand(fork):
    m = fork.to_mark_matrix()
    assert m.dtype == np.int8
    assert m[0, 1] == MARK_CODES[A] and m[1, 0] == MARK_CODES[T]  # 0 --> 1
    assert m[1, 2] == MARK_CODES[A] and m[2, 1] == MARK_CODES[C]  # 1 o-> 2
    assert m[2, 3] == m[3, 2] == MARK_CODES[A]  # 2 <-> 3
    assert m[0, 2] == 0 and np.all(np.diagonal(m) == 0)
    assert CODE_MARKS[int(m[4, 5])] is C


def test_mark_matrix_round_trip(fork):
    order = [5, 3, 1, 0, 4, 2]
    back = PAG.from_mark_matrix(fork.to_mark_matrix(order), nodes=order)
    assert back == fork
    assert back.nodes == order


def test_mark_matrix_missing_nodes_is_refused(fork):
    with pytest.raises(NodeNotFoundError, match=r"\[5\]"):
        fork.to_mark_matrix([0, 1, 2, 3, 4])


@pytest.mark.parametrize(
    "matrix, match",
    [
        (np.array([[0, 2], [0, 0]]), "not symmetric in adjacency at"),
        (np.array([[0, 7], [3, 0]]), "unknown mark code 7 at"),
        (np.array([[0, np.nan], [3, 0]]), "unknown mark code nan"),
        (np.array([[2, 0], [0, 0]]), r"diagonal at \(0, 0\).*self-loop on node 0"),
        (np.zeros((2, 3)), r"must be square, got shape \(2, 3\)"),
    ],
)
def test_bad_mark_matrix(matrix, match):
    with pytest.raises(InvalidGraphError, match=match):
        PAG.from_mark_matrix(matrix)


def test_mark_matrix_needs_distinct_nodes():
    with pytest.raises(InvalidGraphError, match="node 'a' appears twice"):
        PAG.from_mark_matrix(np.array([[0, 2], [3, 0]]), nodes=["a", "a"])


# ---------------------------------------------------------------------------- value semantics
def test_equality_is_by_value(fork):
    same = PAG([5, 4, 3, 2, 1, 0])  # other node order, other insertion order, reversed edges
    same.add_edge(5, 4, C, C)
    same.add_edge(4, 2, A, T)
    same.add_edge(2, 3, A, A)
    same.add_edge(2, 1, A, C)
    same.add_edge(1, 0, A, T)
    same.add_node(0, label="attributes do not count")
    same.meta["other"] = "meta does not count"
    assert same == fork
    assert PAG.from_edges(fork.nodes, fork.edges()) == fork


def test_inequality(fork):
    other = fork.copy()
    other.set_mark(4, 5, A)
    assert other != fork
    bigger = fork.copy()
    bigger.add_node(6)
    assert bigger != fork
    assert fork != "not a graph"
    assert fork.__eq__(42) is NotImplemented


def test_pag_is_unhashable(fork):
    with pytest.raises(TypeError):
        hash(fork)


def test_copy_is_independent(fork):
    fork.add_node(0, label="The", patch={"rows": [1, 2]})
    fork.meta["provenance"] = {"layers": [0, 1]}
    dup = fork.copy()
    assert dup == fork and dup.node_attributes(0) == fork.node_attributes(0) and dup.meta == fork.meta
    dup.set_mark(0, 1, C)
    dup.add_edge(0, 5, T, A)
    dup.node_attributes(0)["patch"]["rows"].append(3)
    dup.meta["provenance"]["layers"].append(2)
    assert fork.mark(0, 1) is A and not fork.has_edge(0, 5)
    assert fork.node_attributes(0)["patch"] == {"rows": [1, 2]}
    assert fork.meta["provenance"] == {"layers": [0, 1]}


def test_subgraph(fork):
    # add_node(node, **attrs) cannot take an attribute called "node"; subgraph used to crash on one.
    fork.node_attributes(2).update(label="cat", node="an attribute called node")
    sub = fork.subgraph([2, 1, 0])
    assert sub.nodes == [2, 1, 0]
    assert [e.symbol for e in sub.edges()] == ["-->", "o->"]
    assert sub.node_attributes(2) == {"label": "cat", "node": "an attribute called node"}
    sub.node_attributes(2)["label"] = "dog"
    sub.meta["learner"] = "changed"
    assert fork.node_attributes(2)["label"] == "cat" and fork.meta["learner"] == "hand"


def test_node_attributes_are_live(fork):
    fork.node_attributes(3)["kind"] = "image"
    assert fork.node_attributes(3) == {"kind": "image"}
    assert len(fork) == 6 and list(fork) == fork.nodes and 3 in fork and 9 not in fork


# ---------------------------------------------------------------------------- errors
def test_self_loop_is_refused():
    g = PAG([0])
    with pytest.raises(InvalidGraphError, match="self-loop on node 0"):
        g.add_edge(0, 0, T, A)


def test_unknown_node_names_it(fork):
    with pytest.raises(NodeNotFoundError, match=r"\[99\] are not in the graph"):
        fork.mark(0, 99)
    with pytest.raises(NodeNotFoundError, match=r"\['x'\]"):
        fork.parents("x")
    with pytest.raises(NodeNotFoundError, match="no edge between 0 and 2"):
        fork.remove_edge(0, 2)
    with pytest.raises(NodeNotFoundError, match=r"\[42\]"):
        fork.subgraph([0, 42])


@pytest.mark.parametrize("at_u, at_v", [("bogus", "arrow"), ("tail", "bogus")])
def test_unknown_mark_leaves_the_graph_unchanged(at_u, at_v):
    # Regression: a bad mark used to leave new nodes and a one-sided edge behind.
    g = PAG([0])
    with pytest.raises(InvalidGraphError, match="unknown edge mark 'bogus'"):
        g.add_edge(0, 1, at_u, at_v)
    assert g.nodes == [0] and g == PAG([0])


def test_set_mark_unknown_mark(fork):
    with pytest.raises(InvalidGraphError, match="'sideways'"):
        fork.set_mark(0, 1, "sideways")
    assert fork.mark(0, 1) is A
