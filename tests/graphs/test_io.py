"""Exchange formats: exact round trips (property tests), pinned forms, interop and errors.

Round trips are checked strictly: equal graphs, the same node order, node ids of the same
type, and attributes/meta equal *with the same types* (``True`` is not ``1``, ``1`` is not
``1.0``), because plain ``==`` would hide such changes.
"""

from __future__ import annotations

import json
from typing import Any, Callable

import networkx as nx
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from whytoken.errors import (
    CheckpointError,
    OutputError,
    DuplicateRegistrationError,
    InvalidGraphError,
    SchemaError,
    UnknownFormatError,
)
from whytoken.graphs import PAG, PAG_SCHEMA, Mark
from whytoken.graphs.io import (
    get_format,
    list_formats,
    pag_from_causallearn,
    pag_from_dot,
    pag_from_graphml,
    pag_from_json,
    pag_from_networkx,
    pag_to_causallearn,
    pag_to_dot,
    pag_to_graphml,
    pag_to_json,
    pag_to_json_string,
    pag_to_networkx,
    read_pag,
    register_format,
    write_pag,
)

T, A, C = Mark.TAIL, Mark.ARROW, Mark.CIRCLE
PROPERTY = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# ---------------------------------------------------------------------------- strategies
json_scalars = (st.none() | st.booleans() | st.integers(-(2**70), 2**70)
                | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=6))
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=6,
)
# Top-level attribute and meta names become GraphML attr.name values, which must be XML text.
names = st.text(alphabet=st.characters(categories=["L", "N"], include_characters="_. -"), min_size=1, max_size=8)
labels = st.text(max_size=8) | st.sampled_from(["0", "1", "2", "Ġthe", "<|im_end|>", 'a "quote"', "back\\slash\\"])


@st.composite
def node_attributes(draw: st.DrawFn) -> dict[str, Any]:
    attrs: dict[str, Any] = {}
    if draw(st.booleans()):
        attrs["label"] = draw(labels)
    if draw(st.booleans()):
        attrs["kind"] = draw(st.sampled_from(["text", "image", "special"]))
    if draw(st.booleans()):
        attrs["row"], attrs["col"] = draw(st.integers(0, 23)), draw(st.integers(0, 23))
    extra = draw(st.dictionaries(names.filter(lambda k: k not in ("id", "label")), json_values, max_size=2))
    attrs.update(extra)
    return attrs


node_ids_int = st.integers(0, 7).map(lambda n: list(range(n)))
node_ids_mixed = st.lists(st.integers(-3, 40) | st.text(max_size=4), max_size=7, unique_by=lambda x: (type(x), x))


@st.composite
def pags(draw: st.DrawFn, ids: st.SearchStrategy[list] = node_ids_int) -> PAG:
    """Random PAGs: random insertion order, random marks on random pairs, random attributes and meta."""
    nodes = draw(ids)
    order = draw(st.permutations(nodes))
    g = PAG(meta=draw(st.dictionaries(names, json_values, max_size=3)))
    for node in order:
        g.add_node(node)
        g.node_attributes(node).update(draw(node_attributes()))
    marks = st.sampled_from(list(Mark))
    for i, u in enumerate(order):
        for v in order[i + 1 :]:
            if draw(st.booleans()):
                g.add_edge(u, v, draw(marks), draw(marks))
    return g


# ---------------------------------------------------------------------------- strict comparison
def assert_same_value(got: Any, want: Any, where: str = "value") -> None:
    assert type(got) is type(want), f"{where}: {got!r} ({type(got).__name__}) != {want!r} ({type(want).__name__})"
    if isinstance(want, dict):
        assert list(got) == list(want) or set(got) == set(want), f"{where}: keys {list(got)} != {list(want)}"
        for key in want:
            assert_same_value(got[key], want[key], f"{where}[{key!r}]")
    elif isinstance(want, list):
        assert len(got) == len(want), f"{where}: {got!r} != {want!r}"
        for i, (g, w) in enumerate(zip(got, want)):
            assert_same_value(g, w, f"{where}[{i}]")
    else:
        assert got == want, f"{where}: {got!r} != {want!r}"


