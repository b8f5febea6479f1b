"""Seeded synthetic inputs for the causal core: attention matrices and linear-Gaussian correlations.

Two kinds of ground truth are useful when testing structure learners:

* **Real-shaped attention.** A trained head's attention row is a softmax of
  query-key scores; most of its mass falls on a handful of keys, decoders mask
  future positions, and many heads park spare mass on the first token (the
  *attention sink*). :func:`peaky_attention` draws such matrices from Gaussian
  scores so that benchmarks and finite-sample tests see the sparsity pattern
  of real heads without loading a model.
* **Known causal truth.** :func:`linear_gaussian_correlation` turns a DAG
  into the correlation matrix of a linear-Gaussian structural equation model
  over it, either the population matrix (the CI test then agrees with
  d-separation, up to faithfulness) or the empirical one from a finite sample
  (for finite-sample agreement tests with a known answer).

Every function takes a ``seed`` and returns the same array for the same seed.

Examples
--------
>>> import numpy as np
>>> from whytoken.causal.synthetic import peaky_attention
>>> A = peaky_attention(6, seed=0, causal=True)
>>> A.shape, bool(np.allclose(A.sum(axis=1), 1.0)), bool(np.all(np.triu(A, 1) == 0))
((6, 6), True, True)
"""

from __future__ import annotations

import logging
import math
from typing import Any, Hashable, Sequence

import numpy as np

from whytoken.errors import InvalidGraphError, InvalidParameterError, NodeNotFoundError
from whytoken.graphs import node_sort_key

__all__ = ["peaky_attention", "linear_gaussian_correlation"]

logger = logging.getLogger(__name__)

SeedLike = int | np.random.Generator | None


def _rng(seed: SeedLike) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
        raise InvalidParameterError(
            f"seed must be a non-negative int, a numpy Generator or None, got {seed!r}; pass e.g. seed=0"
        )
    return np.random.default_rng(seed)


