"""The results log loses nothing and counts nothing twice, however a run ends (harness/results.py).

Real interruptions: ``whytoken experiment run`` in a subprocess killed (SIGINT, SIGTERM, SIGKILL)
at random moments of its run and resumed, a full disk (RLIMIT_FSIZE), and the torn last line a
kill during a write can leave. After the resume the rows equal an uninterrupted run's: the same
row ids, each once, with the same values; summary files are never half-written.
"""

from __future__ import annotations

import csv
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.processes import default_sigint
from whytoken.experiments.harness.results import VOLATILE_FIELDS, append_rows, read_rows, repair_log

ROOT = Path(__file__).resolve().parents[2]
CONFIG = """name: interrupted
model: toy
dataset: {kind: prompts, name: smollm2_50, n: 36}
methods: [attention, rollout, random]
metrics: [flip, deletion, cost]
max_new_tokens: 1
max_k: 10
"""
N_ROWS = 36 * 3
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1", "COLUMNS": "200"}


def _run(config: Path, out: Path, prefix: str = "") -> subprocess.CompletedProcess:
    code = f"{prefix}\nimport sys\nfrom whytoken.cli import main\nsys.exit(main(['experiment', 'run', {str(config)!r}, " \
           f"'--out', {str(out)!r}]))"
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=ENV, capture_output=True, text=True,
                          timeout=600)


def _scrub(value):
    """A row without its timing and machine fields, at any depth (cost.seconds, ...)."""
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items() if k not in VOLATILE_FIELDS}
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    return value


def _comparable(rows: list[dict]) -> dict[str, dict]:
    return {r["row_id"]: _scrub(r) for r in rows}


def _check_summary_files(out: Path) -> None:
    """Summary files are absent or whole (atomic writes), never half-written."""
    if (out / "summary.csv").exists():
        with open(out / "summary.csv", newline="") as handle:
            table = list(csv.DictReader(handle))
        assert table and "method" in table[0]
    if (out / "summary.md").exists():
        assert (out / "summary.md").read_text().startswith("|")
    for png in (out / "plots").glob("[!.]*.png") if (out / "plots").is_dir() else ():
        # (hidden ".name.xxxx.tmp.png" files are temporaries a SIGKILL left behind; nothing reads them)
        from PIL import Image

        with Image.open(png) as image:
            image.verify()


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("reference")
    (folder / "run.yaml").write_text(CONFIG)
    done = _run(folder / "run.yaml", folder / "out")
    assert done.returncode == 0, done.stderr[-2000:]
    rows = read_rows(folder / "out")
    assert len(rows) == N_ROWS
    return _comparable(rows)


def test_repair_drops_only_an_unterminated_last_line(tmp_path):
    log = tmp_path / "results.jsonl"
    assert repair_log(log) == 0  # missing
    log.write_text("")
    assert repair_log(log) == 0  # empty
    append_rows(log, [{"row_id": "a"}, {"row_id": "b"}])
    before = log.read_bytes()
    assert repair_log(log) == 0 and log.read_bytes() == before
    long_fragment = '{"row_id": "c", "pad": "' + "x" * 200_000
    log.write_bytes(before + long_fragment.encode())
    assert repair_log(log) == len(long_fragment) and log.read_bytes() == before
    log.write_text('{"row_id": "only", "tor')
    assert repair_log(log) > 0 and log.read_text() == ""


