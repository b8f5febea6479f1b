"""Stage 2 of the query, graphs: one PAG per head, its PDS-tree, and the evidence table the search reads.

For every head's :class:`~whytoken.query.evidence.HeadEvidence` a constraint-based
learner (``ordered-icd`` for causal decoders, ``icd`` for encoders) learns a PAG
over the candidate tokens and the target node; the PDS-tree rooted at the
target (:func:`whytoken.causal.pds.pds_tree`) gives each token's graph
distance. :class:`TokenEvidence` then summarises, per candidate token, what
all heads say: its nearest distance, its strongest marginal dependence on the
target (log10 p), the mean attention the predicting row puts on it, and how
many heads' trees hold it. The search (:mod:`whytoken.query.search`) orders
tokens by this table and ties groups together along the graphs' edges
(:attr:`TokenEvidence.neighbours`).

Examples
--------
>>> ev = TokenEvidence({3: 1, 7: 2}, {3: -40.0, 7: -3.0, 5: -0.5}, {3: 0.6, 7: 0.2, 5: 0.1}, {3: 2, 7: 1})
>>> ev.ranked([5, 7, 3]), ev.tier(3), ev.tier(5)
([3, 7, 5], 0, 2)
>>> ev.strength([3]) < ev.strength([5])
True
"""

from __future__ import annotations

import logging
import math
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from whytoken.graphs import PAG
from whytoken.query.evidence import HeadEvidence, LayerEvidence
from whytoken.query.records import TokenInfo
from whytoken.query.summaries import HeadResult

