"""Tests of PDS-trees: depths are PDS distances, tree edges are graph edges, ranking is nearest first."""

from __future__ import annotations

import itertools

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from whytoken.causal import PDSTree, pds_tree
from whytoken.errors import InvalidParameterError, NodeNotFoundError
from whytoken.graphs import PAG, Mark

_MARKS = (Mark.CIRCLE, Mark.ARROW, Mark.TAIL)


def random_pag(n: int, p: float, seed: int) -> PAG:
    rng = np.random.default_rng(seed)
    g = PAG(range(n))
    for u, v in itertools.combinations(range(n), 2):
        if rng.random() < p:
            g.add_edge(u, v, _MARKS[rng.integers(3)], _MARKS[rng.integers(3)])
    return g


def pds_step(g: PAG, u, v, w) -> bool:
    """(u, v, w) may be consecutive on a PDS path: triangle or collider at v."""
    return g.has_edge(u, w) or (g.mark(u, v) is Mark.ARROW and g.mark(w, v) is Mark.ARROW)


def brute_force_depths(g: PAG, root, max_depth=None) -> dict:
    """Shortest PDS walks by BFS over an explicit state graph (states = directed edges)."""
    states = nx.DiGraph()
    for v in g.adjacent(root):
        states.add_edge("start", (root, v))
    for u in g.nodes:
        for v in g.adjacent(u):
            for w in g.adjacent(v):
                if w not in (u, root) and pds_step(g, u, v, w):
                    states.add_edge((u, v), (v, w))
    depth = {root: 0}
    if "start" not in states:
        return depth
    for state, d in nx.single_source_shortest_path_length(states, "start").items():
        if state == "start" or (max_depth is not None and d > max_depth):
            continue
        node = state[1]
        depth[node] = min(depth.get(node, d), d)
    return depth


def test_example_collider_chain():
    g = PAG([0, 1, 2, 3, 4])
    g.add_edge(0, 1, Mark.CIRCLE, Mark.ARROW)
    g.add_edge(2, 1, Mark.CIRCLE, Mark.ARROW)   # collider at 1 on 0, 1, 2
    g.add_edge(2, 3, Mark.ARROW, Mark.ARROW)    # 2 <-> 3, but (1, 2, 3) is no collider: circle at 2 on 2 o-> 1
    g.add_edge(0, 4, Mark.TAIL, Mark.ARROW)
    t = pds_tree(g, 0)
    assert isinstance(t, PDSTree) and t.root == 0
    assert dict(t.depth) == {0: 0, 1: 1, 4: 1, 2: 2}
    assert t.parent == {1: 0, 4: 0, 2: 1}
    assert t.nodes_at(1) == [1, 4] and t.nodes_at(2) == [2] and t.nodes_at(3) == []
    assert t.ranked() == [1, 4, 2] == t.nodes
    assert t.path(2) == [0, 1, 2]
    assert 3 not in t and len(t) == 4
    with pytest.raises(NodeNotFoundError, match="node 3 is not in the PDS-tree of 0"):
        t.path(3)


def test_triangles_are_pds():
    g = PAG.complete(["a", "b", "c", "d"])
    t = pds_tree(g, "a")
    assert dict(t.depth) == {"a": 0, "b": 1, "c": 1, "d": 1}
    g.remove_edge("a", "d")
    g.remove_edge("a", "c")  # now a o-o b o-o c/d: no triangles with a, no colliders at b
    t = pds_tree(g, "a")
    assert dict(t.depth) == {"a": 0, "b": 1}


def test_max_depth_limits_the_tree():
    g = PAG(range(5))
    for i in range(4):  # 0 <-> 1 <-> 2 <-> 3 <-> 4: a collider path
        g.add_edge(i, i + 1, Mark.ARROW, Mark.ARROW)
    assert dict(pds_tree(g, 0).depth) == {0: 0, 1: 1, 2: 2, 3: 3, 4: 4}
    assert dict(pds_tree(g, 0, max_depth=2).depth) == {0: 0, 1: 1, 2: 2}
    assert pds_tree(g, 0, max_depth=2).max_depth == 2
    assert dict(pds_tree(g, 2, max_depth=0).depth) == {2: 0}


def test_ranking_ties_are_broken_by_value_not_insertion():
    g1 = PAG(["c", "a", "b", "r"])
    g2 = PAG(["r", "b", "a", "c"])
    for g in (g1, g2):
        for v in ("c", "a", "b"):
            g.add_edge("r", v)
    assert pds_tree(g1, "r").ranked() == pds_tree(g2, "r").ranked() == ["a", "b", "c"]


@settings(max_examples=80, deadline=None)
@given(seed=st.integers(0, 100_000), n=st.integers(2, 10), p=st.floats(0.15, 0.7),
       max_depth=st.one_of(st.none(), st.integers(0, 4)))
def test_depths_are_pds_distances_and_tree_edges_are_graph_edges(seed, n, p, max_depth):
    g = random_pag(n, p, seed)
    root = int(np.random.default_rng(seed).integers(n))
    t = pds_tree(g, root, max_depth=max_depth)
    assert t.depth[root] == 0 and root not in t.parent
    assert dict(t.depth) == brute_force_depths(g, root, max_depth)
    for node, parent in t.parent.items():
        assert g.has_edge(parent, node)                 # every tree edge is a graph edge
        assert t.depth[parent] <= t.depth[node] - 1     # parents are nearer to the root
        path = t.path(node)                              # a valid PDS walk of the right length
        assert path[0] == root and path[-1] == node and len(path) == t.depth[node] + 1
        assert path[-2] == parent
        assert all(g.has_edge(a, b) for a, b in zip(path, path[1:]))
        assert all(pds_step(g, a, b, c) for a, b, c in zip(path, path[1:], path[2:]))
    ranked = t.ranked()
    assert [t.depth[v] for v in ranked] == sorted(t.depth[v] for v in ranked)
    assert set(ranked) == set(t.depth) - {root}


def test_simple_pds_paths_are_covered():
    """Every node on a simple PDS path from the root is in the tree, no farther than that path."""
    for seed in range(30):
        g = random_pag(7, 0.45, seed)
        t = pds_tree(g, 0)
        skeleton = nx.Graph([e.nodes for e in g.edges()])
        if 0 not in skeleton:
            continue
        for target in skeleton:
            if target == 0:
                continue
            for path in nx.all_simple_paths(skeleton, 0, target):
                if all(pds_step(g, a, b, c) for a, b, c in zip(path, path[1:], path[2:])):
                    assert target in t and t.depth[target] <= len(path) - 1


def test_pds_tree_errors():
    g = PAG.complete([0, 1])
    with pytest.raises(NodeNotFoundError, match="root 5 is not in the graph"):
        pds_tree(g, 5)
    with pytest.raises(InvalidParameterError, match="max_depth must be an int >= 0 or None, got -1"):
        pds_tree(g, 0, max_depth=-1)
