"""Bad inputs to the learners and CI tests: package errors that name the value, and no search that never ends."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

from whytoken.causal import DSeparationOracle, PartialCorrelationTest, learn_pag
from whytoken.causal.synthetic import peaky_attention
from whytoken.errors import InvalidAttentionError, InvalidParameterError, WhytokenError


@pytest.mark.timeout(60)
@pytest.mark.parametrize("method", ["icd", "ordered-icd", "fci", "pc"])
@pytest.mark.parametrize("kind", ["identical rows", "one-hot on the sink", "rank one"])
def test_a_degenerate_head_is_refused_quickly(method, kind):
    """Issue 13: every partial correlation is undefined, every test says dependent; the search never ended."""
    n = 40
    if kind == "identical rows":
        A = np.tile(peaky_attention(n, seed=1)[0], (n, 1))
    elif kind == "one-hot on the sink":
        A = np.zeros((n, n))
        A[:, 0] = 1.0
    else:
        u = np.random.default_rng(0).random(n)
        A = np.outer(np.ones(n), u / u.sum())
    test = PartialCorrelationTest.from_attention(A, n_samples=64)
    order = test.nodes if method == "ordered-icd" else None
    with pytest.raises(InvalidAttentionError, match=r"degenerate: \d+ of 780 pairs .* rank 1 of 40"):
        learn_pag(test, test.nodes, method=method, order=order)


@pytest.mark.timeout(60)
def test_a_few_twins_are_learned():
    """Two identical attention rows are not degenerate: the learner runs and keeps the twins adjacent."""
    A = peaky_attention(30, seed=2, causal=True)
    A[11] = A[10]
    test = PartialCorrelationTest.from_attention(A, n_samples=64)
    res = learn_pag(test, test.nodes, method="ordered-icd", order=test.nodes)
    assert res.pag.has_edge(10, 11)


@pytest.mark.parametrize("method", ["icd", "ordered-icd", "fci", "pc"])
def test_an_unknown_learner_parameter_is_named_with_the_accepted_ones(method):
    oracle = DSeparationOracle(nx.DiGraph([(0, 1), (1, 2)]))
    with pytest.raises(InvalidParameterError, match=rf"learner '{method}' has no parameter 'foo'; it accepts "
                                                    r"max_cond_size"):
        learn_pag(oracle, [0, 1, 2], method=method, order=[0, 1, 2], foo=1)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda t: t.test_batch([0], [1], [[5]]), r"conds holds position 5 outside 0\.\.3"),
        (lambda t: t.test_batch([0, 1], [1], None), r"xs, ys of one length"),
        (lambda t: t.test(0, 0), r"cannot test node 0 against itself"),
        (lambda t: t.test(0, 1, [1]), r"contains a tested node"),
        (lambda t: t.screen_order1([0], [1], np.ones((1, 3), dtype=bool)), r"candidates of shape \(m, 4\)"),
    ],
)
def test_ci_test_bad_inputs_name_the_value(call, match):
    test = PartialCorrelationTest.from_attention(peaky_attention(4, seed=0), n_samples=64)
    with pytest.raises(WhytokenError, match=match):
        call(test)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda o: o.test_batch([0], [0], [[1]]), "repeats a node"),
        (lambda o: o.test_batch([0], [1], [[7]]), r"position 7 outside 0\.\.2"),
        (lambda o: o.test("L", 0), "node 'L' is latent"),
    ],
)
def test_oracle_bad_inputs_name_the_value(call, match):
    oracle = DSeparationOracle(nx.DiGraph([("L", 0), ("L", 1), (1, 2)]), observed=[0, 1, 2])
    with pytest.raises(WhytokenError, match=match):
        call(oracle)
