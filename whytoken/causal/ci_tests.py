"""Conditional-independence tests: a d-separation oracle and the attention partial-correlation test.

Both implement the :class:`~whytoken.causal.base.CITest` protocol: ``test(x, y,
cond)`` returns a :class:`~whytoken.causal.base.CIResult` and every tested
``(x, y, cond)`` triple increments ``n_tests``.

:class:`DSeparationOracle` answers from a known DAG (some of whose nodes may be
latent) by d-separation; learners run with it must recover the true PAG, which
is what the oracle tests check. It lives in :mod:`whytoken.causal.oracle` and
is re-exported here.

:class:`PartialCorrelationTest` reads one attention head as evidence. From the
``n x n`` attention matrix ``A`` (row ``i``: how token ``i`` spreads its
attention over the tokens) it forms ``C = A A^T`` and the (uncentred)
correlation ``R = D^-1/2 C D^-1/2`` with ``D = diag(C)``, then tests zero
partial correlation with Fisher's z:

.. math::

    z = \\tfrac12 \\ln\\frac{1 + r}{1 - r} \\sqrt{N - |Z| - 3},
    \\qquad p = 2 (1 - \\Phi(|z|)),

independent iff ``p > alpha``. The test is two-sided in ``r``: a negative
partial correlation is evidence of dependence just like a positive one.
Partial correlations use the recursive closed form for ``|Z| <= 1`` and the
inverse of the conditioning block (a Schur complement) beyond. The batched
method :meth:`PartialCorrelationTest.test_batch` evaluates many triples at
once with numpy; fast learners use it.

Examples
--------
>>> import numpy as np
>>> from whytoken.causal.ci_tests import PartialCorrelationTest
>>> A = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.0, 0.5, 0.5]])
>>> t = PartialCorrelationTest.from_attention(A, n_samples=100, alpha=0.01)
>>> round(float(t.correlation[0, 1]), 4)
0.7071
>>> t.test(0, 1).independent
False
>>> t.n_tests
1
"""

from __future__ import annotations

import logging
from typing import Any, Hashable, Iterable, Sequence

import numpy as np
from scipy.special import erfc, erfcinv

from whytoken.causal.base import CIResult
from whytoken.errors import InvalidAttentionError, InvalidParameterError, NodeNotFoundError

__all__ = [
    "DSeparationOracle",
    "PartialCorrelationTest",
    "attention_to_correlation",
    "fisher_z_pvalue",
    "ROW_SUM_TOLERANCE",
]

logger = logging.getLogger(__name__)

#: Largest allowed ``|row sum - 1|`` of an attention matrix.
ROW_SUM_TOLERANCE = 1e-3
#: Residual variances below this make a partial correlation undefined (the
#: conditioning set determines x or y); such tests report dependence.
_DEGENERATE_VARIANCE = 1e-10
#: Largest |r| fed to arctanh, so exact +-1 gives a finite, huge statistic.
_R_CLIP = 1.0 - 1e-15
#: Rows per chunk in batched computations (bounds temporary memory).
_CHUNK = 1 << 16


def _check_alpha(alpha: float) -> float:
    try:
        value = float(alpha)
    except (TypeError, ValueError):
        raise InvalidParameterError(
            f"alpha={alpha!r} is not a number; pass a significance level in (0, 1), e.g. 0.01"
        ) from None
    if not 0.0 < value < 1.0 or not np.isfinite(value):
        raise InvalidParameterError(
            f"alpha={alpha!r} is outside (0, 1); pass a significance level such as 0.01 or 1e-5"
        )
    return value


def _check_n_samples(n_samples: int) -> int:
    if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)):
        raise InvalidParameterError(f"n_samples={n_samples!r} is not an integer; pass the sample size N (e.g. 128)")
    if n_samples < 4:
        raise InvalidParameterError(
            f"n_samples={n_samples} is too small: Fisher's z needs N - |Z| - 3 > 0, so N >= 4 even for |Z| = 0; "
            "pass a larger sample size"
        )
    return int(n_samples)


