"""Train the demo LLaVA from scratch on the synthetic world.

Command line (the committed checkpoint was made with the defaults)::

    python -m whytoken.experiments.train --out whytoken/data/whytoken-demo --seed 0

Recipe
------
* **Data.** Each step draws ``images_per_step`` fresh training-split samples
  (world seeds ``seed * 10**8 + step * images_per_step + i``, kinds
  round-robin) and asks ``questions_per_image`` questions about each image:
  the sample's own question first, then questions from
  :func:`~whytoken.experiments.world.questions_about` (a kind drawn with
  ``kind_weights``, which favour the slow-to-learn ``exists`` and ``relation``;
  then an answer uniformly among those the scene offers; then a question with
  that answer, preferring hard negatives for ``exists``/``no``, see
  :func:`pick_questions`). Every question is its own row, ``<s> question <image>*36
  answer : a </s>``; the vision tower runs once per image and its features are
  shared by the rows of that image (:func:`hidden_states`, equal to the plain
  forward).
* **Augmentation** (answer-preserving): with probability ``blank_prob`` 1-3
  random *empty* cells are painted flat background grey, the edit the
  intervention check makes, so a blanked patch reads as "empty".
* **Vision pre-training** (``vision_steps``, a stand-in for the CLIP
  pre-training a real LLaVA's vision tower has had): vision tower, projector
  and probe (below) alone learn to describe cells, on a pool of
  ``vision_pool`` rendered training scenes, before the language model starts.
* **Loss.** Cross-entropy on the answer token and the ``</s>`` after it
  (prompt tokens are not supervised), plus three auxiliary terms that are
  discarded with their linear heads (the saved model is a plain
  ``LlavaForConditionalGeneration``):

  - ``aux_weight`` x the *cell probe*: on each image token at the projector's
    output, the shape, the colour and the colour-and-shape pair in its own
    cell and, with ``probe_neighbours``, the colour-and-shape pair in the cell
    left of, right of, above and below it (or "empty"). Without the
    neighbour part the language model did not learn ``relation`` within 2500
    steps in any variant tried: under the causal mask an image token cannot
    look at later cells, so "the shape left of the X" must be read off the X
    token, which then has to know its neighbours. The price: image tokens
    are not local (see :func:`~whytoken.experiments.evaluate.feature_leakage`).
  - ``cause_weight`` x the *cause probe*: on each image token at the input of
    the last language-model layer, whether the patch is one of the question's
    ground-truth cause patches (binary cross-entropy), and, with weight
    ``answer_weight``, whether the answer is read from it (the cause patches,
    except that for ``relation`` only the neighbour cell counts). It asks the
    lower layers to find the cells the question is about, the step on which
    ``exists`` and ``relation`` otherwise stall for thousands of steps.
  - ``attention_weight`` x ``-log`` of the attention mass head 0 of the last
    layer puts on the cause patches from the answer position (off by default:
    it did not help).
* **Optimiser.** AdamW (weight decay 0.01, betas 0.9/0.98); linear warm-up,
  constant ``lr``, then a linear decay to 5 % over the last ``decay_fraction`` of
  the steps (each question kind "clicks" after a plateau of its own; a long
  high-rate phase reached them sooner than a cosine schedule); gradient norm
  clipped at 1.
* **Output.** ``save_pretrained`` of model and processor plus
  ``whytoken_demo.json`` (world, architecture, recipe, command, wall time,
  history, versions, test accuracy per kind, intervention rates, feature
  leakage).

Threads: the default is one torch thread. On the shared 2-core machine two
threads were up to 10x *slower* per step whenever other jobs ran (OpenMP
threads spin waiting for each other); ``--threads 2`` helps only on an idle
machine.

Determinism: given the seed, the thread count and the torch build a run
repeats exactly (all randomness is seeded and the CPU kernels used are
deterministic for a fixed thread count). Other thread counts or CPUs can
change the last bits of float sums and hence the trained weights.

Examples
--------
>>> from whytoken.experiments.train import TrainConfig
>>> TrainConfig(steps=10).answers_seen
640
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import shlex
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
import transformers

from whytoken.errors import ConfigError, InvalidParameterError
from whytoken.experiments.demo_model import METADATA_FILE, DemoArchitecture, build_model, build_processor
from whytoken.experiments.evaluate import accuracy_by_kind, feature_leakage, intervention_check
from whytoken.experiments.world import (
    COLORS,
    IMAGE_PLACEHOLDER,
    KINDS,
    PROMPT_TEMPLATE,
    RELATIONS,
    SHAPES,
    SPLIT_SEED_RANGES,
    Sample,
    WorldConfig,
    ask,
    generate,
    make_sample,
    questions_about,
)

__all__ = [
    "TrainConfig",
    "TrainResult",
    "pick_questions",
    "build_batch",
    "hidden_states",
    "train",
    "save_checkpoint",
    "main",
]

logger = logging.getLogger(__name__)

_SEED_STRIDE = 10**8


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of a training run (the defaults made the committed checkpoint).

    Examples
    --------
    >>> TrainConfig().questions_per_image
    4
    """

    seed: int = 0
    steps: int = 3000
    images_per_step: int = 16
    questions_per_image: int = 4
    lr: float = 3e-3
    warmup: int = 100
    decay_fraction: float = 0.25
    weight_decay: float = 0.01
    threads: int = 1
    blank_prob: float = 0.25
    aux_weight: float = 1.0
    probe_neighbours: bool = True
    cause_weight: float = 1.0
    attention_weight: float = 0.0
    answer_weight: float = 1.0
    vision_steps: int = 800
    vision_batch: int = 64
    vision_pool: int = 2048
    kind_weights: tuple[float, ...] = (0.1, 0.15, 0.2, 0.55)
    eval_every: int = 500
    eval_n: int = 400
    test_n: int = 200
    intervention_n: int = 40
    architecture: DemoArchitecture = field(default_factory=DemoArchitecture)
    world: WorldConfig = field(default_factory=WorldConfig)

    def __post_init__(self) -> None:
        if self.seed < 0 or (self.seed + 1) * _SEED_STRIDE > len(SPLIT_SEED_RANGES["train"]):
            raise ConfigError(
                f"seed={self.seed}; expected 0 <= seed < {len(SPLIT_SEED_RANGES['train']) // _SEED_STRIDE}"
            )
        if self.steps * self.images_per_step > 9 * _SEED_STRIDE // 10:
            raise ConfigError(
                f"steps * images_per_step = {self.steps * self.images_per_step} exceeds the {_SEED_STRIDE} training "
                "seeds of one run; lower steps or images_per_step"
            )
        for name in ("steps", "images_per_step", "questions_per_image", "threads", "vision_batch", "vision_pool"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name}={getattr(self, name)}; expected a positive integer")
        if len(self.kind_weights) != len(KINDS) or min(self.kind_weights) < 0 or sum(self.kind_weights) <= 0:
            raise ConfigError(
                f"kind_weights={self.kind_weights}; expected {len(KINDS)} non-negative weights for {list(KINDS)}"
            )
        if not 0.0 <= self.blank_prob <= 1.0:
            raise ConfigError(f"blank_prob={self.blank_prob} is outside [0, 1]")
        if self.vision_steps < 0:
            raise ConfigError(f"vision_steps={self.vision_steps}; expected 0 (no pre-training) or more")
        if not 0.0 <= self.decay_fraction <= 1.0:
            raise ConfigError(f"decay_fraction={self.decay_fraction} is outside [0, 1]")
        if self.lr <= 0 or self.aux_weight < 0:
            raise ConfigError(f"lr={self.lr}, aux_weight={self.aux_weight}; expected lr > 0 and aux_weight >= 0")

    @property
    def answers_seen(self) -> int:
        """Supervised answers over the run (``steps * images_per_step * questions_per_image``)."""
        return self.steps * self.images_per_step * self.questions_per_image

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        out = asdict(self)
        out["architecture"] = self.architecture.to_dict()
        out["world"] = self.world.to_dict()
        return out


