"""Real Bayesian-network structures for testing structure learners: bnlearn's asia ... hailfinder.

Random DAGs (:func:`whytoken.causal.reference.random_latent_dag`) test a
learner on structures nobody chose; the networks of the bnlearn repository
test it on structures people built to model real domains (medicine,
meteorology, insurance), with hubs, long chains and dense local clusters that
random graphs rarely have. Seven of them ship with the package (structure
only, ``whytoken/causal/data/bnlearn``; source and licence in the README
there):

=========== ===== =====
network     nodes edges
=========== ===== =====
asia            8     8
sachs          11    17
child          20    25
insurance      27    52
water          32    66
alarm          37    46
hailfinder     56    66
=========== ===== =====

:func:`latent_network` hides a seeded share of the nodes, preferring nodes
with two or more children (so that hiding them leaves a latent confounder
behind); with :class:`~whytoken.causal.ci_tests.DSeparationOracle` over the
remaining nodes a sound and complete learner must return
:func:`~whytoken.causal.reference.true_pag`.

Examples
--------
>>> from whytoken.causal.networks import NETWORKS, latent_network, load_network
>>> dag = load_network("asia")
>>> dag.number_of_nodes(), dag.number_of_edges()
(8, 8)
>>> dag, observed = latent_network("sachs", 0.2, seed=0)
>>> len(observed), len(dag) - len(observed)
(9, 2)
"""

from __future__ import annotations

import functools
import logging
import re
from importlib import resources

import networkx as nx
import numpy as np

from whytoken.errors import InvalidParameterError, SchemaError

__all__ = ["NETWORKS", "load_network", "latent_network"]

logger = logging.getLogger(__name__)

#: The packaged bnlearn structures, smallest first.
NETWORKS: tuple[str, ...] = ("asia", "sachs", "child", "insurance", "water", "alarm", "hailfinder")

_EDGE = re.compile(r"^\s*\d+\.\s*(\S+)\s*-->\s*(\S+)\s*$")


def _parse(name: str, text: str) -> nx.DiGraph:
    lines = [line.strip() for line in text.splitlines()]
    try:
        start = lines.index("Graph Nodes:")
        nodes = [v for v in lines[start + 1].split(";") if v]
    except (ValueError, IndexError):
        raise SchemaError(f"network file {name!r} has no 'Graph Nodes:' line followed by X1;X2;...") from None
    dag = nx.DiGraph()
    dag.add_nodes_from(nodes)
    for line in lines:
        match = _EDGE.match(line)
        if match:
            u, v = match.groups()
            if u not in dag or v not in dag:
                raise SchemaError(f"network file {name!r}: edge {line!r} names a node outside 'Graph Nodes:'")
            dag.add_edge(u, v)
    if not nx.is_directed_acyclic_graph(dag):
        raise SchemaError(f"network file {name!r} has a directed cycle; it must describe a DAG")
    return dag


@functools.cache
def _load(name: str) -> nx.DiGraph:
    path = resources.files("whytoken.causal").joinpath("data", "bnlearn", f"{name}.graph.txt")
    return _parse(name, path.read_text(encoding="utf-8"))


def load_network(name: str) -> nx.DiGraph:
    """The DAG of a packaged bnlearn network (nodes ``"X1" .. "Xn"`` as in the source files).

    Parameters
    ----------
    name : str
        One of :data:`NETWORKS`.

    Returns
    -------
    networkx.DiGraph
        A fresh copy (safe to modify).

    Raises
    ------
    InvalidParameterError
        If ``name`` is not a packaged network.

    Examples
    --------
    >>> sorted(load_network("asia").successors("X6"))
    ['X7', 'X8']
    """
    if name not in NETWORKS:
        raise InvalidParameterError(f"network {name!r} is not packaged; choose one of {', '.join(NETWORKS)}")
    return _load(name).copy()


def latent_network(name: str, latent_fraction: float, seed: int = 0) -> tuple[nx.DiGraph, list[str]]:
    """A packaged network with a seeded share of its nodes hidden as latent variables.

    ``round(latent_fraction * n)`` nodes become latent, drawn at random
    (seeded) among the nodes with at least two children first, so that each
    hidden node confounds observed ones; when there are too few of those, the
    rest are drawn from the other nodes.

    Parameters
    ----------
    name : str
        One of :data:`NETWORKS`.
    latent_fraction : float
        Share of nodes to hide, in ``[0, 1)`` (the benchmarks use 0, 0.1 and 0.2).
    seed : int
        Seed of the draw.

    Returns
    -------
    dag : networkx.DiGraph
        The whole network (latent nodes included).
    observed : list of str
        The observed nodes, in the file's order.

    Examples
    --------
    >>> dag, observed = latent_network("child", 0.1, seed=3)
    >>> hidden = sorted(set(dag) - set(observed))
    >>> len(hidden), all(dag.out_degree(v) >= 2 for v in hidden)
    (2, True)
    """
    if isinstance(latent_fraction, bool) or not isinstance(latent_fraction, (int, float, np.floating)) or not (
        0.0 <= float(latent_fraction) < 1.0
    ):
        raise InvalidParameterError(
            f"latent_fraction must be a number in [0, 1), got {latent_fraction!r}; e.g. 0.1 hides 10% of the nodes"
        )
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InvalidParameterError(f"seed must be a non-negative int, got {seed!r}")
    dag = load_network(name)
    nodes = list(dag.nodes)
    k = int(round(float(latent_fraction) * len(nodes)))
    rng = np.random.default_rng(int(seed))
    confounders = [v for v in nodes if dag.out_degree(v) >= 2]
    others = [v for v in nodes if dag.out_degree(v) < 2]
    picked = [confounders[i] for i in rng.permutation(len(confounders))[:k]]
    if len(picked) < k:
        picked += [others[i] for i in rng.permutation(len(others))[: k - len(picked)]]
    hidden = set(picked)
    logger.debug("%s: %d of %d nodes latent (seed %d)", name, len(hidden), len(nodes), seed)
    return dag, [v for v in nodes if v not in hidden]