def fisher_z_pvalue(r: np.ndarray | float, n_samples: int, cond_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Fisher-z statistic and two-sided p-value for partial correlation(s) ``r``.

    Parameters
    ----------
    r : float or ndarray
        Partial correlation(s); NaN marks an undefined one (reported as
        dependent: infinite statistic, p-value 0).
    n_samples : int
        The sample size N.
    cond_size : int
        The conditioning-set size ``|Z|``; needs ``N - |Z| - 3 > 0``.

    Returns
    -------
    statistic, p_value : ndarray
        ``z = arctanh(r) sqrt(N - |Z| - 3)`` and ``2 (1 - Phi(|z|))``.

    Examples
    --------
    >>> z, p = fisher_z_pvalue(0.0, 100, 0)
    >>> float(z), float(p)
    (0.0, 1.0)
    >>> z, p = fisher_z_pvalue(-0.5, 100, 2)   # negative r: evidence of dependence
    >>> bool(p < 1e-5)
    True
    """
    dof = n_samples - cond_size - 3
    if dof <= 0:
        raise InvalidParameterError(
            f"conditioning-set size {cond_size} is too large for n_samples={n_samples}: Fisher's z needs "
            f"N - |Z| - 3 > 0, so the largest usable |Z| is {n_samples - 4}; lower max_cond_size or use more samples"
        )
    r = np.asarray(r, dtype=np.float64)
    undefined = ~np.isfinite(r)
    z = np.arctanh(np.clip(np.where(undefined, 0.0, r), -_R_CLIP, _R_CLIP)) * np.sqrt(dof)
    z = np.where(undefined, np.inf, z)
    p = erfc(np.abs(z) / np.sqrt(2.0))
    return z, p


def attention_to_correlation(attention: Any) -> np.ndarray:
    """The correlation matrix ``R = D^-1/2 A A^T D^-1/2`` of one head's attention matrix.

    Parameters
    ----------
    attention : array_like, shape (n, n)
        Row-stochastic attention weights (non-negative, rows sum to 1 within
        :data:`ROW_SUM_TOLERANCE`); causally masked (lower-triangular) is fine.

    Returns
    -------
    ndarray, shape (n, n)
        Symmetric, unit diagonal, entries in [0, 1].

    Raises
    ------
    InvalidAttentionError
        If the matrix is not square, has NaN/inf or negative entries, a row
        of zeros, or rows that do not sum to 1.

    Examples
    --------
    >>> attention_to_correlation([[1.0, 0.0], [0.5, 0.5]]).round(4).tolist()
    [[1.0, 0.7071], [0.7071, 1.0]]
    """
    try:
        a = np.array(attention, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise InvalidAttentionError(
            f"attention is not a numeric matrix ({err}); pass an n x n array of weights"
        ) from err
    if a.ndim != 2 or a.shape[0] != a.shape[1] or a.shape[0] < 2:
        raise InvalidAttentionError(
            f"attention must be a square n x n matrix with n >= 2, got shape {a.shape}; pass one head's "
            "(query x key) weights, e.g. attentions[layer][batch, head]"
        )
    bad = ~np.isfinite(a)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise InvalidAttentionError(
            f"attention has {int(bad.sum())} non-finite entries (first at row {i}, column {j}: {a[i, j]}); "
            "fp16 overflow is a common cause: capture attention in float32"
        )
    if (a < 0).any():
        i, j = np.argwhere(a < 0)[0]
        raise InvalidAttentionError(
            f"attention has {int((a < 0).sum())} negative entries (first at row {i}, column {j}: {a[i, j]:.3g}); "
            "attention weights are softmax outputs in [0, 1]: pass the post-softmax matrix"
        )
    zero_rows = np.flatnonzero(~a.any(axis=1))
    if zero_rows.size:
        raise InvalidAttentionError(
            f"attention row {int(zero_rows[0])} is all zeros ({zero_rows.size} such rows), so its correlation "
            "is undefined; drop padding/masked positions before testing"
        )
    off = np.abs(a.sum(axis=1) - 1.0)
    worst = int(np.argmax(off))
    if off[worst] > ROW_SUM_TOLERANCE:
        raise InvalidAttentionError(
            f"attention is not row-stochastic: max |row sum - 1| = {off[worst]:.3g} at row {worst} "
            f"(tolerance {ROW_SUM_TOLERANCE:g}); pass post-softmax weights with rows over the keys, "
            "not the transpose or pre-softmax scores"
        )
    c = a @ a.T
    d = 1.0 / np.sqrt(np.diag(c))
    r = c * d[:, None] * d[None, :]
    r = 0.5 * (r + r.T)
    np.fill_diagonal(r, 1.0)
    np.clip(r, -1.0, 1.0, out=r)
    return r


class PartialCorrelationTest:
    """Fisher-z test of zero partial correlation on a fixed correlation matrix.

    Build it with :meth:`from_attention` (one head's attention matrix) or
    :meth:`from_correlation` (any correlation matrix); the constructor takes
    the same arguments as :meth:`from_correlation`.

    Parameters
    ----------
    correlation : array_like, shape (n, n)
        Symmetric with unit diagonal.
    n_samples : int
        The sample size N in Fisher's z (for attention: the number of
        samples the attention pattern stands for; CLEANN uses the head
        dimension, e.g. 128).
    alpha : float
        Significance level in (0, 1); independent iff ``p > alpha``.
    nodes : sequence of hashable, optional
        Names of the variables (default ``0 .. n-1``).

    Attributes
    ----------
    n_tests : int
        Tested (x, y, cond) triples so far, batched ones included.
    alpha : float
    n_samples : int

    Examples
    --------
    >>> import numpy as np
    >>> R = np.array([[1.0, 0.5, 0.5], [0.5, 1.0, 0.25], [0.5, 0.25, 1.0]])
    >>> t = PartialCorrelationTest.from_correlation(R, n_samples=1000, alpha=0.01)
    >>> round(t.partial_correlation(1, 2, [0]), 6)    # 1 _||_ 2 | 0 exactly
    0.0
    >>> t.test(1, 2, [0]).independent, t.test(1, 2).independent
    (True, False)
    """

    def __init__(
        self,
        correlation: Any,
        n_samples: int,
        alpha: float = 0.01,
        nodes: Sequence[Hashable] | None = None,
    ) -> None:
        self.n_samples = _check_n_samples(n_samples)
        self.alpha = _check_alpha(alpha)
        r = self._check_correlation(correlation)
        r.setflags(write=False)
        self._r = r
        n = r.shape[0]
        if nodes is None:
            self._nodes: list[Hashable] = list(range(n))
        else:
            self._nodes = list(nodes)
            if len(self._nodes) != n or len(set(self._nodes)) != n:
                raise InvalidParameterError(
                    f"nodes has {len(self._nodes)} entries ({len(set(self._nodes))} distinct) for a {n} x {n} "
                    "correlation matrix; pass one distinct name per row"
                )
        self._index = {node: i for i, node in enumerate(self._nodes)}
        self.n_tests = 0

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_attention(
        cls,
        attention: Any,
        n_samples: int,
        alpha: float = 0.01,
        nodes: Sequence[Hashable] | None = None,
    ) -> "PartialCorrelationTest":
        """Test on the correlation of one head's attention matrix (see :func:`attention_to_correlation`).

        Examples
        --------
        >>> t = PartialCorrelationTest.from_attention([[1.0, 0.0], [0.2, 0.8]], n_samples=50)
        >>> t.nodes
        [0, 1]
        """
        _check_n_samples(n_samples)
        _check_alpha(alpha)
        return cls(attention_to_correlation(attention), n_samples=n_samples, alpha=alpha, nodes=nodes)

    @classmethod
    def from_correlation(
        cls,
        correlation: Any,
        n_samples: int,
        alpha: float = 0.01,
        nodes: Sequence[Hashable] | None = None,
    ) -> "PartialCorrelationTest":
        """Test on a given correlation matrix (symmetric, unit diagonal).

        Examples
        --------
        >>> PartialCorrelationTest.from_correlation([[1.0, 0.3], [0.3, 1.0]], 20).test(0, 1).independent
        True
        """
        return cls(correlation, n_samples=n_samples, alpha=alpha, nodes=nodes)

    @staticmethod
    def _check_correlation(correlation: Any) -> np.ndarray:
        try:
            r = np.array(correlation, dtype=np.float64)
        except (TypeError, ValueError) as err:
            raise InvalidAttentionError(f"correlation is not a numeric matrix ({err}); pass an n x n array") from err
        if r.ndim != 2 or r.shape[0] != r.shape[1] or r.shape[0] < 2:
            raise InvalidAttentionError(f"correlation must be a square n x n matrix with n >= 2, got shape {r.shape}")
        if not np.isfinite(r).all():
            i, j = np.argwhere(~np.isfinite(r))[0]
            raise InvalidAttentionError(
                f"correlation has non-finite entries (first at ({i}, {j}): {r[i, j]}); a zero-variance "
                "variable makes its correlations undefined: drop it"
            )
        diag_off = np.abs(np.diag(r) - 1.0)
        if diag_off.max() > 1e-6:
            i = int(np.argmax(diag_off))
            raise InvalidAttentionError(
                f"correlation diagonal must be 1, got {r[i, i]:.6g} at ({i}, {i}); normalise a covariance "
                "matrix C with D^-1/2 C D^-1/2, D = diag(C)"
            )
        asym = np.abs(r - r.T)
        if asym.max() > 1e-8:
            i, j = np.unravel_index(int(np.argmax(asym)), asym.shape)
            raise InvalidAttentionError(
                f"correlation is not symmetric: |R[{i},{j}] - R[{j},{i}]| = {asym[i, j]:.3g}; "
                "pass a symmetric matrix, e.g. (R + R.T) / 2"
            )
        if np.abs(r).max() > 1.0 + 1e-8:
            i, j = np.unravel_index(int(np.argmax(np.abs(r))), r.shape)
            raise InvalidAttentionError(
                f"correlation entry R[{i},{j}] = {r[i, j]:.6g} is outside [-1, 1]; pass a correlation, not a covariance"
            )
        r = 0.5 * (r + r.T)
        np.fill_diagonal(r, 1.0)
        return np.clip(r, -1.0, 1.0)

    # ------------------------------------------------------------------ protocol
    @property
    def nodes(self) -> list[Hashable]:
        """The variables this test can test, in matrix order."""
        return list(self._nodes)

    @property
    def correlation(self) -> np.ndarray:
        """The correlation matrix (read-only view), rows in :attr:`nodes` order."""
        return self._r

    def index_of(self, nodes: Iterable[Hashable]) -> np.ndarray:
        """Row positions of ``nodes`` in :attr:`correlation`.

        Raises
        ------
        NodeNotFoundError
            If a node is not among :attr:`nodes`.
        """
        out = []
        for node in nodes:
            try:
                out.append(self._index[node])
            except (KeyError, TypeError):
                raise NodeNotFoundError(
                    f"node {node!r} is not among the test's {len(self._nodes)} nodes "
                    f"({self._nodes[:10]}{' ...' if len(self._nodes) > 10 else ''})"
                ) from None
        return np.asarray(out, dtype=np.intp)

    def partial_correlation(
        self, x: Hashable, y: Hashable, cond: Sequence[Hashable] = (), method: str = "auto"
    ) -> float:
        """The partial correlation of ``x`` and ``y`` given ``cond`` (NaN when undefined).

        Parameters
        ----------
        method : {"auto", "recursive", "inverse"}
            ``recursive``: the closed form (``|cond| <= 1`` only); ``inverse``:
            from the inverse of the conditioning block; ``auto``: recursive
            for ``|cond| <= 1``, inverse beyond.
        """
        xs, ys, zs = self._positions(x, y, cond)
        if method not in ("auto", "recursive", "inverse"):
            raise InvalidParameterError(f"method={method!r}; expected 'auto', 'recursive' or 'inverse'")
        if method == "recursive" and zs.shape[1] > 1:
            raise InvalidParameterError(
                f"the recursive closed form covers |cond| <= 1, got |cond| = {zs.shape[1]}; use method='inverse'"
            )
        if method == "inverse" and zs.shape[1] > 0:
            return float(_partial_corr_inverse(self._r, xs, ys, zs)[0])
        return float(self._partial_corr(xs, ys, zs)[0])

    def test(self, x: Hashable, y: Hashable, cond: Sequence[Hashable] = ()) -> CIResult:
        """Test ``x _||_ y | cond``.

        Raises
        ------
        NodeNotFoundError
            If a node is unknown.
        InvalidParameterError
            If ``x == y``, ``x`` or ``y`` is in ``cond``, or ``|cond|`` is too
            large for ``n_samples``.
        """
        xs, ys, zs = self._positions(x, y, cond)
        stat, p, indep = self.test_batch(xs, ys, zs)
        return CIResult(
            x=x,
            y=y,
            cond=tuple(sorted(cond, key=lambda n: self._index[n])),
            statistic=float(stat[0]),
            p_value=float(p[0]),
            independent=bool(indep[0]),
        )

    def test_batch(
        self, xs: Any, ys: Any, conds: Any = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Test many triples at once, by row position (see :meth:`index_of`).

        Parameters
        ----------
        xs, ys : array_like of int, shape (m,)
            Positions of the tested pairs.
        conds : array_like of int, shape (m, k), optional
            Positions of the conditioning sets, all of one size ``k``
            (default: ``k = 0``).

        Returns
        -------
        statistic, p_value, independent : ndarray, shape (m,)

        Examples
        --------
        >>> import numpy as np
        >>> R = np.array([[1.0, 0.5, 0.5], [0.5, 1.0, 0.25], [0.5, 0.25, 1.0]])
        >>> t = PartialCorrelationTest(R, n_samples=1000)
        >>> _, p, ind = t.test_batch([1, 0], [2, 1], [[0], [2]])
        >>> ind.tolist(), t.n_tests
        ([True, False], 2)
        """
        xs = np.asarray(xs, dtype=np.intp).reshape(-1)
        ys = np.asarray(ys, dtype=np.intp).reshape(-1)
        if conds is None:
            zs = np.empty((xs.size, 0), dtype=np.intp)
        else:
            zs = np.asarray(conds, dtype=np.intp)
            if zs.size == 0:
                zs = np.empty((xs.size, 0), dtype=np.intp)
            elif zs.ndim == 1 and xs.size == 1:
                zs = zs.reshape(1, -1)
        if ys.shape != xs.shape or zs.ndim != 2 or zs.shape[0] != xs.size:
            raise InvalidParameterError(
                f"test_batch needs xs, ys of one length m and conds of shape (m, k); got {xs.shape}, {ys.shape}, "
                f"{zs.shape}"
            )
        n = self._r.shape[0]
        for name, arr in (("xs", xs), ("ys", ys), ("conds", zs)):
            if arr.size and (arr.min() < 0 or arr.max() >= n):
                raise InvalidParameterError(
                    f"{name} holds position {int(arr.min() if arr.min() < 0 else arr.max())} outside 0..{n - 1}; "
                    "map node names to positions with index_of()"
                )
        k = zs.shape[1]
        if self.n_samples - k - 3 <= 0:
            raise InvalidParameterError(
                f"conditioning-set size {k} is too large for n_samples={self.n_samples}: Fisher's z needs "
                f"N - |Z| - 3 > 0, so the largest usable |Z| is {self.n_samples - 4}; "
                "lower max_cond_size or use more samples"
            )
        r = self._partial_corr(xs, ys, zs)
        stat, p = fisher_z_pvalue(r, self.n_samples, k)
        self.n_tests += int(xs.size)
        return stat, p, p > self.alpha

    def screen_order1(
        self, xs: Any, ys: Any, candidates: np.ndarray, tie_rtol: float = 0.0
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Test each pair given every candidate single node; return only the best independent ones.

        For pair ``k`` this tests ``xs[k] _||_ ys[k] | z`` for every ``z`` with
        ``candidates[k, z]`` (row positions), as :meth:`test_batch` would, with
        the same p-values, and adds ``candidates.sum()`` to :attr:`n_tests`.
        Learners that keep the largest-p separating set only need the
        independent tests whose p-value is within ``tie_rtol`` (relative) of
        the pair's largest, so only those are returned. Working on whole rows
        of the correlation matrix, this is several times faster than listing
        the triples on dense graphs.

        Parameters
        ----------
        xs, ys : array_like of int, shape (m,)
        candidates : ndarray of bool, shape (m, n)
        tie_rtol : float

        Returns
        -------
        pair_index, z, p_value : ndarray
            One entry per returned test.

        Examples
        --------
        >>> import numpy as np
        >>> R = np.array([[1.0, 0.5, 0.5], [0.5, 1.0, 0.25], [0.5, 0.25, 1.0]])
        >>> t = PartialCorrelationTest(R, n_samples=1000)
        >>> k, z, p = t.screen_order1([1], [2], np.array([[True, False, False]]))
        >>> k.tolist(), z.tolist(), p.round(3).tolist(), t.n_tests
        ([0], [0], [1.0], 1)
        """
        xs = np.asarray(xs, dtype=np.intp).reshape(-1)
        ys = np.asarray(ys, dtype=np.intp).reshape(-1)
        cand = np.asarray(candidates, dtype=bool)
        n = self._r.shape[0]
        if cand.shape != (xs.size, n) or ys.shape != xs.shape:
            raise InvalidParameterError(
                f"screen_order1 needs xs, ys of length m and candidates of shape (m, {n}); got {xs.shape}, "
                f"{ys.shape}, {cand.shape}"
            )
        dof = self.n_samples - 1 - 3
        if dof <= 0:
            raise InvalidParameterError(
                f"conditioning-set size 1 is too large for n_samples={self.n_samples}: the largest usable |Z| is "
                f"{self.n_samples - 4}; use more samples"
            )
        out_k, out_z, out_p = [], [], []
        step = max(1, _CHUNK // max(1, n))
        for start in range(0, xs.size, step):
            x, y, c = xs[start : start + step], ys[start : start + step], cand[start : start + step]
            rx, ry = self._r[x], self._r[y]
            # the arithmetic of _partial_corr_order1, so p-values equal test_batch's bit for bit
            r = _partial_corr_order1(self._r[x, y][:, None], rx, ry)
            dist = np.where(c & np.isfinite(r), np.abs(r), np.inf)
            best = dist.min(axis=1)
            _, p_best = fisher_z_pvalue(np.where(np.isfinite(best), best, np.nan), self.n_samples, 1)
            rows = np.flatnonzero(p_best > self.alpha)
            if rows.size == 0:
                continue
            # |r| bound of the tie band (p falls as |r| grows), padded against rounding
            p_floor = np.maximum(p_best[rows] * (1.0 - tie_rtol), np.nextafter(self.alpha, 1.0))
            r_cap = np.tanh(np.sqrt(2.0) * erfcinv(p_floor) / np.sqrt(dof)) * (1 + 1e-9) + 1e-15
            kk, zz = np.nonzero(dist[rows] <= r_cap[:, None])
            _, p = fisher_z_pvalue(r[rows[kk], zz], self.n_samples, 1)
            keep = (p > self.alpha) & (p >= p_best[rows[kk]] * (1.0 - tie_rtol))
            out_k.append(rows[kk][keep] + start)
            out_z.append(zz[keep])
            out_p.append(p[keep])
        self.n_tests += int(cand.sum())
        if not out_k:
            return np.empty(0, np.intp), np.empty(0, np.intp), np.empty(0)
        return np.concatenate(out_k), np.concatenate(out_z).astype(np.intp), np.concatenate(out_p)

    def check_learnable(self, nodes: Iterable[Hashable] | None = None) -> None:
        """Refuse a correlation over ``nodes`` on which structure learning cannot end: too many twin tokens.

        Two tokens whose correlation is ``+-1`` (within the CI test's
        degeneracy tolerance: ``1 - r^2 <= 1e-10``) are *twins*, e.g. two
        identical attention rows: every partial correlation that conditions
        on one of them, or tests them against each other, is undefined and
        reported as dependent, so no test can ever remove their edges. A few
        twins are harmless; a head where most pairs are twins (every row
        equal, a rank-one matrix, every token attending only to the same
        token) leaves a near-complete graph whose conditioning sets grow
        combinatorially, and the search does not end. Learners call this
        before learning (:func:`~whytoken.causal.base.learn_pag` does).

        Raises
        ------
        InvalidAttentionError
            If half or more of the pairs over ``nodes`` are twins; the
            message says how many and how to fix it.

        Examples
        --------
        >>> import numpy as np
        >>> A = np.full((4, 4), 0.25)                         # every row the same: rank one
        >>> t = PartialCorrelationTest.from_attention(A, n_samples=64)
        >>> t.check_learnable()
        Traceback (most recent call last):
        ...
        whytoken.errors.InvalidAttentionError: the correlation is degenerate: 6 of 6 pairs of tokens ...
        """
        idx = np.arange(self._r.shape[0]) if nodes is None else self.index_of(nodes)
        if idx.size < 2:
            return
        sub = self._r[np.ix_(idx, idx)]
        twins = (1.0 - sub * sub) <= _DEGENERATE_VARIANCE
        np.fill_diagonal(twins, False)
        n_twins = int(np.count_nonzero(np.triu(twins, 1)))
        n_pairs = idx.size * (idx.size - 1) // 2
        if 2 * n_twins >= n_pairs:
            rank = int(np.linalg.matrix_rank(sub, tol=1e-8))
            raise InvalidAttentionError(
                f"the correlation is degenerate: {n_twins} of {n_pairs} pairs of tokens have correlation +-1 (the "
                f"matrix has rank {rank} of {idx.size}; e.g. every attention row is the same, or all mass sits on one "
                "token), so their partial correlations are undefined, every test says 'dependent' and structure "
                "learning would not end; skip this head (it carries no conditional-independence evidence) or learn "
                "over tokens whose attention rows differ"
            )

    # ------------------------------------------------------------------ internals
    def _positions(
        self, x: Hashable, y: Hashable, cond: Sequence[Hashable]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        cond = list(cond)
        xs, ys = self.index_of([x]), self.index_of([y])
        zs = self.index_of(cond).reshape(1, -1)
        if x == y:
            raise InvalidParameterError(f"cannot test node {x!r} against itself; pass two distinct nodes")
        if x in cond or y in cond:
            raise InvalidParameterError(
                f"the conditioning set {cond} contains a tested node ({x!r} or {y!r}); remove it from cond"
            )
        if len(set(cond)) != len(cond):
            raise InvalidParameterError(f"the conditioning set {cond} repeats a node; pass each node once")
        return xs, ys, zs

    def _partial_corr(self, xs: np.ndarray, ys: np.ndarray, zs: np.ndarray) -> np.ndarray:
        k = zs.shape[1]
        r = self._r
        if k == 0:
            return r[xs, ys].astype(np.float64)
        if k == 1:
            z = zs[:, 0]
            return _partial_corr_order1(r[xs, ys], r[xs, z], r[ys, z])
        out = np.empty(xs.size, dtype=np.float64)
        # stacks of (k x k) solves: keep each chunk's temporaries to ~_CHUNK * k^2 floats
        step = max(1, _CHUNK // (k * k))
        for start in range(0, xs.size, step):
            sl = slice(start, start + step)
            out[sl] = _partial_corr_inverse(r, xs[sl], ys[sl], zs[sl])
        return out


def _partial_corr_order1(r_xy: np.ndarray, r_xz: np.ndarray, r_yz: np.ndarray) -> np.ndarray:
    """Closed form ``(r_xy - r_xz r_yz) / sqrt((1 - r_xz^2)(1 - r_yz^2))``; NaN when undefined."""
    vx = 1.0 - r_xz * r_xz
    vy = 1.0 - r_yz * r_yz
    ok = (vx > _DEGENERATE_VARIANCE) & (vy > _DEGENERATE_VARIANCE)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = (r_xy - r_xz * r_yz) / np.sqrt(np.where(ok, vx * vy, 1.0))
    out = np.where(ok, out, np.nan)
    return np.clip(out, -1.0, 1.0)


def _partial_corr_inverse(r: np.ndarray, xs: np.ndarray, ys: np.ndarray, zs: np.ndarray) -> np.ndarray:
    """Partial correlations from the inverse of each conditioning block ``R[Z, Z]`` (Schur complement).

    The residual covariance of (x, y) given Z is ``R[ab] - R[aZ] R[ZZ]^-1 R[Zb]``;
    its normalised off-diagonal is the partial correlation, equal to
    ``-P[xy] / sqrt(P[xx] P[yy])`` with ``P`` the inverse of ``R`` over (x, y, Z).
    """
    k = zs.shape[1]
    # Put each conditioning set in an order fixed by the data, symmetric in x and y, so that
    # renaming nodes (or swapping x and y) repeats the same arithmetic bit for bit; learners
    # compare p-values across conditioning sets and must not see rounding that follows names.
    s_zx = r[zs, xs[:, None]]  # (m, k)
    s_zy = r[zs, ys[:, None]]
    perm = np.lexsort((s_zx * s_zy, s_zx + s_zy), axis=-1)
    zs = np.take_along_axis(zs, perm, axis=1)
    s_zx = np.take_along_axis(s_zx, perm, axis=1)
    s_zy = np.take_along_axis(s_zy, perm, axis=1)
    s_zz = r[zs[:, :, None], zs[:, None, :]]  # (m, k, k)
    # A tiny ridge keeps exactly singular blocks (repeated rows) solvable; their
    # residual variance then comes out ~0 and the test reports dependence.
    s_zz = s_zz + np.eye(k) * 1e-12
    rhs = np.stack([s_zx, s_zy], axis=2)  # (m, k, 2)
    try:
        sol = np.linalg.solve(s_zz, rhs)
    except np.linalg.LinAlgError:
        sol = np.einsum("mij,mjk->mik", np.linalg.pinv(s_zz, hermitian=True), rhs)
    vxx = 1.0 - np.einsum("mk,mk->m", s_zx, sol[:, :, 0])
    vyy = 1.0 - np.einsum("mk,mk->m", s_zy, sol[:, :, 1])
    # both forms of the cross term, averaged: symmetric in x and y to the last bit
    vxy = r[xs, ys] - 0.5 * (np.einsum("mk,mk->m", s_zx, sol[:, :, 1]) + np.einsum("mk,mk->m", s_zy, sol[:, :, 0]))
    ok = (vxx > _DEGENERATE_VARIANCE) & (vyy > _DEGENERATE_VARIANCE)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = vxy / np.sqrt(np.where(ok, vxx * vyy, 1.0))
    out = np.where(ok, out, np.nan)
    return np.clip(out, -1.0, 1.0)


# The oracle lives in its own module; it is re-exported here, where it was first defined.
from whytoken.causal.oracle import DSeparationOracle  # noqa: E402
