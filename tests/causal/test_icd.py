"""Tests of the icd and ordered-icd learners: registry, contract, order independence and statistical use.

Exactness against the true PAG with a perfect oracle lives in ``test_oracle.py``;
here the learners run mostly on the attention partial-correlation test, where
order independence is not automatic (the learner must not let node order pick
separating sets or settle orientation conflicts).
"""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from whytoken.causal import (
    ICD,
    DSeparationOracle,
    LearnResult,
    OrderedICD,
    PartialCorrelationTest,
    attention_to_correlation,
    get_learner,
    learn_pag,
    list_learners,
    mag_from_dag,
    true_pag,
)
from whytoken.causal.base import CIResult
from whytoken.causal.synthetic import linear_gaussian_correlation, peaky_attention
from whytoken.errors import InvalidOrderError, InvalidParameterError, NodeNotFoundError, UnknownLearnerError
from whytoken.graphs import PAG, Mark


class SingleTestsOnly:
    """Wraps a CI test and hides ``test_batch``, so learners take their one-test-at-a-time path."""

    def __init__(self, inner):
        self.inner = inner
        self.n_tests = 0

    @property
    def nodes(self):
        return self.inner.nodes

    def test(self, x, y, cond=()) -> CIResult:
        self.n_tests += 1
        return self.inner.test(x, y, cond)


def attention_test(n: int, seed: int, causal: bool, alpha: float = 1e-2, temperature: float = 0.25):
    a = peaky_attention(n, seed=seed, temperature=temperature, causal=causal)
    return PartialCorrelationTest.from_attention(a, n_samples=128, alpha=alpha)


def relabelled(test: PartialCorrelationTest, perm: np.ndarray, names: list) -> PartialCorrelationTest:
    """The same test with node perm[k] renamed names[k] and stored at row k."""
    r = test.correlation[np.ix_(perm, perm)]
    return PartialCorrelationTest(r, n_samples=test.n_samples, alpha=test.alpha, nodes=names)


# ---------------------------------------------------------------- registry and contract
def test_registry():
    assert {"icd", "ordered-icd"} <= set(list_learners())
    assert isinstance(get_learner("icd"), ICD) and isinstance(get_learner("ordered-icd"), OrderedICD)
    assert OrderedICD.uses_order and not ICD.uses_order
    with pytest.raises(UnknownLearnerError, match="unknown learner 'icdd'; known learners: .*icd, ordered-icd"):
        get_learner("icdd")


def test_learn_result_contract():
    test = attention_test(30, seed=1, causal=True)
    res = learn_pag(test, list(range(30)), method="icd")
    assert isinstance(res, LearnResult) and res.method == "icd"
    assert res.params["alpha"] == 1e-2 and res.params["max_cond_size"] is None
    assert res.n_tests == test.n_tests >= 30 * 29 // 2
    assert len(res.level_times) >= 2 and res.seconds == pytest.approx(sum(res.level_times))
    assert res.pag.nodes == list(range(30))
    # every removed pair has a separating set that the test finds independent, and only those
    n_pairs = 30 * 29 // 2
    assert len(res.sepsets) == n_pairs - res.pag.number_of_edges()
    for pair, sep in res.sepsets.items():
        x, y = sorted(pair)
        assert not res.pag.has_edge(x, y)
        assert test.test(x, y, sep).independent
    assert dict(res.sepsets) == {k: res.sepsets[k] for k in res.sepsets}


def test_learners_are_pure():
    learner = ICD(max_cond_size=2)
    test = attention_test(25, seed=2, causal=False)
    a = learner.learn(test, list(range(25)))
    b = learner.learn(test, list(range(25)))
    assert a.pag == b.pag and a.n_tests == b.n_tests and learner.get_params() == {
        "max_cond_size": 2, "selection_bias": False, "tail_completeness": True}
    assert max(len(s) for s in a.sepsets.values()) <= 2


def test_batched_and_single_test_paths_agree():
    for causal in (False, True):
        test = attention_test(40, seed=3, causal=causal)
        for method, order in (("icd", None), ("ordered-icd", list(range(40)))):
            batched = learn_pag(test, list(range(40)), method=method, order=order)
            single_test = SingleTestsOnly(attention_test(40, seed=3, causal=causal))
            single = learn_pag(single_test, list(range(40)), method=method, order=order)
            assert batched.pag == single.pag
            assert dict(batched.sepsets) == dict(single.sepsets)
            assert batched.n_tests == single.n_tests == single_test.n_tests


