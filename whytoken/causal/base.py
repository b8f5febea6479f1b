"""Protocols shared by the causal core: CI tests, learners and their results.

A *conditional-independence (CI) test* answers "is x independent of y given
the set z?" with a :class:`CIResult`. The d-separation oracle and the
attention partial-correlation test are two implementations. Every CI test
counts its calls in ``n_tests``.

A *learner* turns a CI test and a list of nodes into a :class:`LearnResult`
holding a :class:`~whytoken.graphs.PAG`. Learners register themselves under a
name with :func:`register_learner`; :func:`learn_pag` is the one entry point.

Examples
--------
>>> from whytoken.causal.base import list_learners
>>> isinstance(list_learners(), list)
True
"""

from __future__ import annotations

import abc
import inspect
from dataclasses import dataclass, field
from typing import Any, Callable, Hashable, Mapping, Protocol, Sequence, TypeVar, runtime_checkable

from whytoken.errors import InvalidOrderError, InvalidParameterError, NodeNotFoundError, UnknownLearnerError
from whytoken.graphs import PAG
from whytoken.registry import Registry

__all__ = [
    "CIResult",
    "CITest",
    "BatchCITest",
    "LearnResult",
    "Learner",
    "register_learner",
    "get_learner",
    "list_learners",
    "learn_pag",
    "check_order",
]


@dataclass(frozen=True)
class CIResult:
    """The outcome of one conditional-independence test ``x _||_ y | cond``.

    Attributes
    ----------
    x, y : hashable
        The tested pair.
    cond : tuple
        The conditioning set, sorted.
    statistic : float
        The test statistic (Fisher z for partial correlations; 0/inf for oracles).
    p_value : float
        p-value of the null hypothesis "independent" (1.0 or 0.0 for oracles).
    independent : bool
        The decision at the test's ``alpha``.
    """

    x: Hashable
    y: Hashable
    cond: tuple
    statistic: float
    p_value: float
    independent: bool


@runtime_checkable
class CITest(Protocol):
    """What a learner needs from a CI test.

    Implementations keep a call counter ``n_tests`` (incremented once per
    tested (x, y, cond) triple, batched calls included) and expose the
    ``nodes`` they can test.
    """

    n_tests: int

    @property
    def nodes(self) -> list[Hashable]: ...

    def test(self, x: Hashable, y: Hashable, cond: Sequence[Hashable] = ()) -> CIResult: ...


@runtime_checkable
class BatchCITest(CITest, Protocol):
    """A CI test that can also test many triples in one vectorised call.

    ``test_batch(xs, ys, conds)`` takes row *positions* into ``nodes``
    (``xs``, ``ys`` of shape ``(m,)``, ``conds`` of shape ``(m, k)``, one
    size ``k`` per call) and returns ``(statistic, p_value, independent)``
    arrays of shape ``(m,)``; it adds ``m`` to ``n_tests``. Learners use it
    when present and fall back to :meth:`CITest.test` otherwise, with the
    same results. A test may also offer ``screen_order1(xs, ys, candidates,
    tie_rtol)`` (see :meth:`whytoken.causal.ci_tests.PartialCorrelationTest.screen_order1`),
    which ICD uses for its first conditioning level.
    """

    def test_batch(self, xs: Any, ys: Any, conds: Any = None) -> tuple[Any, Any, Any]: ...


@dataclass(frozen=True)
class LearnResult:
    """What a structure learner returns.

    Attributes
    ----------
    pag : PAG
        The learned graph.
    sepsets : mapping of frozenset({x, y}) -> tuple
        The separating set found for every removed edge.
    n_tests : int
        CI tests performed by this run.
    level_times : tuple of float
        Seconds spent per conditioning-set size (index r = level r; for
        learners without levels, one entry).
    method : str
        The registry name of the learner.
    params : mapping
        The learner's settings (alpha is the CI test's; stored here when known).
    """

    pag: PAG
    sepsets: Mapping[frozenset, tuple]
    n_tests: int
    level_times: tuple[float, ...]
    method: str
    params: Mapping[str, Any] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        """Total seconds over all levels."""
        return float(sum(self.level_times))


class Learner(abc.ABC):
    """Base class of structure learners.

    Subclasses store their parameters in ``__init__`` (nothing else happens
    there) and do the work in :meth:`learn`, which must not mutate the CI
    test beyond its call counter, nor any shared state.
    """

    #: registry name, set by :func:`register_learner`
    name: str = ""
    #: whether the learner uses a causal order of the nodes when one is given
    uses_order: bool = False

    @abc.abstractmethod
    def learn(
        self,
        ci_test: CITest,
        nodes: Sequence[Hashable],
        order: Sequence[Hashable] | None = None,
    ) -> LearnResult:
        """Learn a PAG over ``nodes`` with ``ci_test``."""

    def get_params(self) -> dict[str, Any]:
        """The constructor parameters (scikit-learn style)."""
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}


