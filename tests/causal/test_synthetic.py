"""Tests of the synthetic attention and linear-Gaussian generators."""

from __future__ import annotations

import itertools

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from whytoken.causal.synthetic import linear_gaussian_correlation, peaky_attention
from whytoken.errors import InvalidGraphError, InvalidParameterError, NodeNotFoundError


# ---------------------------------------------------------------- peaky_attention
@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 40),
    seed=st.integers(0, 2**31),
    temperature=st.floats(0.05, 3.0),
    causal=st.booleans(),
    sink=st.floats(0.0, 0.95),
)
def test_peaky_attention_is_row_stochastic(n, seed, temperature, causal, sink):
    A = peaky_attention(n, seed=seed, temperature=temperature, causal=causal, sink=sink)
    assert A.shape == (n, n)
    assert A.dtype == np.float64
    assert np.all(np.isfinite(A))
    assert np.all(A >= 0.0)
    np.testing.assert_allclose(A.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    assert np.all(A[:, 0] >= sink - 1e-12)


@pytest.mark.parametrize("causal", [False, True])
def test_peaky_attention_is_deterministic_by_seed(causal):
    a = peaky_attention(30, seed=7, causal=causal, sink=0.2)
    b = peaky_attention(30, seed=7, causal=causal, sink=0.2)
    c = peaky_attention(30, seed=8, causal=causal, sink=0.2)
    assert np.array_equal(a, b)
    assert not np.allclose(a, c)
    gen = peaky_attention(30, seed=np.random.default_rng(7), causal=causal, sink=0.2)
    assert np.array_equal(a, gen)


def test_peaky_attention_causal_mask_is_lower_triangular():
    A = peaky_attention(25, seed=3, causal=True)
    assert np.all(np.triu(A, k=1) == 0.0)
    assert A[0, 0] == 1.0
    # every allowed key gets some mass (the softmax never underflows at these sizes)
    assert np.all(A[np.tril_indices(25)] > 0.0)


def test_full_attention_has_no_mask():
    A = peaky_attention(25, seed=3, causal=False)
    assert np.all(A > 0.0)
    assert np.triu(A, k=1).sum() > 1.0


def test_lower_temperature_is_peakier():
    def mean_top_mass(temperature):
        return peaky_attention(100, seed=0, temperature=temperature).max(axis=1).mean()

    assert mean_top_mass(0.1) > mean_top_mass(0.25) > mean_top_mass(1.0)
    # default: each row concentrates on a few keys
    A = peaky_attention(100, seed=0)
    entropy = -(A * np.log(A)).sum(axis=1)
    assert 1.5 < np.exp(entropy).mean() < 10.0


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"n": 0}, "n must be a positive int"),
        ({"n": 2.5}, "n must be a positive int"),
        ({"n": 3, "temperature": 0.0}, "temperature must be"),
        ({"n": 3, "temperature": float("nan")}, "temperature must be"),
        ({"n": 3, "sink": 1.0}, "sink must be in [0, 1)"),
        ({"n": 3, "sink": -0.1}, "sink must be in [0, 1)"),
    ],
)
def test_peaky_attention_rejects_bad_parameters(kwargs, fragment):
    n = kwargs.pop("n")
    with pytest.raises(InvalidParameterError, match=fragment.replace("[", r"\[").replace(")", r"\)")):
        peaky_attention(n, seed=0, **kwargs)


def test_peaky_attention_rejects_bad_seed():
    with pytest.raises(InvalidParameterError, match="seed must be"):
        peaky_attention(3, seed=-1)


# ---------------------------------------------------------------- linear_gaussian_correlation
def _partial_corr(R, i, j, cond):
    idx = [i, j, *cond]
    P = np.linalg.inv(R[np.ix_(idx, idx)])
    return -P[0, 1] / np.sqrt(P[0, 0] * P[1, 1])


def _small_dag():
    #   0 -> 2 <- 1, 2 -> 3, 4 -> 3, 4 -> 1  (a collider and a fork)
    return nx.DiGraph([(0, 2), (1, 2), (2, 3), (4, 3), (4, 1)])


def test_population_correlation_matches_d_separation():
    dag = _small_dag()
    nodes = sorted(dag)
    R = linear_gaussian_correlation(dag, seed=0)
    assert R.shape == (5, 5)
    np.testing.assert_allclose(R, R.T)
    np.testing.assert_allclose(np.diag(R), 1.0)
    assert np.all(np.linalg.eigvalsh(R) > 0)
    checked = 0
    for i, j in itertools.combinations(nodes, 2):
        rest = [k for k in nodes if k not in (i, j)]
        for size in range(len(rest) + 1):
            for cond in itertools.combinations(rest, size):
                rho = _partial_corr(R, i, j, list(cond))
                if nx.is_d_separator(dag, {i}, {j}, set(cond)):
                    assert abs(rho) < 1e-10, (i, j, cond, rho)
                else:  # faithful for generic weights of magnitude >= 0.5
                    assert abs(rho) > 1e-3, (i, j, cond, rho)
                checked += 1
    assert checked == 10 * 8


def test_latent_nodes_are_marginalized_and_order_is_kept():
    dag = _small_dag()
    full = linear_gaussian_correlation(dag, seed=1)
    sub = linear_gaussian_correlation(dag, seed=1, observed=[3, 0, 2])
    np.testing.assert_allclose(sub, full[np.ix_([3, 0, 2], [3, 0, 2])])


def test_empirical_correlation_converges_and_is_seeded():
    dag = _small_dag()
    population = linear_gaussian_correlation(dag, seed=2)
    small = linear_gaussian_correlation(dag, seed=2, n_samples=50)
    large = linear_gaussian_correlation(dag, seed=2, n_samples=200_000)
    assert np.array_equal(small, linear_gaussian_correlation(dag, seed=2, n_samples=50))
    np.testing.assert_allclose(np.diag(small), 1.0)
    assert np.abs(large - population).max() < 0.02
    assert np.abs(small - population).max() > np.abs(large - population).max()


def test_linear_gaussian_errors():
    with pytest.raises(InvalidGraphError, match="directed cycle"):
        linear_gaussian_correlation(nx.DiGraph([(0, 1), (1, 0)]), seed=0)
    with pytest.raises(NodeNotFoundError, match=r"\[9\]"):
        linear_gaussian_correlation(_small_dag(), seed=0, observed=[0, 9])
    with pytest.raises(InvalidParameterError, match="n_samples"):
        linear_gaussian_correlation(_small_dag(), seed=0, n_samples=2)
    with pytest.raises(InvalidParameterError, match="weight_range"):
        linear_gaussian_correlation(_small_dag(), seed=0, weight_range=(0.0, 1.0))
