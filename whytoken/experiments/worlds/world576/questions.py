"""Questions about 576-patch scenes, their answers, and the ground-truth causes of every answer.

============== ============================================ ======================== ===============================
kind           question                                     answers                  ground-truth cause
============== ============================================ ======================== ===============================
``color``      what color is the circle ?                   red/green/blue/yellow;   the circle (role ``target``);
                                                            ``none`` (10 %)          the word ``circle``
``exists``     is there a red square ?                      yes / no (50 / 50)       yes: the red square; no:
                                                                                     nothing. Words ``red square``
``count``      how many triangles ?                         zero (10 %), one, two,   every triangle (``counted``);
                                                            three (30 % each)        the word ``triangles``
``relation``   what shape is left of the red circle ?       circle/square/triangle/  the anchor and the object in
               (left / right / above / below: the           cross; ``none`` (10 %)   the neighbouring slot (none:
               neighbouring *slot*)                                                  the empty slot); the relation
                                                                                     word, colour and shape
``same_color`` are the circle and the square the same       yes / no (45 / 45 %);    both objects (``first``,
               color ?                                      ``none`` (10 %) when     ``second``); the two shape
                                                            one is missing           words
============== ============================================ ======================== ===============================

``same_color`` needs two objects' evidence at once: neither object alone
fixes the answer. Constraints make every question unambiguous, as in the
demo world: one object of the asked shape for ``color`` (and one of each for
``same_color``), at most one of the asked colour-and-shape for ``exists``
(with near misses in 75 % of scenes), exactly the answered number for
``count``, a unique anchor whose neighbouring slot lies inside the layout for
``relation`` (and in 70 % of scenes 1-3 other neighbours filled, so that the
relation word matters).

Ground truth
------------
Each :class:`Sample` lists its causes as :class:`CauseRegion` records: the
object (or, for ``relation``/``none``, the empty slot), its role, every patch
it touches and the exact fraction of each patch it covers (pixel counts of the
rendering, :func:`~.scene.patch_coverage`). ``cause_patches`` is their union,
``cause_words`` the indices of the question words that matter in
``prompt.split()``. Absent answers (``no``, ``none``, ``zero``) have no cause
object: nothing in the image can be removed to change them (``Sample.absent``);
for ``relation``/``none`` the world names the anchor and the empty slot.

Prompt format
-------------
``"<image> {question} answer :"`` (:data:`~.config.PROMPT_TEMPLATE`): the
image comes first, as in LLaVA-1.5. With the model's word-level tokenizer
token 0 is ``<s>``, tokens 1-576 are the image patches in row-major order,
and question word ``i`` of ``prompt.split()`` (``i >= 1``) is token ``576 + i``.

Splits and seeds
----------------
As in the demo world: a sample is a pure function of ``(seed, kind, config)``;
train, val and test own the disjoint seed ranges of
:data:`~whytoken.experiments.worlds.demo.SPLIT_SEED_RANGES`, and
``generate(split, n, seed=s)`` (:mod:`~whytoken.experiments.worlds.world576.sampling`) takes seeds
``start + s ... start + s + n - 1`` with kinds round-robin.

Examples
--------
>>> from whytoken.experiments.worlds.world576 import generate
>>> sample = generate("test", 1)[0]
>>> sample.kind, sample.image.size, sample.words[0]
('color', (336, 336), '<image>')
>>> sample.words[sample.cause_words[0]] in SHAPES
True
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from whytoken.errors import InvalidParameterError
from whytoken.experiments.worlds.demo.config import split_of_seed
from whytoken.experiments.worlds.world576.config import (
    ABSENT_ANSWERS,
    COLORS,
    COUNT_WORDS,
    PLURALS,
    PROMPT_TEMPLATE,
    RELATIONS,
    SHAPES,
    WorldConfig,
)
from whytoken.experiments.worlds.world576.scene import Rendering, Scene, patch_coverage, render_scene

__all__ = ["ROLES", "CauseRegion", "Question", "Sample", "ask", "questions_about", "relation_question"]

#: Cause roles, in the order a question lists them.
ROLES = ("target", "counted", "anchor", "neighbour", "first", "second")


@dataclass(frozen=True)
class CauseRegion:
    """One cause of an answer: an object (or an empty slot) and the patches it covers.

    Attributes
    ----------
    role : str
        ``target`` (color, exists), ``counted`` (count), ``anchor`` and
        ``neighbour`` (relation), ``first`` and ``second`` (same_color), or
        ``empty_slot`` (relation/none: the slot where the answer's object would be).
    object_index : int or None
        Index into ``scene.objects`` (its label in the rendering); None for an empty slot.
    slot : (int, int)
    patches : tuple of (int, int)
        Every patch with at least one pixel of the region, row-major.
    coverage : tuple of float
        For each patch the exact fraction of its pixels in the region (an empty
        slot's region is its background pixels).
    """

    role: str
    object_index: int | None
    slot: tuple[int, int]
    patches: tuple[tuple[int, int], ...]
    coverage: tuple[float, ...]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"role": self.role, "object_index": self.object_index, "slot": list(self.slot),
                "patches": [list(p) for p in self.patches], "coverage": [round(c, 6) for c in self.coverage]}


@dataclass(frozen=True)
class Question:
    """A question about a scene, its answer, and the causes in world terms.

    Attributes
    ----------
    kind, question, answer : str
    causes : tuple of (str, int)
        ``(role, object index)`` of every cause object.
    empty_slot : (int, int) or None
        For ``relation``/``none``: the empty slot the answer refers to.
    key_words : tuple of str
        The question words that determine the answer.
    """

    kind: str
    question: str
    answer: str
    causes: tuple[tuple[str, int], ...]
    key_words: tuple[str, ...]
    empty_slot: tuple[int, int] | None = None

    @property
    def absent(self) -> bool:
        """True when the answer reports a missing object (:data:`ABSENT_ANSWERS` of its kind).

        ``same_color``/``no`` is not absent: both objects are there, in different colours.
        """
        return self.answer == ABSENT_ANSWERS[self.kind]


@dataclass(frozen=True)
class Sample:
    """One image, question and answer with the answer's ground-truth causes.

    Attributes
    ----------
    seed, split, kind, question, answer
        As in the demo world's ``Sample``.
    image : PIL.Image.Image
        RGB, 336 x 336.
    scene : Scene
    regions : tuple of CauseRegion
        The causes with their patches and exact coverage.
    cause_words : tuple of int
        Indices into :attr:`words` of the question words that matter.
    absent : bool
        True for answers that report a missing object.
    config : WorldConfig
    """

    seed: int
    split: str
    kind: str
    question: str
    answer: str
    image: Image.Image = field(repr=False)
    scene: Scene = field(repr=False)
    regions: tuple[CauseRegion, ...]
    cause_words: tuple[int, ...]
    absent: bool
    config: WorldConfig = field(repr=False, default_factory=WorldConfig)

    @property
    def prompt(self) -> str:
        """``"<image> {question} answer :"``."""
        return PROMPT_TEMPLATE.format(question=self.question)

    @property
    def words(self) -> list[str]:
        """``prompt.split()``; :attr:`cause_words` index this list."""
        return self.prompt.split()

    @property
    def cause_word_strings(self) -> tuple[str, ...]:
        """The cause words themselves, e.g. ``("red", "square")``."""
        return tuple(self.words[i] for i in self.cause_words)

    @property
    def pixels(self) -> np.ndarray:
        """The image as a writable ``(H, W, 3)`` uint8 array (a copy)."""
        return np.array(self.image, dtype=np.uint8)

    @property
    def cause_objects(self) -> tuple[int, ...]:
        """Indices of the cause objects in ``scene.objects``."""
        return tuple(r.object_index for r in self.regions if r.object_index is not None)

    @property
    def cause_coverage(self) -> dict[tuple[int, int], float]:
        """``{patch: fraction}`` of every cause patch covered by the cause regions together (exact)."""
        total: dict[tuple[int, int], float] = {}
        for region in self.regions:
            for patch, fraction in zip(region.patches, region.coverage):
                total[patch] = min(1.0, total.get(patch, 0.0) + fraction)
        return dict(sorted(total.items()))

    @property
    def cause_patches(self) -> tuple[tuple[int, int], ...]:
        """The union of the regions' patches, row-major."""
        return tuple(self.cause_coverage)

    @property
    def cause_patch_indices(self) -> tuple[int, ...]:
        """:attr:`cause_patches` as flat row-major indices, i.e. image-token ranks."""
        return tuple(self.config.patch_index(r, c) for r, c in self.cause_patches)

    def render(self) -> Rendering:
        """Re-render the scene (labels and background included); equal to :attr:`image`."""
        return render_scene(self.scene, self.config)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (no image): ids, text, answer, causes and scene."""
        return {
            "seed": self.seed, "split": self.split, "kind": self.kind, "prompt": self.prompt,
            "question": self.question, "answer": self.answer, "absent": self.absent,
            "regions": [r.to_dict() for r in self.regions],
            "cause_patches": [list(p) for p in self.cause_patches],
            "cause_patch_indices": list(self.cause_patch_indices),
            "cause_words": list(self.cause_words),
            "scene": self.scene.describe(),
        }


def ask(
    question: Question,
    scene: Scene,
    rendering: Rendering,
    seed: int,
    config: WorldConfig | None = None,
    coverage: list[dict[tuple[int, int], float]] | None = None,
) -> Sample:
    """Attach a question to a rendered scene, mapping its causes to patches with exact coverage.

    Parameters
    ----------
    question : Question
    scene : Scene
    rendering : Rendering
        ``render_scene(scene, config)``.
    seed : int
        The scene's seed (fixes the split).
    config : WorldConfig, optional
    coverage : list of dict, optional
        ``patch_coverage(rendering.labels, len(scene.objects), config)``, when already computed.

    Examples
    --------
    >>> from whytoken.experiments.worlds.world576 import make_sample
    >>> s = make_sample(11, "color")
    >>> other = questions_about(s.scene)[0]
    >>> ask(other, s.scene, s.render(), s.seed).question == other.question
    True
    """
    config = config or WorldConfig()
    if coverage is None:
        coverage = patch_coverage(rendering.labels, len(scene.objects), config)
    words = PROMPT_TEMPLATE.format(question=question.question).split()
    missing = [w for w in question.key_words if w not in words]
    if missing:
        raise InvalidParameterError(f"key words {missing} do not occur in the question {question.question!r}")
    regions = []
    for role, index in question.causes:
        cov = coverage[index]
        regions.append(CauseRegion(role, index, scene.objects[index].slot, tuple(cov), tuple(cov.values())))
    if question.empty_slot is not None:
        regions.append(_empty_slot_region(question.empty_slot, rendering.labels, config))
    return Sample(
        seed=seed, split=split_of_seed(seed), kind=question.kind, question=question.question,
        answer=question.answer, image=rendering.image, scene=scene, regions=tuple(regions),
        cause_words=tuple(sorted(words.index(w) for w in question.key_words)), absent=question.absent,
        config=config,
    )


def _empty_slot_region(slot: tuple[int, int], labels: np.ndarray, config: WorldConfig) -> CauseRegion:
    """The background pixels of an empty slot, per patch (objects of neighbours may reach into it)."""
    p = config.patch_size
    patches, coverage = [], []
    for r, c in config.slot_patches(*slot):
        free = int((labels[r * p : (r + 1) * p, c * p : (c + 1) * p] < 0).sum())
        if free:
            patches.append((r, c))
            coverage.append(free / (p * p))
    return CauseRegion("empty_slot", None, slot, tuple(patches), tuple(coverage))


def relation_question(relation: str, name: str) -> str:
    """The relation question about the object called ``name`` (``"red circle"``).

    Examples
    --------
    >>> relation_question("left", "red circle"), relation_question("above", "blue cross")
    ('what shape is left of the red circle ?', 'what shape is above the blue cross ?')
    """
    of = " of" if relation in ("left", "right") else ""
    return f"what shape is {relation}{of} the {name} ?"


def questions_about(scene: Scene, config: WorldConfig | None = None) -> list[Question]:
    """Every unambiguous question the world can ask about a scene, with answers and causes.

    The same rules as :func:`make_scene_and_question`; the order is fixed
    (kind, then names).

    Examples
    --------
    >>> from whytoken.experiments.worlds.world576 import make_scene_and_question
    >>> scene, primary = make_scene_and_question(3, "relation")
    >>> next(q for q in questions_about(scene) if q.question == primary.question) == primary
    True
    """
    config = config or WorldConfig()
    out: list[Question] = []
    index = {id(o): i for i, o in enumerate(scene.objects)}
    for shape in SHAPES:
        hits = scene.find(shape=shape)
        if len(hits) <= 1:
            answer = hits[0].color if hits else ABSENT_ANSWERS["color"]
            out.append(Question("color", f"what color is the {shape} ?", answer,
                                tuple(("target", index[id(h)]) for h in hits), (shape,)))
    for color in COLORS:
        for shape in SHAPES:
            hits = scene.find(shape=shape, color=color)
            if len(hits) <= 1:
                out.append(Question("exists", f"is there a {color} {shape} ?", "yes" if hits else "no",
                                    tuple(("target", index[id(h)]) for h in hits), (color, shape)))
    for shape in SHAPES:
        hits = scene.find(shape=shape)
        if len(hits) <= config.max_count:
            out.append(Question("count", f"how many {PLURALS[shape]} ?", COUNT_WORDS[len(hits)],
                                tuple(("counted", index[id(h)]) for h in hits), (PLURALS[shape],)))
    g = config.slot_grid
    for anchor in scene.objects:
        if len(scene.find(shape=anchor.shape, color=anchor.color)) != 1:
            continue
        for relation, (dr, dc) in RELATIONS.items():
            slot = (anchor.slot_row + dr, anchor.slot_col + dc)
            if not (0 <= slot[0] < g and 0 <= slot[1] < g):
                continue
            neighbour = scene.object_in(*slot)
            causes = (("anchor", index[id(anchor)]),) + ((("neighbour", index[id(neighbour)]),) if neighbour else ())
            out.append(Question("relation", relation_question(relation, anchor.name),
                                neighbour.shape if neighbour else ABSENT_ANSWERS["relation"], causes,
                                (relation, anchor.color, anchor.shape), None if neighbour else slot))
    for i, first in enumerate(SHAPES):
        for second in SHAPES:
            if second == first:
                continue
            a, b = scene.find(shape=first), scene.find(shape=second)
            if len(a) > 1 or len(b) > 1:
                continue
            question = f"are the {first} and the {second} the same color ?"
            if a and b:
                answer = "yes" if a[0].color == b[0].color else "no"
                causes = (("first", index[id(a[0])]), ("second", index[id(b[0])]))
            else:
                answer, causes = ABSENT_ANSWERS["same_color"], ()
            out.append(Question("same_color", question, answer, causes, (first, second)))
    return out
