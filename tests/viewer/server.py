"""Start ``whytoken serve`` in a subprocess on a free localhost port, for the browser tests."""

from __future__ import annotations

import contextlib
import os
import queue
import subprocess
import sys
import threading
import time
from typing import Iterator

from whytoken.viewer import free_port


@contextlib.contextmanager
def running_viewer(*args: str, timeout: float = 180.0) -> Iterator[str]:
    """Run ``python -m whytoken serve --port P ARGS`` until the block ends; yields its URL."""
    port = free_port()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
           "COLUMNS": "200"}
    proc = subprocess.Popen([sys.executable, "-m", "whytoken", "--threads", "1", "serve", "--port", str(port), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()
    seen = []
    deadline = time.time() + timeout
    try:
        while True:
            try:
                line = lines.get(timeout=1.0)
            except queue.Empty:
                line = None
            if line is not None:
                seen.append(line)
                if "whytoken viewer on" in line:
                    break
            if proc.poll() is not None or time.time() > deadline:
                raise AssertionError(f"whytoken serve did not start (exit {proc.poll()}): {''.join(seen)[-3000:]}")
        yield f"http://127.0.0.1:{port}/"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
