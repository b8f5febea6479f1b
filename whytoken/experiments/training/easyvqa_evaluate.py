"""Evaluate the easy-VQA model: accuracy per question type, removal interventions and token locality.

* **accuracy** -- the greedy answer (arg-max next token after the prompt)
  against easy-VQA's answer, per question type (``accuracy_by_kind`` of the
  demo recipe, which reads ``sample.kind``);
* **interventions** -- for each sample answered correctly whose answer is not
  an absence, the ground-truth cause patches (every patch the shape touches)
  are removed, and as a control as many random *background* patches (patches
  the shape does not touch, drawn with ``seed``):

  - ``pixel_cause`` / ``pixel_background``: the patches are painted with the
    image's background colour and the image re-encoded. On easy-VQA's flat
    backgrounds painting a background patch leaves the image byte-identical,
    so ``pixel_background`` is 0 by construction; it is reported, not claimed;
  - ``mask_cause`` / ``mask_background``: the patches' image tokens are masked
    out of attention, positions kept -- whytoken's default ``mask``
    intervention, a real change for background tokens too.

  Besides the rate of changed answers, the mean probability of the original
  answer after each edit is reported (without a shape colour and shape
  questions have no right answer, so the model's guess may coincide with the
  original answer: the probability shows how much evidence was removed);
* **locality** -- :func:`token_locality` perturbs one patch at a time and
  measures how much every projected image token changes: with the one-layer
  vision tower read at ``vision_feature_layer=-2`` only the patch's own token
  may change.

Command line::

    python -m whytoken.experiments.training.easyvqa_evaluate --model whytoken/data/whytoken-easyvqa --split test

Examples
--------
>>> from whytoken.experiments.training.easyvqa_model import load_easyvqa
>>> from whytoken.experiments.worlds.easyvqa import load_samples
>>> model, processor = load_easyvqa()
>>> report = intervention_check(model, processor, load_samples("test", 8, qtypes=["color"]))
>>> report.n_eligible <= report.n_samples == 8, report.rates["pixel_background"]
(True, 0.0)
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from whytoken.errors import InvalidParameterError
from whytoken.experiments.training.easyvqa_model import DEFAULT_CHECKPOINT_DIR, load_easyvqa
from whytoken.experiments.training.encoding import encode
from whytoken.experiments.training.evaluate import accuracy_by_kind
from whytoken.experiments.worlds.easyvqa import GEOMETRY, QUESTION_TYPES, EasyVQASample, blank_patches, load_samples

__all__ = [
    "EDITS",
    "predict",
    "accuracy_by_kind",
    "EasyVQAInterventionReport",
    "intervention_check",
    "token_locality",
    "format_report",
    "main",
]

logger = logging.getLogger(__name__)

#: The edits of :func:`intervention_check`, in report order.
EDITS: tuple[str, ...] = ("pixel_cause", "mask_cause", "pixel_background", "mask_background")


@torch.no_grad()
def predict(
    model: torch.nn.Module,
    processor: Any,
    samples: Sequence[EasyVQASample],
    images: Sequence[Any] | None = None,
    removed: Sequence[Sequence[int]] | None = None,
    batch_size: int = 64,
) -> tuple[list[str], list[float]]:
    """Greedy answers, and the probability of each sample's own answer, after optional edits.

    Parameters
    ----------
    model : LlavaForConditionalGeneration
    processor : LlavaProcessor
    samples : sequence of EasyVQASample
    images : sequence of PIL.Image.Image, optional
        Replacement images (e.g. painted over), one per sample.
    removed : sequence of sequences of int, optional
        Per sample, image-token indices (row-major patch indices) to mask out of attention.
    batch_size : int, default 64

    Returns
    -------
    (list of str, list of float)

    Examples
    --------
    >>> from whytoken.experiments.training.easyvqa_model import load_easyvqa
    >>> from whytoken.experiments.worlds.easyvqa import demo_sample
    >>> model, processor = load_easyvqa()
    >>> answers, probs = predict(model, processor, [demo_sample()])
    >>> answers == [demo_sample().answer], probs[0] > 0.5
    (True, True)
    """
    if batch_size < 1:
        raise InvalidParameterError(f"batch_size={batch_size}; expected a positive integer")
    images = list(images) if images is not None else [s.image for s in samples]
    if len(images) != len(samples) or (removed is not None and len(removed) != len(samples)):
        raise InvalidParameterError(
            f"got {len(images)} images and {len(removed) if removed is not None else 'no'} removal sets for "
            f"{len(samples)} samples; expected one per sample"
        )
    was_training = model.training
    model.eval()
    image_id = model.config.image_token_id
    answers: list[str] = []
    probs: list[float] = []
    try:
        for start in range(0, len(samples), batch_size):
            chunk = list(samples[start : start + batch_size])
            batch = encode(processor, chunk, images=images[start : start + batch_size])
            attention = batch["attention_mask"].clone()
            for i, remove in enumerate(removed[start : start + batch_size] if removed is not None else ()):
                positions = torch.nonzero(batch["input_ids"][i] == image_id).squeeze(-1)
                if len(remove):
                    attention[i, positions[list(remove)]] = 0
            hidden = model.model(
                input_ids=batch["input_ids"], attention_mask=attention, pixel_values=batch["pixel_values"].to(model.dtype)
            ).last_hidden_state
            logits = model.lm_head(hidden[torch.arange(len(chunk)), batch["last"]])
            answers.extend(processor.tokenizer.convert_ids_to_tokens(logits.argmax(-1).tolist()))
            expected = torch.tensor(processor.tokenizer.convert_tokens_to_ids([s.answer for s in chunk]))
            probs.extend(logits.softmax(-1)[torch.arange(len(chunk)), expected].tolist())
    finally:
        model.train(was_training)
    return answers, probs


@dataclass(frozen=True)
class EasyVQAInterventionReport:
    """Outcome of :func:`intervention_check`.

    Attributes
    ----------
    n_samples : int
    n_eligible : int
        Answered correctly and not absent; every rate is over these.
    rates : dict
        Fraction of eligible samples whose answer changed, per edit of :data:`EDITS`.
    mean_answer_probability : dict
        Mean probability of the original answer after each edit (and ``"none"``, unedited).
    per_type : dict
        ``{qtype: {"n_eligible", edit: rate, ...}}``.
    seed : int
        Seed of the background control patches.
    """

    n_samples: int
    n_eligible: int
    rates: dict[str, float] = field(default_factory=dict)
    mean_answer_probability: dict[str, float] = field(default_factory=dict)
    per_type: dict[str, dict[str, float]] = field(default_factory=dict)
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


def _mean(values: Sequence[float]) -> float:
    return float(np.mean(values)) if len(values) else float("nan")


def intervention_check(
    model: torch.nn.Module, processor: Any, samples: Sequence[EasyVQASample], seed: int = 0, batch_size: int = 64
) -> EasyVQAInterventionReport:
    """Remove the ground-truth patches, or as many background patches, and count changed answers.

    See the module docstring for the four edits.
    """
    rng = np.random.default_rng(seed)
    original, original_probs = predict(model, processor, samples, batch_size=batch_size)
    eligible = [s for s, a in zip(samples, original) if a == s.answer and not s.absent and s.cause_patches]
    base_probs = [p for s, a, p in zip(samples, original, original_probs) if a == s.answer and not s.absent
                  and s.cause_patches]
    grid = GEOMETRY.patch_grid
    background = []
    for s in eligible:
        pool = s.mask.background_patches()
        picked = rng.choice(len(pool), size=min(len(s.cause_patches), len(pool)), replace=False)
        background.append([pool[int(j)] for j in sorted(picked)])
    edits: dict[str, dict[str, Any]] = {
        "pixel_cause": {"images": [blank_patches(s.image, s.cause_patches, s.mask.background) for s in eligible]},
        "mask_cause": {"removed": [s.cause_patch_indices for s in eligible]},
        "pixel_background": {
            "images": [blank_patches(s.image, bg, s.mask.background) for s, bg in zip(eligible, background)]
        },
        "mask_background": {"removed": [[r * grid + c for r, c in bg] for bg in background]},
    }
    changed: dict[str, list[bool]] = {}
    probability = {"none": _mean(base_probs)}
    for name in EDITS:
        answers, probs = predict(model, processor, eligible, batch_size=batch_size, **edits[name]) if eligible else ([], [])
        changed[name] = [a != s.answer for a, s in zip(answers, eligible)]
        probability[name] = _mean(probs)
    per_type: dict[str, dict[str, float]] = {}
    for qtype in QUESTION_TYPES:
        idx = [i for i, s in enumerate(eligible) if s.qtype == qtype]
        if idx:
            per_type[qtype] = {"n_eligible": len(idx), **{e: _mean([changed[e][i] for i in idx]) for e in EDITS}}
    return EasyVQAInterventionReport(
        n_samples=len(samples),
        n_eligible=len(eligible),
        rates={e: _mean(changed[e]) for e in EDITS},
        mean_answer_probability=probability,
        per_type=per_type,
        seed=seed,
    )


@torch.no_grad()
def token_locality(model: torch.nn.Module, samples: Sequence[EasyVQASample], seed: int = 0) -> dict[str, float]:
    """How far one patch's pixels reach: perturb each patch of each image and compare the projected tokens.

    Each patch in turn gets uniform random pixels (seeded); ``own`` is the mean
    relative change ``|f' - f| / |f|`` of that patch's token, ``other_max`` the
    largest absolute change of any other token (0 for local tokens).

    Examples
    --------
    >>> from whytoken.experiments.training.easyvqa_model import load_easyvqa
    >>> from whytoken.experiments.worlds.easyvqa import load_samples
    >>> locality = token_locality(load_easyvqa()[0], load_samples("test", 1))
    >>> locality["other_max"], locality["own"] > 0.1
    (0.0, True)
    """
    from whytoken.experiments.training.batches import _image_features, _pixel_values

    rng = np.random.default_rng(seed)
    p, grid, n = GEOMETRY.patch_size, GEOMETRY.patch_grid, GEOMETRY.num_patches
    own, other = [], 0.0
    for sample in samples:
        images = [sample.pixels]
        for k in range(n):
            edited = sample.pixels
            r, c = divmod(k, grid)
            edited[r * p : (r + 1) * p, c * p : (c + 1) * p] = rng.integers(0, 256, size=(p, p, 3), dtype=np.uint8)
            images.append(edited)
        features = _image_features(model.model, _pixel_values(images).to(model.dtype))
        base, delta = features[0], (features[1:] - features[0]).norm(dim=-1)  # (n edited, n tokens)
        diagonal = torch.arange(n)
        own.extend((delta[diagonal, diagonal] / base.norm(dim=-1).clamp_min(1e-8)).tolist())
        off = delta.clone()
        off[diagonal, diagonal] = 0.0
        other = max(other, float(off.max()))
    return {"own": _mean(own), "other_max": other, "n_patches": len(own)}


def format_report(
    accuracy: dict[str, dict[str, float]],
    interventions: EasyVQAInterventionReport | None = None,
    locality: dict[str, float] | None = None,
) -> str:
    """Plain-text tables of the accuracy, the interventions and the locality check."""
    lines = [f"{'type':<14} {'n':>6} {'correct':>8} {'accuracy':>9}"]
    for key in [k for k in QUESTION_TYPES if k in accuracy] + ["all"]:
        row = accuracy[key]
        lines.append(f"{key:<14} {row['n']:>6} {row['correct']:>8} {row['accuracy']:>9.4f}")
    if interventions is not None:
        lines += ["", f"interventions on {interventions.n_eligible} eligible of {interventions.n_samples} samples "
                      f"(seed {interventions.seed}): fraction of answers changed",
                  f"{'type':<14} {'n':>5} " + " ".join(f"{e:>16}" for e in EDITS)]
        for qtype, row in interventions.per_type.items():
            lines.append(f"{qtype:<14} {row['n_eligible']:>5} " + " ".join(f"{row[e]:>16.3f}" for e in EDITS))
        lines.append(f"{'all':<14} {interventions.n_eligible:>5} "
                     + " ".join(f"{interventions.rates[e]:>16.3f}" for e in EDITS))
        probs = interventions.mean_answer_probability
        lines.append(f"{'p(answer)':<14} {probs['none']:>5.2f} " + " ".join(f"{probs[e]:>16.3f}" for e in EDITS))
    if locality is not None:
        lines += ["", f"token locality over {locality['n_patches']} perturbed patches: own token changes by "
                      f"{locality['own']:.3f} (relative), any other token by at most {locality['other_max']:.2e}"]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; see the module docstring."""
    parser = argparse.ArgumentParser(
        prog="python -m whytoken.experiments.training.easyvqa_evaluate",
        description="Per-type accuracy, removal interventions and token locality of an easy-VQA checkpoint.",
    )
    parser.add_argument("--model", type=Path, default=DEFAULT_CHECKPOINT_DIR, help="checkpoint directory")
    parser.add_argument("--split", choices=["train", "val", "test"], default="test")
    parser.add_argument("-n", type=int, default=None, help="questions for accuracy (default: the whole split)")
    parser.add_argument("--interventions", type=int, default=1000,
                        help="questions (types round-robin) for the intervention check (0: skip)")
    parser.add_argument("--locality", type=int, default=5, help="images for the locality check (0: skip)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the background control patches")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(args.threads)
    model, processor = load_easyvqa(args.model)
    accuracy = accuracy_by_kind(model, processor, load_samples(args.split, args.n, order="source"))
    interventions = (intervention_check(model, processor, load_samples(args.split, args.interventions), args.seed)
                     if args.interventions > 0 else None)
    locality = token_locality(model, load_samples(args.split, args.locality)) if args.locality > 0 else None
    sys.stdout.write(f"model {args.model}, split {args.split}\n{format_report(accuracy, interventions, locality)}\n")
    if args.json is not None:
        from whytoken.files import atomic_write_text

        payload = {"model": str(args.model), "split": args.split, "accuracy": accuracy,
                   "interventions": interventions.to_dict() if interventions else None, "locality": locality}
        atomic_write_text(args.json, json.dumps(payload, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