def json_attrs(node: Any, attrs: dict[str, Any]) -> dict[str, Any]:
    """The attributes the JSON form gives back: a label equal to str(id) is the default, not stored."""
    return {k: v for k, v in attrs.items() if not (k == "label" and v == str(node))}


def assert_round_trip(back: PAG, original: PAG, expect_attrs: Callable = lambda node, attrs: attrs) -> None:
    assert back == original
    assert back.nodes == original.nodes
    assert [type(n) for n in back.nodes] == [type(n) for n in original.nodes]
    for node in original.nodes:
        want = expect_attrs(node, original.node_attributes(node))
        assert_same_value(back.node_attributes(node), want, f"attributes of node {node!r}")
    assert_same_value(back.meta, original.meta, "meta")


# ---------------------------------------------------------------------------- property tests
@PROPERTY
@given(pags() | pags(node_ids_mixed))
def test_json_dict_round_trip(g):
    assert_round_trip(pag_from_json(pag_to_json(g)), g, json_attrs)
    assert_round_trip(PAG.from_json(g.to_json()), g, json_attrs)


@PROPERTY
@given(pags() | pags(node_ids_mixed))
def test_json_string_round_trip(g):
    text = pag_to_json_string(g)
    assert json.loads(text)["schema"] == PAG_SCHEMA
    assert_round_trip(pag_from_json(text), g, json_attrs)
    assert_round_trip(pag_from_json(text.encode("utf-8")), g, json_attrs)


@PROPERTY
@given(pags() | pags(node_ids_mixed))
def test_graphml_round_trip(g):
    assert_round_trip(pag_from_graphml(pag_to_graphml(g)), g)
    assert_round_trip(PAG.from_graphml(g.to_graphml().encode("utf-8")), g)


@PROPERTY
@given(pags() | pags(node_ids_mixed))
def test_dot_round_trip(g):
    assert_round_trip(pag_from_dot(pag_to_dot(g)), g)
    assert_round_trip(PAG.from_dot(g.to_dot()), g)


@PROPERTY
@given(pags() | pags(node_ids_mixed))
def test_networkx_round_trip(g):
    nxg = pag_to_networkx(g)
    assert isinstance(nxg, nx.Graph) and not nxg.is_directed()
    assert nxg.number_of_edges() == g.number_of_edges()
    for e in g.edges():
        assert nxg.edges[e.u, e.v]["marks"] == {e.u: e.at_u.value, e.v: e.at_v.value}
    assert_round_trip(pag_from_networkx(nxg), g)
    assert_round_trip(PAG.from_networkx(g.to_networkx()), g)


@PROPERTY
@given(pags() | pags(st.lists(st.text(max_size=4), max_size=6, unique=True)))
def test_causallearn_round_trip(g):
    cl, nodes = pag_to_causallearn(g)
    assert nodes == g.nodes and cl.get_node_names() == [str(n) for n in g.nodes]
    assert_round_trip(pag_from_causallearn(cl, nodes), g)
    assert_round_trip(PAG.from_causallearn(*g.to_causallearn()), g)


@PROPERTY
@given(pags())
def test_causallearn_agrees_on_kinship(g):
    """causal-learn's own queries on the converted graph give our parents and children."""
    cl, nodes = pag_to_causallearn(g)
    by_name = {n.get_name(): n for n in cl.get_nodes()}
    for node in g.nodes:
        cl_node = by_name[str(node)]
        assert sorted(int(p.get_name()) for p in cl.get_parents(cl_node)) == g.parents(node)
        assert sorted(int(c.get_name()) for c in cl.get_children(cl_node)) == g.children(node)
        for other in g.adjacent(node):
            endpoint = cl.get_endpoint(cl_node, by_name[str(other)])  # causal-learn: the mark at the 2nd node
            assert endpoint.name == g.mark(node, other).name


