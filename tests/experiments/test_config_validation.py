"""Every value of an experiment configuration is checked when the config is read (harness/validation.py)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from whytoken.errors import ConfigError
from whytoken.experiments.harness.config import ExperimentConfig, load_config

BASE = {"name": "t", "model": "whytoken-demo", "dataset": {"kind": "world", "split": "test", "n": 4},
        "methods": ["whytoken", "attention", "random"]}


@pytest.mark.parametrize("change, message", [
    ({"criterion": "bogus"}, "criterion = 'bogus' is invalid: expected a registered verification criterion"),
    ({"intervention": "blur"}, "intervention = 'blur' is invalid: expected a registered intervention (mask"),
    ({"sweep": {"criterion": ["top-token", "bogus"]}}, "criterion = 'bogus'"),
    ({"sweep": {"intervention": ["mask", "blur"]}}, "intervention = 'blur'"),
    ({"sweep": {"learner": ["icd", "icdd"]}}, "method whytoken: learner = 'icdd' is invalid"),
    ({"methods": [{"name": "whytoken", "max_cond_size": "x"}]}, "max_cond_size = 'x' is invalid"),
    ({"methods": [{"name": "whytoken", "max_set_size": 0}]}, "max_set_size = 0 is invalid: expected an integer >= 1"),
    ({"model": {"name": "whytoken-demo", "dtype": "float33"}}, "model.dtype = 'float33'"),
    ({"model": {"name": "whytoken-demo", "device": "gpu"}}, "model.device = 'gpu'"),
    ({"model": {"name": "whytoken-demo", "colour": 1}}, "model option(s) ['colour'] are unknown"),
    ({"model": {"name": "toy", "colour": 1}}, "unknown for the toy model"),
    ({"targets": [-100]}, "targets = [-100] is invalid"),
    ({"targets": [4]}, "in [-4, 3]"),
    ({"dataset": {"kind": "jsonl", "path": "missing.jsonl"}}, "dataset.path = 'missing.jsonl' does not exist"),
])
def test_a_bad_value_is_refused_when_the_config_is_read(change, message):
    with pytest.raises(ConfigError) as err:
        ExperimentConfig.from_dict({**BASE, **change})
    assert message in str(err.value) and "fix:" in str(err.value)


@pytest.mark.parametrize("change", [
    {}, {"model": {"name": "toy", "n_heads": 3}}, {"model": {"name": "whytoken-demo", "dtype": "bfloat16"}},
    {"targets": [-1, 0]}, {"sweep": {"learner": ["icd", "ordered-icd", "fci", "pc"]}},
    {"sweep": {"criterion": ["top-token", "prob-drop"], "intervention": ["mask", "zero"]}},
    {"dataset": {"kind": "prompts", "name": "smollm2_50"}},
])
def test_valid_configs_still_pass(change):
    ExperimentConfig.from_dict({**BASE, **change})


def test_a_dataset_path_is_relative_to_the_config_file(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "s.jsonl").write_text('{"prompt": "hi"}\n')
    path = tmp_path / "run.yaml"
    path.write_text("name: t\nmodel: toy\nmethods: [random]\ndataset: {kind: jsonl, path: data/s.jsonl}\n")
    assert load_config(path).dataset["path"] == "data/s.jsonl"
    path.write_text("name: t\nmodel: toy\nmethods: [random]\ndataset: {kind: jsonl, path: data/other.jsonl}\n")
    with pytest.raises(ConfigError, match=r"data/other\.jsonl"):
        load_config(path)


def test_experiment_check_refuses_a_bogus_criterion_in_one_line(tmp_path):
    from whytoken.cli import app

    path = tmp_path / "run.yaml"
    path.write_text("name: t\nmodel: whytoken-demo\nmethods: [random]\ndataset: {kind: world, n: 2}\n"
                    "criterion: bogus\n")
    result = CliRunner().invoke(app, ["experiment", "check", str(path)])
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "criterion = 'bogus'" in errors[0] and "Traceback" not in result.output


def test_every_shipped_config_passes():
    from pathlib import Path

    configs = sorted((Path(__file__).resolve().parents[2] / "experiments" / "configs").glob("*.*"))
    assert configs
    for path in configs:
        load_config(path)
