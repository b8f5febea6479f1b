"""The ``jsonl`` dataset kind: a user's file of one JSON object per line.

Each line is ``{"prompt": ..., "image": path or null, "id": ..., "answer": ...,
"target": ..., "cause_patches": ..., "cause_words": ..., "meta": ...}``; only
``prompt`` is required, image paths are relative to the JSONL file. Options:
``path`` (required, relative to the configuration file), ``n`` (the first
``n`` rows).

Examples
--------
>>> import json, os, tempfile
>>> from whytoken.experiments.harness.datasets import load_dataset
>>> with tempfile.TemporaryDirectory() as d:
...     _ = open(os.path.join(d, "s.jsonl"), "w").write(json.dumps({"prompt": "hi", "id": "a"}) + "\\n")
...     [s.sample_id for s in load_dataset({"kind": "jsonl", "path": "s.jsonl"}, d)]
['a']
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from whytoken.errors import ConfigError
from whytoken.experiments.harness.datasets.base import ExperimentSample, _resolve, register_dataset

__all__: list[str] = []


def _check_jsonl(options: Mapping[str, Any]) -> None:
    if not isinstance(options.get("path"), str):
        raise ConfigError(f"dataset.path = {options.get('path')!r} is invalid: expected the path of a JSONL file; "
                          "fix: set dataset.path: data/samples.jsonl")


@register_dataset("jsonl", defaults={"n": None}, required=("path",), check=_check_jsonl)
def _load_jsonl(options: Mapping[str, Any], base_dir: Path | None) -> list[ExperimentSample]:
    """A user's JSONL of {prompt, image, id, answer, target, cause_patches, cause_words}."""
    path = _resolve(options["path"], base_dir)
    if not path.is_file():
        raise ConfigError(f"dataset.path = {options['path']!r} does not exist (looked at {str(path)!r}); "
                          "expected a JSONL file; fix: give a path relative to the config file or absolute")
    known = {"prompt", "image", "id", "answer", "target", "cause_patches", "cause_words", "meta"}
    out: list[ExperimentSample] = []
    for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise ConfigError(f"{path}:{line_no} is not valid JSON ({err}); fix: one JSON object per line") from err
        if not isinstance(row, dict) or not isinstance(row.get("prompt"), str):
            raise ConfigError(f"{path}:{line_no} = {line[:80]!r} is invalid: expected an object with a 'prompt' "
                              "string; fix: add \"prompt\": \"...\"")
        unknown = sorted(set(row) - known)
        if unknown:
            raise ConfigError(f"{path}:{line_no} has unknown field(s) {unknown}; expected a subset of {sorted(known)}")
        image = None
        if row.get("image") is not None:
            image_path = _resolve(str(row["image"]), path.parent)
            try:
                from PIL import Image

                with Image.open(image_path) as im:
                    image = np.array(im.convert("RGB"), dtype=np.uint8)
            except OSError as err:
                raise ConfigError(f"{path}:{line_no}: image {row['image']!r} cannot be read ({err}); fix: give a "
                                  "path relative to the JSONL file") from err
        patches = row.get("cause_patches")
        words = row.get("cause_words")
        out.append(ExperimentSample(
            sample_id=str(row.get("id", f"{path.stem}/{len(out)}")),
            prompt=row["prompt"],
            image=image,
            answer=row.get("answer"),
            target=row.get("target"),
            cause_patches=None if patches is None else tuple(tuple(int(v) for v in p) for p in patches),
            cause_words=None if words is None else tuple(int(w) for w in words),
            meta=dict(row.get("meta", {})),
        ))
        if options["n"] is not None and len(out) >= options["n"]:
            break
    return out
