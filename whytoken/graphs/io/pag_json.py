"""The ``whytoken.pag/1`` JSON form of a PAG: the exact format other whytoken tools read.

A document has ``schema``, ``nodes`` (objects with ``id``, ``label`` and the
node attributes), ``edges`` (objects with ``u``, ``v``, ``mark_u``,
``mark_v``) and ``meta``; :mod:`whytoken.graphs.io` describes it in full.
Reading is strict about what would change the graph (a wrong schema, unknown
marks or nodes, duplicates, self-loops) and warns about unknown keys.

Examples
--------
>>> from whytoken.graphs import PAG, Mark
>>> g = PAG([0, 1]); g.add_edge(0, 1, Mark.TAIL, Mark.ARROW)
>>> pag_from_json(pag_to_json_string(g)) == g
True
"""

from __future__ import annotations

import json
import logging
from typing import Any, Mapping

from whytoken.errors import SchemaError
from whytoken.graphs.io._schema import (
    PAG_SCHEMA,
    Builder,
    check_node_id,
    meta_json,
    node_json,
    parse_mark,
    reject_constant,
    to_json_value,
    valid_id,
)
from whytoken.graphs.pag import PAG

__all__ = ["pag_to_json", "pag_to_json_string", "pag_from_json"]

logger = logging.getLogger(__name__)


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
        node_id = check_node_id(node, "whytoken.pag/1 JSON")
        attrs = node_json(pag, node)
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
            "u": check_node_id(e.u, "whytoken.pag/1 JSON"),
            "v": check_node_id(e.v, "whytoken.pag/1 JSON"),
            "mark_u": e.at_u.value,
            "mark_v": e.at_v.value,
        }
        for e in pag.edges()
    ]
    return {"schema": PAG_SCHEMA, "nodes": nodes, "edges": edges, "meta": meta_json(pag)}


def pag_to_json_string(pag: PAG, indent: int | None = 2) -> str:
    """The ``whytoken.pag/1`` JSON form of ``pag`` as text (UTF-8, strict JSON).

    Examples
    --------
    >>> from whytoken.graphs import PAG
    >>> print(pag_to_json_string(PAG([0]), indent=None))
    {"schema": "whytoken.pag/1", "nodes": [{"id": 0, "label": "0"}], "edges": [], "meta": {}}
    """
    return json.dumps(pag_to_json(pag), indent=indent, ensure_ascii=False, allow_nan=False)


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
            data = json.loads(data, parse_constant=reject_constant)
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
    builder = Builder(to_json_value(meta, "meta"))
    for i, entry in enumerate(nodes):
        where = f"nodes[{i}]"
        if not isinstance(entry, Mapping) or "id" not in entry:
            raise SchemaError(f"{where} is {entry!r}; expected an object with an 'id' key")
        node_id = valid_id(entry["id"], f"{where}['id']")
        attrs = to_json_value({k: v for k, v in entry.items() if k != "id"}, f"{where}")
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
        u = valid_id(entry["u"], f"{where}['u']")
        v = valid_id(entry["v"], f"{where}['v']")
        builder.edge(
            u, v,
            parse_mark(entry["mark_u"], f"{where}['mark_u']"),
            parse_mark(entry["mark_v"], f"{where}['mark_v']"),
            f"{where} ({u!r}, {v!r})",
        )
    return builder.pag
