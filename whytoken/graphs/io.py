"""Exchange formats for PAGs: JSON, GraphML, DOT, networkx and causal-learn.

Every format here keeps the three things a PAG is made of: the edges with a
mark at *each* end, the node attributes (token text, kind, patch row/col,
...) and the graph-level ``meta`` (provenance). Reading what was written gives
back an equal PAG with equal attributes and meta, and the node order.

Mark convention
---------------
Serialized edges name their endpoints ``u`` and ``v`` and carry ``mark_u``
(the mark at ``u``'s end) and ``mark_v``. ``u --> v`` is ``mark_u="tail"``,
``mark_v="arrow"``. This is the opposite reading of ``pag.mark(u, v)``, which
is the mark at ``v``'s end.

JSON (``whytoken.pag/1``)
-------------------------
::

    {"schema": "whytoken.pag/1",
     "nodes": [{"id": 0, "label": "The", "kind": "text"}, ...],
     "edges": [{"u": 0, "v": 1, "mark_u": "tail", "mark_v": "arrow"}, ...],
     "meta": {...}}

``label`` is always written; it defaults to ``str(id)``. On reading, a
label equal to ``str(id)`` is the default and is not stored as a node
attribute, so a graph without labels comes back without labels. Every
other key of a node object is a node attribute. ``meta`` is optional on
reading.

Which values can be written
---------------------------
* **Node ids** must be ``int`` (token positions; numpy integers are written
  as ``int``) or ``str``, and are kept as given: ``3`` and ``"3"`` are two
  different nodes. Any other id type (tuple, float, None, bool) is refused
  with :class:`~whytoken.errors.SchemaError`; relabel the graph first. The
  rule is the same for JSON, GraphML and DOT.
* **Attribute and meta values** must be JSON values: ``None``, ``bool``,
  ``int``, finite ``float``, ``str``, lists and dicts with ``str`` keys.
  Tuples and numpy arrays are written as lists and numpy scalars as Python
  scalars, so they come back as lists / Python scalars. NaN and infinity
  are refused (strict JSON cannot hold them; use ``None``).
* In JSON a node attribute may not be called ``id`` and ``label`` must be a
  ``str``.

GraphML writes scalar attributes with their native GraphML type (``long``,
``double``, ``boolean``, ``string``) so that yEd, Gephi or Cytoscape can use
them, and JSON-encodes a key whose values are lists, dicts, ``None``, mixed
types or strings XML cannot hold (the ``<key>`` then carries a ``<desc>``
saying so). DOT writes standard Graphviz (``dir=both`` with
``arrowtail``/``arrowhead`` ``none``/``normal``/``odot``) and keeps ids,
attributes and meta exactly in ``whytoken_id``, ``whytoken_attrs`` and
``whytoken_meta`` attributes that Graphviz ignores; the DOT reader here
needs neither pydot nor pygraphviz.

The networkx and causal-learn conversions keep Python values as they are
(deep copies) and accept any hashable node.

Errors: malformed serialized data raises
:class:`~whytoken.errors.SchemaError`; an in-memory graph that cannot be a
PAG (networkx or causal-learn input) raises
:class:`~whytoken.errors.InvalidGraphError`; a file that cannot be read or
written raises :class:`~whytoken.errors.CheckpointError`; an unknown format
raises :class:`~whytoken.errors.UnknownFormatError`.

Examples
--------
>>> from whytoken.graphs import PAG, Mark
>>> from whytoken.graphs.io import pag_to_json, pag_from_json
>>> g = PAG([0, 1], meta={"layer": 3})
>>> g.add_node(0, label="The")
>>> g.add_edge(0, 1, Mark.TAIL, Mark.ARROW)
>>> doc = pag_to_json(g)
>>> doc["edges"]
[{'u': 0, 'v': 1, 'mark_u': 'tail', 'mark_v': 'arrow'}]
>>> pag_from_json(doc) == g
True
"""

from __future__ import annotations

import copy
import json
import logging
import math
import numbers
import os
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Hashable, Mapping, NamedTuple

import numpy as np

from whytoken.errors import (
    CheckpointError,
    DuplicateRegistrationError,
    InvalidGraphError,
    SchemaError,
    UnknownFormatError,
)
from whytoken.graphs.marks import Mark
from whytoken.graphs.pag import PAG
from whytoken.registry import Registry

__all__ = [
    "PAG_SCHEMA",
    "pag_to_json",
    "pag_to_json_string",
    "pag_from_json",
    "pag_to_graphml",
    "pag_from_graphml",
    "pag_to_dot",
    "pag_from_dot",
    "pag_to_networkx",
    "pag_from_networkx",
    "pag_to_causallearn",
    "pag_from_causallearn",
    "PagFormat",
    "register_format",
    "get_format",
    "list_formats",
    "write_pag",
    "read_pag",
]

logger = logging.getLogger(__name__)

#: The schema string of the JSON form, also written into GraphML and DOT files.
PAG_SCHEMA = "whytoken.pag/1"

PathLike = str | os.PathLike

_MARK_NAMES = ", ".join(repr(m.value) for m in Mark)
_MARKS_BY_NAME: dict[str, Mark] = {m.value: m for m in Mark}


