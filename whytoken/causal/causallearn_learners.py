"""causal-learn's FCI and PC as whytoken learners, running on any whytoken CI test.

`causal-learn <https://github.com/py-why/causal-learn>`_ is the reference
Python implementation of the constraint-based learners FCI (PAGs, latent
confounders allowed) and PC (CPDAGs, no latent confounders). This module
registers them as the learners ``"fci"`` and ``"pc"`` so that they run on the
same :class:`~whytoken.causal.base.CITest` as whytoken's own learners, e.g. the
d-separation oracle or the attention partial-correlation test, and return the
same :class:`~whytoken.causal.base.LearnResult`. That makes "same CI test,
different learner" comparisons exact: any difference in the output comes from
the search, not from the statistics.

How the bridge works
--------------------
causal-learn calls a CI test object as ``test(i, j, S) -> p_value`` with
column indices of a data matrix and decides "independent" when
``p_value > alpha``. The adapter maps column ``i`` to the ``i``-th node
(nodes sorted by :func:`~whytoken.graphs.node_sort_key`, so the listing order
of ``nodes`` does not matter), runs the whytoken test, and returns a p-value
that encodes the whytoken decision exactly: ``0.5 + p/2`` when the test says
independent, ``p/2`` otherwise, with causal-learn's ``alpha`` set to 0.5. The
map keeps the order of p-values, so rules that compare p-values see the same
ranking. causal-learn never touches data: it gets a zero-stride placeholder
array for its shape checks. Repeated queries are answered from a cache, as
causal-learn's own tests do, so ``n_tests`` counts distinct tests.

Order dependence
----------------
Both algorithms depend on the order in which they visit variables. PC runs in
its order-independent *stable* form for the skeleton, but its collider
orientation and causal-learn's FCI (adjacency search, possible-d-sep removal
and orientation rules) are not order-independent: on finite samples, and
even in causal-learn's own oracle tests (where ``dag2pag`` and ``fci`` give
different PAGs under different node orders in a few percent of graphs), a
relabelling of the nodes can change the output. Here the visit order is the
sorted node order, so results are reproducible for given node ids. Neither
learner uses a causal order of the nodes: ``order`` is accepted (for the
common learner signature) and ignored.

causal-learn prints to stdout in places (e.g. FCI's edge colouring); the
learners capture that output and send it to this module's logger at DEBUG
level, so library code stays silent.

Examples
--------
>>> import networkx as nx
>>> from whytoken.causal import learn_pag
>>> from whytoken.causal.causallearn_learners import CallableCITest
>>> dag = nx.DiGraph([("a", "c"), ("b", "c")])
>>> oracle = CallableCITest(["a", "b", "c"], lambda x, y, z: nx.is_d_separator(dag, {x}, {y}, set(z)))
>>> result = learn_pag(oracle, ["a", "b", "c"], method="pc")
>>> print(result.pag.describe())
a --> c
b --> c
>>> result.n_tests == oracle.n_tests
True
"""

from __future__ import annotations

import abc
import contextlib
import functools
import io
import itertools
import logging
import time
import warnings
from typing import Any, Callable, Hashable, Sequence

import numpy as np

from whytoken.causal.base import CIResult, CITest, Learner, LearnResult, register_learner
from whytoken.causal.orientation import CIRCLE, orient
from whytoken.errors import InvalidParameterError, NodeNotFoundError
from whytoken.graphs import PAG, node_sort_key
from whytoken.graphs.io import pag_from_causallearn

__all__ = ["FCILearner", "PCLearner", "CallableCITest"]

logger = logging.getLogger(__name__)

#: The name under which the adapter is registered in causal-learn's CI-test registry.
_CL_TEST_NAME = "whytoken"
#: causal-learn's alpha; the adapter maps whytoken decisions onto either side of it.
_CL_ALPHA = 0.5


