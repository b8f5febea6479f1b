"""Questions about demo-world scenes and the samples they make, with the ground-truth cause of every answer.

A :class:`Question` carries its answer, the cells whose content determines
the answer and the question words that do; :func:`ask` attaches it to a
rendered scene as a :class:`Sample`, mapping the cause cells to patches of
the model's grid and the key words to indices into the prompt's words.
:func:`questions_about` lists every unambiguous question about a scene, and
:func:`vocabulary` every word a prompt or an answer can contain.

Examples
--------
>>> from whytoken.experiments.worlds.demo import make_sample
>>> sample = make_sample(11, "color")
>>> sample.prompt.endswith("<image> answer :"), sample.cause_word_strings[0] in vocabulary()
(True, True)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

import numpy as np
from PIL import Image

from whytoken.errors import InvalidParameterError
from whytoken.experiments.worlds.demo.config import (
    ABSENT_ANSWERS,
    COLORS,
    COUNT_WORDS,
    PLURALS,
    PROMPT_TEMPLATE,
    RELATIONS,
    SHAPES,
    WorldConfig,
    split_of_seed,
)
from whytoken.experiments.worlds.demo.scenes import Scene

__all__ = ["Question", "Sample", "ask", "questions_about", "answer_vocabulary", "vocabulary"]


@dataclass(frozen=True)
class Question:
    """A question about a scene, its answer and the cells and words that cause the answer.

    Attributes
    ----------
    kind : str
        One of :data:`KINDS`.
    question : str
        Lower-case, space-separated, ending in ``" ?"``.
    answer : str
        One word.
    cause_cells : tuple of (int, int)
        World cells whose content determines the answer.
    key_words : tuple of str
        Question words that determine the answer.
    """

    kind: str
    question: str
    answer: str
    cause_cells: tuple[tuple[int, int], ...]
    key_words: tuple[str, ...]

    @property
    def absent(self) -> bool:
        """True when the answer reports a missing object (``no``, ``none``, ``zero``)."""
        return self.answer in ("no", "none", "zero")


@dataclass(frozen=True)
class Sample:
    """One image, question and answer with the answer's ground-truth cause.

    Attributes
    ----------
    seed : int
        The sample's absolute seed; it fixes the split (:func:`split_of_seed`).
    split : str
        ``"train"``, ``"val"`` or ``"test"``.
    kind : str
        One of :data:`KINDS`.
    question : str
        Lower-case, space-separated question ending in ``" ?"``.
    answer : str
        One word.
    image : PIL.Image.Image
        RGB, ``config.image_size`` square.
    scene : Scene
        The objects drawn.
    cause_patches : tuple of (int, int)
        (row, col) of the patches, in the model's patch grid, that determine the answer.
    cause_patch_indices : tuple of int
        The same patches as flat row-major indices (``row * patch_grid + col``), i.e.
        the order of the image tokens.
    cause_words : tuple of int
        Indices into :attr:`words` of the prompt words that determine the answer.
    absent : bool
        True for answers that report a missing object (``no``, ``none``, ``zero``);
        blanking their cause patches is not expected to change them.
    config : WorldConfig
        The world parameters used.
    """

    seed: int
    split: str
    kind: str
    question: str
    answer: str
    image: Image.Image = field(repr=False)
    scene: Scene = field(repr=False)
    cause_patches: tuple[tuple[int, int], ...]
    cause_patch_indices: tuple[int, ...]
    cause_words: tuple[int, ...]
    absent: bool
    config: WorldConfig = field(repr=False, default_factory=WorldConfig)

    @property
    def prompt(self) -> str:
        """The model prompt, ``"{question} <image> answer :"`` (:data:`PROMPT_TEMPLATE`)."""
        return PROMPT_TEMPLATE.format(question=self.question)

    @property
    def words(self) -> list[str]:
        """``prompt.split()``; :attr:`cause_words` index this list."""
        return self.prompt.split()

    @property
    def pixels(self) -> np.ndarray:
        """The image as a writable ``(H, W, 3)`` uint8 array (a copy)."""
        return np.array(self.image, dtype=np.uint8)

    @property
    def cause_word_strings(self) -> tuple[str, ...]:
        """The cause words themselves, e.g. ``("red", "square")``."""
        words = self.words
        return tuple(words[i] for i in self.cause_words)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (no image): ids, text, answer, causes and scene."""
        return {
            "seed": self.seed,
            "split": self.split,
            "kind": self.kind,
            "prompt": self.prompt,
            "question": self.question,
            "answer": self.answer,
            "absent": self.absent,
            "cause_patches": [list(p) for p in self.cause_patches],
            "cause_patch_indices": list(self.cause_patch_indices),
            "cause_words": list(self.cause_words),
            "scene": self.scene.describe(),
        }


def _patches_of(objects: Iterable[tuple[int, int]], config: WorldConfig) -> tuple[tuple[int, int], ...]:
    patches: list[tuple[int, int]] = []
    for row, col in objects:
        patches.extend(config.cell_patches(row, col))
    return tuple(sorted(set(patches)))


