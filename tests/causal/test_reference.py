"""Tests of the ground-truth builders: random latent DAGs, MAGs and true PAGs.

How the reference is made, and how it is checked from several sides:

* the MAG's adjacencies are compared with an exhaustive search over every
  subset of the other observed nodes (no d-separating subset = adjacent);
* the MAG's marks are compared with ancestry in the DAG, and the MAG is
  checked to be ancestral;
* the true PAG (the MAG's skeleton oriented by FCI's rules) is compared with a
  brute-force enumeration of the Markov equivalence class on small graphs
  (every MAG on the skeleton with the DAG's d-separations; marks they all
  share, circles elsewhere), which uses no orientation rule at all;
* every non-circle mark of the true PAG agrees with the MAG (soundness), and
  the PAG does not change when the observed nodes are listed in another order.

causal-learn is deliberately not used: version 0.1.4.8's dag2pag passes
separating sets of node objects to rules R3/R4 (which expect indices) and its
results depend on node order in a few percent of graphs.
"""

from __future__ import annotations

import random

import networkx as nx
import numpy as np
import pytest

from whytoken.causal.reference import (
    is_m_separable,
    mag_from_dag,
    mag_sepsets,
    pag_by_enumeration,
    random_latent_dag,
    true_pag,
)
from whytoken.errors import InvalidGraphError, InvalidParameterError, NodeNotFoundError
from whytoken.graphs import Mark


def test_random_latent_dag_is_seeded_acyclic_with_confounders():
    dag, observed = random_latent_dag(12, n_latent=4, seed=3)
    again, _ = random_latent_dag(12, n_latent=4, seed=3)
    assert set(dag.edges) == set(again.edges)
    assert set(dag.edges) != set(random_latent_dag(12, n_latent=4, seed=4)[0].edges)
    assert nx.is_directed_acyclic_graph(dag)
    assert observed == list(range(12))
    latents = [v for v in dag if v not in set(observed)]
    assert len(latents) == 4
    for latent in latents:
        assert dag.in_degree(latent) == 0
        assert dag.out_degree(latent) >= 2 and set(dag.successors(latent)) <= set(observed)
    # labels are not a topological order (the causal order is a random permutation)
    assert any(u > v for u, v in dag.edges if u in observed and v in observed)


def test_random_latent_dag_errors():
    with pytest.raises(InvalidParameterError, match="n_observed must be an int >= 2"):
        random_latent_dag(1)
    with pytest.raises(InvalidParameterError, match="n_latent must be >= 0"):
        random_latent_dag(5, n_latent=-1)


@pytest.mark.parametrize("seed", range(25))
def test_mag_adjacency_is_exhaustive_non_separability_and_marks_follow_ancestry(seed):
    dag, observed = random_latent_dag(4 + seed % 5, seed=seed, avg_degree=2.2)
    mag = mag_from_dag(dag, observed)
    for i, x in enumerate(observed):
        for y in observed[i + 1 :]:
            assert mag.has_edge(x, y) is (not is_m_separable(dag, observed, x, y)), (seed, x, y)
            if mag.has_edge(x, y):
                assert (mag.mark(y, x) is Mark.TAIL) is (x in nx.ancestors(dag, y))
                assert (mag.mark(x, y) is Mark.TAIL) is (y in nx.ancestors(dag, x))
    # ancestral: no directed cycle, and no <-> between an ancestor and its descendant
    directed = mag.to_directed_graph()
    assert nx.is_directed_acyclic_graph(directed)
    for e in mag.edges():
        if e.at_u is Mark.ARROW and e.at_v is Mark.ARROW:
            assert not nx.has_path(directed, e.u, e.v) and not nx.has_path(directed, e.v, e.u)


def test_mag_sepsets_separate():
    dag, observed = random_latent_dag(10, seed=5, avg_degree=2.0)
    adjacent, sepsets = mag_sepsets(dag, observed)
    assert len(adjacent) + len(sepsets) == 45
    for pair, sep in sepsets.items():
        x, y = sorted(pair)
        assert nx.is_d_separator(dag, {x}, {y}, set(sep))


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(30))
def test_true_pag_equals_brute_force_equivalence_class(seed):
    rng = np.random.default_rng(seed)
    for attempt in range(50):
        dag, observed = random_latent_dag(int(rng.integers(4, 7)), seed=1000 * seed + attempt,
                                          avg_degree=float(rng.uniform(1.2, 2.4)))
        if 3 <= mag_from_dag(dag, observed).number_of_edges() <= 8:
            break
    assert true_pag(dag, observed) == pag_by_enumeration(dag, observed)


def test_hand_checked_pags():
    # a collider with a latent-confounded child: a o-> c <-o b, c <-o d (d could be c's parent: only o)
    dag = nx.DiGraph([("a", "c"), ("b", "c"), ("L", "c"), ("L", "d")])
    assert true_pag(dag, ["a", "b", "c", "d"]).describe() == "a o-> c\nb o-> c\nc <-o d"
    # Y-structure: a -> c <- b, c -> d: tail at c by R1
    dag = nx.DiGraph([("a", "c"), ("b", "c"), ("c", "d")])
    assert true_pag(dag, list("abcd")).describe() == "a o-> c\nb o-> c\nc --> d"
    # a -> c <- L -> d <- e with L latent: c and d are both colliders, so c <-> d
    dag = nx.DiGraph([("a", "c"), ("L", "c"), ("L", "d"), ("e", "d")])
    assert true_pag(dag, list("acde")).describe() == "a o-> c\nc <-> d\nd <-o e"


@pytest.mark.parametrize("seed", range(0, 60, 3))
def test_true_pag_is_sound_and_order_invariant(seed):
    dag, observed = random_latent_dag(6 + seed % 12, seed=seed, avg_degree=2.0)
    pag = true_pag(dag, observed)
    mag = mag_from_dag(dag, observed)
    assert {frozenset(e.nodes) for e in pag.edges()} == {frozenset(e.nodes) for e in mag.edges()}
    for e in pag.edges():
        for a, b in ((e.u, e.v), (e.v, e.u)):
            if pag.mark(a, b) is not Mark.CIRCLE:
                assert pag.mark(a, b) is mag.mark(a, b)
    shuffled = list(observed)
    random.Random(seed).shuffle(shuffled)
    assert true_pag(dag, shuffled) == pag


def test_reference_errors():
    with pytest.raises(InvalidGraphError, match="acyclic"):
        true_pag(nx.DiGraph([(0, 1), (1, 0)]), [0, 1])
    with pytest.raises(NodeNotFoundError, match=r"observed node\(s\) \[9\] are not in the DAG"):
        mag_from_dag(nx.DiGraph([(0, 1)]), [0, 9])
    dense, _ = random_latent_dag(8, seed=0, avg_degree=6)
    with pytest.raises(InvalidParameterError, match="max_edges=3"):
        pag_by_enumeration(dense, list(range(8)), max_edges=3)