def peaky_attention(
    n: int,
    *,
    seed: SeedLike,
    temperature: float = 0.25,
    causal: bool = False,
    sink: float = 0.0,
) -> np.ndarray:
    """A row-stochastic attention matrix whose rows concentrate on a few keys.

    Row ``i`` is ``softmax(z_i / temperature)`` for standard-normal scores
    ``z_i``; with the default temperature a row of 100 keys puts about half of
    its mass on its largest key and has an effective number of keys
    (``exp`` of the row entropy) of about 4.

    Parameters
    ----------
    n : int
        Number of tokens (rows = queries, columns = keys); at least 1.
    seed : int, numpy Generator or None
        Source of randomness; the same int gives the same matrix.
    temperature : float, default 0.25
        Softmax temperature (> 0). Lower is peakier: 0.1 is nearly one-hot,
        1.0 spreads each row over a large fraction of the keys.
    causal : bool, default False
        Mask future keys (``j > i``) as a decoder does; the result is
        lower-triangular and row 0 attends only to token 0.
    sink : float, default 0.0
        Attention-sink mass in ``[0, 1)``: every row gives this share of its
        mass to key 0 and spreads the rest by the softmax, as many heads of
        trained language models do.

    Returns
    -------
    numpy.ndarray
        ``float64`` array of shape ``(n, n)``; every row is non-negative and
        sums to 1.

    Raises
    ------
    InvalidParameterError
        If ``n``, ``temperature`` or ``sink`` is out of range, or ``seed`` is not a seed.

    Examples
    --------
    >>> import numpy as np
    >>> A = peaky_attention(4, seed=1, sink=0.5)
    >>> bool(np.all(A[:, 0] >= 0.5)), bool(np.allclose(A.sum(axis=1), 1.0))
    (True, True)
    >>> bool(np.array_equal(A, peaky_attention(4, seed=1, sink=0.5)))
    True
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise InvalidParameterError(f"n must be a positive int (number of tokens), got {n!r}")
    if not (isinstance(temperature, (int, float)) and math.isfinite(temperature) and temperature > 0):
        raise InvalidParameterError(
            f"temperature must be a finite number > 0, got {temperature!r}; 0.25 gives a few keys per row"
        )
    if not (isinstance(sink, (int, float)) and 0.0 <= sink < 1.0):
        raise InvalidParameterError(f"sink must be in [0, 1), got {sink!r}; use 0 for no attention sink")
    rng = _rng(seed)
    scores = rng.standard_normal((int(n), int(n))) / float(temperature)
    if causal:
        scores[np.triu_indices(int(n), k=1)] = -np.inf
    scores -= scores.max(axis=1, keepdims=True)
    weights = np.exp(scores)
    weights /= weights.sum(axis=1, keepdims=True)
    if sink > 0.0:
        weights *= 1.0 - float(sink)
        weights[:, 0] += float(sink)
    return weights


def linear_gaussian_correlation(
    dag: Any,
    *,
    seed: SeedLike,
    observed: Sequence[Hashable] | None = None,
    n_samples: int | None = None,
    weight_range: tuple[float, float] = (0.5, 1.5),
) -> np.ndarray:
    """The correlation matrix of a linear-Gaussian model over a known DAG.

    Each node is ``X_v = sum_{u -> v} w_uv X_u + e_v`` with independent
    standard-normal noise ``e_v`` and weights of random sign whose magnitudes
    are uniform in ``weight_range``. Nodes left out of ``observed`` act as
    latent variables: they shape the correlations but are not returned.

    Parameters
    ----------
    dag : networkx.DiGraph
        The causal DAG (latent nodes included).
    seed : int, numpy Generator or None
        Source of the weights (and of the sample when ``n_samples`` is given).
    observed : sequence of hashable, optional
        The nodes to return, in this row order. Default: all nodes of ``dag``
        sorted by :func:`~whytoken.graphs.node_sort_key`.
    n_samples : int, optional
        If given (>= 3), the empirical correlation of this many samples drawn
        from the model; if None, the population correlation.
    weight_range : (float, float), default (0.5, 1.5)
        Lower and upper bound of the absolute edge weights, ``0 < low <= high``.

    Returns
    -------
    numpy.ndarray
        ``float64`` correlation matrix of shape ``(len(observed), len(observed))``.

    Raises
    ------
    InvalidGraphError
        If ``dag`` has a directed cycle.
    NodeNotFoundError
        If ``observed`` names a node that is not in ``dag``.
    InvalidParameterError
        If ``n_samples`` or ``weight_range`` is out of range.

    Examples
    --------
    A chain ``0 -> 1 -> 2``: 0 and 2 are correlated, but independent given 1.

    >>> import networkx as nx, numpy as np
    >>> R = linear_gaussian_correlation(nx.DiGraph([(0, 1), (1, 2)]), seed=0)
    >>> P = np.linalg.inv(R)           # zero precision entry = zero partial correlation
    >>> bool(abs(R[0, 2]) > 0.1), bool(abs(P[0, 2]) < 1e-12)
    (True, True)
    """
    import networkx as nx

    if not nx.is_directed_acyclic_graph(dag):
        cycle = nx.find_cycle(dag)
        raise InvalidGraphError(f"dag has a directed cycle {cycle}; pass an acyclic networkx.DiGraph")
    low, high = (float(v) for v in weight_range)
    if not (0.0 < low <= high and math.isfinite(high)):
        raise InvalidParameterError(
            f"weight_range must be (low, high) with 0 < low <= high, got {weight_range!r}; e.g. (0.5, 1.5)"
        )
    if n_samples is not None and (isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer))
                                  or n_samples < 3):
        raise InvalidParameterError(
            f"n_samples must be an int >= 3 or None (population correlation), got {n_samples!r}"
        )
    all_nodes = list(nx.topological_sort(dag))
    index = {node: i for i, node in enumerate(all_nodes)}
    if observed is None:
        observed = sorted(dag.nodes, key=node_sort_key)
    observed = list(observed)
    missing = [node for node in observed if node not in index]
    if missing:
        raise NodeNotFoundError(
            f"observed node(s) {missing[:10]} are not in the DAG's {len(all_nodes)} nodes; "
            "pass a subset of dag.nodes"
        )
    rng = _rng(seed)
    p = len(all_nodes)
    weights = np.zeros((p, p))  # weights[v, u]: effect of u on v
    # Edges sorted so that the weights do not depend on networkx's insertion order.
    for u, v in sorted(dag.edges, key=lambda e: (index[e[0]], index[e[1]])):
        weights[index[v], index[u]] = rng.uniform(low, high) * rng.choice((-1.0, 1.0))
    # X = W X + e  =>  X = M e with M = (I - W)^-1 (unit lower-triangular in topological order)
    mixing = np.linalg.solve(np.eye(p) - weights, np.eye(p))
    rows = [index[node] for node in observed]
    if n_samples is None:
        cov = mixing[rows] @ mixing[rows].T
        scale = np.sqrt(np.diag(cov))
        corr = cov / np.outer(scale, scale)
    else:
        noise = rng.standard_normal((int(n_samples), p))
        samples = noise @ mixing[rows].T
        corr = np.corrcoef(samples, rowvar=False)
    corr = np.atleast_2d(corr)
    np.fill_diagonal(corr, 1.0)
    logger.debug("linear-Gaussian correlation over %d observed of %d nodes", len(rows), p)
    return corr
