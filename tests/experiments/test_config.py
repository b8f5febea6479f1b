"""Experiment configuration parsing: the grid, the file formats and one error per kind of mistake."""

from __future__ import annotations

import pytest

from whytoken.errors import ConfigError
from whytoken.experiments.harness.config import ExperimentConfig, load_config

BASE = {"name": "t", "model": "toy", "dataset": {"kind": "world", "split": "test", "n": 4}}


def make(**changes):
    data = {**BASE, **changes}
    return ExperimentConfig.from_dict({k: v for k, v in data.items() if v is not None})


def test_defaults_and_normalisation():
    config = make()
    assert config.model == {"name": "toy"}
    assert [m.label for m in config.methods] == ["whytoken", "attention", "rollout", "random"]
    assert config.executor == {"name": "local"} and config.targets == "first" and config.max_k == 20


def test_sweep_applies_to_the_methods_that_have_the_parameter():
    config = make(methods=["whytoken", "attention", "random"],
                  sweep={"alpha": [0.01, 0.05], "layer": [-1, -2], "intervention": ["mask", "zero"]})
    by_label = {}
    for s in config.settings():
        by_label.setdefault(s.label, []).append(s)
    assert len(by_label["whytoken"]) == 8  # alpha x layer x intervention
    assert len(by_label["attention"]) == 4  # layer x intervention: alpha does not apply
    assert len(by_label["random"]) == 2  # intervention only
    assert {s.params["intervention"] for s in by_label["whytoken"]} == {"mask", "zero"}
    assert all(s.params["intervention"] == s.intervention for s in by_label["whytoken"])


def test_scoped_sweep_keys_touch_one_method():
    config = make(methods=["whytoken", {"name": "attention", "label": "att"}],
                  sweep={"whytoken.heads": ["all", "each"], "att.layer": [0, 1]})
    settings = config.settings()
    assert [s.params["heads"] for s in settings if s.label == "whytoken"] == ["all", "each"]
    assert [s.params["layer"] for s in settings if s.label == "att"] == [0, 1]


def test_setting_keys_are_stable_and_distinct():
    a, b = make(sweep={"alpha": [0.01, 0.05]}), make(sweep={"alpha": [0.01, 0.05]})
    assert [s.key for s in a.settings()] == [s.key for s in b.settings()]
    assert len({s.key for s in a.settings()}) == len(a.settings())


def test_replace_revalidates():
    config = make().replace(max_k=5, executor={"name": "local", "workers": 2})
    assert config.max_k == 5 and config.executor["workers"] == 2
    with pytest.raises(ConfigError, match="max_k"):
        make().replace(max_k=-3)


def test_yaml_and_toml_files_give_the_same_config(tmp_path):
    (tmp_path / "a.yaml").write_text(
        "name: t\nmodel: toy\ndataset: {kind: world, n: 4}\nmethods: [attention, random]\n"
        "sweep:\n  layer: [-1, -2]\noutput: out\n")
    (tmp_path / "a.toml").write_text(
        'name = "t"\nmodel = "toy"\nmethods = ["attention", "random"]\noutput = "out"\n'
        '[dataset]\nkind = "world"\nn = 4\n[sweep]\nlayer = [-1, -2]\n')
    yaml_config, toml_config = load_config(tmp_path / "a.yaml"), load_config(tmp_path / "a.toml")
    assert yaml_config == toml_config
    assert yaml_config.output_dir() == tmp_path / "out"


