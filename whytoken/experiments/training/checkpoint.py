"""Writing a trained demo model: the Hugging Face checkpoint plus ``whytoken_demo.json``.

:func:`save_checkpoint` saves model and processor with ``save_pretrained``
(a plain checkpoint that ``from_pretrained`` loads) and evaluates the model
on the test split for the metadata file: world, architecture, recipe and
command, wall time, training curve, versions, accuracy per kind, intervention
rates and feature leakage.
"""

from __future__ import annotations

import json
import platform
from pathlib import Path
from typing import Any

import torch
import transformers

from whytoken.experiments.training.config import TrainConfig, TrainResult
from whytoken.experiments.training.demo_model import METADATA_FILE
from whytoken.experiments.training.evaluate import accuracy_by_kind, feature_leakage, intervention_check
from whytoken.experiments.worlds.demo import PROMPT_TEMPLATE, generate

__all__ = ["save_checkpoint"]


def save_checkpoint(result: TrainResult, config: TrainConfig, out: Path, command: str) -> dict[str, Any]:
    """Save model, processor and ``whytoken_demo.json`` (with test accuracy and intervention rates).

    Returns
    -------
    dict
        The metadata written to ``whytoken_demo.json``.
    """
    out.mkdir(parents=True, exist_ok=True)
    result.model.save_pretrained(out)
    result.processor.save_pretrained(out)
    world = config.world
    accuracy = accuracy_by_kind(result.model, result.processor, generate("test", config.test_n, config=world))
    interventions = intervention_check(
        result.model, result.processor, generate("test", config.intervention_n, config=world), seed=0
    )
    leakage = feature_leakage(result.model, result.processor, generate("test", 20, config=world))
    metadata = {
        "schema_version": 1,
        "model": "whytoken-demo",
        "world": world.to_dict(),
        "architecture": config.architecture.to_dict(),
        "parameters": sum(p.numel() for p in result.model.parameters()),
        "prompt_format": PROMPT_TEMPLATE,
        "train_config": config.to_dict(),
        "train_command": command,
        "evaluate_command": (
            f"python -m whytoken.experiments.training.evaluate --model {out} --split test -n {config.test_n} "
            f"--interventions {config.intervention_n}"
        ),
        "train_seconds": round(result.train_seconds, 1),
        "history": result.history,
        "accuracy": {"split": "test", "n": config.test_n, "offset": 0, "per_kind": accuracy},
        "interventions": {"split": "test", "offset": 0, **interventions.to_dict()},
        "feature_leakage": {"split": "test", "n": 20, **leakage},
        "versions": {
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "python": platform.python_version(),
            "threads": config.threads,
        },
    }
    (out / METADATA_FILE).write_text(json.dumps(metadata, indent=2) + "\n")
    return metadata