def test_a_torn_last_line_is_dropped_and_its_row_recomputed(tmp_path, uninterrupted):
    """The issue's case: a resumed run used to glue its first row onto the fragment (35 of 36 rows)."""
    (tmp_path / "run.yaml").write_text(CONFIG)
    out = tmp_path / "out"
    assert _run(tmp_path / "run.yaml", out).returncode == 0
    lines = (out / "results.jsonl").read_text().splitlines(keepends=True)
    torn = "".join(lines[:50]) + lines[50][: len(lines[50]) // 2]
    (out / "results.jsonl").write_text(torn)
    resumed = _run(tmp_path / "run.yaml", out)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "unterminated line" in resumed.stderr
    rows = read_rows(out)
    assert len(rows) == N_ROWS and _comparable(rows) == uninterrupted


@pytest.mark.slow
def test_a_full_disk_stops_the_run_cleanly_and_the_resume_completes_it(tmp_path, uninterrupted):
    (tmp_path / "run.yaml").write_text(CONFIG)
    out = tmp_path / "out"
    limit = "import resource; resource.setrlimit(resource.RLIMIT_FSIZE, (60_000, resource.RLIM_INFINITY))"
    full = _run(tmp_path / "run.yaml", out, prefix=limit)
    assert full.returncode == 2, full.stderr[-2000:]
    errors = [line for line in full.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "File too large" in errors[0] and "results.jsonl" in errors[0]
    partial = (out / "results.jsonl").read_bytes()
    assert partial.endswith(b"\n") and 0 < len(read_rows(out)) < N_ROWS  # rolled back to whole rows
    resumed = _run(tmp_path / "run.yaml", out)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    rows = read_rows(out)
    assert len(rows) == N_ROWS and _comparable(rows) == uninterrupted


@pytest.mark.slow
def test_twenty_random_interruptions_lose_and_duplicate_no_row(tmp_path, uninterrupted):
    (tmp_path / "run.yaml").write_text(CONFIG)
    out = tmp_path / "out"
    rng = random.Random(2026)
    signals = [signal.SIGINT, signal.SIGTERM, signal.SIGKILL]
    code = ("import sys\nfrom whytoken.cli import main\n"
            f"sys.exit(main(['experiment', 'run', {str(tmp_path / 'run.yaml')!r}, '--out', {str(out)!r}]))")
    interruptions, exit_codes, runs = 0, [], 0
    while interruptions < 20:
        log = out / "results.jsonl"
        start_size = log.stat().st_size if log.exists() else 0
        runs += 1
        assert runs <= 200, f"{interruptions} interruptions in {runs} runs: the signals keep missing the run"
        proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=ENV, preexec_fn=default_sigint,
                                stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while proc.poll() is None and time.monotonic() < deadline:  # until it writes rows (or ends)
            if log.exists() and log.stat().st_size > start_size:
                break
            time.sleep(0.02)
        time.sleep(rng.uniform(0.0, 2.5))  # a random moment of the row-writing, summary and plotting phases
        if proc.poll() is not None:  # finished before the signal: start over, keep counting kills only
            if len(read_rows(out)) == N_ROWS:
                (out / "results.jsonl").unlink()
            continue
        signum = signals[interruptions % 3]
        proc.send_signal(signum)
        status = proc.wait(timeout=120)
        rows = read_rows(out)
        if status in (0, -signum) and signum != signal.SIGKILL and len(rows) == N_ROWS:
            # the signal met the process as it was exiting (success, or Python's finalisation, which restores
            # the default handlers): the run was complete, so it was not interrupted; start over
            _check_summary_files(out)
            (out / "results.jsonl").unlink()
            continue
        if signum != signal.SIGKILL:  # mid-run, Ctrl-C and SIGTERM are handled: 130 / 143, never 0 or a bare kill
            assert status == {signal.SIGINT: 130, signal.SIGTERM: 143}[signum], f"signal {signum} gave exit {status}"
        exit_codes.append(status)
        interruptions += 1
        assert len(rows) == len({r["row_id"] for r in rows}), "a row was written twice"
        _check_summary_files(out)
    resumed = _run(tmp_path / "run.yaml", out)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    rows = read_rows(out)
    assert len(rows) == N_ROWS and _comparable(rows) == uninterrupted
    assert {130, 143, -signal.SIGKILL} <= set(exit_codes)  # Ctrl-C and SIGTERM are handled, not tracebacks
