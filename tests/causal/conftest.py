"""Shared fixtures for the causal-core tests: seeded latent DAGs and PAG comparison helpers.

The helpers come as fixtures (factories) so test modules need not import this
file. Ground truth comes from :mod:`whytoken.causal.reference`, which builds
MAGs from d-separation and ancestry in the DAG and PAGs with FCI's rules, and
is itself checked against brute-force equivalence-class enumeration in
``test_reference.py``.
"""

from __future__ import annotations

from typing import Callable, Hashable

import networkx as nx
import numpy as np
import pytest

from whytoken.causal.reference import random_latent_dag
from whytoken.graphs import PAG, Mark


def make_latent_case(seed: int, min_size: int = 5, max_size: int = 20) -> tuple[nx.DiGraph, list[int]]:
    """A seeded DAG with latent confounders; sizes cycle through ``min_size .. max_size``."""
    rng = np.random.default_rng(10_000 + seed)
    n = min_size + seed % (max_size - min_size + 1)
    return random_latent_dag(
        n,
        n_latent=int(rng.integers(1, n // 4 + 2)),
        avg_degree=float(rng.uniform(1.2, 2.6)),
        seed=seed,
    )


def adjacent_pairs(pag: PAG) -> set[frozenset]:
    return {frozenset(e.nodes) for e in pag.edges()}


def relabel(pag: PAG, mapping: dict[Hashable, Hashable]) -> PAG:
    out = PAG([mapping[n] for n in pag.nodes])
    for e in pag.edges():
        out.add_edge(mapping[e.u], mapping[e.v], e.at_u, e.at_v)
    return out


def unsound_marks(pag: PAG, mag: PAG) -> list[tuple]:
    """Endpoints where ``pag`` has a tail or arrowhead that the MAG does not."""
    bad = []
    for e in pag.edges():
        for a, b in ((e.u, e.v), (e.v, e.u)):
            mark = pag.mark(a, b)
            if mark is not Mark.CIRCLE and (not mag.has_edge(a, b) or mag.mark(a, b) is not mark):
                bad.append((a, b, mark))
    return bad


def topological_order(dag: nx.DiGraph, observed: list) -> list:
    keep = set(observed)
    return [v for v in nx.lexicographical_topological_sort(dag, key=str) if v in keep]


@pytest.fixture
def latent_case() -> Callable[..., tuple[nx.DiGraph, list[int]]]:
    return make_latent_case


@pytest.fixture
def pag_tools():
    """Namespace of helpers: adjacent_pairs, relabel, unsound_marks, topological_order."""

    class Tools:
        pass

    tools = Tools()
    tools.adjacent_pairs = adjacent_pairs
    tools.relabel = relabel
    tools.unsound_marks = unsound_marks
    tools.topological_order = topological_order
    return tools
