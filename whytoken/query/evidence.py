"""Stage 1 of the query, evidence: one head's attention becomes a conditional-independence test.

A head's attention matrix ``A`` (queries x keys) is read as the structural map
of a linear-Gaussian model over the tokens: ``C = A A^T`` and the correlation
``R = D^-1/2 C D^-1/2`` (:func:`whytoken.causal.attention_to_correlation`).
Fisher-z tests on partial correlations of ``R`` with ``N`` effective samples
are the CI tests of the structure learner
(:class:`whytoken.causal.PartialCorrelationTest`).

:func:`build_evidence` does this for every selected head of one layer and also
measures each candidate token's marginal dependence on the target node as a
log10 p-value (:func:`log10_p_values`), which stays finite where the p-value
itself underflows to 0 (strong attention gives ``|z|`` of 40 and more).

Examples
--------
>>> import numpy as np
>>> A = np.array([[[1, 0, 0], [.5, .5, 0], [.1, .8, .1]]], dtype=float)
>>> layer = build_evidence(A, heads=(0,), nodes=[0, 1, 2], n_samples=64, alpha=0.01)
>>> (ev,) = layer.for_root(2, query_row=2)
>>> ev.head, ev.root, sorted(ev.log10_p)
(0, 2, [0, 1])
>>> bool(ev.log10_p[1] < ev.log10_p[0])   # token 1 is the one the target attends to
True
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from whytoken.errors import InvalidAttentionError, WhytokenError

__all__ = ["HeadEvidence", "LayerEvidence", "build_evidence", "log10_p_values", "log10_p_from_statistic"]

logger = logging.getLogger(__name__)

_LOG10_2 = math.log10(2.0)
_LN10 = math.log(10.0)


def log10_p_from_statistic(statistic: Any) -> np.ndarray:
    """log10 of the two-sided normal p-value ``2 (1 - Phi(|z|))`` for Fisher-z statistic(s), without underflow.

    Examples
    --------
    >>> float(log10_p_from_statistic(0.0)), round(float(log10_p_from_statistic(50.0)), 1)
    (0.0, -544.7)
    """
    from scipy.special import log_ndtr

    z = np.abs(np.asarray(statistic, dtype=np.float64))
    out = _LOG10_2 + log_ndtr(-z) / _LN10
    return np.minimum(out, 0.0)


def log10_p_values(correlation: np.ndarray, root_index: int, n_samples: int) -> np.ndarray:
    """log10 p-values of the marginal tests "node independent of the root" for every row of ``correlation``.

    The root's own entry is 0 (p = 1); undefined correlations count as independent (0).
    """
    r = np.clip(np.asarray(correlation[root_index], dtype=np.float64), -1 + 1e-15, 1 - 1e-15)
    z = np.arctanh(r) * math.sqrt(max(n_samples - 3, 1))
    z = np.where(np.isfinite(z), z, 0.0)
    out = log10_p_from_statistic(z)
    out[root_index] = 0.0
    return out


@dataclass(frozen=True)
class HeadEvidence:
    """One head's CI test over the query's nodes, and each node's marginal dependence on the target.

    Attributes
    ----------
    head : int
    nodes : tuple of int
        The graph's nodes (sequence positions), the target node included.
    root : int
        The node standing for the target.
    ci_test : PartialCorrelationTest
        Over ``nodes``.
    n_samples : int
    alpha : float
    log10_p : mapping of int -> float
        Node -> log10 p-value of its marginal test against ``root`` (root excluded).
    attention : mapping of int -> float
        Node -> the attention the predicting row puts on it.
    """

    head: int
    nodes: tuple[int, ...]
    root: int
    ci_test: Any
    n_samples: int
    alpha: float
    log10_p: Mapping[int, float]
    attention: Mapping[int, float]

    def log10_p_given(self, node: int, cond: Sequence[int]) -> float:
        """log10 p-value of "node independent of the target given ``cond``" (finite where p underflows)."""
        before = self.ci_test.n_tests
        result = self.ci_test.test(node, self.root, tuple(cond))
        self.ci_test.n_tests = before  # the learner's count stays the learner's
        if not math.isfinite(result.statistic):
            return float("-inf") if result.p_value == 0 else math.log10(max(result.p_value, 1e-300))
        return float(log10_p_from_statistic(result.statistic))


@dataclass(frozen=True)
class LayerEvidence:
    """The CI tests of every usable head of one layer over a fixed node set, reusable for several targets.

    Attributes
    ----------
    heads : tuple of int
        The usable heads (degenerate ones are left out, see ``skipped``).
    nodes : tuple of int
        Graph nodes (positions), sorted.
    correlations : mapping of int -> ndarray
        Head -> correlation block over ``nodes``.
    tests : mapping of int -> PartialCorrelationTest
        Head -> CI test over ``nodes``.
    attention : ndarray, shape (heads, n, n)
        The layer's attention (for the predicting rows).
    n_samples : int
    alpha : float
    skipped : mapping of int -> str
        Head -> why it gives no usable test.
    """

    heads: tuple[int, ...]
    nodes: tuple[int, ...]
    correlations: Mapping[int, np.ndarray]
    tests: Mapping[int, Any]
    attention: np.ndarray
    n_samples: int
    alpha: float
    skipped: Mapping[int, str]

    def for_root(self, root: int, query_row: int, nodes: Sequence[int] | None = None) -> tuple[HeadEvidence, ...]:
        """Per-head evidence about the target node ``root`` over ``nodes`` (default: all, a subset otherwise)."""
        index = {n: i for i, n in enumerate(self.nodes)}
        keep = [n for n in (self.nodes if nodes is None else sorted(set(nodes) | {root})) if n != root]
        out = []
        for h in self.heads:
            logp = log10_p_values(self.correlations[h], index[root], self.n_samples)
            row = self.attention[h, query_row]
            out.append(HeadEvidence(
                head=h, nodes=tuple(sorted(keep + [root])), root=int(root), ci_test=self.tests[h],
                n_samples=self.n_samples, alpha=self.alpha, log10_p={n: float(logp[index[n]]) for n in keep},
                attention={n: float(row[n]) for n in keep if n < row.shape[0]}))
        return tuple(out)


def build_evidence(attention: np.ndarray, heads: Sequence[int], nodes: Sequence[int], n_samples: int,
                   alpha: float, last: int | None = None) -> LayerEvidence:
    """The CI tests of every selected head of one layer over ``nodes``.

    Parameters
    ----------
    attention : ndarray, shape (heads, n, n)
        One layer's attention.
    heads : sequence of int
    nodes : sequence of int
        Graph nodes (positions), the target nodes among them.
    n_samples : int
        Effective sample size N.
    alpha : float
    last : int, optional
        The last position whose attention row counts in the correlation (default ``max(nodes)``).

    Raises
    ------
    InvalidAttentionError
        If every selected head is degenerate (the message says why for each).
    """
    from whytoken.causal import PartialCorrelationTest, attention_to_correlation

    nodes = sorted({int(n) for n in nodes})
    last = max(nodes) if last is None else int(last)
    correlations, tests, skipped = {}, {}, {}
    for h in heads:
        try:
            # R over *all* positions up to ``last`` (each token's whole attention row counts), tested on the
            # block of the graph's nodes, whose names are their positions.
            R = attention_to_correlation(attention[h, : last + 1, : last + 1])
            block = R[np.ix_(nodes, nodes)]
            test = PartialCorrelationTest.from_correlation(block, n_samples=n_samples, alpha=alpha, nodes=nodes)
            test.check_learnable()  # a degenerate head (e.g. every row equal) is left out, not learned forever
            tests[h] = test
            correlations[h] = block
        except WhytokenError as err:
            skipped[h] = str(err)
            logger.warning("skipping head %d: %s", h, err)
    if not tests:
        raise InvalidAttentionError("no selected head gives a usable CI test: "
                                    + "; ".join(f"head {h}: {why}" for h, why in skipped.items())
                                    + "; pick other heads or another layer")
    usable = tuple(int(h) for h in heads if h in tests)
    return LayerEvidence(usable, tuple(nodes), correlations, tests, np.asarray(attention), int(n_samples),
                         float(alpha), skipped)
