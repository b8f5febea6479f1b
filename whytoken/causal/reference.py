"""Ground truth for structure learners: random DAGs with latents, their MAGs and PAGs.

A learner run with a perfect CI oracle (:class:`~whytoken.causal.ci_tests.DSeparationOracle`)
must return the PAG of the *maximal ancestral graph* (MAG) that the DAG
induces over its observed nodes. This module builds that reference without
causal-learn:

* :func:`random_latent_dag` -- seeded random DAGs over observed nodes plus
  latent confounders, each with at least two observed children.
* :func:`mag_from_dag` -- the MAG: observed ``x`` and ``y`` are adjacent iff
  no set of other observed nodes d-separates them (checked with the
  ancestral set ``An({x, y}) & O - {x, y}``, which separates them whenever
  any set does; Richardson & Spirtes 2002), and the mark at ``x`` is a tail
  iff ``x`` is an ancestor of ``y`` in the DAG, an arrowhead otherwise.
* :func:`true_pag` -- the PAG: the MAG's skeleton with circles, oriented by
  FCI's rules R0-R4 and R8-R10 (Zhang 2008) with those ancestral separating
  sets.
* :func:`pag_by_enumeration` -- an independent check for small graphs: list
  every MAG on the skeleton with the DAG's d-separations and keep the marks
  they all share.

Why not causal-learn: causal-learn 0.1.4.8 is not a reliable reference here:
its dag2pag passes separating sets of node objects to rules R3/R4, which
expect node indices (one-line bug; with it, ~17% of latent DAGs get a wrong
PAG), and both dag2pag and fci give different PAGs under different node orders
in a few percent of graphs.

Examples
--------
>>> import networkx as nx
>>> from whytoken.causal.reference import mag_from_dag, true_pag
>>> dag = nx.DiGraph([("a", "c"), ("b", "c"), ("L", "c"), ("L", "d")])   # L latent
>>> print(mag_from_dag(dag, ["a", "b", "c", "d"]).describe())
a --> c
b --> c
c <-> d
>>> print(true_pag(dag, ["a", "b", "c", "d"]).describe())
a o-> c
b o-> c
c <-o d
"""

from __future__ import annotations

import itertools
import logging
from typing import Any, Hashable, Iterable, Sequence

import networkx as nx
import numpy as np

from whytoken.causal.ci_tests import DSeparationOracle
from whytoken.causal.orientation import ARROW, CIRCLE, TAIL, orient
from whytoken.errors import InvalidGraphError, InvalidParameterError, NodeNotFoundError
from whytoken.graphs import PAG, Mark, node_sort_key

__all__ = [
    "random_latent_dag",
    "mag_from_dag",
    "mag_sepsets",
    "true_pag",
    "pag_by_enumeration",
    "is_m_separable",
]

logger = logging.getLogger(__name__)