def ask(question: Question, scene: Scene, image: Image.Image, seed: int, config: WorldConfig | None = None) -> Sample:
    """Attach a question to a rendered scene, mapping its cause to patches and prompt words.

    Parameters
    ----------
    question : Question
        E.g. one of :func:`questions_about`.
    scene : Scene
        The scene the question is about.
    image : PIL.Image.Image
        ``render_scene(scene, config)``.
    seed : int
        The scene's seed (fixes the split).
    config : WorldConfig, optional

    Returns
    -------
    Sample

    Examples
    --------
    >>> from whytoken.experiments.worlds.demo import make_sample
    >>> s = make_sample(11, "color")
    >>> other = questions_about(s.scene)[0]
    >>> ask(other, s.scene, s.image, s.seed).image is s.image
    True
    """
    config = config or WorldConfig()
    patches = _patches_of(question.cause_cells, config)
    words = PROMPT_TEMPLATE.format(question=question.question).split()
    missing = [w for w in question.key_words if w not in words]
    if missing:
        raise InvalidParameterError(f"key words {missing} do not occur in the question {question.question!r}")
    return Sample(
        seed=seed,
        split=split_of_seed(seed),
        kind=question.kind,
        question=question.question,
        answer=question.answer,
        image=image,
        scene=scene,
        cause_patches=patches,
        cause_patch_indices=tuple(r * config.patch_grid + c for r, c in patches),
        cause_words=tuple(sorted(words.index(w) for w in question.key_words)),
        absent=question.absent,
        config=config,
    )


def questions_about(scene: Scene, config: WorldConfig | None = None) -> list[Question]:
    """Every unambiguous question the world can ask about a scene, with answers and causes.

    The same rules as :func:`make_sample`: ``color`` for shapes present at
    most once, ``exists`` for colour-and-shape pairs present at most once,
    ``count`` for shapes present at most ``max_count`` times, and ``relation``
    for every object whose colour-and-shape is unique and every direction whose
    neighbour cell is inside the grid. The order is fixed (kind, then names).

    Examples
    --------
    >>> from whytoken.experiments.worlds.demo import make_sample
    >>> s = make_sample(3, "relation")
    >>> primary = next(q for q in questions_about(s.scene) if q.question == s.question)
    >>> primary.answer == s.answer
    True
    """
    config = config or WorldConfig()
    out: list[Question] = []
    for shape in SHAPES:
        hits = scene.find(shape=shape)
        if len(hits) <= 1:
            answer = hits[0].color if hits else ABSENT_ANSWERS["color"]
            out.append(Question("color", f"what color is the {shape} ?", answer, tuple(h.cell for h in hits), (shape,)))
    for color in COLORS:
        for shape in SHAPES:
            hits = scene.find(shape=shape, color=color)
            if len(hits) <= 1:
                out.append(Question("exists", f"is there a {color} {shape} ?", "yes" if hits else "no",
                                    tuple(h.cell for h in hits), (color, shape)))
    for shape in SHAPES:
        hits = scene.find(shape=shape)
        if len(hits) <= config.max_count:
            out.append(Question("count", f"how many {PLURALS[shape]} ?", COUNT_WORDS[len(hits)],
                                tuple(h.cell for h in hits), (PLURALS[shape],)))
    g = config.grid_size
    for anchor in sorted(scene.objects, key=lambda o: (o.row, o.col)):
        if len(scene.find(shape=anchor.shape, color=anchor.color)) != 1:
            continue
        for relation, (dr, dc) in RELATIONS.items():
            cell = (anchor.row + dr, anchor.col + dc)
            if not (0 <= cell[0] < g and 0 <= cell[1] < g):
                continue
            neighbour = scene.object_at(*cell)
            of = " of" if relation in ("left", "right") else ""
            out.append(Question("relation", f"what shape is {relation}{of} the {anchor.name} ?",
                                neighbour.shape if neighbour else ABSENT_ANSWERS["relation"],
                                (anchor.cell, cell), (relation, anchor.color, anchor.shape)))
    return out


def answer_vocabulary(config: WorldConfig | None = None) -> list[str]:
    """Every answer word of the world, in a fixed order.

    Examples
    --------
    >>> answer_vocabulary()[:5]
    ['red', 'green', 'blue', 'yellow', 'none']
    """
    config = config or WorldConfig()
    return list(COLORS) + ["none", "yes", "no"] + list(COUNT_WORDS[: config.max_count + 1]) + list(SHAPES)


def vocabulary(config: WorldConfig | None = None) -> list[str]:
    """Every word that can occur in a prompt or an answer, without duplicates, in a fixed order.

    Examples
    --------
    >>> words = vocabulary()
    >>> "circle" in words and "triangles" in words and len(words) == len(set(words))
    True
    """
    words = ["what", "color", "is", "the", "?", "there", "a", "how", "many", "shape", "of", "answer", ":"]
    words += list(RELATIONS) + list(PLURALS.values()) + answer_vocabulary(config)
    seen: dict[str, None] = {}
    for w in words:
        seen.setdefault(w, None)
    return list(seen)
