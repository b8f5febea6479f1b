"""Bad experiment configurations and results folders: refused when read (``whytoken experiment check``)."""

from __future__ import annotations

import json

from tests.reliability.harness import Kit, bad_input
from whytoken.errors import CheckpointError, ConfigError, UnknownBaselineError

BASE = {"name": "t", "model": "toy", "dataset": {"kind": "world", "split": "test", "n": 2},
        "methods": ["whytoken", "attention", "random"]}


def config(kit: Kit, name: str, text: str | None = None, **change):
    """A config file with ``change`` applied to BASE (or the raw ``text``)."""
    path = kit.path(f"configs/{name}.yaml")
    path.write_text(text if text is not None else json.dumps({**BASE, **change}))  # JSON is YAML
    return path


def check(kit: Kit, name: str, text: str | None = None, **change):
    return kit.cli("experiment", "check", config(kit, name, text, **change))


@bad_input("experiments", ConfigError, "criterion = 'bogus'")
def case_config_criterion_bogus(kit: Kit):
    """criterion: bogus (accepted by `whytoken experiment check` before)."""
    return check(kit, "criterion", criterion="bogus")


@bad_input("experiments", ConfigError, "intervention = 'blur'")
def case_config_swept_intervention_unknown(kit: Kit):
    """An unknown intervention inside a sweep."""
    return check(kit, "sweep-intervention", sweep={"intervention": ["mask", "blur"]})


@bad_input("experiments", ConfigError, "learner = 'icdd'")
def case_config_swept_learner_unknown(kit: Kit):
    """A misspelled learner in a sweep."""
    return check(kit, "sweep-learner", sweep={"learner": ["icd", "icdd"]})


@bad_input("experiments", ConfigError, "model.dtype = 'float33'")
def case_config_model_dtype(kit: Kit):
    """A dtype torch does not have."""
    from whytoken.experiments.harness.config import ExperimentConfig

    return ExperimentConfig.from_dict({**BASE, "model": {"name": "whytoken-demo", "dtype": "float33"}})


@bad_input("experiments", ConfigError, "missing.jsonl", "does not exist")
def case_config_dataset_file_missing(kit: Kit):
    """A JSONL dataset that is not there."""
    return check(kit, "jsonl", dataset={"kind": "jsonl", "path": "missing.jsonl"})


@bad_input("experiments", ConfigError, "targets = [7]")
def case_config_target_beyond_generation(kit: Kit):
    """A target index past max_new_tokens."""
    return check(kit, "targets", targets=[7], max_new_tokens=2)


@bad_input("experiments", ConfigError, "max_k = 'many'")
def case_config_max_k_word(kit: Kit):
    """max_k: many."""
    return check(kit, "maxk", max_k="many")


@bad_input("experiments", ConfigError, "['methds']")
def case_config_misspelled_key(kit: Kit):
    """A misspelled top-level key."""
    return check(kit, "key", text=json.dumps({**BASE, "methds": ["random"]}))


@bad_input("experiments", UnknownBaselineError, "rolout")
def case_config_unknown_method(kit: Kit):
    """A misspelled attribution method."""
    from whytoken.experiments.baselines import get_baseline

    return get_baseline("rolout")


@bad_input("experiments", ConfigError, "broken.yaml", "cannot be parsed")
def case_config_yaml_syntax(kit: Kit):
    """A YAML file with a syntax error."""
    return check(kit, "broken", text="name: t\nmethods: [random\n")


@bad_input("experiments", ConfigError, "wrong type")
def case_config_value_of_the_wrong_type(kit: Kit):
    """A list where a split name belongs (TypeError in the dataset check before)."""
    return check(kit, "type", dataset={"kind": "world", "split": [], "n": 2})


@bad_input("experiments", CheckpointError, "no results.jsonl rows")
def case_summarize_an_empty_folder(kit: Kit):
    """`whytoken experiment summarize` of a folder without results."""
    return kit.cli("experiment", "summarize", kit.path("empty-run/x").parent)
