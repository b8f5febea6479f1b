"""Training data for the world576 model: images with many questions each, augmentations and probe targets.

Each training image is an :class:`ImageItem`: the (possibly edited) pixels,
``questions_per_image`` questions about it, the image tokens to drop from the
language model's attention, and the targets of the auxiliary probes. Items are
a pure function of ``(config.seed, step)`` (:func:`make_items`), so a resumed
run sees exactly the data it would have seen.

Augmentations (all keep the answers right)
------------------------------------------
* *paint* (``blank_prob``): 1-8 random patches that no object touches are
  painted with the scene's own background or with the image's mean colour
  (the edit of whytoken's ``pixel`` intervention);
* *drop* (``drop_prob``): 1-16 random patches that no object touches are
  dropped from attention (whytoken's default ``mask`` intervention);
* *remove* (``remove_prob``): every patch of one object that shares no patch
  with another object is dropped, and the questions are asked about the scene
  *without* that object. The model thus learns that a dropped token is absent
  content, which is what an explanation by token removal assumes.

Probe targets (``-100`` = not scored)
-------------------------------------
* vision probe, on every image token at the projector's output: colour, shape
  and 3 x 3 part (where in its object the patch lies) of the object covering
  most of the patch (at least 8 %), or "none"; and the patch's *silhouette*,
  the fraction of each of its 7 x 7 cells of 2 x 2 px that objects cover
  (:func:`vision_targets`): one patch does not show its object's shape, but it
  shows the outline, from which the tower's attention assembles shapes;
* object probe, on every image token at the output of language-model layer
  ``probe_layer``: the covering object's colour-and-shape (17 classes), its
  shape on the object's first patch in row-major order (a one-token-per-object
  marker that counting can use), and the colour-and-shape of the objects in
  the slots left of and above the object's slot (or "empty");
* slot probe, on the ``":"`` token of every question at the output of layer
  ``query_layer``: which of the 16 slots hold the answer's causes (the
  anchor and the empty slot for ``relation``/``none``);
* phrase probe, on every shape word of a question (``square``, ``squares``)
  at the output of layer ``phrase_layer``: which colours the objects the
  phrase names have, how many there are (0-3) and which slots they fill
  (:func:`phrase_targets`). "the blue triangle" names the blue triangles,
  "the triangle" and "triangles" every triangle. It asks the word itself to
  find its objects among the 576 image tokens, a one-step lookup that a
  single attention layer learns from a few thousand questions; without it the
  lookup has to be discovered through the answer at ``":"`` (two steps).

Examples
--------
>>> from whytoken.experiments.training.world576_train import World576TrainConfig
>>> items = make_items(0, World576TrainConfig(images_per_step=2, questions_per_image=3))
>>> len(items), len(items[0].questions), items[0].vision_targets.shape, items[0].slot_targets.shape
(2, 3, (576, 3), (3, 16))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch

from whytoken.experiments.worlds.world576 import (
    COLORS,
    KINDS,
    PLURALS,
    RELATIONS,
    SHAPES,
    Question,
    WorldConfig,
    make_scene_and_question,
    patch_coverage,
    questions_about,
    render_scene,
)

__all__ = ["N_COMBOS", "PROBE_SIZES", "PHRASE_MAX_COUNT", "phrase_width", "SILHOUETTE_CELLS", "ImageItem", "pick_questions",
           "vision_targets", "phrase_targets", "make_item", "make_items", "suffix_batch"]

#: Colour-and-shape classes (0 = none).
N_COMBOS = 1 + len(SHAPES) * len(COLORS)
#: Head sizes of the vision probe (colour, shape, part) and of the object probe (combo, first-patch shape,
#: left-slot combo, above-slot combo).
PROBE_SIZES = {"vision": (1 + len(COLORS), 1 + len(SHAPES), 10), "object": (N_COMBOS, 1 + len(SHAPES), N_COMBOS, N_COMBOS)}
#: Largest count the phrase probe tells apart (larger counts are scored as this one).
PHRASE_MAX_COUNT = 3
#: Shape of every plural word.
_SINGULAR = {plural: shape for shape, plural in PLURALS.items()}
#: Cells of a patch's silhouette target (7 x 7 cells of 2 x 2 px).
SILHOUETTE_CELLS = 49
#: An object "covers" a patch for the probes when it paints at least this fraction of it.
DOMINANT_COVERAGE = 0.08
_SEED_STRIDE = 10**8


@dataclass
class ImageItem:
    """One training image with its questions, dropped tokens and probe targets.

    Attributes
    ----------
    pixels : numpy.ndarray
        ``(H, W, 3)`` uint8 after the paint augmentation.
    questions : list of Question
    dropped : numpy.ndarray
        ``(576,)`` bool: image tokens removed from attention.
    vision_targets : numpy.ndarray
        ``(576, 3)`` int64.
    silhouettes : numpy.ndarray
        ``(576, 49)`` float32: the fraction of each 2 x 2 px cell of each patch that objects cover.
    object_targets : numpy.ndarray
        ``(576, 4)`` int64, -100 where not scored.
    slot_targets : numpy.ndarray
        ``(questions, slots)`` float32.
    phrase_positions : numpy.ndarray
        ``(phrases, 2)`` int64: (question, word index) of every shape word.
    phrase_labels : numpy.ndarray
        ``(phrases, phrase_width(world))`` float32: colours and slots of the named objects.
    phrase_counts : numpy.ndarray
        ``(phrases,)`` int64: how many objects the phrase names (capped at 3).
    """

    pixels: np.ndarray
    questions: list[Question]
    dropped: np.ndarray
    vision_targets: np.ndarray
    silhouettes: np.ndarray
    object_targets: np.ndarray
    slot_targets: np.ndarray
    phrase_positions: np.ndarray
    phrase_labels: np.ndarray
    phrase_counts: np.ndarray


def pick_questions(pool: Sequence[Question], primary: Question | None, k: int, rng: np.random.Generator,
                   weights: Sequence[float]) -> list[Question]:
    """``primary`` (when given) and more questions from ``pool``, ``k`` in all.

    Each extra question draws a kind with ``weights`` over :data:`KINDS`
    (among the kinds the pool still offers), then an answer uniformly among
    that kind's answers, then a question with that answer; none repeats. A
    scene with fewer questions than ``k`` repeats some.

    Examples
    --------
    >>> from whytoken.experiments.worlds.world576 import make_scene_and_question, questions_about
    >>> scene, q = make_scene_and_question(1, "count")
    >>> picked = pick_questions(questions_about(scene), q, 4, np.random.default_rng(0), [1] * 5)
    >>> picked[0] == q, len({p.question for p in picked})
    (True, 4)
    """
    rest = [q for q in pool if primary is None or q.question != primary.question]
    picked = [primary] if primary is not None else []
    w = np.asarray(weights, dtype=float)
    while len(picked) < k and rest:
        offered = np.asarray([w[i] if any(q.kind == kind for q in rest) else 0.0 for i, kind in enumerate(KINDS)])
        if offered.sum() <= 0:
            break
        kind = KINDS[int(rng.choice(len(KINDS), p=offered / offered.sum()))]
        candidates = [q for q in rest if q.kind == kind]
        answers = sorted({q.answer for q in candidates})
        answer = answers[int(rng.integers(len(answers)))]
        with_answer = [q for q in candidates if q.answer == answer]
        question = with_answer[int(rng.integers(len(with_answer)))]
        rest.remove(question)
        picked.append(question)
    while len(picked) < k:
        picked.append(picked[int(rng.integers(len(picked)))])
    return picked


def _dominant(coverage: Sequence[dict[tuple[int, int], float]], world: WorldConfig, keep: Sequence[int]) -> np.ndarray:
    """Per patch, the index of the object (among ``keep``) covering most of it, at least DOMINANT_COVERAGE; else -1."""
    best = np.full(world.num_patches, -1)
    best_cov = np.zeros(world.num_patches)
    for index in keep:
        for (r, c), f in coverage[index].items():
            i = r * world.patch_grid + c
            if f >= DOMINANT_COVERAGE and f > best_cov[i]:
                best[i], best_cov[i] = index, f
    return best


def _combo(obj: Any) -> int:
    return 1 + SHAPES.index(obj.shape) * len(COLORS) + list(COLORS).index(obj.color)


def vision_targets(scene: Any, labels: np.ndarray, coverage: Sequence[dict[tuple[int, int], float]],
                   world: WorldConfig) -> tuple[np.ndarray, np.ndarray]:
    """Per-patch targets of the vision probe: ``(576, 3)`` colour/shape/part classes and ``(576, 49)`` silhouettes.

    The silhouette of a patch is the fraction of each of its 7 x 7 cells of
    2 x 2 px that objects cover (marks and background count as empty): the
    local outline from which the vision tower assembles shapes.
    """
    g, p = world.patch_grid, world.patch_size
    vision = np.zeros((world.num_patches, 3), dtype=np.int64)
    dominant = _dominant(coverage, world, range(len(scene.objects)))
    for i in np.flatnonzero(dominant >= 0):
        obj = scene.objects[dominant[i]]
        r, c = divmod(int(i), g)
        third = 2 * obj.half_extent / 3
        sy = int(np.clip(np.floor(((r + 0.5) * p - obj.cy) / third + 1.5), 0, 2))
        sx = int(np.clip(np.floor(((c + 0.5) * p - obj.cx) / third + 1.5), 0, 2))
        vision[i] = (1 + list(COLORS).index(obj.color), 1 + SHAPES.index(obj.shape), 1 + 3 * sy + sx)
    cells = p // 2
    foreground = (labels >= 0).astype(np.float32).reshape(g, cells, 2, g, cells, 2).mean(axis=(2, 5))
    silhouettes = foreground.transpose(0, 2, 1, 3).reshape(world.num_patches, cells * cells)
    return vision, np.ascontiguousarray(silhouettes)


def phrase_width(world: WorldConfig) -> int:
    """Multi-label outputs of the phrase probe: the named objects' colours, then their slots (the count is separate).

    Examples
    --------
    >>> phrase_width(WorldConfig())
    20
    """
    return len(COLORS) + world.slot_grid**2


def phrase_targets(question: str, scene: Any, world: WorldConfig) -> list[tuple[int, np.ndarray, int]]:
    """``(word index, colours-and-slots labels, count)`` of every shape word of ``question`` about ``scene``.

    A shape word names the objects of its shape, of the colour just before it
    when there is one.

    Examples
    --------
    >>> from whytoken.experiments.worlds.world576 import make_scene_and_question
    >>> scene, _ = make_scene_and_question(4, "color")
    >>> scene.describe()[:50]
    'blue circle in slot (0, 2); green triangle in slot'
    >>> [(i, int(n)) for i, _, n in phrase_targets("how many circles ?", scene, WorldConfig())]
    [(2, 2)]
    >>> [(i, labels.nonzero()[0].tolist()) for i, labels, _ in phrase_targets("is there a blue circle ?", scene, WorldConfig())]
    [(4, [2, 6])]
    """
    words = question.split()
    out = []
    for i, word in enumerate(words):
        shape = word if word in SHAPES else _SINGULAR.get(word)
        if shape is None:
            continue
        color = words[i - 1] if i > 0 and words[i - 1] in COLORS else None
        named = scene.find(shape=shape, color=color)
        labels = np.zeros(phrase_width(world), dtype=np.float32)
        for obj in named:
            labels[list(COLORS).index(obj.color)] = 1.0
            labels[len(COLORS) + obj.slot_row * world.slot_grid + obj.slot_col] = 1.0
        out.append((i, labels, min(len(named), PHRASE_MAX_COUNT)))
    return out


def _phrases(questions: Sequence[Question], scene: Any, world: WorldConfig) -> tuple[np.ndarray, ...]:
    found = [(j, i, labels, count) for j, q in enumerate(questions)
             for i, labels, count in phrase_targets(q.question, scene, world)]
    positions = np.asarray([(j, i) for j, i, _, _ in found], dtype=np.int64).reshape(-1, 2)
    labels = np.asarray([lab for _, _, lab, _ in found], dtype=np.float32).reshape(-1, phrase_width(world))
    return positions, labels, np.asarray([c for _, _, _, c in found], dtype=np.int64)


def make_item(seed: int, kind: str, rng: np.random.Generator, config: Any) -> ImageItem:
    """One :class:`ImageItem` from the world sample ``(seed, kind)``; ``rng`` draws questions and augmentations."""
    world: WorldConfig = config.world
    scene, primary = make_scene_and_question(seed, kind, world)
    rendering = render_scene(scene, world)
    coverage = patch_coverage(rendering.labels, len(scene.objects), world)
    g, p = world.patch_grid, world.patch_size
    touched = np.zeros(world.num_patches, dtype=int)
    for cov in coverage:
        for r, c in cov:
            touched[r * g + c] += 1
    free = np.flatnonzero(touched == 0)
    dropped = np.zeros(world.num_patches, dtype=bool)
    keep = list(range(len(scene.objects)))
    asked_scene = scene
    if rng.random() < config.remove_prob and scene.objects:
        solo = [i for i, cov in enumerate(coverage) if all(touched[r * g + c] == 1 for r, c in cov)]
        if solo:
            gone = solo[int(rng.integers(len(solo)))]
            for r, c in coverage[gone]:
                dropped[r * g + c] = True
            keep.remove(gone)
            asked_scene = scene.without([gone])
            primary = None
    questions = pick_questions(questions_about(asked_scene, world), primary, config.questions_per_image, rng,
                               config.kind_weights)
    pixels = np.array(rendering.image, dtype=np.uint8)
    if rng.random() < config.blank_prob and len(free):
        painted = rng.choice(free, size=min(len(free), int(rng.integers(1, 9))), replace=False)
        flat = rng.random() < 0.5
        mean = pixels.reshape(-1, 3).mean(0).astype(np.uint8)
        for i in painted:
            r, c = divmod(int(i), g)
            block = (slice(r * p, (r + 1) * p), slice(c * p, (c + 1) * p))
            pixels[block] = mean if flat else rendering.background[block]
    if rng.random() < config.drop_prob and len(free):
        dropped[rng.choice(free, size=min(len(free), int(rng.integers(1, 17))), replace=False)] = True

    vision, silhouettes = vision_targets(scene, rendering.labels, coverage, world)

    objects = np.full((world.num_patches, 4), -100, dtype=np.int64)
    objects[:, :2] = 0
    dominant = _dominant(coverage, world, keep)
    seen: set[int] = set()
    for i in np.flatnonzero(dominant >= 0):
        obj = scene.objects[dominant[i]]
        objects[i, 0] = _combo(obj)
        if dominant[i] not in seen:
            objects[i, 1] = 1 + SHAPES.index(obj.shape)
            seen.add(int(dominant[i]))
        for col, (dr, dc) in ((2, RELATIONS["left"]), (3, RELATIONS["above"])):
            other = asked_scene.object_in(obj.slot_row + dr, obj.slot_col + dc)
            objects[i, col] = 0 if other is None else _combo(other)
    objects[dropped] = -100

    slots = np.zeros((len(questions), world.slot_grid**2), dtype=np.float32)
    for j, q in enumerate(questions):
        cells = [asked_scene.objects[index].slot for _, index in q.causes]
        for r, c in cells + ([q.empty_slot] if q.empty_slot is not None else []):
            slots[j, r * world.slot_grid + c] = 1.0
    return ImageItem(pixels, questions, dropped, vision, silhouettes, objects, slots,
                     *_phrases(questions, asked_scene, world))


def make_items(step: int, config: Any) -> list[ImageItem]:
    """The images of one training step: world seeds ``seed * 10**8 + step * images_per_step + i``, kinds round-robin."""
    rng = np.random.default_rng([config.seed, step, 576])
    first = step * config.images_per_step
    base = config.seed * _SEED_STRIDE
    return [make_item(base + first + i, KINDS[(first + i) % len(KINDS)], rng, config)
            for i in range(config.images_per_step)]


def suffix_batch(items: Sequence[ImageItem], vocab: dict[str, int]) -> dict[str, torch.Tensor]:
    """The question rows after the image prefix: ``question answer : a </s>``, right-padded.

    Returns
    -------
    dict
        ``ids`` and ``mask`` ``(rows, length)``, ``at`` (the ``":"`` of each row),
        ``answer`` and ``eos`` ids ``(rows,)``; rows are image-major.
    """
    rows, answers = [], []
    for item in items:
        for q in item.questions:
            ids = [vocab[w] for w in q.question.split()] + [vocab["answer"], vocab[":"]]
            answers.append((len(ids) - 1, vocab[q.answer]))
            rows.append(ids + [vocab[q.answer], vocab["</s>"]])
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), vocab["<pad>"], dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r)
        mask[i, : len(r)] = 1
    return {"ids": ids, "mask": mask, "at": torch.tensor([a for a, _ in answers]),
            "answer": torch.tensor([b for _, b in answers]), "eos": torch.full((len(rows),), vocab["</s>"])}
