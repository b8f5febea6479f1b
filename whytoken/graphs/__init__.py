"""Graphs: edge marks, partial ancestral graphs and their exchange formats.

This subpackage depends on numpy and networkx only. See :mod:`whytoken.graphs.pag`
for the PAG model and :mod:`whytoken.graphs.io` for JSON, GraphML, DOT,
networkx and causal-learn conversion.
"""

from whytoken.graphs.marks import Edge, Mark, node_sort_key
from whytoken.graphs.pag import CODE_MARKS, MARK_CODES, PAG

__all__ = ["Edge", "Mark", "PAG", "MARK_CODES", "CODE_MARKS", "node_sort_key"]
