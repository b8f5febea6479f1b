"""Evaluate a world576 checkpoint: accuracy per question kind and the intervention check.

* **accuracy** -- the greedy next token after ``"<image> {question} answer :"``
  against the world's answer, per kind (plain ``model(...)`` forward through
  the processor, as any user would run it);
* **interventions** -- for every sample answered correctly whose answer has
  cause objects (``Sample.absent`` is False), three edits of the same number of
  patches, each tried in two ways: *blank* (paint the patches with the scene's
  own background, :func:`~...scene.blank_patches` with ``Rendering.background``,
  then re-encode) and *mask* (drop the image tokens from the language model's
  attention, positions kept: whytoken's default intervention):

  - ``cause``: every ground-truth cause patch (the answer should change),
  - ``background``: as many random patches that no object touches (it should not),
  - ``distractor``: as many patches of objects that are not causes and share no
    patch with a cause (it should not); samples with too few skip it.

Command line::

    python -m whytoken.experiments.training.world576_evaluate --split test -n 1000 --interventions 500

Examples
--------
>>> from whytoken.experiments.training.world576_model import build_model, build_processor
>>> from whytoken.experiments.worlds.world576 import generate
>>> processor = build_processor()
>>> model = build_model(processor.tokenizer)  # untrained: any answer
>>> sorted(accuracy_by_kind(model, processor, generate("test", 5)))
['all', 'color', 'count', 'exists', 'relation', 'same_color']
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import numpy as np
import torch

from whytoken.errors import InvalidParameterError
from whytoken.experiments.training.evaluate import _accuracy_table
from whytoken.experiments.worlds.world576 import KINDS, blank_patches, patch_coverage

__all__ = ["predict_answers", "accuracy_by_kind", "InterventionReport", "intervention_check", "format_report", "main"]

logger = logging.getLogger(__name__)


@torch.no_grad()
def predict_answers(
    model: Any,
    processor: Any,
    samples: Sequence[Any],
    images: Sequence[Any] | None = None,
    dropped: Sequence[Sequence[int]] | None = None,
    batch_size: int = 16,
) -> list[str]:
    """The greedy one-word answer to each sample, optionally on other images or with image tokens masked.

    Parameters
    ----------
    images : sequence of PIL.Image.Image, optional
        Replacement images, one per sample.
    dropped : sequence of sequences of int, optional
        Per sample, image-token ranks (row-major patch indices) to mask out of
        the language model's attention (positions unchanged).
    batch_size : int, default 16

    Returns
    -------
    list of str
        The arg-max next token after each prompt, decoded.

    Examples
    --------
    >>> from whytoken.experiments.training.world576_model import build_model, build_processor
    >>> from whytoken.experiments.worlds.world576 import generate
    >>> processor = build_processor()
    >>> model = build_model(processor.tokenizer)
    >>> sample = generate("test", 1)[0]
    >>> answer, = predict_answers(model, processor, [sample], dropped=[sample.cause_patch_indices])
    >>> answer in processor.tokenizer.get_vocab()
    True
    """
    images = list(images) if images is not None else [s.image for s in samples]
    if len(images) != len(samples) or (dropped is not None and len(dropped) != len(samples)):
        raise InvalidParameterError(
            f"got {len(images)} images and {None if dropped is None else len(dropped)} dropped-token lists for "
            f"{len(samples)} samples; expected one per sample"
        )
    if batch_size < 1:
        raise InvalidParameterError(f"batch_size={batch_size}; expected a positive integer")
    was = model.training
    model.eval()
    out: list[str] = []
    image_id = model.config.image_token_id
    try:
        for start in range(0, len(samples), batch_size):
            chunk = list(samples[start : start + batch_size])
            batch = processor(images=images[start : start + batch_size], text=[s.prompt for s in chunk],
                              padding=True, padding_side="left", return_tensors="pt")
            mask = batch["attention_mask"].clone()
            if dropped is not None:
                for row, ranks in enumerate(dropped[start : start + batch_size]):
                    positions = torch.nonzero(batch["input_ids"][row] == image_id).squeeze(-1)
                    mask[row, positions[list(ranks)]] = 0
            logits = model(input_ids=batch["input_ids"], attention_mask=mask,
                           pixel_values=batch["pixel_values"].to(model.dtype), logits_to_keep=1).logits[:, -1]
            out.extend(processor.tokenizer.convert_ids_to_tokens(logits.argmax(-1).tolist()))
    finally:
        model.train(was)
    return out


def accuracy_by_kind(model: Any, processor: Any, samples: Sequence[Any], batch_size: int = 16) -> dict[str, dict[str, float]]:
    """``{kind: {"n", "correct", "accuracy"}}`` for every kind present, plus ``"all"``.

    Examples
    --------
    >>> from whytoken.experiments.training.world576_model import build_model, build_processor
    >>> from whytoken.experiments.worlds.world576 import generate
    >>> processor = build_processor()
    >>> accuracy_by_kind(build_model(processor.tokenizer), processor, generate("test", 2))["all"]["n"]
    2
    """
    return _accuracy_table(samples, predict_answers(model, processor, samples, batch_size=batch_size))


@dataclass(frozen=True)
class InterventionReport:
    """Outcome of :func:`intervention_check`.

    Attributes
    ----------
    n_samples, n_eligible, n_distractor : int
        Samples given; answered correctly with cause objects (the ``cause`` and
        ``background`` rates are over these); with enough distractor patches.
    rates : dict
        Fraction of answers changed, keyed ``{cause,background,distractor}_{blank,mask}``.
    per_kind : dict
        The same rates (and ``n_eligible``) per question kind.
    seed : int
        Seed of the random control patches.
    """

    n_samples: int
    n_eligible: int
    n_distractor: int
    rates: dict[str, float]
    per_kind: dict[str, dict[str, float]] = field(default_factory=dict)
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (rates over no samples are ``None``)."""
        def clean(value: Any) -> Any:
            if isinstance(value, dict):
                return {k: clean(v) for k, v in value.items()}
            return None if isinstance(value, float) and value != value else value

        return clean(asdict(self))


