"""Tests of the CI tests: the attention partial-correlation Fisher-z test and the d-separation oracle."""

from __future__ import annotations

import itertools

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from whytoken.causal import (
    BatchCITest,
    CITest,
    DSeparationOracle,
    PartialCorrelationTest,
    attention_to_correlation,
    fisher_z_pvalue,
)
from whytoken.causal.reference import random_latent_dag
from whytoken.errors import InvalidAttentionError, InvalidParameterError, NodeNotFoundError


# ---------------------------------------------------------------- helpers
def sem_samples(n_samples: int, seed: int) -> np.ndarray:
    """Samples of a linear SEM: 0 -> 2 <- 1, 2 -> 3 <- 4, 3 -> 5, with a negative effect 2 -> 3."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n_samples, 6))
    x[:, 2] += 0.8 * x[:, 0] - 0.7 * x[:, 1]
    x[:, 3] += -1.2 * x[:, 2] + 0.5 * x[:, 4]
    x[:, 5] += 0.9 * x[:, 3]
    return x


def residual_partial_correlation(x: np.ndarray, i: int, j: int, cond: list[int]) -> float:
    """Partial correlation from least-squares residuals (with intercept), the textbook definition."""
    design = np.column_stack([np.ones(len(x))] + [x[:, k] for k in cond])
    ri = x[:, i] - design @ np.linalg.lstsq(design, x[:, i], rcond=None)[0]
    rj = x[:, j] - design @ np.linalg.lstsq(design, x[:, j], rcond=None)[0]
    return float(np.corrcoef(ri, rj)[0, 1])


def random_correlation(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    b = rng.standard_normal((n, n + 3))
    c = b @ b.T
    d = 1 / np.sqrt(np.diag(c))
    return c * d[:, None] * d[None, :]


def softmax_rows(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


# ---------------------------------------------------------------- partial correlations
@pytest.mark.parametrize("i, j, cond", [(0, 1, []), (0, 1, [2]), (0, 3, [2]), (2, 5, [3]), (0, 5, [2, 3]),
                                        (1, 4, [3, 2, 5]), (0, 4, [1, 2, 3, 5])])
def test_partial_correlation_matches_regression_residuals(i, j, cond):
    x = sem_samples(3000, seed=1)
    t = PartialCorrelationTest.from_correlation(np.corrcoef(x.T), n_samples=len(x), alpha=0.01)
    assert t.partial_correlation(i, j, cond) == pytest.approx(residual_partial_correlation(x, i, j, cond), abs=1e-9)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(3, 8))
def test_closed_form_and_inverse_agree(seed, n):
    r = random_correlation(n, seed)
    t = PartialCorrelationTest(r, n_samples=100)
    for x, y, z in itertools.permutations(range(n), 3):
        assert t.partial_correlation(x, y, [z], method="recursive") == pytest.approx(
            t.partial_correlation(x, y, [z], method="inverse"), abs=1e-9)
    for x, y in itertools.combinations(range(n), 2):
        rest = [k for k in range(n) if k not in (x, y)]
        p = np.linalg.inv(r[np.ix_([x, y] + rest, [x, y] + rest)])
        assert t.partial_correlation(x, y, rest) == pytest.approx(-p[0, 1] / np.sqrt(p[0, 0] * p[1, 1]), abs=1e-9)


def test_negative_partial_correlation_is_dependence():
    x = sem_samples(2000, seed=2)
    t = PartialCorrelationTest.from_correlation(np.corrcoef(x.T), n_samples=len(x), alpha=0.01)
    assert t.partial_correlation(2, 3, [4]) < -0.5  # 2 -> 3 with weight -1.2
    res = t.test(2, 3, [4])
    assert not res.independent and res.p_value < 1e-10 and res.statistic < 0
    # flipping the sign of a variable flips r but not the decision or the p-value
    x_flipped = x.copy()
    x_flipped[:, 3] *= -1
    t2 = PartialCorrelationTest.from_correlation(np.corrcoef(x_flipped.T), n_samples=len(x))
    res2 = t2.test(2, 3, [4])
    assert res2.statistic == pytest.approx(-res.statistic) and res2.p_value == pytest.approx(res.p_value)
    # and the true independences are found: 0 _||_ 1, 0 _||_ 5 | 3
    assert t.test(0, 1).independent and t.test(0, 5, [3]).independent


@pytest.mark.parametrize("r, n, k", [(0.3, 50, 0), (-0.3, 50, 2), (0.05, 1000, 5), (-0.9, 10, 1), (0.0, 5, 1)])
def test_p_values_match_a_direct_fisher_z_computation(r, n, k):
    z = 0.5 * np.log((1 + r) / (1 - r)) * np.sqrt(n - k - 3)
    p = 2 * stats.norm.sf(abs(z))
    stat, pv = fisher_z_pvalue(r, n, k)
    assert float(stat) == pytest.approx(z) and float(pv) == pytest.approx(p, rel=1e-9, abs=1e-300)


def test_decision_is_p_greater_than_alpha():
    r = np.array([[1.0, 0.2], [0.2, 1.0]])
    p = float(fisher_z_pvalue(0.2, 100, 0)[1])
    assert PartialCorrelationTest(r, 100, alpha=p * 0.999).test(0, 1).independent
    assert not PartialCorrelationTest(r, 100, alpha=p * 1.001).test(0, 1).independent


def test_batch_equals_single_tests_and_counts_each_triple():
    r = random_correlation(7, seed=3)
    t = PartialCorrelationTest(r, n_samples=60, alpha=0.05)
    assert isinstance(t, CITest) and isinstance(t, BatchCITest)
    triples = [(x, y, z) for x, y, z in itertools.permutations(range(7), 3) if x < y]
    xs, ys, zs = (np.array(v) for v in zip(*triples))
    stat, p, indep = t.test_batch(xs, ys, zs[:, None])
    assert t.n_tests == len(triples)
    for k, (x, y, z) in enumerate(triples):
        single = t.test(x, y, [z])
        assert (single.statistic, single.p_value, single.independent) == pytest.approx((stat[k], p[k], indep[k]))
    assert t.n_tests == 2 * len(triples)
    pairs = list(itertools.combinations(range(7), 2))
    _, p0, _ = t.test_batch(*map(np.array, zip(*pairs)))
    assert p0 == pytest.approx([t.test(x, y).p_value for x, y in pairs])
    # order 3 via stacked solves
    quads = [(0, 1, (2, 3, 4)), (5, 6, (0, 1, 2)), (2, 4, (6, 5, 1))]
    _, p3, _ = t.test_batch([q[0] for q in quads], [q[1] for q in quads], [q[2] for q in quads])
    assert p3 == pytest.approx([t.test(x, y, z).p_value for x, y, z in quads])


def test_node_labels_and_cond_order():
    r = random_correlation(4, seed=4)
    t = PartialCorrelationTest(r, n_samples=50, nodes=["a", "b", "c", "d"])
    res = t.test("a", "b", ["d", "c"])
    assert res.cond == ("c", "d") and t.nodes == ["a", "b", "c", "d"]
    assert t.index_of(["d", "a"]).tolist() == [3, 0]
    assert t.test("b", "a", ["c", "d"]).p_value == pytest.approx(res.p_value)


def test_degenerate_conditioning_reports_dependence():
    # rows 0 and 1 identical: given 1, node 0 has no residual variance
    a = np.array([[0.7, 0.3, 0.0], [0.7, 0.3, 0.0], [0.2, 0.3, 0.5]])
    t = PartialCorrelationTest.from_attention(a, n_samples=100)
    assert np.isnan(t.partial_correlation(0, 2, [1]))
    res = t.test(0, 2, [1])
    assert not res.independent and res.p_value == 0.0 and res.statistic == np.inf
    res3 = t.test_batch([0], [2], [[1]])
    assert not res3[2][0]


# ---------------------------------------------------------------- attention -> correlation
def test_attention_correlation_is_normalised_gram_matrix():
    rng = np.random.default_rng(5)
    a = softmax_rows(rng.standard_normal((12, 12)) * 4)
    a[np.triu_indices(12, 1)] = 0
    a /= a.sum(axis=1, keepdims=True)  # causally masked
    r = attention_to_correlation(a)
    c = a @ a.T
    expected = c / np.sqrt(np.outer(np.diag(c), np.diag(c)))
    assert r == pytest.approx(expected)
    assert np.allclose(r, r.T) and np.allclose(np.diag(r), 1) and r.min() >= 0 and r.max() <= 1
    t = PartialCorrelationTest.from_attention(a, n_samples=128, alpha=1e-5)
    assert np.array_equal(t.correlation, r) and not t.correlation.flags.writeable
    assert (t.n_samples, t.alpha) == (128, 1e-5)


def test_row_sums_within_tolerance_are_accepted():
    a = np.full((3, 3), 1 / 3)
    a[0] += 2e-4
    attention_to_correlation(a)


# ---------------------------------------------------------------- errors (one pytest.raises per class)
@pytest.mark.parametrize(
    "matrix, message",
    [
        (np.ones((2, 3)) / 3, r"square n x n .* shape \(2, 3\)"),
        (np.array([[0.5, np.nan], [0.5, 0.5]]), r"non-finite .* row 0, column 1: nan"),
        (np.array([[1.2, -0.2], [0.5, 0.5]]), r"negative entries .* row 0, column 1: -0.2"),
        (np.array([[0.5, 0.5], [0.5, 0.6]]), r"max \|row sum - 1\| = 0.1 at row 1"),
        (np.array([[0.5, 0.5], [0.0, 0.0]]), r"row 1 is all zeros"),
    ],
)
def test_invalid_attention_errors(matrix, message):
    with pytest.raises(InvalidAttentionError, match=message):
        PartialCorrelationTest.from_attention(matrix, n_samples=50)


@pytest.mark.parametrize(
    "matrix, message",
    [
        (np.array([[1.0, 0.3], [0.2, 1.0]]), r"not symmetric: \|R\[0,1\] - R\[1,0\]\| = 0.1"),
        (np.array([[2.0, 0.3], [0.3, 1.0]]), r"diagonal must be 1, got 2 at \(0, 0\)"),
        (np.array([[1.0, 1.5], [1.5, 1.0]]), r"outside \[-1, 1\]"),
        (np.array([[1.0, np.inf], [np.inf, 1.0]]), r"non-finite"),
    ],
)
def test_invalid_correlation_errors(matrix, message):
    with pytest.raises(InvalidAttentionError, match=message):
        PartialCorrelationTest.from_correlation(matrix, n_samples=50)


def test_invalid_parameter_errors():
    r = np.eye(3)
    with pytest.raises(InvalidParameterError, match=r"alpha=1.5 is outside \(0, 1\)"):
        PartialCorrelationTest(r, n_samples=50, alpha=1.5)
    with pytest.raises(InvalidParameterError, match=r"alpha=0 is outside"):
        PartialCorrelationTest.from_attention(np.eye(3), n_samples=50, alpha=0)
    with pytest.raises(InvalidParameterError, match=r"n_samples=3 is too small"):
        PartialCorrelationTest(r, n_samples=3)
    with pytest.raises(InvalidParameterError, match=r"n_samples=50.0 is not an integer"):
        PartialCorrelationTest(r, n_samples=50.0)
    small = PartialCorrelationTest(np.eye(6), n_samples=6)
    small.test(0, 1, [2, 3])  # N - |Z| - 3 = 1 > 0: fine
    with pytest.raises(InvalidParameterError, match=r"size 3 is too large for n_samples=6.*largest usable \|Z\| is 2"):
        small.test(0, 1, [2, 3, 4])
    t = PartialCorrelationTest(r, n_samples=50)
    with pytest.raises(InvalidParameterError, match="against itself"):
        t.test(1, 1)
    with pytest.raises(InvalidParameterError, match="contains a tested node"):
        t.test(0, 1, [1])
    with pytest.raises(InvalidParameterError, match=r"position 7 outside 0..2"):
        t.test_batch([0], [7])
    with pytest.raises(InvalidParameterError, match="3 entries .* 2 x 2|2 x 2"):
        PartialCorrelationTest(np.eye(2), n_samples=50, nodes=["a", "b", "c"])


def test_unknown_node_errors():
    t = PartialCorrelationTest(np.eye(3), n_samples=50)
    with pytest.raises(NodeNotFoundError, match=r"node 'q' is not among the test's 3 nodes"):
        t.test(0, "q")


# ---------------------------------------------------------------- d-separation oracle
def test_oracle_agrees_with_networkx_d_separation():
    rng = np.random.default_rng(0)
    for seed in range(15):
        dag, _ = random_latent_dag(10, seed=seed, avg_degree=2.5)
        oracle = DSeparationOracle(dag)
        nodes = list(dag.nodes)
        for _ in range(100):
            i, j = rng.choice(len(nodes), 2, replace=False)
            x, y = nodes[i], nodes[j]
            rest = [v for v in nodes if v not in (x, y)]
            cond = [rest[k] for k in rng.choice(len(rest), rng.integers(0, 5), replace=False)]
            res = oracle.test(x, y, cond)
            expected = nx.is_d_separator(dag, {x}, {y}, set(cond))
            assert res.independent is expected
            assert (res.p_value, res.statistic) == ((1.0, 0.0) if expected else (0.0, np.inf))
        assert oracle.n_tests == 100


@pytest.mark.parametrize("compiled", [True, False])
def test_oracle_batches_agree_with_networkx_on_both_paths(compiled, monkeypatch):
    # DAGs of <= 63 nodes take the compiled per-triple search, larger ones the cached matrix search
    from whytoken.causal import oracle as oracle_module

    if compiled:
        pytest.importorskip("numba")
    else:
        monkeypatch.setattr(oracle_module, "_BITMASK_NODES", 0)
    rng = np.random.default_rng(1)
    for seed in range(6):
        dag, observed = random_latent_dag(16, n_latent=4, seed=seed, avg_degree=3)
        assert len(dag) > len(observed)
        oracle = DSeparationOracle(dag, observed)
        assert (oracle._bitmasks() is not None) is compiled
        for k in (0, 1, 3, 6):
            xs, ys, zs = [], [], []
            for _ in range(60):
                pick = rng.choice(len(observed), k + 2, replace=False)
                xs.append(pick[0]), ys.append(pick[1]), zs.append(pick[2:])
            _, p, indep = oracle.test_batch(xs, ys, np.array(zs, dtype=int).reshape(60, k))
            for x, y, z, got in zip(xs, ys, zs, indep.tolist()):
                assert got is nx.is_d_separator(dag, {observed[x]}, {observed[y]}, {observed[c] for c in z})
            assert np.array_equal(p, indep.astype(float))


def test_oracle_hides_latent_nodes():
    dag = nx.DiGraph([("L", "a"), ("L", "b"), ("a", "c")])
    oracle = DSeparationOracle(dag, observed=["a", "b", "c"])
    assert oracle.nodes == ["a", "b", "c"] and oracle.latent == ["L"]
    assert not oracle.test("a", "b").independent
    with pytest.raises(NodeNotFoundError, match="node 'L' is latent"):
        oracle.test("a", "b", ["L"])
    with pytest.raises(NodeNotFoundError, match="node 'zz' is not in the DAG"):
        oracle.test("a", "zz")
    with pytest.raises(NodeNotFoundError, match=r"observed node\(s\) \['q'\] are not in the DAG"):
        DSeparationOracle(dag, observed=["a", "q"])
    with pytest.raises(InvalidParameterError, match="directed cycle"):
        DSeparationOracle(nx.DiGraph([(0, 1), (1, 0)]))
    assert oracle.n_tests == 1