@PROPERTY
@given(pags(), st.data())
def test_equality_is_invariant_under_relabelling(g, data):
    nodes = g.nodes
    target = data.draw(st.permutations([f"t{i}" for i in range(len(nodes))] if data.draw(st.booleans())
                                       else list(range(100, 100 + len(nodes)))))
    relabel = dict(zip(nodes, target))

    def relabelled(pag: PAG) -> PAG:
        out = PAG([relabel[n] for n in pag.nodes])
        for e in pag.edges():
            out.add_edge(relabel[e.u], relabel[e.v], e.at_u, e.at_v)
        return out

    # The same graph built in another order, with each edge given from its other end.
    rebuilt = PAG(data.draw(st.permutations(nodes)))
    for e in data.draw(st.permutations(g.edges())):
        rebuilt.add_edge(e.v, e.u, e.at_v, e.at_u)
    assert rebuilt == g
    assert relabelled(rebuilt) == relabelled(g)
    if g.edges():
        e = data.draw(st.sampled_from(g.edges()))
        changed = rebuilt.copy()
        changed.set_mark(e.u, e.v, data.draw(st.sampled_from([m for m in Mark if m is not e.at_v])))
        assert changed != g and relabelled(changed) != relabelled(g)
    # Serialized forms of the relabelled graph read back to it.
    assert pag_from_json(pag_to_json(relabelled(g))) == relabelled(g)


@pytest.mark.parametrize("fmt", list_formats())
@settings(max_examples=10, deadline=None)
@given(g=pags() | pags(node_ids_mixed))
def test_every_registered_format_round_trips_through_a_file(fmt, g, tmp_path_factory):
    path = tmp_path_factory.mktemp(fmt) / f"graph{get_format(fmt).suffixes[0]}"
    assert write_pag(g, path) == path
    expect = json_attrs if fmt == "json" else (lambda node, attrs: attrs)
    assert_round_trip(read_pag(path), g, expect)
    assert_round_trip(PAG.load(path, format=fmt), g, expect)
    other = path.with_suffix(".data")
    g.save(other, format=fmt)
    assert_round_trip(read_pag(other, format=fmt), g, expect)


# ---------------------------------------------------------------------------- pinned forms
@pytest.fixture
def small() -> PAG:
    g = PAG([0, 1, 2], meta={"model": "tiny-gpt2", "layer": 1})
    g.add_node(0, label="The", kind="text")
    g.add_node(2, label="cat", kind="image", row=0, col=1)
    g.add_edge(1, 0, A, T)  # 0 --> 1
    g.add_edge(2, 1, C, A)  # 2 o-> 1
    return g


def test_json_form_is_pinned(small):
    assert pag_to_json(small) == {
        "schema": "whytoken.pag/1",
        "nodes": [
            {"id": 0, "label": "The", "kind": "text"},
            {"id": 1, "label": "1"},
            {"id": 2, "label": "cat", "kind": "image", "row": 0, "col": 1},
        ],
        "edges": [
            {"u": 0, "v": 1, "mark_u": "tail", "mark_v": "arrow"},
            {"u": 1, "v": 2, "mark_u": "arrow", "mark_v": "circle"},
        ],
        "meta": {"model": "tiny-gpt2", "layer": 1},
    }


def test_json_reading_is_lenient_on_optional_parts():
    g = pag_from_json({"schema": PAG_SCHEMA, "nodes": [{"id": "a"}, {"id": "b", "label": "B"}],
                       "edges": [{"u": "b", "v": "a", "mark_u": "circle", "mark_v": "circle"}]})
    assert g.meta == {} and g.node_attributes("a") == {} and g.node_attributes("b") == {"label": "B"}
    assert g.mark("a", "b") is C


def test_json_converts_numpy_and_tuples_to_python():
    g = PAG([np.int64(0), np.int64(1)], meta={"alpha": np.float32(0.5), "shape": (2, 3)})
    g.add_node(np.int64(0), patch=np.array([1, 2]), ok=np.bool_(True))
    doc = json.loads(json.dumps(pag_to_json(g)))  # JSON-serializable as is
    back = pag_from_json(doc)
    assert back == g and [type(n) for n in back.nodes] == [int, int]
    assert_same_value(back.node_attributes(0), {"patch": [1, 2], "ok": True})
    assert_same_value(back.meta, {"alpha": 0.5, "shape": [2, 3]})


