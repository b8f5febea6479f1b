"""Tests of the FCI orientation rules on mark matrices: one hand-made graph per rule, conflicts, order independence."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from whytoken.causal.orientation import (
    ARROW,
    CIRCLE,
    TAIL,
    SepsetTable,
    apply_rules,
    orient,
    orient_colliders,
    orient_pag,
)
from whytoken.errors import InvalidGraphError, InvalidParameterError
from whytoken.graphs import PAG, Mark

_LEFT = {"<": ARROW, "-": TAIL, "o": CIRCLE}
_RIGHT = {">": ARROW, "-": TAIL, "o": CIRCLE}


def graph(n: int, *edges: str) -> np.ndarray:
    """Mark matrix from edges written like ``"0 o-> 1"``."""
    m = np.zeros((n, n), dtype=np.int8)
    for text in edges:
        u, sym, v = text.split()
        u, v = int(u), int(v)
        m[v, u] = _LEFT[sym[0]]
        m[u, v] = _RIGHT[sym[-1]]
    return m


def edge(m: np.ndarray, u: int, v: int) -> str:
    left = {ARROW: "<", TAIL: "-", CIRCLE: "o"}[int(m[v, u])]
    right = {ARROW: ">", TAIL: "-", CIRCLE: "o"}[int(m[u, v])]
    return f"{left}-{right}"


# ---------------------------------------------------------------- R0
def test_r0_orients_unshielded_colliders_only_when_middle_not_in_sepset():
    m = graph(4, "0 o-o 1", "1 o-o 2", "2 o-o 3")
    out = orient_colliders(m, {(0, 2): (), (1, 3): (2,), (0, 3): ()})
    assert edge(out, 0, 1) == "o->" and edge(out, 2, 1) == "o->"  # 1 not in sepset(0, 2)
    assert edge(out, 2, 3) == "o-o"  # 2 in sepset(1, 3): no collider at 2 on 1, 2, 3
    assert edge(out, 1, 2) == "<-o"
    # no sepset recorded: no decision
    assert np.array_equal(orient_colliders(m, {}), m)


def test_r0_conflicting_colliders_give_bidirected_edges():
    # 0 - 1 - 2 - 3, with colliders at 1 (sepset(0,2)={}) and at 2 (sepset(1,3)={}): 1 <-> 2
    m = graph(4, "0 o-o 1", "1 o-o 2", "2 o-o 3")
    out = orient_colliders(m, {(0, 2): (), (1, 3): ()})
    assert edge(out, 1, 2) == "<->"


# ---------------------------------------------------------------- R1-R4
def test_r1_away_from_collider():
    m = graph(3, "0 o-> 1", "1 o-o 2")
    out = apply_rules(m, {}, [1])
    assert edge(out, 1, 2) == "-->"


def test_r1_not_when_shielded():
    m = graph(3, "0 o-> 1", "1 o-o 2", "0 o-o 2")
    assert np.array_equal(apply_rules(m, {}, [1]), m)


def test_r2_avoids_directed_cycles():
    m = graph(3, "0 --> 1", "1 o-> 2", "0 o-o 2")
    assert edge(apply_rules(m, {}, [2]), 0, 2) == "o->"
    m = graph(3, "0 o-> 1", "1 --> 2", "0 o-o 2")
    assert edge(apply_rules(m, {}, [2]), 0, 2) == "o->"


def test_r3_double_triangle():
    # 0 *-> 1 <-* 2, 0 *-o 3 o-* 2, 0 and 2 not adjacent, 3 *-o 1  =>  3 *-> 1
    m = graph(4, "0 o-> 1", "2 o-> 1", "0 o-o 3", "2 o-o 3", "3 o-o 1")
    assert edge(apply_rules(m, {}, [3]), 3, 1) == "o->"


@pytest.mark.parametrize("in_sepset, expected_bc", [(True, "-->"), (False, "<->")])
def test_r4_discriminating_path(in_sepset, expected_bc):
    # path <d=0, a=1, b=2, c=3>: 0 *-> 1 <-* 2, 1 --> 3, 0 and 3 not adjacent, 2 o-* 3
    m = graph(4, "0 o-> 1", "2 <-> 1", "1 --> 3", "2 o-o 3")
    seps = {(0, 3): (1, 2) if in_sepset else (1,)}
    out = apply_rules(m, seps, [4])
    assert edge(out, 2, 3) == expected_bc
    if not in_sepset:
        assert edge(out, 1, 2) == "<->"


def test_r4_longer_discriminating_path():
    # <0, 1, 2, 3, 4>: 0 *-> 1 <-> 2 <-* 3, 1 --> 4, 2 --> 4, 3 o-o 4
    m = graph(5, "0 o-> 1", "1 <-> 2", "3 <-> 2", "1 --> 4", "2 --> 4", "3 o-o 4")
    assert edge(apply_rules(m, {(0, 4): (1, 2, 3)}, [4]), 3, 4) == "-->"
    assert edge(apply_rules(m, {(0, 4): (1, 2)}, [4]), 3, 4) == "<->"


# ---------------------------------------------------------------- R5-R7 (selection bias)
def test_r5_uncovered_circle_cycle_becomes_undirected():
    # 0 o-o 1 o-o 2 o-o 3 o-o 0: uncovered circle path 0-1-2-3 with 0,2 and 1,3 not adjacent
    m = graph(4, "0 o-o 1", "1 o-o 2", "2 o-o 3", "3 o-o 0")
    out = apply_rules(m, {}, [5])
    assert all(edge(out, u, v) == "---" for u, v in [(0, 1), (1, 2), (2, 3), (3, 0)])


def test_r6_and_r7_tails():
    m = graph(3, "0 --- 1", "1 o-> 2")
    assert edge(apply_rules(m, {}, [6]), 1, 2) == "-->"
    m = graph(3, "0 --o 1", "1 o-o 2")
    assert edge(apply_rules(m, {}, [7]), 1, 2) == "--o"


# ---------------------------------------------------------------- R8-R10 (tails)
def test_r8():
    m = graph(3, "0 --> 1", "1 --> 2", "0 o-> 2")
    assert edge(apply_rules(m, {}, [8]), 0, 2) == "-->"
    m = graph(3, "0 --o 1", "1 --> 2", "0 o-> 2")
    assert edge(apply_rules(m, {}, [8]), 0, 2) == "-->"


def test_r9_uncovered_potentially_directed_path():
    # 0 o-> 3 and the uncovered p.d. path 0 o-o 1 o-> 2 --> 3 with 1, 3 not adjacent, 0, 2 not adjacent
    m = graph(4, "0 o-> 3", "0 o-o 1", "1 o-> 2", "2 --> 3")
    assert edge(apply_rules(m, {}, [9]), 0, 3) == "-->"
    # covered (0 adjacent to 2): no
    m2 = graph(4, "0 o-> 3", "0 o-o 1", "1 o-> 2", "2 --> 3", "0 o-o 2")
    assert edge(apply_rules(m2, {}, [9]), 0, 3) == "o->"


def test_r10():
    # 0 o-> 3, 1 --> 3 <-- 2, paths 0 o-> 1 and 0 o-> 2 (mu=1, omega=2 not adjacent)
    m = graph(4, "0 o-> 3", "1 --> 3", "2 --> 3", "0 o-> 1", "0 o-> 2")
    assert edge(apply_rules(m, {}, [10]), 0, 3) == "-->"
    m2 = graph(4, "0 o-> 3", "1 --> 3", "2 --> 3", "0 o-> 1", "0 o-> 2", "1 o-o 2")
    assert edge(apply_rules(m2, {}, [10]), 0, 3) == "o->"


# ---------------------------------------------------------------- full orientation and policies
def test_orient_y_structure():
    m = graph(4, "0 o-o 2", "1 o-o 2", "2 o-o 3")
    out = orient(m, {(0, 1): (), (0, 3): (2,), (1, 3): (2,)})
    assert [edge(out, 0, 2), edge(out, 1, 2), edge(out, 2, 3)] == ["o->", "o->", "-->"]
    # final=False stops after R1-R4 (R1 already gives the tail here)
    assert edge(orient(m, {(0, 1): (), (0, 3): (2,), (1, 3): (2,)}, final=False), 2, 3) == "-->"


def test_conflicting_proposals_resolve_to_arrowheads():
    # R1 wants 1 --> 2 (from 0 *-> 1), R1 also wants 2 --> 1 (from 3 *-> 2): both ends become arrowheads
    m = graph(4, "0 o-> 1", "1 o-o 2", "3 o-> 2")
    out = apply_rules(m, {}, [1])
    assert edge(out, 1, 2) == "<->"


def test_rules_only_change_circles():
    m = graph(3, "0 <-> 1", "1 --- 2")
    assert np.array_equal(apply_rules(m, {}, range(1, 11)), m)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 100_000), n=st.integers(4, 9))
def test_orientation_commutes_with_relabelling(seed, n):
    """Random skeletons, marks and (even inconsistent) sepsets: permuting nodes permutes the result."""
    rng = np.random.default_rng(seed)
    adj = np.triu(rng.random((n, n)) < 0.45, 1)
    adj = adj | adj.T
    m = np.where(adj, CIRCLE, 0).astype(np.int8)
    arrows = adj & (rng.random((n, n)) < 0.2)
    m[arrows] = ARROW
    seps = {}
    for i in range(n):
        for j in range(i + 1, n):
            if not adj[i, j]:
                seps[(i, j)] = frozenset(int(k) for k in np.flatnonzero(rng.random(n) < 0.3) if k not in (i, j))
    perm = rng.permutation(n)
    inv = np.argsort(perm)  # node i is called inv[i] after relabelling
    m2 = m[np.ix_(perm, perm)]
    seps2 = {tuple(sorted((int(inv[i]), int(inv[j])))): frozenset(int(inv[k]) for k in s) for (i, j), s in seps.items()}
    for kwargs in ({}, {"selection_bias": True}):
        a = orient(m, seps, **kwargs)
        b = orient(m2, seps2, **kwargs)
        assert np.array_equal(a[np.ix_(perm, perm)], b)


def test_orient_pag_on_labelled_graph():
    g = PAG(["x", "y", "z", "w"])
    for u, v in [("x", "z"), ("y", "z"), ("z", "w")]:
        g.add_edge(u, v)
    out = orient_pag(g, {frozenset({"x", "y"}): (), frozenset({"x", "w"}): ("z",), frozenset({"y", "w"}): ("z",)})
    assert out.mark("x", "z") is Mark.ARROW and out.mark("w", "z") is Mark.TAIL and out.mark("z", "w") is Mark.ARROW
    assert g.mark("x", "z") is Mark.CIRCLE  # input untouched


def test_sepset_table_is_a_mapping():
    t = SepsetTable(5)
    t.add_empty([0, 1], [2, 3])
    t.add(4, 1, [0, 2])
    assert len(t) == 3 and (0, 2) in t and t[(2, 0)] == t[(0, 2)] == frozenset()  # either order looks up
    assert dict(t) == {(0, 2): frozenset(), (1, 3): frozenset(), (1, 4): frozenset({0, 2})}
    assert t.get((0, 1)) is None
    with pytest.raises(KeyError):
        t[(0, 1)]


def test_orientation_errors():
    with pytest.raises(InvalidParameterError, match=r"unknown orientation rule\(s\) \[11\]"):
        apply_rules(np.zeros((2, 2), dtype=np.int8), {}, [1, 11])
    bad = np.zeros((3, 3), dtype=np.int8)
    bad[0, 1] = CIRCLE
    with pytest.raises(InvalidGraphError, match=r"not symmetric in adjacency at \(0, 1\)"):
        apply_rules(bad, {})


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 100_000), n=st.integers(3, 14), p=st.floats(0.2, 0.95))
def test_dense_rule_variants_propose_what_the_loops_propose(seed, n, p):
    """Dense graphs use matrix-product versions of R0-R4; they must agree with the per-node loops."""
    from whytoken.causal import orientation as o

    rng = np.random.default_rng(seed)
    adj = np.triu(rng.random((n, n)) < p, 1)
    adj = adj | adj.T
    m = np.where(adj, rng.choice([CIRCLE, ARROW, TAIL], size=(n, n), p=[0.5, 0.3, 0.2]), 0).astype(np.int8)
    seps = {(i, j): frozenset(int(k) for k in np.flatnonzero(rng.random(n) < 0.4) if k not in (i, j))
            for i in range(n) for j in range(i + 1, n) if not adj[i, j]}
    g = o._Graph(m)
    for loop, dense in ((o._rule1, o._rule1_dense), (o._rule2, o._rule2_dense), (o._rule3, o._rule3_dense)):
        a, b = [], []
        loop(g, a)
        dense(g, b)
        assert sorted(set(a)) == sorted(set(b)), loop.__name__
    a, b = [], []
    o._rule4(g, seps, a)
    o._rule4_dense(g, seps, b)
    assert sorted(set(a)) == sorted(set(b))
    # R0 (whichever path the density picks) against a direct triple loop
    expected = m.copy()
    for b_ in range(n):
        for a_ in range(n):
            for c_ in range(a_ + 1, n):
                if a_ != b_ != c_ and adj[a_, b_] and adj[c_, b_] and not adj[a_, c_] and b_ not in seps[(a_, c_)]:
                    expected[a_, b_] = expected[c_, b_] = ARROW
    assert np.array_equal(orient_colliders(m, seps), expected)
    table = SepsetTable(n)
    for (i, j), s in seps.items():
        table.add(i, j, s)
    assert np.array_equal(orient_colliders(m, table), expected)