@dataclass(frozen=True)
class TrainResult:
    """What :func:`train` returns.

    Attributes
    ----------
    model : LlavaForConditionalGeneration
        The trained model (eval mode).
    processor : LlavaProcessor
    history : list of dict
        ``{"step", "loss", "aux_loss", "lr", "elapsed_s"}`` every 100 steps, with
        val accuracy per kind (``"val"``) every ``eval_every`` steps.
    train_seconds : float
        Wall time of the optimisation loop, data generation and val checks included.
    """

    model: Any
    processor: Any
    history: list[dict[str, Any]]
    train_seconds: float


def pick_questions(
    sample: Sample, k: int, rng: np.random.Generator, kind_weights: Sequence[float] | None = None
) -> list[Sample]:
    """The sample itself and ``k - 1`` more questions about its image.

    Each extra question draws a kind (with ``kind_weights`` over
    :data:`~whytoken.experiments.world.KINDS`, uniform by default) among the
    kinds the scene still offers, then an answer uniformly among that kind's
    answers, then a question with that answer; no question repeats. A ``no``
    to an ``exists`` question is a *hard negative* when the scene offers one:
    its colour and its shape both occur, on different objects, so that
    "colour present and shape present" is not enough to answer it.

    Examples
    --------
    >>> from whytoken.experiments.world import make_sample
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
    >>> from whytoken.experiments.demo_model import build_tokenizer
    >>> from whytoken.experiments.world import make_sample
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


_N_SHAPES, _N_COLORS, _N_COMBOS = 1 + len(SHAPES), 1 + len(COLORS), 1 + len(SHAPES) * len(COLORS)


def _probe_sizes(neighbours: bool) -> list[int]:
    """Probe heads: own shape, colour, colour-and-shape; then, optionally, the colour-and-shape in each
    RELATIONS direction."""
    return [_N_SHAPES, _N_COLORS, _N_COMBOS] + ([_N_COMBOS] * len(RELATIONS) if neighbours else [])


def _cell_targets(samples: Sequence[Sample], world: WorldConfig, neighbours: bool) -> torch.Tensor:
    """Probe targets per image token, ``(batch, patches, heads)`` (0 = empty or outside the grid)."""
    targets = torch.zeros((len(samples), world.num_patches, len(_probe_sizes(neighbours))), dtype=torch.long)
    color_ids = {c: i for i, c in enumerate(COLORS)}
    shape_ids = {s: i for i, s in enumerate(SHAPES)}
    k = world.patches_per_cell
    for b, sample in enumerate(samples):
        cells = {o.cell: o for o in sample.scene.objects}
        for r in range(world.patch_grid):
            for c in range(world.patch_grid):
                row, col = r // k, c // k
                obj = cells.get((row, col))
                values = [0, 0, 0]
                if obj is not None:
                    s_id, c_id = shape_ids[obj.shape], color_ids[obj.color]
                    values = [1 + s_id, 1 + c_id, 1 + s_id * len(COLORS) + c_id]
                for dr, dc in RELATIONS.values() if neighbours else ():
                    other = cells.get((row + dr, col + dc))
                    values.append(
                        0 if other is None else 1 + shape_ids[other.shape] * len(COLORS) + color_ids[other.color]
                    )
                targets[b, r * world.patch_grid + c] = torch.tensor(values)
    return targets


def _patch_targets(
    groups: Sequence[Sequence[Sample]], world: WorldConfig, cells: Callable[[Sample], Sequence[int]]
) -> torch.Tensor:
    """Per row and image token: 1 if the patch is one of ``cells(question)``, ``(rows, patches)``.

    ``cells`` is ``lambda q: q.cause_patch_indices`` for the cause probe and
    :func:`_answer_cells` for the answer probe.
    """
    rows = [q for group in groups for q in group]
    targets = torch.zeros((len(rows), world.num_patches), dtype=torch.float32)
    for i, q in enumerate(rows):
        targets[i, list(cells(q))] = 1.0
    return targets


def _answer_cells(sample: Sample) -> tuple[int, ...]:
    """Patch indices of the cells an answer is read from: the cause patches, except for ``relation``, where
    only the neighbour cell (empty for a ``none`` answer) is, not the anchor."""
    if sample.kind != "relation":
        return tuple(sample.cause_patch_indices)
    relation, color, shape = (sample.words[i] for i in sample.cause_words)
    (anchor,) = sample.scene.find(shape=shape, color=color)
    dr, dc = RELATIONS[relation]
    return ((anchor.row + dr) * sample.config.patch_grid + anchor.col + dc,)


def _attention_loss(
    attention: torch.Tensor, batch: dict[str, torch.Tensor], groups: Sequence[Sequence[Sample]], image_token_id: int
) -> torch.Tensor:
    """``-log`` of the attention mass that head 0 of the last layer puts on the cause patches, from the answer
    position, averaged over the rows whose answer has cause patches."""
    rows = [q for group in groups for q in group]
    is_image = batch["input_ids"] == image_token_id
    picked_rows, picked_cols = [], []
    for i, q in enumerate(rows):
        positions = torch.nonzero(is_image[i]).squeeze(-1)
        for p in q.cause_patch_indices:
            picked_rows.append(i)
            picked_cols.append(int(positions[p]))
    if not picked_rows:
        return attention.new_zeros(())
    weights = attention[:, 0][torch.arange(len(rows)), batch["answer_positions"]]  # (rows, seq)
    mask = torch.zeros_like(weights)
    mask[picked_rows, picked_cols] = 1.0
    mass = (weights * mask).sum(-1)
    has = mask.sum(-1) > 0
    return -torch.log(mass[has].clamp_min(1e-6)).mean()


def _aux_loss(logits: torch.Tensor, targets: torch.Tensor, neighbours: bool) -> torch.Tensor:
    """Sum of the probe's cross-entropies, one per head of :func:`_probe_sizes`."""
    loss = logits.new_zeros(())
    for i, head in enumerate(torch.split(logits, _probe_sizes(neighbours), dim=-1)):
        loss = loss + torch.nn.functional.cross_entropy(head.reshape(-1, head.shape[-1]), targets[..., i].reshape(-1))
    return loss