def test_int_and_str_ids_stay_distinct():
    g = PAG([1, "1"])
    g.add_edge(1, "1", T, A)
    for back in (pag_from_json(pag_to_json_string(g)), pag_from_graphml(pag_to_graphml(g)),
                 pag_from_dot(pag_to_dot(g))):
        assert back.nodes == [1, "1"] and [type(n) for n in back.nodes] == [int, str]
        assert back.mark(1, "1") is A


def test_graphml_uses_native_types_and_reads_in_networkx(small, tmp_path):
    small.add_node(1, weight=0.25, flags=[1, 2], seen=True)
    path = tmp_path / "g.graphml"
    small.to_graphml(path)
    text = path.read_text(encoding="utf-8")
    assert 'attr.name="row" attr.type="long"' in text
    assert 'attr.name="weight" attr.type="double"' in text
    assert 'attr.name="seen" attr.type="boolean"' in text
    assert 'attr.name="kind" attr.type="string"' in text
    nxg = nx.read_graphml(path)  # another tool reads it
    assert nxg.nodes["2"]["row"] == 0 and nxg.nodes["0"]["label"] == "The"
    assert nxg.nodes["1"]["flags"] == "[1, 2]"  # JSON text, declared in the key's <desc>
    assert nxg.edges["0", "1"] == {"mark_u": "tail", "mark_v": "arrow"}
    assert nxg.graph["layer"] == 1 and nxg.graph["whytoken.schema"] == PAG_SCHEMA
    assert_round_trip(PAG.from_graphml(path), small)
    assert_round_trip(PAG.from_graphml(str(path)), small)


def test_graphml_written_by_networkx_is_read():
    nxg = nx.DiGraph()
    nxg.add_node("x", label="X")
    nxg.add_edge("x", "y")
    text = "\n".join(nx.generate_graphml(nxg))
    g = pag_from_graphml(text)
    assert g.describe() == "x --> y" and g.node_attributes("x") == {"label": "X"}
    undirected = nx.Graph()
    undirected.add_edge("a", "b", mark_u="circle", mark_v="arrow")
    assert pag_from_graphml("\n".join(nx.generate_graphml(undirected))).describe() == "a o-> b"


def test_dot_is_standard_graphviz(small):
    pydot = pytest.importorskip("pydot")
    text = small.to_dot()
    assert '"0" -> "1" [dir=both, arrowtail=none, arrowhead=normal, mark_u=tail, mark_v=arrow];' in text
    assert '"1" -> "2" [dir=both, arrowtail=normal, arrowhead=odot, mark_u=arrow, mark_v=circle];' in text
    (parsed,) = pydot.graph_from_dot_data(text)
    edges = {(e.get_source().strip('"'), e.get_destination().strip('"')): e.get_attributes()
             for e in parsed.get_edges()}
    assert edges[("1", "2")]["arrowtail"] == "normal" and edges[("1", "2")]["arrowhead"] == "odot"
    node = parsed.get_node('"2"')[0]
    attrs = json.loads(node.get_attributes()["whytoken_attrs"].strip('"').replace('\\"', '"'))
    assert attrs == {"label": "cat", "kind": "image", "row": 0, "col": 1}


def test_dot_reader_handles_hand_written_graphviz():
    text = """
    /* a comment */ strict digraph "demo" {
      // line comment
      node [shape=box];
      edge [dir=both];
      a:n -> b:s [arrowtail=odot, arrowhead=normal]
      b -> c [arrowtail=none; arrowhead=none]; c -> d [dir=forward]
# a C-preprocessor line (Graphviz skips lines starting with '#')
      d -> e [dir=back]
      e -> f [dir=none]
      "quo\\"ted" -> "multi" + "part" [arrowtail=odot arrowhead=odot]
      rankdir = LR
    }
    """
    g = pag_from_dot(text)
    assert g.describe().splitlines() == [
        "a o-> b", "b --- c", "c --> d", "d <-- e", "e --- f", 'multipart o-o quo"ted',
    ]
    assert g.node_attributes("a") == {"shape": "box"}
    assert g.meta == {"rankdir": "LR"}
    assert pag_from_dot("graph { x -- y }").describe() == "x --- y"


