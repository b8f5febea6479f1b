"""Executors: where the per-sample tasks of an experiment run.

The harness cuts a run into one task per sample (trace the sample, run every
method and metric on it) and hands the tasks to an executor, which yields
results as they finish. The same configuration runs on any executor with no
code change; results do not depend on the executor because every task is
deterministic given its inputs (seeded, fixed thread count).

``local`` (default)
    A process pool of ``workers`` processes (``spawn`` start method, so torch
    state is never forked); with ``workers: 1`` tasks run inline in the
    calling process, which keeps the model loaded between samples.
``ray``
    One Ray task per sample, on the cluster at ``address`` (``auto``,
    ``host:6379`` of a ``ray start --head``, or ``ray://host:10001``), or on a
    local Ray instance started for the run when no address is given. Each task
    reserves ``cpus_per_task`` CPUs. The workers must be able to import
    whytoken (install it on the cluster, or pass ``runtime_env``). A task whose
    worker dies (killed, out of memory, node lost) is yielded as a
    :class:`TaskFailure` instead of stopping the run: the runner records it in
    ``errors.jsonl`` and the next run of the configuration redoes that sample.

Executors register with :func:`register_executor`; :func:`get_executor`
raises :class:`~whytoken.errors.UnknownExecutorError` listing the known names.

Examples
--------
>>> executor = get_executor({"name": "local", "workers": 1})
>>> sorted(executor.map_unordered(abs, [-2, 3, -1]))
[(0, 2), (1, 3), (2, 1)]
>>> executor.close()
"""

from __future__ import annotations

import abc
import logging
import os
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Iterator, Mapping, Sequence, TypeVar

from whytoken.errors import ConfigError, UnknownExecutorError
from whytoken.registry import Registry

