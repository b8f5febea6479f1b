"""Evaluate the demo model: answer accuracy per question kind and pixel-blanking interventions.

Two checks tell whether the demo model is usable as ground truth for
explanations:

* **accuracy** -- the greedy answer (the arg-max next token after the prompt,
  which is what ``generate`` emits first) against the world's answer, per
  question kind;
* **interventions** -- for each sample the model answers correctly and whose
  answer is not an absence (``Sample.absent`` is False), the image is edited
  with :func:`~whytoken.experiments.worlds.demo.blank_patches` and re-encoded by the
  processor, in three ways:

  - ``cause``: blank the ground-truth cause patches (the answer should change),
  - ``empty``: blank as many random *empty* cells' patches (it should not),
  - ``distractor``: blank as many random patches of objects *outside* the
    cause (it should not either); samples with too few such objects skip it.

A third, diagnostic number says how *local* the image tokens are:
:func:`feature_leakage` blanks one object at a time and measures how much the
projected features of its own, its neighbours' and all other image tokens
change (the vision tower's attention can carry a patch's content into other
tokens, which token-level interventions cannot remove).

Command line (``python -m whytoken.experiments.evaluate`` still runs it too)::

    python -m whytoken.experiments.training.evaluate --model whytoken/data/whytoken-demo --split test -n 500 \
        --interventions 200

Examples
--------
>>> from whytoken.experiments.training.demo_model import load_demo
>>> from whytoken.experiments.worlds.demo import generate
>>> model, processor = load_demo()
>>> report = accuracy_by_kind(model, processor, generate("test", 8))
>>> sorted(report) == ["all", "color", "count", "exists", "relation"]
True
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from whytoken.errors import InvalidParameterError
from whytoken.experiments.training.demo_model import DEFAULT_CHECKPOINT_DIR, load_demo, world_config_of
from whytoken.experiments.training.encoding import encode
from whytoken.experiments.worlds.demo import KINDS, Sample, blank_patches, generate

__all__ = [
    "predict_answers",
    "accuracy_by_kind",
    "InterventionReport",
    "intervention_check",
    "feature_leakage",
    "format_report",
    "main",
]

logger = logging.getLogger(__name__)


@torch.no_grad()
def predict_answers(
    model: torch.nn.Module,
    processor: Any,
    samples: Sequence[Sample],
    images: Sequence[Any] | None = None,
    batch_size: int = 64,
) -> list[str]:
    """The model's greedy one-word answer for each sample.

    Parameters
    ----------
    model : LlavaForConditionalGeneration
    processor : LlavaProcessor
    samples : sequence of Sample
    images : sequence of PIL.Image.Image, optional
        Replacement images (same order as ``samples``), e.g. after blanking.
    batch_size : int, default 64

    Returns
    -------
    list of str
        The arg-max next token after each prompt, decoded.

    Examples
    --------
    >>> from whytoken.experiments.training.demo_model import load_demo
    >>> from whytoken.experiments.worlds.demo import generate
    >>> model, processor = load_demo()
    >>> sample = generate("test", 1)[0]
    >>> predict_answers(model, processor, [sample]) == [sample.answer]
    True
    """
    if batch_size < 1:
        raise InvalidParameterError(f"batch_size={batch_size}; expected a positive integer")
    images = list(images) if images is not None else [s.image for s in samples]
    if len(images) != len(samples):
        raise InvalidParameterError(f"got {len(images)} images for {len(samples)} samples; expected one per sample")
    was_training = model.training
    model.eval()
    answers: list[str] = []
    try:
        for start in range(0, len(samples), batch_size):
            chunk = list(samples[start : start + batch_size])
            batch = encode(processor, chunk, images=images[start : start + batch_size])
            hidden = model.model(
                input_ids=batch["input_ids"],
                attention_mask=batch["attention_mask"],
                pixel_values=batch["pixel_values"].to(model.dtype),
            ).last_hidden_state
            rows = torch.arange(hidden.shape[0])
            logits = model.lm_head(hidden[rows, batch["last"]])
            answers.extend(processor.tokenizer.convert_ids_to_tokens(logits.argmax(-1).tolist()))
    finally:
        model.train(was_training)
    return answers


def accuracy_by_kind(
    model: torch.nn.Module, processor: Any, samples: Sequence[Sample], batch_size: int = 64
) -> dict[str, dict[str, float]]:
    """Answer accuracy per question kind and overall.

    Returns
    -------
    dict
        ``{kind: {"n": int, "correct": int, "accuracy": float}}`` for every kind
        present, plus ``"all"``.

    Examples
    --------
    >>> from whytoken.experiments.training.demo_model import load_demo
    >>> from whytoken.experiments.worlds.demo import generate
    >>> model, processor = load_demo()
    >>> accuracy_by_kind(model, processor, generate("test", 4))["all"]["n"]
    4
    """
    return _accuracy_table(samples, predict_answers(model, processor, samples, batch_size=batch_size))


def _accuracy_table(samples: Sequence[Any], predictions: Sequence[str]) -> dict[str, dict[str, float]]:
    """``{kind: {"n", "correct", "accuracy"}}`` of predicted answers, per ``sample.kind`` and ``"all"``."""
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for sample, predicted in zip(samples, predictions):
        for key in (sample.kind, "all"):
            counts[key][0] += int(predicted == sample.answer)
            counts[key][1] += 1
    return {
        key: {"n": n, "correct": correct, "accuracy": correct / n if n else float("nan")}
        for key, (correct, n) in sorted(counts.items())
    }


@dataclass(frozen=True)
class InterventionReport:
    """Outcome of :func:`intervention_check`.

    Attributes
    ----------
    n_samples : int
        Samples given.
    n_eligible : int
        Samples answered correctly and not absent; the ``cause`` and ``empty``
        rates are over these.
    cause_change_rate, empty_change_rate : float
        Fraction of eligible samples whose answer changed when their cause
        patches (resp. as many random empty cells) were blanked.
    n_distractor : int
        Eligible samples with enough non-cause objects for the distractor control.
    distractor_change_rate : float
        Fraction of those whose answer changed when as many non-cause object
        patches were blanked.
    per_kind : dict
        The same three rates and counts per question kind.
    seed : int
        Seed of the random control choices.
    """

    n_samples: int
    n_eligible: int
    cause_change_rate: float
    empty_change_rate: float
    n_distractor: int
    distractor_change_rate: float
    per_kind: dict[str, dict[str, float]] = field(default_factory=dict)
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


def _rate(flags: list[bool]) -> float:
    return float(np.mean(flags)) if flags else float("nan")


def intervention_check(
    model: torch.nn.Module,
    processor: Any,
    samples: Sequence[Sample],
    seed: int = 0,
    batch_size: int = 64,
) -> InterventionReport:
    """Blank ground-truth, empty and distractor patches and count changed answers.

    Parameters
    ----------
    model : LlavaForConditionalGeneration
    processor : LlavaProcessor
    samples : sequence of Sample
    seed : int, default 0
        Seed of the random choice of control patches.
    batch_size : int, default 64

    Returns
    -------
    InterventionReport

    Examples
    --------
    >>> from whytoken.experiments.training.demo_model import load_demo
    >>> from whytoken.experiments.worlds.demo import generate
    >>> model, processor = load_demo()
    >>> report = intervention_check(model, processor, generate("test", 8, kinds=["color"]))
    >>> report.n_eligible <= report.n_samples == 8
    True
    """
    rng = np.random.default_rng(seed)
    original = predict_answers(model, processor, samples, batch_size=batch_size)
    eligible = [s for s, a in zip(samples, original) if a == s.answer and not s.absent and s.cause_patches]
    cause_images, empty_images, distractor_images, distractor_idx = [], [], [], []
    for i, sample in enumerate(eligible):
        world = sample.config
        n_cells = len({(r // world.patches_per_cell, c // world.patches_per_cell) for r, c in sample.cause_patches})
        cause_images.append(blank_patches(sample.image, sample.cause_patches, world))
        grid = world.grid_size
        empty = [(r, c) for r in range(grid) for c in range(grid) if sample.scene.object_at(r, c) is None]
        cause_cells = {(r // world.patches_per_cell, c // world.patches_per_cell) for r, c in sample.cause_patches}
        empty = [cell for cell in empty if cell not in cause_cells]
        picked = [empty[j] for j in rng.choice(len(empty), size=min(n_cells, len(empty)), replace=False)]
        empty_images.append(blank_patches(sample.image, [p for cell in picked for p in world.cell_patches(*cell)], world))
        others = [o.cell for o in sample.scene.objects if o.cell not in cause_cells]
        if len(others) >= n_cells:
            chosen = [others[j] for j in rng.choice(len(others), size=n_cells, replace=False)]
            distractor_images.append(
                blank_patches(sample.image, [p for cell in chosen for p in world.cell_patches(*cell)], world)
            )
            distractor_idx.append(i)
    cause_answers = predict_answers(model, processor, eligible, cause_images, batch_size) if eligible else []
    empty_answers = predict_answers(model, processor, eligible, empty_images, batch_size) if eligible else []
    distractor_samples = [eligible[i] for i in distractor_idx]
    distractor_answers = (
        predict_answers(model, processor, distractor_samples, distractor_images, batch_size) if distractor_idx else []
    )
    cause_changed = [a != s.answer for s, a in zip(eligible, cause_answers)]
    empty_changed = [a != s.answer for s, a in zip(eligible, empty_answers)]
    distractor_changed = [a != s.answer for s, a in zip(distractor_samples, distractor_answers)]
    per_kind: dict[str, dict[str, float]] = {}
    for kind in KINDS:
        idx = [i for i, s in enumerate(eligible) if s.kind == kind]
        didx = [j for j, s in enumerate(distractor_samples) if s.kind == kind]
        if not idx:
            continue
        per_kind[kind] = {
            "n_eligible": len(idx),
            "cause_change_rate": _rate([cause_changed[i] for i in idx]),
            "empty_change_rate": _rate([empty_changed[i] for i in idx]),
            "n_distractor": len(didx),
            "distractor_change_rate": _rate([distractor_changed[j] for j in didx]),
        }
    return InterventionReport(
        n_samples=len(samples),
        n_eligible=len(eligible),
        cause_change_rate=_rate(cause_changed),
        empty_change_rate=_rate(empty_changed),
        n_distractor=len(distractor_samples),
        distractor_change_rate=_rate(distractor_changed),
        per_kind=per_kind,
        seed=seed,
    )


@torch.no_grad()
def feature_leakage(model: torch.nn.Module, processor: Any, samples: Sequence[Sample]) -> dict[str, float]:
    """How far a patch's content reaches other image tokens through the vision tower.

    For every object of every sample the object's patches are blanked and the
    image re-encoded; the relative change ``|f' - f| / |f|`` of the projected
    image features (the language model's image-token inputs) is averaged over
    the blanked tokens (``own``), the tokens of the 4-neighbour cells
    (``neighbour``) and all other tokens (``far``). A purely local encoder has
    ``neighbour = far = 0``.

    Returns
    -------
    dict
        ``{"own", "neighbour", "far", "n_objects"}``.

    Examples
    --------
    >>> from whytoken.experiments.training.demo_model import load_demo
    >>> from whytoken.experiments.worlds.demo import generate
    >>> model, processor = load_demo()
    >>> leak = feature_leakage(model, processor, generate("test", 1))
    >>> leak["own"] > leak["far"]
    True
    """
    own, neighbour, far = [], [], []
    for sample in samples:
        world = sample.config
        images = [sample.image] + [
            blank_patches(sample.image, world.cell_patches(*obj.cell), world) for obj in sample.scene.objects
        ]
        pixel_values = processor.image_processor(images, return_tensors="pt")["pixel_values"].to(model.dtype)
        features = model.model.get_image_features(pixel_values=pixel_values).pooler_output
        base = features[0]
        norm = base.norm(dim=-1).clamp_min(1e-8)
        for obj, changed in zip(sample.scene.objects, features[1:]):
            rel = ((changed - base).norm(dim=-1) / norm).tolist()
            mine = {r * world.patch_grid + c for r, c in world.cell_patches(*obj.cell)}
            near = {
                r * world.patch_grid + c
                for dr, dc in ((0, 1), (0, -1), (1, 0), (-1, 0))
                if 0 <= obj.row + dr < world.grid_size and 0 <= obj.col + dc < world.grid_size
                for r, c in world.cell_patches(obj.row + dr, obj.col + dc)
            }
            own.extend(rel[i] for i in mine)
            neighbour.extend(rel[i] for i in near)
            far.extend(rel[i] for i in range(world.num_patches) if i not in mine and i not in near)
    return {
        "own": _rate(own),
        "neighbour": _rate(neighbour),
        "far": _rate(far),
        "n_objects": sum(len(s.scene.objects) for s in samples),
    }


def format_report(
    accuracy: dict[str, dict[str, float]],
    interventions: InterventionReport | None = None,
    leakage: dict[str, float] | None = None,
) -> str:
    """Plain-text tables of :func:`accuracy_by_kind`, :func:`intervention_check` and :func:`feature_leakage`."""
    lines = [f"{'kind':<10} {'n':>5} {'correct':>8} {'accuracy':>9}"]
    for key in [k for k in KINDS if k in accuracy] + ["all"]:
        row = accuracy[key]
        lines.append(f"{key:<10} {row['n']:>5} {row['correct']:>8} {row['accuracy']:>9.4f}")
    if interventions is not None:
        lines.append("")
        lines.append(
            f"interventions on {interventions.n_eligible} eligible of {interventions.n_samples} samples "
            f"(seed {interventions.seed}): answer changed when blanking"
        )
        lines.append(f"{'kind':<10} {'n':>5} {'cause':>7} {'empty':>7} {'n_dist':>7} {'distractor':>11}")
        for kind, row in interventions.per_kind.items():
            lines.append(
                f"{kind:<10} {row['n_eligible']:>5} {row['cause_change_rate']:>7.3f} {row['empty_change_rate']:>7.3f} "
                f"{row['n_distractor']:>7} {row['distractor_change_rate']:>11.3f}"
            )
        lines.append(
            f"{'all':<10} {interventions.n_eligible:>5} {interventions.cause_change_rate:>7.3f} "
            f"{interventions.empty_change_rate:>7.3f} {interventions.n_distractor:>7} "
            f"{interventions.distractor_change_rate:>11.3f}"
        )
    if leakage is not None:
        lines.append("")
        lines.append(
            f"vision-feature change when an object's patches are blanked ({leakage['n_objects']} objects): "
            f"own tokens {leakage['own']:.3f}, 4-neighbour tokens {leakage['neighbour']:.3f}, "
            f"other tokens {leakage['far']:.3f}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; see the module docstring."""
    parser = argparse.ArgumentParser(
        prog="python -m whytoken.experiments.training.evaluate",
        description="Per-kind answer accuracy and blanking interventions of a demo checkpoint.",
    )
    parser.add_argument("--model", type=Path, default=DEFAULT_CHECKPOINT_DIR, help="checkpoint directory")
    parser.add_argument("--split", choices=["train", "val", "test"], default="test")
    parser.add_argument("-n", type=int, default=500, help="samples for accuracy (kinds round-robin)")
    parser.add_argument("--offset", type=int, default=0, help="first sample's offset in the split")
    parser.add_argument("--interventions", type=int, default=200, help="samples for the intervention check (0: skip)")
    parser.add_argument("--leakage", type=int, default=20, help="samples for the feature-leakage check (0: skip)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random control patches")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(args.threads)
    model, processor = load_demo(args.model)
    world = world_config_of(args.model)
    samples = generate(args.split, args.n, seed=args.offset, config=world)
    accuracy = accuracy_by_kind(model, processor, samples)
    interventions = None
    if args.interventions > 0:
        check = generate(args.split, args.interventions, seed=args.offset, config=world)
        interventions = intervention_check(model, processor, check, seed=args.seed)
    leakage = None
    if args.leakage > 0:
        leakage = feature_leakage(model, processor, generate(args.split, args.leakage, seed=args.offset, config=world))
    sys.stdout.write(f"model {args.model}, split {args.split}, n={args.n}, offset {args.offset}\n")
    sys.stdout.write(format_report(accuracy, interventions, leakage) + "\n")
    if args.json is not None:
        payload = {
            "model": str(args.model),
            "split": args.split,
            "n": args.n,
            "offset": args.offset,
            "accuracy": accuracy,
            "interventions": interventions.to_dict() if interventions else None,
            "feature_leakage": leakage,
        }
        args.json.write_text(json.dumps(payload, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