def test_small_inputs():
    test = PartialCorrelationTest(np.eye(3), n_samples=50)
    assert learn_pag(test, [1]).pag.nodes == [1]
    assert learn_pag(test, [0, 2]).pag.number_of_edges() == 0
    r = np.array([[1.0, 0.9], [0.9, 1.0]])
    res = learn_pag(PartialCorrelationTest(r, 50), [0, 1], method="ordered-icd", order=[1, 0])
    assert res.pag.mark(0, 1) is Mark.CIRCLE and res.pag.mark(1, 0) is Mark.ARROW  # 1 o-> 0


def test_errors():
    test = attention_test(6, seed=0, causal=False)
    with pytest.raises(InvalidOrderError, match="ordered-icd needs a causal order: pass order="):
        learn_pag(test, list(range(6)), method="ordered-icd")
    with pytest.raises(InvalidOrderError, match=r"misses node\(s\) \[5\]"):
        learn_pag(test, list(range(6)), method="ordered-icd", order=[0, 1, 2, 3, 4])
    with pytest.raises(InvalidParameterError, match="max_cond_size must be an int >= 0 or None"):
        learn_pag(test, list(range(6)), max_cond_size=-1)
    with pytest.raises(InvalidParameterError, match="selection_bias must be True or False"):
        learn_pag(test, list(range(6)), selection_bias="yes")
    with pytest.raises(InvalidParameterError, match="nodes repeat an entry"):
        ICD().learn(test, [0, 1, 1])
    with pytest.raises(NodeNotFoundError, match=r"node\(s\) \[9\] are not among the CI test's 6 nodes"):
        learn_pag(test, [0, 9])


# ---------------------------------------------------------------- order independence
@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(8, 40), causal=st.booleans(),
       alpha=st.sampled_from([1e-2, 1e-5]), temperature=st.sampled_from([0.1, 0.25, 0.5]))
def test_icd_is_invariant_under_relabelling_and_listing(seed, n, causal, alpha, temperature):
    test = attention_test(n, seed, causal, alpha, temperature)
    rng = np.random.default_rng(seed)
    perm = rng.permutation(n)
    names = [f"t{int(v)}" for v in rng.permutation(n)]  # new names, unrelated to positions
    other = relabelled(test, perm, names)
    new_name = {int(perm[k]): names[k] for k in range(n)}

    a = learn_pag(test, list(range(n)), method="icd")
    b = learn_pag(other, list(reversed(names)), method="icd")
    assert relabel(a.pag, new_name) == b.pag
    # the same pairs are separated, by sets of the same p-value (when sets tie exactly, e.g. for
    # duplicated attention rows, which one is reported may follow node names; the PAG may not)
    assert {frozenset(new_name[v] for v in k) for k in a.sepsets} == set(b.sepsets)
    for pair, sep in a.sepsets.items():
        x, y = sorted(pair)
        other_sep = b.sepsets[frozenset((new_name[x], new_name[y]))]
        assert test.test(x, y, sep).p_value == pytest.approx(
            other.test(new_name[x], new_name[y], other_sep).p_value, rel=1e-8)


def relabel(pag, mapping):
    out = PAG([mapping[v] for v in pag.nodes])
    for e in pag.edges():
        out.add_edge(mapping[e.u], mapping[e.v], e.at_u, e.at_v)
    return out


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(8, 40), alpha=st.sampled_from([1e-2, 1e-5]))
def test_ordered_icd_is_invariant_under_relabelling(seed, n, alpha):
    test = attention_test(n, seed, True, alpha)
    rng = np.random.default_rng(seed)
    perm = rng.permutation(n)
    names = [f"t{int(v)}" for v in rng.permutation(n)]
    other = relabelled(test, perm, names)
    new_name = {int(perm[k]): names[k] for k in range(n)}
    a = learn_pag(test, list(range(n)), method="ordered-icd", order=list(range(n)))
    b = learn_pag(other, names, method="ordered-icd", order=[new_name[i] for i in range(n)])
    assert relabel(a.pag, new_name) == b.pag


def test_ordered_icd_puts_arrowheads_at_later_tokens():
    test = attention_test(60, seed=5, causal=True)
    res = learn_pag(test, list(range(60)), method="ordered-icd", order=list(range(60)))
    assert res.pag.number_of_edges() > 0
    for e in res.pag.edges():  # e.u < e.v: the later token never has a tail
        assert e.at_v is Mark.ARROW
    # conditioning sets come from tokens before the later node of the pair
    for pair, sep in res.sepsets.items():
        assert all(z < max(pair) for z in sep)