# ----------------------------------------------------------------------------- one error per mistake
@pytest.mark.parametrize(
    "changes, fragments",
    [
        ({"nmae": "x"}, ["unknown configuration key", "'nmae'", "fix"]),
        ({"name": ""}, ["name = ''", "non-empty run name"]),
        ({"name": "a/b"}, ["name = 'a/b'", "without slashes"]),
        ({"model": 3}, ["model = 3", "model short name", "whytoken-demo"]),
        ({"dataset": {"split": "test"}}, ["dataset = ", "'kind'"]),
        ({"dataset": {"kind": "imagenet"}}, ["dataset.kind = 'imagenet'", "jsonl, prompts, world"]),
        ({"dataset": {"kind": "world", "split": "dev"}}, ["dataset.split = 'dev'", "'train', 'val', 'test'"]),
        ({"dataset": {"kind": "world", "colour": 1}}, ["['colour']", "unknown for kind 'world'"]),
        ({"dataset": {"kind": "world", "n": 0}}, ["dataset.n = 0", "integer >= 1"]),
        ({"dataset": {"kind": "jsonl"}}, ["['path']", "required"]),
        ({"dataset": {"kind": "prompts"}}, ["exactly one of them", "smollm2_50"]),
        ({"dataset": {"kind": "prompts", "name": "capitals"}}, ["dataset.name = 'capitals'", "smollm2_50"]),
        ({"methods": ["whytoken", "lime"]}, ["methods[1].name = 'lime'", "attention", "rollout"]),
        ({"methods": []}, ["methods = []", "non-empty list"]),
        ({"methods": [{"name": "attention", "alpha": 0.1}]}, ["methods[0] (attention)", "['alpha']", "['heads', 'layer']"]),
        ({"methods": ["attention", "attention"]}, ["methods[1].label = 'attention'", "label"]),
        ({"methods": [{"name": "whytoken", "intervention": "zero"}]}, ["['intervention']", "run-wide", "sweep"]),
        ({"metrics": ["flip", "speed"]}, ["metrics = ['flip', 'speed']", "ground_truth"]),
        ({"targets": "middle"}, ["targets = 'middle'", "first"]),
        ({"targets": [0, "x"]}, ["targets = [0, 'x']", "generated-token indices"]),
        ({"max_k": 0}, ["max_k = 0", "integer >= 1"]),
        ({"seed": -1}, ["seed = -1", "non-negative"]),
        ({"threads": 0}, ["threads = 0", ">= 1"]),
        ({"sweep": {"temperature": [1, 2]}}, ["sweep key 'temperature'", "alpha"]),
        ({"sweep": {"lime.alpha": [1]}}, ["method label 'lime'"]),
        ({"sweep": {"alpha": []}}, ["sweep.alpha = []", "non-empty list"]),
        ({"sweep": [1, 2]}, ["sweep = [1, 2]", "mapping"]),
        ({"executor": "dask"}, ["executor.name = 'dask'", "local, ray"]),
        ({"executor": {"name": "local", "workers": 0}}, ["executor.workers = 0", ">= 1"]),
        ({"executor": {"name": "local", "nodes": 2}}, ["['nodes']", "unknown for executor 'local'"]),
        ({"executor": {"name": "ray", "address": 5}}, ["executor.address = 5", "ray://"]),
        ({"candidates": {"include_specials": True}}, ["candidates = ", "include_special"]),
        ({"methods": [{"name": "attention", "heads": "best"}]}, ["heads"]),
    ],
)
def test_config_errors_name_key_value_and_fix(changes, fragments):
    with pytest.raises(ConfigError) as info:
        make(**changes)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} missing from: {message}"


def test_file_errors(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")
    (tmp_path / "c.json").write_text("{}")
    with pytest.raises(ConfigError, match="suffix '.json'; expected .yaml, .yml or .toml"):
        load_config(tmp_path / "c.json")
    (tmp_path / "bad.yaml").write_text("name: [unclosed\n")
    with pytest.raises(ConfigError, match="cannot be parsed"):
        load_config(tmp_path / "bad.yaml")
    (tmp_path / "empty.yaml").write_text("")
    with pytest.raises(ConfigError, match="name = None"):
        load_config(tmp_path / "empty.yaml")


def test_a_list_of_grids_runs_their_union_once_per_point():
    config = make(methods=["whytoken", "random"],
                  sweep=[{"alpha": [0.01, 0.05]}, {"learner": ["icd", "pc"]}, {"intervention": ["mask", "zero"]}])
    whytoken = [(s.params["alpha"], s.params["learner"], s.intervention) for s in config.settings()
                if s.label == "whytoken"]
    # the default point (0.01, None, mask) appears in all three grids but runs once
    assert whytoken == [(0.01, None, "mask"), (0.05, None, "mask"), (0.01, "icd", "mask"), (0.01, "pc", "mask"),
                        (0.01, None, "zero")]
    assert [s.intervention for s in config.settings() if s.label == "random"] == ["mask", "zero"]
    with pytest.raises(ConfigError, match=r"sweep\[1\].alpha = \[\]"):
        make(sweep=[{"alpha": [0.1]}, {"alpha": []}])
