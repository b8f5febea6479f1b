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
``r_xy.z = (r_xy - r_xz r_yz) / sqrt((1 - r_xz^2)(1 - r_yz^2))``. With
``S = 1 / sqrt(1 - R**2)`` precomputed once, one "pivot" node at a time (the
later node of each pair with an order, the first node without one) gives a
block of ``|r_xy.z|`` over (other node, z) in five elementwise passes; the
candidate mask is folded into ``S`` (non-candidates get ``inf``) and a
NaN-ignoring minimum per row gives the best conditioning node. Only the rows
whose minimum can be independent are revisited: their best few ``z`` are
recomputed with the closed form of the CI test itself, so decisions and
p-values are the CI test's to the last bit (the screening formula differs by
a few ulps; its relative error is far inside the margin used to pick the
entries to recompute). Memory stays at one ``(H, n, n)`` block.

Backends. ``backend="numpy"`` (default) runs on the CPU. ``backend="torch"``
runs the screening pass with torch in float64 on the stack's device (a CUDA
GPU when the attention is a CUDA tensor or ``device="cuda"``), imported only
then; the exact recomputation stays in numpy, so both backends return the
same decisions and p-values (float64 elementwise arithmetic is IEEE-exact on
both; the tests check equality).

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

from whytoken.causal.ci_tests import _DEGENERATE_VARIANCE, _partial_corr_order1, fisher_z_pvalue
from whytoken.errors import InvalidParameterError

__all__ = ["Level1Hits", "level0", "level1", "BACKENDS"]

logger = logging.getLogger(__name__)

#: Backends of :func:`level1`.
BACKENDS = ("numpy", "torch")
#: Relative margin of the screening pass (its error against the exact closed form is ~1e-15).
_REL_MARGIN = 1e-12
#: Absolute margin in |r| that covers a relative tie band of 1e-9 in the p-value (<= 1.25e-9 in |r|).
_ABS_BAND = 1e-8


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


def _inverse_scale(r: np.ndarray, degenerate: float = np.inf) -> np.ndarray:
    """``1 / sqrt(1 - r^2)``; ``degenerate`` where the CI test calls the variance degenerate and on the diagonal."""
    v = 1.0 - r * r  # the exact arithmetic of _partial_corr_order1
    with np.errstate(divide="ignore"):
        s = np.where(v > _DEGENERATE_VARIANCE, 1.0 / np.sqrt(np.maximum(v, _DEGENERATE_VARIANCE)), degenerate)
    idx = np.arange(r.shape[1])
    s[:, idx, idx] = degenerate
    return s


#: Elements per screening block: 32k float64 = 256 KB, so that the block's passes stay in the L2 cache.
_BLOCK = 1 << 15
#: Factor standing for "not a candidate" (and for degenerate or excluded z) in the screening pass:
#: finite, so that no entry is NaN and a plain argmin finds the best z.
_FAR = 1e300
#: Pivots adjacent to all but this share of the z skip the candidate mask in the screen.
_DENSE_FRACTION = 0.02


#: Screening precision: float32 halves the memory traffic; every entry that can matter is recomputed exactly.
_SCREEN_DTYPE = np.float32
#: "Not a candidate" factor in float32 (finite: 0 * _FAR32 is 0; |num| * _FAR32 overflows to inf at worst).
_FAR32 = 1e30
#: Heads whose largest finite S = 1 / sqrt(1 - r^2) exceeds this (near-twins, |r| > 0.998) are screened in float64.
_F32_MAX_SCALE = 16.0