# ---------------------------------------------------------------- statistical use with a known answer
@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_population_correlation_of_latent_sem_gives_true_pag(seed, latent_case, pag_tools):
    """Gaussian SEM over a latent DAG: on the population correlation the test acts as a d-separation oracle."""
    dag, observed = latent_case(seed + 5, max_size=12)
    r = linear_gaussian_correlation(dag, seed=seed, observed=observed, weight_range=(0.6, 1.2))
    test = PartialCorrelationTest.from_correlation(r, n_samples=10**9, alpha=1e-3, nodes=observed)
    res = learn_pag(test, observed, method="icd")
    assert res.pag == true_pag(dag, observed)
    order = pag_tools.topological_order(dag, observed)
    ordered = learn_pag(test, observed, method="ordered-icd", order=order)
    assert pag_tools.unsound_marks(ordered.pag, mag_from_dag(dag, observed)) == []


def test_hand_checked_example():
    # 0 -> 2 <- 1, 2 -> 3, latent L -> 3, 4: 4 could be 3's parent or confounded with it
    dag = nx.DiGraph([(0, 2), (1, 2), (2, 3), ("L", 3), ("L", 4)])
    oracle = DSeparationOracle(dag, [0, 1, 2, 3, 4])
    res = learn_pag(oracle, [0, 1, 2, 3, 4], method="icd")
    assert res.pag.describe() == "0 o-> 2\n1 o-> 2\n2 --> 3\n3 <-o 4"
    assert res.pag == true_pag(dag, [0, 1, 2, 3, 4])
    ordered = learn_pag(DSeparationOracle(dag, [0, 1, 2, 3, 4]), [0, 1, 2, 3, 4], method="ordered-icd",
                        order=[0, 1, 2, 4, 3])
    assert ordered.pag.describe() == "0 o-> 2\n1 o-> 2\n2 --> 3\n3 <-o 4"


def test_learning_over_a_subset_of_the_test_nodes():
    test = attention_test(50, seed=6, causal=True)
    subset = list(range(10, 50, 2))
    res = learn_pag(test, subset, method="ordered-icd", order=subset)
    alone = PartialCorrelationTest(test.correlation[np.ix_(subset, subset)], n_samples=128, alpha=1e-2, nodes=subset)
    expected = learn_pag(alone, subset, method="ordered-icd", order=subset)
    assert res.pag == expected.pag and dict(res.sepsets) == dict(expected.sepsets)
    assert res.n_tests == expected.n_tests


def test_tied_separating_sets_are_handled_as_the_per_edge_loop_did(monkeypatch):
    # twin tokens tie many level-1 p-values: orientation reads the union of the tied sets, the reported set is the
    # least by node value; the vectorised handling must give exactly what the per-edge Python loop gave
    from whytoken.causal import icd_engine

    def loop_add_tied(self, xs, ys, order, starts, counts, zs):
        for x, y, start, count in zip(xs.tolist(), ys.tolist(), starts.tolist(), counts.tolist()):
            sets = [tuple(v) for v in zs[order[start : start + count]].tolist()]
            self.sepsets.add(x, y, {v for z in sets for v in z})
            self.reported[(x, y)] = min(sets, key=lambda z: sorted(self.tie_key[v] for v in z))

    A = peaky_attention(40, seed=3, causal=True, sink=0.3, temperature=0.5)
    for i in (9, 17, 25):
        A[i] = A[i - 1]  # twins: exact ties
    R = attention_to_correlation(A)
    names = [f"t{k:02d}" for k in range(40)][::-1]  # tie keys in the opposite order of the indices
    runs = []
    for patched in (False, True):
        if patched:
            monkeypatch.setattr(icd_engine.ICDRun, "_add_tied", loop_add_tied)
        test = PartialCorrelationTest(R, n_samples=64, alpha=0.05, nodes=names)
        res = learn_pag(test, names, method="ordered-icd", order=names, max_cond_size=3)
        runs.append((res.pag, dict(res.sepsets)))
    assert runs[0][0] == runs[1][0]
    assert runs[0][1] == runs[1][1]
    counted = {}
    monkeypatch.setattr(icd_engine.ICDRun, "_add_tied", lambda self, xs, *a: counted.setdefault("n", xs.size))
    learn_pag(PartialCorrelationTest(R, n_samples=64, alpha=0.05, nodes=names), names, method="ordered-icd",
              order=names, max_cond_size=3)
    assert counted.get("n", 0) > 0  # the case does hold tied edges