_LEARNERS: Registry[type[Learner]] = Registry(
    "learner", error=UnknownLearnerError, fix="Register a new one with @register_learner(name).",
    name_attribute="name",
)
L = TypeVar("L", bound=type[Learner])


def register_learner(name: str, *, overwrite: bool = False) -> Callable[[L], L]:
    """Class decorator: register a :class:`Learner` subclass under ``name`` (and set its ``name``).

    Raises
    ------
    DuplicateRegistrationError
        If ``name`` is taken by another class and ``overwrite`` is false.
    """
    return _LEARNERS.register(name, overwrite=overwrite)


def _load_builtin_learners() -> None:
    # Importing the modules runs their @register_learner decorators.
    import importlib

    for module in ("whytoken.causal.icd", "whytoken.causal.causallearn_learners"):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as err:
            if err.name != module:  # a real import failure inside the module
                raise


def list_learners() -> list[str]:
    """Names of the registered learners, sorted."""
    _load_builtin_learners()
    return _LEARNERS.names()


def get_learner(name: str, **params: Any) -> Learner:
    """Instantiate the learner registered as ``name`` with ``params``.

    Raises
    ------
    UnknownLearnerError
        If no learner has that name; the message lists the known ones.
    InvalidParameterError
        If ``params`` names a parameter the learner does not take; the
        message lists the ones it accepts.

    Examples
    --------
    >>> get_learner("icd").name
    'icd'
    """
    _load_builtin_learners()
    cls = _LEARNERS.get(name)
    accepted = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise InvalidParameterError(
            f"learner {name!r} has no parameter{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
            f"it accepts {', '.join(accepted) or 'none'}"
        )
    return cls(**params)


def check_order(nodes: Sequence[Hashable], order: Sequence[Hashable]) -> list[Hashable]:
    """Validate that ``order`` lists every node of ``nodes`` exactly once; return it as a list.

    Raises
    ------
    InvalidOrderError
        Naming the missing, repeated or unknown nodes.
    """
    order = list(order)
    node_set = set(nodes)
    seen: set = set()
    repeated = [n for n in order if n in seen or seen.add(n)]
    missing = [n for n in nodes if n not in seen]
    unknown = [n for n in order if n not in node_set]
    problems = []
    if missing:
        problems.append(f"misses node(s) {missing[:10]}")
    if repeated:
        problems.append(f"repeats node(s) {repeated[:10]}")
    if unknown:
        problems.append(f"names node(s) {unknown[:10]} that are not among the nodes")
    if problems:
        raise InvalidOrderError(
            f"the causal order {'; '.join(problems)}; pass a permutation of all {len(node_set)} nodes"
        )
    return order


def learn_pag(
    ci_test: CITest,
    nodes: Sequence[Hashable],
    method: str = "icd",
    order: Sequence[Hashable] | None = None,
    max_cond_size: int | None = None,
    **params: Any,
) -> LearnResult:
    """Learn a PAG over ``nodes`` from ``ci_test`` with the learner ``method``.

    Parameters
    ----------
    ci_test : CITest
        Any CI test (oracle or statistical) over a superset of ``nodes``.
    nodes : sequence of hashable
        The observed nodes to learn over. Their listing order does not affect
        the result.
    method : str
        A registered learner name; see :func:`list_learners`.
    order : sequence of hashable, optional
        A causal order of all ``nodes`` (earlier may cause later, never the
        reverse), used by order-aware learners such as ``ordered-icd``.
    max_cond_size : int, optional
        Largest conditioning-set size to try (None: no limit).
    **params
        Further learner parameters.

    Returns
    -------
    LearnResult

    Raises
    ------
    NodeNotFoundError, InvalidOrderError
        For nodes the test does not know, or an order that is not a permutation of ``nodes``.
    UnknownLearnerError, InvalidParameterError
        For an unknown ``method`` or a parameter the learner does not take.
    InvalidAttentionError
        When the CI test refuses the nodes as degenerate (see
        :meth:`~whytoken.causal.ci_tests.PartialCorrelationTest.check_learnable`).
    """
    nodes = list(nodes)
    known = set(ci_test.nodes)
    missing = [n for n in nodes if n not in known]
    if missing:
        raise NodeNotFoundError(
            f"node(s) {missing[:10]} are not among the CI test's {len(ci_test.nodes)} nodes; "
            "learn over a subset of ci_test.nodes"
        )
    if order is not None:
        order = check_order(nodes, order)
    learner = get_learner(method, max_cond_size=max_cond_size, **params)
    check = getattr(ci_test, "check_learnable", None)
    if callable(check):  # e.g. a degenerate attention head, on which no search ends
        check(nodes)
    return learner.learn(ci_test, nodes, order=order)
