"""Learn one PAG per head for a whole attention layer at once.

Explaining a token reads every head of a layer, and the heads of a layer
share their shape and settings. :func:`learn_layer` takes the layer's
attention as one ``(heads, n, n)`` array and

1. builds one correlation matrix per head
   (:func:`~whytoken.causal.ci_tests.attention_to_correlation`) and checks
   each head is learnable
   (:meth:`~whytoken.causal.ci_tests.PartialCorrelationTest.check_learnable`);
2. runs ICD's levels 0 and 1 -- most of the work on dense heads -- for all
   heads together (:mod:`whytoken.causal.evidence`), on the CPU with numpy
   or with torch on a GPU (``backend="torch"``; imported only then);
3. continues every head from level 2 on its own, in ``n_jobs`` processes.

The results equal ``learn_pag`` run head by head with the same settings
(same graphs, separating sets and test counts; the tests check it), whatever
the backend and the number of processes.

Examples
--------
>>> import numpy as np
>>> from whytoken.causal.layer import learn_layer
>>> from whytoken.causal.synthetic import peaky_attention
>>> layer = np.stack([peaky_attention(12, seed=s, causal=True) for s in range(3)])
>>> results = learn_layer(layer, n_samples=64)
>>> len(results), results[0].method, results[2].params["head"]
(3, 'ordered-icd', 2)
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from typing import Any, Hashable, Sequence

import numpy as np

from whytoken.causal import evidence
from whytoken.causal.base import LearnResult, check_order, get_learner
from whytoken.causal.ci_tests import PartialCorrelationTest, attention_to_correlation
from whytoken.causal.icd import ICD
from whytoken.causal.icd_engine import TIE_RTOL, Precomputed
from whytoken.errors import InvalidAttentionError, InvalidParameterError
from whytoken.graphs import node_sort_key

__all__ = ["learn_layer"]

logger = logging.getLogger(__name__)


def _as_stack(attention: Any) -> tuple[np.ndarray, Any]:
    """The attention as a float64 numpy stack, and the torch device it came from (or None)."""
    device = None
    if type(attention).__module__.startswith("torch"):  # a torch tensor: no torch import needed to read it
        device = attention.device
        attention = attention.detach().to("cpu").double().numpy()
    try:
        a = np.asarray(attention, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise InvalidAttentionError(f"attention is not a numeric array ({err}); pass a (heads, n, n) array") from err
    if a.ndim != 3 or a.shape[1] != a.shape[2] or a.shape[0] < 1:
        raise InvalidAttentionError(
            f"attention must have shape (heads, n, n), got {a.shape}; pass one layer, e.g. "
            "trace.attentions[layer] or attentions[layer][batch]"
        )
    return a, device


def learn_layer(
    attention: Any,
    *,
    n_samples: int,
    alpha: float = 0.01,
    method: str = "ordered-icd",
    nodes: Sequence[Hashable] | None = None,
    order: Sequence[Hashable] | None = None,
    max_cond_size: int | None = None,
    n_jobs: int | None = None,
    backend: str | None = None,
    device: Any = None,
    **params: Any,
) -> list[LearnResult]:
    """Learn one PAG per head of an attention layer; levels 0 and 1 of all heads run as one batch.

    Parameters
    ----------
    attention : array_like or torch.Tensor, shape (heads, n, n)
        Row-stochastic attention weights of one layer (query x key per head).
        A torch tensor is read where it lives; with a CUDA tensor the default
        backend is ``"torch"`` on that device.
    n_samples : int
        Effective sample size N of the Fisher-z test (e.g. the head dimension).
    alpha : float, default 0.01
        Significance level.
    method : {"ordered-icd", "icd"}, default "ordered-icd"
        The ICD learner (other learners: use :func:`~whytoken.causal.base.learn_pag` per head).
    nodes : sequence of hashable, optional
        Names of the ``n`` tokens, in matrix order (default ``0 .. n-1``).
    order : sequence of hashable, optional
        Causal order of ``nodes`` for ``ordered-icd`` (default: the matrix
        order, i.e. the token order of a decoder).
    max_cond_size : int, optional
        Largest conditioning-set size (None: no limit; ``explain`` uses 3).
    n_jobs : int, optional
        Processes for the per-head work after level 1: None or 1 runs in this
        process, -1 uses every CPU this process may run on, k uses k.
        Levels 0 and 1 of a group of heads always run together.
    backend : {"numba", "numpy", "torch"}, optional
        Where the level-1 screen runs (default: "torch" for a CUDA tensor,
        else "numba" where numba is installed, else "numpy"); results are
        the same.
    device : str or torch.device, optional
        Torch device for ``backend="torch"`` (default: the tensor's, else CUDA
        when available, else CPU).
    **params
        Further learner parameters (``selection_bias``, ``tail_completeness``).

    Returns
    -------
    list of LearnResult
        One per head, in head order; ``params["head"]`` is the head index.

    Raises
    ------
    InvalidAttentionError
        If the attention is not a ``(heads, n, n)`` stack of row-stochastic
        matrices, or a head is degenerate (the message names the head).
    InvalidParameterError, InvalidOrderError, UnknownLearnerError
        For bad settings, an order that is not a permutation of ``nodes``, or
        a method that is not an ICD learner.
    """
    stack, tensor_device = _as_stack(attention)
    h_count, n, _ = stack.shape
    learner = get_learner(method, max_cond_size=max_cond_size, **params)
    if not isinstance(learner, ICD):
        raise InvalidParameterError(
            f"learn_layer runs the ICD learners ('icd', 'ordered-icd'), got method={method!r}; "
            "run other learners head by head with learn_pag"
        )
    node_list = list(range(n)) if nodes is None else list(nodes)
    if len(node_list) != n or len(set(node_list)) != n:
        raise InvalidParameterError(
            f"nodes has {len(node_list)} entries ({len(set(node_list))} distinct) for {n} tokens; pass one name per token"
        )
    if learner.uses_order:
        order = check_order(node_list, node_list if order is None else order)
    else:
        order = None
    if backend is None:
        backend = "torch" if tensor_device is not None and tensor_device.type == "cuda" else evidence.default_backend()
    if device is None and tensor_device is not None:
        device = tensor_device
    if backend not in evidence.BACKENDS:
        raise InvalidParameterError(f"backend={backend!r} is unknown; expected one of {', '.join(evidence.BACKENDS)}")
    tests = []
    for h in range(h_count):
        try:
            test = PartialCorrelationTest(attention_to_correlation(stack[h]), n_samples=n_samples, alpha=alpha,
                                          nodes=node_list)
            test.check_learnable()
        except InvalidAttentionError as err:
            raise InvalidAttentionError(f"head {h}: {err}") from err
        tests.append(test)
    jobs = _resolve_jobs(n_jobs, h_count)
    job = _Job(learner, node_list, order)
    if jobs == 1 or backend == "torch":
        pres = job.evidence(tests, backend, device)
        if jobs == 1:
            results = [job.finish(t, p) for t, p in zip(tests, pres)]
        else:
            with ProcessPoolExecutor(jobs, mp_context=get_context("fork")) as pool:
                results = list(pool.map(job.finish, tests, pres))
    else:
        groups = [list(range(h_count))[k::jobs] for k in range(jobs)]
        with ProcessPoolExecutor(jobs, mp_context=get_context("fork")) as pool:
            parts = list(pool.map(job.group, [[tests[h] for h in g] for g in groups]))
        results = [None] * h_count
        for g, part in zip(groups, parts):
            for h, res in zip(g, part):
                results[h] = res
    out = []
    for h, res in enumerate(results):
        res.params["head"] = h
        out.append(res)
    logger.debug("learn_layer: %d heads of %d tokens, %d process(es), backend %s", h_count, n, jobs, backend)
    return out


def _resolve_jobs(n_jobs: int | None, h_count: int) -> int:
    if n_jobs is None:
        return 1
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, (int, np.integer)) or n_jobs == 0 or n_jobs < -1:
        raise InvalidParameterError(f"n_jobs must be None, -1 (all CPUs) or a positive int, got {n_jobs!r}")
    if n_jobs == -1:
        n_jobs = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(int(n_jobs), h_count))


class _Job:
    """The per-layer settings, shared by the processes (picklable)."""

    def __init__(self, learner: ICD, nodes: list[Hashable], order: list[Hashable] | None) -> None:
        self.learner = learner
        self.nodes = nodes
        self.order = order
        # the engine's local indices: nodes sorted by value; matrix position p is local index local_of[p]
        local = sorted(nodes, key=node_sort_key)
        where = {v: i for i, v in enumerate(local)}
        self.local_of = np.array([where[v] for v in nodes], dtype=np.intp)
        # with an order, levels 0/1 run on the matrix permuted into causal order
        self.perm = None
        if order is not None:
            pos = {v: i for i, v in enumerate(nodes)}
            self.perm = np.array([pos[v] for v in order], dtype=np.intp)

    def evidence(self, tests: list[PartialCorrelationTest], backend: str, device: Any) -> list[Precomputed]:
        """Levels 0 and 1 of these heads, as one batch, in the engine's local indices."""
        ci = tests[0]
        stack = np.stack([t.correlation for t in tests])
        if self.perm is not None:
            stack = np.ascontiguousarray(stack[:, self.perm][:, :, self.perm])
        adj = evidence.level0(stack, n_samples=ci.n_samples, alpha=ci.alpha)
        hits = evidence.level1(stack, adj, n_samples=ci.n_samples, alpha=ci.alpha, ordered=self.perm is not None,
                               tie_rtol=TIE_RTOL, backend=backend, device=device)
        to_matrix = np.arange(stack.shape[1]) if self.perm is None else self.perm
        to_local = self.local_of[to_matrix]  # evidence index -> engine index
        n = stack.shape[1]
        out = []
        for h, hit in enumerate(hits):
            adj_local = np.zeros((n, n), dtype=bool)
            adj_local[np.ix_(to_local, to_local)] = adj[h]
            a, b = to_local[hit.x], to_local[hit.y]
            local_hits = evidence.Level1Hits(np.minimum(a, b), np.maximum(a, b), to_local[hit.z], hit.p_value,
                                             hit.n_tests)
            out.append(Precomputed(adj_local, local_hits, n * (n - 1) // 2))
        return out

    def finish(self, test: PartialCorrelationTest, pre: Precomputed) -> LearnResult:
        """Levels 2 and up of one head."""
        return self.learner._learn(test, self.nodes, self.order, pre)

    def group(self, tests: list[PartialCorrelationTest]) -> list[LearnResult]:
        """A group of heads in one process: their levels 0 and 1 together, then each on its own."""
        return [self.finish(t, p) for t, p in zip(tests, self.evidence(tests, evidence.default_backend(), None))]
