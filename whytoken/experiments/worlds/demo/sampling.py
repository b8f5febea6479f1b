"""Drawing demo-world samples: one seeded scene and question per (seed, kind), and whole splits.

:func:`make_sample` builds the scene a question kind needs (the object asked
about, near misses, neighbours that make the relation word matter,
distractors) from one random generator seeded by (seed, kind);
:func:`generate` draws n samples of a split, kinds round-robin.

Examples
--------
>>> [s.kind for s in generate("test", 4)]
['color', 'exists', 'count', 'relation']
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from whytoken.errors import InvalidParameterError
from whytoken.experiments.worlds.demo.config import (
    ABSENT_ANSWERS,
    COLORS,
    COUNT_WORDS,
    KINDS,
    PLURALS,
    RELATIONS,
    SHAPES,
    SPLIT_SEED_RANGES,
    WorldConfig,
    split_of_seed,
)
from whytoken.experiments.worlds.demo.questions import Question, Sample, ask
from whytoken.experiments.worlds.demo.scenes import Scene, SceneObject, render_scene

__all__ = ["make_sample", "generate"]


class _Builder:
    """Places objects on free cells with one random generator."""

    def __init__(self, rng: np.random.Generator, config: WorldConfig) -> None:
        self.rng = rng
        self.config = config
        self.objects: dict[tuple[int, int], SceneObject] = {}
        self.reserved: set[tuple[int, int]] = set()

    def choice(self, options: Sequence[str]) -> str:
        return options[int(self.rng.integers(len(options)))]

    def free_cells(self) -> list[tuple[int, int]]:
        g = self.config.grid_size
        return [(r, c) for r in range(g) for c in range(g) if (r, c) not in self.objects and (r, c) not in self.reserved]

    def random_free_cell(self) -> tuple[int, int]:
        cells = self.free_cells()
        return cells[int(self.rng.integers(len(cells)))]

    def add(self, shape: str, color: str, cell: tuple[int, int] | None = None) -> SceneObject:
        cell = cell if cell is not None else self.random_free_cell()
        c = self.config.cell_size
        size = int(self.rng.integers(round(0.56 * c), round(0.75 * c) + 1))
        shift = max(1, c // 16)
        dy, dx = (int(v) for v in self.rng.integers(-shift, shift + 1, size=2))
        jitter = self.rng.integers(-self.config.color_jitter, self.config.color_jitter + 1, size=3)
        rgb = tuple(min(255, max(0, base + int(j))) for base, j in zip(COLORS[color], jitter))
        obj = SceneObject(shape, color, cell[0], cell[1], size, dy, dx, rgb)  # type: ignore[arg-type]
        self.objects[cell] = obj
        return obj

    def add_distractors(self, n: int, allowed: Any) -> None:
        """Add up to ``n`` objects whose (shape, color) satisfies ``allowed``."""
        combos = [(s, col) for s in SHAPES for col in COLORS if allowed(s, col)]
        for _ in range(n):
            if not self.free_cells():
                return
            shape, color = combos[int(self.rng.integers(len(combos)))]
            self.add(shape, color)

    def n_total(self, required: int) -> int:
        lo, hi = self.config.min_objects, self.config.max_objects
        return max(int(self.rng.integers(lo, hi + 1)), required)

    def scene(self) -> Scene:
        objs = tuple(sorted(self.objects.values(), key=lambda o: (o.row, o.col)))
        return Scene(objs, noise_seed=int(self.rng.integers(2**31)))


def make_sample(seed: int, kind: str, config: WorldConfig | None = None) -> Sample:
    """Build one sample from its absolute seed and kind.

    Parameters
    ----------
    seed : int
        Absolute seed inside one of :data:`SPLIT_SEED_RANGES`.
    kind : str
        One of :data:`KINDS`.
    config : WorldConfig, optional
        World parameters; the default world when omitted.

    Returns
    -------
    Sample

    Examples
    --------
    >>> s = make_sample(7, "count")
    >>> s.question.startswith("how many"), s.split
    (True, 'train')
    >>> make_sample(7, "count").pixels.tobytes() == s.pixels.tobytes()
    True
    """
    config = config or WorldConfig()
    split = split_of_seed(seed)
    if kind not in KINDS:
        raise InvalidParameterError(f"kind={kind!r} is unknown; expected one of {list(KINDS)}")
    rng = np.random.default_rng([seed, KINDS.index(kind)])
    b = _Builder(rng, config)
    absent = bool(rng.random() < config.absent_rate)
    colors = list(COLORS)
    cause_cells: list[tuple[int, int]] = []

    if kind == "color":
        shape = b.choice(SHAPES)
        question = f"what color is the {shape} ?"
        if absent:
            answer = ABSENT_ANSWERS[kind]
        else:
            target = b.add(shape, b.choice(colors))
            answer = target.color
            cause_cells.append(target.cell)
        b.add_distractors(b.n_total(len(b.objects) + 1) - len(b.objects), lambda s, c: s != shape)
        key_words = [shape]
    elif kind == "exists":
        shape, color = b.choice(SHAPES), b.choice(colors)
        absent = bool(rng.random() < 0.5)
        question = f"is there a {color} {shape} ?"
        if absent:
            answer = "no"
        else:
            target = b.add(shape, color)
            answer = "yes"
            cause_cells.append(target.cell)
        if rng.random() < 0.75:  # near miss: same colour, another shape
            b.add(b.choice([s for s in SHAPES if s != shape]), color)
        if rng.random() < 0.75:  # near miss: same shape, another colour
            b.add(shape, b.choice([c for c in colors if c != color]))
        b.add_distractors(
            b.n_total(len(b.objects)) - len(b.objects), lambda s, c: not (s == shape and c == color)
        )
        key_words = [color, shape]
    elif kind == "count":
        shape = b.choice(SHAPES)
        count = 0 if absent else int(rng.integers(1, config.max_count + 1))
        question = f"how many {PLURALS[shape]} ?"
        answer = COUNT_WORDS[count]
        for _ in range(count):
            cause_cells.append(b.add(shape, b.choice(colors)).cell)
        b.add_distractors(b.n_total(count + 1) - count, lambda s, c: s != shape)
        key_words = [PLURALS[shape]]
    else:  # relation
        relation = b.choice(list(RELATIONS))
        shape, color = b.choice(SHAPES), b.choice(colors)
        dr, dc = RELATIONS[relation]
        g = config.grid_size
        anchors = [(r, c) for r in range(g) for c in range(g) if 0 <= r + dr < g and 0 <= c + dc < g]
        anchor = b.add(shape, color, anchors[int(rng.integers(len(anchors)))])
        neighbour_cell = (anchor.row + dr, anchor.col + dc)
        other = lambda s, c: not (s == shape and c == color)  # noqa: E731 - keeps the anchor unique
        if absent:
            b.reserved.add(neighbour_cell)
            answer = ABSENT_ANSWERS[kind]
        else:
            combos = [(s, c) for s in SHAPES for c in colors if other(s, c)]
            s_n, c_n = combos[int(rng.integers(len(combos)))]
            answer = b.add(s_n, c_n, neighbour_cell).shape
        if rng.random() < 0.7:  # fill other neighbours so the relation word matters
            others = [
                (anchor.row + r2, anchor.col + c2)
                for r2, c2 in RELATIONS.values()
                if (r2, c2) != (dr, dc) and 0 <= anchor.row + r2 < g and 0 <= anchor.col + c2 < g
            ]
            rng.shuffle(others)
            n_fill = int(rng.integers(1, len(others) + 1))
            combos = [(s, c) for s in SHAPES for c in colors if other(s, c)]
            for cell in others[:n_fill]:
                s_n, c_n = combos[int(rng.integers(len(combos)))]
                b.add(s_n, c_n, tuple(cell))  # type: ignore[arg-type]
        b.add_distractors(b.n_total(len(b.objects)) - len(b.objects), other)
        cause_cells = [anchor.cell, neighbour_cell]
        if relation in ("left", "right"):
            question = f"what shape is {relation} of the {color} {shape} ?"
        else:
            question = f"what shape is {relation} the {color} {shape} ?"
        key_words = [relation, color, shape]

    scene = b.scene()
    primary = Question(kind, question, answer, tuple(cause_cells), tuple(key_words))
    return ask(primary, scene, render_scene(scene, config), seed, config)


def generate(
    split: str,
    n: int,
    seed: int = 0,
    kinds: Sequence[str] | None = None,
    config: WorldConfig | None = None,
) -> list[Sample]:
    """Generate ``n`` samples of one split, kinds round-robin.

    Parameters
    ----------
    split : {"train", "val", "test"}
        Which seed range to draw from.
    n : int
        Number of samples.
    seed : int, default 0
        Offset of the first sample inside the split's seed range; sample ``i``
        has absolute seed ``SPLIT_SEED_RANGES[split].start + seed + i``.
    kinds : sequence of str, optional
        Kinds to cycle through (default :data:`KINDS`): sample ``i`` gets
        ``kinds[(seed + i) % len(kinds)]``.
    config : WorldConfig, optional
        World parameters.

    Returns
    -------
    list of Sample

    Examples
    --------
    >>> [s.kind for s in generate("val", 5)]
    ['color', 'exists', 'count', 'relation', 'color']
    >>> [s.kind for s in generate("val", 2, kinds=["count"])]
    ['count', 'count']
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
