"""Experiment configurations: one YAML or TOML file describes a whole faithfulness run.

A configuration names the model, the dataset, the attribution methods to
compare, the metrics, an optional sweep grid and the executor (methods and
sweeps are parsed by :mod:`~whytoken.experiments.harness.sweeps`). Every key
is checked when the file is read; a bad value raises
:class:`~whytoken.errors.ConfigError` naming the key, the value, what was
expected and how to fix it, before any model is loaded.

Format (YAML shown; TOML has the same keys)::

    name: world-test-200          # run name (also the default output folder name)
    seed: 0                       # seeds every random choice (random baseline, sampling)
    model: whytoken-demo          # short name or path for whytoken.adapters.load_model,
                                  # or {name: ..., <load_model keyword>: ...}
    dataset:                      # kind + its options (see whytoken.experiments.harness.datasets)
      kind: world
      split: test
      n: 200
    targets: first                # first | last | all | answer | a list of generated indices
    max_new_tokens: 2
    methods:                      # names from list_baselines(), or {name, label, <params>}
      - whytoken
      - attention
      - {name: attention, label: attention-head0, heads: 0}
      - rollout
      - random
    metrics: [flip, deletion, insertion, ground_truth, cost]
    max_k: 20                     # K of the curves and of "flipped within K"
    intervention: mask            # how tokens are removed (adapter intervention kind)
    criterion: top-token          # when the target counts as changed
    sweep:                        # cartesian grid; a key applies to every method that has the parameter,
      alpha: [0.001, 0.01, 0.05]  # "method.param" scopes it to one method label;
      whytoken.heads: [all, each] # heads "each" expands to one setting per head
      intervention: [mask, zero]
    # or a list of grids, run as their union (one-factor-at-a-time ablations):
    # sweep: [{alpha: [0.001, 0.01, 0.05]}, {learner: [icd, ordered-icd, fci, pc]}]
    executor: {name: local, workers: 1}   # or {name: ray, address: auto}
    trace: {chat_template: false} # adapter.trace options; prompts are fed as written by default
    threads: 1                    # torch threads per worker
    batch_size: 32                # removal sets per batched forward call
    output: runs/world-test-200   # relative to the config file's folder

Examples
--------
>>> config = ExperimentConfig.from_dict({"name": "t", "model": "whytoken-demo",
...     "dataset": {"kind": "world", "split": "test", "n": 4},
...     "methods": ["attention", "random"], "sweep": {"layer": [-1, -2]}})
>>> [(s.label, dict(s.params)) for s in config.settings()]
[('attention', {'layer': -1, 'heads': 'mean'}), ('attention', {'layer': -2, 'heads': 'mean'}), ('random', {'offset': 0})]
>>> ExperimentConfig.from_dict({"name": "t", "model": "m", "dataset": {"kind": "world"}, "max_k": 0})
Traceback (most recent call last):
...
whytoken.errors.ConfigError: max_k = 0 is invalid: expected an integer >= 1; fix: set max_k to the largest number \
of removed tokens to evaluate, e.g. 20
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from whytoken.errors import ConfigError, RegistryError, WhytokenError
from whytoken.experiments.harness.sweeps import (
    MethodSpec,
    Setting,
    _fail,
    _freeze,
    grid_settings,
    parse_methods,
    parse_sweep,
)

__all__ = ["KNOWN_KEYS", "KNOWN_METRICS", "DEFAULT_METRICS", "ExperimentConfig", "load_config"]

logger = logging.getLogger(__name__)

#: Metrics a run can compute (``modality``: two extra passes per answer, see
#: :mod:`whytoken.experiments.metrics.modality`).
KNOWN_METRICS: tuple[str, ...] = ("flip", "deletion", "insertion", "ground_truth", "cost", "modality")
#: Metrics of a configuration that lists none.
DEFAULT_METRICS: tuple[str, ...] = ("flip", "deletion", "insertion", "ground_truth", "cost")
#: Top-level keys of a configuration and a one-line description each.
KNOWN_KEYS: dict[str, str] = {
    "name": "run name",
    "seed": "integer seed of every random choice",
    "model": "model short name or path, or {name: ..., load_model options}",
    "dataset": "{kind: world|jsonl|prompts, ...options}",
    "targets": "first | last | all | answer | list of generated-token indices",
    "max_new_tokens": "tokens to generate per sample",
    "methods": "list of method names or {name, label, params}",
    "metrics": f"subset of {list(KNOWN_METRICS)}",
    "max_k": "largest number of removed tokens on the curves",
    "intervention": "intervention kind used to remove tokens",
    "criterion": "when the target counts as changed (top-token | prob-drop)",
    "sweep": "mapping of parameter -> list of values, or a list of such grids (their union)",
    "executor": "local | ray, or {name, workers, address}",
    "threads": "torch threads per worker",
    "batch_size": "removal sets per batched forward call",
    "output": "output folder",
    "candidates": "{include_special: bool, include_first: bool}",
    "trace": "{chat_template: bool | null, stop_at_eos: bool}: options of adapter.trace",
    "description": "free text",
}
_TARGET_WORDS = ("first", "last", "all", "answer")


def _int(data: Mapping[str, Any], key: str, default: int, minimum: int, fix: str) -> int:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise _fail(key, value, f"an integer >= {minimum}", fix)
    return int(value)


@dataclass(frozen=True)
class ExperimentConfig:
    """A validated experiment configuration (build with :meth:`from_dict` or :func:`load_config`).

    Attributes mirror the file's keys (see the module docstring); ``model``,
    ``dataset`` and ``executor`` are normalised to ``{"name"/"kind": ..., options}``
    mappings and ``sweep`` to a tuple of grids, each a mapping of key -> tuple of values.
    """

    name: str
    model: Mapping[str, Any]
    dataset: Mapping[str, Any]
    methods: tuple[MethodSpec, ...]
    metrics: tuple[str, ...] = DEFAULT_METRICS
    targets: Any = "first"
    max_new_tokens: int = 4
    max_k: int = 20
    intervention: str = "mask"
    criterion: str = "top-token"
    sweep: tuple[Mapping[str, tuple], ...] = ()
    seed: int = 0
    executor: Mapping[str, Any] = field(default_factory=lambda: {"name": "local"})
    threads: int = 1
    batch_size: int = 32
    output: str | None = None
    candidates: Mapping[str, bool] = field(default_factory=lambda: {"include_special": False, "include_first": False})
    description: str = ""
    trace: Mapping[str, Any] = field(default_factory=lambda: {"chat_template": False, "stop_at_eos": True})
    source: str | None = field(default=None, compare=False)

    # ------------------------------------------------------------------ parsing
    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str | None = None) -> "ExperimentConfig":
        """Validate a configuration mapping.

        Raises
        ------
        ConfigError
            Naming the key, the bad value, what is expected and the fix.
        """
        try:
            return cls._from_dict(data, source)
        except WhytokenError:
            raise
        except (TypeError, ValueError, KeyError, AttributeError, IndexError) as err:
            # a check met a value of a type it does not expect (e.g. a list where a name belongs)
            where = f" {source!r}" if source else ""
            raise ConfigError(f"the configuration{where} holds a value of the wrong type ({type(err).__name__}: "
                              f"{err}); fix: compare its values with the format in the docstring of "
                              "whytoken.experiments.harness.config (names are strings, counts integers)") from err

    @classmethod
    def _from_dict(cls, data: Mapping[str, Any], source: str | None) -> "ExperimentConfig":
        if not isinstance(data, Mapping):
            raise _fail("<config>", type(data).__name__, "a mapping of keys to values",
                        "write the configuration as a YAML/TOML table")
        unknown = sorted(set(data) - set(KNOWN_KEYS))
        if unknown:
            raise ConfigError(
                f"unknown configuration key(s) {unknown}; expected keys among {sorted(KNOWN_KEYS)}; "
                "fix: correct the spelling or remove the key"
            )
        name = data.get("name")
        if not isinstance(name, str) or not name.strip() or any(c in name for c in "/\\"):
            raise _fail("name", name, "a non-empty run name without slashes", "add e.g. name: world-test-200")

        model = data.get("model")
        if isinstance(model, str):
            model = {"name": model}
        if not isinstance(model, Mapping) or not isinstance(model.get("name"), str) or not model["name"]:
            raise _fail("model", model, "a model short name or path, or {name: ..., options}",
                        "set model: whytoken-demo (or smollm2-135m-instruct, or a checkpoint folder)")

        dataset = data.get("dataset")
        if isinstance(dataset, str):
            dataset = {"kind": dataset}
        if not isinstance(dataset, Mapping) or "kind" not in dataset:
            raise _fail("dataset", dataset, "a mapping with a 'kind' key",
                        "set dataset: {kind: world, split: test, n: 200}")
        from whytoken.experiments.harness.datasets import validate_dataset_spec

        try:
            validate_dataset_spec(dict(dataset))
        except RegistryError as err:
            raise ConfigError(f"dataset.kind = {dataset['kind']!r} is invalid: {err}") from err

        methods = parse_methods(data.get("methods", ["whytoken", "attention", "rollout", "random"]))
        metrics = data.get("metrics", list(DEFAULT_METRICS))
        if isinstance(metrics, str):
            metrics = [metrics]
        if not isinstance(metrics, (list, tuple)) or not metrics or any(m not in KNOWN_METRICS for m in metrics):
            raise _fail("metrics", metrics, f"a non-empty list drawn from {list(KNOWN_METRICS)}",
                        "remove the unknown metric names")

        targets = data.get("targets", "first")
        if isinstance(targets, int) and not isinstance(targets, bool):
            targets = [targets]
        if isinstance(targets, str):
            if targets not in _TARGET_WORDS:
                raise _fail("targets", targets, f"one of {list(_TARGET_WORDS)} or a list of generated-token indices",
                            "use targets: first")
        elif not (isinstance(targets, (list, tuple)) and targets
                  and all(isinstance(t, int) and not isinstance(t, bool) for t in targets)):
            raise _fail("targets", targets, f"one of {list(_TARGET_WORDS)} or a list of generated-token indices",
                        "use e.g. targets: [0, 1] for the first two generated tokens")
        else:
            targets = tuple(int(t) for t in targets)

        for key in ("intervention", "criterion"):
            value = data.get(key, cls.__dataclass_fields__[key].default)
            if not isinstance(value, str) or not value:
                raise _fail(key, value, "a name", f"set {key}: {cls.__dataclass_fields__[key].default}")
        seed = data.get("seed", 0)
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise _fail("seed", seed, "a non-negative integer", "set seed: 0")

        executor = data.get("executor", "local")
        if isinstance(executor, str):
            executor = {"name": executor}
        if not isinstance(executor, Mapping) or not isinstance(executor.get("name"), str):
            raise _fail("executor", executor, "local | ray, or {name: local, workers: 2}", "set executor: local")
        from whytoken.experiments.harness.executors import validate_executor_spec

        validate_executor_spec(dict(executor))

        candidates = data.get("candidates", {})
        if not isinstance(candidates, Mapping) or set(candidates) - {"include_special", "include_first"} \
                or not all(isinstance(v, bool) for v in candidates.values()):
            raise _fail("candidates", candidates, "{include_special: bool, include_first: bool}",
                        "remove the key to use the query's convention")
        output = data.get("output")
        if output is not None and not isinstance(output, str):
            raise _fail("output", output, "a folder path", "set output: runs/<name>")
        trace = data.get("trace", {})
        if not isinstance(trace, Mapping) or set(trace) - {"chat_template", "stop_at_eos"} \
                or not all(v is None or isinstance(v, bool) for v in trace.values()) \
                or trace.get("stop_at_eos") is None and "stop_at_eos" in trace:
            raise _fail("trace", trace, "{chat_template: true|false|null, stop_at_eos: true|false}",
                        "remove the key to feed prompts as written (chat_template: false)")
        description = data.get("description", "")
        if not isinstance(description, str):
            raise _fail("description", description, "a string", "quote the description")

        config = cls(
            name=name,
            model=_freeze(dict(model)),
            dataset=_freeze(dict(dataset)),
            methods=methods,
            metrics=tuple(metrics),
            targets=targets,
            max_new_tokens=_int(data, "max_new_tokens", 4, 1, "set max_new_tokens: 4"),
            max_k=_int(data, "max_k", 20, 1, "set max_k to the largest number of removed tokens to evaluate, e.g. 20"),
            intervention=data.get("intervention", "mask"),
            criterion=data.get("criterion", "top-token"),
            sweep=parse_sweep(data.get("sweep", {}), methods),
            seed=seed,
            executor=_freeze(dict(executor)),
            threads=_int(data, "threads", 1, 1, "set threads: 1 (torch threads per worker)"),
            batch_size=_int(data, "batch_size", 32, 1, "set batch_size: 32"),
            output=output,
            candidates={"include_special": False, "include_first": False, **dict(candidates)},
            description=description,
            trace={"chat_template": False, "stop_at_eos": True, **dict(trace)},
            source=source,
        )
        config.settings()  # validates every method/parameter combination
        from whytoken.experiments.harness.validation import validate_config

        validate_config(config)  # registries, files, cross-key limits
        return config

    # ------------------------------------------------------------------ grid
    def settings(self) -> list[Setting]:
        """Every (method, parameters, intervention, criterion) point of the run, de-duplicated, in a stable order.

        See :func:`~whytoken.experiments.harness.sweeps.grid_settings`: a sweep key applies to
        the methods that have the parameter (scoped keys ``label.param`` to one method);
        ``heads: each`` is kept as is here and expanded per head when the model's head count is known.
        """
        return grid_settings(self.methods, self.sweep, self.intervention, self.criterion)


    # ------------------------------------------------------------------ views
    def to_dict(self) -> dict[str, Any]:
        """The normalised configuration, JSON-ready (its hash is the run's config fingerprint)."""

        def thaw(v: Any) -> Any:
            if isinstance(v, tuple):
                return [thaw(x) for x in v]
            if isinstance(v, Mapping):
                return {k: thaw(x) for k, x in v.items()}
            return v

        return {
            "name": self.name, "model": thaw(self.model), "dataset": thaw(self.dataset),
            "methods": [m.to_dict() for m in self.methods], "metrics": list(self.metrics),
            "targets": thaw(self.targets), "max_new_tokens": self.max_new_tokens, "max_k": self.max_k,
            "intervention": self.intervention, "criterion": self.criterion,
            "sweep": [{k: thaw(v) for k, v in g.items()} for g in self.sweep], "seed": self.seed,
            "executor": thaw(self.executor), "threads": self.threads, "batch_size": self.batch_size,
            "output": self.output, "candidates": dict(self.candidates), "description": self.description,
            "trace": dict(self.trace),
        }

    def replace(self, **changes: Any) -> "ExperimentConfig":
        """A re-validated copy with top-level keys replaced (``None`` values are ignored)."""
        data = self.to_dict()
        data.update({k: v for k, v in changes.items() if v is not None})
        return ExperimentConfig.from_dict(data, source=self.source)

    def output_dir(self, override: str | os.PathLike[str] | None = None) -> Path:
        """Where results go: ``override``, else ``output`` (relative to the config file), else ``runs/<name>``."""
        if override is not None:
            return Path(override)
        if self.output is not None:
            base = Path(self.source).parent if self.source else Path.cwd()
            return Path(os.path.normpath(base / self.output)) if not Path(self.output).is_absolute() else Path(self.output)
        return Path("runs") / self.name


def load_config(path: str | os.PathLike[str]) -> ExperimentConfig:
    """Read and validate a YAML (``.yaml``/``.yml``) or TOML (``.toml``) experiment configuration.

    Raises
    ------
    ConfigError
        If the file is missing, unparsable, of another format, or invalid.

    Examples
    --------
    >>> import tempfile, os
    >>> with tempfile.TemporaryDirectory() as d:
    ...     path = os.path.join(d, "run.toml")
    ...     _ = open(path, "w").write('name = "t"\\nmodel = "whytoken-demo"\\nmethods = ["random"]\\n'
    ...                               '[dataset]\\nkind = "world"\\nn = 3\\n')
    ...     load_config(path).dataset
    {'kind': 'world', 'n': 3}
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} does not exist; expected a .yaml/.yml/.toml file; "
                          "fix: pass the path of an experiment configuration (see experiments/configs/)")
    suffix = path.suffix.lower()
    try:
        if suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        elif suffix == ".toml":
            import tomllib

            data = tomllib.loads(path.read_text(encoding="utf-8"))
        else:
            raise ConfigError(f"config file {str(path)!r} has suffix {suffix!r}; expected .yaml, .yml or .toml; "
                              "fix: rename the file or convert it")
    except ConfigError:
        raise
    except Exception as err:  # yaml.YAMLError, tomllib.TOMLDecodeError, UnicodeDecodeError
        raise ConfigError(f"config file {str(path)!r} cannot be parsed: {err}; fix the syntax") from err
    if data is None:
        data = {}
    return ExperimentConfig.from_dict(data, source=str(path))