def _lr_at(step: int, config: TrainConfig) -> float:
    """Warm-up, then constant ``lr``, then a linear decay to 5 % over the last ``decay_fraction`` of the steps."""
    if step < config.warmup:
        return config.lr * (step + 1) / config.warmup
    decay_start = int(config.steps * (1.0 - config.decay_fraction))
    if step < decay_start:
        return config.lr
    progress = (step - decay_start) / max(1, config.steps - decay_start)
    return config.lr * (1.0 - 0.95 * min(1.0, progress))


def _pretrain_vision(
    model: Any, probe: torch.nn.Module, config: TrainConfig, rng: np.random.Generator, history: list[dict[str, Any]]
) -> None:
    """Phase 1: train vision tower, projector and probe on the probe loss alone (a stand-in for CLIP pre-training).

    Images come from a pool of ``vision_pool`` training scenes (world seeds
    ``seed * 10**8 + 9 * 10**7 + i``, apart from phase 2's) rendered once;
    each step takes ``vision_batch`` of them with the empty-cell augmentation.
    """
    if config.vision_steps == 0 or config.aux_weight == 0:
        return
    world = config.world
    base = config.seed * _SEED_STRIDE + 9 * _SEED_STRIDE // 10
    pool = [make_sample(base + i, KINDS[i % len(KINDS)], world) for i in range(config.vision_pool)]
    params = (
        list(model.model.vision_tower.parameters())
        + list(model.model.multi_modal_projector.parameters())
        + list(probe.parameters())
    )
    optimizer = torch.optim.AdamW(params, lr=config.lr, betas=(0.9, 0.98), weight_decay=0.0)
    start = time.perf_counter()
    running = 0.0
    for step in range(config.vision_steps):
        picked = [pool[int(i)] for i in rng.choice(len(pool), size=config.vision_batch, replace=False)]
        pixel_values = _pixel_values([_augment(s, rng, config) for s in picked])
        for group in optimizer.param_groups:
            group["lr"] = config.lr * min(1.0, (step + 1) / config.warmup)
        features = _image_features(model.model, pixel_values)
        loss = _aux_loss(probe(features), _cell_targets(picked, world, config.probe_neighbours),
                         config.probe_neighbours)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        running = loss.item() if step == 0 else 0.98 * running + 0.02 * loss.item()
        if (step + 1) % 100 == 0 or step == config.vision_steps - 1:
            entry = {"vision_step": step + 1, "aux_loss": round(running, 5),
                     "elapsed_s": round(time.perf_counter() - start, 1)}
            history.append(entry)
            logger.info("vision %s", json.dumps(entry))