class CallableCITest:
    """A minimal :class:`~whytoken.causal.base.CITest` from a function ``independent(x, y, cond) -> bool``.

    Handy for oracles written inline (e.g. around ``networkx.is_d_separator``)
    and for tests of learners. The p-value is 1.0 for independence, 0.0
    otherwise.

    Parameters
    ----------
    nodes : sequence of hashable
        The nodes the test knows.
    independent : callable
        ``independent(x, y, cond)`` with ``cond`` a tuple; returns a bool.

    Examples
    --------
    >>> t = CallableCITest([0, 1], lambda x, y, z: True)
    >>> t.test(0, 1).independent, t.n_tests
    (True, 1)
    """

    def __init__(self, nodes: Sequence[Hashable], independent: Callable[[Hashable, Hashable, tuple], bool]) -> None:
        self._nodes = list(nodes)
        self._independent = independent
        self.n_tests = 0

    @property
    def nodes(self) -> list[Hashable]:
        """The nodes this test can be asked about."""
        return list(self._nodes)

    def test(self, x: Hashable, y: Hashable, cond: Sequence[Hashable] = ()) -> CIResult:
        """Run the test ``x _||_ y | cond``."""
        cond = tuple(sorted(cond, key=node_sort_key))
        self.n_tests += 1
        ind = bool(self._independent(x, y, cond))
        return CIResult(x, y, cond, 0.0 if ind else float("inf"), 1.0 if ind else 0.0, ind)


class _Bridge:
    """Per-run state shared between a learner and its causal-learn adapter instance."""

    def __init__(self, ci_test: CITest, nodes: list[Hashable], max_cond_size: int | None) -> None:
        self.ci_test = ci_test
        self.nodes = nodes
        self.max_cond_size = max_cond_size
        self.cache: dict[tuple[int, int, tuple[int, ...]], float] = {}
        self.first_sepset: dict[frozenset, tuple] = {}
        self.n_tests = 0
        self.n_calls = 0
        self.n_capped = 0

    def p_value(self, i: int, j: int, cond: tuple[int, ...]) -> float:
        self.n_calls += 1
        if i > j:
            i, j = j, i
        cond = tuple(sorted(set(cond)))
        key = (i, j, cond)
        if key in self.cache:
            return self.cache[key]
        if self.max_cond_size is not None and len(cond) > self.max_cond_size:
            # causal-learn's possible-d-sep and discriminating-path stages ignore `depth`;
            # answering "dependent" without testing makes max_cond_size bind everywhere.
            self.n_capped += 1
            self.cache[key] = 0.0
            return 0.0
        x, y = self.nodes[i], self.nodes[j]
        result = self.ci_test.test(x, y, tuple(self.nodes[k] for k in cond))
        self.n_tests += 1
        p = min(max(float(result.p_value), 0.0), 1.0) if np.isfinite(result.p_value) else 0.0
        if result.independent:
            pair = frozenset((x, y))
            if pair not in self.first_sepset:
                self.first_sepset[pair] = tuple(sorted((self.nodes[k] for k in cond), key=node_sort_key))
            encoded = max(_CL_ALPHA + 0.5 * p, float(np.nextafter(_CL_ALPHA, 1.0)))
        else:
            encoded = min(0.5 * p, _CL_ALPHA)
        self.cache[key] = encoded
        return encoded


