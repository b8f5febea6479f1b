"""Batched level-0/1 evidence: the same decisions and p-values as the CI test asked one triple at a time."""

from __future__ import annotations

import numpy as np
import pytest

from whytoken.causal import PartialCorrelationTest, attention_to_correlation, learn_pag
from whytoken.causal.evidence import level0, level1
from whytoken.causal.synthetic import peaky_attention
from whytoken.errors import InvalidParameterError


def brute_level1(R: np.ndarray, adj: np.ndarray, n_samples: int, alpha: float, ordered: bool):
    """Every candidate of level 1 through test_batch; the best independent ones (ties within 1e-9)."""
    test = PartialCorrelationTest(R, n_samples=n_samples, alpha=alpha)
    n = len(R)
    found, count = [], 0
    for x in range(n):
        for y in range(x + 1, n):
            if not adj[x, y]:
                continue
            zs = [z for z in range(n) if z not in (x, y) and (adj[x, z] or adj[y, z]) and (not ordered or z < y)]
            count += len(zs)
            if not zs:
                continue
            _, p, ind = test.test_batch([x] * len(zs), [y] * len(zs), [[z] for z in zs])
            if ind.any():
                best = p.max()
                found += [(x, y, z, q) for z, q, i in zip(zs, p, ind) if i and q >= best * (1 - 1e-9)]
    return sorted(found), count


def heads(seed: int, causal: bool, n: int = 36) -> np.ndarray:
    return attention_to_correlation(peaky_attention(n, seed=seed, causal=causal, sink=0.3 * (seed % 2),
                                                    temperature=0.5))


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("ordered", [False, True])
def test_level1_equals_triple_by_triple_testing(seed, ordered):
    R = heads(seed, ordered)
    adj = level0(R, n_samples=64, alpha=0.01)
    xs, ys = np.triu_indices(len(R), 1)
    _, _, ind = PartialCorrelationTest(R, n_samples=64, alpha=0.01).test_batch(xs, ys)
    assert np.array_equal(adj[0][xs, ys], ~ind)
    hit = level1(R, adj, n_samples=64, alpha=0.01, ordered=ordered)[0]
    expected, count = brute_level1(R, adj[0], 64, 0.01, ordered)
    assert sorted(zip(hit.x.tolist(), hit.y.tolist(), hit.z.tolist(), hit.p_value.tolist())) == expected
    assert hit.n_tests == count


def test_level1_stack_equals_heads_one_by_one():
    stack = np.stack([heads(s, True) for s in range(3)])
    adj = level0(stack, n_samples=32, alpha=0.05)
    together = level1(stack, adj, n_samples=32, alpha=0.05, ordered=True)
    for h in range(3):
        alone = level1(stack[h], adj[h], n_samples=32, alpha=0.05, ordered=True)[0]
        for field in ("x", "y", "z", "p_value"):
            assert np.array_equal(getattr(together[h], field), getattr(alone, field))


def test_twins_and_ties_are_handled_exactly():
    """Duplicated rows make undefined partial correlations (twins) and exact p-value ties."""
    A = peaky_attention(20, seed=3, causal=True, temperature=0.5)
    A[7] = A[6]  # a twin pair
    A[12] = A[11]
    R = attention_to_correlation(A)
    adj = level0(R, n_samples=64, alpha=0.01)
    hit = level1(R, adj, n_samples=64, alpha=0.01, ordered=True)[0]
    expected, _ = brute_level1(R, adj[0], 64, 0.01, True)
    assert sorted(zip(hit.x.tolist(), hit.y.tolist(), hit.z.tolist(), hit.p_value.tolist())) == expected


def test_torch_backend_on_cpu_gives_the_numpy_result():
    pytest.importorskip("torch")
    R = np.stack([heads(s, True) for s in range(2)])
    adj = level0(R, n_samples=64, alpha=0.01)
    a = level1(R, adj, n_samples=64, alpha=0.01, ordered=True)
    b = level1(R, adj, n_samples=64, alpha=0.01, ordered=True, backend="torch", device="cpu")
    for x, y in zip(a, b):
        for field in ("x", "y", "z", "p_value"):
            assert np.array_equal(getattr(x, field), getattr(y, field))
        assert x.n_tests == y.n_tests


def test_torch_backend_on_cuda_gives_the_numpy_result():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device on this machine")
    R = np.stack([heads(s, True, n=120) for s in range(4)])
    adj = level0(R, n_samples=64, alpha=0.01)
    a = level1(R, adj, n_samples=64, alpha=0.01, ordered=True)
    b = level1(R, adj, n_samples=64, alpha=0.01, ordered=True, backend="torch", device="cuda")
    for x, y in zip(a, b):
        for field in ("x", "y", "z", "p_value"):
            assert np.array_equal(getattr(x, field), getattr(y, field))


def test_fast_path_and_listed_triples_learn_the_same_graph():
    """ICD through the correlation fast path equals ICD asking a plain CI test one triple at a time."""

    class Plain:
        def __init__(self, inner):
            self.inner, self.n_tests = inner, 0

        @property
        def nodes(self):
            return self.inner.nodes

        def test(self, x, y, cond=()):
            self.n_tests += 1
            return self.inner.test(x, y, cond)

    R = heads(5, True, n=24)
    fast = PartialCorrelationTest(R, n_samples=64, alpha=0.01)
    slow = Plain(PartialCorrelationTest(R, n_samples=64, alpha=0.01))
    for method in ("icd", "ordered-icd"):
        order = list(range(24)) if method == "ordered-icd" else None
        a = learn_pag(fast, fast.nodes, method=method, order=order, max_cond_size=3)
        b = learn_pag(slow, fast.nodes, method=method, order=order, max_cond_size=3)
        assert a.pag == b.pag
        assert dict(a.sepsets) == dict(b.sepsets)
        assert a.n_tests == b.n_tests


def test_bad_arguments_name_the_value():
    R = heads(0, False, n=6)
    with pytest.raises(InvalidParameterError, match="backend='jax'"):
        level1(R, level0(R, n_samples=64, alpha=0.01), n_samples=64, alpha=0.01, backend="jax")
    with pytest.raises(InvalidParameterError, match=r"adjacency has shape \(1, 5, 5\)"):
        level1(R, np.ones((1, 5, 5), dtype=bool), n_samples=64, alpha=0.01)
    with pytest.raises(InvalidParameterError, match=r"shape \(heads, n, n\)"):
        level0(np.ones((2, 3)), n_samples=64, alpha=0.01)