def _screen_numpy(r: np.ndarray, adj: np.ndarray, ordered: bool, r_hi: float):
    """The screening pass: per head, (row, pivot, z) entries that can hold a pair's best independent z.

    Entries are ``q = |R_xp - R_xz R_pz| S_xz S_pz`` (``|r_xp.z|``) in
    float32; ``z`` equal to the row or the pivot is pushed out of reach by a
    diagonal of 2 in the product term (the numerator becomes ``-R_xp``,
    nonzero on an edge) times a huge factor. The float32 error of an entry
    is at most ``6u S_xz S_pz + 4u q`` (``u = 2**-24``: R rounded to float32,
    one product, one difference, two scalings), so with ``E`` that bound over
    the row (``S`` at its largest finite value in the row and the pivot's
    row), every ``z`` whose exact value can be within the tie band of the
    exact minimum has a screened value within ``2E + band`` of the screened
    minimum, and a pair can be independent only if its screened minimum is
    within ``E`` of the threshold: those entries are returned and recomputed
    exactly by :func:`_recheck`, which also catches entries whose numerator
    is exactly zero next to a huge factor (twins: ``|R_xz| = 1``). A head
    with near-twins (a finite ``S`` above 16) would make that bound wide and
    most entries contenders; it is screened in float64 (``u = 2**-53``).
    """
    h_count, n, _ = r.shape
    s_all = _inverse_scale(r, degenerate=_FAR)
    out: list[tuple[np.ndarray, ...]] = []
    idx = np.arange(n)
    with np.errstate(over="ignore", invalid="ignore"):
        for h in range(h_count):
            finite = np.where(s_all[h] < _FAR, s_all[h], 0.0)
            # near-twins (large finite S) widen float32's error bound until most z become contenders:
            # such heads are screened in float64, whose bound stays ~1e-15
            dtype = _SCREEN_DTYPE if finite.max() <= _F32_MAX_SCALE else np.float64
            buf = np.empty(_BLOCK + n, dtype=dtype)
            fac = np.empty(_BLOCK + n, dtype=dtype)
            _screen_head(r[h], adj[h], s_all[h], h, ordered, r_hi, buf, fac, idx, out)
    return out