def test_dot_quoted_strings_follow_graphviz_escapes():
    # Only \" is an escape; a backslash never escapes a backslash; backslash-newline continues a line.
    g = pag_from_dot('digraph { "a\\\\"b" -> "long\\\nname" }')
    assert g.nodes == ['a\\"b', "longname"]


def test_dot_marks_survive_restyled_arrows(small):
    restyled = small.to_dot().replace("arrowhead=normal", "arrowhead=vee")
    assert pag_from_dot(restyled) == small
    without_marks = small.to_dot().replace(", mark_u=", ", x_u=").replace(", mark_v=", ", x_v=")
    assert pag_from_dot(without_marks) == small  # the arrows alone restore the marks too


def test_graphml_big_ints_are_json_not_long():
    g = PAG([0, 1])
    g.add_node(0, n=2**64)
    g.add_node(1, n=5)
    assert 'attr.name="n" attr.type="string"' in g.to_graphml()
    assert_round_trip(PAG.from_graphml(g.to_graphml()), g)


def test_causallearn_matrix_convention_by_hand():
    g = PAG(range(5))
    g.add_edge(0, 1, T, A)  # 0 --> 1
    g.add_edge(1, 2, C, A)  # 1 o-> 2
    g.add_edge(2, 3, A, A)  # 2 <-> 3
    g.add_edge(0, 2, A, C)  # 0 <-o 2: causal-learn refuses this orientation unless flipped
    g.add_edge(3, 4, C, T)  # 3 o-- 4: likewise
    g.add_edge(1, 4, T, T)  # 1 --- 4
    cl, nodes = pag_to_causallearn(g)
    m = cl.graph
    assert (m[0, 1], m[1, 0]) == (-1, 1)
    assert (m[1, 2], m[2, 1]) == (2, 1)
    assert (m[2, 3], m[3, 2]) == (1, 1)
    assert (m[0, 2], m[2, 0]) == (1, 2)
    assert (m[3, 4], m[4, 3]) == (2, -1)
    assert (m[1, 4], m[4, 1]) == (-1, -1)
    assert sorted(str(e) for e in cl.get_graph_edges()) == sorted(
        ["0 --> 1", "1 o-> 2", "2 <-> 3", "2 o-> 0", "3 o-- 4", "1 --- 4"])
    assert pag_from_causallearn(cl, nodes) == g


def test_causallearn_fci_output_is_read():
    # Golden matrix: causallearn 0.1.4.8 `fci(np.c_[x, y, x + y + 0.5 * e])` (seeded normals, n=2000),
    # a collider; causal-learn prints its edges as X1 o-> X3, X2 o-> X3.
    from causallearn.graph.GeneralGraph import GeneralGraph
    from causallearn.graph.GraphNode import GraphNode

    cl = GeneralGraph([GraphNode(f"X{i}") for i in (1, 2, 3)])
    cl.graph = np.array([[0, 0, 2], [0, 0, 2], [1, 1, 0]])
    assert sorted(str(e) for e in cl.get_graph_edges()) == ["X1 o-> X3", "X2 o-> X3"]
    g = pag_from_causallearn(cl)
    assert g.describe().splitlines() == ["X1 o-> X3", "X2 o-> X3"]
    assert pag_from_causallearn(cl, nodes=[0, 1, 2]).possible_parents(2) == [0, 1]


def test_networkx_digraph_without_marks_is_a_dag():
    dag = nx.DiGraph([(0, 1), (1, 2)])
    dag.nodes[0]["label"] = "x"
    g = pag_from_networkx(dag)
    assert g == PAG.from_dag(dag) and g.is_dag() and g.node_attributes(0) == {"label": "x"}


# ---------------------------------------------------------------------------- registry
def test_registry_lists_formats_and_picks_by_suffix(tmp_path, small):
    assert list_formats() == ["dot", "graphml", "json"]
    for suffix, fmt in [(".json", "json"), (".graphml", "graphml"), (".xml", "graphml"), (".gv", "dot"),
                        (".DOT", "dot")]:
        path = write_pag(small, tmp_path / f"g{suffix}")
        assert read_pag(path, format=fmt) == small
    assert json.loads((tmp_path / "g.json").read_text(encoding="utf-8"))["schema"] == PAG_SCHEMA


