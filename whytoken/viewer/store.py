"""The viewer's results: explanations in memory, their downloads written on demand, saved folders opened.

Every explanation the viewer shows is a :class:`Result`: the
:class:`~whytoken.query.Explanation`, the input image and any baseline maps.
Downloads (``explanation.json``, ``graph.json``, ``graph.graphml``,
``report.html``) are written atomically into the result's folder when first
asked for. :func:`find_saved` reads folders written by ``whytoken explain`` /
``whytoken demo`` (or by this viewer) for ``whytoken serve --open DIR``.

Examples
--------
>>> import tempfile, pathlib
>>> store = ResultStore(pathlib.Path(tempfile.mkdtemp()))
>>> store.list()
[]
>>> find_saved(pathlib.Path(tempfile.mkdtemp()))  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
whytoken.errors.CheckpointError: no explanation.json in '...' or its sub-folders (3 levels); ...
"""

from __future__ import annotations

import base64
import io
import json
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from whytoken.errors import CheckpointError, InvalidParameterError
from whytoken.files import atomic_write_text, ensure_directory

__all__ = ["Result", "ResultStore", "find_saved", "DOWNLOADS", "read_saved_image"]

#: Files a result offers for download, with their media types.
DOWNLOADS = {"explanation.json": "application/json", "graph.json": "application/json",
             "graph.graphml": "application/xml", "report.html": "text/html"}

_EMBEDDED_IMAGE = re.compile(r'id="wt-input-image" href="data:image/png;base64,([A-Za-z0-9+/=]+)"')


@dataclass
class Result:
    """One explanation as the viewer holds it."""

    id: str
    title: str
    explanation: Any
    folder: Path
    image: Any | None = None
    baselines: Mapping[str, Mapping[int, float]] = field(default_factory=dict)
    layers: tuple[int, ...] = ()
    trace_id: str | None = None


def read_saved_image(folder: Path) -> Any | None:
    """The input image of a saved result: ``image.png`` if present, else the one embedded in ``report.html``."""
    from PIL import Image

    png = folder / "image.png"
    try:
        if png.is_file():
            with Image.open(png) as im:
                return im.convert("RGB")
        report = folder / "report.html"
        if report.is_file():
            match = _EMBEDDED_IMAGE.search(report.read_text(encoding="utf-8", errors="replace"))
            if match:
                with Image.open(io.BytesIO(base64.b64decode(match.group(1)))) as im:
                    return im.convert("RGB")
    except OSError as err:
        raise CheckpointError(f"cannot read the image of the saved result in {str(folder)!r} ({err}); "
                              "delete the broken image.png or re-run `whytoken explain`") from err
    return None


def find_saved(directory: Path, depth: int = 3) -> list[Path]:
    """Folders holding an ``explanation.json``: ``directory`` itself and sub-folders down to ``depth`` levels."""
    directory = Path(directory)
    if not directory.is_dir():
        raise CheckpointError(f"--open {str(directory)!r} is not a folder; pass the --out folder of "
                              "`whytoken explain` or `whytoken demo`")
    found = []
    for level in range(depth + 1):
        pattern = "/".join(["*"] * level + ["explanation.json"])
        found.extend(sorted(p.parent for p in directory.glob(pattern)))
    if not found:
        raise CheckpointError(f"no explanation.json in {str(directory)!r} or its sub-folders ({depth} levels); "
                              "write one with `whytoken explain ... --out DIR` or `whytoken demo --out DIR`")
    return found


class ResultStore:
    """Results by id, with their download files in ``root/<id>/``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._results: dict[str, Result] = {}
        self._lock = threading.Lock()

    def add(self, explanation: Any, title: str, image: Any | None = None,
            baselines: Mapping[str, Mapping[int, float]] | None = None, layers: tuple[int, ...] = (),
            folder: Path | None = None, trace_id: str | None = None) -> Result:
        with self._lock:
            rid = f"r{len(self._results) + 1}"
            result = Result(rid, title, explanation, Path(folder) if folder else self.root / rid, image,
                            dict(baselines or {}), tuple(layers), trace_id)
            self._results[rid] = result
        return result

    def get(self, result_id: str) -> Result:
        with self._lock:
            result = self._results.get(result_id)
        if result is None:
            raise InvalidParameterError(f"unknown result {result_id!r}; results of this viewer: "
                                        f"{', '.join(self._results) or 'none'}")
        return result

    def list(self) -> list[dict[str, Any]]:
        with self._lock:
            return [{"id": r.id, "title": r.title, "status": r.explanation.status} for r in self._results.values()]

    def file(self, result_id: str, name: str) -> Path:
        """The download ``name`` of a result, written (atomically) on first request."""
        if name not in DOWNLOADS:
            raise InvalidParameterError(f"unknown download {name!r}; choose one of {', '.join(DOWNLOADS)}")
        result = self.get(result_id)
        path = result.folder / name
        if path.is_file() and result.folder != self.root / result.id:  # a saved folder: serve its own files
            return path
        ensure_directory(result.folder)
        e = result.explanation
        if name == "explanation.json":
            atomic_write_text(path, json.dumps(e.to_json(), indent=1, allow_nan=False) + "\n", what="explanation")
        elif name in ("graph.json", "graph.graphml"):
            from whytoken.graphs import write_pag

            if e.pag is None:
                raise InvalidParameterError(f"result {result_id} has no graph (no head was learned); "
                                            "download explanation.json instead")
            write_pag(e.pag, path, format="json" if name.endswith(".json") else "graphml")
        else:
            from whytoken.report import write_report

            write_report(e, path, image=result.image, baselines=result.baselines or None)
        return path