def _screen_head(rh0: np.ndarray, ah: np.ndarray, sh0: np.ndarray, h: int, ordered: bool, r_hi: float,
                 buf: np.ndarray, fac: np.ndarray, idx: np.ndarray, out: list) -> None:
    """Screen one head (see :func:`_screen_numpy`); appends (head, row, pivot, z) arrays to ``out``."""
    n = rh0.shape[0]
    dtype = buf.dtype
    unit = float(np.finfo(dtype).eps) / 2.0  # unit roundoff of the screening precision
    big = _FAR32 if dtype == np.float32 else _FAR
    finite = np.where(sh0 < _FAR, sh0, 0.0)
    s_max = finite.max(axis=1)  # the largest finite scale of each row (bounds the screening error)
    rh = rh0.astype(dtype)
    col = rh.copy()
    rh[idx, idx] = 2.0
    sh = np.where(sh0 < _FAR, sh0, big).astype(dtype)
    # a huge factor where z is not adjacent to the row node, added where it is not adjacent to the pivot
    far = np.where(ah, 0.0, big).astype(dtype)
    band = _ABS_BAND + _REL_MARGIN
    for pivot in range(n):
        if ordered:
            lo, hi, c1 = 0, pivot, pivot  # rows: nodes before the pivot; z: before the pivot too
        else:
            lo, hi, c1 = pivot + 1, n, n  # rows: nodes after the pivot; z: any
        if hi <= lo or c1 == 0 or not ah[lo:hi, pivot].any():
            continue
        r_p, s_p = rh[pivot, :c1], sh[pivot, :c1]
        off_p = (~ah[pivot, :c1]).astype(dtype)  # 1 where z is not adjacent to the pivot
        # when the pivot is adjacent to almost every z, the mask costs more than the few non-candidates
        # the screen then lets through (_recheck lists their pairs in full)
        dense_p = off_p.sum() <= _DENSE_FRACTION * c1
        step = max(1, _BLOCK // c1)
        for b0 in range(lo, hi, step):
            b1 = min(hi, b0 + step)
            is_edge = ah[b0:b1, pivot]
            if not is_edge.any():
                continue
            m = b1 - b0
            q = buf[: m * c1].reshape(m, c1)
            f = fac[: m * c1].reshape(m, c1)
            np.multiply(rh[b0:b1, :c1], r_p, out=q)
            np.subtract(col[b0:b1, pivot, None], q, out=q)
            np.abs(q, out=q)
            if dense_p:  # z adjacent to neither the row nor the pivot is rare: screen every z
                q *= sh[b0:b1, :c1]
            else:
                np.multiply(far[b0:b1, :c1], off_p, out=f)
                f += sh[b0:b1, :c1]
                q *= f
            q *= s_p
            arg = q.argmin(axis=1)
            rows = np.arange(m)
            best = q[rows, arg].astype(np.float64)
            err = 6.2 * unit * s_max[b0:b1] * s_max[pivot] + 4.2 * unit * (best + 1.0)
            hit = is_edge & (best <= r_hi + err)
            if not hit.any():
                continue
            mm = np.flatnonzero(hit)
            am = arg[mm]
            # ties and near-ties: is another z within reach of the best? (the best is masked out for one pass)
            saved = q[mm, am]
            q[mm, am] = np.inf
            cap = best[mm] + 2.0 * err[mm] + band
            second = q.min(axis=1)[mm]
            tied = second <= cap
            rr, zs = [mm], [am]
            if tied.any():
                q[mm, am] = saved
                kk, zz = np.nonzero(q[mm[tied]] <= cap[tied, None])
                keep = zz != am[tied][kk]
                rr.append(mm[tied][kk][keep])
                zs.append(zz[keep])
            rows_out = np.concatenate(rr)
            out.append((np.full(rows_out.size, h, dtype=np.intp), rows_out + b0,
                        np.full(rows_out.size, pivot, dtype=np.intp), np.concatenate(zs)))


def _screen_torch(r: np.ndarray, adj: np.ndarray, ordered: bool, r_hi: float, device: Any):
    """The screening pass with torch (float64) on ``device``: the arithmetic of :func:`_screen_numpy`."""
    import torch  # imported only for the torch backend

    dev = torch.device(device) if device is not None else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    rt = torch.as_tensor(r, dtype=torch.float64, device=dev)
    at = torch.as_tensor(adj, device=dev)
    st = torch.as_tensor(_inverse_scale(r, degenerate=_FAR), device=dev)
    r2 = rt.clone()
    idx = torch.arange(r.shape[1], device=dev)
    r2[:, idx, idx] = 2.0
    far = torch.where(at, torch.zeros((), dtype=torch.float64, device=dev),
                      torch.full((), _FAR, dtype=torch.float64, device=dev))
    inf = torch.full((), float("inf"), dtype=torch.float64, device=dev)
    n = r.shape[1]
    out: list[tuple[np.ndarray, ...]] = []
    for pivot in range(n):
        lo, hi, c1 = (0, pivot, pivot) if ordered else (pivot + 1, n, n)
        if hi <= lo or c1 == 0:
            continue
        is_edge = at[:, lo:hi, pivot]
        q = r2[:, lo:hi, :c1] * r2[:, pivot, None, :c1]
        q = torch.abs(rt[:, lo:hi, pivot, None] - q)
        f = far[:, lo:hi, :c1] * (~at[:, pivot, None, :c1]).to(torch.float64)
        f = f + st[:, lo:hi, :c1]
        q = q * f
        q = q * st[:, pivot, None, :c1]
        best, arg = q.min(dim=2)
        hit = is_edge & (best <= r_hi)
        if not bool(hit.any()):
            continue
        hh, mm = torch.nonzero(hit, as_tuple=True)
        am = arg[hh, mm]
        saved = q[hh, mm, am]
        cap = saved * (1.0 + _REL_MARGIN) + _ABS_BAND
        q[hh, mm, am] = inf
        tied = q[hh, mm].min(dim=1).values <= cap
        parts = [(hh, mm, am)]
        if bool(tied.any()):
            q[hh, mm, am] = saved
            th, tm, tc, ta = hh[tied], mm[tied], cap[tied], am[tied]
            kk, zz = torch.nonzero(q[th, tm] <= tc[:, None], as_tuple=True)
            keep = zz != ta[kk]
            parts.append((th[kk][keep], tm[kk][keep], zz[keep]))
        for ph, pm, pz in parts:
            ph, pm, pz = (t.cpu().numpy().astype(np.intp) for t in (ph, pm, pz))
            out.append((ph, pm + lo, np.full(ph.size, pivot, dtype=np.intp), pz))
    return out


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
    """Per head: the number of (edge, z) candidates of level 1 (what test_batch would count)."""
    counts = np.zeros(adj.shape[0], dtype=np.int64)
    a32 = adj.astype(np.float32)
    n = adj.shape[1]
    for h in range(adj.shape[0]):
        a = a32[h]
        if ordered:
            # pair x < y: z < y adjacent to x or y, z != x: deg_<y(x) + deg_<y(y) - common_<y(x, y) - 1
            prefix = np.cumsum(a, axis=1)  # prefix[x, k] = #{z <= k : a[x, z]}
            total = 0
            for y in range(1, n):
                xs = np.flatnonzero(adj[h, y, :y])
                if xs.size == 0:
                    continue
                common = a[xs, :y] @ a[y, :y]
                deg_x = prefix[xs, y - 1]
                total += int(np.rint(deg_x.sum() + xs.size * prefix[y, y - 1] - common.sum())) - xs.size
            counts[h] = total
        else:
            common = a @ a
            deg = a.sum(axis=1)
            iu, ju = np.nonzero(np.triu(adj[h], 1))
            counts[h] = int(np.rint((deg[iu] + deg[ju] - common[iu, ju]).sum())) - 2 * iu.size
    return counts


def level1(
    correlation: Any,
    adjacency: Any,
    *,
    n_samples: int,
    alpha: float,
    ordered: bool = False,
    tie_rtol: float = 1e-9,
    backend: str = "numpy",
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
    backend : {"numpy", "torch"}
        Where the screening pass runs (see the module docstring).
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
    if backend == "torch":
        found = _screen_torch(r, adj, ordered, r_hi, device)
    else:
        found = _screen_numpy(r, adj, ordered, r_hi)
    counts = _count_candidates(adj, ordered)
    h_count = r.shape[0]
    empty = np.empty(0, dtype=np.intp)
    if not found:
        return [Level1Hits(empty, empty, empty, np.empty(0), int(c)) for c in counts]
    hh, aa, bb, zz = (np.concatenate(v) for v in zip(*found))
    xs, ys = np.minimum(aa, bb), np.maximum(aa, bb)
    # the CI test's own arithmetic for every entry that can matter
    hh, xs, ys, zz, rr = _recheck(r, adj, ordered, hh, xs, ys, zz)
    _, p = fisher_z_pvalue(rr, n_samples, 1)
    key = (hh.astype(np.int64) * r.shape[1] + xs) * r.shape[1] + ys
    order = np.lexsort((-p, key))
    key_s, p_s = key[order], p[order]
    first = np.ones(order.size, dtype=bool)
    first[1:] = key_s[1:] != key_s[:-1]
    group = np.cumsum(first) - 1
    p_best = p_s[first][group]
    keep = (p_s > alpha) & (p_best > alpha) & (p_s >= p_best * (1.0 - tie_rtol))
    sel = order[keep]
    out = []
    for h in range(h_count):
        mine = sel[hh[sel] == h]
        mine = mine[np.lexsort((zz[mine], ys[mine], xs[mine]))]
        out.append(Level1Hits(xs[mine].astype(np.intp), ys[mine].astype(np.intp), zz[mine].astype(np.intp),
                              p[mine], int(counts[h])))
    logger.debug("level 1: %s independent tests kept over %d heads", [o.x.size for o in out], h_count)
    return out
