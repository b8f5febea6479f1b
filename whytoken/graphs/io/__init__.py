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

Modules
-------
:mod:`~whytoken.graphs.io.pag_json`, :mod:`~whytoken.graphs.io.graphml`,
:mod:`~whytoken.graphs.io.dot`, :mod:`~whytoken.graphs.io.networkx_graph` and
:mod:`~whytoken.graphs.io.causal_learn` hold one format each;
:mod:`~whytoken.graphs.io.formats` the registry of file formats with
:func:`write_pag` and :func:`read_pag`. Import the names from here.

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

from whytoken.graphs.io._schema import PAG_SCHEMA
from whytoken.graphs.io.causal_learn import pag_from_causallearn, pag_to_causallearn
from whytoken.graphs.io.dot import pag_from_dot, pag_to_dot
from whytoken.graphs.io.formats import PagFormat, get_format, list_formats, read_pag, register_format, write_pag
from whytoken.graphs.io.graphml import pag_from_graphml, pag_to_graphml
from whytoken.graphs.io.networkx_graph import pag_from_networkx, pag_to_networkx
from whytoken.graphs.io.pag_json import pag_from_json, pag_to_json, pag_to_json_string

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