def _controls(sample: Any, rng: np.random.Generator) -> tuple[list[tuple[int, int]], list[tuple[int, int]] | None]:
    """Background and distractor patch sets of the size of the sample's cause."""
    world = sample.config
    coverage = patch_coverage(sample.render().labels, len(sample.scene.objects), world)
    cause = set(sample.cause_patches)
    touched = set().union(*coverage) if coverage else set()
    n = len(cause)
    free = [(r, c) for r in range(world.patch_grid) for c in range(world.patch_grid) if (r, c) not in touched]
    background = [free[i] for i in rng.choice(len(free), size=min(n, len(free)), replace=False)]
    causes = set(sample.cause_objects)
    others = [i for i in range(len(coverage)) if i not in causes and not (set(coverage[i]) & cause)]
    rng.shuffle(others)
    distractor: list[tuple[int, int]] = []
    for i in others:
        distractor += [p for p in coverage[i] if p not in distractor]
        if len(distractor) >= n:
            return background, distractor[:n]
    return background, None


def intervention_check(model: Any, processor: Any, samples: Sequence[Any], seed: int = 0,
                       batch_size: int = 16) -> InterventionReport:
    """Blank or mask the cause, background and distractor patches and count changed answers.

    Examples
    --------
    >>> from whytoken.experiments.training.world576_model import build_model, build_processor
    >>> from whytoken.experiments.worlds.world576 import generate
    >>> processor = build_processor()
    >>> report = intervention_check(build_model(processor.tokenizer), processor, generate("test", 2, kinds=["color"]))
    >>> report.n_samples, report.n_eligible <= 2
    (2, True)
    """
    rng = np.random.default_rng(seed)
    original = predict_answers(model, processor, samples, batch_size=batch_size)
    eligible = [s for s, a in zip(samples, original) if a == s.answer and not s.absent and s.cause_patches]
    edits: dict[str, list[tuple[int, list[tuple[int, int]]]]] = {"cause": [], "background": [], "distractor": []}
    for i, s in enumerate(eligible):
        background, distractor = _controls(s, rng)
        edits["cause"].append((i, list(s.cause_patches)))
        edits["background"].append((i, background))
        if distractor is not None:
            edits["distractor"].append((i, distractor))
    changed: dict[str, list[tuple[int, bool]]] = {}
    for name, jobs in edits.items():
        chosen = [eligible[i] for i, _ in jobs]
        blanked = [blank_patches(s.image, patches, s.render().background, s.config) for s, (_, patches) in zip(chosen, jobs)]
        blank_answers = predict_answers(model, processor, chosen, images=blanked, batch_size=batch_size) if jobs else []
        ranks = [[s.config.patch_index(r, c) for r, c in patches] for s, (_, patches) in zip(chosen, jobs)]
        mask_answers = predict_answers(model, processor, chosen, dropped=ranks, batch_size=batch_size) if jobs else []
        changed[f"{name}_blank"] = [(i, a != s.answer) for (i, _), s, a in zip(jobs, chosen, blank_answers)]
        changed[f"{name}_mask"] = [(i, a != s.answer) for (i, _), s, a in zip(jobs, chosen, mask_answers)]
    rate = lambda flags: float(np.mean(flags)) if flags else float("nan")  # noqa: E731
    per_kind = {}
    for kind in KINDS:
        idx = {i for i, s in enumerate(eligible) if s.kind == kind}
        if idx:
            per_kind[kind] = {"n_eligible": len(idx), **{k: rate([f for i, f in v if i in idx]) for k, v in changed.items()}}
    return InterventionReport(len(samples), len(eligible), len(edits["distractor"]),
                              {k: rate([f for _, f in v]) for k, v in changed.items()}, per_kind, seed)


