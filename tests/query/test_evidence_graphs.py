"""Stages 1-2 of the query: attention -> CI tests and log-space dependence; graphs and the evidence table."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from tests.query import fakes
from whytoken.errors import InvalidAttentionError
from whytoken.query.evidence import build_evidence, log10_p_from_statistic, log10_p_values
from whytoken.query.graphs import TokenEvidence, learn_graphs, token_evidence


@pytest.mark.parametrize("z", [0.0, 0.5, 1.96, 4.0, 9.0])
def test_log10_p_equals_scipy_where_scipy_does_not_underflow(z):
    assert float(log10_p_from_statistic(z)) == pytest.approx(math.log10(2 * stats.norm.sf(z)), abs=1e-9)


def test_log10_p_stays_finite_where_the_p_value_underflows():
    values = log10_p_from_statistic([40.0, 60.0, 1e3])
    assert np.all(np.isfinite(values)) and values[0] > values[1] > values[2]
    assert 2 * stats.norm.sf(60.0) == 0.0  # the p-value itself is gone


def test_marginal_dependence_matches_the_ci_test():
    trace = fakes.make_trace([{3: 0.9, 0: 0.1}])
    attention = np.asarray(trace.attentions[1])
    layer = build_evidence(attention, (0,), list(range(10)), n_samples=64, alpha=0.01)
    (ev,) = layer.for_root(9, query_row=9)
    for node in (1, 3, 5):
        record = ev.ci_test.test(node, 9, ())
        assert ev.log10_p[node] == pytest.approx(float(log10_p_from_statistic(record.statistic)), abs=1e-9)
    assert ev.log10_p[3] < ev.log10_p[5]  # the target node's row attends to 3
    row = log10_p_values(layer.correlations[0], 9, 64)
    assert row[9] == 0.0 and ev.log10_p_given(3, [1, 2]) <= 0.0


def test_a_subset_of_nodes_reuses_the_tests():
    trace = fakes.make_trace([{3: 0.9, 0: 0.1}, {5: 0.9, 0: 0.1}])
    layer = build_evidence(np.asarray(trace.attentions[1]), (0, 1), list(range(10)), n_samples=64, alpha=0.01)
    full = layer.for_root(9, query_row=9)
    part = layer.for_root(6, query_row=6, nodes=[0, 1, 2, 3, 4, 5])
    assert full[0].ci_test is part[0].ci_test and part[0].nodes == (0, 1, 2, 3, 4, 5, 6)
    assert set(part[0].log10_p) == {0, 1, 2, 3, 4, 5}


def test_every_head_degenerate_is_an_error():
    flat = np.full((2, 6, 6), 1 / 6)
    with pytest.raises(InvalidAttentionError, match="head 0.*head 1"):
        build_evidence(flat, (0, 1), list(range(6)), n_samples=64, alpha=0.01)


def test_layer_graphs_for_an_earlier_root_are_induced_subgraphs():
    trace = fakes.make_trace([{3: 0.5, 7: 0.4, 0: 0.1}])
    from whytoken.query.plan import token_info as _token_info

    tokens = {int(p.index): _token_info(p) for p in trace.positions}
    layer = build_evidence(np.asarray(trace.attentions[1]), (0,), list(range(11)), n_samples=64, alpha=0.01)
    graphs = learn_graphs(layer, tokens, "ordered-icd", True, 3)
    (late,) = graphs.for_root(10, 9, None, 3)
    (early,) = graphs.for_root(6, 5, list(range(7)), 3)
    assert sorted(early.pag.nodes) == list(range(7))
    assert early.pag == graphs.pags[0].subgraph(range(7)) and late.pag == graphs.pags[0]
    assert early.depth[6] == 0 and late.depth[10] == 0


def test_token_evidence_orders_by_attention_then_graph():
    ev = TokenEvidence(depth={1: 1, 2: 3}, log10_p={1: -9.0, 2: -2.0, 3: -30.0},
                       attention={1: 0.2, 2: 0.2, 3: 0.5, 4: 0.0}, n_heads={1: 2, 2: 1})
    assert ev.ranked([4, 2, 1, 3]) == [3, 1, 2, 4]  # 3 has the most attention; 1 and 2 tie: 1 is nearer
    assert [ev.tier(p) for p in (1, 2, 3)] == [0, 1, 2]
    assert ev.supported(3) and ev.supported(1) and not ev.supported(4)  # 3: above-uniform attention


def test_token_evidence_summarises_heads():
    trace = fakes.make_trace([{3: 0.9, 0: 0.1}, {5: 0.9, 0: 0.1}])
    from whytoken.query.plan import token_info as _token_info

    tokens = {int(p.index): _token_info(p) for p in trace.positions}
    layer = build_evidence(np.asarray(trace.attentions[1]), (0, 1), list(range(10)), n_samples=64, alpha=0.01)
    graphs = learn_graphs(layer, tokens, "ordered-icd", True, 3).for_root(9, 9, None, 3)
    ev = token_evidence(graphs, range(1, 9))
    assert ev.attention[3] == pytest.approx(0.45) and ev.attention[5] == pytest.approx(0.45)
    assert ev.log10_p[3] == min(g.evidence.log10_p[3] for g in graphs)
    assert all(q in range(1, 9) for v in ev.neighbours.values() for q in v)
