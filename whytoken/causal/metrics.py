"""Distances and agreement scores between two PAGs over the same nodes.

Structure learners are compared on two levels:

* **Adjacencies (the skeleton).** Which pairs are adjacent, whatever the
  marks. :func:`adjacency_precision_recall`, :func:`skeleton_f1` and
  :func:`skeleton_shd` treat the first graph as the estimate and the second
  as the reference.
* **Marks on shared edges.** For pairs adjacent in both graphs, do the
  endpoints agree? :func:`arrowhead_precision_recall` scores arrowheads (the
  marks that carry "is not an ancestor of"), :func:`mark_agreement` the share
  of identical endpoints, and :func:`shd` counts every pair whose edge differs
  in adjacency or in any mark.

Ratios whose denominator is empty are 1.0 (nothing was claimed, so nothing
was wrong). Both graphs must have the same node set.

Examples
--------
>>> from whytoken.graphs import PAG, Mark
>>> truth = PAG([0, 1, 2]); truth.add_edge(0, 1, Mark.TAIL, Mark.ARROW); truth.add_edge(2, 1, Mark.TAIL, Mark.ARROW)
>>> est = PAG([0, 1, 2]); est.add_edge(0, 1, Mark.CIRCLE, Mark.ARROW); est.add_edge(0, 2)
>>> skeleton_shd(est, truth), shd(est, truth), round(skeleton_f1(est, truth), 2)
(2, 3, 0.5)
>>> arrowhead_precision_recall(est, truth)
(1.0, 1.0)
"""

from __future__ import annotations

from typing import Hashable

from whytoken.errors import InvalidGraphError
from whytoken.graphs import PAG, Mark, node_sort_key

__all__ = [
    "adjacency_precision_recall",
    "skeleton_f1",
    "skeleton_shd",
    "shd",
    "arrowhead_precision_recall",
    "mark_agreement",
]


def _check_same_nodes(estimate: PAG, reference: PAG) -> None:
    a, b = set(estimate.nodes), set(reference.nodes)
    if a != b:
        only_a = sorted(a - b, key=node_sort_key)[:10]
        only_b = sorted(b - a, key=node_sort_key)[:10]
        raise InvalidGraphError(
            f"the graphs have different nodes: only in the estimate {only_a}, only in the reference {only_b}; "
            "compare graphs over the same nodes (use PAG.subgraph to restrict one)"
        )


def _adjacent_pairs(pag: PAG) -> set[frozenset]:
    return {frozenset(e.nodes) for e in pag.edges()}


def _ratio(num: int, den: int) -> float:
    return 1.0 if den == 0 else num / den


def adjacency_precision_recall(estimate: PAG, reference: PAG) -> tuple[float, float]:
    """Precision and recall of the estimate's adjacencies against the reference's.

    Examples
    --------
    >>> from whytoken.graphs import PAG
    >>> est = PAG.complete([0, 1, 2]); ref = PAG([0, 1, 2]); ref.add_edge(0, 1)
    >>> adjacency_precision_recall(est, ref)
    (0.3333333333333333, 1.0)
    """
    _check_same_nodes(estimate, reference)
    est, ref = _adjacent_pairs(estimate), _adjacent_pairs(reference)
    hits = len(est & ref)
    return _ratio(hits, len(est)), _ratio(hits, len(ref))


def skeleton_f1(estimate: PAG, reference: PAG) -> float:
    """F1 score (harmonic mean of precision and recall) of the adjacencies.

    1.0 when both graphs have no edges.

    Examples
    --------
    >>> from whytoken.graphs import PAG
    >>> skeleton_f1(PAG.complete([0, 1]), PAG.complete([0, 1]))
    1.0
    """
    _check_same_nodes(estimate, reference)
    est, ref = _adjacent_pairs(estimate), _adjacent_pairs(reference)
    if not est and not ref:
        return 1.0
    return 2.0 * len(est & ref) / (len(est) + len(ref))


def skeleton_shd(estimate: PAG, reference: PAG) -> int:
    """Number of node pairs adjacent in exactly one of the two graphs.

    Examples
    --------
    >>> from whytoken.graphs import PAG
    >>> skeleton_shd(PAG.complete([0, 1, 2]), PAG([0, 1, 2]))
    3
    """
    _check_same_nodes(estimate, reference)
    return len(_adjacent_pairs(estimate) ^ _adjacent_pairs(reference))


def shd(estimate: PAG, reference: PAG) -> int:
    """Structural Hamming distance: pairs that differ in adjacency or in either mark.

    Each pair counts at most once, so ``skeleton_shd <= shd``.

    Examples
    --------
    >>> from whytoken.graphs import PAG, Mark
    >>> a = PAG([0, 1]); a.add_edge(0, 1, Mark.TAIL, Mark.ARROW)
    >>> b = PAG([0, 1]); b.add_edge(0, 1, Mark.CIRCLE, Mark.ARROW)
    >>> shd(a, b), shd(a, a)
    (1, 0)
    """
    distance = skeleton_shd(estimate, reference)
    for pair in _adjacent_pairs(estimate) & _adjacent_pairs(reference):
        u, v = tuple(pair)
        if estimate.mark(u, v) is not reference.mark(u, v) or estimate.mark(v, u) is not reference.mark(v, u):
            distance += 1
    return distance


def _shared_endpoints(estimate: PAG, reference: PAG) -> list[tuple[Hashable, Hashable]]:
    """(u, v) for both ends of every shared edge: the endpoint at ``v``."""
    _check_same_nodes(estimate, reference)
    ends = []
    for pair in _adjacent_pairs(estimate) & _adjacent_pairs(reference):
        u, v = tuple(pair)
        ends.extend([(u, v), (v, u)])
    return ends


def arrowhead_precision_recall(estimate: PAG, reference: PAG) -> tuple[float, float]:
    """Arrowhead precision and recall over the endpoints of edges present in both graphs.

    Precision: of the estimate's arrowheads on shared edges, the share that
    are arrowheads in the reference. Recall: of the reference's arrowheads on
    shared edges, the share the estimate also has. Restricting to shared
    edges separates orientation quality from skeleton errors.

    Examples
    --------
    >>> from whytoken.graphs import PAG, Mark
    >>> est = PAG([0, 1]); est.add_edge(0, 1, Mark.ARROW, Mark.ARROW)
    >>> ref = PAG([0, 1]); ref.add_edge(0, 1, Mark.TAIL, Mark.ARROW)
    >>> arrowhead_precision_recall(est, ref)
    (0.5, 1.0)
    """
    est_arrows = ref_arrows = both = 0
    for u, v in _shared_endpoints(estimate, reference):
        e = estimate.mark(u, v) is Mark.ARROW
        r = reference.mark(u, v) is Mark.ARROW
        est_arrows += e
        ref_arrows += r
        both += e and r
    return _ratio(both, est_arrows), _ratio(both, ref_arrows)


def mark_agreement(estimate: PAG, reference: PAG) -> float:
    """Share of endpoints on shared edges that carry the same mark in both graphs.

    Symmetric in its arguments; 1.0 when no edge is shared.

    Examples
    --------
    >>> from whytoken.graphs import PAG, Mark
    >>> a = PAG([0, 1]); a.add_edge(0, 1, Mark.CIRCLE, Mark.ARROW)
    >>> b = PAG([0, 1]); b.add_edge(0, 1, Mark.TAIL, Mark.ARROW)
    >>> mark_agreement(a, b)
    0.5
    """
    ends = _shared_endpoints(estimate, reference)
    same = sum(estimate.mark(u, v) is reference.mark(u, v) for u, v in ends)
    return _ratio(same, len(ends))
