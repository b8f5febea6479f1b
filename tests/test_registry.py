"""The generic Registry, and every registry of the package built on it."""

from __future__ import annotations

import pytest

from whytoken.errors import (
    DuplicateRegistrationError,
    InvalidParameterError,
    RegistryError,
    UnknownCriterionError,
    UnknownFormatError,
    UnknownLearnerError,
)
from whytoken.registry import Registry


@pytest.fixture
def learners() -> Registry:
    return Registry("learner", error=UnknownLearnerError, fix="Register a new one with @register_learner(name).")


def test_decorator_registers_and_returns_the_object(learners):
    @learners.register("icd")
    class ICD:
        pass

    assert learners.get("icd") is ICD
    assert ICD.__name__ == "ICD"  # the decorator hands back the class itself


def test_direct_registration_returns_the_object(learners):
    entry = object()
    assert learners.register("x", entry) is entry
    assert learners.get("x") is entry


def test_name_attribute_tells_a_class_its_name():
    registry = Registry("criterion", error=UnknownCriterionError, name_attribute="name")

    @registry.register("top-token")
    class TopToken:
        name = ""

    assert TopToken.name == "top-token"


def test_duplicate_name_raises_and_keeps_the_first(learners):
    first, second = type("First", (), {}), type("Second", (), {})
    learners.register("icd", first)
    with pytest.raises(DuplicateRegistrationError,
                       match=r"a learner is already registered as 'icd' \(First\); pass overwrite=True"):
        learners.register("icd", second)
    assert learners.get("icd") is first


def test_failed_duplicate_does_not_rename_the_class():
    registry = Registry("criterion", name_attribute="name")
    registry.register("a", type("A", (), {}))
    other = type("B", (), {"name": "b"})
    with pytest.raises(DuplicateRegistrationError):
        registry.register("a", other)
    assert other.name == "b"


def test_registering_the_same_object_again_is_allowed(learners):
    cls = type("ICD", (), {})
    learners.register("icd", cls)
    assert learners.register("icd", cls) is cls  # e.g. a module imported twice
    assert len(learners) == 1


def test_overwrite_replaces(learners):
    first, second = type("First", (), {}), type("Second", (), {})
    learners.register("icd", first)
    learners.register("icd", overwrite=True)(second)
    assert learners.get("icd") is second
    assert learners.names() == ["icd"]


def test_unknown_name_error_names_the_value_the_known_ones_and_the_fix(learners):
    for name in ("pc", "icd", "fci", "ordered-icd"):
        learners.register(name, object())
    with pytest.raises(UnknownLearnerError) as info:
        learners.get("icdd")
    assert str(info.value) == (
        "unknown learner 'icdd'; known learners: fci, icd, ordered-icd, pc. Did you mean 'icd'? "
        "Register a new one with @register_learner(name)."
    )
    assert isinstance(info.value, RegistryError) and isinstance(info.value, LookupError)


def test_unknown_name_without_close_match_or_entries(learners):
    with pytest.raises(UnknownLearnerError, match=r"^unknown learner 'zzz'; known learners: \(none\)\. Register"):
        learners.get("zzz")
    learners.register("icd", object())
    with pytest.raises(UnknownLearnerError) as info:
        learners.get("zzz")
    assert "Did you mean" not in str(info.value)


@pytest.mark.parametrize("name", [None, 3, ["icd"]])
def test_non_string_names_are_unknown_not_a_crash(learners, name):
    learners.register("icd", object())
    assert name not in learners
    with pytest.raises(UnknownLearnerError, match=r"known learners: icd"):
        learners.get(name)


def test_default_error_class_and_fix():
    registry = Registry("widget")
    with pytest.raises(RegistryError, match=r"unknown widget 'w'; known widgets: \(none\)\. Pass one of the known "
                                            r"widgets or register a new one\."):
        registry.get("w")


def test_error_class_must_be_a_registry_error():
    with pytest.raises(InvalidParameterError, match="RegistryError"):
        Registry("widget", error=ValueError)


@pytest.mark.parametrize("name", ["", None, 3])
def test_names_must_be_non_empty_strings(learners, name):
    with pytest.raises(InvalidParameterError, match="non-empty str"):
        learners.register(name, object())


def test_iteration_is_sorted_whatever_the_registration_order(learners):
    for name in ("pc", "icd", "fci", "ordered-icd"):
        learners.register(name, object())
    assert list(learners) == learners.names() == ["fci", "icd", "ordered-icd", "pc"]
    assert len(learners) == 4
    assert "pc" in learners and "PC" not in learners
    assert repr(learners) == "Registry('learner', ['fci', 'icd', 'ordered-icd', 'pc'])"


def test_case_insensitive_registry():
    formats = Registry("graph format", plural="formats", error=UnknownFormatError, case_sensitive=False)
    formats.register("GraphML", "g")
    assert formats.names() == ["graphml"]
    assert formats.get("GRAPHML") == "g" and "graphMl" in formats
    with pytest.raises(DuplicateRegistrationError, match="'graphml'"):
        formats.register("graphml", "other")
    with pytest.raises(UnknownFormatError, match=r"unknown graph format 'Yaml'; known formats: graphml\."):
        formats.get("Yaml")


def test_unregister(learners):
    cls = type("ICD", (), {})
    learners.register("icd", cls)
    assert learners.unregister("icd") is cls
    assert "icd" not in learners and len(learners) == 0
    with pytest.raises(UnknownLearnerError, match="'icd'"):
        learners.unregister("icd")


# ---------------------------------------------------------------------------- the package's registries
def _package_registries():
    from whytoken.adapters import interventions
    from whytoken.causal import base
    from whytoken.errors import (
        UnknownBaselineError,
        UnknownDatasetError,
        UnknownExecutorError,
        UnknownInterventionError,
    )
    from whytoken.experiments.baselines import registry as baselines
    from whytoken.experiments.harness import executors
    from whytoken.experiments.harness.datasets import base as datasets
    from whytoken.graphs.io import formats
    from whytoken.query import criteria

    base.list_learners()  # loads the built-in learners
    return [
        (base._LEARNERS, UnknownLearnerError, base.list_learners),
        (criteria._CRITERIA, UnknownCriterionError, criteria.list_criteria),
        (interventions._INTERVENTIONS, UnknownInterventionError, interventions.list_interventions),
        (baselines._BASELINES, UnknownBaselineError, baselines.list_baselines),
        (executors._EXECUTORS, UnknownExecutorError, executors.list_executors),
        (datasets._DATASETS, UnknownDatasetError, datasets.list_datasets),
        (formats._FORMATS, UnknownFormatError, formats.list_formats),
    ]


def test_every_package_registry_is_a_registry_with_its_own_error():
    for registry, error, list_names in _package_registries():
        assert isinstance(registry, Registry)
        assert registry.error is error
        assert list_names() == registry.names() and len(registry) > 0
        with pytest.raises(error, match=r"'no-such-name'.*" + ", ".join(registry.names())):
            registry.get("no-such-name")
