"""Graphs: edge marks, partial ancestral graphs and their exchange formats.

This subpackage depends on numpy and networkx only. See :mod:`whytoken.graphs.pag`
for the PAG model and :mod:`whytoken.graphs.io` for JSON, GraphML, DOT,
networkx and causal-learn conversion.
"""

from whytoken.graphs.marks import Edge, Mark, node_sort_key
from whytoken.graphs.pag import CODE_MARKS, MARK_CODES, PAG
from whytoken.graphs.io import (
    PAG_SCHEMA,
    PagFormat,
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

__all__ = [
    "Edge", "Mark", "PAG", "MARK_CODES", "CODE_MARKS", "node_sort_key",
    "PAG_SCHEMA", "PagFormat", "get_format", "list_formats", "register_format", "read_pag", "write_pag",
    "pag_to_json", "pag_to_json_string", "pag_from_json", "pag_to_graphml", "pag_from_graphml",
    "pag_to_dot", "pag_from_dot", "pag_to_networkx", "pag_from_networkx",
    "pag_to_causallearn", "pag_from_causallearn",
]