__all__ = ["HeadGraph", "LayerGraphs", "TokenEvidence", "learn_graphs", "token_evidence", "annotate"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class HeadGraph:
    """One head's learned graph and the PDS-tree depths of its nodes.

    Attributes
    ----------
    evidence : HeadEvidence
    pag : PAG
        Annotated with token attributes (``label``, ``kind``, ``text``, patch cell).
    depth : mapping of int -> int
        Node -> PDS distance from the target node (root: 0), within ``max_range``.
    n_tests : int
        CI tests the learner ran.
    seconds : float
        Learning wall time.
    method : str
    """

    evidence: HeadEvidence
    pag: PAG
    depth: Mapping[int, int]
    n_tests: int
    seconds: float
    method: str

    @property
    def head(self) -> int:
        return self.evidence.head

    def result(self) -> HeadResult:
        """The frozen per-head record of the explanation."""
        return HeadResult(head=self.head, pag=self.pag, n_ci_tests=self.n_tests, learn_seconds=self.seconds,
                          pds_depth=dict(sorted(self.depth.items())), method=self.method)


def annotate(pag: PAG, tokens: Mapping[int, TokenInfo], meta: Mapping[str, Any]) -> PAG:
    """A copy of ``pag`` whose nodes carry token attributes (label, kind, text, patch cell) for viewers."""
    out = pag.copy()
    out.meta.update(meta)
    for pos in out.nodes:
        tok = tokens[int(pos)]
        attrs: dict[str, Any] = {"label": tok.label, "kind": tok.kind, "text": tok.text}
        if tok.patch is not None:
            attrs["patch_row"], attrs["patch_col"] = tok.patch
        out.add_node(pos, **attrs)
    return out


@dataclass(frozen=True)
class LayerGraphs:
    """Every usable head's PAG over the layer evidence's nodes, learned once and reused for each target.

    For a target whose graph nodes are a prefix of the learned nodes in the token
    order (``target="all"``: an earlier generated token), :meth:`for_root` takes the
    induced subgraph: under a causal token order a prefix is an ancestral set, and
    the graph over an ancestral set is the induced subgraph of the graph over all
    nodes (``ordered-icd`` conditions only on earlier tokens, so the prefix's
    adjacencies are exactly what learning on the prefix alone would find; marks
    that later tokens helped orient are kept).

    Attributes
    ----------
    evidence : LayerEvidence
    pags : mapping of int -> PAG
        Head -> annotated PAG over ``evidence.nodes``.
    n_tests : mapping of int -> int
    seconds : mapping of int -> float
    method : str
    """

    evidence: LayerEvidence
    pags: Mapping[int, PAG]
    n_tests: Mapping[int, int]
    seconds: Mapping[int, float]
    method: str

    def for_root(self, root: int, query_row: int, nodes: Sequence[int] | None,
                 max_range: int | None) -> tuple[HeadGraph, ...]:
        """Per-head graphs and PDS-trees about the target node ``root`` (over ``nodes``; default all)."""
        from whytoken.causal.pds import pds_tree

        out = []
        subset = None if nodes is None else sorted(set(nodes) | {root})
        if subset is not None and len(subset) == len(self.evidence.nodes):
            subset = None
        for ev in self.evidence.for_root(root, query_row, subset):
            pag = self.pags[ev.head] if subset is None else self.pags[ev.head].subgraph(subset)
            tree = pds_tree(pag, root, max_depth=max_range)
            depth = {int(n): int(d) for n, d in tree.depth.items()}
            out.append(HeadGraph(ev, pag, depth, self.n_tests[ev.head], self.seconds[ev.head], self.method))
        return tuple(out)


def learn_graphs(evidence: LayerEvidence, tokens: Mapping[int, TokenInfo], method: str, ordered: bool,
                 max_cond_size: int | None,
                 progress: Callable[[str, int, int], None] | None = None) -> LayerGraphs:
    """Learn each usable head's PAG over the evidence's nodes (in head order).

    Each head is learned with :func:`whytoken.causal.learn_pag`. Where a CUDA device is at hand
    (torch already imported by the adapter), the nodes are every position from the first on (the
    usual case: a decoder's target sees the whole prefix) and the learner is an ICD variant, all
    heads instead go through :func:`whytoken.causal.layer.learn_layer` with its torch backend, which
    runs levels 0 and 1 of every head as one batch on the GPU (same graphs). On the CPU the per-head
    path was the faster one (demo world: 1.7 s vs 2.5 s for 12 answers; a 576-patch LLaVA layer: 2.7-3.9 s
    vs 5.6-6.4 s, loaded 2-core machine), so it is kept there.
    """
    from whytoken.causal import learn_pag

    nodes = list(evidence.nodes)
    heads = list(evidence.heads)
    pags, n_tests, seconds = {}, {}, {}
    results = _learn_as_layer(evidence, method, max_cond_size) if nodes == list(range(len(nodes))) else None
    for i, h in enumerate(heads):
        if results is not None:
            result, seconds[h] = results[i]
        else:
            start = time.perf_counter()
            result = learn_pag(evidence.tests[h], nodes, method=method, order=nodes if ordered else None,
                               max_cond_size=max_cond_size)
            seconds[h] = time.perf_counter() - start
        n_tests[h] = int(result.n_tests)
        pags[h] = annotate(result.pag, tokens, {"head": h, "method": method, "alpha": evidence.alpha,
                                               "n_samples": evidence.n_samples})
        logger.info("head %d: %d edges, %d CI tests, %.2fs", h, pags[h].number_of_edges(), n_tests[h], seconds[h])
        if progress is not None:
            progress("learn", i + 1, len(heads))
    return LayerGraphs(evidence, pags, n_tests, seconds, method)


def _learn_as_layer(evidence: LayerEvidence, method: str, max_cond_size: int | None) -> list[tuple[Any, float]] | None:
    """``learn_layer`` on the GPU over the evidence's heads, the wall time split evenly; None where it does not apply."""
    torch = sys.modules.get("torch")
    if method not in ("icd", "ordered-icd") or torch is None or not torch.cuda.is_available():
        return None
    from whytoken.causal.layer import learn_layer

    n = len(evidence.nodes)
    stack = np.stack([evidence.attention[h, :n, :n] for h in evidence.heads])
    start = time.perf_counter()
    results = learn_layer(stack, n_samples=evidence.n_samples, alpha=evidence.alpha, method=method,
                          max_cond_size=max_cond_size, backend="torch")
    share = (time.perf_counter() - start) / max(len(results), 1)
    return [(r, share) for r in results]


@dataclass(frozen=True)
class TokenEvidence:
    """What all heads say about each candidate token.

    Attributes
    ----------
    depth : mapping of int -> int
        Token -> nearest PDS distance to the target over the heads (absent: in no head's tree).
    log10_p : mapping of int -> float
        Token -> strongest (most negative) marginal log10 p-value against the target over the heads.
    attention : mapping of int -> float
        Token -> mean attention of the predicting row over the heads.
    n_heads : mapping of int -> int
        Token -> number of heads whose tree holds it.
    neighbours : mapping of int -> frozenset of int
        Token -> tokens adjacent to it in any head's PAG (the target node excluded).

    The *tier* of a token is 0 when it is adjacent to the target in some head's
    graph (distance 1), 1 when it is in some tree further away, 2 otherwise.
    """

    depth: Mapping[int, int]
    log10_p: Mapping[int, float]
    attention: Mapping[int, float]
    n_heads: Mapping[int, int]
    neighbours: Mapping[int, frozenset] = field(default_factory=dict)

    def tier(self, token: int) -> int:
        d = self.depth.get(token)
        if d is None or d <= 0:
            return 2
        return 0 if d == 1 else 1

    def supported(self, token: int) -> bool:
        """Whether some head's PDS-tree holds the token within range, or the predicting row attends to it
        more than uniformly."""
        uniform = 1.0 / max(len(self.attention), 1)
        return self.tier(token) < 2 or self.attention.get(token, 0.0) > uniform

    def key(self, token: int) -> tuple:
        """Sort key, strongest evidence first: attention of the predicting row, graph tier, dependence,
        heads, position.

        Attention leads because it ranks best where it was measured: on the demo world's validation
        split (78 answers) the first token whose removal changes the answer sits at mean rank 1.0 of
        ~43 by attention, 22.6 by graph tier then dependence, and 10.3 at random
        (``python benchmarks/query.py ranking``; benchmarks/RESULTS.md, "Ranking single tokens"); the
        graphs break ties and tie groups together.
        """
        logp = self.log10_p.get(token, 0.0)
        logp = 0.0 if logp is None or math.isnan(logp) else logp
        return (-round(self.attention.get(token, 0.0), 12), self.tier(token), logp, -self.n_heads.get(token, 0),
                token)

    def ranked(self, tokens: Iterable[int]) -> list[int]:
        """``tokens`` ordered strongest evidence first."""
        return sorted(tokens, key=self.key)

    def strength(self, tokens: Iterable[int]) -> tuple:
        """A tie-breaking key for a *set* (smaller is stronger): minus its total attention, its weakest
        member's tier and dependence."""
        tokens = list(tokens)
        if not tokens:
            return (0.0, 3, 0.0)
        keys = [self.key(t) for t in tokens]
        return (sum(k[0] for k in keys), max(k[1] for k in keys), max(k[2] for k in keys))


def token_evidence(graphs: Sequence[HeadGraph], pool: Iterable[int]) -> TokenEvidence:
    """Summarise the heads' graphs over the candidate ``pool`` (see :class:`TokenEvidence`)."""
    pool = [int(p) for p in pool]
    depth: dict[int, int] = {}
    logp: dict[int, float] = {}
    attention: dict[int, float] = {}
    n_heads: dict[int, int] = {}
    neighbours: dict[int, set] = {p: set() for p in pool}
    pool_set = set(pool)
    for g in graphs:
        for p in pool:
            d = g.depth.get(p)
            if d is not None and d > 0:
                depth[p] = min(depth.get(p, d), d)
                n_heads[p] = n_heads.get(p, 0) + 1
            value = g.evidence.log10_p.get(p)
            if value is not None:
                logp[p] = min(logp.get(p, 0.0), value)
            attention[p] = attention.get(p, 0.0) + g.evidence.attention.get(p, 0.0) / max(len(graphs), 1)
        for p in pool:
            if p in g.pag:
                neighbours[p].update(q for q in g.pag.adjacent(p) if q in pool_set)
    return TokenEvidence(depth, logp, attention, n_heads, {p: frozenset(v) for p, v in neighbours.items()})
