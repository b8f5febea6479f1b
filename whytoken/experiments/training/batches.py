"""Training batches of the demo recipe: several questions per image, built without the processor.

:func:`pick_questions` asks more questions about a sample's image (hard
negatives for ``exists``), :func:`build_batch` makes one row per question and
one image per group, :func:`hidden_states` runs the vision tower once per
image and the language model per row, and :func:`_augment` blanks random
empty cells, the edit the intervention check makes.

Examples
--------
>>> from whytoken.experiments.worlds.demo import make_sample
>>> [q.kind for q in pick_questions(make_sample(2, "exists"), 3, np.random.default_rng(1))][0]
'exists'
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch

from whytoken.errors import InvalidParameterError
from whytoken.experiments.training.config import TrainConfig
from whytoken.experiments.worlds.demo import IMAGE_PLACEHOLDER, KINDS, Sample, WorldConfig, ask, questions_about

__all__ = ["pick_questions", "build_batch", "hidden_states"]


def pick_questions(
    sample: Sample, k: int, rng: np.random.Generator, kind_weights: Sequence[float] | None = None
) -> list[Sample]:
    """The sample itself and ``k - 1`` more questions about its image.

    Each extra question draws a kind (with ``kind_weights`` over
    :data:`~whytoken.experiments.worlds.demo.KINDS`, uniform by default) among the
    kinds the scene still offers, then an answer uniformly among that kind's
    answers, then a question with that answer; no question repeats. A ``no``
    to an ``exists`` question is a *hard negative* when the scene offers one:
    its colour and its shape both occur, on different objects, so that
    "colour present and shape present" is not enough to answer it.

    Examples
    --------
    >>> from whytoken.experiments.worlds.demo import make_sample
    >>> qs = pick_questions(make_sample(1, "count"), 4, np.random.default_rng(0))
    >>> qs[0].kind, len({q.question for q in qs})
    ('count', 4)
    """
    if k < 1:
        raise InvalidParameterError(f"k={k}; expected at least 1 question per image")
    weights = np.asarray(kind_weights if kind_weights is not None else [1.0] * len(KINDS), dtype=float)
    if weights.shape != (len(KINDS),) or np.any(weights < 0) or weights.sum() <= 0:
        raise InvalidParameterError(
            f"kind_weights={kind_weights!r}; expected {len(KINDS)} non-negative weights for {list(KINDS)}"
        )
    pool = [q for q in questions_about(sample.scene, sample.config) if q.question != sample.question]
    picked = [sample]
    while len(picked) < k and pool:
        offered = np.asarray([weights[i] if any(q.kind == kind for q in pool) else 0.0 for i, kind in enumerate(KINDS)])
        if offered.sum() <= 0:
            break
        kind = KINDS[int(rng.choice(len(KINDS), p=offered / offered.sum()))]
        candidates = [q for q in pool if q.kind == kind]
        answers = sorted({q.answer for q in candidates})
        answer = answers[int(rng.integers(len(answers)))]
        with_answer = [q for q in candidates if q.answer == answer]
        if kind == "exists" and answer == "no":  # hard negatives: both attributes present on other objects
            hard = [q for q in with_answer if _is_near_miss(q, sample)]
            with_answer = hard or with_answer
        question = with_answer[int(rng.integers(len(with_answer)))]
        pool.remove(question)
        picked.append(ask(question, sample.scene, sample.image, sample.seed, sample.config))
    return picked


def _is_near_miss(question: Any, sample: Sample) -> bool:
    """True when an ``exists`` question's colour and shape both occur in the scene, on different objects."""
    color, shape = question.key_words
    return bool(sample.scene.find(color=color)) and bool(sample.scene.find(shape=shape))