__all__ = [
    "TaskFailure",
    "Executor",
    "LocalExecutor",
    "RayExecutor",
    "register_executor",
    "list_executors",
    "get_executor",
    "validate_executor_spec",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TaskFailure:
    """What an executor yields for a task it could not run to the end (its worker died or was lost).

    The task's own exceptions are not failures of this kind: :func:`~whytoken.experiments.harness.tasks.run_sample`
    returns them as error results.
    """

    type: str
    message: str


class Executor(abc.ABC):
    """Runs ``fn(task)`` for every task and yields ``(index, result)`` pairs as they finish.

    Subclasses list their options with defaults in ``defaults``; the constructor validates and stores them.
    """

    name: ClassVar[str] = ""
    defaults: ClassVar[Mapping[str, Any]] = {}

    def __init__(self, **options: Any) -> None:
        unknown = sorted(set(options) - set(self.defaults))
        if unknown:
            raise ConfigError(f"executor option(s) {unknown} are unknown for executor {self.name!r}; expected a "
                              f"subset of {sorted(self.defaults)}; fix: remove or rename them")
        self.options = {**self.defaults, **options}
        self.check_options(self.options)

    @classmethod
    def check_options(cls, options: Mapping[str, Any]) -> None:
        """Raise :class:`ConfigError` for bad option values (nothing is started)."""

    @abc.abstractmethod
    def map_unordered(self, fn: Callable[[Any], Any], tasks: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        """Yield ``(index into tasks, fn(task))`` in completion order."""

    def close(self) -> None:
        """Release the executor's resources (idempotent)."""

    def describe(self) -> dict[str, Any]:
        """JSON-ready provenance of the executor."""
        return {"name": self.name, **{k: v for k, v in self.options.items() if k != "runtime_env"}}

    def __enter__(self) -> "Executor":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


_EXECUTORS: Registry[type[Executor]] = Registry(
    "executor", error=UnknownExecutorError, fix="Register a new one with @register_executor(name).",
    name_attribute="name",
)
E = TypeVar("E", bound=type[Executor])


def register_executor(name: str, *, overwrite: bool = False) -> Callable[[E], E]:
    """Class decorator: register an :class:`Executor` subclass under ``name`` (and set its ``name``).

    Raises
    ------
    DuplicateRegistrationError
        If ``name`` is taken by another class and ``overwrite`` is false.
    """
    return _EXECUTORS.register(name, overwrite=overwrite)


def list_executors() -> list[str]:
    """Names of the registered executors, sorted.

    Examples
    --------
    >>> list_executors()
    ['local', 'ray']
    """
    return _EXECUTORS.names()


def validate_executor_spec(spec: Mapping[str, Any]) -> None:
    """Check ``{name: ..., options}`` without starting anything.

    Raises
    ------
    ConfigError
        For an unknown executor or bad options (the message names the key, value and fix).

    Examples
    --------
    >>> validate_executor_spec({"name": "local", "workers": 0})
    Traceback (most recent call last):
    ...
    whytoken.errors.ConfigError: executor.workers = 0 is invalid: expected an integer >= 1; fix: set workers: 1 \
(inline) or the number of processes
    """
    spec = dict(spec)
    name = spec.pop("name", None)
    try:
        cls = _EXECUTORS.get(str(name))
    except UnknownExecutorError as err:
        raise ConfigError(f"executor.name = {name!r} is invalid: {err}") from err
    unknown = sorted(set(spec) - set(cls.defaults))
    if unknown:
        raise ConfigError(f"executor option(s) {unknown} are unknown for executor {name!r}; expected a subset of "
                          f"{sorted(cls.defaults)}; fix: remove or rename them")
    cls.check_options({**cls.defaults, **spec})


def get_executor(spec: Mapping[str, Any] | str) -> Executor:
    """Build the executor a ``{name: ..., options}`` mapping (or a bare name) describes."""
    spec = {"name": spec} if isinstance(spec, str) else dict(spec)
    name = str(spec.pop("name", "local"))
    try:
        cls = _EXECUTORS.get(name)
    except UnknownExecutorError as err:
        raise ConfigError(f"executor.name = {name!r} is invalid: {err}") from err
    return cls(**spec)


def _positive_int(options: Mapping[str, Any], key: str, fix: str) -> None:
    value = options[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"executor.{key} = {value!r} is invalid: expected an integer >= 1; fix: {fix}")


def _worker_init(env: Mapping[str, str]) -> None:
    os.environ.update(env)


def _thread_env() -> dict[str, str]:
    keys = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "TOKENIZERS_PARALLELISM")
    env = {k: os.environ[k] for k in keys if k in os.environ}
    env.setdefault("OMP_NUM_THREADS", "1")
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    return env


@register_executor("local")
class LocalExecutor(Executor):
    """A process pool on this machine; ``workers: 1`` runs inline.

    Options
    -------
    workers : int
        Processes (default 1: inline, no pool).
    start_method : str
        ``spawn`` (default; safe with torch) or ``forkserver``/``fork``.
    """

    defaults = {"workers": 1, "start_method": "spawn"}

    @classmethod
    def check_options(cls, options: Mapping[str, Any]) -> None:
        _positive_int(options, "workers", "set workers: 1 (inline) or the number of processes")
        if options["start_method"] not in ("spawn", "forkserver", "fork"):
            raise ConfigError(f"executor.start_method = {options['start_method']!r} is invalid: expected spawn, "
                              "forkserver or fork; fix: use spawn")

    def map_unordered(self, fn: Callable[[Any], Any], tasks: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        tasks = list(tasks)
        if self.options["workers"] == 1 or len(tasks) <= 1:
            for i, task in enumerate(tasks):
                yield i, fn(task)
            return
        import concurrent.futures as cf
        import multiprocessing

        context = multiprocessing.get_context(self.options["start_method"])
        workers = min(int(self.options["workers"]), len(tasks))
        with cf.ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_worker_init,
                                    initargs=(_thread_env(),)) as pool:
            futures = {pool.submit(fn, task): i for i, task in enumerate(tasks)}
            try:
                for future in cf.as_completed(futures):
                    yield futures[future], future.result()
            finally:
                for future in futures:
                    future.cancel()


@register_executor("ray")
class RayExecutor(Executor):
    """One Ray task per sample.

    Options
    -------
    address : str or None
        Cluster address (``auto``, ``ray://host:10001``); None starts (or
        reuses) a local Ray instance.
    num_cpus : int or None
        CPUs of a local instance started here (None: Ray's default).
    cpus_per_task : int
        CPUs each task reserves (default 1).
    max_in_flight : int or None
        Most tasks submitted at once (None: all).
    runtime_env : mapping or None
        Passed to ``ray.init`` (e.g. ``{pip: [whytoken]}`` for a fresh cluster).
    """

    defaults = {"address": None, "num_cpus": None, "cpus_per_task": 1, "max_in_flight": None, "runtime_env": None}

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._started = False

    @classmethod
    def check_options(cls, options: Mapping[str, Any]) -> None:
        _positive_int(options, "cpus_per_task", "set cpus_per_task: 1")
        for key in ("num_cpus", "max_in_flight"):
            if options[key] is not None:
                _positive_int(options, key, f"remove {key} or set a positive integer")
        if options["address"] is not None and not isinstance(options["address"], str):
            raise ConfigError(f"executor.address = {options['address']!r} is invalid: expected a Ray address such "
                              "as auto or ray://head:10001; fix: quote it or remove it for a local instance")
        if options["runtime_env"] is not None and not isinstance(options["runtime_env"], Mapping):
            raise ConfigError(f"executor.runtime_env = {options['runtime_env']!r} is invalid: expected a mapping; "
                              "fix: see Ray's runtime_env documentation")

    def _ray(self) -> Any:
        try:
            import ray
        except ImportError as err:
            raise ConfigError("executor.name = 'ray' needs the ray package, which is not installed; expected an "
                              "importable ray; fix: pip install 'whytoken[ray]' (or choose executor: local)") from err
        if not ray.is_initialized():
            env = dict(self.options["runtime_env"] or {})
            env.setdefault("env_vars", {}).update({k: v for k, v in _thread_env().items()
                                                  if k not in env.get("env_vars", {})})
            kwargs: dict[str, Any] = {"include_dashboard": False, "runtime_env": env, "log_to_driver": False}
            if self.options["address"] is not None:
                kwargs["address"] = self.options["address"]
            elif self.options["num_cpus"] is not None:
                kwargs["num_cpus"] = int(self.options["num_cpus"])
            logger.info("starting Ray (%s)", self.options["address"] or "local instance")
            ray.init(**kwargs)
            self._started = True
        return ray

    def map_unordered(self, fn: Callable[[Any], Any], tasks: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        ray = self._ray()
        remote = ray.remote(num_cpus=int(self.options["cpus_per_task"]), max_retries=0)(fn)
        tasks = list(tasks)
        limit = self.options["max_in_flight"] or len(tasks) or 1
        pending: dict[Any, int] = {}
        next_task = 0
        try:
            while next_task < len(tasks) or pending:
                while next_task < len(tasks) and len(pending) < limit:
                    pending[remote.remote(tasks[next_task])] = next_task
                    next_task += 1
                done, _ = ray.wait(list(pending), num_returns=1)
                for ref in done:
                    index = pending.pop(ref)
                    try:
                        result = ray.get(ref)
                    except (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError,
                            ray.exceptions.OutOfMemoryError, ray.exceptions.TaskCancelledError) as err:
                        logger.warning("task %d: its Ray worker died (%s); the sample is redone next run", index,
                                       type(err).__name__)
                        result = TaskFailure(type(err).__name__, str(err).strip().splitlines()[0][:500])
                    yield index, result
        finally:
            for ref in pending:
                ray.cancel(ref)

    def close(self) -> None:
        if self._started:
            import ray

            ray.shutdown()
            self._started = False

