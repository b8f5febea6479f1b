"""Batched evidence for ICD's first two levels: every pair marginally, then given each single neighbour.

ICD's levels 0 and 1 test every pair ``x, y`` of tokens, first marginally and
then given each single node ``z`` that may condition the pair (a neighbour of
``x`` or ``y`` after level 0; with a causal order, one earlier than the later
of the two). On attention correlations they are most of the work: a dense
600-token head has ~165,000 edges after level 0 and ~60 million level-1
tests. This module runs them for a whole stack of heads ``(H, n, n)`` at once
on the correlation matrices, without listing triples:

* :func:`level0` -- the marginal decisions of every pair of every head.
* :func:`level1` -- for every edge left after level 0, the single-node
  separating sets with the largest p-value (ties included), exactly as
  :meth:`~whytoken.causal.ci_tests.PartialCorrelationTest.test_batch` would
  find them one triple at a time.

How level 1 is computed. The order-1 partial correlation is
``r_xy.z = (r_xy - r_xz r_yz) / sqrt((1 - r_xz^2)(1 - r_yz^2))`` and an edge's
best separating node is the ``z`` of smallest ``|r_xy.z|``. A screen
(:mod:`whytoken.causal.screen`) walks every (edge, z) entry of the stack and
lists, for the edges whose smallest value can be independent, the entries
within a margin of it (near-ties included); only those are recomputed with
the closed form of the CI test itself, so decisions and p-values are the CI
test's to the last bit (the screening arithmetic differs by a few ulps, far
inside the margin). Memory stays at a few ``(n, n)`` arrays per head.

Backends. ``backend=None`` (default) uses the compiled screen where numba is
installed (``"numba"``) and numpy otherwise; ``backend="torch"`` runs the
screen with torch in float64 on the stack's device (a CUDA GPU when the
attention is a CUDA tensor or ``device="cuda"``), imported only then. The
exact recomputation always runs in numpy, so every backend returns the same
decisions and p-values (the tests check equality).

Examples
--------
>>> import numpy as np
>>> from whytoken.causal.evidence import level0, level1
>>> R = np.array([[1.0, 0.5, 0.5], [0.5, 1.0, 0.25], [0.5, 0.25, 1.0]])[None]
>>> adj = level0(R, n_samples=1000, alpha=0.01)
>>> int(adj[0].sum()) // 2                         # every pair is marginally dependent
3
>>> hits = level1(R, adj, n_samples=1000, alpha=0.01)
>>> hits[0].x.tolist(), hits[0].y.tolist(), hits[0].z.tolist()   # 1 _||_ 2 | 0
([1], [2], [0])
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import erfcinv

from whytoken.causal.ci_tests import _partial_corr_order1, fisher_z_pvalue
from whytoken.causal.screen import BACKENDS, default_backend, screen
from whytoken.errors import InvalidParameterError

__all__ = ["Level1Hits", "level0", "level1", "BACKENDS", "default_backend"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Level1Hits:
    """The level-1 outcome of one head.

    Attributes
    ----------
    x, y : ndarray of int, shape (m,)
        Pairs (``x < y``) that have an independent single-node conditioning set.
    z : ndarray of int, shape (m,)
        The conditioning node; a pair appears once per node tied for its
        largest p-value.
    p_value : ndarray of float, shape (m,)
    n_tests : int
        Candidate (pair, z) tests the level stands for (as counted by
        ``test_batch``).
    """

    x: np.ndarray
    y: np.ndarray
    z: np.ndarray
    p_value: np.ndarray
    n_tests: int


def _check_stack(r: Any, name: str = "correlation") -> np.ndarray:
    arr = np.asarray(r, dtype=np.float64)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3 or arr.shape[1] != arr.shape[2]:
        raise InvalidParameterError(
            f"{name} must have shape (heads, n, n) or (n, n), got {arr.shape}; stack one matrix per head"
        )
    return arr


def _r_alpha(n_samples: int, alpha: float, k: int) -> float:
    """|r| at which the Fisher-z p-value equals ``alpha`` for conditioning size ``k``."""
    dof = n_samples - k - 3
    if dof <= 0:
        raise InvalidParameterError(
            f"conditioning-set size {k} is too large for n_samples={n_samples}: Fisher's z needs N - |Z| - 3 > 0; "
            "use more samples"
        )
    return float(np.tanh(np.sqrt(2.0) * erfcinv(alpha) / np.sqrt(dof)))


def level0(correlation: Any, *, n_samples: int, alpha: float) -> np.ndarray:
    """Adjacency after the marginal tests: ``adj[h, x, y]`` iff ``x`` and ``y`` are dependent in head ``h``.

    Decisions equal :meth:`PartialCorrelationTest.test_batch` with an empty
    conditioning set (p-values are computed exactly for the pairs within a
    hair of the threshold; the rest are decided by ``|r|``).

    Parameters
    ----------
    correlation : array_like, shape (H, n, n) or (n, n)
    n_samples : int
    alpha : float

    Returns
    -------
    ndarray of bool, shape (H, n, n)
        Symmetric, False on the diagonal.
    """
    r = _check_stack(correlation)
    thr = _r_alpha(n_samples, alpha, 0)
    mag = np.abs(r)
    adj = mag >= thr
    near = np.abs(mag - thr) <= 1e-9 * max(thr, 1e-300) + 1e-15
    if near.any():
        h, i, j = np.nonzero(near)
        _, p = fisher_z_pvalue(r[h, i, j], n_samples, 0)
        adj[h, i, j] = ~(p > alpha)
    idx = np.arange(r.shape[1])
    adj[:, idx, idx] = False
    return adj


def _exact_order1(r: np.ndarray, hh: np.ndarray, xs: np.ndarray, ys: np.ndarray, zz: np.ndarray) -> np.ndarray:
    return _partial_corr_order1(r[hh, xs, ys], r[hh, xs, zz], r[hh, ys, zz])


def _recheck(r: np.ndarray, adj: np.ndarray, ordered: bool, hh: np.ndarray, xs: np.ndarray, ys: np.ndarray,
             zz: np.ndarray) -> tuple[np.ndarray, ...]:
    """Exact partial correlations of the screened entries; pairs the screen may have misjudged get all candidates.

    The screening pass stands for "not a candidate" and for degenerate
    variances with a huge finite factor, which only fails when the
    numerator next to it is exactly zero (e.g. twin tokens, ``|R_xz| = 1``):
    such an entry comes out 0 and can hide the real best. Every pair with a
    screened entry that is not a candidate or whose exact partial
    correlation is undefined is therefore recomputed over all its candidates.
    """
    rr = _exact_order1(r, hh, xs, ys, zz)
    ok = (adj[hh, xs, zz] | adj[hh, ys, zz]) & np.isfinite(rr)
    if ok.all():
        return hh, xs, ys, zz, rr
    n = adj.shape[1]
    bad = np.unique(np.stack([hh[~ok], xs[~ok], ys[~ok]], axis=1), axis=0)
    keep = ~np.isin((hh * n + xs) * n + ys, (bad[:, 0] * n + bad[:, 1]) * n + bad[:, 2])
    parts = [(hh[keep], xs[keep], ys[keep], zz[keep])]
    for h, x, y in bad.tolist():
        cand = adj[h, x] | adj[h, y]
        cand[[x, y]] = False
        if ordered:
            cand[y:] = False
        z = np.flatnonzero(cand)
        parts.append((np.full(z.size, h), np.full(z.size, x), np.full(z.size, y), z))
    hh, xs, ys, zz = (np.concatenate(v).astype(np.intp) for v in zip(*parts))
    return hh, xs, ys, zz, _exact_order1(r, hh, xs, ys, zz)


def _count_candidates(adj: np.ndarray, ordered: bool) -> np.ndarray:
    """Per head: the number of (edge, z) candidates of level 1 (what test_batch would count).

    An edge ``x < y`` has ``deg(x) + deg(y) - common(x, y) - 2`` candidates
    (``z`` adjacent to either end, the ends themselves excluded); with an
    order only ``z < y`` count, which the prefix degrees and
    ``sum(A * L^T L)`` (``L``: the edges to earlier nodes) give without a
    loop. Counts are small integers, exact in float32 products.
    """
    counts = np.zeros(adj.shape[0], dtype=np.int64)
    for h in range(adj.shape[0]):
        a = adj[h].astype(np.float32)
        iu, ju = np.nonzero(np.triu(adj[h], 1))
        if iu.size == 0:
            continue
        if ordered:
            # z < y adjacent to x or y, z != x: deg_<y(x) + deg_<y(y) - common_<y(x, y) - 1
            prefix = np.cumsum(adj[h], axis=1, dtype=np.int64)  # prefix[x, k] = #{z <= k : a[x, z]}
            lower = np.tril(a, -1)  # lower[y, x] = a[y, x] for x < y
            common = float(np.sum(a * (lower.T @ lower), dtype=np.float64))
            total = int((prefix[iu, ju - 1] + prefix[ju, ju - 1]).sum()) - int(round(common)) - iu.size
        else:
            common = a @ a
            deg = adj[h].sum(axis=1)
            total = int((deg[iu] + deg[ju]).sum()) - int(np.rint(common[iu, ju].astype(np.float64).sum())) - 2 * iu.size
        counts[h] = total
    return counts


def level1(
    correlation: Any,
    adjacency: Any,
    *,
    n_samples: int,
    alpha: float,
    ordered: bool = False,
    tie_rtol: float = 1e-9,
    backend: str | None = None,
    device: Any = None,
) -> list[Level1Hits]:
    """The best independent single-node conditioning sets of every edge, for a stack of heads.

    For each head ``h`` and each edge ``x < y`` of ``adjacency[h]``, tests
    ``x _||_ y | z`` for every ``z`` adjacent to ``x`` or ``y`` (and, with
    ``ordered=True``, earlier than ``y``: node indices are then positions in
    the causal order), and returns the independent tests whose p-value is
    within ``tie_rtol`` (relative) of the pair's largest.

    Parameters
    ----------
    correlation : array_like, shape (H, n, n) or (n, n)
        Correlation matrices (symmetric, unit diagonal), e.g. from
        :func:`~whytoken.causal.ci_tests.attention_to_correlation`.
    adjacency : array_like of bool, shape (H, n, n)
        The graphs after level 0 (see :func:`level0`).
    n_samples, alpha : int, float
        Fisher-z sample size and significance level.
    ordered : bool
        Whether node indices are a causal order (conditioning nodes must come
        before the later node of the pair).
    tie_rtol : float
        Relative p-value tolerance for ties.
    backend : {"numba", "numpy", "torch"}, optional
        Where the screening pass runs (default: "numba" where numba is
        installed, else "numpy"; see the module docstring).
    device : str or torch.device, optional
        Torch device (default: CUDA when available, else CPU).

    Returns
    -------
    list of Level1Hits
        One per head.

    Raises
    ------
    InvalidParameterError
        If the shapes disagree or ``backend`` is unknown.
    """
    if backend is None:
        backend = default_backend()
    if backend not in BACKENDS:
        raise InvalidParameterError(f"backend={backend!r} is unknown; expected one of {', '.join(BACKENDS)}")
    r = _check_stack(correlation)
    adj = np.asarray(adjacency, dtype=bool)
    if adj.ndim == 2:
        adj = adj[None]
    if adj.shape != r.shape:
        raise InvalidParameterError(
            f"adjacency has shape {adj.shape} but the correlation stack has shape {r.shape}; pass one graph per head"
        )
    r_alpha = _r_alpha(n_samples, alpha, 1)
    r_hi = r_alpha * (1.0 + 1e-9) + 1e-12
    hh, aa, bb, zz = screen(r, adj, ordered=ordered, r_hi=r_hi, backend=backend, device=device)
    counts = _count_candidates(adj, ordered)
    h_count, n = r.shape[0], r.shape[1]
    empty = np.empty(0, dtype=np.intp)
    if hh.size == 0:
        return [Level1Hits(empty, empty, empty, np.empty(0), int(c)) for c in counts]
    xs, ys = np.minimum(aa, bb), np.maximum(aa, bb)
    # the CI test's own arithmetic for every entry that can matter
    hh, xs, ys, zz, rr = _recheck(r, adj, ordered, hh, xs, ys, zz)
    _, p = fisher_z_pvalue(rr, n_samples, 1)
    # group by (head, pair): the screens list a pair's entries together, so a stable sort is near-linear
    key = (hh.astype(np.int64) * n + xs) * n + ys
    order = np.argsort(key, kind="stable")
    key_s = key[order]
    first = np.ones(order.size, dtype=bool)
    first[1:] = key_s[1:] != key_s[:-1]
    starts = np.flatnonzero(first)
    p_s = p[order]
    p_top = np.maximum.reduceat(p_s, starts)
    p_best = np.repeat(p_top, np.diff(np.append(starts, order.size)))
    keep = (p_s > alpha) & (p_best > alpha) & (p_s >= p_best * (1.0 - tie_rtol))
    sel = order[keep]
    sel = sel[np.argsort((key[sel] * n + zz[sel]), kind="stable")]  # by head, x, y, z
    bounds = np.searchsorted(hh[sel], np.arange(h_count + 1))
    out = []
    for h in range(h_count):
        mine = sel[bounds[h] : bounds[h + 1]]
        out.append(Level1Hits(xs[mine].astype(np.intp), ys[mine].astype(np.intp), zz[mine].astype(np.intp),
                              p[mine], int(counts[h])))
    logger.debug("level 1: %s independent tests kept over %d heads", [o.x.size for o in out], h_count)
    return out
