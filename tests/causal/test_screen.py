"""The level-1 screen's backends: each lists a superset of the entries that matter, so level 1 is the same."""

from __future__ import annotations

import numpy as np
import pytest

from whytoken.causal import attention_to_correlation
from whytoken.causal.evidence import level0, level1
from whytoken.causal.screen import BACKENDS, default_backend
from whytoken.causal.synthetic import peaky_attention
from tests.causal.test_evidence import brute_level1

CPU_BACKENDS = [b for b in BACKENDS if b != "torch"]


def stack_with_twins(n: int = 30) -> np.ndarray:
    """Three heads, one with a duplicated row (an undefined partial correlation) and exact ties."""
    heads = []
    for seed in range(3):
        A = peaky_attention(n, seed=seed, causal=True, sink=0.3 * (seed % 2), temperature=0.5)
        if seed == 1:
            A[9] = A[8]
        heads.append(attention_to_correlation(A))
    return np.stack(heads)


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("ordered", [False, True])
def test_every_backend_equals_triple_by_triple_testing(backend, ordered):
    if backend == "numba":
        pytest.importorskip("numba")
    R = stack_with_twins()
    adj = level0(R, n_samples=64, alpha=0.01)
    hits = level1(R, adj, n_samples=64, alpha=0.01, ordered=ordered, backend=backend)
    for h, hit in enumerate(hits):
        expected, count = brute_level1(R[h], adj[h], 64, 0.01, ordered)
        assert sorted(zip(hit.x.tolist(), hit.y.tolist(), hit.z.tolist(), hit.p_value.tolist())) == expected
        assert hit.n_tests == count


def test_backends_agree_bit_for_bit_on_a_larger_stack():
    pytest.importorskip("numba")
    R = np.stack([attention_to_correlation(peaky_attention(120, seed=s, causal=True, temperature=0.4))
                  for s in range(2)])
    adj = level0(R, n_samples=128, alpha=0.01)
    a = level1(R, adj, n_samples=128, alpha=0.01, ordered=True, backend="numba")
    b = level1(R, adj, n_samples=128, alpha=0.01, ordered=True, backend="numpy")
    for x, y in zip(a, b):
        for field in ("x", "y", "z", "p_value"):
            assert np.array_equal(getattr(x, field), getattr(y, field))
        assert x.n_tests == y.n_tests


def test_the_default_is_the_compiled_screen_where_numba_is_installed():
    pytest.importorskip("numba")
    assert default_backend() == "numba"


def test_a_strided_stack_gives_the_same_hits_and_runs_the_contiguous_compiled_loop():
    # learn_layer permutes the stack into causal order; a strided scale array once made numba compile
    # a second, unvectorised loop (4-5x slower per head): every compiled signature must be C-ordered
    pytest.importorskip("numba")
    from whytoken.causal import screen

    R = stack_with_twins(40)
    perm = np.random.default_rng(0).permutation(40)
    strided = R[:, perm][:, :, perm]
    R_c = np.ascontiguousarray(strided)
    adj = level0(R_c, n_samples=64, alpha=0.01)
    adj_strided = np.asfortranarray(adj)
    a = level1(strided, adj_strided, n_samples=64, alpha=0.01, ordered=True, backend="numba")
    b = level1(R_c, adj, n_samples=64, alpha=0.01, ordered=True, backend="numba")
    for x, y in zip(a, b):
        for field in ("x", "y", "z", "p_value"):
            assert np.array_equal(getattr(x, field), getattr(y, field))
    layouts = {arg.layout for sig in screen._kernel().signatures for arg in sig if hasattr(arg, "layout")}
    assert layouts == {"C"}
