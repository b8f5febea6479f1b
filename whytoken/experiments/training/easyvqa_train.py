"""Train the easy-VQA LLaVA from scratch on easy-VQA's train split (resumable).

Command line (the committed checkpoint was made with the defaults)::

    python -m whytoken.experiments.training.easyvqa_train --out /tmp/easyvqa-ckpt
    # then copy the Hugging Face files and whytoken_easyvqa.json into whytoken/data/whytoken-easyvqa/

Recipe
------
* **Data.** easy-VQA's train split minus the 400 validation images
  (:mod:`~whytoken.experiments.worlds.easyvqa.source`): 3,600 images, 34.7k
  questions (``train_images`` > 0 keeps only the first that many images, for
  smoke tests). No test question is used for any choice: the curve's accuracy is
  on the validation split, and the test split is scored once, after training.
* **Vision pre-training** (``vision_steps``; the stand-in for the pretrained
  CLIP tower a real LLaVA has): vision tower, projector and the patch probe
  alone, on ``vision_batch`` random train images per step.
* **Joint training** (``steps``): each step ``images_per_step`` random train
  images, ``questions_per_image`` questions each, with the weights and edits of
  :mod:`~whytoken.experiments.training.easyvqa_batches`; loss = cross-entropy
  on the answer and the ``</s>`` after it, + ``cause_weight`` x the cause probe
  + ``aux_weight`` x the patch probe. The probes' linear heads are discarded:
  the saved model is a plain ``LlavaForConditionalGeneration``.
* **Optimiser.** AdamW (betas 0.9/0.98, weight decay 0.01 on matrices), linear
  warm-up, constant ``lr``, linear decay to 5 % over the last
  ``decay_fraction`` of the steps (the demo recipe's schedule); gradient norm
  clipped at 1.
* **Resuming.** Every ``save_every`` steps the whole training state (weights,
  probes, optimisers, curve, elapsed time) is written atomically to
  ``OUT/train_state.pt``; the same command resumes from it (``--no-resume``
  starts over). Each step's random draws come from
  ``numpy.random.default_rng([seed, phase, step])``, so a resumed run takes the
  same steps as an uninterrupted one. The curve is also appended to
  ``OUT/curve.jsonl`` as it grows.
* **Output.** ``save_pretrained`` of model and processor in ``OUT`` plus
  ``whytoken_easyvqa.json``: recipe, command, wall time, curve, accuracy per
  question type on the whole validation and test splits, the intervention
  check and the token-locality check on the test split, versions.

One torch thread by default (the machine is shared; see the demo recipe's note
on threads).

Examples
--------
>>> EasyVQATrainConfig(steps=10).answers_seen
640
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shlex
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import transformers

from whytoken.errors import CheckpointError, ConfigError
from whytoken.experiments.training.batches import _image_features, _pixel_values, hidden_states
from whytoken.experiments.training.config import TrainResult
from whytoken.experiments.training.demo_model import DemoArchitecture
from whytoken.experiments.training.easyvqa_batches import (
    PROBE_SIZES,
    build_batch,
    cause_loss,
    group_weights,
    pick_questions,
    probe_loss,
    probe_targets,
)
from whytoken.experiments.training.easyvqa_model import (
    METADATA_FILE,
    MODEL_NAME,
    ARCHITECTURE,
    build_model,
    build_processor,
)
from whytoken.experiments.training.evaluate import accuracy_by_kind
from whytoken.experiments.training.loop import _lr_at
from whytoken.experiments.worlds.easyvqa import (
    GEOMETRY,
    PROMPT_TEMPLATE,
    get_sample,
    image_ids,
    load_samples,
    shape_labels,
)
from whytoken.experiments.worlds.easyvqa.source import source_questions
from whytoken.files import append_text, atomic_path, atomic_write_text, ensure_directory

__all__ = ["EasyVQATrainConfig", "train", "save_checkpoint", "main"]

logger = logging.getLogger(__name__)

STATE_FILE = "train_state.pt"
CURVE_FILE = "curve.jsonl"


@dataclass(frozen=True)
class EasyVQATrainConfig:
    """Hyper-parameters of an easy-VQA training run (the defaults made the committed checkpoint)."""

    seed: int = 0
    steps: int = 4000
    images_per_step: int = 16
    questions_per_image: int = 4
    lr: float = 3e-3
    warmup: int = 100
    decay_fraction: float = 0.25
    weight_decay: float = 0.01
    threads: int = 1
    empty_prob: float = 0.15
    background_drop_prob: float = 0.3
    aux_weight: float = 1.0
    cause_weight: float = 1.0
    vision_steps: int = 1500
    vision_batch: int = 64
    eval_every: int = 500
    eval_n: int = 1000
    save_every: int = 100
    train_images: int = 0
    architecture: DemoArchitecture = ARCHITECTURE

    def __post_init__(self) -> None:
        for name in ("steps", "images_per_step", "questions_per_image", "threads", "vision_batch", "eval_n",
                     "save_every", "warmup"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name}={getattr(self, name)}; expected a positive integer")
        for name in ("seed", "vision_steps", "eval_every", "train_images"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name}={getattr(self, name)}; expected 0 or more")
        for name in ("empty_prob", "background_drop_prob", "decay_fraction"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"{name}={getattr(self, name)} is outside [0, 1]")
        if self.lr <= 0 or self.aux_weight < 0 or self.cause_weight < 0 or self.weight_decay < 0:
            raise ConfigError(f"lr={self.lr}, aux_weight={self.aux_weight}, cause_weight={self.cause_weight}, "
                              f"weight_decay={self.weight_decay}; expected lr > 0 and non-negative weights")

    @property
    def answers_seen(self) -> int:
        """Supervised questions over the run, not counting the no-shape repeats."""
        return self.steps * self.images_per_step * self.questions_per_image

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        out = asdict(self)
        out["architecture"] = self.architecture.to_dict()
        return out


def _log(out: Path, history: list[dict[str, Any]], entry: dict[str, Any]) -> None:
    history.append(entry)
    append_text(out / CURVE_FILE, json.dumps(entry) + "\n", what="training curve")
    logger.info("%s", json.dumps(entry))


def _save_state(out: Path, parts: dict[str, Any]) -> None:
    with atomic_path(out / STATE_FILE, what="training state") as tmp:
        torch.save(parts, tmp)


def _load_state(out: Path) -> dict[str, Any] | None:
    file = out / STATE_FILE
    if not file.is_file():
        return None
    try:
        return torch.load(file, map_location="cpu", weights_only=False)
    except Exception as err:  # torch raises RuntimeError, EOFError, pickle errors ... for a damaged file
        raise CheckpointError(f"cannot read the training state {file} ({err}); fix: delete it, or run with "
                              "--no-resume to start over") from err


def train(config: EasyVQATrainConfig, out: str | os.PathLike[str], resume: bool = True) -> TrainResult:
    """Train (or resume training) an easy-VQA model; the state and curve live in ``out``.

    Examples
    --------
    >>> import tempfile
    >>> config = EasyVQATrainConfig(steps=2, images_per_step=2, questions_per_image=2, eval_every=0,
    ...                             vision_steps=1, vision_batch=2, save_every=1, train_images=4)
    >>> out = tempfile.mkdtemp()
    >>> [e.get("step", e.get("vision_step")) for e in train(config, out).history]
    [1, 2]
    >>> len(train(config, out).history)  # resumed from the saved state: nothing left to do
    2
    """
    out = ensure_directory(out, what="training output directory")
    torch.set_num_threads(config.threads)
    arch = config.architecture
    processor = build_processor()
    token_ids = processor.tokenizer.get_vocab()
    model = build_model(processor.tokenizer, arch, seed=config.seed)
    probe = torch.nn.Linear(arch.text_hidden, sum(PROBE_SIZES))
    cause_probe = torch.nn.Linear(arch.text_hidden, 1)
    vision_params = (list(model.model.vision_tower.parameters()) + list(model.model.multi_modal_projector.parameters())
                     + list(probe.parameters()))
    vision_optimizer = torch.optim.AdamW(vision_params, lr=config.lr, betas=(0.9, 0.98), weight_decay=0.0)
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "embed" not in n]
    no_decay = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and "embed" not in n)]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": config.weight_decay},
         {"params": no_decay + list(probe.parameters()) + list(cause_probe.parameters()), "weight_decay": 0.0}],
        lr=config.lr, betas=(0.9, 0.98),
    )
    modules = {"model": model, "probe": probe, "cause_probe": cause_probe, "vision_optimizer": vision_optimizer,
               "optimizer": optimizer}
    history: list[dict[str, Any]] = []
    done = {"vision": 0, "joint": 0, "seconds": 0.0, "sessions": 0}
    running: dict[str, float] = {}  # smoothed losses of the curve
    state = _load_state(out) if resume else None
    if state is not None:
        if state["config"] != config.to_dict():
            raise CheckpointError(f"{out / STATE_FILE} was written by a run with other settings; fix: use the same "
                                  "options, another --out, or --no-resume")
        for name, module in modules.items():
            module.load_state_dict(state[name])
        history, done, running = state["history"], state["done"], state["running"]
        logger.info("resumed at vision step %d, step %d", done["vision"], done["joint"])
    atomic_write_text(out / CURVE_FILE, "".join(json.dumps(e) + "\n" for e in history), what="training curve")
    done["sessions"] += 1
    started = time.perf_counter() - done["seconds"]

    def checkpoint() -> None:
        done["seconds"] = time.perf_counter() - started
        _save_state(out, {"config": config.to_dict(), "history": history, "done": dict(done), "running": running,
                          **{name: module.state_dict() for name, module in modules.items()}})

    if config.train_images:  # a small subset, for smoke tests
        kept = set(image_ids("train")[: config.train_images])
        train_samples = [get_sample(f"easyvqa/train/{index}")
                         for index, image in enumerate(source_questions("train")[2]) if image in kept]
    else:
        train_samples = load_samples("train", order="source")
    by_image: dict[int, list[Any]] = {}
    for sample in train_samples:
        by_image.setdefault(sample.image_id, []).append(sample)
    images = sorted(by_image)
    weights = group_weights(train_samples)
    shapes = shape_labels("train")
    val = load_samples("val", config.eval_n) if config.eval_every > 0 else []
    captured: dict[str, torch.Tensor] = {}
    cause_layer = max(0, arch.text_layers - 2)
    hooks = [
        model.model.multi_modal_projector.register_forward_hook(lambda m, i, o: captured.__setitem__("features", o)),
        model.model.language_model.layers[cause_layer].register_forward_hook(
            lambda m, i, o: captured.__setitem__("cause", o[0] if isinstance(o, tuple) else o)),
    ]
    model.train()

    def smooth(name: str, value: float) -> float:
        running[name] = value if name not in running else 0.98 * running[name] + 0.02 * value
        return round(running[name], 5)

    try:
        for step in range(done["vision"], config.vision_steps if config.aux_weight > 0 else 0):
            rng = np.random.default_rng([config.seed, 1, step])
            picked = [images[int(i)] for i in rng.choice(len(images), size=min(config.vision_batch, len(images)),
                                                         replace=False)]
            firsts = [by_image[i][0] for i in picked]
            batch = {"coverages": [s.mask.coverage for s in firsts], "alphas": [s.mask.alpha for s in firsts],
                     "images": firsts}
            for group in vision_optimizer.param_groups:
                group["lr"] = config.lr * min(1.0, (step + 1) / config.warmup)
            features = _image_features(model.model, _pixel_values([s.pixels for s in firsts]))
            loss = probe_loss(probe(features), probe_targets(batch, shapes))
            vision_optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(vision_params, 1.0)
            vision_optimizer.step()
            done["vision"] = step + 1
            value = smooth("vision", loss.item())
            if (step + 1) % 100 == 0 or step + 1 == config.vision_steps:
                _log(out, history, {"vision_step": step + 1, "probe_loss": value,
                                    "elapsed_s": round(time.perf_counter() - started, 1)})
            if (step + 1) % config.save_every == 0:
                checkpoint()
        for step in range(done["joint"], config.steps):
            rng = np.random.default_rng([config.seed, 2, step])
            picked = [images[int(i)] for i in rng.choice(len(images), size=min(config.images_per_step, len(images)),
                                                         replace=False)]
            groups = [pick_questions(by_image[i], config.questions_per_image, rng, weights) for i in picked]
            batch = build_batch(groups, token_ids, rng, config.empty_prob, config.background_drop_prob)
            for group in optimizer.param_groups:
                group["lr"] = _lr_at(step, config)
            hidden = hidden_states(model, batch)
            rows, at = torch.arange(hidden.shape[0]), batch["answer_positions"]
            ce = torch.nn.functional.cross_entropy
            loss = ce(model.lm_head(hidden[rows, at]), batch["answer_ids"]) + ce(
                model.lm_head(hidden[rows, at + 1]), batch["eos_ids"])
            entry: dict[str, Any] = {"step": step + 1, "loss": smooth("loss", loss.item())}
            if config.cause_weight > 0:
                is_image = batch["input_ids"] == model.config.image_token_id
                states = captured["cause"][is_image].reshape(len(rows), GEOMETRY.num_patches, -1)
                extra = cause_loss(cause_probe(states)[..., 0], batch["cause_targets"])
                entry["cause_loss"] = smooth("cause", extra.item())
                loss = loss + config.cause_weight * extra
            if config.aux_weight > 0:
                extra = probe_loss(probe(captured["features"]), probe_targets(batch, shapes))
                entry["probe_loss"] = smooth("probe", extra.item())
                loss = loss + config.aux_weight * extra
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            done["joint"] = step + 1
            if (step + 1) % 100 == 0 or step + 1 == config.steps:
                entry.update(lr=round(_lr_at(step, config), 7), rows=int(len(rows)),
                             elapsed_s=round(time.perf_counter() - started, 1))
                if config.eval_every > 0 and ((step + 1) % config.eval_every == 0 or step + 1 == config.steps):
                    accuracy = accuracy_by_kind(model, processor, val)
                    entry["val"] = {k: round(v["accuracy"], 4) for k, v in accuracy.items()}
                    model.train()
                _log(out, history, entry)
            if (step + 1) % config.save_every == 0 or step + 1 == config.steps:
                checkpoint()
    finally:
        for hook in hooks:
            hook.remove()
    checkpoint()
    model.eval()
    return TrainResult(model=model, processor=processor, history=history, train_seconds=done["seconds"])


def save_checkpoint(
    result: TrainResult, config: EasyVQATrainConfig, out: str | os.PathLike[str], command: str,
    interventions_n: int = 1000,
) -> dict[str, Any]:
    """Save model, processor and ``whytoken_easyvqa.json`` with the validation and test figures.

    Returns
    -------
    dict
        The metadata written.
    """
    from whytoken.experiments.training.easyvqa_evaluate import intervention_check, token_locality

    out = ensure_directory(out, what="checkpoint directory")
    result.model.save_pretrained(out)
    result.processor.save_pretrained(out)
    model, processor = result.model, result.processor
    figures = {split: accuracy_by_kind(model, processor, load_samples(split, order="source"))
               for split in ("val", "test")}
    interventions = intervention_check(model, processor, load_samples("test", interventions_n), seed=0)
    locality = token_locality(model, load_samples("test", 5))
    done = [e for e in result.history if "step" in e]
    metadata = {
        "schema_version": 1,
        "model": MODEL_NAME,
        "dataset": {"name": "easy-vqa", "version": _easy_vqa_version(), "val_images": 400, "val_seed": 0,
                    "questions": {split: figures[split]["all"]["n"] for split in figures}},
        "geometry": {"image_size": GEOMETRY.image_size, "patch_size": GEOMETRY.patch_size,
                     "image_tokens": GEOMETRY.num_patches},
        "architecture": config.architecture.to_dict(),
        "parameters": sum(p.numel() for p in model.parameters()),
        "prompt_format": PROMPT_TEMPLATE,
        "train_config": config.to_dict(),
        "train_command": command,
        "evaluate_command": f"python -m whytoken.experiments.training.easyvqa_evaluate --model {out} --split test",
        "train_seconds": round(result.train_seconds, 1),
        "steps_done": done[-1]["step"] if done else 0,
        "history": result.history,
        "accuracy": {split: per_type for split, per_type in figures.items()},
        "interventions": {"split": "test", "n": interventions_n, **interventions.to_dict()},
        "token_locality": {"split": "test", **locality},
        "machine": {"load_average": [round(v, 2) for v in os.getloadavg()], "cpus": os.cpu_count()},
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                     "numpy": np.__version__, "python": platform.python_version(), "threads": config.threads},
    }
    atomic_write_text(Path(out) / METADATA_FILE, json.dumps(metadata, indent=2) + "\n", what="checkpoint metadata")
    return metadata


def _easy_vqa_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("easy-vqa")
    except PackageNotFoundError:
        return "unknown"


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; see the module docstring."""
    defaults = EasyVQATrainConfig()
    parser = argparse.ArgumentParser(prog="python -m whytoken.experiments.training.easyvqa_train",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="checkpoint and training-state directory")
    parser.add_argument("--no-resume", dest="resume", action="store_false", help="ignore a saved training state")
    for name, value in asdict(defaults).items():
        if name != "architecture":
            parser.add_argument(f"--{name.replace('_', '-')}", type=type(value), default=value)
    for name, value in defaults.architecture.to_dict().items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=int, default=int(value))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    architecture = DemoArchitecture.from_dict({k: getattr(args, k) for k in defaults.architecture.to_dict()})
    config = EasyVQATrainConfig(**{k: getattr(args, k) for k in asdict(defaults) if k != "architecture"},
                                architecture=architecture)
    command = "python -m whytoken.experiments.training.easyvqa_train " + " ".join(
        shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    result = train(config, args.out, resume=args.resume)
    metadata = save_checkpoint(result, config, args.out, command)
    logger.info("trained in %.1f s; test accuracy %s", result.train_seconds,
                {k: round(v["accuracy"], 4) for k, v in metadata["accuracy"]["test"].items()})
    logger.info("interventions %s", metadata["interventions"]["rates"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
