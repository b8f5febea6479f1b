"""Bad inputs to the torch-free layers: graph files, PAGs, CI tests and learners, explanations, file writes."""

from __future__ import annotations

import json

import numpy as np

from tests.reliability.harness import Kit, bad_input
from whytoken.errors import (
    CheckpointError,
    InvalidAttentionError,
    InvalidGraphError,
    InvalidOrderError,
    InvalidParameterError,
    OutputError,
    SchemaError,
    UnknownCriterionError,
    UnknownFormatError,
    UnknownLearnerError,
)



def _pag():
    from whytoken.graphs import PAG, Mark

    g = PAG([0, 1, 2])
    g.add_edge(0, 1, Mark.TAIL, Mark.ARROW)
    g.add_edge(1, 2, Mark.CIRCLE, Mark.ARROW)
    return g


def _graph_doc() -> dict:
    from whytoken.graphs.io import pag_to_json

    return pag_to_json(_pag())


def _attention(n: int = 6) -> np.ndarray:
    rng = np.random.default_rng(0)
    a = np.tril(rng.random((n, n)) + 0.1)
    return a / a.sum(axis=1, keepdims=True)


# ------------------------------------------------------------------ graph files
@bad_input("graphs", SchemaError, "g.json")
def case_graph_json_not_json(kit: Kit):
    """A graph.json that is not JSON."""
    from whytoken.graphs import read_pag

    path = kit.path("notjson/g.json")
    path.write_text("{ nodes: [0, 1 ")
    return read_pag(path)


@bad_input("graphs", SchemaError, "whytoken.pag/7")
def case_graph_json_future_schema(kit: Kit):
    """A graph.json with a schema tag from the future."""
    from whytoken.graphs import read_pag

    doc = _graph_doc()
    doc["schema"] = "whytoken.pag/7"
    path = kit.path("future/g.json")
    path.write_text(json.dumps(doc))
    return read_pag(path)


@bad_input("graphs", SchemaError, "arow")
def case_graph_json_unknown_mark(kit: Kit):
    """An edge mark spelled wrong."""
    from whytoken.graphs.io import pag_from_json

    doc = _graph_doc()
    doc["edges"][0]["mark_v"] = "arow"
    return pag_from_json(doc)


@bad_input("graphs", SchemaError, "17")
def case_graph_json_edge_to_unknown_node(kit: Kit):
    """An edge naming a node the file does not list."""
    from whytoken.graphs.io import pag_from_json

    doc = _graph_doc()
    doc["edges"][0]["v"] = 17
    return pag_from_json(doc)


@bad_input("graphs", SchemaError, "list")
def case_graph_json_is_a_list(kit: Kit):
    """A JSON array where the graph object should be."""
    from whytoken.graphs.io import pag_from_json

    return pag_from_json("[1, 2, 3]")


@bad_input("graphs", SchemaError, "g.graphml")
def case_graphml_malformed_xml(kit: Kit):
    """A GraphML file cut off in the middle."""
    from whytoken.graphs import read_pag

    path = kit.path("xml/g.graphml")
    path.write_text(_pag().to_graphml()[:200])
    return read_pag(path)


@bad_input("graphs", SchemaError, "g.dot")
def case_dot_garbage(kit: Kit):
    """A .dot file that is not DOT."""
    from whytoken.graphs import read_pag

    path = kit.path("dot/g.dot")
    path.write_text("this is { not -> graphviz")
    return read_pag(path)


@bad_input("graphs", UnknownFormatError, ".png")
def case_graph_unknown_suffix(kit: Kit):
    """Saving a graph under a suffix no format claims."""
    return _pag().save(kit.path("suffix/g.png"))


@bad_input("graphs", CheckpointError, "nope.json")
def case_graph_missing_file(kit: Kit):
    """Reading a graph file that does not exist."""
    from whytoken.graphs import read_pag

    return read_pag(kit.tmp / "nope.json")


@bad_input("graphs", SchemaError, "latin.json")
def case_graph_not_utf8(kit: Kit):
    """A graph file in another encoding."""
    from whytoken.graphs import read_pag

    path = kit.path("enc/latin.json")
    path.write_bytes('{"schema": "whytoken.pag/1", "nodes": ["caf\xe9"]}'.encode("latin-1"))
    return read_pag(path)


@bad_input("graphs", InvalidGraphError, "node 0")
def case_pag_self_loop(kit: Kit):
    """An edge from a node to itself."""
    from whytoken.graphs import PAG, Mark

    return PAG([0, 1]).add_edge(0, 0, Mark.TAIL, Mark.ARROW)


@bad_input("graphs", InvalidGraphError, "'tale'")
def case_mark_misspelled(kit: Kit):
    """A mark given by a misspelled name."""
    from whytoken.graphs import Mark

    return Mark("tale")


@bad_input("graphs", OutputError, "no_such_dir")
def case_graph_save_into_missing_directory(kit: Kit):
    """Saving a graph into a directory that does not exist."""
    return _pag().save(kit.tmp / "no_such_dir" / "g.json")


@bad_input("graphs", OutputError, "is a directory")
def case_graph_save_onto_a_directory(kit: Kit):
    """Saving a graph where the path is a directory."""
    target = kit.path("isdir/g.json")
    target.mkdir()
    return _pag().save(target)


