"""The results log of a run: ``results.jsonl``, one row per sample x target x method x setting.

Rows (schema :data:`ROW_SCHEMA`) are appended as tasks finish and carry a
stable ``row_id`` (:func:`row_id`: a hash of sample, target, method label,
setting and the run-level keys that change results). A second run of the
same configuration reads the log (:func:`read_rows`) and skips every row
already present, and every sample whose rows are all there
(:func:`_expected_complete`), so runs resume after a crash and extend when
methods or sweep values are added. Fields that depend on timing or the
machine are listed in :data:`VOLATILE_FIELDS`.

Nothing is lost or counted twice, however a run ends. Each sample's rows are
appended in one all-or-nothing write (:func:`append_rows`: a write that fails
part-way, e.g. on a full disk, is rolled back). A process killed *during* a
write can still leave an unterminated last line; :func:`repair_log` drops it
before the next run appends (else the next row would be glued onto it and both
lost), and that row is recomputed because its id is no longer present. So rows
after any interruption plus a resume equal an uninterrupted run's.

Examples
--------
>>> import pathlib, tempfile
>>> with tempfile.TemporaryDirectory() as d:
...     log = pathlib.Path(d) / "results.jsonl"
...     append_rows(log, [{"row_id": "a"}, {"row_id": "b"}])
...     _ = open(log, "a").write('{"row_id": "c", "tru')     # a kill mid-write
...     dropped = repair_log(log)
...     append_rows(log, [{"row_id": "c"}])
...     dropped, [r["row_id"] for r in read_rows(d)]
(20, ['a', 'b', 'c'])
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any, Iterable, Mapping

from whytoken.experiments.harness.config import ExperimentConfig
from whytoken.experiments.harness.datasets import ExperimentSample
from whytoken.experiments.harness.hashing import stable_hash
from whytoken.experiments.harness.sweeps import Setting, expand_settings
from whytoken.experiments.harness.targets import _target_indices
from whytoken.files import append_text

__all__ = ["ROW_SCHEMA", "VOLATILE_FIELDS", "row_id", "read_rows", "append_rows", "repair_log"]

logger = logging.getLogger(__name__)


#: Schema tag of every results row.
ROW_SCHEMA = "whytoken.experiment-row/1"
#: Row fields that depend on timing or the machine; they are left out when comparing runs.
VOLATILE_FIELDS = ("seconds", "created", "host", "trace_seconds", "timings", "executor")


def _run_keys(config: ExperimentConfig) -> dict[str, Any]:
    """The run-level keys that change a row's values (part of every row id)."""
    return {"model": dict(config.model), "dataset": {k: v for k, v in config.dataset.items() if k != "n"},
            "max_k": config.max_k, "max_new_tokens": config.max_new_tokens, "metrics": sorted(config.metrics),
            "candidates": dict(config.candidates), "seed": config.seed, "trace": dict(config.trace)}


def row_id(config: ExperimentConfig, sample_id: str, generated_index: int, setting: Setting) -> str:
    """The stable identifier of one row (sample, target, method label, setting, run-level keys)."""
    return stable_hash([_run_keys(config), sample_id, int(generated_index), setting.label, setting.key], 20)


def read_rows(path: str | os.PathLike[str]) -> list[dict]:
    """The rows of a ``results.jsonl`` (a missing file has none; a truncated last line is skipped)."""
    path = Path(path)
    if path.is_dir():
        path = path / "results.jsonl"
    if not path.is_file():
        return []
    rows = []
    for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            logger.warning("%s:%d is not valid JSON (interrupted write?); skipping it", path, line_no)
    return rows


def repair_log(path: str | os.PathLike[str]) -> int:
    """Drop an unterminated last line (a write cut off by a kill) from a JSONL log; returns the bytes dropped.

    Complete lines are never touched. A missing or empty file needs no repair.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return 0
    if size == 0:
        return 0
    with open(path, "rb+") as handle:
        handle.seek(-1, os.SEEK_END)
        if handle.read(1) == b"\n":
            return 0
        # scan back to the last newline, in blocks (rows can be long)
        end, keep = size, 0
        while end > 0:
            start = max(0, end - 65536)
            handle.seek(start)
            block = handle.read(end - start)
            cut = block.rfind(b"\n")
            if cut >= 0:
                keep = start + cut + 1
                break
            end = start
        handle.truncate(keep)
        handle.flush()
        os.fsync(handle.fileno())
    logger.warning("%s ended with an unterminated line of %d bytes (a write cut off by an interruption); dropped "
                   "it, its row is computed again", path, size - keep)
    return size - keep


def append_rows(path: str | os.PathLike[str], rows: Iterable[Mapping[str, Any]], *, allow_nan: bool = False) -> None:
    """Append rows to a JSONL log in one all-or-nothing, fsync-ed write (see the module docstring).

    Rows are strict JSON (``allow_nan=False``: a NaN metric is a bug to surface, not a value to store);
    the error log passes ``allow_nan=True``, error reports are stored as they come.
    """
    text = "".join(json.dumps(row, default=str, allow_nan=allow_nan) + "\n" for row in rows)
    if text:
        append_text(path, text, what="results log")


def _expected_complete(config: ExperimentConfig, sample: ExperimentSample, previous: list[dict],
                       present: set[str]) -> bool:
    """Whether every row of a sample exists already (generation length and head count read from its rows)."""
    if not previous:
        return False
    first = previous[0]
    n_generated = first["target"].get("n_generated")
    n_heads = (first.get("provenance") or {}).get("model_info", {}).get("n_heads")
    if n_generated is None or n_heads is None:
        return False
    if config.targets == "answer":
        targets = sorted({r["target"]["generated_index"] for r in previous})
    else:
        targets = _target_indices(int(n_generated), config.targets)
    settings = expand_settings(config.settings(), int(n_heads))
    return all(row_id(config, sample.sample_id, g, s) in present for g in targets for s in settings)
