"""Reading a trained LLaVA checkpoint back: its metadata JSON and the model with its processor.

Shared by the packaged models' loaders (:func:`~whytoken.experiments.training.demo_model.load_demo`,
:func:`~whytoken.experiments.training.easyvqa_model.load_easyvqa`,
:func:`~whytoken.experiments.training.world576_model.load_world576`), which differ only in the
directory, the metadata file and the command that writes them.

Examples
--------
>>> from whytoken.experiments.training.demo_model import DEFAULT_CHECKPOINT_DIR, METADATA_FILE
>>> read_checkpoint_metadata(DEFAULT_CHECKPOINT_DIR, METADATA_FILE, "demo",
...                          "whytoken.experiments.training.train")["model"]
'whytoken-demo'
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from whytoken.errors import CheckpointError

__all__ = ["read_checkpoint_metadata", "load_llava_checkpoint"]


def read_checkpoint_metadata(directory: str | Path, file_name: str, label: str, train_module: str) -> dict[str, Any]:
    """``directory / file_name`` as JSON; a :class:`CheckpointError` naming the file and the training command."""
    file = Path(directory) / file_name
    if not file.is_file():
        raise CheckpointError(f"{file} does not exist; expected a {label} checkpoint written by "
                              f"`python -m {train_module} --out DIR`")
    try:
        return json.loads(file.read_text())
    except json.JSONDecodeError as err:
        raise CheckpointError(f"{file} is not valid JSON ({err}); re-run the training command to rewrite it") from err


def load_llava_checkpoint(directory: str | Path, dtype: torch.dtype, label: str, train_module: str,
                          default: Path) -> tuple[Any, Any]:
    """``LlavaForConditionalGeneration`` (eval mode, eager attention) and its processor, offline, from ``directory``."""
    from transformers import AutoProcessor, LlavaForConditionalGeneration

    directory = Path(directory)
    if not (directory / "config.json").is_file():
        raise CheckpointError(f"{directory} holds no config.json; expected a checkpoint directory written by "
                              f"`python -m {train_module} --out DIR` (the default is {default})")
    try:
        model = LlavaForConditionalGeneration.from_pretrained(directory, dtype=dtype, attn_implementation="eager",
                                                              local_files_only=True)
        processor = AutoProcessor.from_pretrained(directory, local_files_only=True)
    except (OSError, ValueError) as err:
        raise CheckpointError(f"cannot load the {label} checkpoint from {directory}: {err}") from err
    model.eval()
    return model, processor