def random_latent_dag(
    n_observed: int,
    *,
    n_latent: int | None = None,
    avg_degree: float = 2.0,
    seed: int | np.random.Generator | None = 0,
) -> tuple[nx.DiGraph, list[int]]:
    """A seeded random DAG over ``n_observed`` observed nodes plus latent confounders.

    Observed nodes are ``0 .. n_observed - 1``; their causal order is a
    random permutation (so node labels are not a topological order). Each
    later/earlier pair gets an edge with probability
    ``avg_degree / (n_observed - 1)``. Latent nodes ``"L0", "L1", ...`` are
    roots with two or three observed children each.

    Parameters
    ----------
    n_observed : int
        Number of observed nodes (>= 2).
    n_latent : int, optional
        Number of latent confounders (default ``max(1, n_observed // 4)``).
    avg_degree : float
        Expected number of observed-observed edges per observed node.
    seed : int, numpy Generator or None

    Returns
    -------
    dag : networkx.DiGraph
    observed : list of int

    Examples
    --------
    >>> dag, observed = random_latent_dag(6, seed=1)
    >>> observed
    [0, 1, 2, 3, 4, 5]
    >>> all(dag.out_degree(n) >= 2 for n in dag if isinstance(n, str))
    True
    """
    if isinstance(n_observed, bool) or not isinstance(n_observed, (int, np.integer)) or n_observed < 2:
        raise InvalidParameterError(f"n_observed must be an int >= 2, got {n_observed!r}")
    if n_latent is None:
        n_latent = max(1, n_observed // 4)
    if n_latent < 0:
        raise InvalidParameterError(f"n_latent must be >= 0, got {n_latent!r}")
    if not avg_degree >= 0:
        raise InvalidParameterError(f"avg_degree must be >= 0, got {avg_degree!r}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    observed = list(range(int(n_observed)))
    order = rng.permutation(n_observed).tolist()
    p = min(1.0, avg_degree / max(1, n_observed - 1))
    dag = nx.DiGraph()
    dag.add_nodes_from(observed)
    for i, j in itertools.combinations(range(n_observed), 2):
        if rng.random() < p:
            dag.add_edge(order[i], order[j])
    for k in range(int(n_latent)):
        n_children = 3 if (n_observed >= 3 and rng.random() < 0.3) else 2
        children = rng.choice(n_observed, size=n_children, replace=False).tolist()
        for ch in children:
            dag.add_edge(f"L{k}", int(ch))
    return dag, observed


def _check_inputs(dag: Any, observed: Iterable[Hashable]) -> list[Hashable]:
    if not isinstance(dag, nx.DiGraph) or not nx.is_directed_acyclic_graph(dag):
        raise InvalidGraphError(f"dag must be an acyclic networkx.DiGraph, got {type(dag).__name__}")
    obs = list(dict.fromkeys(observed))
    missing = [n for n in obs if n not in dag]
    if missing:
        raise NodeNotFoundError(f"observed node(s) {missing[:10]} are not in the DAG")
    return obs


def _ancestor_sets(dag: nx.DiGraph, nodes: Iterable[Hashable]) -> dict[Hashable, set]:
    return {n: nx.ancestors(dag, n) for n in nodes}


def mag_sepsets(dag: Any, observed: Sequence[Hashable]) -> tuple[set[frozenset], dict[frozenset, tuple]]:
    """MAG adjacencies and one separating set per non-adjacent observed pair.

    The separating set of ``x`` and ``y`` is ``An({x, y}) & O - {x, y}``
    (ancestors in the DAG, restricted to the observed nodes ``O``).

    Returns
    -------
    adjacent : set of frozenset
        Pairs no subset of the other observed nodes d-separates.
    sepsets : dict of frozenset -> tuple
        The separating set of every other pair, sorted.

    Examples
    --------
    >>> import networkx as nx
    >>> adj, sep = mag_sepsets(nx.DiGraph([(0, 1), (1, 2)]), [0, 1, 2])
    >>> sorted(map(sorted, adj)), sep
    ([[0, 1], [1, 2]], {frozenset({0, 2}): (1,)})
    """
    obs = _check_inputs(dag, observed)
    obs_set = set(obs)
    anc = _ancestor_sets(dag, obs)
    oracle = DSeparationOracle(dag, obs)  # same answers as nx.is_d_separator, faster
    adjacent: set[frozenset] = set()
    sepsets: dict[frozenset, tuple] = {}
    for x, y in itertools.combinations(obs, 2):
        cand = ((anc[x] | anc[y]) & obs_set) - {x, y}
        if oracle.is_independent(x, y, cand):
            sepsets[frozenset((x, y))] = tuple(sorted(cand, key=node_sort_key))
        else:
            adjacent.add(frozenset((x, y)))
    return adjacent, sepsets


def mag_from_dag(dag: Any, observed: Sequence[Hashable]) -> PAG:
    """The maximal ancestral graph the DAG induces over ``observed`` (no selection variables).

    Parameters
    ----------
    dag : networkx.DiGraph
        DAG over observed and latent nodes.
    observed : sequence of hashable
        The observed nodes; the rest are latent.

    Returns
    -------
    PAG
        A graph with only tails and arrowheads: ``x --> y`` when ``x`` is an
        ancestor of ``y``, ``x <-> y`` when neither is an ancestor of the other.

    Examples
    --------
    >>> import networkx as nx
    >>> dag = nx.DiGraph([(0, "L"), ("L", 1), (2, 0)])      # 0 -> L -> 1: ancestral
    >>> print(mag_from_dag(dag, [0, 1, 2]).describe())
    0 --> 1
    0 <-- 2
    """
    obs = _check_inputs(dag, observed)
    adjacent, _ = mag_sepsets(dag, obs)
    anc = _ancestor_sets(dag, obs)
    mag = PAG(obs)
    for pair in adjacent:
        x, y = sorted(pair, key=node_sort_key)
        at_x = Mark.TAIL if x in anc[y] else Mark.ARROW
        at_y = Mark.TAIL if y in anc[x] else Mark.ARROW
        mag.add_edge(x, y, at_x, at_y)
    return mag


def true_pag(dag: Any, observed: Sequence[Hashable]) -> PAG:
    """The PAG of the MAG that ``dag`` induces over ``observed``.

    The MAG's skeleton starts with circles; FCI's R0-R4 and R8-R10 then
    orient it using the ancestral separating sets of :func:`mag_sepsets`.
    With the right skeleton and separating sets these rules are sound and
    complete (Zhang 2008), so this is the PAG every member of the Markov
    equivalence class agrees with. :func:`pag_by_enumeration` checks it
    independently on small graphs.

    Examples
    --------
    >>> import networkx as nx
    >>> print(true_pag(nx.DiGraph([(0, 1), (1, 2)]), [0, 1, 2]).describe())
    0 o-o 1
    1 o-o 2
    """
    obs = _check_inputs(dag, observed)
    adjacent, sepsets = mag_sepsets(dag, obs)
    index = {n: i for i, n in enumerate(obs)}
    m = np.zeros((len(obs), len(obs)), dtype=np.int8)
    for pair in adjacent:
        x, y = (index[n] for n in pair)
        m[x, y] = m[y, x] = CIRCLE
    seps = {}
    for pair, sep in sepsets.items():
        x, y = sorted(index[n] for n in pair)
        seps[(x, y)] = frozenset(index[s] for s in sep)
    m = orient(m, seps, selection_bias=False, tail_completeness=True)
    return PAG.from_mark_matrix(m, obs)


def is_m_separable(dag: Any, observed: Sequence[Hashable], x: Hashable, y: Hashable) -> bool:
    """Whether some subset of ``observed - {x, y}`` d-separates ``x`` and ``y`` (exhaustive search).

    Exponential in the number of observed nodes: meant for checking
    :func:`mag_from_dag` on small graphs.

    Examples
    --------
    >>> import networkx as nx
    >>> is_m_separable(nx.DiGraph([(0, 1), (1, 2)]), [0, 1, 2], 0, 2)
    True
    """
    obs = _check_inputs(dag, observed)
    rest = [n for n in obs if n not in (x, y)]
    return any(
        nx.is_d_separator(dag, {x}, {y}, set(cond))
        for size in range(len(rest) + 1)
        for cond in itertools.combinations(rest, size)
    )


def _mixed_to_dag(n: int, marks: np.ndarray) -> nx.DiGraph:
    """Replace ``<->`` by a latent common parent so d-separation gives m-separation."""
    g = nx.DiGraph()
    g.add_nodes_from(range(n))
    for i, j in zip(*np.nonzero(np.triu(marks != 0, 1))):
        a, b = int(marks[j, i]), int(marks[i, j])  # mark at i, mark at j
        if a == TAIL and b == ARROW:
            g.add_edge(int(i), int(j))
        elif a == ARROW and b == TAIL:
            g.add_edge(int(j), int(i))
        else:
            g.add_edge(("bi", int(i), int(j)), int(i))
            g.add_edge(("bi", int(i), int(j)), int(j))
    return g


def _is_ancestral(n: int, marks: np.ndarray) -> bool:
    directed = nx.DiGraph()
    directed.add_nodes_from(range(n))
    for i, j in zip(*np.nonzero(marks == ARROW)):
        if marks[j, i] == TAIL:  # i --> j
            directed.add_edge(int(i), int(j))
    if not nx.is_directed_acyclic_graph(directed):
        return False
    for i, j in zip(*np.nonzero(np.triu((marks == ARROW) & (marks.T == ARROW), 1))):
        if nx.has_path(directed, int(i), int(j)) or nx.has_path(directed, int(j), int(i)):
            return False  # almost directed cycle
    return True


def pag_by_enumeration(dag: Any, observed: Sequence[Hashable], max_edges: int = 10) -> PAG:
    """The PAG by brute force: the marks shared by every MAG with the DAG's d-separations.

    Enumerates every orientation (``-->``, ``<--``, ``<->``) of the MAG's
    skeleton, keeps the ancestral ones whose m-separations over the observed
    nodes equal the DAG's d-separations (the Markov equivalence class), and
    marks an endpoint with a tail or arrowhead when all members agree, with a
    circle otherwise. Independent of the orientation rules; exponential, so
    for small graphs only.

    Parameters
    ----------
    max_edges : int
        Refuse skeletons with more edges (3**edges candidates).

    Examples
    --------
    >>> import networkx as nx
    >>> print(pag_by_enumeration(nx.DiGraph([(0, 2), (1, 2)]), [0, 1, 2]).describe())
    0 o-> 2
    1 o-> 2
    """
    obs = _check_inputs(dag, observed)
    n = len(obs)
    adjacent, _ = mag_sepsets(dag, obs)
    index = {node: i for i, node in enumerate(obs)}
    edges = sorted(tuple(sorted(index[v] for v in pair)) for pair in adjacent)
    if len(edges) > max_edges:
        raise InvalidParameterError(
            f"the skeleton has {len(edges)} edges > max_edges={max_edges}; enumeration needs 3**edges candidates"
        )
    truth: dict[tuple[int, int, frozenset], bool] = {}
    oracle = DSeparationOracle(dag, obs)
    nonadj = [(i, j) for i, j in itertools.combinations(range(n), 2) if (i, j) not in set(edges)]
    for i, j in nonadj:
        rest = [k for k in range(n) if k not in (i, j)]
        for size in range(len(rest) + 1):
            for cond in itertools.combinations(rest, size):
                truth[(i, j, frozenset(cond))] = oracle.is_independent(obs[i], obs[j], [obs[k] for k in cond])
    # Markov equivalent MAGs share their unshielded colliders: a cheap filter before the full check
    adj = np.zeros((n, n), dtype=bool)
    for i, j in edges:
        adj[i, j] = adj[j, i] = True
    unshielded = [(a, b, c) for b in range(n) for a, c in itertools.combinations(np.flatnonzero(adj[b]).tolist(), 2)
                  if not adj[a, c]]
    true_m = mag_from_dag(dag, obs).to_mark_matrix(obs)

    def colliders(m: np.ndarray) -> list[bool]:
        return [bool(m[a, b] == ARROW and m[c, b] == ARROW) for a, b, c in unshielded]

    want = colliders(true_m)
    members: list[np.ndarray] = []
    kinds = ((TAIL, ARROW), (ARROW, TAIL), (ARROW, ARROW))
    for choice in itertools.product(kinds, repeat=len(edges)):
        m = np.zeros((n, n), dtype=np.int8)
        for (i, j), (at_i, at_j) in zip(edges, choice):
            m[j, i], m[i, j] = at_i, at_j
        if colliders(m) != want or not _is_ancestral(n, m):
            continue
        candidate = DSeparationOracle(_mixed_to_dag(n, m), range(n))
        if all(candidate.is_independent(i, j, cond) == sep for (i, j, cond), sep in truth.items()):
            members.append(m)
    if not members:
        raise InvalidGraphError("no MAG on the skeleton reproduces the DAG's d-separations (should not happen)")
    stack = np.stack(members)
    agreed = np.all(stack == stack[0], axis=0)
    out = np.where(agreed, stack[0], np.where(stack[0] != 0, CIRCLE, 0)).astype(np.int8)
    return PAG.from_mark_matrix(out, obs)