def test_unknown_format_lists_the_known_ones(tmp_path, small):
    with pytest.raises(UnknownFormatError, match=r"unknown graph format 'yaml'; known formats: dot, graphml, json"):
        small.save(tmp_path / "g.yaml", format="yaml")
    with pytest.raises(UnknownFormatError, match=r"suffix '\.pkl'.*\.json \(json\).*dot, graphml, json"):
        read_pag(tmp_path / "g.pkl")


def test_duplicate_registration_is_refused():
    with pytest.raises(DuplicateRegistrationError, match="format is already registered as 'json'.*overwrite=True"):
        register_format("json", suffixes=[".j"], writer=get_format("json").writer, reader=get_format("json").reader)
    with pytest.raises(DuplicateRegistrationError, match=r"\['\.gv'\] already select format 'dot'"):
        register_format("graphviz", suffixes=["gv"], writer=get_format("dot").writer, reader=pag_from_dot)
    assert list_formats() == ["dot", "graphml", "json"]


# ---------------------------------------------------------------------------- errors
def valid_doc() -> dict[str, Any]:
    return {"schema": PAG_SCHEMA, "nodes": [{"id": 0, "label": "a"}, {"id": 1, "label": "b"}],
            "edges": [{"u": 0, "v": 1, "mark_u": "tail", "mark_v": "arrow"}], "meta": {}}


def broken(change: Callable[[dict], Any]) -> dict[str, Any]:
    doc = valid_doc()
    change(doc)
    return doc


@pytest.mark.parametrize(
    "data, match",
    [
        ('{"schema": "whytoken.pag/1", "nodes": [', r"corrupt JSON at line 1 column \d+"),
        ('{"schema": "whytoken.pag/1", "nodes": [], "edges": [], "meta": {"x": NaN}}', "NaN"),
        (b"\xff\xfe", "not UTF-8"),
        ("[1, 2]", "expected a JSON object.*got list"),
        (broken(lambda d: d.pop("schema")), "no 'schema' key.*'whytoken.pag/1'"),
        (broken(lambda d: d.update(schema="whytoken.pag/2")), "unknown schema 'whytoken.pag/2'; expected 'whytoken.pag/1'"),
        (broken(lambda d: d.pop("edges")), "'edges' is missing; expected a JSON array"),
        (broken(lambda d: d.update(meta=[1])), "'meta' is list"),
        (broken(lambda d: d["edges"][0].update(mark_v="arow")), r"edges\[0\]\['mark_v'\] is 'arow'; expected one of 'tail'"),
        (broken(lambda d: d["edges"][0].update(mark_u="Tail")), "is 'Tail'; expected one of"),
        (broken(lambda d: d["edges"][0].update(v=7)), r"names unknown node 7; expected one of the declared node ids \(\[0, 1\]\)"),
        (broken(lambda d: d["edges"][0].update(v="1")), "names unknown node '1'"),
        (broken(lambda d: d["edges"][0].pop("mark_u")), r"missing \['mark_u'\]"),
        (broken(lambda d: d["edges"].append({"u": 1, "v": 0, "mark_u": "circle", "mark_v": "circle"})),
         "repeats the edge between 1 and 0"),
        (broken(lambda d: d["nodes"].append({"id": 0})), r"nodes\[2\]: duplicate node id 0"),
        (broken(lambda d: d["edges"][0].update(v=0)), "self-loop on node 0"),
        (broken(lambda d: d["nodes"][0].update(id=True)), r"nodes\[0\]\['id'\] is True of type bool; expected an int or a str"),
        (broken(lambda d: d["nodes"][0].update(id=1.5)), "is 1.5 of type float"),
        (broken(lambda d: d["nodes"][0].update(label=5)), r"nodes\[0\]\['label'\] is 5; expected a str"),
        (broken(lambda d: d["nodes"][0].pop("id")), r"nodes\[0\] is .*expected an object with an 'id' key"),
    ],
)
def test_bad_json_is_refused_naming_the_value(data, match):
    with pytest.raises(SchemaError, match=match):
        pag_from_json(data)


