"""Methods, settings and sweeps: the points of comparison an experiment configuration expands to.

A configuration's ``methods`` become :class:`MethodSpec` entries (a
registered name, a unique label, fixed parameters; :func:`parse_methods`);
its ``sweep`` becomes one or more grids of parameter values
(:func:`parse_sweep`). Every combination is one :class:`Setting` -- a method
with all its parameters plus the run-wide probing keys (``intervention``,
``criterion``) -- with a stable ``key`` used in row ids
(:func:`grid_settings`); ``heads: each`` expands to one setting per head once
the model's head count is known (:func:`expand_settings`).

Examples
--------
>>> methods = parse_methods(["random", {"name": "attention", "label": "att0", "heads": 0}])
>>> [(s.label, dict(s.params)) for s in grid_settings(methods, parse_sweep({"att0.layer": [-1, -2]}, methods),
...                                                  "mask", "top-token")]
[('random', {'offset': 0}), ('att0', {'layer': -1, 'heads': 0}), ('att0', {'layer': -2, 'heads': 0})]
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from whytoken.errors import ConfigError, InvalidParameterError, RegistryError
from whytoken.experiments.harness.hashing import stable_hash

__all__ = [
    "GLOBAL_SETTING_KEYS",
    "MethodSpec",
    "Setting",
    "parse_methods",
    "parse_sweep",
    "grid_settings",
    "expand_settings",
]

#: Setting keys that apply to every method (they change how the model is probed, not the ranking alone).
GLOBAL_SETTING_KEYS: tuple[str, ...] = ("intervention", "criterion")


def _fail(key: str, value: Any, expected: str, fix: str) -> ConfigError:
    return ConfigError(f"{key} = {value!r} is invalid: expected {expected}; fix: {fix}")


def _freeze(value: Any) -> Any:
    """Lists -> tuples recursively, so settings hash and compare by value."""
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, dict):
        return {k: _freeze(v) for k, v in value.items()}
    return value


@dataclass(frozen=True)
class MethodSpec:
    """One method of the comparison: a registered name, a unique label and fixed parameters."""

    name: str
    label: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "label": self.label, "params": dict(self.params)}


@dataclass(frozen=True)
class Setting:
    """One point of the comparison: a method with all its parameters and the probing settings.

    ``key`` is a stable identifier of the point (used in row ids and summaries).
    """

    label: str
    method: str
    params: Mapping[str, Any]
    intervention: str
    criterion: str

    @property
    def key(self) -> str:
        return stable_hash([self.label, self.method, dict(self.params), self.intervention, self.criterion], 12)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: method parameters plus the probing keys."""
        return {**{k: (list(v) if isinstance(v, tuple) else v) for k, v in self.params.items()},
                "intervention": self.intervention, "criterion": self.criterion}

    def with_params(self, **params: Any) -> "Setting":
        """A copy with some parameters replaced."""
        return Setting(self.label, self.method, {**self.params, **params}, self.intervention, self.criterion)


def parse_methods(raw: Any) -> tuple[MethodSpec, ...]:
    """Validate the ``methods`` list of a configuration into :class:`MethodSpec` entries.

    Raises
    ------
    ConfigError
        For unknown methods or parameters, run-wide keys set per method, and repeated labels.
    """
    from whytoken.experiments.baselines import baseline_class

    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, (list, tuple)) or not raw:
        raise _fail("methods", raw, "a non-empty list of method names or {name, label, params}",
                    "set methods: [whytoken, attention, rollout, random]")
    specs: list[MethodSpec] = []
    for i, entry in enumerate(raw):
        if isinstance(entry, str):
            entry = {"name": entry}
        if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str):
            raise _fail(f"methods[{i}]", entry, "a method name or {name: ..., label: ..., <params>}",
                        "write e.g. {name: attention, heads: 0, label: attention-head0}")
        entry = dict(entry)
        name = entry.pop("name")
        label = entry.pop("label", name)
        params = entry.pop("params", {})
        if not isinstance(params, Mapping):
            raise _fail(f"methods[{i}].params", params, "a mapping", "write params: {layer: -1}")
        params = {**params, **entry}
        fixed = sorted(set(params) & set(GLOBAL_SETTING_KEYS))
        if fixed:
            raise ConfigError(
                f"methods[{i}] ({name}) sets {fixed}, which are run-wide probing settings; fix: set them at the "
                f"top level or sweep them (e.g. sweep: {{{label if isinstance(label, str) else name}."
                f"{fixed[0]}: [...]}})"
            )
        try:
            cls_ = baseline_class(name)
        except RegistryError as err:
            raise ConfigError(f"methods[{i}].name = {name!r} is invalid: {err}") from err
        unknown = sorted(set(params) - set(cls_.defaults))
        if unknown:
            raise ConfigError(
                f"methods[{i}] ({name}) has unknown parameter(s) {unknown}; expected a subset of "
                f"{sorted(cls_.defaults) or 'none'}; fix: remove them or use another method"
            )
        if not isinstance(label, str) or not label or any(s.label == label for s in specs):
            raise _fail(f"methods[{i}].label", label, "a label not used by another method",
                        "give each repeated method its own label, e.g. label: attention-head0")
        specs.append(MethodSpec(name=name, label=label, params=_freeze(params)))
    return tuple(specs)


