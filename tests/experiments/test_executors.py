"""Executors: registry, options, and identical results from inline, process-pool and Ray runs."""

from __future__ import annotations

import pytest

from whytoken.errors import ConfigError
from whytoken.experiments.harness.config import ExperimentConfig
from whytoken.experiments.harness.executors import get_executor, list_executors, validate_executor_spec
from whytoken.experiments.harness import VOLATILE_FIELDS, read_rows, run_experiment

TINY = {"name": "tiny", "model": "toy", "dataset": {"kind": "world", "split": "val", "n": 3},
        "methods": ["attention", "rollout", "random"], "max_k": 4, "max_new_tokens": 1, "seed": 7}


def comparable(folder):
    out = []
    for row in read_rows(folder):
        row = {k: v for k, v in row.items() if k not in VOLATILE_FIELDS}
        row["provenance"] = {k: v for k, v in row["provenance"].items() if k not in VOLATILE_FIELDS}
        row["cost"] = {k: v for k, v in row["cost"].items() if k not in VOLATILE_FIELDS}
        out.append(row)
    return sorted(out, key=lambda r: r["row_id"])


def _square(x):
    return x * x


def test_registry_and_unknown_names():
    assert list_executors() == ["local", "ray"]
    with pytest.raises(ConfigError, match="executor.name = 'slurm' is invalid.*local, ray"):
        get_executor("slurm")
    with pytest.raises(ConfigError, match="start_method"):
        validate_executor_spec({"name": "local", "start_method": "thread"})
    with pytest.raises(ConfigError, match="cpus_per_task = 0"):
        validate_executor_spec({"name": "ray", "cpus_per_task": 0})


def test_inline_executor_yields_every_task_in_order():
    with get_executor({"name": "local"}) as executor:
        assert list(executor.map_unordered(_square, [1, 2, 3])) == [(0, 1), (1, 4), (2, 9)]
        assert executor.describe() == {"name": "local", "workers": 1, "start_method": "spawn"}


@pytest.mark.slow
def test_process_pool_matches_inline(tmp_path):
    config = ExperimentConfig.from_dict(TINY)
    run_experiment(config, tmp_path / "inline", write_report=False)
    run_experiment(config, tmp_path / "pool", write_report=False, executor={"name": "local", "workers": 2})
    assert comparable(tmp_path / "inline") == comparable(tmp_path / "pool")
    assert {r["executor"]["workers"] for r in read_rows(tmp_path / "pool")} == {2}


@pytest.mark.slow
def test_ray_matches_local(tmp_path):
    ray = pytest.importorskip("ray")
    config = ExperimentConfig.from_dict(TINY)
    run_experiment(config, tmp_path / "local", write_report=False)
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    try:
        summary = run_experiment(config, tmp_path / "ray", write_report=False, executor="ray")
        assert ray.is_initialized()  # an instance started by the caller is reused, not shut down
    finally:
        if started_here:
            ray.shutdown()
    assert summary.n_errors == 0 and summary.n_new_rows == 9
    assert comparable(tmp_path / "local") == comparable(tmp_path / "ray")
    assert {r["executor"]["name"] for r in read_rows(tmp_path / "ray")} == {"ray"}