def build_batch(
    groups: Sequence[Sequence[Sample]],
    pixels: Sequence[np.ndarray],
    token_ids: dict[str, int],
    world: WorldConfig,
) -> dict[str, torch.Tensor]:
    """Training tensors: one row per question, one image per group, built without the processor.

    Parameters
    ----------
    groups : sequence of sequences of Sample
        Questions about the same image, one group per image.
    pixels : sequence of numpy.ndarray
        One ``(H, W, 3)`` uint8 image per group.
    token_ids : dict
        The demo tokenizer's vocabulary.
    world : WorldConfig

    Returns
    -------
    dict
        ``input_ids`` and ``attention_mask`` ``(rows, seq)``, right-padded, equal to
        the processor's ids for ``prompt + " " + answer + " </s>"``; ``pixel_values``
        ``(images, 3, H, W)`` equal to the processor's ``2 * pixels / 255 - 1``;
        ``image_index`` ``(rows,)``: which image each row shows; ``answer_positions``
        (the ``":"`` of each row), ``answer_ids`` and ``eos_ids`` ``(rows,)``.

    Examples
    --------
    >>> from whytoken.experiments.training.demo_model import build_tokenizer
    >>> from whytoken.experiments.worlds.demo import make_sample
    >>> s = make_sample(0, "color")
    >>> batch = build_batch([pick_questions(s, 3, np.random.default_rng(0))], [s.pixels],
    ...                     build_tokenizer().get_vocab(), WorldConfig())
    >>> batch["input_ids"].shape[0], batch["image_index"].tolist()
    (3, [0, 0, 0])
    """
    if len(groups) != len(pixels) or not groups or any(len(g) == 0 for g in groups):
        raise InvalidParameterError(
            f"got {len(groups)} question groups and {len(pixels)} images; expected one non-empty group per image"
        )
    rows, image_index, answer_positions, answer_ids = [], [], [], []
    for g, group in enumerate(groups):
        for sample in group:
            ids = [token_ids["<s>"]]
            for word in sample.words:
                if word == IMAGE_PLACEHOLDER:
                    ids += [token_ids[IMAGE_PLACEHOLDER]] * world.num_patches
                else:
                    ids.append(token_ids[word])
            answer_positions.append(len(ids) - 1)
            answer_ids.append(token_ids[sample.answer])
            rows.append(ids + [token_ids[sample.answer], token_ids["</s>"]])
            image_index.append(g)
    width = max(len(r) for r in rows)
    input_ids = torch.full((len(rows), width), token_ids["<pad>"], dtype=torch.long)
    attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, ids in enumerate(rows):
        input_ids[i, : len(ids)] = torch.tensor(ids)
        attention_mask[i, : len(ids)] = 1
    return {
        "input_ids": input_ids,
        "attention_mask": attention_mask,
        "pixel_values": _pixel_values(pixels),
        "image_index": torch.tensor(image_index),
        "answer_positions": torch.tensor(answer_positions),
        "answer_ids": torch.tensor(answer_ids),
        "eos_ids": torch.full((len(rows),), token_ids["</s>"], dtype=torch.long),
    }


def _pixel_values(pixels: Sequence[np.ndarray]) -> torch.Tensor:
    """``(images, 3, H, W)`` float pixels from ``(H, W, 3)`` uint8 images, as the processor makes them."""
    stacked = torch.from_numpy(np.stack(pixels)).permute(0, 3, 1, 2).to(torch.float32)
    return (stacked * (1.0 / 255.0) - 0.5) / 0.5


def _image_features(llava: Any, pixel_values: torch.Tensor) -> torch.Tensor:
    """The projected image-token features ``(images, patches, hidden)`` the language model receives."""
    return torch.stack(list(llava.get_image_features(pixel_values=pixel_values).pooler_output))


def hidden_states(model: Any, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Last hidden states ``(rows, seq, hidden)`` of a :func:`build_batch` batch.

    The vision tower runs once per image and its features are copied into every
    row showing that image; the rest is what ``LlavaModel.forward`` does
    (embed, scatter the image features into the image tokens, run the language
    model), so the numbers equal ``model.model(input_ids, pixel_values=...)`` row by row.
    """
    llava = model.model
    features = _image_features(llava, batch["pixel_values"])[batch["image_index"]]  # (rows, patches, hidden)
    embeds = llava.get_input_embeddings()(batch["input_ids"])
    is_image = (batch["input_ids"] == model.config.image_token_id).unsqueeze(-1)
    embeds = embeds.masked_scatter(is_image, features.reshape(-1, features.shape[-1]).to(embeds.dtype))
    return llava.language_model(inputs_embeds=embeds, attention_mask=batch["attention_mask"]).last_hidden_state


def _augment(sample: Sample, rng: np.random.Generator, config: TrainConfig) -> np.ndarray:
    """The sample's pixels, with 1-3 random empty cells blanked with probability ``blank_prob``."""
    pixels = sample.pixels
    if rng.random() >= config.blank_prob:
        return pixels
    world = sample.config
    empty = [(r, c) for r in range(world.grid_size) for c in range(world.grid_size) if sample.scene.object_at(r, c) is None]
    k = min(len(empty), int(rng.integers(1, 4)))
    cs = world.cell_size
    for j in rng.choice(len(empty), size=k, replace=False):
        r, c = empty[j]
        pixels[r * cs : (r + 1) * cs, c * cs : (c + 1) * cs] = np.asarray(world.background, dtype=np.uint8)
    return pixels
