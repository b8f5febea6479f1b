"""Marks and edges: parsing, canonical order, value semantics and errors."""

from __future__ import annotations

import dataclasses

import pytest

from whytoken.errors import InvalidGraphError, NodeNotFoundError
from whytoken.graphs import Edge, Mark, node_sort_key


@pytest.mark.parametrize("text, mark", [("tail", Mark.TAIL), ("arrow", Mark.ARROW), ("circle", Mark.CIRCLE),
                                        ("ARROW", Mark.ARROW), (Mark.CIRCLE, Mark.CIRCLE)])
def test_parse_accepts_names_any_case_and_marks(text, mark):
    assert Mark.parse(text) is mark


def test_parse_unknown_mark_names_the_value_and_the_choices():
    with pytest.raises(InvalidGraphError, match=r"'bogus'.*'tail', 'arrow', 'circle'"):
        Mark.parse("bogus")


def test_symbols():
    assert [m.symbol for m in (Mark.TAIL, Mark.ARROW, Mark.CIRCLE)] == ["-", ">", "o"]


@pytest.mark.parametrize(
    "at_u, at_v, symbol",
    [(Mark.TAIL, Mark.ARROW, "-->"), (Mark.ARROW, Mark.ARROW, "<->"), (Mark.CIRCLE, Mark.ARROW, "o->"),
     (Mark.CIRCLE, Mark.CIRCLE, "o-o"), (Mark.TAIL, Mark.TAIL, "---"), (Mark.TAIL, Mark.CIRCLE, "--o"),
     (Mark.ARROW, Mark.TAIL, "<--"), (Mark.ARROW, Mark.CIRCLE, "<-o")],
)
def test_edge_symbol_reads_from_u_to_v(at_u, at_v, symbol):
    assert Edge(0, 1, at_u, at_v).symbol == symbol


def test_edge_is_stored_canonically_with_marks_swapped():
    e = Edge(2, 1, Mark.ARROW, Mark.TAIL)  # 2 <-- 1
    assert (e.u, e.v, e.at_u, e.at_v) == (1, 2, Mark.TAIL, Mark.ARROW)
    assert e == Edge(1, 2, Mark.TAIL, Mark.ARROW)
    assert hash(e) == hash(Edge(1, 2, "tail", "arrow"))
    assert e.nodes == (1, 2)
    assert repr(e) == "Edge(1, 2, '-->')"


def test_edge_marks_from_strings_are_parsed():
    e = Edge("a", "b", "circle", "arrow")
    assert e.at_u is Mark.CIRCLE and e.at_v is Mark.ARROW


def test_edge_mark_at_and_other():
    e = Edge(0, 1, Mark.CIRCLE, Mark.ARROW)
    assert e.mark_at(0) is Mark.CIRCLE and e.mark_at(1) is Mark.ARROW
    assert e.other(0) == 1 and e.other(1) == 0


def test_edges_differing_in_one_mark_are_unequal():
    assert Edge(0, 1, Mark.CIRCLE, Mark.ARROW) != Edge(0, 1, Mark.TAIL, Mark.ARROW)


def test_edge_is_frozen():
    e = Edge(0, 1, Mark.TAIL, Mark.ARROW)
    with pytest.raises(dataclasses.FrozenInstanceError):
        e.u = 5  # type: ignore[misc]


def test_edge_self_loop_names_the_node():
    with pytest.raises(InvalidGraphError, match="self-loop on node 3"):
        Edge(3, 3, Mark.TAIL, Mark.ARROW)


def test_edge_unknown_mark():
    with pytest.raises(InvalidGraphError, match="'sideways'"):
        Edge(0, 1, "sideways", Mark.ARROW)


def test_edge_mark_at_foreign_node_names_it():
    with pytest.raises(NodeNotFoundError, match="node 7 is not an endpoint"):
        Edge(0, 1, Mark.TAIL, Mark.ARROW).mark_at(7)
    with pytest.raises(NodeNotFoundError, match="node 'x' is not an endpoint"):
        Edge(0, 1, Mark.TAIL, Mark.ARROW).other("x")


def test_node_sort_key_orders_numbers_first_then_by_type_name_and_repr():
    assert sorted(["b", 3, (1, 2), 1.5, "a", -1], key=node_sort_key) == [-1, 1.5, 3, "a", "b", (1, 2)]
    # Mixed node types still give a canonical edge.
    assert Edge("a", 0, Mark.ARROW, Mark.TAIL).nodes == (0, "a")
