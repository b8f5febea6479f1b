"""The packaged bnlearn structures, and icd with the d-separation oracle on them (exact against the true PAG)."""

from __future__ import annotations

import networkx as nx
import pytest

from whytoken.causal import DSeparationOracle, learn_pag
from whytoken.causal.networks import NETWORKS, latent_network, load_network
from whytoken.causal.reference import true_pag
from whytoken.errors import InvalidParameterError

SIZES = {"asia": (8, 8), "sachs": (11, 17), "child": (20, 25), "insurance": (27, 52), "water": (32, 66),
         "alarm": (37, 46), "hailfinder": (56, 66)}


@pytest.mark.parametrize("name", NETWORKS)
def test_networks_load_as_dags_of_the_published_size(name):
    dag = load_network(name)
    assert (dag.number_of_nodes(), dag.number_of_edges()) == SIZES[name]
    assert nx.is_directed_acyclic_graph(dag)


@pytest.mark.parametrize("fraction", [0.1, 0.2])
def test_latents_are_seeded_and_prefer_confounders(fraction):
    dag, observed = latent_network("alarm", fraction, seed=4)
    again = latent_network("alarm", fraction, seed=4)[1]
    hidden = set(dag) - set(observed)
    assert observed == again and len(hidden) == round(fraction * 37)
    assert all(dag.out_degree(v) >= 2 for v in hidden)


def test_bad_arguments_name_the_value():
    with pytest.raises(InvalidParameterError, match="network 'asai' is not packaged"):
        load_network("asai")
    with pytest.raises(InvalidParameterError, match="latent_fraction must be"):
        latent_network("asia", 1.0)


# every packaged network with 0 / 10 / 20 % latents, all within seconds (benchmarks/RESULTS.md); the three
# with 1.3-4.9 million tests (insurance 10 %, hailfinder 10 / 20 %) take 2-4 s each here and are marked slow
HEAVY = {("insurance", 0.1), ("hailfinder", 0.1), ("hailfinder", 0.2)}
EXACT = [pytest.param(name, f, marks=[pytest.mark.slow] if (name, f) in HEAVY else [])
         for name in NETWORKS for f in (0.0, 0.1, 0.2)]


@pytest.mark.parametrize("name, fraction", EXACT)
def test_icd_with_the_oracle_is_exact_on_real_networks(name, fraction):
    dag, observed = latent_network(name, fraction, seed=0)
    oracle = DSeparationOracle(dag, observed)
    result = learn_pag(oracle, observed, method="icd")
    assert result.pag == true_pag(dag, observed)
    assert result.n_tests == oracle.n_tests
