"""Scale-out on a real Ray cluster: ``ray start --head`` on localhost, the run submitted to its address.

The cluster is started by the test (its own temporary directory, port and auth token) and stopped by killing the
process group it started, nothing else. The run is submitted as a user would, ``whytoken experiment run CONFIG
--address HOST:PORT`` in a process of its own with the cluster's token. It must give exactly the rows of an
inline run; a run whose worker is killed mid-task records that sample in errors.jsonl, keeps the others, and the
next run redoes only that sample, after which the rows again equal the inline run's. The 1,000-sample run of the
576-patch world is a benchmark (benchmarks/RESULTS.md, "Scale-out"), not a test.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest
import yaml

from tests.experiments.test_executors import comparable
from whytoken.experiments.harness import ExperimentConfig, read_rows, run_experiment
from whytoken.experiments.harness.datasets import list_datasets

ray = pytest.importorskip("ray")
psutil = pytest.importorskip("psutil")
pytestmark = pytest.mark.slow


def _dataset() -> dict:
    """A few samples of the 576-patch world when its dataset kind is installed, else of the demo world."""
    if "world576" in list_datasets():
        return {"kind": "world576", "split": "val", "n": 4}
    return {"kind": "world", "split": "val", "n": 4}


def _config_dict(**extra) -> dict:
    return {"name": "ray-cluster", "model": "toy", "dataset": _dataset(), "max_new_tokens": 1, "seed": 3,
            "methods": ["attention", {"name": "greedy-search", "max_passes": 150}, "random"],
            "metrics": ["flip", "deletion", "ground_truth", "cost", "modality"], "max_k": 4, **extra}


def _submit(cluster, data: dict, folder, tmp_path) -> subprocess.CompletedProcess:
    """``whytoken experiment run CONFIG --address ...`` in its own process, with the cluster's token."""
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({**data, "executor": {"name": "ray", "max_in_flight": 1}}))
    return subprocess.run([sys.executable, "-m", "whytoken", "experiment", "run", str(path), "--address",
                           cluster["address"], "--out", str(folder), "--no-report", "--quiet"],
                          env=cluster["env"], capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def cluster():
    """A Ray head node on localhost (2 CPUs), its address, and a clean stop of only what it started."""
    if shutil.which("ray") is None:
        pytest.skip("the ray command is not installed")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    temp = f"/tmp/rwt{os.getpid()}"  # short: Ray's socket paths must fit in 107 characters
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(16),
           "OMP_NUM_THREADS": "1"}
    head = subprocess.Popen(["ray", "start", "--head", f"--port={port}", "--node-ip-address=127.0.0.1", "--num-cpus=2",
                             "--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={temp}", "--block"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                            start_new_session=True)
    try:
        log = []
        for line in head.stdout:
            log.append(line)
            if "Ray runtime started" in line:
                break
        else:
            pytest.fail("ray start --head did not start:\n" + "".join(log[-20:]))
        yield {"address": f"127.0.0.1:{port}", "env": env}
    finally:
        os.killpg(head.pid, signal.SIGTERM)  # the group of the head process: only what this fixture started
        try:
            head.wait(5)
        except subprocess.TimeoutExpired:
            pass
        os.killpg(head.pid, signal.SIGKILL)
        head.wait(10)
        shutil.rmtree(temp, ignore_errors=True)


def test_a_run_on_a_started_cluster_matches_the_inline_run(cluster, tmp_path):
    data = _config_dict()
    run_experiment(ExperimentConfig.from_dict(data), tmp_path / "inline", write_report=False)
    done = _submit(cluster, data, tmp_path / "ray", tmp_path)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert comparable(tmp_path / "inline") == comparable(tmp_path / "ray")
    executors = {(r["executor"]["name"], r["executor"]["address"]) for r in read_rows(tmp_path / "ray")}
    assert executors == {("ray", cluster["address"])} and len(read_rows(tmp_path / "ray")) == 12


def _kill_first_busy_worker(stop: threading.Event, killed: list) -> None:
    """SIGKILL the first Ray worker seen running a sample (its process title is ``ray::run_sample``)."""
    while not stop.is_set() and not killed:
        for proc in psutil.process_iter(["pid", "cmdline"]):
            cmdline = proc.info.get("cmdline") or []
            if cmdline and cmdline[0].startswith("ray::run_sample"):
                try:
                    proc.kill()
                    killed.append(proc.info["pid"])
                except psutil.Error:
                    continue
                return
        time.sleep(0.005)


def test_a_killed_worker_loses_only_its_sample_and_the_next_run_redoes_it(cluster, tmp_path):
    data = _config_dict(dataset={**_dataset(), "n": 6})
    run_experiment(ExperimentConfig.from_dict(data), tmp_path / "inline", write_report=False)
    stop, killed = threading.Event(), []
    killer = threading.Thread(target=_kill_first_busy_worker, args=(stop, killed), daemon=True)
    killer.start()
    try:
        first = _submit(cluster, data, tmp_path / "ray", tmp_path)
    finally:
        stop.set()
        killer.join(10)
    assert killed, "no busy Ray worker was seen to kill"
    assert first.returncode == 1 and "1 sample(s) failed" in first.stdout + first.stderr, first.stdout[-2000:] + first.stderr[-2000:]
    assert len(read_rows(tmp_path / "ray")) == 15  # 5 of 6 samples, 3 methods each
    errors = (tmp_path / "ray" / "errors.jsonl").read_text()
    assert "WorkerCrashedError" in errors
    again = _submit(cluster, data, tmp_path / "ray", tmp_path)
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
    assert comparable(tmp_path / "inline") == comparable(tmp_path / "ray")