@bad_input("graphs", InvalidGraphError, "[1]", "not hashable")
def case_pag_unhashable_node(kit: Kit):
    """A list as a node id (TypeError before)."""
    from whytoken.graphs import PAG

    return PAG([[1], 2])


@bad_input("graphs", InvalidGraphError, "DiGraph", "dict")
def case_pag_from_a_dict_not_a_dag(kit: Kit):
    """from_dag of something that is not a graph (AttributeError before)."""
    from whytoken.graphs import PAG

    return PAG.from_dag({0: [1]})


@bad_input("graphs", InvalidGraphError, "GeneralGraph", "list")
def case_pag_from_causallearn_of_a_list(kit: Kit):
    """from_causallearn of a matrix instead of a GeneralGraph (AttributeError before)."""
    from whytoken.graphs import PAG

    return PAG.from_causallearn([[0, 1], [1, 0]])


# ------------------------------------------------------------------ CI tests and learners
@bad_input("causal", InvalidAttentionError, "nan")
def case_attention_with_nan(kit: Kit):
    """An attention matrix holding NaN."""
    from whytoken.causal import PartialCorrelationTest

    a = _attention()
    a[3, 1] = np.nan
    return PartialCorrelationTest.from_attention(a, n_samples=64)


@bad_input("causal", InvalidAttentionError, "(4, 5)")
def case_attention_not_square(kit: Kit):
    """A non-square attention matrix."""
    from whytoken.causal import PartialCorrelationTest

    return PartialCorrelationTest.from_attention(np.full((4, 5), 0.2), n_samples=64)


@bad_input("causal", InvalidParameterError, "1.5")
def case_alpha_out_of_range(kit: Kit):
    """A significance level above 1."""
    from whytoken.causal import PartialCorrelationTest

    return PartialCorrelationTest.from_attention(_attention(), n_samples=64, alpha=1.5)


@bad_input("causal", InvalidParameterError, "0")
def case_zero_samples(kit: Kit):
    """An effective sample size of 0."""
    from whytoken.causal import PartialCorrelationTest

    return PartialCorrelationTest.from_attention(_attention(), n_samples=0)


@bad_input("causal", UnknownLearnerError, "icdd")
def case_unknown_learner(kit: Kit):
    """A misspelled learner name."""
    from whytoken.causal import PartialCorrelationTest, learn_pag

    test = PartialCorrelationTest.from_attention(_attention(), n_samples=64)
    return learn_pag(test, range(6), method="icdd")


@bad_input("causal", InvalidParameterError, "foo")
def case_unknown_learner_parameter(kit: Kit):
    """A parameter the learner does not take."""
    from whytoken.causal import PartialCorrelationTest, learn_pag

    test = PartialCorrelationTest.from_attention(_attention(), n_samples=64)
    return learn_pag(test, range(6), method="icd", foo=1)


@bad_input("causal", InvalidOrderError, "9")
def case_order_names_unknown_node(kit: Kit):
    """A token order naming a node that is not learned."""
    from whytoken.causal import PartialCorrelationTest, learn_pag

    test = PartialCorrelationTest.from_attention(_attention(), n_samples=64)
    return learn_pag(test, range(6), method="ordered-icd", order=[0, 1, 2, 3, 4, 9])


@bad_input("causal", InvalidAttentionError, "rank")
def case_degenerate_head(kit: Kit):
    """A head whose rows are all equal (rank one): every partial correlation is undefined."""
    from whytoken.causal import PartialCorrelationTest, learn_pag

    n = 40
    test = PartialCorrelationTest.from_attention(np.full((n, n), 1.0 / n), n_samples=64)
    return learn_pag(test, range(n), method="icd")


# ------------------------------------------------------------------ explanations (the lead's query)
@bad_input("query", CheckpointError, "absent.json")
def case_explanation_missing_file(kit: Kit):
    """Loading an explanation that does not exist."""
    from whytoken.query import Explanation

    return Explanation.load(kit.tmp / "absent.json")


@bad_input("query", SchemaError, "broken.json")
def case_explanation_not_json(kit: Kit):
    """An explanation.json cut off in the middle."""
    from whytoken.query import Explanation

    path = kit.path("exp/broken.json")
    path.write_text('{"schema": "whytoken.explanation/1", "target": {')
    return Explanation.load(path)


@bad_input("query", UnknownCriterionError, "top-tokn")
def case_unknown_criterion(kit: Kit):
    """A misspelled verification criterion."""
    from whytoken.query import get_criterion

    return get_criterion("top-tokn")


# ------------------------------------------------------------------ file writes
@bad_input("files", OutputError, "missing-dir")
def case_atomic_write_into_missing_directory(kit: Kit):
    """Writing a file into a directory that does not exist."""
    from whytoken.files import atomic_write_text

    return atomic_write_text(kit.tmp / "missing-dir" / "x.txt", "x")


@bad_input("files", OutputError, "plain-file")
def case_output_directory_is_a_file(kit: Kit):
    """An output directory path that is an existing file."""
    from whytoken.files import ensure_directory

    path = kit.path("plain-file")
    path.write_text("x")
    return ensure_directory(path / "sub")
