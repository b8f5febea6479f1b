"""ICD-Sep set construction: the bulk (level at a time) construction equals the set-at-a-time reference."""

from __future__ import annotations

import numpy as np
import pytest

from whytoken.causal import icd_sep
from whytoken.causal.icd_sep import bitmasks, root_set_rows, root_sets
from whytoken.causal.orientation import ARROW


def random_marked_graph(n: int, density: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A random skeleton whose marks are arrowheads with probability 1/2 (else circles)."""
    rng = np.random.default_rng(seed)
    adj = np.triu(rng.random((n, n)) < density, 1)
    adj = adj | adj.T
    marks = np.where(adj, np.where(rng.random((n, n)) < 0.5, ARROW, 1), 0).astype(np.int8)
    return adj, marks


def reference_rows(root, r, usable, nb, arrow_in):
    return sorted(tuple(sorted(b for b in range(64 * 8) if (m >> b) & 1)) for m in root_sets(root, r, usable, nb,
                                                                                            arrow_in))


@pytest.mark.parametrize("seed", range(12))
def test_bulk_sets_equal_the_reference_on_random_graphs(seed):
    n = 14 + seed
    adj, marks = random_marked_graph(n, density=0.25 + 0.03 * (seed % 4), seed=seed)
    nb = bitmasks(adj)
    arrow_in = bitmasks((adj & (marks == ARROW)).T)
    rng = np.random.default_rng(100 + seed)
    checked = 0
    for root in range(n):
        usable = bitmasks(rng.random((1, n)) < 0.8)[0] & ~(1 << root)
        for r in (2, 3, 4):
            got = sorted(map(tuple, root_set_rows(root, r, usable, nb, arrow_in).tolist()))
            assert got == reference_rows(root, r, usable, nb, arrow_in), (seed, root, r)
            checked += len(got)
    assert checked > 0


def test_roots_with_more_candidates_than_an_int64_use_the_reference(monkeypatch):
    adj, marks = random_marked_graph(18, density=0.35, seed=3)
    nb = bitmasks(adj)
    arrow_in = bitmasks((adj & (marks == ARROW)).T)
    usable = (1 << 18) - 2
    bulk = root_set_rows(0, 3, usable, nb, arrow_in)
    monkeypatch.setattr(icd_sep.sep_growth, "LOCAL_BITS", 2)
    fallback = root_set_rows(0, 3, usable, nb, arrow_in)
    assert sorted(map(tuple, bulk.tolist())) == sorted(map(tuple, fallback.tolist()))
    assert bulk.shape[0] > 0


def test_sets_grown_from_the_previous_level_equal_sets_grown_from_scratch():
    from whytoken.causal.sep_growth import SetCache

    adj, marks = random_marked_graph(20, density=0.3, seed=7)
    nb = bitmasks(adj)
    arrow_in = bitmasks((adj & (marks == ARROW)).T)
    cache = SetCache()
    for r in (2, 3, 4, 5):
        for root in range(20):
            usable = ((1 << 20) - 1) & ~(1 << root)
            assert np.array_equal(root_set_rows(root, r, usable, nb, arrow_in, cache),
                                  root_set_rows(root, r, usable, nb, arrow_in))
        cache.advance()
