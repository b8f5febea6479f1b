"""easy-VQA questions: their types, the words that matter and whether the answer is an absence.

easy-VQA's questions come from 24 templates (counted on its train split) over
3 shapes and 8 colours. Every question falls in one of four types, read off
its text by :func:`parse_question`:

==================  =========================================  ===================  =============================
type                templates (``S`` shape, ``C`` colour)      answers              words that matter
==================  =========================================  ===================  =============================
``color``           what color is the shape/S ?                a colour             ``color``
                    what is the color of the shape/S ?
``shape``           what shape is in the image / is present /  a shape              ``shape``
                    does the image contain ? what is the C
                    shape ?
``yes_no_shape``    is there (not) a S (in the image) ?        yes / no             ``S`` and ``not`` / ``no``
                    does the image (not) contain a S ?
                    is a / is no S present ?
``yes_no_color``    the same with "a C shape"                  yes / no             ``C`` and ``not`` / ``no``
==================  =========================================  ===================  =============================

Rules, in order: a question starting with ``what`` asks for a colour when it
contains the word ``color`` and for a shape otherwise; any other question is
yes/no, about a shape when it names one (``circle``, ``rectangle``,
``triangle``) and about a colour otherwise. It is *negated* when it contains
``not`` or ``no`` ("is no red shape present ?": yes means there is none).

**Words that matter** (``cause_words``): for ``what`` questions the word that
says which attribute to answer (``color`` or ``shape``); a shape or colour
they also name ("what color is the *circle* ?", "what is the *blue* shape ?")
is true of the only shape in every easy-VQA image and does not change the
answer, so it is kept apart as a ``condition_word``. For yes/no questions the
named value and the negation word, which flips the answer.

**Absent answers**: a yes/no question whose named value is *not* in the image
("is there a red shape ?" -> no, over a blue shape; "is there not a red
shape ?" -> yes). No image patch is their cause -- removing the shape leaves
the answer as it is -- so they carry no cause patches, as absent answers of
the synthetic world do; their cause is the named value.

Question text is normalised to lower case with ``?`` split off
(:func:`normalize_question`), so that ``prompt.split()`` is the word-level
tokenizer's token list and word indices are token indices.

Examples
--------
>>> parse_question("is there not a red shape in the image?")
ParsedQuestion(qtype='yes_no_color', words=('is', 'there', 'not', 'a', 'red', 'shape', 'in', 'the', 'image', '?'), \
cause_words=(2, 4), condition_words=(), value='red', negated=True)
>>> parse_question("what color is the circle?").cause_word_strings
('color',)
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from whytoken.errors import InvalidParameterError

__all__ = [
    "SHAPES",
    "COLORS",
    "ANSWERS",
    "QUESTION_TYPES",
    "QUESTION_WORDS",
    "ParsedQuestion",
    "normalize_question",
    "parse_question",
    "is_absent",
]

SHAPES: tuple[str, ...] = ("circle", "rectangle", "triangle")
COLORS: tuple[str, ...] = ("black", "blue", "brown", "gray", "green", "red", "teal", "yellow")
#: easy-VQA's 13 answers (``easy_vqa.get_answers()``), sorted.
ANSWERS: tuple[str, ...] = tuple(sorted(SHAPES + COLORS + ("yes", "no")))
QUESTION_TYPES: tuple[str, ...] = ("color", "shape", "yes_no_shape", "yes_no_color")
#: Every word of the normalised train questions (the test questions use no other word).
QUESTION_WORDS: tuple[str, ...] = (
    "?", "a", "black", "blue", "brown", "circle", "color", "contain", "does", "gray", "green", "image", "in",
    "is", "no", "not", "of", "present", "rectangle", "red", "shape", "teal", "the", "there", "triangle", "what",
    "yellow",
)
_NEGATIONS = ("not", "no")


@dataclass(frozen=True)
class ParsedQuestion:
    """What :func:`parse_question` reads off a question.

    Attributes
    ----------
    qtype : str
        One of :data:`QUESTION_TYPES`.
    words : tuple of str
        The normalised words; the indices below index this tuple.
    cause_words : tuple of int
        The words that matter (see the module docstring), ascending.
    condition_words : tuple of int
        Shape or colour words of a ``what`` question that do not change its answer.
    value : str or None
        The shape or colour a yes/no question names.
    negated : bool
        Whether a yes/no question is negated.
    """

    qtype: str
    words: tuple[str, ...]
    cause_words: tuple[int, ...]
    condition_words: tuple[int, ...]
    value: str | None
    negated: bool

    @property
    def cause_word_strings(self) -> tuple[str, ...]:
        """The words that matter, as strings."""
        return tuple(self.words[i] for i in self.cause_words)


def normalize_question(text: str) -> str:
    """Lower case, ``?`` split off, single spaces.

    Examples
    --------
    >>> normalize_question("What is the blue shape?")
    'what is the blue shape ?'
    """
    if not isinstance(text, str) or not text.strip():
        raise InvalidParameterError(f"question {text!r}; expected a non-empty string such as 'what shape is present?'")
    return " ".join(text.lower().replace("?", " ? ").split())


@functools.lru_cache(maxsize=4096)
def parse_question(text: str) -> ParsedQuestion:
    """Type, words that matter and negation of an easy-VQA question (rules in the module docstring).

    Raises
    ------
    InvalidParameterError
        For a question that uses words easy-VQA's questions do not, or fits no type.

    Examples
    --------
    >>> parse_question("What is the blue shape?").qtype
    'shape'
    >>> parse_question("is no circle present?").cause_word_strings
    ('no', 'circle')
    """
    words = tuple(normalize_question(text).split())
    unknown = sorted(set(words) - set(QUESTION_WORDS))
    if unknown:
        raise InvalidParameterError(
            f"question {text!r} uses words {unknown} that easy-VQA questions do not; expected words from "
            f"{list(QUESTION_WORDS)}"
        )
    shapes = [i for i, w in enumerate(words) if w in SHAPES]
    colors = [i for i, w in enumerate(words) if w in COLORS]
    if words[0] == "what":
        asked = "color" if "color" in words else "shape"
        if asked not in words:
            raise InvalidParameterError(
                f"question {text!r} starts with 'what' but names neither 'color' nor 'shape'; expected an easy-VQA "
                "question such as 'what shape is present?'"
            )
        return ParsedQuestion(
            qtype=asked,
            words=words,
            cause_words=(words.index(asked),),
            condition_words=tuple(sorted(shapes + colors)),
            value=None,
            negated=False,
        )
    named = shapes + colors
    if len(named) != 1:
        raise InvalidParameterError(
            f"yes/no question {text!r} names {len(named)} shapes or colours; expected exactly one, as in "
            "'is there a red shape?'"
        )
    negations = [i for i, w in enumerate(words) if w in _NEGATIONS]
    return ParsedQuestion(
        qtype="yes_no_shape" if shapes else "yes_no_color",
        words=words,
        cause_words=tuple(sorted(named + negations)),
        condition_words=(),
        value=words[named[0]],
        negated=bool(negations),
    )


def is_absent(parsed: ParsedQuestion, answer: str) -> bool:
    """Whether the answer reports that the named value is *not* in the image (yes/no questions only).

    Examples
    --------
    >>> is_absent(parse_question("is there not a red shape?"), "yes")
    True
    >>> is_absent(parse_question("what color is the shape?"), "red")
    False
    """
    if parsed.value is None:
        return False
    if answer not in ("yes", "no"):
        raise InvalidParameterError(f"answer {answer!r} to a yes/no question; expected 'yes' or 'no'")
    present = (answer == "yes") != parsed.negated
    return not present
