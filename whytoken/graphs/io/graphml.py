"""GraphML, for graph viewers (yEd, Gephi, Cytoscape), with the marks as ``mark_u``/``mark_v`` edge data.

Scalar attributes are written with their native GraphML type (``long``,
``double``, ``boolean``, ``string``) so that viewers can use them; a key whose
values are lists, dicts, ``None``, mixed types or strings XML cannot hold is
JSON-encoded, and its ``<key>`` carries a ``<desc>`` saying so. The schema
string and the node ids' types are kept in graph data, so reading gives back
an equal PAG.

Examples
--------
>>> from whytoken.graphs import PAG, Mark
>>> g = PAG([0, 1]); g.add_edge(0, 1, Mark.CIRCLE, Mark.ARROW)
>>> pag_from_graphml(pag_to_graphml(g)) == g
True
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any

from whytoken.errors import SchemaError
from whytoken.graphs.io._files import PathLike, as_path, read_bytes, with_path, write_text
from whytoken.graphs.io._schema import (
    PAG_SCHEMA,
    MARK_NAMES,
    Builder,
    check_node_id,
    meta_json,
    node_json,
    parse_mark,
    valid_id,
)
from whytoken.graphs.marks import Mark
from whytoken.graphs.pag import PAG

__all__ = ["pag_to_graphml", "pag_from_graphml"]


_GRAPHML_NS = "http://graphml.graphdrawing.org/xmlns"
_XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
_GRAPHML_XSD = "http://graphml.graphdrawing.org/xmlns/1.0/graphml.xsd"
#: The <desc> of a <key> whose values are JSON text rather than native GraphML values.
_JSON_DESC = "whytoken: values of this key are JSON-encoded"
_SCHEMA_KEY, _NODE_IDS_KEY = "whytoken_schema", "whytoken_node_ids"
# XML 1.0 characters, minus CR (a parser turns a raw CR in text into LF).
_XML_UNSAFE = re.compile("[^\t\n\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml_safe(text: str) -> bool:
    return _XML_UNSAFE.search(text) is None


def _graphml_type(values: list[Any]) -> tuple[str, bool]:
    """The GraphML ``attr.type`` for a key's values and whether to JSON-encode them."""
    if all(type(v) is bool for v in values):
        return "boolean", False
    if all(type(v) is int and -(2**63) <= v < 2**63 for v in values):
        return "long", False  # GraphML long is 64-bit; bigger ints go as JSON
    if all(type(v) is float for v in values):
        return "double", False
    if all(type(v) is str and _xml_safe(v) for v in values):
        return "string", False
    return "string", True


