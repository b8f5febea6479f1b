"""Every value of an experiment configuration checked when it is read, not when a run reaches it.

:meth:`~whytoken.experiments.harness.config.ExperimentConfig.from_dict` parses the keys and
asks each method to check its own parameters; :func:`validate_config` then checks what needs
the registries or the file system, so that ``whytoken experiment check`` refuses a config a run
would fail on hours later (or, worse, run with a silent fallback):

* the run-wide probing keys of every setting, including swept ones: ``intervention`` must be a
  registered intervention, ``criterion`` a registered verification criterion;
* method parameters with a meaning across methods (:data:`PARAMETER_RULES`): ``learner`` a
  registered structure learner, the search limits positive integers, ...;
* ``model``: only options :func:`whytoken.adapters.load_model` takes (``dtype``, ``device``),
  with valid values (a toy model: its own constructor's options);
* ``dataset``: a file it names exists (relative to the configuration file);
* ``targets``: generated-token indices inside ``max_new_tokens``.

Each failure is a :class:`~whytoken.errors.ConfigError` naming the key, the value, what is
expected and the fix.

Examples
--------
>>> from whytoken.experiments.harness.config import ExperimentConfig
>>> ExperimentConfig.from_dict({"name": "t", "model": "whytoken-demo", "dataset": {"kind": "world"},
...                             "methods": ["random"], "criterion": "bogus"})
Traceback (most recent call last):
...
whytoken.errors.ConfigError: criterion = 'bogus' is invalid: expected a registered verification criterion \
(prob-drop, top-token); fix: use one of those names (or register a new one with register_criterion)
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from typing import Any, Callable, Mapping

from whytoken.errors import ConfigError

__all__ = ["PARAMETER_RULES", "MODEL_OPTIONS", "DTYPES", "validate_config"]

#: Options of the ``model`` section besides ``name`` (keywords of whytoken.adapters.load_model).
MODEL_OPTIONS = ("dtype", "device")
#: ``dtype`` values a configuration may name.
DTYPES = ("float32", "float16", "bfloat16", "float64")
_DEVICE = re.compile(r"^(cpu|mps|cuda(:\d+)?|xpu(:\d+)?)$")


def _fail(key: str, value: Any, expected: str, fix: str) -> ConfigError:
    return ConfigError(f"{key} = {value!r} is invalid: expected {expected}; fix: {fix}")


def _registered(kind: str, names: Callable[[], list[str]], register: str) -> Callable[[str, Any], None]:
    def check(key: str, value: Any) -> None:
        known = names()
        if value not in known:
            raise _fail(key, value, f"a registered {kind} ({', '.join(known)})",
                        f"use one of those names (or register a new one with {register})")
    return check


def _learners() -> list[str]:
    from whytoken.causal import list_learners

    return list_learners()


def _criteria() -> list[str]:
    from whytoken.query import list_criteria

    return list_criteria()


def _interventions() -> list[str]:
    from whytoken.adapters.interventions import list_interventions  # imports torch: config checks may

    return list_interventions()


def _optional(check: Callable[[str, Any], None]) -> Callable[[str, Any], None]:
    def wrapped(key: str, value: Any) -> None:
        if value is not None:
            check(key, value)
    return wrapped


def _integer(minimum: int) -> Callable[[str, Any], None]:
    def check(key: str, value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise _fail(key, value, f"an integer >= {minimum}", f"set {key.rsplit('.', 1)[-1]} to e.g. {max(minimum, 3)}")
    return check


_check_intervention = _registered("intervention", _interventions, "register_intervention")
_check_criterion = _registered("verification criterion", _criteria, "register_criterion")

#: Method parameter -> check(key, value); applied to every method that has the parameter.
PARAMETER_RULES: dict[str, Callable[[str, Any], None]] = {
    "learner": _optional(_registered("structure learner", _learners, "register_learner")),
    "criterion": _check_criterion,
    "intervention": _check_intervention,
    "max_set_size": _optional(_integer(1)),  # None: the query's own limit
    "max_range": _optional(_integer(1)),
    "max_candidates": _optional(_integer(1)),
    "max_nodes": _optional(_integer(2)),
    "max_cond_size": _optional(_integer(0)),
}


def _check_model(model: Mapping[str, Any]) -> None:
    options = {k: v for k, v in model.items() if k != "name"}
    if model["name"] == "toy":
        from whytoken.experiments.harness.toy_model import ToyModel

        allowed = set(inspect.signature(ToyModel).parameters)
        unknown = sorted(set(options) - allowed)
        if unknown:
            raise ConfigError(f"model option(s) {unknown} are unknown for the toy model; expected a subset of "
                              f"{sorted(allowed)}; fix: remove or rename them")
        return
    unknown = sorted(set(options) - set(MODEL_OPTIONS))
    if unknown:
        raise ConfigError(f"model option(s) {unknown} are unknown; expected a subset of {list(MODEL_OPTIONS)} "
                          "(keywords of whytoken.adapters.load_model); fix: remove or rename them")
    if "dtype" in options and options["dtype"] not in DTYPES:
        raise _fail("model.dtype", options["dtype"], f"one of {list(DTYPES)}", "use dtype: float32 (the default)")
    if "device" in options and not (isinstance(options["device"], str) and _DEVICE.match(options["device"])):
        raise _fail("model.device", options["device"], "cpu, cuda, cuda:N or mps", "use device: cpu")


def _check_dataset_paths(dataset: Mapping[str, Any], source: str | None) -> None:
    path = dataset.get("path")
    if not isinstance(path, str):
        return
    base = Path(source).parent if source else Path.cwd()
    resolved = Path(path).expanduser()
    resolved = resolved if resolved.is_absolute() else base / resolved
    if not resolved.is_file():
        raise ConfigError(f"dataset.path = {path!r} does not exist (looked at {str(resolved)!r}); expected a file; "
                          "fix: give a path relative to the configuration file, or an absolute one")


def _check_targets(targets: Any, max_new_tokens: int) -> None:
    if isinstance(targets, str):
        return
    outside = [t for t in targets if not -max_new_tokens <= t < max_new_tokens]
    if outside:
        raise _fail("targets", list(targets), f"generated-token indices in [-{max_new_tokens}, {max_new_tokens - 1}] "
                    f"(max_new_tokens = {max_new_tokens})", "use indices below max_new_tokens, or raise it")


def validate_config(config: Any) -> None:
    """Check what needs registries or files (see the module docstring); raises ConfigError."""
    _check_model(config.model)
    _check_dataset_paths(config.dataset, config.source)
    _check_targets(config.targets, config.max_new_tokens)
    _check_intervention("intervention", config.intervention)
    _check_criterion("criterion", config.criterion)
    for setting in config.settings():
        where = f"{setting.label}" if setting.label == setting.method else f"{setting.label} ({setting.method})"
        _check_intervention("intervention", setting.intervention)
        _check_criterion("criterion", setting.criterion)
        for name, value in setting.params.items():
            rule = PARAMETER_RULES.get(name)
            if rule is not None:
                try:
                    rule(name, value)
                except ConfigError as err:
                    raise ConfigError(f"method {where}: {err}") from None
