"""learn_layer: a whole layer at once equals learn_pag head by head, in every mode."""

from __future__ import annotations

import numpy as np
import pytest

from whytoken.causal import PartialCorrelationTest, attention_to_correlation, learn_pag
from whytoken.causal.layer import learn_layer
from whytoken.causal.synthetic import peaky_attention
from whytoken.errors import InvalidAttentionError, InvalidOrderError, InvalidParameterError


def layer(n: int = 30, heads: int = 4, causal: bool = True) -> np.ndarray:
    return np.stack([peaky_attention(n, seed=s, causal=causal, sink=0.2 * (s % 2), temperature=0.4)
                     for s in range(heads)])


def one_by_one(att, method, nodes, order, **kw):
    out = []
    for a in att:
        test = PartialCorrelationTest.from_correlation(attention_to_correlation(a), n_samples=64, alpha=0.01,
                                                       nodes=nodes)
        out.append(learn_pag(test, nodes, method=method, order=order, **kw))
    return out


def same(a, b) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x.pag == y.pag
        assert dict(x.sepsets) == dict(y.sepsets)
        assert x.n_tests == y.n_tests


@pytest.mark.parametrize("method", ["ordered-icd", "icd"])
def test_layer_equals_learn_pag_per_head(method):
    att = layer(causal=method == "ordered-icd")
    nodes = list(range(att.shape[1]))
    expected = one_by_one(att, method, nodes, nodes if method == "ordered-icd" else None, max_cond_size=3)
    got = learn_layer(att, n_samples=64, method=method, max_cond_size=3)
    same(got, expected)
    assert [r.params["head"] for r in got] == list(range(att.shape[0]))


def test_layer_with_labels_and_a_shuffled_order():
    """Node names that do not sort like the matrix, and a causal order that is not the matrix order."""
    att = layer(n=20, heads=2)
    names = [f"t{(7 * i) % 20:02d}" for i in range(20)]
    order = names[::-1][10:] + names[::-1][:10]
    expected = one_by_one(att, "ordered-icd", names, order, max_cond_size=2)
    same(learn_layer(att, n_samples=64, nodes=names, order=order, max_cond_size=2), expected)


def test_layer_in_two_processes_and_with_torch_on_cpu():
    att = layer(n=24, heads=3)
    reference = learn_layer(att, n_samples=64, max_cond_size=3)
    same(learn_layer(att, n_samples=64, max_cond_size=3, n_jobs=2), reference)
    torch = pytest.importorskip("torch")
    same(learn_layer(torch.tensor(att), n_samples=64, max_cond_size=3, backend="torch"), reference)


def test_layer_on_cuda():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device on this machine")
    att = layer(n=64, heads=4)
    same(learn_layer(torch.tensor(att, device="cuda"), n_samples=64, max_cond_size=3),
         learn_layer(att, n_samples=64, max_cond_size=3))


def test_layer_errors_name_the_problem():
    att = layer(n=8, heads=2)
    with pytest.raises(InvalidAttentionError, match=r"shape \(heads, n, n\), got \(8, 8\)"):
        learn_layer(att[0], n_samples=64)
    bad = att.copy()
    bad[1] = 1.0 / 8  # every row the same
    with pytest.raises(InvalidAttentionError, match="head 1: the correlation is degenerate"):
        learn_layer(bad, n_samples=64)
    with pytest.raises(InvalidParameterError, match="n_jobs must be"):
        learn_layer(att, n_samples=64, n_jobs=0)
    with pytest.raises(InvalidParameterError, match="method='fci'"):
        learn_layer(att, n_samples=64, method="fci")
    with pytest.raises(InvalidParameterError, match="has no parameter 'foo'"):
        learn_layer(att, n_samples=64, foo=1)
    with pytest.raises(InvalidOrderError):
        learn_layer(att, n_samples=64, order=[0, 1])
