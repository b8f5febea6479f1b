"""The results log of a run: ``results.jsonl``, one row per sample x target x method x setting.

Rows (schema :data:`ROW_SCHEMA`) are appended as tasks finish and carry a
stable ``row_id`` (:func:`row_id`: a hash of sample, target, method label,
setting and the run-level keys that change results). A second run of the
same configuration reads the log (:func:`read_rows`) and skips every row
already present, and every sample whose rows are all there
(:func:`_expected_complete`), so runs resume after a crash and extend when
methods or sweep values are added. Fields that depend on timing or the
machine are listed in :data:`VOLATILE_FIELDS`.

Examples
--------
>>> import tempfile
>>> with tempfile.TemporaryDirectory() as d:
...     read_rows(d)
[]
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from whytoken.experiments.harness.config import ExperimentConfig
from whytoken.experiments.harness.datasets import ExperimentSample
from whytoken.experiments.harness.hashing import stable_hash
from whytoken.experiments.harness.sweeps import Setting, expand_settings
from whytoken.experiments.harness.targets import _target_indices

__all__ = ["ROW_SCHEMA", "VOLATILE_FIELDS", "row_id", "read_rows"]

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