def test_unknown_json_keys_are_ignored_with_a_warning(caplog):
    doc = valid_doc()
    doc["extra"] = 1
    doc["edges"][0]["weight"] = 0.5
    with caplog.at_level("WARNING", logger="whytoken.graphs.io"):
        assert pag_from_json(doc).describe() == "0 --> 1"
    assert "['extra']" in caplog.text and "['weight']" in caplog.text


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda g: g.add_node((0, 1)), r"node id \(0, 1\) of type tuple cannot be written.*expected int .* or str"),
        (lambda g: g.add_node(2.5), "node id 2.5 of type float"),
        (lambda g: g.add_node(0, id=9), "attribute called 'id' \\(9\\)"),
        (lambda g: g.add_node(0, label=3), "label 3 of type int; whytoken.pag/1 expects a str"),
        (lambda g: g.add_node(0, tags={"a"}), r"attributes of node 0\['tags'\] is \{'a'\} of type set"),
        (lambda g: g.add_node(0, score=float("nan")), r"\['score'\] is nan; expected a finite number"),
        (lambda g: g.meta.update(layers={3: "x"}), r"meta\['layers'\] has key 3 of type int; JSON object keys must be str"),
    ],
)
def test_unwritable_values_are_refused_naming_them(make, match):
    g = PAG([0, 1])
    make(g)
    with pytest.raises(SchemaError, match=match):
        pag_to_json(g)


def test_graphml_refuses_attribute_names_xml_cannot_hold():
    g = PAG([0])
    g.node_attributes(0)["bad\x01name"] = 1
    with pytest.raises(SchemaError, match=r"node attribute name 'bad\\x01name' contains characters XML cannot hold"):
        pag_to_graphml(g)


@pytest.mark.parametrize(
    "text, match",
    [
        ("<graphml><graph>", "not well-formed GraphML"),
        ("<gml/>", "root element is <gml>; expected <graphml>"),
        ("<graphml/>", "no <graph> element"),
        ('<graphml><graph edgedefault="undirected"><node id="a"/><node id="b"/><edge source="a" target="b"/>'
         "</graph></graphml>", "is undirected and has no mark_u/mark_v data"),
        ('<graphml><graph edgedefault="directed"><node id="a"/><edge source="a" target="z"/></graph></graphml>',
         "names unknown node 'z'"),
        ('<graphml><key id="m" for="edge" attr.name="mark_u"/><key id="n" for="edge" attr.name="mark_v"/>'
         '<graph><node id="a"/><node id="b"/><edge source="a" target="b"><data key="m">arrow</data>'
         '<data key="n">square</data></edge></graph></graphml>', "mark_v is 'square'; expected one of"),
        ('<graphml><key id="whytoken_schema" for="graph"/><graph><data key="whytoken_schema">other/9</data>'
         "</graph></graphml>", "unknown schema 'other/9'"),
        ('<graphml><key id="k" for="node" attr.type="long"/><graph><node id="a"><data key="k">x1</data></node>'
         "</graph></graphml>", "value 'x1' of key 'k' is not a valid long"),
        ('<graphml><graph edgedefault="directed"><node id="a"/><node id="a"/></graph></graphml>',
         "duplicate node id 'a'"),
        ('<graphml><graph edgedefault="directed"><node id="a"/><edge source="a" target="a"/></graph></graphml>',
         "self-loop on node 'a'"),
    ],
)
def test_bad_graphml_is_refused_naming_the_value(text, match):
    with pytest.raises(SchemaError, match=match):
        pag_from_graphml(text)


