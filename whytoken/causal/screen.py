"""The level-1 screen: which (pair, z) entries can hold a pair's best independent single-node separating set.

ICD's level 1 (:func:`whytoken.causal.evidence.level1`) tests every edge
``x *-* y`` given every single node ``z`` adjacent to either end, and keeps,
per edge, the independent tests of largest p-value. The order-1 partial
correlation is ``r_xy.z = (r_xy - r_xz r_yz) / sqrt((1 - r_xz^2)(1 - r_yz^2))``
and the p-value falls as ``|r_xy.z|`` grows, so the best ``z`` of an edge
is the one of smallest ``|r_xy.z|``. A *screen* walks every (edge, z) entry
and returns, for each edge whose smallest ``|r_xy.z|`` can be independent,
the entries within a margin of that smallest value (its near-ties
included); :func:`~whytoken.causal.evidence.level1` then recomputes those few
entries with the CI test's own arithmetic, so the decisions and p-values do
not depend on the screen's rounding.

One "pivot" node at a time (the later node of each pair with a causal order,
the earlier one without) gives the entries over (other node, z). With
``S = 1 / sqrt(1 - R**2)`` computed once, an entry is
``q = |R_xp - R_xz R_pz| S_xz S_pz``. Entries that are not candidates (``z``
adjacent to neither end, ``z`` equal to an end) and degenerate ones (the CI
test reports ``1 - r^2 <= 1e-10`` as dependent) are pushed out of reach.

Backends
--------
``"numba"``
    A compiled float64 loop (:mod:`numba`, imported on first use): one pass
    over the entries of each (pair, pivot) row, a four-way minimum, and a
    pass that lists the entries within the margin. Its error against the
    closed form is a few ulps, far inside the margin (relative 1e-12 plus
    an absolute 1e-8 that covers the learners' relative p-value tie band
    of 1e-9). The default where numba is installed.
``"numpy"``
    Blocks of entries as numpy passes in float32 with a proven error bound
    (heads with near-twin tokens, whose ``S`` is large, in float64).
``"torch"``
    The numpy arithmetic in float64 on a torch device (a GPU), imported only
    then.

All three return a superset of the entries that matter; the result of
:func:`~whytoken.causal.evidence.level1` is the same with each (tested).

Examples
--------
>>> import numpy as np
>>> from whytoken.causal.screen import screen
>>> R = np.array([[1.0, 0.5, 0.5], [0.5, 1.0, 0.25], [0.5, 0.25, 1.0]])[None]
>>> adj = np.ones((1, 3, 3), dtype=bool); adj[0, [0, 1, 2], [0, 1, 2]] = False
>>> h, row, pivot, z = screen(R, adj, ordered=True, r_hi=0.1, backend="numpy")
>>> row.tolist(), pivot.tolist(), z.tolist()      # pair (1, 2) given 0: r_12.0 = 0
([1], [2], [0])
"""

from __future__ import annotations

import importlib.util
import logging
from typing import Any

import numpy as np

from whytoken.causal.ci_tests import _DEGENERATE_VARIANCE
from whytoken.errors import InvalidParameterError

__all__ = ["screen", "BACKENDS", "default_backend", "inverse_scale"]

logger = logging.getLogger(__name__)

#: Screening backends (see the module docstring).
BACKENDS = ("numba", "numpy", "torch")
#: Relative margin of the screening pass (its error against the exact closed form is ~1e-15).
_REL_MARGIN = 1e-12
#: Absolute margin in |r| that covers a relative tie band of 1e-9 in the p-value (<= 1.25e-9 in |r|).
_ABS_BAND = 1e-8


def default_backend() -> str:
    """``"numba"`` where numba is installed, else ``"numpy"`` (same results; numpy is several times slower).

    Examples
    --------
    >>> default_backend() in ("numba", "numpy")
    True
    """
    if importlib.util.find_spec("numba") is not None:
        return "numba"
    if not getattr(default_backend, "_warned", False):
        logger.warning("numba is not installed: ICD's level-1 screen runs in numpy (same results, several times "
                       "slower); install it with `pip install numba`")
        default_backend._warned = True  # type: ignore[attr-defined]
    return "numpy"