def format_report(accuracy: dict[str, dict[str, float]], interventions: InterventionReport | None = None) -> str:
    """Plain-text tables of :func:`accuracy_by_kind` and :func:`intervention_check`."""
    lines = [f"{'kind':<11} {'n':>5} {'correct':>8} {'accuracy':>9}"]
    for key in [k for k in KINDS if k in accuracy] + ["all"]:
        row = accuracy[key]
        lines.append(f"{key:<11} {row['n']:>5} {row['correct']:>8} {row['accuracy']:>9.4f}")
    if interventions is not None:
        names = ["cause_blank", "cause_mask", "background_blank", "background_mask", "distractor_blank",
                 "distractor_mask"]
        lines += ["", f"interventions on {interventions.n_eligible} eligible of {interventions.n_samples} samples "
                      f"({interventions.n_distractor} with a distractor control, seed {interventions.seed}): "
                      "fraction of answers changed",
                  f"{'kind':<11} {'n':>5} " + " ".join(f"{n:>16}" for n in names)]
        rows = [(k, v) for k, v in interventions.per_kind.items()] + [
            ("all", {"n_eligible": interventions.n_eligible, **interventions.rates})]
        for kind, row in rows:
            lines.append(f"{kind:<11} {row['n_eligible']:>5} " + " ".join(f"{row[n]:>16.3f}" for n in names))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; see the module docstring."""
    from whytoken.experiments.training.world576_model import DEFAULT_CHECKPOINT_DIR, load_world576
    from whytoken.experiments.worlds.world576 import generate

    parser = argparse.ArgumentParser(prog="python -m whytoken.experiments.training.world576_evaluate",
                                     description="Per-kind accuracy and the intervention check of a world576 checkpoint.")
    parser.add_argument("--model", type=Path, default=DEFAULT_CHECKPOINT_DIR, help="checkpoint directory")
    parser.add_argument("--split", choices=["train", "val", "test"], default="test")
    parser.add_argument("-n", type=int, default=1000, help="questions for accuracy (kinds round-robin)")
    parser.add_argument("--offset", type=int, default=0, help="first sample's offset in the split")
    parser.add_argument("--interventions", type=int, default=500, help="questions for the intervention check (0: skip)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random control patches")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(args.threads)
    model, processor = load_world576(args.model)
    accuracy = accuracy_by_kind(model, processor, generate(args.split, args.n, seed=args.offset))
    interventions = None
    if args.interventions > 0:
        check = generate(args.split, args.interventions, seed=args.offset)
        interventions = intervention_check(model, processor, check, seed=args.seed)
    sys.stdout.write(f"model {args.model}, split {args.split}, n={args.n}, offset {args.offset}\n")
    sys.stdout.write(format_report(accuracy, interventions) + "\n")
    if args.json is not None:
        from whytoken.files import atomic_write_text

        atomic_write_text(args.json, json.dumps({"model": str(args.model), "split": args.split, "n": args.n,
                                          "offset": args.offset, "accuracy": accuracy,
                                          "interventions": interventions.to_dict() if interventions else None},
                                         indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