# ---------------------------------------------------------------------------- shared value rules
def _to_json_value(value: Any, where: str) -> Any:
    """A JSON-native copy of ``value`` (tuples/arrays -> lists, numpy scalars -> Python), or SchemaError."""
    if value is None or type(value) in (bool, str, int):
        return value
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise SchemaError(
                f"{where} is {value!r}; expected a finite number (JSON has no NaN or infinity): "
                "store None or a string instead"
            )
        return float(value)
    if isinstance(value, np.generic):
        return _to_json_value(value.item(), where)
    if isinstance(value, np.ndarray):
        return _to_json_value(value.tolist(), where)
    if isinstance(value, (list, tuple)):
        return [_to_json_value(item, f"{where}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise SchemaError(
                    f"{where} has key {key!r} of type {type(key).__name__}; JSON object keys must be str: "
                    "convert the key with str()"
                )
            out[str(key)] = _to_json_value(item, f"{where}[{key!r}]")
        return out
    raise SchemaError(
        f"{where} is {value!r} of type {type(value).__name__}; expected a JSON value (None, bool, int, "
        "finite float, str, list or dict with str keys): convert it before export"
    )


def _check_node_id(node: Hashable, fmt: str) -> int | str:
    """The serializable form of a node id (int or str), or SchemaError."""
    if isinstance(node, numbers.Integral) and not isinstance(node, (bool, np.bool_)):
        return int(node)
    if isinstance(node, str):
        return str(node)
    raise SchemaError(
        f"node id {node!r} of type {type(node).__name__} cannot be written as {fmt}; expected int (a token "
        "position) or str: relabel the graph, e.g. PAG.from_edges with a mapping of its nodes to ints"
    )


def _node_json(pag: PAG, node: Hashable) -> dict[str, Any]:
    return _to_json_value(pag.node_attributes(node), f"attributes of node {node!r}")


def _meta_json(pag: PAG) -> dict[str, Any]:
    if not isinstance(pag.meta, Mapping):
        raise SchemaError(f"pag.meta is {type(pag.meta).__name__} {pag.meta!r}; expected a dict with str keys")
    return _to_json_value(pag.meta, "meta")


def _parse_mark(value: Any, where: str) -> Mark:
    if isinstance(value, str) and value in _MARKS_BY_NAME:
        return _MARKS_BY_NAME[value]
    raise SchemaError(f"{where} is {value!r}; expected one of {_MARK_NAMES}")


def _valid_id(value: Any, where: str) -> int | str:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise SchemaError(
            f"{where} is {value!r} of type {type(value).__name__}; expected an int or a str node id"
        )
    return value


class _Builder:
    """Collects nodes and edges read from a file, checking what PAG would silently accept."""

    def __init__(self, meta: Mapping[str, Any]) -> None:
        self.pag = PAG(meta=meta)
        self._pairs: set[frozenset] = set()

    def node(self, node_id: int | str, attrs: Mapping[str, Any], where: str) -> None:
        # Ids are int or str here (bools are refused earlier), so `in` cannot confuse 1 with True.
        if node_id in self.pag:
            raise SchemaError(f"{where}: duplicate node id {node_id!r}; expected each node id once")
        self.pag.add_node(node_id)
        self.pag.node_attributes(node_id).update(attrs)

    def edge(self, u: Any, v: Any, mark_u: Mark, mark_v: Mark, where: str) -> None:
        for end in (u, v):
            if end not in self.pag:
                known = self.pag.nodes[:10]
                raise SchemaError(
                    f"{where} names unknown node {end!r}; expected one of the declared node ids "
                    f"({known}{' ...' if len(self.pag) > 10 else ''}): declare the node first"
                )
        if u == v:
            raise SchemaError(f"{where} is a self-loop on node {u!r}; a PAG edge needs two distinct nodes")
        pair = frozenset((u, v))
        if pair in self._pairs:
            raise SchemaError(
                f"{where} repeats the edge between {u!r} and {v!r}; expected at most one edge per pair of nodes"
            )
        self._pairs.add(pair)
        self.pag.add_edge(u, v, mark_u, mark_v)


# ---------------------------------------------------------------------------- JSON
def pag_to_json(pag: PAG) -> dict[str, Any]:
    """The ``whytoken.pag/1`` JSON form of ``pag`` as a dict of JSON values.

    Parameters
    ----------
    pag : PAG
        Nodes must be int or str; attributes and meta JSON values (see the module docstring).

    Returns
    -------
    dict
        ``{"schema", "nodes", "edges", "meta"}``; nodes in the graph's order, edges canonically sorted.

    Raises
    ------
    SchemaError
        A node id, attribute or meta value that the schema cannot hold.

    Examples
    --------
    >>> from whytoken.graphs import PAG, Mark
    >>> g = PAG(); g.add_edge(1, 0, Mark.CIRCLE, Mark.ARROW)   # 1 o-> 0
    >>> pag_to_json(g)["edges"]
    [{'u': 0, 'v': 1, 'mark_u': 'arrow', 'mark_v': 'circle'}]
    >>> pag_to_json(g)["nodes"]
    [{'id': 1, 'label': '1'}, {'id': 0, 'label': '0'}]
    """
    nodes: list[dict[str, Any]] = []
    for node in pag.nodes:
        node_id = _check_node_id(node, "whytoken.pag/1 JSON")
        attrs = _node_json(pag, node)
        if "id" in attrs:
            raise SchemaError(
                f"node {node!r} has an attribute called 'id' ({attrs['id']!r}); whytoken.pag/1 JSON uses 'id' "
                "for the node id: rename the attribute"
            )
        label = attrs.pop("label", str(node_id))
        if not isinstance(label, str):
            raise SchemaError(
                f"node {node!r} has label {label!r} of type {type(label).__name__}; whytoken.pag/1 expects a str "
                "label (the token text): store str(label) or use another attribute name"
            )
        nodes.append({"id": node_id, "label": label, **attrs})
    edges = [
        {
            "u": _check_node_id(e.u, "whytoken.pag/1 JSON"),
            "v": _check_node_id(e.v, "whytoken.pag/1 JSON"),
            "mark_u": e.at_u.value,
            "mark_v": e.at_v.value,
        }
        for e in pag.edges()
    ]
    return {"schema": PAG_SCHEMA, "nodes": nodes, "edges": edges, "meta": _meta_json(pag)}


def pag_to_json_string(pag: PAG, indent: int | None = 2) -> str:
    """The ``whytoken.pag/1`` JSON form of ``pag`` as text (UTF-8, strict JSON).

    Examples
    --------
    >>> from whytoken.graphs import PAG
    >>> print(pag_to_json_string(PAG([0]), indent=None))
    {"schema": "whytoken.pag/1", "nodes": [{"id": 0, "label": "0"}], "edges": [], "meta": {}}
    """
    return json.dumps(pag_to_json(pag), indent=indent, ensure_ascii=False, allow_nan=False)


def _reject_constant(name: str) -> Any:
    raise SchemaError(f"JSON contains {name}; expected strict JSON without NaN or Infinity: write null instead")


def pag_from_json(data: Mapping[str, Any] | str | bytes) -> PAG:
    """Read a PAG from its ``whytoken.pag/1`` JSON form (a dict, a JSON string or UTF-8 bytes).

    Raises
    ------
    SchemaError
        Corrupt JSON, a missing or wrong ``schema``, an unknown mark, an edge naming an unknown
        node, a duplicate node id or edge, or a self-loop; the message names the bad value.

    Examples
    --------
    >>> g = pag_from_json('{"schema": "whytoken.pag/1", "nodes": [{"id": 0, "label": "hi"}, '
    ...                   '{"id": 1, "label": "1"}], "edges": [{"u": 0, "v": 1, "mark_u": "circle", '
    ...                   '"mark_v": "arrow"}]}')
    >>> print(g.describe()); g.node_attributes(0), g.node_attributes(1)
    0 o-> 1
    ({'label': 'hi'}, {})
    """
    if isinstance(data, (bytes, bytearray)):
        try:
            data = bytes(data).decode("utf-8")
        except UnicodeDecodeError as err:
            raise SchemaError(
                f"JSON bytes are not UTF-8 ({err}); expected a UTF-8 encoded {PAG_SCHEMA} document"
            ) from err
    if isinstance(data, str):
        try:
            data = json.loads(data, parse_constant=_reject_constant)
        except json.JSONDecodeError as err:
            snippet = err.doc[max(err.pos - 20, 0) : err.pos + 20]
            raise SchemaError(
                f"corrupt JSON at line {err.lineno} column {err.colno} ({err.msg}) near {snippet!r}; "
                f"expected a {PAG_SCHEMA} document"
            ) from err
    if not isinstance(data, Mapping):
        raise SchemaError(
            f"expected a JSON object with a 'schema' key ({PAG_SCHEMA}), got {type(data).__name__}: "
            f"{str(data)[:60]!r}"
        )
    if "schema" not in data:
        raise SchemaError(
            f"the document has no 'schema' key (keys: {sorted(map(str, data))}); expected "
            f"'schema': {PAG_SCHEMA!r}"
        )
    if data["schema"] != PAG_SCHEMA:
        raise SchemaError(
            f"unknown schema {data['schema']!r}; expected {PAG_SCHEMA!r} (this whytoken reads only that version)"
        )
    extra = set(data) - {"schema", "nodes", "edges", "meta"}
    if extra:
        logger.warning("ignoring unknown top-level keys %s in %s JSON", sorted(map(str, extra)), PAG_SCHEMA)
    nodes, edges = data.get("nodes"), data.get("edges")
    for key, value in (("nodes", nodes), ("edges", edges)):
        if not isinstance(value, list):
            raise SchemaError(
                f"{key!r} is {'missing' if value is None else type(value).__name__}; expected a JSON array"
            )
    meta = data.get("meta", {})
    if not isinstance(meta, Mapping):
        raise SchemaError(f"'meta' is {type(meta).__name__} {meta!r}; expected a JSON object")
    builder = _Builder(_to_json_value(meta, "meta"))
    for i, entry in enumerate(nodes):
        where = f"nodes[{i}]"
        if not isinstance(entry, Mapping) or "id" not in entry:
            raise SchemaError(f"{where} is {entry!r}; expected an object with an 'id' key")
        node_id = _valid_id(entry["id"], f"{where}['id']")
        attrs = _to_json_value({k: v for k, v in entry.items() if k != "id"}, f"{where}")
        label = attrs.get("label", str(node_id))
        if not isinstance(label, str):
            raise SchemaError(f"{where}['label'] is {label!r}; expected a str (the token text)")
        if label == str(node_id):
            attrs.pop("label", None)
        builder.node(node_id, attrs, where)
    for i, entry in enumerate(edges):
        where = f"edges[{i}]"
        missing = [k for k in ("u", "v", "mark_u", "mark_v") if not isinstance(entry, Mapping) or k not in entry]
        if missing:
            raise SchemaError(
                f"{where} is {entry!r}, missing {missing}; expected an object with 'u', 'v', 'mark_u', 'mark_v'"
            )
        unknown = set(entry) - {"u", "v", "mark_u", "mark_v"}
        if unknown:
            logger.warning("ignoring unknown keys %s of %s (a PAG edge has only marks)",
                           sorted(map(str, unknown)), where)
        u = _valid_id(entry["u"], f"{where}['u']")
        v = _valid_id(entry["v"], f"{where}['v']")
        builder.edge(
            u, v,
            _parse_mark(entry["mark_u"], f"{where}['mark_u']"),
            _parse_mark(entry["mark_v"], f"{where}['mark_v']"),
            f"{where} ({u!r}, {v!r})",
        )
    return builder.pag


# ---------------------------------------------------------------------------- files
def _as_path(path: PathLike) -> Path:
    return Path(os.fspath(path))


def _read_bytes(path: Path, fmt: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as err:
        raise CheckpointError(
            f"cannot read {fmt} file {str(path)!r}: {err.strerror or err}; expected an existing, readable "
            f"file written by PAG.save / whytoken graph export"
        ) from err


def _read_text(path: Path, fmt: str) -> str:
    raw = _read_bytes(path, fmt)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise SchemaError(f"{str(path)!r} is not UTF-8 text ({err}); expected a UTF-8 {fmt} file") from err


def _write_text(path: Path, text: str, fmt: str) -> None:
    try:
        with open(path, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
    except OSError as err:
        raise CheckpointError(
            f"cannot write {fmt} file {str(path)!r}: {err.strerror or err}; check that the directory exists "
            "and is writable"
        ) from err


def _with_path(path: Path, parse: Callable[[], PAG]) -> PAG:
    try:
        return parse()
    except SchemaError as err:
        raise SchemaError(f"{str(path)!r}: {err}") from err


# ---------------------------------------------------------------------------- GraphML
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
    ids = [_check_node_id(n, "GraphML") for n in pag.nodes]
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
    meta = _meta_json(pag)
    meta_keys: dict[str, tuple[str, bool]] = {}
    for i, (name, value) in enumerate(meta.items()):
        attr_type, as_json = _graphml_type([value])
        meta_keys[name] = (f"g{i}", as_json)
        add_key(f"g{i}", "graph", _xml_name(name, "meta key"), attr_type, as_json)
    node_attrs = {n: _node_json(pag, n) for n in pag.nodes}
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
        _write_text(_as_path(path), text, "GraphML")
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
    builder = _Builder({name: value for name, value in graph_data.values()})

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
                node_id = _valid_id(json.loads(raw), where)
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
            mark_u = _parse_mark(data.get("mark_u"), f"{where} mark_u")
            mark_v = _parse_mark(data.get("mark_v"), f"{where} mark_v")
        elif elem.get("directed", str(directed_default).lower()) == "true":
            mark_u, mark_v = Mark.TAIL, Mark.ARROW
        else:
            raise SchemaError(
                f"{where} is undirected and has no mark_u/mark_v data; expected edge data 'mark_u' and 'mark_v' "
                f"({_MARK_NAMES}) or a directed edge"
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
    path = _as_path(source)
    raw = _read_bytes(path, "GraphML")
    return _with_path(path, lambda: _parse_graphml(raw))


# ---------------------------------------------------------------------------- DOT
_ARROW_OF_MARK: dict[Mark, str] = {Mark.TAIL: "none", Mark.ARROW: "normal", Mark.CIRCLE: "odot"}
_MARK_OF_ARROW: dict[str, Mark] = {arrow: mark for mark, arrow in _ARROW_OF_MARK.items()}
_DOT_KEYWORDS = {"strict", "graph", "digraph", "node", "edge", "subgraph"}


def _dot_quote(text: str) -> str:
    """A DOT quoted string; Graphviz reads back exactly ``text`` (the only DOT escape is ``\\"``)."""
    if text.endswith("\\"):
        raise ValueError("a DOT quoted string cannot end with a backslash")
    return '"' + text.replace('"', '\\"') + '"'


def _dot_label(text: str) -> str:
    """A display label in Graphviz escString syntax (cosmetic: exact values live in whytoken_attrs)."""
    escaped = text.replace("\\", "\\\\").replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\\n")
    if escaped.endswith("\\"):
        escaped += " "
    return _dot_quote(escaped)


def _json_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=True, allow_nan=False, separators=(",", ":"))


def pag_to_dot(pag: PAG, path: PathLike | None = None) -> str:
    """Graphviz DOT text for ``pag``; also written to ``path`` (UTF-8) when given.

    Each edge is ``"u" -> "v" [dir=both, arrowtail=..., arrowhead=..., mark_u=..., mark_v=...]``
    with ``none`` for a tail, ``normal`` for an arrowhead and ``odot`` for a circle, so
    ``dot -Tpng`` draws the PAG; ``mark_u``/``mark_v`` (ignored by Graphviz) keep the marks even
    if the arrows are restyled. Node ids, attributes and meta are kept exactly as JSON in
    ``whytoken_id``, ``whytoken_attrs`` and ``whytoken_meta``.

    Examples
    --------
    >>> from whytoken.graphs import PAG, Mark
    >>> g = PAG(); g.add_node(0, label="The"); g.add_edge(0, 1, Mark.CIRCLE, Mark.ARROW)
    >>> print(pag_to_dot(g))
    digraph PAG {
      graph [whytoken_schema="whytoken.pag/1", whytoken_meta="{}"];
      "0" [label="The", whytoken_id="0", whytoken_attrs="{\\"label\\":\\"The\\"}"];
      "1" [label="1", whytoken_id="1", whytoken_attrs="{}"];
      "0" -> "1" [dir=both, arrowtail=odot, arrowhead=normal, mark_u=circle, mark_v=arrow];
    }
    <BLANKLINE>
    """
    ids = [_check_node_id(n, "DOT") for n in pag.nodes]
    names = [str(i) for i in ids]
    if len(set(names)) != len(names) or not all(n.isprintable() and "\\" not in n for n in names):
        names = [f"n{i}" for i in range(len(ids))]
    name_of = dict(zip(pag.nodes, names))
    lines = [
        "digraph PAG {",
        f"  graph [whytoken_schema={_dot_quote(PAG_SCHEMA)}, whytoken_meta={_dot_quote(_json_text(_meta_json(pag)))}];",
    ]
    for node, node_id in zip(pag.nodes, ids):
        attrs = _node_json(pag, node)
        label = attrs.get("label", str(node_id))
        display = label if isinstance(label, str) else _json_text(label)
        lines.append(
            f"  {_dot_quote(name_of[node])} [label={_dot_label(display)}, "
            f"whytoken_id={_dot_quote(_json_text(node_id))}, whytoken_attrs={_dot_quote(_json_text(attrs))}];"
        )
    for e in pag.edges():
        lines.append(
            f"  {_dot_quote(name_of[e.u])} -> {_dot_quote(name_of[e.v])} "
            f"[dir=both, arrowtail={_ARROW_OF_MARK[e.at_u]}, arrowhead={_ARROW_OF_MARK[e.at_v]}, "
            f"mark_u={e.at_u.value}, mark_v={e.at_v.value}];"
        )
    lines.append("}")
    text = "\n".join(lines) + "\n"
    if path is not None:
        _write_text(_as_path(path), text, "DOT")
    return text


class _Token(NamedTuple):
    kind: str  # "id", "keyword", "punct", "edgeop", "end" ("qid" before quoted strings are joined)
    value: str
    line: int


_DOT_LEXEME = re.compile(
    r"""
     (?P<space>[ \t\r\f\v\n]+)
    |(?P<comment>(?<![^\n])\#[^\n]*|//[^\n]*|/\*.*?\*/)
    |(?P<edgeop>->|--)
    |(?P<punct>[{}\[\];,=:+])
    |(?P<quoted>"(?:[^"\\]|\\"|\\(?!"))*")
    |(?P<id>-?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)|[A-Za-z_\u0080-\U0010FFFF][A-Za-z_0-9\u0080-\U0010FFFF]*)
    """,
    re.VERBOSE | re.DOTALL,
)
# Inside a quoted string Graphviz turns \" into " and drops escaped line ends; every other
# backslash stays (a backslash never escapes a backslash).
_DOT_ESCAPE = re.compile(r'\\\\\r?\n|\\\r?\n|\\"')


def _dot_tokens(text: str) -> list[_Token]:
    """Tokens of DOT text, following Graphviz's lexer (comments, ``#`` lines, quoted strings, ``+``)."""
    tokens: list[_Token] = []
    i, n, line = 0, len(text), 1
    while i < n:
        m = _DOT_LEXEME.match(text, i)
        if m is None:
            if text[i] == "<":  # an HTML string: balanced <...>
                depth, j = 0, i
                while j < n:
                    depth += {"<": 1, ">": -1}.get(text[j], 0)
                    if depth == 0:
                        break
                    j += 1
                if depth:
                    raise SchemaError(f"DOT line {line}: unterminated HTML string; expected a matching '>'")
                tokens.append(_Token("id", text[i + 1 : j], line))
                line += text.count("\n", i, j)
                i = j + 1
                continue
            if text[i] == '"':
                raise SchemaError(f"DOT line {line}: unterminated quoted string; expected a closing '\"'")
            if text.startswith("/*", i):
                raise SchemaError(f"DOT line {line}: unterminated /* comment; expected */")
            raise SchemaError(
                f"DOT line {line}: unexpected character {text[i]!r}; expected an ID, a quoted string or punctuation"
            )
        kind, value = m.lastgroup, m.group()
        if kind == "quoted":
            content = _DOT_ESCAPE.sub(lambda e: '"' if e.group().endswith('"') else "", value[1:-1])
            tokens.append(_Token("qid", content, line))
        elif kind == "id":
            keyword = value.lower() in _DOT_KEYWORDS
            tokens.append(_Token("keyword" if keyword else "id", value.lower() if keyword else value, line))
        elif kind in ("edgeop", "punct"):
            tokens.append(_Token(kind, value, line))
        line += value.count("\n")
        i = m.end()
    # Graphviz joins "a" + "b" into one quoted string.
    merged: list[_Token] = []
    k = 0
    while k < len(tokens):
        tok = tokens[k]
        if tok.kind == "qid":
            value = tok.value
            while k + 2 < len(tokens) and tokens[k + 1].kind == "punct" and tokens[k + 1].value == "+" \
                    and tokens[k + 2].kind == "qid":
                value += tokens[k + 2].value
                k += 2
            tok = _Token("id", value, tok.line)
        merged.append(tok)
        k += 1
    # Enough end tokens that the parser's look-ahead never runs off the list.
    merged.extend([_Token("end", "", line)] * 3)
    return merged


@dataclass
class _DotGraph:
    directed: bool
    graph_attrs: dict[str, str]
    nodes: dict[str, dict[str, str]]
    edges: list[tuple[str, str, dict[str, str], int]]


class _DotParser:
    """Recursive-descent parser for one DOT graph without subgraphs."""

    def __init__(self, text: str) -> None:
        self.tokens = _dot_tokens(text)
        self.pos = 0

    def peek(self, offset: int = 0) -> _Token:
        return self.tokens[self.pos + offset]

    def take(self) -> _Token:
        tok = self.tokens[self.pos]
        if tok.kind != "end":  # stay on the end tokens
            self.pos += 1
        return tok

    def expect(self, kind: str, value: str | None = None) -> _Token:
        tok = self.take()
        if tok.kind != kind or (value is not None and tok.value != value):
            wanted = value or kind
            raise SchemaError(f"DOT line {tok.line}: found {tok.value or tok.kind!r}; expected {wanted!r}")
        return tok

    def is_punct(self, value: str) -> bool:
        tok = self.tokens[self.pos]
        return tok.kind == "punct" and tok.value == value

    def parse(self) -> _DotGraph:
        if self.peek().kind == "keyword" and self.peek().value == "strict":
            self.take()
        head = self.take()
        if head.kind != "keyword" or head.value not in ("graph", "digraph"):
            raise SchemaError(f"DOT line {head.line}: found {head.value or head.kind!r}; expected 'graph' or 'digraph'")
        graph = _DotGraph(head.value == "digraph", {}, {}, [])
        if self.peek().kind == "id":
            self.take()
        self.expect("punct", "{")
        node_defaults: dict[str, str] = {}
        edge_defaults: dict[str, str] = {}
        while not self.is_punct("}"):
            tok = self.peek()
            if tok.kind == "end":
                raise SchemaError(f"DOT line {tok.line}: the graph is not closed; expected '}}'")
            if (tok.kind == "keyword" and tok.value == "subgraph") or self.is_punct("{"):
                raise SchemaError(
                    f"DOT line {tok.line}: subgraphs are not supported; expected node, edge and attribute statements"
                )
            if tok.kind == "keyword" and tok.value in ("graph", "node", "edge"):
                self.take()
                attrs = self.attr_list()
                {"graph": graph.graph_attrs, "node": node_defaults, "edge": edge_defaults}[tok.value].update(attrs)
            elif tok.kind == "id" and self.peek(1).kind == "punct" and self.peek(1).value == "=":
                self.take()
                self.take()
                graph.graph_attrs[tok.value] = self.expect("id").value
            elif tok.kind == "id":
                chain = [self.node_id()]
                while self.peek().kind == "edgeop":
                    op = self.take()
                    if (op.value == "->") != graph.directed:
                        raise SchemaError(
                            f"DOT line {op.line}: edge operator {op.value!r} in a "
                            f"{'digraph' if graph.directed else 'graph'}; expected {'->' if graph.directed else '--'}"
                        )
                    chain.append(self.node_id())
                attrs = self.attr_list()
                for name in chain:
                    if name not in graph.nodes:
                        graph.nodes[name] = dict(node_defaults)
                if len(chain) == 1:
                    graph.nodes[chain[0]].update(attrs)
                for a, b in zip(chain, chain[1:]):
                    graph.edges.append((a, b, {**edge_defaults, **attrs}, tok.line))
            else:
                raise SchemaError(f"DOT line {tok.line}: found {tok.value or tok.kind!r}; expected a statement")
            while self.is_punct(";") or self.is_punct(","):
                self.take()
        self.take()
        tail = self.peek()
        if tail.kind != "end":
            raise SchemaError(
                f"DOT line {tail.line}: text after the graph ({tail.value!r}); expected one graph per file"
            )
        return graph

    def node_id(self) -> str:
        name = self.expect("id").value
        # Ports (node:port:compass) do not change which node an edge touches.
        while self.is_punct(":"):
            self.take()
            self.expect("id")
        return name

    def attr_list(self) -> dict[str, str]:
        attrs: dict[str, str] = {}
        while self.is_punct("["):
            self.take()
            while not self.is_punct("]"):
                key = self.expect("id").value
                if self.is_punct("="):
                    self.take()
                    attrs[key] = self.expect("id").value
                else:
                    attrs[key] = "true"
                while self.is_punct(";") or self.is_punct(","):
                    self.take()
            self.take()
        return attrs


def _dot_marks(directed: bool, attrs: Mapping[str, str], where: str) -> tuple[Mark, Mark]:
    """Marks at the tail and head node of a DOT edge, following Graphviz's ``dir`` semantics."""
    direction = attrs.get("dir", "forward" if directed else "none")

    def arrow(name: str) -> Mark:
        value = attrs.get(name, "normal")
        if value not in _MARK_OF_ARROW:
            raise SchemaError(
                f"{where}: {name}={value!r} has no PAG mark; expected one of "
                f"{', '.join(repr(a) for a in _MARK_OF_ARROW)} (tail, arrowhead, circle)"
            )
        return _MARK_OF_ARROW[value]

    if direction == "both":
        return arrow("arrowtail"), arrow("arrowhead")
    if direction == "forward":
        return Mark.TAIL, arrow("arrowhead")
    if direction == "back":
        return arrow("arrowtail"), Mark.TAIL
    if direction == "none":
        return Mark.TAIL, Mark.TAIL
    raise SchemaError(f"{where}: dir={direction!r}; expected 'both', 'forward', 'back' or 'none'")


def _json_attr(attrs: Mapping[str, str], key: str, where: str) -> Any:
    try:
        return json.loads(attrs[key], parse_constant=_reject_constant)
    except json.JSONDecodeError as err:
        raise SchemaError(
            f"{where}: {key}={attrs[key][:60]!r} is not valid JSON ({err.msg}); expected JSON text"
        ) from err


def _parse_dot(text: str) -> PAG:
    dot = _DotParser(text).parse()
    schema = dot.graph_attrs.get("whytoken_schema")
    if schema is not None and schema != PAG_SCHEMA:
        raise SchemaError(f"unknown schema {schema!r} in the DOT graph attributes; expected {PAG_SCHEMA!r}")
    if "whytoken_meta" in dot.graph_attrs:
        meta = _json_attr(dot.graph_attrs, "whytoken_meta", "graph")
        if not isinstance(meta, dict):
            raise SchemaError(f"graph whytoken_meta is {type(meta).__name__}; expected a JSON object")
    else:
        meta = {k: v for k, v in dot.graph_attrs.items() if k != "whytoken_schema"}
    builder = _Builder(meta)
    node_of: dict[str, int | str] = {}
    for name, attrs in dot.nodes.items():
        where = f"DOT node {name!r}"
        node_id = _valid_id(_json_attr(attrs, "whytoken_id", where), f"{where} whytoken_id") \
            if "whytoken_id" in attrs else name
        if "whytoken_attrs" in attrs:
            node_attrs = _json_attr(attrs, "whytoken_attrs", where)
            if not isinstance(node_attrs, dict):
                raise SchemaError(f"{where}: whytoken_attrs is {type(node_attrs).__name__}; expected a JSON object")
        else:
            node_attrs = dict(attrs)
        node_of[name] = node_id
        builder.node(node_id, node_attrs, where)
    for a, b, attrs, line in dot.edges:
        where = f"DOT line {line} edge {a!r} {'->' if dot.directed else '--'} {b!r}"
        if "mark_u" in attrs or "mark_v" in attrs:
            mark_a = _parse_mark(attrs.get("mark_u"), f"{where} mark_u")
            mark_b = _parse_mark(attrs.get("mark_v"), f"{where} mark_v")
        else:
            mark_a, mark_b = _dot_marks(dot.directed, attrs, where)
        builder.edge(node_of[a], node_of[b], mark_a, mark_b, where)
    return builder.pag


def pag_from_dot(source: PathLike | str) -> PAG:
    """Read a PAG from DOT: a file path, or DOT text (a str containing ``{``).

    Reads what :func:`pag_to_dot` writes and simple hand-written graphs (node, edge and attribute
    statements, comments, ports; no subgraphs). Edge marks come from ``mark_u``/``mark_v`` when
    present, else from Graphviz's ``dir``/``arrowtail``/``arrowhead`` (``none``, ``normal``,
    ``odot``). Without ``whytoken_*`` attributes node ids are the DOT names (str) and the other
    node/graph attributes become node attributes/meta (str values).

    Raises
    ------
    CheckpointError
        The file cannot be read.
    SchemaError
        Malformed DOT, an arrow shape with no PAG mark, duplicate nodes or edges, or self-loops.

    Examples
    --------
    >>> print(pag_from_dot('digraph { a -> b; b -> c [dir=both, arrowtail=odot]; }').describe())
    a --> b
    b o-> c
    """
    if isinstance(source, str) and "{" in source:
        return _parse_dot(source)
    path = _as_path(source)
    text = _read_text(path, "DOT")
    return _with_path(path, lambda: _parse_dot(text))


# ---------------------------------------------------------------------------- networkx
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
                f"{_MARK_NAMES} (e.g. marks={{{u!r}: 'tail', {v!r}: 'arrow'}})"
            )
        if directed and pag.has_edge(u, v):
            raise InvalidGraphError(
                f"the DiGraph has both ({u!r}, {v!r}) and ({v!r}, {u!r}); a PAG has one edge per pair: "
                "keep one, or give the pair a single edge with 'marks'"
            )
        pag.add_edge(u, v, at_u, at_v)
    return pag


# ---------------------------------------------------------------------------- causal-learn
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


# ---------------------------------------------------------------------------- format registry
@dataclass(frozen=True)
class PagFormat:
    """A file format for PAGs: its name, file suffixes, and functions that write and read a file.

    Attributes
    ----------
    name : str
        Registry name, as given to ``--format``.
    suffixes : tuple of str
        File suffixes (with the dot, lower case) that select the format when none is given.
    writer : callable
        ``writer(pag, path)`` writes the file.
    reader : callable
        ``reader(path) -> PAG`` reads it.
    description : str
        One line for help texts.
    """

    name: str
    suffixes: tuple[str, ...]
    writer: Callable[[PAG, Path], None]
    reader: Callable[[Path], PAG]
    description: str = ""


_FORMATS: Registry[PagFormat] = Registry(
    "graph format", plural="formats", error=UnknownFormatError, case_sensitive=False,
    fix="Register a new one with whytoken.graphs.register_format(name, suffixes=..., writer=..., reader=...).",
)


def register_format(
    name: str,
    *,
    suffixes: tuple[str, ...] | list[str],
    writer: Callable[[PAG, Path], None],
    reader: Callable[[Path], PAG],
    description: str = "",
    overwrite: bool = False,
) -> PagFormat:
    """Register a PAG file format under ``name`` (lower case).

    Raises
    ------
    DuplicateRegistrationError
        ``name`` or one of ``suffixes`` already belongs to a format and ``overwrite`` is false.

    Examples
    --------
    >>> fmt = register_format("json-compact", suffixes=[".pagjson"],
    ...                       writer=lambda pag, path: path.write_text(pag_to_json_string(pag, indent=None)),
    ...                       reader=lambda path: pag_from_json(path.read_text()))
    >>> "json-compact" in list_formats()
    True
    >>> _ = _FORMATS.unregister("json-compact")   # keep the registry as shipped
    """
    norm_suffixes = tuple(s.lower() if s.startswith(".") else f".{s.lower()}" for s in suffixes)
    fmt = PagFormat(name.lower(), norm_suffixes, writer, reader, description)
    if not overwrite:
        for other in _registered_formats():
            clash = set(norm_suffixes) & set(other.suffixes)
            if clash and other.name != fmt.name:
                raise DuplicateRegistrationError(
                    f"suffix(es) {sorted(clash)} already select format {other.name!r}; choose other suffixes "
                    "or pass overwrite=True"
                )
    return _FORMATS.register(fmt.name, fmt, overwrite=overwrite)


def _registered_formats() -> list[PagFormat]:
    return [_FORMATS.get(name) for name in _FORMATS]


def list_formats() -> list[str]:
    """The names of the registered formats, sorted.

    Examples
    --------
    >>> list_formats()
    ['dot', 'graphml', 'json']
    """
    return _FORMATS.names()


def get_format(name: str) -> PagFormat:
    """The format registered under ``name`` (case-insensitive).

    Raises
    ------
    UnknownFormatError
        No such format; the message lists the known ones.

    Examples
    --------
    >>> get_format("GraphML").suffixes
    ('.graphml', '.xml')
    """
    return _FORMATS.get(name)


def _format_for(path: Path, format: str | None) -> PagFormat:
    if format is not None:
        return get_format(format)
    suffix = path.suffix.lower()
    for fmt in _registered_formats():
        if suffix in fmt.suffixes:
            return fmt
    known = ", ".join(f"{s} ({f.name})" for f in _registered_formats() for s in f.suffixes)
    raise UnknownFormatError(
        f"cannot tell the graph format of {str(path)!r} from its suffix {suffix!r}; known suffixes: {known}. "
        f"Pass format= one of {', '.join(list_formats())}"
    )


def write_pag(pag: PAG, path: PathLike, format: str | None = None) -> Path:
    """Write ``pag`` to ``path`` in ``format`` (default: from the suffix); returns the path.

    Raises
    ------
    UnknownFormatError
        Unknown ``format`` or suffix.
    CheckpointError
        The file cannot be written.
    SchemaError
        The graph holds a node id or value the format cannot store.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from whytoken.graphs import PAG, Mark
    >>> g = PAG(); g.add_edge(0, 1, Mark.CIRCLE, Mark.CIRCLE)
    >>> path = write_pag(g, pathlib.Path(tempfile.mkdtemp()) / "pag.dot")
    >>> read_pag(path) == g
    True
    """
    p = _as_path(path)
    _format_for(p, format).writer(pag, p)
    return p


def read_pag(path: PathLike, format: str | None = None) -> PAG:
    """Read a PAG from ``path`` in ``format`` (default: from the suffix).

    Raises
    ------
    UnknownFormatError
        Unknown ``format`` or suffix.
    CheckpointError
        The file does not exist or cannot be read (the message has the path).
    SchemaError
        The content is corrupt or has the wrong schema (the message has the path).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from whytoken.graphs import PAG
    >>> path = write_pag(PAG([0, 1]), pathlib.Path(tempfile.mkdtemp()) / "pag.json")
    >>> read_pag(path).nodes
    [0, 1]
    """
    p = _as_path(path)
    return _format_for(p, format).reader(p)


def _write_json(pag: PAG, path: Path) -> None:
    _write_text(path, pag_to_json_string(pag) + "\n", "JSON")


def _read_json(path: Path) -> PAG:
    text = _read_text(path, "JSON")
    return _with_path(path, lambda: pag_from_json(text))


def _write_graphml(pag: PAG, path: Path) -> None:
    pag_to_graphml(pag, path)


def _write_dot(pag: PAG, path: Path) -> None:
    pag_to_dot(pag, path)


register_format("json", suffixes=(".json",), writer=_write_json, reader=_read_json,
                description=f"{PAG_SCHEMA} JSON (exact; the format other whytoken tools read)")
register_format("graphml", suffixes=(".graphml", ".xml"), writer=_write_graphml, reader=pag_from_graphml,
                description="GraphML with mark_u/mark_v edge data (yEd, Gephi, Cytoscape)")
register_format("dot", suffixes=(".dot", ".gv"), writer=_write_dot, reader=pag_from_dot,
                description="Graphviz DOT with PAG arrowheads (dot -Tpng)")