@functools.cache
def _adapter_class() -> type:
    """Build (once) the causal-learn CIT class and register it; causal-learn is imported lazily (~seconds)."""
    try:
        from causallearn.utils.cit import CIT_Base, register_ci_test
    except ImportError as err:  # pragma: no cover - depends on the installed causal-learn
        raise ImportError(
            "the 'fci' and 'pc' learners need causal-learn with a CI-test registry "
            "(causallearn.utils.cit.register_ci_test, causal-learn >= 0.1.4); "
            f"installed import failed: {err}. Fix: pip install -U causal-learn"
        ) from err
    # Import the searches too, so that the first learner run does not time causal-learn's import.
    import causallearn.search.ConstraintBased.FCI  # noqa: F401
    import causallearn.search.ConstraintBased.PC  # noqa: F401

    class WhytokenCIT(CIT_Base):
        """causal-learn view of a whytoken CI test (see the module docstring)."""

        def __init__(self, data: np.ndarray, bridge: _Bridge | None = None, **kwargs: Any) -> None:
            super().__init__(data, **kwargs)
            if bridge is None:
                raise InvalidParameterError(
                    "the causal-learn 'whytoken' CI test needs bridge=<_Bridge>; "
                    "run it through whytoken.causal.learn_pag(method='fci' or 'pc')"
                )
            self.method = _CL_TEST_NAME
            self.bridge = bridge

        def __call__(self, X: Any, Y: Any, condition_set: Any = None) -> float:
            cond = () if condition_set is None else tuple(int(k) for k in condition_set)
            return self.bridge.p_value(int(X), int(Y), cond)

    register_ci_test(_CL_TEST_NAME, WhytokenCIT)
    return WhytokenCIT


class _CausalLearnLearner(Learner):
    """Shared plumbing of the causal-learn learners."""

    uses_order = False

    def __init__(self, max_cond_size: int | None = None) -> None:
        self.max_cond_size = max_cond_size

    def _check(self, ci_test: CITest, nodes: Sequence[Hashable]) -> list[Hashable]:
        if self.max_cond_size is not None and (
            isinstance(self.max_cond_size, bool) or not isinstance(self.max_cond_size, (int, np.integer))
            or self.max_cond_size < 0
        ):
            raise InvalidParameterError(
                f"max_cond_size must be a non-negative int or None (no limit), got {self.max_cond_size!r}"
            )
        node_list = list(nodes)
        if len(set(node_list)) != len(node_list):
            seen: set = set()
            repeated = [n for n in node_list if n in seen or seen.add(n)]
            raise InvalidParameterError(f"nodes repeat {repeated[:10]}; pass each node once")
        known = set(ci_test.nodes)
        missing = [n for n in node_list if n not in known]
        if missing:
            raise NodeNotFoundError(
                f"node(s) {missing[:10]} are not among the CI test's {len(known)} nodes; "
                "learn over a subset of ci_test.nodes"
            )
        return sorted(node_list, key=node_sort_key)

    def _run(self, ci_test: CITest, nodes: Sequence[Hashable], order: Sequence[Hashable] | None) -> LearnResult:
        node_list = self._check(ci_test, nodes)
        if order is not None:
            logger.debug("%s ignores the causal order it was given", self.name)
        bridge = _Bridge(ci_test, node_list, self.max_cond_size)
        if len(node_list) >= 2:
            _adapter_class()  # imports causal-learn and registers the adapter as _CL_TEST_NAME
        counter_before = ci_test.n_tests
        start = time.perf_counter()
        if len(node_list) < 2:
            pag = PAG(node_list)
        else:
            # Zero-stride placeholder: causal-learn reads only its shape. One row more than
            # columns keeps its "more features than samples" warning quiet.
            placeholder = np.broadcast_to(np.zeros(1), (len(node_list) + 1, len(node_list)))
            captured = io.StringIO()
            with warnings.catch_warnings(), contextlib.redirect_stdout(captured):
                warnings.simplefilter("ignore")
                graph = self._search(placeholder, bridge)
            if captured.getvalue():
                logger.debug("causal-learn %s printed:\n%s", self.name, captured.getvalue().rstrip())
            if isinstance(graph, PAG):
                pag = graph
            else:  # rebuilt from the edges so causal-learn's node attributes (its column ids) do not leak
                pag = PAG.from_edges(node_list, pag_from_causallearn(graph, nodes=node_list).edges())
        seconds = time.perf_counter() - start
        if ci_test.n_tests - counter_before != bridge.n_tests:
            logger.warning(
                "the CI test's counter moved by %d while %s ran %d tests; is it shared with another thread?",
                ci_test.n_tests - counter_before, self.name, bridge.n_tests,
            )
        pag.meta.update({"learner": self.name, "causallearn_calls": bridge.n_calls, "capped_tests": bridge.n_capped})
        sepsets = {pair: cond for pair, cond in bridge.first_sepset.items() if not pag.has_edge(*tuple(pair))}
        params: dict[str, Any] = dict(self.get_params())
        alpha = getattr(ci_test, "alpha", None)
        if alpha is not None:
            params["alpha"] = alpha
        logger.debug("%s: %d nodes, %d edges, %d tests, %.3f s", self.name, len(node_list),
                     pag.number_of_edges(), bridge.n_tests, seconds)
        return LearnResult(pag=pag, sepsets=sepsets, n_tests=bridge.n_tests, level_times=(seconds,),
                           method=self.name, params=params)

    @abc.abstractmethod
    def _search(self, placeholder: np.ndarray, bridge: _Bridge) -> Any:
        """Run the causal-learn search; return its ``GeneralGraph``."""


