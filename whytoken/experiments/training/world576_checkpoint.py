"""Package a trained world576 model: the checkpoint plus ``whytoken_world576.json`` with its provenance and figures.

The metadata records the world, the architecture, the training recipe and
command, the wall time, the whole curve, the test accuracy per kind, the
intervention check (blank and mask, cause / background / distractor) and the
versions, so that RESULTS.md and the tests can cite one file. The directory is
written whole or not at all (:func:`whytoken.files.atomic_directory`).
"""

from __future__ import annotations

import json
import platform
from pathlib import Path
from typing import Any

import torch
import transformers

from whytoken.experiments.training.world576_evaluate import accuracy_by_kind, intervention_check
from whytoken.experiments.training.world576_model import METADATA_FILE
from whytoken.experiments.worlds.world576 import PROMPT_TEMPLATE, generate
from whytoken.files import atomic_directory

__all__ = ["save_world576"]


def save_world576(model: Any, processor: Any, config: Any, curve: list[dict[str, Any]], train_seconds: float,
                  out: Path, command: str, test_n: int = 1000, intervention_n: int = 500) -> dict[str, Any]:
    """Write model, processor and ``whytoken_world576.json`` (with test figures) to ``out``; return the metadata.

    Parameters
    ----------
    model, processor
        The trained model (eager attention, eval mode) and its processor.
    config : World576TrainConfig
    curve : list of dict
        The training curve (``curve.jsonl``).
    train_seconds : float
    out : Path
        The package directory, replaced as a whole.
    command : str
        The training command line.
    test_n, intervention_n : int
        Test questions for accuracy and for the intervention check.
    """
    world = config.world
    accuracy = accuracy_by_kind(model, processor, generate("test", test_n, config=world))
    interventions = intervention_check(model, processor, generate("test", intervention_n, config=world), seed=0)
    metadata = {
        "schema_version": 1,
        "model": "whytoken-world576",
        "world": world.to_dict(),
        "architecture": config.architecture.to_dict(),
        "parameters": sum(p.numel() for p in model.parameters()),
        "prompt_format": PROMPT_TEMPLATE,
        "train_config": config.to_dict(),
        "train_command": command,
        "evaluate_command": (f"python -m whytoken.experiments.training.world576_evaluate --model {out} --split test "
                             f"-n {test_n} --interventions {intervention_n}"),
        "train_seconds": round(train_seconds, 1),
        "history": curve,
        "accuracy": {"split": "test", "n": test_n, "offset": 0, "per_kind": accuracy},
        "interventions": {"split": "test", "offset": 0, **interventions.to_dict()},
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                     "python": platform.python_version(), "threads": config.threads},
    }
    with atomic_directory(out, what="world576 checkpoint") as tmp:
        model.save_pretrained(tmp)
        processor.save_pretrained(tmp)
        (tmp / METADATA_FILE).write_text(json.dumps(metadata, indent=2) + "\n")
    return metadata