@pytest.mark.parametrize(
    "text, match",
    [
        ("digraph { a -> b [arrowhead=vee] }", "arrowhead='vee' has no PAG mark; expected one of 'none', 'normal', 'odot'"),
        ("digraph { a -> b [dir=sideways] }", "dir='sideways'"),
        ("graph { a -> b }", "edge operator '->' in a graph; expected --"),
        ("digraph { subgraph s { a } }", "subgraphs are not supported"),
        ('digraph { "a -> b }', "unterminated quoted string"),
        ("digraph { a -> b ", "the graph is not closed"),
        ("digraph { a -> b } digraph { }", "expected one graph per file"),
        ("digraph { a -> a }", "self-loop on node 'a'"),
        ("digraph { a -> b; b -> a }", "repeats the edge between 'b' and 'a'"),
        ('digraph { graph [whytoken_schema="x/2"] }', "unknown schema 'x/2'"),
        ('digraph { a [whytoken_attrs="{oops"] }', "whytoken_attrs='{oops' is not valid JSON"),
        ("digraph { a -> b [mark_u=tail, mark_v=hook] }", "mark_v is 'hook'; expected one of"),
        ("digraph { a @ b }", "unexpected character '@'"),
    ],
)
def test_bad_dot_is_refused_naming_the_value(text, match):
    with pytest.raises(SchemaError, match=match):
        pag_from_dot(text)


@pytest.mark.parametrize("suffix", [".json", ".graphml", ".dot"])
def test_corrupt_files_name_the_path(tmp_path, suffix):
    path = tmp_path / f"corrupt{suffix}"
    path.write_text("not a graph at all {", encoding="utf-8")
    with pytest.raises(SchemaError, match=str(path).replace("\\", "\\\\")):
        read_pag(path)


def test_missing_files_raise_checkpoint_error_and_unwritable_ones_output_error(tmp_path, small):
    missing = tmp_path / "nope.json"
    with pytest.raises(CheckpointError, match=r"cannot read JSON file '.*nope\.json'.*expected an existing"):
        read_pag(missing)
    with pytest.raises(CheckpointError, match=r"cannot read GraphML file '.*nope\.graphml'"):
        PAG.from_graphml(tmp_path / "nope.graphml")
    with pytest.raises(OutputError, match=r"cannot write dot graph file '.*no_such_dir.*g\.dot'.*does not exist; "
                                          r"create it first"):
        small.save(tmp_path / "no_such_dir" / "g.dot")
    with pytest.raises(OutputError, match=r"cannot write DOT file '.*no_such_dir.*g\.dot'.*does not exist"):
        small.to_dot(tmp_path / "no_such_dir" / "g.dot")
    assert isinstance(CheckpointError("x"), OSError) and isinstance(OutputError("x"), OSError)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: nx.MultiGraph([(0, 1)]), "MultiGraph has parallel edges"),
        (lambda: nx.Graph([(0, 1)]), r"edge \(0, 1\) has marks=None; expected a dict mapping 0 and 1"),
        (lambda: nx.Graph([(0, 1, {"marks": {0: "tail", 1: "wedge"}})]), "unknown edge mark 'wedge'"),
        (lambda: nx.DiGraph([(0, 1), (1, 0)]), r"both \(1, 0\) and \(0, 1\)"),
        (lambda: nx.DiGraph([(0, 0)]), "self-loop on node 0"),
    ],
)
def test_bad_networkx_graphs_raise_invalid_graph_error(make, match):
    with pytest.raises(InvalidGraphError, match=match):
        pag_from_networkx(make())


def test_causallearn_errors_name_the_problem():
    from causallearn.graph.GeneralGraph import GeneralGraph
    from causallearn.graph.GraphNode import GraphNode

    clash = PAG([1, "1"])
    with pytest.raises(InvalidGraphError, match=r"nodes \[1, '1'\] share the name '1'"):
        pag_to_causallearn(clash)
    cl = GeneralGraph([GraphNode("X1"), GraphNode("X2")])
    cl.graph = np.array([[0, 5], [4, 0]])  # causal-learn's "--> and <-> at once"
    with pytest.raises(InvalidGraphError, match=r"'X1' -- 'X2' has causal-learn endpoint codes \(5, 4\)"):
        pag_from_causallearn(cl)
    cl.graph = np.array([[0, 0], [1, 0]])
    with pytest.raises(InvalidGraphError, match=r"codes \(0, 1\)"):
        pag_from_causallearn(cl)
    with pytest.raises(InvalidGraphError, match="3 nodes given for a causal-learn graph with 2 nodes"):
        pag_from_causallearn(cl, nodes=[0, 1, 2])