@register_learner("fci")
class FCILearner(_CausalLearnLearner):
    """causal-learn's FCI on a whytoken CI test: a PAG, latent confounders allowed.

    Parameters
    ----------
    max_cond_size : int, optional
        Largest conditioning set to test (None: no limit). Passed to FCI's
        adjacency search as ``depth``. causal-learn applies ``depth`` there
        only and enumerates *every* subset of each possible-d-sep set, so with
        a cap the possible-d-sep stage is run by whytoken's own bounded
        version of that step (same visit order and rule, subsets of size 2 up
        to the cap only); larger sets met in the discriminating-path stage are
        answered "dependent" without running the test.
    max_path_length : int, optional
        Longest discriminating path FCI searches (None: no limit).

    Notes
    -----
    Without ``max_cond_size``, FCI's possible-d-sep stage tries every subset
    of each possible-d-sep set, so its run time grows exponentially with the
    density of the skeleton (one dense 46-token head ran for more than ten
    minutes); set a cap or keep it to small or sparse problems.

    What runs is causal-learn's FCI *search* -- its fast adjacency search
    (FAS), R0 and the possible-d-sep removal -- and then whytoken's own
    orientation rules (:func:`whytoken.causal.orientation.orient`: R0-R4
    and R8-R10, no selection-bias rules) on its skeleton and separating
    sets. causal-learn 0.1.4.8's ``fci`` always applies the selection-bias
    rules R5-R7 (its R5 without checking that the circle path is uncovered),
    which turned edges into ``---`` with no selection bias at all, and its
    R10 accepts semi-directed paths that run back through the edge's own
    endpoint, which over-orients ``a o-> c`` as ``a --> c``; with a perfect
    oracle the result is now the true PAG
    (:func:`whytoken.causal.reference.true_pag`; tested on 120 random latent
    DAGs and five bnlearn networks with 0/10/20 % latents).

    What remains of causal-learn's known issues: its skeleton search depends
    on the node order (nodes are visited in sorted order; on finite samples a
    relabelling can change the output), its possible-d-sep stage tries every
    subset of each possible-d-sep set (exponential in the skeleton's
    density: water and hailfinder take minutes; ``max_cond_size`` bounds
    it), and ``dag2pag`` (not used here) passes separating sets of node
    objects to R3/R4. ``order`` is ignored. ``level_times`` has one entry
    (the whole run); ``sepsets`` holds, for every non-adjacent pair, the
    first conditioning set on which the test reported independence.

    Examples
    --------
    A latent ``L`` confounds ``b`` and ``c``; FCI finds ``a o-> b <-o c``.

    >>> import networkx as nx
    >>> dag = nx.DiGraph([("a", "b"), ("L", "b"), ("L", "c")])
    >>> obs = ["a", "b", "c"]
    >>> oracle = CallableCITest(obs, lambda x, y, z: nx.is_d_separator(dag, {x}, {y}, set(z)))
    >>> print(FCILearner().learn(oracle, obs).pag.describe())
    a o-> b
    b <-o c
    """

    def __init__(self, max_cond_size: int | None = None, max_path_length: int | None = None) -> None:
        super().__init__(max_cond_size)
        self.max_path_length = max_path_length

    def learn(self, ci_test: CITest, nodes: Sequence[Hashable], order: Sequence[Hashable] | None = None) -> LearnResult:
        """Run FCI over ``nodes``; see the class docstring."""
        if self.max_path_length is not None and (
            isinstance(self.max_path_length, bool) or not isinstance(self.max_path_length, (int, np.integer))
            or self.max_path_length < 0
        ):
            raise InvalidParameterError(
                f"max_path_length must be a non-negative int or None (no limit), got {self.max_path_length!r}"
            )
        return self._run(ci_test, nodes, order)

    def _search(self, placeholder: np.ndarray, bridge: _Bridge) -> Any:
        """causal-learn's FCI skeleton search (FAS, R0, possible-d-sep), then whytoken's orientation rules."""
        from causallearn.graph.Endpoint import Endpoint
        from causallearn.graph.GraphNode import GraphNode
        from causallearn.search.ConstraintBased import FCI
        from causallearn.utils.cit import CIT

        test = CIT(placeholder, method=_CL_TEST_NAME, bridge=bridge)
        nodes = []
        for i in range(placeholder.shape[1]):
            node = GraphNode(f"X{i + 1}")
            node.add_attribute("id", i)
            nodes.append(node)
        depth = -1 if self.max_cond_size is None else int(self.max_cond_size)
        graph, sep_sets, _ = FCI.fas(placeholder, nodes, independence_test_method=test, alpha=_CL_ALPHA,
                                     knowledge=None, depth=depth, verbose=False, show_progress=False)
        FCI.reorientAllWith(graph, Endpoint.CIRCLE)
        FCI.rule0(graph, nodes, sep_sets, None, False)
        if self.max_cond_size is None:
            FCI.removeByPossibleDsep(graph, test, _CL_ALPHA, sep_sets)
        else:
            _bounded_possible_dsep_step(int(self.max_cond_size))(graph, test, _CL_ALPHA, sep_sets)
        return _orient_skeleton(graph, nodes, sep_sets, bridge.nodes)