def train(config: TrainConfig) -> TrainResult:
    """Train a demo model from scratch.

    Parameters
    ----------
    config : TrainConfig

    Returns
    -------
    TrainResult

    Examples
    --------
    >>> config = TrainConfig(steps=2, images_per_step=2, questions_per_image=2, eval_every=0,
    ...                      vision_steps=1, vision_batch=2, vision_pool=2)
    >>> [entry["step"] for entry in train(config).history if "step" in entry]
    [2]
    """
    torch.set_num_threads(config.threads)
    world = config.world
    processor = build_processor(world)
    token_ids = processor.tokenizer.get_vocab()
    model = build_model(processor.tokenizer, world, config.architecture, seed=config.seed)
    model.train()
    probe = torch.nn.Linear(config.architecture.text_hidden, sum(_probe_sizes(config.probe_neighbours)))
    cause_probe = torch.nn.Linear(config.architecture.text_hidden, 2)
    cause_layer = max(0, config.architecture.text_layers - 2)  # the input of the last layer
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "embed" not in n]
    no_decay = [p for n, p in model.named_parameters() if p.ndim < 2 or "embed" in n]
    optimizer = torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": config.weight_decay},
            {"params": no_decay + list(probe.parameters()) + list(cause_probe.parameters()), "weight_decay": 0.0},
        ],
        lr=config.lr,
        betas=(0.9, 0.98),
    )
    captured: dict[str, torch.Tensor] = {}
    hooks = [
        model.model.multi_modal_projector.register_forward_hook(
            lambda module, inputs, output: captured.__setitem__("features", output)
        ),
        model.model.language_model.layers[cause_layer].register_forward_hook(
            lambda module, inputs, output: captured.__setitem__(
                "cause_layer", output[0] if isinstance(output, tuple) else output
            )
        ),
        model.model.language_model.layers[-1].self_attn.register_forward_hook(
            lambda module, inputs, output: captured.__setitem__("attention", output[1])
        ),
    ]
    rng = np.random.default_rng(config.seed)
    val = generate("val", config.eval_n, config=world) if config.eval_every > 0 else []
    history: list[dict[str, Any]] = []
    seed_base = config.seed * _SEED_STRIDE
    cross_entropy = torch.nn.functional.cross_entropy
    start = time.perf_counter()
    running = running_aux = running_cause = 0.0
    try:
        _pretrain_vision(model, probe, config, rng, history)
        for step in range(config.steps):
            first = step * config.images_per_step
            samples = [
                make_sample(seed_base + first + i, KINDS[(first + i) % len(KINDS)], world)
                for i in range(config.images_per_step)
            ]
            groups = [pick_questions(s, config.questions_per_image, rng, config.kind_weights) for s in samples]
            batch = build_batch(groups, [_augment(s, rng, config) for s in samples], token_ids, world)
            for group in optimizer.param_groups:
                group["lr"] = _lr_at(step, config)
            hidden = hidden_states(model, batch)
            rows, at = torch.arange(hidden.shape[0]), batch["answer_positions"]
            loss = cross_entropy(model.lm_head(hidden[rows, at]), batch["answer_ids"]) + cross_entropy(
                model.lm_head(hidden[rows, at + 1]), batch["eos_ids"]
            )
            running = loss.item() if step == 0 else 0.98 * running + 0.02 * loss.item()
            if config.cause_weight > 0:
                is_image = batch["input_ids"] == model.config.image_token_id
                states = captured["cause_layer"][is_image].reshape(len(rows), world.num_patches, -1)
                cause_logits = cause_probe(states)
                bce = torch.nn.functional.binary_cross_entropy_with_logits
                cause_loss = bce(cause_logits[..., 0], _patch_targets(groups, world, lambda q: q.cause_patch_indices))
                if config.answer_weight > 0:
                    cause_loss = cause_loss + config.answer_weight * bce(
                        cause_logits[..., 1], _patch_targets(groups, world, _answer_cells)
                    )
                running_cause = cause_loss.item() if step == 0 else 0.98 * running_cause + 0.02 * cause_loss.item()
                loss = loss + config.cause_weight * cause_loss
            if config.attention_weight > 0:
                attention_loss = _attention_loss(captured["attention"], batch, groups, model.config.image_token_id)
                loss = loss + config.attention_weight * attention_loss
            if config.aux_weight > 0:
                targets = _cell_targets(samples, world, config.probe_neighbours)
                aux_loss = _aux_loss(probe(captured["features"]), targets, config.probe_neighbours)
                running_aux = aux_loss.item() if step == 0 else 0.98 * running_aux + 0.02 * aux_loss.item()
                loss = loss + config.aux_weight * aux_loss
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            if (step + 1) % 100 == 0 or step == config.steps - 1:
                entry: dict[str, Any] = {
                    "step": step + 1,
                    "loss": round(running, 5),
                    "aux_loss": round(running_aux, 5),
                    "cause_loss": round(running_cause, 5),
                    "lr": round(_lr_at(step, config), 7),
                    "elapsed_s": round(time.perf_counter() - start, 1),
                }
                if config.eval_every > 0 and ((step + 1) % config.eval_every == 0 or step == config.steps - 1):
                    acc = accuracy_by_kind(model, processor, val)
                    entry["val"] = {k: round(v["accuracy"], 4) for k, v in acc.items()}
                    model.train()
                history.append(entry)
                logger.info("step %s", json.dumps(entry))
    finally:
        for hook in hooks:
            hook.remove()
    seconds = time.perf_counter() - start
    model.eval()
    return TrainResult(model=model, processor=processor, history=history, train_seconds=seconds)


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
            f"python -m whytoken.experiments.evaluate --model {out} --split test -n {config.test_n} "
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


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; see the module docstring."""
    defaults = TrainConfig()
    arch = defaults.architecture
    parser = argparse.ArgumentParser(prog="python -m whytoken.experiments.train", description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="checkpoint directory to write")
    for name in ("seed", "steps", "images_per_step", "questions_per_image", "warmup", "threads", "eval_every",
                 "eval_n", "test_n", "intervention_n", "vision_steps", "vision_batch", "vision_pool"):
        parser.add_argument(f"--{name.replace('_', '-')}", type=int, default=getattr(defaults, name))
    for name in ("lr", "weight_decay", "blank_prob", "aux_weight", "cause_weight", "attention_weight",
                 "answer_weight", "decay_fraction"):
        parser.add_argument(f"--{name.replace('_', '-')}", type=float, default=getattr(defaults, name))
    parser.add_argument("--no-probe-neighbours", dest="probe_neighbours", action="store_false",
                        help="do not ask the probe for the neighbour cells' shapes (keeps image tokens local)")
    parser.add_argument("--kind-weights", type=float, nargs=len(KINDS), default=list(defaults.kind_weights),
                        metavar="W", help=f"weights of the extra questions' kinds {list(KINDS)}")
    for name, value in arch.to_dict().items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=int, default=value)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    architecture = DemoArchitecture(**{k: getattr(args, k) for k in arch.to_dict()})
    config = TrainConfig(
        **{k: getattr(args, k) for k in asdict(defaults) if k not in ("architecture", "world", "kind_weights")},
        kind_weights=tuple(args.kind_weights),
        architecture=architecture,
    )
    command = "python -m whytoken.experiments.train " + " ".join(
        shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:])
    )
    result = train(config)
    metadata = save_checkpoint(result, config, args.out, command)
    logger.info(
        "trained in %.1f s; test accuracy %s", result.train_seconds,
        {k: round(v["accuracy"], 4) for k, v in metadata["accuracy"]["per_kind"].items()},
    )
    logger.info(
        "interventions %s",
        {k: metadata["interventions"][k] for k in ("n_eligible", "cause_change_rate", "empty_change_rate",
                                                    "distractor_change_rate")},
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
