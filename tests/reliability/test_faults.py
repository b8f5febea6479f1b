"""Real faults: a full disk, a read-only directory, a process killed while it writes.

Each fault runs in a subprocess (``tests/reliability/writers.py``) so that it never touches the
test process. After a failed write the previous file must be intact and no temporary file may
remain; the failure must be a package error (OutputError) naming the file.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.processes import default_sigint
from tests.reliability.writers import PENDING, WRITERS

ROOT = Path(__file__).resolve().parents[2]
SETPRIV = shutil.which("setpriv")
DROP_DAC = ["--inh-caps=-dac_override,-dac_read_search", "--bounding-set=-dac_override,-dac_read_search"]


def _run_writers(mode: str, folder: Path, prefix: list[str] = ()) -> dict[str, dict]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    out = subprocess.run([*prefix, sys.executable, "-m", "tests.reliability.writers", mode, str(folder)], cwd=ROOT,
                         env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    rows = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    return {row["writer"]: row for row in rows}


@pytest.fixture(scope="module")
def full_disk(tmp_path_factory):
    return _run_writers("fsize", tmp_path_factory.mktemp("fsize"))


@pytest.fixture(scope="module")
def read_only(tmp_path_factory):
    if SETPRIV is None:
        pytest.skip("setpriv (util-linux) is not installed: cannot drop CAP_DAC_OVERRIDE to make a directory "
                    "read-only for root")
    folder = tmp_path_factory.mktemp("readonly")
    _run_writers("prepare", folder)
    for child in folder.iterdir():  # read-only files in read-only folders (appending needs only the file)
        for file in child.iterdir():
            file.chmod(0o444)
        child.chmod(0o555)
    try:
        yield _run_writers("readonly", folder, [SETPRIV, *DROP_DAC])
    finally:
        for child in folder.iterdir():
            child.chmod(0o755)


def _writer_param(name):
    marks = [pytest.mark.xfail(reason=f"pending: {PENDING[name]}", strict=True)] if name in PENDING else []
    return pytest.param(name, marks=marks)


@pytest.mark.slow
@pytest.mark.parametrize("writer", [_writer_param(n) for n in WRITERS])
def test_a_full_disk_leaves_the_previous_file_and_raises_output_error(full_disk, writer):
    row = full_disk[writer]
    assert row["outcome"] == "OutputError", row
    assert "File too large" in row["message"] and WRITERS[writer][0] in row["message"], row
    assert row["intact"] and row["leftovers"] == [], row


@pytest.mark.slow
@pytest.mark.parametrize("writer", [_writer_param(n) for n in WRITERS])
def test_a_read_only_directory_leaves_the_previous_file_and_raises_output_error(read_only, writer):
    row = read_only[writer]
    assert row["outcome"] == "OutputError", row
    assert "Permission denied" in row["message"] and WRITERS[writer][0] in row["message"], row
    assert row["intact"] and row["leftovers"] == [], row


@pytest.mark.slow
def test_the_cli_reports_a_read_only_out_directory_in_one_line(tmp_path):
    if SETPRIV is None:
        pytest.skip("setpriv (util-linux) is not installed")
    from tests.query import fakes

    fakes.make_trace([{3: 0.5, 7: 0.4, 0: 0.1}], with_image=True).save(tmp_path / "trace.safetensors")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        out = subprocess.run([SETPRIV, *DROP_DAC, sys.executable, "-m", "whytoken", "explain", "--trace",
                              str(tmp_path / "trace.safetensors"), "--no-verify", "--layer", "1",
                              "--out", str(locked / "out")], cwd=ROOT, capture_output=True, text=True, timeout=300,
                             env={**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200"})
    finally:
        locked.chmod(0o755)
    assert out.returncode == 2, out.stderr
    errors = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Permission denied" in errors[0] and "locked" in errors[0], out.stderr
    assert "Traceback" not in out.stderr


KILL_LOOP = """
import sys
sys.path.insert(0, {root!r})
from tests.reliability.writers import _trace
small, big = _trace(6), _trace(200)
path = {path!r}
small.save(path)
print("ready", flush=True)
i = 0
while True:
    (big if i % 2 else small).save(path)
    i += 1
"""


@pytest.mark.slow
@pytest.mark.parametrize("signum, kills", [(signal.SIGKILL, 20), (signal.SIGTERM, 8), (signal.SIGINT, 8)],
                         ids=["KILL", "TERM", "INT"])
def test_a_process_killed_while_saving_leaves_a_whole_file(tmp_path, signum, kills):
    """Kills at random moments of a save loop: the trace always loads as one of the two versions."""
    from whytoken.adapters.trace import Trace
    from tests.reliability.writers import _trace

    versions = (_trace(6), _trace(200))
    rng = random.Random(13)
    path = str(tmp_path / "t.safetensors")
    damaged = 0
    for _ in range(kills):
        proc = subprocess.Popen([sys.executable, "-c", KILL_LOOP.format(root=str(ROOT), path=path)],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                env={**os.environ, "OMP_NUM_THREADS": "1"}, preexec_fn=default_sigint)
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.0, 0.3))
        proc.send_signal(signum)
        proc.wait(timeout=60)
        loaded = Trace.load(path)
        damaged += not any(loaded == v for v in versions)
    assert damaged == 0
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "t.safetensors"]
    if signum == signal.SIGINT:  # KeyboardInterrupt runs the clean-up; KILL/TERM cannot
        assert leftovers == []
    # hidden temporaries only: ours (.t.safetensors.<hex>.tmp.safetensors) and the safetensors writer's own
    # (.tmpXXXXXX, Rust's tempfile); never anything a reader would take for the trace
    assert all(name.startswith((".t.safetensors.", ".tmp")) for name in leftovers), leftovers
