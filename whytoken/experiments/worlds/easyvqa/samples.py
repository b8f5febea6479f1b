"""easy-VQA samples with their ground-truth causes, the vocabulary and the demo sample.

A sample is one easy-VQA question about one image, with the question's type
and words that matter (:mod:`~whytoken.experiments.worlds.easyvqa.questions`)
and the image's shape mask at the model's patch grid
(:mod:`~whytoken.experiments.worlds.easyvqa.masks`). The cause of a
non-absent answer is every patch the shape touches (with the fraction it
covers) and the words that matter; an absent answer has no cause patches.

Order
-----
``load_samples(split, n)`` interleaves the four question types round-robin
(``order="balanced"``, the default), each in easy-VQA's question order, so
the first ``n`` samples hold ``n / 4`` of each type while a type lasts;
``order="source"`` keeps easy-VQA's order. Sample ids
``easyvqa/{split}/{index}`` name the question's index in easy-VQA's own list
(:func:`~whytoken.experiments.worlds.easyvqa.source.source_questions`) and are
stable; :func:`get_sample` reads one back.

Examples
--------
>>> samples = load_samples("test", 4)
>>> [s.qtype for s in samples]
['color', 'shape', 'yes_no_shape', 'yes_no_color']
>>> s = samples[0]
>>> s.prompt
'what is the color of the triangle ? <image> answer :'
>>> s.words[s.cause_words[0]], s.cause_patches, [round(f, 2) for f in s.cause_fractions]
('color', ((5, 0), (5, 1), (6, 0), (6, 1)), [0.14, 0.1, 0.39, 0.35])
>>> get_sample(s.sample_id) == s
True
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
from PIL import Image

from whytoken.errors import InvalidParameterError
from whytoken.experiments.worlds.easyvqa.masks import ShapeMask, shape_mask
from whytoken.experiments.worlds.easyvqa.questions import (
    ANSWERS,
    QUESTION_TYPES,
    QUESTION_WORDS,
    SHAPES,
    is_absent,
    normalize_question,
    parse_question,
)
from whytoken.experiments.worlds.easyvqa.source import (
    SPLITS,
    check_split,
    image_ids,
    load_image,
    source_questions,
    split_of_image,
)

__all__ = [
    "SPLITS",
    "IMAGE_PLACEHOLDER",
    "NO_SHAPE_ANSWER",
    "PROMPT_TEMPLATE",
    "DEMO_SAMPLE_ID",
    "EasyVQAGeometry",
    "GEOMETRY",
    "EasyVQASample",
    "vocabulary",
    "image_ids",
    "image_mask",
    "load_samples",
    "get_sample",
    "shape_labels",
    "demo_sample",
]

IMAGE_PLACEHOLDER = "<image>"
#: What the model answers to a colour or shape question about an image without a shape. Not one of
#: easy-VQA's answers (it never shows an empty image); the model learns it from train images with
#: the shape removed, so that removing the shape changes every answer that depends on it.
NO_SHAPE_ANSWER = "none"
#: The prompt format of the demo model: the question first, so that image tokens can read it.
PROMPT_TEMPLATE = "{question} " + IMAGE_PLACEHOLDER + " answer :"


@dataclass(frozen=True)
class EasyVQAGeometry:
    """Image and patch sizes the easy-VQA model reads.

    8 px patches of the 64 px images give an 8 x 8 grid of 64 image tokens: a
    shape touches 3 to 30 patches (it spans many tokens, as objects do in real
    VLMs), each patch still holds a readable piece of edge (a straight, slanted
    or curved boundary) for telling shapes apart, and the sequence stays ~80
    tokens, so training on two shared CPU cores and explaining stay cheap. 4 px
    patches (256 tokens) would cost ~4x per forward and make explaining sets
    ~4x larger without a new kind of evidence.

    Examples
    --------
    >>> GEOMETRY.patch_grid, GEOMETRY.num_patches
    (8, 64)
    """

    image_size: int = 64
    patch_size: int = 8

    @property
    def patch_grid(self) -> int:
        """Patches per side."""
        return self.image_size // self.patch_size

    @property
    def num_patches(self) -> int:
        """Image tokens per image."""
        return self.patch_grid**2


GEOMETRY = EasyVQAGeometry()


@functools.lru_cache(maxsize=8192)
def image_mask(split: str, image_id: int) -> ShapeMask:
    """The ground-truth :class:`~whytoken.experiments.worlds.easyvqa.masks.ShapeMask` of an image (cached)."""
    return shape_mask(load_image(split, image_id), patch_size=GEOMETRY.patch_size)


@dataclass(frozen=True)
class EasyVQASample:
    """One easy-VQA question about one image, with its ground-truth cause.

    Attributes
    ----------
    sample_id : str
        ``easyvqa/{split}/{index}``.
    split : str
    index : int
        The question's position in easy-VQA's list.
    image_id : int
    question : str
        Normalised (:func:`~whytoken.experiments.worlds.easyvqa.questions.normalize_question`).
    source_question : str
        easy-VQA's own text.
    answer : str
    qtype : str
        One of :data:`~whytoken.experiments.worlds.easyvqa.questions.QUESTION_TYPES`.
    image : PIL.Image.Image
    mask : ShapeMask
        The image's shape, background colour and patch coverage.
    cause_patches : tuple of (int, int)
        ``(row, col)`` patches of the 8 x 8 grid that cause the answer: every patch
        the shape touches, none for an absent answer.
    cause_fractions : tuple of float
        The fraction of each cause patch the shape covers.
    cause_words : tuple of int
        Indices into :attr:`words` of the words that matter.
    condition_words : tuple of int
        Indices of named values that do not change the answer.
    absent : bool
        The answer reports an absence (it has no cause patches).
    """

    sample_id: str
    split: str
    index: int
    image_id: int
    question: str
    source_question: str
    answer: str
    qtype: str
    image: Image.Image = field(repr=False, compare=False)
    mask: ShapeMask = field(repr=False, compare=False)
    cause_patches: tuple[tuple[int, int], ...] = ()
    cause_fractions: tuple[float, ...] = ()
    cause_words: tuple[int, ...] = ()
    condition_words: tuple[int, ...] = ()
    absent: bool = False

    @property
    def kind(self) -> str:
        """:attr:`qtype`, under the name the evaluation helpers of the synthetic worlds read."""
        return self.qtype

    @property
    def prompt(self) -> str:
        """``"{question} <image> answer :"`` (:data:`PROMPT_TEMPLATE`)."""
        return PROMPT_TEMPLATE.format(question=self.question)

    @property
    def words(self) -> list[str]:
        """``prompt.split()``; :attr:`cause_words` index this list (the question's words come first)."""
        return self.prompt.split()

    @property
    def pixels(self) -> np.ndarray:
        """The image as a writable ``(64, 64, 3)`` uint8 array (a copy)."""
        return np.array(self.image, dtype=np.uint8)

    @property
    def cause_patch_indices(self) -> tuple[int, ...]:
        """:attr:`cause_patches` as row-major indices, the order of the image tokens."""
        return tuple(r * GEOMETRY.patch_grid + c for r, c in self.cause_patches)

    @property
    def object_patches(self) -> tuple[tuple[int, int], ...]:
        """Every patch the shape touches, also for absent answers."""
        return self.mask.patches

    @property
    def cause_word_strings(self) -> tuple[str, ...]:
        """The words that matter, as strings."""
        words = self.words
        return tuple(words[i] for i in self.cause_words)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (no pixels)."""
        return {
            "sample_id": self.sample_id,
            "split": self.split,
            "index": self.index,
            "image_id": self.image_id,
            "prompt": self.prompt,
            "question": self.question,
            "source_question": self.source_question,
            "answer": self.answer,
            "qtype": self.qtype,
            "absent": self.absent,
            "cause_patches": [list(p) for p in self.cause_patches],
            "cause_fractions": [round(f, 4) for f in self.cause_fractions],
            "cause_words": list(self.cause_words),
            "condition_words": list(self.condition_words),
            "object_patches": [list(p) for p in self.object_patches],
            "shape_color": self.mask.color,
            "background": list(self.mask.background),
        }


def vocabulary() -> list[str]:
    """The model's words: the question words, the answers, :data:`NO_SHAPE_ANSWER` and the prompt's ``answer :``.

    Examples
    --------
    >>> words = vocabulary()
    >>> len(words), words[-3:]
    (31, ['none', 'answer', ':'])
    """
    words = list(QUESTION_WORDS) + [a for a in ANSWERS if a not in QUESTION_WORDS]
    return words + [NO_SHAPE_ANSWER, "answer", ":"]


def _make_sample(split: str, index: int) -> EasyVQASample:
    texts, answers, ids = source_questions(split)
    parsed = parse_question(texts[index])
    answer = answers[index]
    absent = is_absent(parsed, answer)
    mask = image_mask(split, ids[index])
    return EasyVQASample(
        sample_id=f"easyvqa/{split}/{index}",
        split=split,
        index=index,
        image_id=ids[index],
        question=normalize_question(texts[index]),
        source_question=texts[index],
        answer=answer,
        qtype=parsed.qtype,
        image=load_image(split, ids[index]),
        mask=mask,
        cause_patches=() if absent else mask.patches,
        cause_fractions=() if absent else mask.fractions,
        cause_words=parsed.cause_words,
        condition_words=parsed.condition_words,
        absent=absent,
    )


@functools.lru_cache(maxsize=16)
def _indices(split: str, order: str, qtypes: tuple[str, ...]) -> tuple[int, ...]:
    texts, _, ids = source_questions(split)
    members = set(image_ids(split))
    by_type: dict[str, list[int]] = {t: [] for t in qtypes}
    ordered = []
    for i, text in enumerate(texts):
        qtype = parse_question(text).qtype
        if ids[i] in members and qtype in by_type:
            by_type[qtype].append(i)
            ordered.append(i)
    if order == "source":
        return tuple(ordered)
    out, queues = [], [list(reversed(by_type[t])) for t in qtypes]
    while any(queues):
        for queue in queues:
            if queue:
                out.append(queue.pop())
    return tuple(out)


def load_samples(
    split: str,
    n: int | None = None,
    offset: int = 0,
    qtypes: Sequence[str] | None = None,
    order: str = "balanced",
) -> list[EasyVQASample]:
    """Samples of a split with ground truth.

    Parameters
    ----------
    split : {"train", "val", "test"}
    n : int, optional
        How many (all by default).
    offset : int, default 0
        First sample's position in the split's order.
    qtypes : sequence of str, optional
        Question types to keep (all of
        :data:`~whytoken.experiments.worlds.easyvqa.questions.QUESTION_TYPES` by default).
    order : {"balanced", "source"}, default "balanced"
        Types round-robin, or easy-VQA's order (module docstring).

    Returns
    -------
    list of EasyVQASample

    Raises
    ------
    InvalidParameterError
        For an unknown split, type or order, or a negative ``n`` / ``offset``.
    ConfigError
        When the ``easy-vqa`` package is not installed.
    """
    check_split(split)
    kept = tuple(qtypes) if qtypes is not None else QUESTION_TYPES
    if not kept or set(kept) - set(QUESTION_TYPES) or len(set(kept)) != len(kept):
        raise InvalidParameterError(
            f"qtypes={qtypes!r}; expected a non-empty subset of {list(QUESTION_TYPES)} without repeats"
        )
    if order not in ("balanced", "source"):
        raise InvalidParameterError(f"order={order!r}; expected 'balanced' or 'source'")
    if offset < 0 or (n is not None and n < 0):
        raise InvalidParameterError(f"n={n}, offset={offset}; expected non-negative integers")
    indices = _indices(split, order, kept)
    stop = len(indices) if n is None else offset + n
    return [_make_sample(split, i) for i in indices[offset:stop]]


def get_sample(sample_id: str) -> EasyVQASample:
    """The sample named by an id ``easyvqa/{split}/{index}``.

    Raises
    ------
    InvalidParameterError
        For a malformed id or one whose question is not in that split.
    """
    parts = sample_id.split("/") if isinstance(sample_id, str) else []
    if len(parts) != 3 or parts[0] != "easyvqa" or parts[1] not in SPLITS or not parts[2].isdigit():
        raise InvalidParameterError(
            f"sample id {sample_id!r}; expected 'easyvqa/{{split}}/{{index}}' with split in {list(SPLITS)}, "
            "e.g. 'easyvqa/test/0'"
        )
    split, index = parts[1], int(parts[2])
    texts, _, ids = source_questions(split)
    if index >= len(texts) or split_of_image("test" if split == "test" else "train", ids[index]) != split:
        raise InvalidParameterError(f"sample id {sample_id!r}: question {index} is not in the {split!r} split")
    return _make_sample(split, index)


def shape_labels(split: str) -> dict[int, str]:
    """Image id -> shape name, for the images of a split whose questions determine it.

    easy-VQA gives shapes only through answers: a ``shape`` answer names it, a
    yes/no shape answer includes or excludes one. Images whose questions leave
    two or three shapes possible are left out (342 of the 3,600 train images).

    Examples
    --------
    >>> labels = shape_labels("val")
    >>> len(labels) <= 400, set(labels.values()) == set(SHAPES)
    (True, True)
    """
    candidates: dict[int, set[str]] = {i: set(SHAPES) for i in image_ids(split)}
    texts, answers, ids = source_questions(split)
    for text, answer, image_id in zip(texts, answers, ids):
        if image_id not in candidates:
            continue
        parsed = parse_question(text)
        if parsed.qtype == "shape":
            candidates[image_id] &= {answer}
        elif parsed.qtype == "yes_no_shape":
            present = (answer == "yes") != parsed.negated
            candidates[image_id] &= {parsed.value} if present else set(SHAPES) - {parsed.value}
    return {i: next(iter(c)) for i, c in candidates.items() if len(c) == 1}


#: The demo's test sample: the first colour question of the test split (balanced order) whose shape
#: touches at least 9 patches ("what is the color of the rectangle ?" -> yellow, 12 patches), chosen by
#: that rule on the data alone, not on any model's answers.
DEMO_SAMPLE_ID = "easyvqa/test/11"


def demo_sample() -> EasyVQASample:
    """The test sample ``whytoken demo --model whytoken-easyvqa`` explains (:data:`DEMO_SAMPLE_ID`).

    Examples
    --------
    >>> s = demo_sample()
    >>> s.split, s.absent
    ('test', False)
    """
    return get_sample(DEMO_SAMPLE_ID)
