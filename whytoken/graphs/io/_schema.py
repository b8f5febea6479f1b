"""What a serialized PAG may hold, shared by every format: the schema string, node ids, values, marks.

Each writer passes node ids through :func:`check_node_id` (int or str only)
and attributes and meta through :func:`to_json_value` (JSON values only, so
every format stores the same things); each reader builds its graph with a
:class:`Builder`, which refuses what :class:`~whytoken.graphs.PAG` would
silently accept from a corrupt file (duplicate nodes or edges, self-loops,
edges to undeclared nodes). See :mod:`whytoken.graphs.io` for the rules.

A private module: the format modules import from it, users import from
:mod:`whytoken.graphs.io`.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Hashable, Mapping

import numpy as np

from whytoken.errors import SchemaError
from whytoken.graphs.marks import Mark
from whytoken.graphs.pag import PAG

__all__ = [
    "PAG_SCHEMA",
    "MARK_NAMES",
    "to_json_value",
    "check_node_id",
    "node_json",
    "meta_json",
    "parse_mark",
    "valid_id",
    "reject_constant",
    "Builder",
]

#: The schema string of the JSON form, also written into GraphML and DOT files.
PAG_SCHEMA = "whytoken.pag/1"

#: The mark names, quoted, for error messages.
MARK_NAMES = ", ".join(repr(m.value) for m in Mark)
_MARKS_BY_NAME: dict[str, Mark] = {m.value: m for m in Mark}


def to_json_value(value: Any, where: str) -> Any:
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
        return to_json_value(value.item(), where)
    if isinstance(value, np.ndarray):
        return to_json_value(value.tolist(), where)
    if isinstance(value, (list, tuple)):
        return [to_json_value(item, f"{where}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise SchemaError(
                    f"{where} has key {key!r} of type {type(key).__name__}; JSON object keys must be str: "
                    "convert the key with str()"
                )
            out[str(key)] = to_json_value(item, f"{where}[{key!r}]")
        return out
    raise SchemaError(
        f"{where} is {value!r} of type {type(value).__name__}; expected a JSON value (None, bool, int, "
        "finite float, str, list or dict with str keys): convert it before export"
    )


def check_node_id(node: Hashable, fmt: str) -> int | str:
    """The serializable form of a node id (int or str), or SchemaError."""
    if isinstance(node, numbers.Integral) and not isinstance(node, (bool, np.bool_)):
        return int(node)
    if isinstance(node, str):
        return str(node)
    raise SchemaError(
        f"node id {node!r} of type {type(node).__name__} cannot be written as {fmt}; expected int (a token "
        "position) or str: relabel the graph, e.g. PAG.from_edges with a mapping of its nodes to ints"
    )


def node_json(pag: PAG, node: Hashable) -> dict[str, Any]:
    return to_json_value(pag.node_attributes(node), f"attributes of node {node!r}")


def meta_json(pag: PAG) -> dict[str, Any]:
    if not isinstance(pag.meta, Mapping):
        raise SchemaError(f"pag.meta is {type(pag.meta).__name__} {pag.meta!r}; expected a dict with str keys")
    return to_json_value(pag.meta, "meta")


def parse_mark(value: Any, where: str) -> Mark:
    if isinstance(value, str) and value in _MARKS_BY_NAME:
        return _MARKS_BY_NAME[value]
    raise SchemaError(f"{where} is {value!r}; expected one of {MARK_NAMES}")


def valid_id(value: Any, where: str) -> int | str:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise SchemaError(
            f"{where} is {value!r} of type {type(value).__name__}; expected an int or a str node id"
        )
    return value


def reject_constant(name: str) -> Any:
    raise SchemaError(f"JSON contains {name}; expected strict JSON without NaN or Infinity: write null instead")


class Builder:
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
