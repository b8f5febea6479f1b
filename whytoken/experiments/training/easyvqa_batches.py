"""Training batches of the easy-VQA recipe: which questions, which edits, and the auxiliary targets.

One training step shows ``images_per_step`` train images and asks
``questions_per_image`` of each image's questions, drawn with the weights of
:func:`group_weights`, so that every question type carries the same mass and,
within a yes/no type, present and absent answers do (easy-VQA's yes/no
questions are 88 % absent for colours: without the weights the model learns the
prior first and stalls there). Every question is its own row,
``<s> question <image>*64 answer : a </s>``; an image's vision features are
computed once and shared by its rows (``batches.hidden_states`` of the demo recipe).

Edits (each row or image independently, seeded per step):

* **background removal** (``background_drop_prob``): a random fraction of
  the image tokens the shape does not touch is masked out of attention (the
  edit of whytoken's default ``mask`` intervention); the answer stays;
* **no shape** (``empty_prob`` per image): the first two of the image's
  questions are asked again (a) on the image with the shape painted over in
  background colour and (b) with every image token the shape touches masked
  out; with no shape present a yes/no question's answer is ``no`` (``yes`` when
  negated) and a colour or shape question's is
  :data:`~whytoken.experiments.worlds.easyvqa.NO_SHAPE_ANSWER` (``none``).

Auxiliary targets, discarded with their linear heads after training:

* the **patch probe** on each image token at the projector's output: the
  shape colour of the patch (or background; patches covered < 10 % are not
  scored), the image's shape for patches on the shape's edge (covered 5-95 %,
  where the outline shows; shapes come from :func:`~whytoken.experiments.worlds.easyvqa.shape_labels`)
  and the patch's coverage pattern (the shape's alpha pooled to 4 x 4). It is the
  stand-in for a pretrained vision tower: the tokens learn to say what their
  own pixels show.
* the **cause probe** on each image token at the input of the last language
  layer: whether the patch is one of the question's cause patches (covered
  >= 10 %; none for absent answers) -- it asks the lower layers to compare the
  patch with the question, the step yes/no questions otherwise stall on.

Examples
--------
>>> from whytoken.experiments.worlds.easyvqa import load_samples
>>> val = load_samples("val", order="source")
>>> weights = group_weights(val)
>>> [round(sum(weights[(s.qtype, s.absent)] for s in val if s.qtype == t), 6) for t in ("color", "yes_no_color")]
[1.0, 1.0]
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from whytoken.errors import InvalidParameterError
from whytoken.experiments.training.batches import _pixel_values
from whytoken.experiments.worlds.easyvqa import (
    COLORS,
    GEOMETRY,
    IMAGE_PLACEHOLDER,
    NO_SHAPE_ANSWER,
    SHAPES,
    EasyVQASample,
    blank_patches,
    parse_question,
)

__all__ = [
    "PROBE_SIZES",
    "group_weights",
    "pick_questions",
    "no_shape_answer",
    "build_batch",
    "probe_targets",
    "probe_loss",
    "cause_loss",
]

#: Patch-probe heads: colour (background + 8), shape (3), coverage pattern (4 x 4).
PROBE_SIZES: tuple[int, int, int] = (1 + len(COLORS), len(SHAPES), 16)
_COLOR_IDS = {c: i for i, c in enumerate(COLORS)}
_SHAPE_IDS = {s: i for i, s in enumerate(SHAPES)}
_IGNORE = -100


def group_weights(samples: Sequence[EasyVQASample]) -> dict[tuple[str, bool], float]:
    """Per-question sampling weight by ``(qtype, absent)``.

    Each question type gets total weight 1, split equally between its groups
    (present / absent for yes/no types), and shared equally by the questions of
    a group.
    """
    counts = Counter((s.qtype, s.absent) for s in samples)
    groups_per_type = Counter(qtype for qtype, _ in counts)
    return {key: 1.0 / groups_per_type[key[0]] / n for key, n in counts.items()}


def pick_questions(
    questions: Sequence[EasyVQASample], k: int, rng: np.random.Generator, weights: Mapping[tuple[str, bool], float]
) -> list[EasyVQASample]:
    """Up to ``k`` distinct questions about one image, drawn with :func:`group_weights`.

    Examples
    --------
    >>> from whytoken.experiments.worlds.easyvqa import image_ids, load_samples
    >>> qs = [s for s in load_samples("val", order="source") if s.image_id == image_ids("val")[0]]
    >>> len(pick_questions(qs, 3, np.random.default_rng(0), group_weights(qs)))
    3
    """
    if k < 1 or not questions:
        raise InvalidParameterError(f"k={k} with {len(questions)} questions; expected k >= 1 and some questions")
    p = np.asarray([weights.get((q.qtype, q.absent), 0.0) for q in questions], dtype=float)
    if p.sum() <= 0:
        p = np.ones(len(questions))
    take = min(k, int(np.count_nonzero(p)))
    picked = rng.choice(len(questions), size=take, replace=False, p=p / p.sum())
    return [questions[int(i)] for i in sorted(picked)]


def no_shape_answer(sample: EasyVQASample) -> str:
    """The answer to the sample's question about an image without a shape.

    Examples
    --------
    >>> from whytoken.experiments.worlds.easyvqa import load_samples
    >>> [no_shape_answer(s) for s in load_samples("test", 4)]
    ['none', 'none', 'no', 'yes']
    """
    parsed = parse_question(sample.question)
    if parsed.value is None:
        return NO_SHAPE_ANSWER
    return "yes" if parsed.negated else "no"


def _row_ids(sample: EasyVQASample, answer: str, token_ids: Mapping[str, int]) -> tuple[list[int], int]:
    """Token ids of ``<s> prompt answer </s>`` and the position of the first image token."""
    ids = [token_ids["<s>"]]
    first_image = -1
    for word in sample.words:
        if word == IMAGE_PLACEHOLDER:
            first_image = len(ids)
            ids += [token_ids[IMAGE_PLACEHOLDER]] * GEOMETRY.num_patches
        else:
            ids.append(token_ids[word])
    return ids + [token_ids[answer], token_ids["</s>"]], first_image


def build_batch(
    groups: Sequence[Sequence[EasyVQASample]],
    token_ids: Mapping[str, int],
    rng: np.random.Generator,
    empty_prob: float = 0.0,
    background_drop_prob: float = 0.0,
) -> dict[str, Any]:
    """Training tensors for question groups (one group per image), with the edits of the module docstring.

    Returns
    -------
    dict
        ``input_ids``, ``attention_mask`` ``(rows, seq)`` (right-padded; removed image
        tokens have mask 0), ``pixel_values`` ``(images, 3, 64, 64)``, ``image_index``,
        ``answer_positions`` (the ``":"``), ``answer_ids``, ``eos_ids`` ``(rows,)``,
        ``cause_targets`` ``(rows, 64)`` float (1 cause, 0 not, -1 not scored),
        and ``coverages`` (one ``(8, 8)`` array per image, zeros for a painted-over
        image), ``alphas`` and ``images`` (the samples whose masks, colours and
        labels the patch probe reads; None for painted-over images).

    Examples
    --------
    >>> from whytoken.experiments.training.easyvqa_model import build_tokenizer
    >>> from whytoken.experiments.worlds.easyvqa import load_samples
    >>> tokenizer = build_tokenizer()
    >>> b = build_batch([load_samples("test", 3)], tokenizer.get_vocab(), np.random.default_rng(0), empty_prob=1.0)
    >>> b["pixel_values"].shape[0], tokenizer.convert_ids_to_tokens(b["answer_ids"].tolist())
    (2, ['red', 'triangle', 'no', 'none', 'none', 'none', 'none'])
    """
    if not groups or any(len(g) == 0 for g in groups):
        raise InvalidParameterError(f"got {len(groups)} question groups; expected one non-empty group per image")
    n = GEOMETRY.num_patches
    rows: list[list[int]] = []
    keeps: list[np.ndarray] = []
    meta: dict[str, list[Any]] = {k: [] for k in ("image_index", "answer_positions", "cause_targets")}
    pixels, coverages, alphas, images = [], [], [], []
    for group in groups:
        first = group[0]
        mask = first.mask
        coverage = mask.coverage.reshape(-1)
        shape_tokens = coverage > 0
        pixels.append(first.pixels)
        coverages.append(mask.coverage)
        alphas.append(mask.alpha)
        images.append(first)
        variants = [("image", len(pixels) - 1)]
        asked_again = list(group[:2])
        if rng.random() < empty_prob:
            pixels.append(np.asarray(blank_patches(first.image, mask.patches, mask.background, GEOMETRY.patch_size)))
            coverages.append(np.zeros_like(mask.coverage))
            alphas.append(np.zeros_like(mask.alpha))
            images.append(None)
            variants += [("painted", len(pixels) - 1), ("masked", variants[0][1])]
        for variant, image_index in variants:
            for q in group if variant == "image" else asked_again:
                answer = q.answer if variant == "image" else no_shape_answer(q)
                ids, start = _row_ids(q, answer, token_ids)
                keep = np.ones(len(ids), dtype=np.int64)
                image_keep = keep[start : start + n]  # a view
                cause = np.full(n, -1.0, dtype=np.float32)
                if variant == "masked":
                    image_keep[shape_tokens] = 0
                else:
                    if variant == "image":
                        cause[:] = 0.0
                        if not q.absent:
                            cause[coverage >= 0.1] = 1.0
                        cause[(coverage > 0) & (coverage < 0.1)] = -1.0
                    if rng.random() < background_drop_prob:
                        drop = ~shape_tokens & (rng.random(n) < rng.random())
                        image_keep[drop] = 0
                rows.append(ids)
                keeps.append(keep)
                meta["image_index"].append(image_index)
                meta["answer_positions"].append(len(ids) - 3)
                meta["cause_targets"].append(cause)
    width = max(len(r) for r in rows)
    input_ids = torch.full((len(rows), width), token_ids["<pad>"], dtype=torch.long)
    attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, (ids, keep) in enumerate(zip(rows, keeps)):
        input_ids[i, : len(ids)] = torch.tensor(ids)
        attention_mask[i, : len(ids)] = torch.from_numpy(keep)
    at = torch.tensor(meta["answer_positions"])
    rr = torch.arange(len(rows))
    return {
        "input_ids": input_ids,
        "attention_mask": attention_mask,
        "pixel_values": _pixel_values(pixels),
        "image_index": torch.tensor(meta["image_index"]),
        "answer_positions": at,
        "answer_ids": input_ids[rr, at + 1],
        "eos_ids": input_ids[rr, at + 2],
        "cause_targets": torch.from_numpy(np.stack(meta["cause_targets"])),
        "coverages": coverages,
        "alphas": alphas,
        "images": images,
    }


def probe_targets(batch: Mapping[str, Any], shapes: Mapping[int, str]) -> tuple[torch.Tensor, ...]:
    """Patch-probe targets per image: colour ``(images, 64)``, shape ``(images, 64)``, pattern ``(images, 64, 16)``.

    ``shapes`` maps image ids to shape names (:func:`~whytoken.experiments.worlds.easyvqa.shape_labels`);
    unscored entries are -100.
    """
    n_images, n, p = len(batch["coverages"]), GEOMETRY.num_patches, GEOMETRY.patch_size
    color = torch.zeros((n_images, n), dtype=torch.long)
    shape = torch.full((n_images, n), _IGNORE, dtype=torch.long)
    pattern = torch.zeros((n_images, n, 16))
    g = GEOMETRY.patch_grid
    for b, (coverage, alpha, sample) in enumerate(zip(batch["coverages"], batch["alphas"], batch["images"])):
        cov = torch.from_numpy(np.asarray(coverage, dtype=np.float64).reshape(-1))
        if sample is not None:
            color[b] = torch.where(cov >= 0.1, 1 + _COLOR_IDS[sample.mask.color], 0)
            color[b][(cov > 0) & (cov < 0.1)] = _IGNORE
            label = shapes.get(sample.image_id)
            if label is not None:
                shape[b][(cov > 0.05) & (cov < 0.95)] = _SHAPE_IDS[label]
        a = torch.from_numpy(np.asarray(alpha, dtype=np.float32)).reshape(g, p, g, p).permute(0, 2, 1, 3)
        pattern[b] = a.reshape(n, 4, p // 4, 4, p // 4).mean(dim=(2, 4)).reshape(n, 16)
    return color, shape, pattern


def probe_loss(logits: torch.Tensor, targets: Sequence[torch.Tensor]) -> torch.Tensor:
    """Colour and edge-shape cross-entropies plus 4 x the pattern's squared error (on sigmoid outputs)."""
    color, shape, pattern = targets
    c, s, _ = PROBE_SIZES
    ce = torch.nn.functional.cross_entropy
    loss = ce(logits[..., :c].reshape(-1, c), color.reshape(-1), ignore_index=_IGNORE)
    if bool((shape >= 0).any()):
        loss = loss + 0.5 * ce(logits[..., c : c + s].reshape(-1, s), shape.reshape(-1), ignore_index=_IGNORE)
    return loss + 4.0 * torch.nn.functional.mse_loss(torch.sigmoid(logits[..., c + s :]), pattern)


def cause_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy of the cause probe ``(rows, 64)`` over the scored entries (targets >= 0)."""
    scored = targets >= 0
    if not bool(scored.any()):
        return logits.new_zeros(())
    return torch.nn.functional.binary_cross_entropy_with_logits(logits[scored], targets[scored])