def parse_sweep(raw: Any, methods: Sequence[MethodSpec]) -> tuple[dict[str, tuple], ...]:
    """Validate the ``sweep`` key (one grid or a list of grids) against the methods' parameters.

    Raises
    ------
    ConfigError
        For keys that are no parameter of the (scoped) methods and empty value lists.
    """
    if raw is None or (isinstance(raw, (list, tuple)) and not raw):
        return ()
    if isinstance(raw, Mapping):
        return (_parse_grid(raw, methods, "sweep"),) if raw else ()
    if isinstance(raw, (list, tuple)) and raw and all(isinstance(g, Mapping) for g in raw):
        return tuple(_parse_grid(g, methods, f"sweep[{i}]") for i, g in enumerate(raw))
    raise _fail("sweep", raw, "a mapping of parameter -> list of values, or a list of such mappings",
                "write sweep: {alpha: [0.01, 0.05]}")


def _parse_grid(raw: Mapping[str, Any], methods: Sequence[MethodSpec], where: str) -> dict[str, tuple]:
    from whytoken.experiments.baselines import baseline_class

    sweep: dict[str, tuple] = {}
    labels = {m.label: m for m in methods}
    for key, values in raw.items():
        if not isinstance(values, (list, tuple)):
            values = [values]
        if not values:
            raise _fail(f"{where}.{key}", values, "a non-empty list of values", "list at least one value")
        scope, _, param = key.rpartition(".")
        if scope and scope not in labels:
            raise ConfigError(f"sweep key {key!r} names method label {scope!r}, which is not among the methods "
                              f"{sorted(labels)}; fix: use one of those labels or an unscoped key")
        targets = [labels[scope]] if scope else list(methods)
        if param not in GLOBAL_SETTING_KEYS and not any(param in baseline_class(m.name).defaults for m in targets):
            known = sorted({p for m in methods for p in baseline_class(m.name).defaults} | set(GLOBAL_SETTING_KEYS))
            raise ConfigError(
                f"sweep key {key!r} is no parameter of the method(s) {[m.label for m in targets]}; "
                f"expected one of {known}; fix: correct the key or add a method that has it"
            )
        sweep[key] = tuple(_freeze(list(values)))
    return sweep


def grid_settings(methods: Sequence[MethodSpec], sweep: Sequence[Mapping[str, tuple]], intervention: str,
                  criterion: str) -> list[Setting]:
    """Every (method, parameters, intervention, criterion) point of the run, de-duplicated, in a stable order.

    A sweep key applies to the methods that have the parameter (scoped keys
    ``label.param`` to one method); methods unaffected by a swept key run
    once per distinct setting of their own parameters. ``heads: each`` is
    kept as is here and expanded per head when the model's head count is known
    (:func:`expand_settings`); :meth:`ExperimentConfig.settings` calls this with the run's keys.
    """
    from whytoken.experiments.baselines import baseline_class, get_baseline

    grid: list[dict[str, Any]] = []
    for sub in sweep or ({},):
        keys = list(sub)
        grid.extend(dict(zip(keys, values)) for values in itertools.product(*(sub[k] for k in keys)))
    out: list[Setting] = []
    seen: set[str] = set()
    for spec in methods:
        defaults = baseline_class(spec.name).defaults
        for point in grid:
            params = {**defaults, **spec.params}
            probe = {"intervention": intervention, "criterion": criterion}
            for key, value in point.items():
                scope, _, param = key.rpartition(".")
                if scope and scope != spec.label:
                    continue
                if param in GLOBAL_SETTING_KEYS:
                    probe[param] = value
                elif param in defaults:
                    params[param] = value
            for key in GLOBAL_SETTING_KEYS:  # methods that verify themselves probe like the metrics
                if key in defaults:
                    params[key] = probe[key]
            setting = Setting(spec.label, spec.name, _freeze(params), str(probe["intervention"]),
                              str(probe["criterion"]))
            if setting.key in seen:
                continue
            try:
                get_baseline(spec.name, **{k: v for k, v in params.items()})
            except InvalidParameterError as err:
                raise ConfigError(f"method {spec.label!r} with {dict(params)} is invalid: {err}") from err
            seen.add(setting.key)
            out.append(setting)
    return out


def expand_settings(settings: Sequence[Setting], n_heads: int) -> list[Setting]:
    """Replace ``heads: each`` by one setting per head ``0..n_heads-1``.

    Examples
    --------
    >>> s = Setting("attention", "attention", {"layer": -1, "heads": "each"}, "mask", "top-token")
    >>> [x.params["heads"] for x in expand_settings([s], 3)]
    [0, 1, 2]
    """
    out: list[Setting] = []
    for s in settings:
        if s.params.get("heads") == "each":
            out.extend(s.with_params(heads=h) for h in range(n_heads))
        else:
            out.append(s)
    return out
