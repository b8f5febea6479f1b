"""Every writer of the package, as ``write(path, big)``, for the fault tests.

Each writes a small or a big version of one kind of file; a fault test writes the small one,
imposes a real fault (a file-size limit, a read-only directory, a kill) and writes the big one:
the file must then hold exactly the small version or exactly the big one, never a mix, and the
failure must be a package error.

This module is run as a script in a subprocess by ``test_faults.py`` (``python -m
tests.reliability.writers MODE DIR``) so that faults (``RLIMIT_FSIZE``, dropped capabilities,
signals) never touch the test process.
"""

from __future__ import annotations

import json
import resource
import sys
from pathlib import Path
from typing import Callable

import numpy as np

__all__ = ["WRITERS", "PENDING", "main"]


def _pag(n: int):
    from whytoken.graphs import PAG, Mark

    g = PAG(range(n), meta={"note": "x" * (20 * n)})
    for i in range(1, n):
        g.add_edge(i - 1, i, Mark.CIRCLE, Mark.ARROW)
    return g


def _trace(n: int):
    from whytoken.adapters.trace import GeneratedToken, Position, TokenKind, Trace

    positions = tuple(Position(i, TokenKind.PROMPT_TEXT if i < n - 1 else TokenKind.GENERATED, 5 + i, f"w{i}")
                      for i in range(n))
    attention = np.tril(np.ones((2, n, n), dtype=np.float32))
    attention /= attention.sum(-1, keepdims=True)
    return Trace(positions, (GeneratedToken(n - 1, 4 + n, f"w{n - 1}", 0.5),), {0: attention}, "p", None, None,
                 {"n_layers": 1, "n_heads": 2, "head_dim": 8, "vocab_size": 10_000})


def _explanation(big: bool):
    from tests.query import fakes
    from whytoken.query import explain

    weights = [{3: 0.5, 7: 0.4, 0: 0.1}] * (6 if big else 1)
    return explain(fakes.make_trace(weights), fakes.TARGET, verify=False)


def _graph(fmt: str) -> Callable[[Path, bool], object]:
    return lambda path, big: _pag(400 if big else 3).save(path, format=fmt)


def _report(path: Path, big: bool):
    from whytoken.report import write_report

    return write_report(_explanation(False), path, notes={"padding": "x" * (400_000 if big else 10)})


def _append(path: Path, big: bool):
    from whytoken.files import append_text

    return append_text(path, json.dumps({"row": "x" * (200_000 if big else 10)}) + "\n")


#: name -> (file name, writer(path, big))
WRITERS: dict[str, tuple[str, Callable[[Path, bool], object]]] = {
    "graph-json": ("graph.json", _graph("json")),
    "graph-graphml": ("graph.graphml", _graph("graphml")),
    "graph-dot": ("graph.dot", _graph("dot")),
    "trace-safetensors": ("trace.safetensors", lambda path, big: _trace(300 if big else 6).save(path)),
    "trace-npz": ("trace.npz", lambda path, big: _trace(300 if big else 6).save(path)),
    "explanation": ("explanation.json", lambda path, big: _explanation(big).save(path)),
    "report": ("report.html", _report),
    "atomic-text": ("notes.txt", lambda path, big: __import__("whytoken.files").files.atomic_write_text(
        path, "y" * (300_000 if big else 10))),
    "log-append": ("rows.jsonl", _append),
}

#: Writers owned by others that are not atomic yet: writer -> who (none now: Explanation.save uses whytoken.files).
PENDING: dict[str, str] = {}


def _outcome(call: Callable[[], object]) -> tuple[str, str]:
    from whytoken.errors import WhytokenError

    try:
        call()
    except WhytokenError as err:
        return type(err).__name__, str(err)
    except BaseException as err:  # noqa: BLE001 -- reported as foreign
        return f"foreign:{type(err).__module__}.{type(err).__name__}", str(err)
    return "no-error", ""


def main(argv: list[str]) -> int:
    """``prepare DIR``: the small version of each file in DIR/<writer>/;
    ``fsize DIR``: each writer under a file-size limit; ``readonly DIR``: each writer over a prepared file.

    Prints one JSON line per writer: its outcome, whether the previous file is intact, leftover files.
    """
    mode, root = argv[0], Path(argv[1])
    for name, (filename, write) in WRITERS.items():
        folder = root / name
        path = folder / filename
        if mode == "prepare":
            folder.mkdir(parents=True, exist_ok=True)
            write(path, False)
            continue
        if mode == "fsize":
            folder.mkdir(parents=True, exist_ok=True)
            write(path, False)
            before = path.read_bytes()
            probe = root / f"{name}-probe" / filename
            probe.parent.mkdir()
            write(probe, True)
            limit = (len(before) + probe.stat().st_size) // 2 if name != "log-append" else len(before) + 1000
            soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
            try:
                kind, message = _outcome(lambda: write(path, True))
            finally:
                resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        else:  # readonly: prepared, then the parent test made the folder read-only
            before = path.read_bytes()
            kind, message = _outcome(lambda: write(path, True))
        print(json.dumps({"writer": name, "outcome": kind, "message": message[:400],
                          "intact": path.read_bytes() == before,
                          "leftovers": sorted(p.name for p in folder.iterdir() if p.name != filename)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