def inverse_scale(r: np.ndarray, degenerate: float = np.inf) -> np.ndarray:
    """``1 / sqrt(1 - r^2)`` of a ``(H, n, n)`` stack; ``degenerate`` where the CI test calls the variance degenerate
    (``1 - r^2 <= 1e-10``) and on the diagonal.

    Examples
    --------
    >>> inverse_scale(np.array([[[1.0, 0.6], [0.6, 1.0]]])).tolist()
    [[[inf, 1.25], [1.25, inf]]]
    """
    v = 1.0 - r * r  # the exact arithmetic of ci_tests._partial_corr_order1
    with np.errstate(divide="ignore"):
        s = np.where(v > _DEGENERATE_VARIANCE, 1.0 / np.sqrt(np.maximum(v, _DEGENERATE_VARIANCE)), degenerate)
    idx = np.arange(r.shape[1])
    s[:, idx, idx] = degenerate
    return s


def screen(r: np.ndarray, adj: np.ndarray, *, ordered: bool, r_hi: float, backend: str = "numba",
           device: Any = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The entries that can hold each edge's best independent ``z``, for a stack of heads.

    Parameters
    ----------
    r : ndarray, shape (H, n, n)
        Correlation matrices (float64).
    adj : ndarray of bool, shape (H, n, n)
        The graphs after level 0.
    ordered : bool
        Node indices are a causal order: for a pair, ``z`` comes before the later node.
    r_hi : float
        Largest ``|r_xy.z|`` that can be independent (with a margin).
    backend : {"numba", "numpy", "torch"}
    device : optional
        Torch device for ``backend="torch"``.

    Returns
    -------
    head, row, pivot, z : ndarray of int
        One entry per screened (head, pair, z); the pair is ``{row, pivot}``.

    Raises
    ------
    InvalidParameterError
        If ``backend`` is unknown, or ``"numba"`` without numba installed.
    """
    if backend not in BACKENDS:
        raise InvalidParameterError(f"backend={backend!r} is unknown; expected one of {', '.join(BACKENDS)}")
    if backend == "torch":
        found = _screen_torch(r, adj, ordered, r_hi, device)
    elif backend == "numba":
        found = _screen_numba(r, adj, ordered, r_hi)
    else:
        found = _screen_numpy(r, adj, ordered, r_hi)
    if not found:
        empty = np.empty(0, dtype=np.intp)
        return empty, empty, empty, empty
    h, row, pivot, z = (np.concatenate(v).astype(np.intp, copy=False) for v in zip(*found))
    return h, row, pivot, z


# ---------------------------------------------------------------------------------------------- numba
#: Factor of degenerate entries (and the diagonal) in the compiled screen; with _TINY added to every
#: numerator such an entry is at least _TINY * _DEG = 1e50, while a regular one moves by <= 1e-90.
_DEG = 1e150
_TINY = 1e-100
#: Added (as the product of the two ends' values) where z is adjacent to neither end of the pair.
_NONADJ = 1e10
_KERNEL = None


def _screen_head_compiled(r, s, off, adj, ordered, r_hi, rel, band, out_row, out_pivot, out_z):  # pragma: no cover
    """One head's screen as a plain loop, compiled by numba (see the module docstring).

    ``s`` is :func:`inverse_scale` with ``_DEG`` for degenerate entries, ``off``
    is ``_NONADJ`` where the two nodes are not adjacent (0 elsewhere). Writes
    the (row, pivot, z) of every listed entry while there is room and returns
    how many there are (the caller grows the buffers and reruns if needed).
    """
    n = r.shape[0]
    q = np.empty(n)
    room = out_row.size
    count = 0
    for pivot in range(n):
        if ordered:
            lo, hi, zhi = 0, pivot, pivot
        else:
            lo, hi, zhi = pivot + 1, n, n
        r_p, s_p, off_p, adj_p = r[pivot], s[pivot], off[pivot], adj[pivot]
        for row in range(lo, hi):
            if not adj_p[row]:
                continue
            r_x, s_x, off_x = r[row], s[row], off[row]
            r_xp = r_x[pivot]
            for z in range(zhi):  # no branch in the body: LLVM vectorises it
                q[z] = (abs(r_xp - r_x[z] * r_p[z]) + _TINY) * s_x[z] * s_p[z] + off_x[z] * off_p[z]
            b0 = b1 = b2 = b3 = np.inf
            z = 0
            while z + 4 <= zhi:
                b0 = min(b0, q[z])
                b1 = min(b1, q[z + 1])
                b2 = min(b2, q[z + 2])
                b3 = min(b3, q[z + 3])
                z += 4
            while z < zhi:
                b0 = min(b0, q[z])
                z += 1
            best = min(min(b0, b1), min(b2, b3))
            if best > r_hi:
                continue
            cap = best * rel + band
            for z in range(zhi):
                if q[z] <= cap:
                    if count < room:
                        out_row[count] = row
                        out_pivot[count] = pivot
                        out_z[count] = z
                    count += 1
    return count


def _kernel():
    """The compiled per-head screen (compiled, or loaded from numba's on-disk cache, on first use)."""
    global _KERNEL
    if _KERNEL is None:
        try:
            import numba
        except ImportError as err:  # pragma: no cover - exercised where numba is missing
            raise InvalidParameterError(
                "backend='numba' needs numba, which is not installed; `pip install numba` or use backend='numpy'"
            ) from err
        _KERNEL = numba.njit(cache=True, nogil=True)(_screen_head_compiled)
    return _KERNEL


def _screen_numba(r: np.ndarray, adj: np.ndarray, ordered: bool, r_hi: float) -> list[tuple[np.ndarray, ...]]:
    """The compiled screen, head by head (see the module docstring)."""
    kernel = _kernel()
    out: list[tuple[np.ndarray, ...]] = []
    rel = 1.0 + _REL_MARGIN
    # C order throughout: a strided array (a permuted stack) would make numba compile a loop it cannot vectorise
    r = np.ascontiguousarray(r, dtype=np.float64)
    scale = inverse_scale(r, degenerate=_DEG)
    for h in range(r.shape[0]):
        a = np.ascontiguousarray(adj[h])
        off = np.where(a, 0.0, _NONADJ)
        rh = r[h]
        size = int(np.count_nonzero(a)) + 1024  # about one entry per edge, twice over; grown if ties need more
        while True:
            row, pivot, z = (np.empty(size, dtype=np.int64) for _ in range(3))
            count = kernel(rh, scale[h], off, a, bool(ordered), float(r_hi), rel, _ABS_BAND, row, pivot, z)
            if count <= size:
                break
            size = count
        if count:
            out.append((np.full(count, h, dtype=np.int64), row[:count], pivot[:count], z[:count]))
    return out


# ---------------------------------------------------------------------------------------------- numpy
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


def _screen_numpy(r: np.ndarray, adj: np.ndarray, ordered: bool, r_hi: float) -> list[tuple[np.ndarray, ...]]:
    """The screening pass in numpy: per head, (row, pivot, z) entries that can hold a pair's best independent z.

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
    exactly by :func:`~whytoken.causal.evidence.level1`, which also catches
    entries whose numerator is exactly zero next to a huge factor (twins:
    ``|R_xz| = 1``). A head with near-twins (a finite ``S`` above 16) would
    make that bound wide and most entries contenders; it is screened in
    float64 (``u = 2**-53``).
    """
    h_count, n, _ = r.shape
    s_all = inverse_scale(r, degenerate=_FAR)
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
        # the screen then lets through (level1's recheck lists their pairs in full)
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


# ---------------------------------------------------------------------------------------------- torch
def _screen_torch(r: np.ndarray, adj: np.ndarray, ordered: bool, r_hi: float, device: Any):
    """The screening pass with torch (float64) on ``device``: the arithmetic of :func:`_screen_numpy`."""
    import torch  # imported only for the torch backend

    dev = torch.device(device) if device is not None else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    rt = torch.as_tensor(r, dtype=torch.float64, device=dev)
    at = torch.as_tensor(adj, device=dev)
    st = torch.as_tensor(inverse_scale(r, degenerate=_FAR), device=dev)
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
