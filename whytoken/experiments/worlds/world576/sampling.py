"""Sampling the 576-patch world: scenes built for a question kind, seeded samples, splits.

:func:`make_scene_and_question` builds a scene around the primary question of
a kind (placing the objects it needs, near misses and distractors in free
slots, with continuous sizes and centres, never overlapping), and
:func:`make_sample` renders it and attaches the ground truth; both are pure
functions of ``(seed, kind, config)``. :func:`generate` draws a split's
samples, kinds round-robin, from the seed ranges of the demo world
(:data:`~whytoken.experiments.worlds.demo.SPLIT_SEED_RANGES`).

Examples
--------
>>> s = make_sample(7, "count")
>>> s.question.startswith("how many"), s.split
(True, 'train')
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from whytoken.errors import InvalidParameterError
from whytoken.experiments.worlds.demo.config import SPLIT_SEED_RANGES, split_of_seed
from whytoken.experiments.worlds.world576.config import (
    ABSENT_ANSWERS,
    COLORS,
    COUNT_WORDS,
    KINDS,
    PLURALS,
    RELATIONS,
    SHAPES,
    WorldConfig,
)
from whytoken.experiments.worlds.world576.questions import ROLES, Question, Sample, ask, relation_question
from whytoken.experiments.worlds.world576.scene import Mark, Scene, SceneObject, mark_mask, render_scene, shape_mask

__all__ = ["DEMO_SEED", "DEMO_KIND", "make_scene_and_question", "make_sample", "generate", "demo_sample"]

_NEAR_MISS_RATE = 0.75
_FILL_NEIGHBOURS_RATE = 0.7


class _Builder:
    """Places objects in free slots with continuous jitter, never overlapping, with one random generator."""

    def __init__(self, rng: np.random.Generator, config: WorldConfig) -> None:
        self.rng = rng
        self.config = config
        self.objects: dict[tuple[int, int], SceneObject] = {}
        self.reserved: set[tuple[int, int]] = set()
        side = config.image_size
        self.occupied = np.zeros((side, side), dtype=bool)  # object pixels dilated by min_gap

    def choice(self, options: Sequence[str]) -> str:
        return options[int(self.rng.integers(len(options)))]

    def free_slots(self) -> list[tuple[int, int]]:
        g = self.config.slot_grid
        return [(r, c) for r in range(g) for c in range(g) if (r, c) not in self.objects and (r, c) not in self.reserved]

    def _fits(self, box: tuple[int, int, int, int], mask: np.ndarray) -> bool:
        y0, y1, x0, x1 = box
        return not bool((self.occupied[y0:y1, x0:x1] & mask).any())

    def _occupy(self, box: tuple[int, int, int, int], mask: np.ndarray) -> None:
        gap, side = self.config.min_gap, self.config.image_size
        y0, y1, x0, x1 = box
        for dy in range(-gap, gap + 1):
            for dx in range(-gap, gap + 1):
                ys, xs = slice(max(0, y0 + dy), min(side, y1 + dy)), slice(max(0, x0 + dx), min(side, x1 + dx))
                sub = mask[ys.start - y0 - dy : ys.stop - y0 - dy, xs.start - x0 - dx : xs.stop - x0 - dx]
                self.occupied[ys, xs] |= sub

    def add(self, shape: str, color: str, slot: tuple[int, int] | None = None) -> SceneObject:
        cfg = self.config
        if slot is None:
            slots = self.free_slots()
            slot = slots[int(self.rng.integers(len(slots)))]
        size = float(self.rng.uniform(cfg.min_size, cfg.max_size))
        jitter = self.rng.integers(-cfg.color_jitter, cfg.color_jitter + 1, size=3)
        rgb = tuple(min(255, max(0, base + int(j))) for base, j in zip(COLORS[color], jitter))
        s, side = cfg.slot_size, cfg.image_size
        for attempt in range(40):
            half = 0.42 * size if shape == "square" else size / 2
            centre = []
            for k in slot:
                lo = max(k * s + half - cfg.protrusion, half + 1)
                hi = min((k + 1) * s - half + cfg.protrusion, side - half - 1)
                centre.append(float(self.rng.uniform(lo, max(lo, hi))))
            obj = SceneObject(shape, color, slot[0], slot[1], centre[0], centre[1], size, rgb)  # type: ignore[arg-type]
            box = obj.pixel_box(side=side)
            yy, xx = np.mgrid[box[0] : box[1], box[2] : box[3]] + 0.5
            mask = shape_mask(obj, yy, xx)
            if self._fits(box, mask):
                self._occupy(box, mask)
                self.objects[slot] = obj
                return obj
            if attempt % 4 == 3:
                size = max(cfg.min_size, 0.93 * size)
        raise InvalidParameterError(  # pragma: no cover - the slots leave room by construction
            f"could not place a {color} {shape} in slot {slot} without overlap; expected protrusion <= a quarter slot"
        )

    def add_distractors(self, n: int, allowed: Any) -> None:
        """Add up to ``n`` objects whose (shape, color) satisfies ``allowed``."""
        combos = [(s, c) for s in SHAPES for c in COLORS if allowed(s, c)]
        for _ in range(n):
            if not self.free_slots():
                return
            shape, color = combos[int(self.rng.integers(len(combos)))]
            self.add(shape, color)

    def n_total(self, required: int) -> int:
        return max(int(self.rng.integers(self.config.min_objects, self.config.max_objects + 1)), required)

    def marks(self) -> tuple[Mark, ...]:
        cfg, side = self.config, self.config.image_size
        out: list[Mark] = []
        for _ in range(int(self.rng.integers(0, cfg.max_marks + 1))):
            for _attempt in range(20):
                y0, x0 = (float(v) for v in self.rng.uniform(4, side - 4, size=2))
                length, angle = self.rng.uniform(10, 30), self.rng.uniform(0, np.pi)
                y1 = float(np.clip(y0 + length * np.sin(angle), 2, side - 2))
                x1 = float(np.clip(x0 + length * np.cos(angle), 2, side - 2))
                gray = int(self.rng.integers(30, 70)) if self.rng.random() < 0.5 else int(self.rng.integers(195, 235))
                mark = Mark(y0, x0, y1, x1, float(self.rng.uniform(1.5, 3.0)), gray)
                box = mark.pixel_box(side=side)
                yy, xx = np.mgrid[box[0] : box[1], box[2] : box[3]] + 0.5
                mask = mark_mask(mark, yy, xx)
                if self._fits(box, mask):
                    self._occupy(box, mask)
                    out.append(mark)
                    break
        return tuple(out)

    def scene(self) -> Scene:
        objs = tuple(sorted(self.objects.values(), key=lambda o: o.slot))
        return Scene(objs, self.marks(), background_seed=int(self.rng.integers(2**31)))


def make_scene_and_question(seed: int, kind: str, config: WorldConfig | None = None) -> tuple[Scene, Question]:
    """The scene and primary question of one sample, without rendering (see :func:`make_sample`).

    Examples
    --------
    >>> scene, question = make_scene_and_question(5, "same_color")
    >>> question.question.startswith("are the"), question.kind
    (True, 'same_color')
    """
    config = config or WorldConfig()
    if kind not in KINDS:
        raise InvalidParameterError(f"kind={kind!r} is unknown; expected one of {list(KINDS)}")
    rng = np.random.default_rng([seed, KINDS.index(kind), 576])
    b = _Builder(rng, config)
    absent = bool(rng.random() < config.absent_rate)
    colors = list(COLORS)
    placed: list[tuple[str, SceneObject]] = []
    empty_slot = None

    if kind == "color":
        shape = b.choice(SHAPES)
        question = f"what color is the {shape} ?"
        if absent:
            answer = ABSENT_ANSWERS[kind]
        else:
            target = b.add(shape, b.choice(colors))
            answer = target.color
            placed.append(("target", target))
        b.add_distractors(b.n_total(len(b.objects) + 1) - len(b.objects), lambda s, c: s != shape)
        key_words = (shape,)
    elif kind == "exists":
        shape, color = b.choice(SHAPES), b.choice(colors)
        question = f"is there a {color} {shape} ?"
        if rng.random() < 0.5:
            answer = "no"
        else:
            placed.append(("target", b.add(shape, color)))
            answer = "yes"
        if rng.random() < _NEAR_MISS_RATE:  # same colour, another shape
            b.add(b.choice([s for s in SHAPES if s != shape]), color)
        if rng.random() < _NEAR_MISS_RATE:  # same shape, another colour
            b.add(shape, b.choice([c for c in colors if c != color]))
        b.add_distractors(b.n_total(len(b.objects)) - len(b.objects), lambda s, c: not (s == shape and c == color))
        key_words = (color, shape)
    elif kind == "count":
        shape = b.choice(SHAPES)
        count = 0 if absent else int(rng.integers(1, config.max_count + 1))
        question = f"how many {PLURALS[shape]} ?"
        answer = COUNT_WORDS[count]
        for _ in range(count):
            placed.append(("counted", b.add(shape, b.choice(colors))))
        b.add_distractors(b.n_total(count + 1) - count, lambda s, c: s != shape)
        key_words = (PLURALS[shape],)
    elif kind == "relation":
        relation = b.choice(list(RELATIONS))
        shape, color = b.choice(SHAPES), b.choice(colors)
        dr, dc = RELATIONS[relation]
        g = config.slot_grid
        anchors = [(r, c) for r in range(g) for c in range(g) if 0 <= r + dr < g and 0 <= c + dc < g]
        anchor = b.add(shape, color, anchors[int(rng.integers(len(anchors)))])
        placed.append(("anchor", anchor))
        neighbour_slot = (anchor.slot_row + dr, anchor.slot_col + dc)
        other = lambda s, c: not (s == shape and c == color)  # noqa: E731 - keeps the anchor unique
        combos = [(s, c) for s in SHAPES for c in colors if other(s, c)]
        if absent:
            b.reserved.add(neighbour_slot)
            answer = ABSENT_ANSWERS[kind]
            empty_slot = neighbour_slot
        else:
            s_n, c_n = combos[int(rng.integers(len(combos)))]
            neighbour = b.add(s_n, c_n, neighbour_slot)
            placed.append(("neighbour", neighbour))
            answer = neighbour.shape
        if rng.random() < _FILL_NEIGHBOURS_RATE:  # fill other neighbours so that the relation word matters
            others = [(anchor.slot_row + r2, anchor.slot_col + c2) for r2, c2 in RELATIONS.values()
                      if (r2, c2) != (dr, dc) and 0 <= anchor.slot_row + r2 < g and 0 <= anchor.slot_col + c2 < g]
            rng.shuffle(others)
            for slot in others[: int(rng.integers(1, len(others) + 1))]:
                s_n, c_n = combos[int(rng.integers(len(combos)))]
                b.add(s_n, c_n, tuple(slot))  # type: ignore[arg-type]
        b.add_distractors(b.n_total(len(b.objects)) - len(b.objects), other)
        question = relation_question(relation, f"{color} {shape}")
        key_words = (relation, color, shape)
    else:  # same_color
        first, second = (SHAPES[int(i)] for i in rng.choice(len(SHAPES), size=2, replace=False))
        question = f"are the {first} and the {second} the same color ?"
        if absent:
            missing = first if rng.random() < 0.5 else second
            present = second if missing == first else first
            b.add(present, b.choice(colors))
            answer = ABSENT_ANSWERS[kind]
        else:
            c1 = b.choice(colors)
            same = bool(rng.random() < 0.5)
            c2 = c1 if same else b.choice([c for c in colors if c != c1])
            placed.append(("first", b.add(first, c1)))
            placed.append(("second", b.add(second, c2)))
            answer = "yes" if same else "no"
            if rng.random() < _NEAR_MISS_RATE:  # another object in the first object's colour
                b.add(b.choice([s for s in SHAPES if s not in (first, second)]), c1)
        b.add_distractors(b.n_total(len(b.objects)) - len(b.objects), lambda s, c: s not in (first, second))
        key_words = (first, second)

    scene = b.scene()
    causes = tuple(sorted(((role, scene.index_of(obj)) for role, obj in placed), key=lambda rc: (ROLES.index(rc[0]), rc[1])))
    return scene, Question(kind, question, answer, causes, key_words, empty_slot)


def make_sample(seed: int, kind: str, config: WorldConfig | None = None) -> Sample:
    """Build one sample from its absolute seed and kind.

    Examples
    --------
    >>> s = make_sample(7, "count")
    >>> s.question.startswith("how many"), s.split
    (True, 'train')
    >>> make_sample(7, "count").pixels.tobytes() == s.pixels.tobytes()
    True
    """
    config = config or WorldConfig()
    split_of_seed(seed)
    scene, question = make_scene_and_question(seed, kind, config)
    return ask(question, scene, render_scene(scene, config), seed, config)


def generate(
    split: str,
    n: int,
    seed: int = 0,
    kinds: Sequence[str] | None = None,
    config: WorldConfig | None = None,
) -> list[Sample]:
    """Generate ``n`` samples of one split, kinds round-robin (as the demo world's ``generate``).

    Examples
    --------
    >>> [s.kind for s in generate("val", 6)]
    ['color', 'exists', 'count', 'relation', 'same_color', 'color']
    """
    if split not in SPLIT_SEED_RANGES:
        raise InvalidParameterError(f"split={split!r} is unknown; expected one of {list(SPLIT_SEED_RANGES)}")
    seeds = SPLIT_SEED_RANGES[split]
    if n < 0 or seed < 0 or seed + n > len(seeds):
        raise InvalidParameterError(
            f"n={n}, seed={seed} leave the {split} seed range of {len(seeds)} seeds; expected 0 <= seed and "
            f"seed + n <= {len(seeds)}"
        )
    kinds = list(kinds) if kinds is not None else list(KINDS)
    bad = [k for k in kinds if k not in KINDS]
    if not kinds or bad:
        raise InvalidParameterError(f"kinds={kinds!r} is empty or has unknown kinds {bad}; expected a subset of {list(KINDS)}")
    return [make_sample(seeds.start + seed + i, kinds[(seed + i) % len(kinds)], config) for i in range(n)]


#: The sample ``whytoken demo --model whytoken-world576`` explains (test split).
DEMO_SEED, DEMO_KIND = 1_100_000_000, "color"


def demo_sample() -> Sample:
    """A good demo sample: a test-split question the packaged model answers, with its ground truth.

    Returns
    -------
    Sample
        ``image``, ``prompt`` and the ground truth (``regions``, ``cause_patches``,
        ``cause_words``) of one held-out question.

    Examples
    --------
    >>> s = demo_sample()
    >>> s.split, s.image.size, s.prompt.startswith("<image>")
    ('test', (336, 336), True)
    """
    return make_sample(DEMO_SEED, DEMO_KIND)