def _graphml_text(value: Any, as_json: bool) -> str:
    if as_json:
        return json.dumps(value, ensure_ascii=True, allow_nan=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _xml_name(name: str, where: str) -> str:
    if not _xml_safe(name):
        raise SchemaError(f"{where} {name!r} contains characters XML cannot hold; expected printable text: rename it")
    return name


def pag_to_graphml(pag: PAG, path: PathLike | None = None) -> str:
    """GraphML text for ``pag``; also written to ``path`` (UTF-8) when given.

    Marks are the edge data ``mark_u`` (at ``source``) and ``mark_v`` (at ``target``); node
    attributes and meta are GraphML data with native types where possible.

    Examples
    --------
    >>> from whytoken.graphs import PAG, Mark
    >>> g = PAG(meta={"layer": 2}); g.add_node(0, label="The", row=1)
    >>> g.add_edge(0, 1, Mark.ARROW, Mark.ARROW)
    >>> text = pag_to_graphml(g)
    >>> '<data key="mark_u">arrow</data>' in text
    True
    >>> back = pag_from_graphml(text)
    >>> back == g, back.node_attributes(0), back.meta
    (True, {'label': 'The', 'row': 1}, {'layer': 2})
    """
    ids = [check_node_id(n, "GraphML") for n in pag.nodes]
    if all(isinstance(i, int) for i in ids):
        id_mode, raw_ids = "int", [str(i) for i in ids]
    elif all(isinstance(i, str) and _xml_safe(i) for i in ids):
        id_mode, raw_ids = "str", [str(i) for i in ids]
    else:
        id_mode, raw_ids = "json", [json.dumps(i, ensure_ascii=True) for i in ids]
    raw_of = dict(zip(pag.nodes, raw_ids))

    root = ET.Element("graphml", {
        "xmlns": _GRAPHML_NS, "xmlns:xsi": _XSI_NS, "xsi:schemaLocation": f"{_GRAPHML_NS} {_GRAPHML_XSD}",
    })

    def add_key(key_id: str, domain: str, name: str, attr_type: str, as_json: bool) -> None:
        key = ET.SubElement(root, "key", {"id": key_id, "for": domain, "attr.name": name, "attr.type": attr_type})
        if as_json:
            ET.SubElement(key, "desc").text = _JSON_DESC

    add_key(_SCHEMA_KEY, "graph", "whytoken.schema", "string", False)
    add_key(_NODE_IDS_KEY, "graph", "whytoken.node_ids", "string", False)
    meta = meta_json(pag)
    meta_keys: dict[str, tuple[str, bool]] = {}
    for i, (name, value) in enumerate(meta.items()):
        attr_type, as_json = _graphml_type([value])
        meta_keys[name] = (f"g{i}", as_json)
        add_key(f"g{i}", "graph", _xml_name(name, "meta key"), attr_type, as_json)
    node_attrs = {n: node_json(pag, n) for n in pag.nodes}
    values_by_name: dict[str, list[Any]] = {}
    for attrs in node_attrs.values():
        for name, value in attrs.items():
            values_by_name.setdefault(name, []).append(value)
    node_keys: dict[str, tuple[str, bool]] = {}
    for i, (name, values) in enumerate(values_by_name.items()):
        attr_type, as_json = _graphml_type(values)
        node_keys[name] = (f"n{i}", as_json)
        add_key(f"n{i}", "node", _xml_name(name, "node attribute name"), attr_type, as_json)
    add_key("mark_u", "edge", "mark_u", "string", False)
    add_key("mark_v", "edge", "mark_v", "string", False)

    graph = ET.SubElement(root, "graph", {"id": "G", "edgedefault": "undirected"})

    def add_data(parent: ET.Element, key_id: str, text: str) -> None:
        ET.SubElement(parent, "data", {"key": key_id}).text = text

    add_data(graph, _SCHEMA_KEY, PAG_SCHEMA)
    add_data(graph, _NODE_IDS_KEY, id_mode)
    for name, value in meta.items():
        key_id, as_json = meta_keys[name]
        add_data(graph, key_id, _graphml_text(value, as_json))
    for node in pag.nodes:
        elem = ET.SubElement(graph, "node", {"id": raw_of[node]})
        for name, value in node_attrs[node].items():
            key_id, as_json = node_keys[name]
            add_data(elem, key_id, _graphml_text(value, as_json))
    for e in pag.edges():
        elem = ET.SubElement(graph, "edge", {"source": raw_of[e.u], "target": raw_of[e.v]})
        add_data(elem, "mark_u", e.at_u.value)
        add_data(elem, "mark_v", e.at_v.value)
    ET.indent(root)
    text = '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
    if path is not None:
        write_text(as_path(path), text, "GraphML")
    return text


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


@dataclass(frozen=True)
class _GraphmlKey:
    domain: str
    name: str
    attr_type: str
    as_json: bool
    default: str | None


def _graphml_value(key: _GraphmlKey, text: str | None, where: str) -> Any:
    text = text or ""
    try:
        if key.as_json:
            return json.loads(text)
        if key.attr_type == "boolean":
            lowered = text.strip().lower()
            if lowered in ("true", "1"):
                return True
            if lowered in ("false", "0"):
                return False
            raise ValueError(f"not a boolean: {text!r}")
        if key.attr_type in ("int", "long"):
            return int(text)
        if key.attr_type in ("float", "double"):
            return float(text)
    except ValueError as err:
        raise SchemaError(
            f"{where}: value {text!r} of key {key.name!r} is not a valid {'JSON' if key.as_json else key.attr_type} "
            f"({err}); expected the type its <key> declares"
        ) from err
    return text


def _parse_graphml(xml: str | bytes) -> PAG:
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as err:
        raise SchemaError(f"not well-formed GraphML/XML ({err}); expected a GraphML document") from err
    if _local(root.tag) != "graphml":
        raise SchemaError(f"root element is <{_local(root.tag)}>; expected <graphml>")
    keys: dict[str, _GraphmlKey] = {}
    for elem in root:
        if _local(elem.tag) != "key":
            continue
        key_id = elem.get("id")
        if key_id is None:
            raise SchemaError("a <key> has no 'id' attribute; expected <key id=... for=... attr.name=...>")
        attr_type = elem.get("attr.type", "string")
        if attr_type not in ("boolean", "int", "long", "float", "double", "string"):
            raise SchemaError(
                f"<key id={key_id!r}> has attr.type {attr_type!r}; expected one of boolean, int, long, float, "
                "double, string"
            )
        desc = next((c.text for c in elem if _local(c.tag) == "desc"), None)
        default = next((c.text or "" for c in elem if _local(c.tag) == "default"), None)
        keys[key_id] = _GraphmlKey(elem.get("for", "all"), elem.get("attr.name", key_id), attr_type,
                                   (desc or "").strip() == _JSON_DESC, default)
    graphs = [elem for elem in root if _local(elem.tag) == "graph"]
    if not graphs:
        raise SchemaError("the GraphML document has no <graph> element; expected one graph")
    if len(graphs) > 1:
        raise SchemaError(f"the GraphML document has {len(graphs)} <graph> elements; expected one")
    graph = graphs[0]
    directed_default = graph.get("edgedefault", "undirected") == "directed"

    def read_data(elem: ET.Element, domain: str, where: str) -> dict[str, tuple[str, Any]]:
        out: dict[str, tuple[str, Any]] = {}
        for data in elem:
            if _local(data.tag) != "data":
                continue
            key_id = data.get("key")
            if key_id not in keys:
                raise SchemaError(
                    f"{where}: <data key={key_id!r}> refers to an undeclared key; declared: {sorted(keys)}"
                )
            key = keys[key_id]
            out[key_id] = (key.name, _graphml_value(key, data.text, where))
        for key_id, key in keys.items():
            if key.domain in (domain, "all") and key.default is not None and key_id not in out:
                out[key_id] = (key.name, _graphml_value(key, key.default, f"default of key {key_id!r}"))
        return out

    graph_data = read_data(graph, "graph", "<graph>")
    schema = graph_data.pop(_SCHEMA_KEY, (None, None))[1]
    if schema is not None and schema != PAG_SCHEMA:
        raise SchemaError(f"unknown schema {schema!r} in the GraphML graph data; expected {PAG_SCHEMA!r}")
    id_mode = graph_data.pop(_NODE_IDS_KEY, (None, "str"))[1]
    if id_mode not in ("int", "str", "json"):
        raise SchemaError(f"whytoken.node_ids is {id_mode!r}; expected 'int', 'str' or 'json'")
    builder = Builder({name: value for name, value in graph_data.values()})

    node_of: dict[str, int | str] = {}
    for elem in graph:
        tag = _local(elem.tag)
        if tag == "hyperedge":
            raise SchemaError("the graph has a <hyperedge>; a PAG has only edges between two nodes")
        if tag != "node":
            continue
        raw = elem.get("id")
        where = f"<node id={raw!r}>"
        if raw is None:
            raise SchemaError("a <node> has no 'id' attribute; expected <node id=...>")
        if raw in node_of:
            raise SchemaError(f"{where}: duplicate node id {raw!r}; expected each node id once")
        if id_mode == "int":
            try:
                node_id: int | str = int(raw)
            except ValueError:
                raise SchemaError(f"{where}: id {raw!r} is not an integer; whytoken.node_ids says 'int'") from None
        elif id_mode == "json":
            try:
                node_id = valid_id(json.loads(raw), where)
            except json.JSONDecodeError as err:
                raise SchemaError(f"{where}: id is not JSON ({err}); whytoken.node_ids says 'json'") from err
        else:
            node_id = raw
        node_of[raw] = node_id
        builder.node(node_id, {name: value for name, value in read_data(elem, "node", where).values()}, where)

    for elem in graph:
        if _local(elem.tag) != "edge":
            continue
        source, target = elem.get("source"), elem.get("target")
        where = f"<edge source={source!r} target={target!r}>"
        for end in (source, target):
            if end not in node_of:
                raise SchemaError(f"{where} names unknown node {end!r}; expected one of the <node> ids")
        data = {name: value for name, value in read_data(elem, "edge", where).values()}
        if "mark_u" in data or "mark_v" in data:
            mark_u = parse_mark(data.get("mark_u"), f"{where} mark_u")
            mark_v = parse_mark(data.get("mark_v"), f"{where} mark_v")
        elif elem.get("directed", str(directed_default).lower()) == "true":
            mark_u, mark_v = Mark.TAIL, Mark.ARROW
        else:
            raise SchemaError(
                f"{where} is undirected and has no mark_u/mark_v data; expected edge data 'mark_u' and 'mark_v' "
                f"({MARK_NAMES}) or a directed edge"
            )
        builder.edge(node_of[source], node_of[target], mark_u, mark_v, where)
    return builder.pag


def pag_from_graphml(source: PathLike | str | bytes) -> PAG:
    """Read a PAG from GraphML: a file path, or the GraphML text itself (a str starting with ``<``, or bytes).

    Files from other tools are read too: data keys become node attributes and meta; an edge needs
    ``mark_u``/``mark_v`` data unless it is directed (then ``u --> v``).

    Raises
    ------
    CheckpointError
        The file cannot be read.
    SchemaError
        Not GraphML, a wrong schema, an unknown mark, unknown or duplicate nodes, duplicate edges or self-loops.

    Examples
    --------
    >>> g = pag_from_graphml('<graphml><graph edgedefault="directed"><node id="a"/><node id="b"/>'
    ...                      '<edge source="a" target="b"/></graph></graphml>')
    >>> print(g.describe())
    a --> b
    """
    if isinstance(source, (bytes, bytearray)):
        return _parse_graphml(bytes(source))
    if isinstance(source, str) and source.lstrip().startswith("<"):
        return _parse_graphml(source)
    path = as_path(source)
    raw = read_bytes(path, "GraphML")
    return with_path(path, lambda: _parse_graphml(raw))