def _orient_skeleton(graph: Any, cl_nodes: list, sep_sets: dict, labels: list[Hashable]) -> PAG:
    """FCI's skeleton and separating sets oriented by whytoken's R0-R4 and R8-R10 (no selection-bias rules)."""
    n = len(cl_nodes)
    index = {node: i for i, node in enumerate(cl_nodes)}
    marks = np.zeros((n, n), dtype=np.int8)
    for edge in graph.get_graph_edges():
        i, j = index[edge.get_node1()], index[edge.get_node2()]
        marks[i, j] = marks[j, i] = CIRCLE
    seps: dict[tuple[int, int], frozenset[int]] = {}
    for (i, j), members in sep_sets.items():
        if marks[i, j] == 0:
            seps[(min(i, j), max(i, j))] = frozenset(int(k) for k in members)
    return PAG.from_mark_matrix(orient(marks, seps, selection_bias=False, tail_completeness=True), labels)


def _bounded_possible_dsep_step(max_size: int) -> Any:
    """FCI's possible-d-sep edge removal with conditioning sets of at most ``max_size`` nodes.

    The same step as causal-learn's ``removeByPossibleDsep`` (each edge, from
    each endpoint's possible-d-sep set; sets inside either endpoint's adjacency
    were tested by the adjacency search and are skipped; the first independent
    set removes the edge and is recorded) except that subsets are enumerated
    by size, 2 up to ``max_size``, instead of all of them.
    """
    from causallearn.search.ConstraintBased.FCI import getPossibleDsep

    def remove(graph: Any, independence_test_method: Any, alpha: float, sep_sets: dict) -> None:
        node_map = graph.get_node_map()
        for edge in graph.get_graph_edges():
            node_a, node_b = edge.get_node1(), edge.get_node2()
            x, y = node_map[node_a], node_map[node_b]
            # the graph changes only when this edge is removed, which ends its turn
            adjacent_a = set(graph.get_adjacent_nodes(node_a))
            adjacent_b = set(graph.get_adjacent_nodes(node_b))
            for start, other in ((node_a, node_b), (node_b, node_a)):
                if not graph.contains_edge(edge):
                    break
                pds = getPossibleDsep(start, other, graph, -1)
                found = None
                for size in range(2, min(max_size, len(pds)) + 1):
                    for combo in itertools.combinations(pds, size):
                        members = set(combo)
                        if members <= adjacent_a or members <= adjacent_b:
                            continue
                        cond = tuple(node_map[n] for n in combo)
                        if independence_test_method(x, y, cond) > alpha:
                            found = cond
                            break
                    if found is not None:
                        break
                if found is not None:
                    graph.remove_edge(edge)
                    sep_sets[(x, y)] = set(found)

    return remove


@register_learner("pc")
class PCLearner(_CausalLearnLearner):
    """causal-learn's PC on a whytoken CI test: a CPDAG (``-->`` and ``---``), no latent confounders.

    Parameters
    ----------
    max_cond_size : int, optional
        Largest conditioning set to test (None: no limit); causal-learn's ``max_k``.
    stable : bool, default True
        Order-independent ("stable") skeleton search.
    uc_rule : {0, 1, 2}, default 0
        How unshielded colliders are oriented: 0 sepsets, 1 maxP, 2 definite maxP.
    uc_priority : int, default 2
        How conflicting colliders are resolved (causal-learn's codes -1..4;
        2 keeps existing colliders). A conflict can leave a ``<->`` edge,
        which is kept as is.

    Notes
    -----
    PC assumes causal sufficiency; with latent confounders use ``fci`` or
    ``icd``. With ``stable=True`` the skeleton does not depend on the node
    order, the orientation can. ``order`` is ignored. ``level_times`` has one
    entry; ``sepsets`` holds the first separating set found per removed pair.
    The maxP rules compare p-values; they see the whytoken p-values through
    an order-preserving map (see the module docstring).

    Examples
    --------
    >>> import networkx as nx
    >>> dag = nx.DiGraph([(0, 1), (1, 2), (3, 2)])
    >>> oracle = CallableCITest(list(dag), lambda x, y, z: nx.is_d_separator(dag, {x}, {y}, set(z)))
    >>> print(PCLearner().learn(oracle, [0, 1, 2, 3]).pag.describe())
    0 --- 1
    1 --> 2
    2 <-- 3
    """

    def __init__(self, max_cond_size: int | None = None, stable: bool = True, uc_rule: int = 0,
                 uc_priority: int = 2) -> None:
        super().__init__(max_cond_size)
        self.stable = stable
        self.uc_rule = uc_rule
        self.uc_priority = uc_priority

    def learn(self, ci_test: CITest, nodes: Sequence[Hashable], order: Sequence[Hashable] | None = None) -> LearnResult:
        """Run PC over ``nodes``; see the class docstring."""
        if self.uc_rule not in (0, 1, 2):
            raise InvalidParameterError(f"uc_rule must be 0, 1 or 2, got {self.uc_rule!r}")
        if self.uc_priority not in (-1, 0, 1, 2, 3, 4):
            raise InvalidParameterError(f"uc_priority must be one of -1, 0, 1, 2, 3, 4, got {self.uc_priority!r}")
        return self._run(ci_test, nodes, order)

    def _search(self, placeholder: np.ndarray, bridge: _Bridge) -> Any:
        from causallearn.search.ConstraintBased.PC import pc

        cg = pc(
            placeholder,
            alpha=_CL_ALPHA,
            indep_test=_CL_TEST_NAME,
            stable=bool(self.stable),
            uc_rule=int(self.uc_rule),
            uc_priority=int(self.uc_priority),
            verbose=False,
            show_progress=False,
            max_k=None if self.max_cond_size is None else int(self.max_cond_size),
            bridge=bridge,
        )
        return cg.G
