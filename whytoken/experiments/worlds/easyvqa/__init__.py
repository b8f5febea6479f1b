"""easy-VQA: a visual question answering dataset written by others, with ground truth derived from its pixels.

The PyPI package ``easy-vqa`` (1.0) ships 4,000 train and 1,000 test 64 x 64
PNG images -- one coloured circle, rectangle or triangle on a pale tinted
background -- with 38,575 / 9,673 template questions and 13 answers. This
package turns them into samples whose answers have a known cause, as the
synthetic worlds do, so that explanations of the ``whytoken-easyvqa`` model
can be scored against the truth:

* :mod:`~whytoken.experiments.worlds.easyvqa.masks` -- the shape's mask from
  the pixels (every pixel is a blend of two colours), its patch coverage and
  blanking;
* :mod:`~whytoken.experiments.worlds.easyvqa.questions` -- the four question
  types read off the text, the words that matter, absent answers;
* :mod:`~whytoken.experiments.worlds.easyvqa.samples` -- samples with their
  ground truth, the train / val / test splits (val is carved from easy-VQA's
  train split by image, seeded), the vocabulary and the demo sample.

The model reads 8 x 8 px patches, an 8 x 8 grid of 64 image tokens
(:data:`GEOMETRY`); a shape touches 3 to 30 of them.

Like the other worlds this package needs numpy, Pillow and scipy only, and the
``easy-vqa`` package for the data (``pip install easy-vqa==1.0``; installed by
``python scripts/setup_env.py --dev``).

Examples
--------
>>> from whytoken.experiments.worlds import easyvqa
>>> sample = easyvqa.load_samples("test", 1)[0]
>>> sample.question, sample.answer, sample.cause_word_strings
('what is the color of the triangle ?', 'red', ('color',))
>>> len(sample.cause_patches), round(sum(sample.cause_fractions) * 64, 1) == round(sample.mask.area, 1)
(4, True)
"""

from whytoken.experiments.worlds.easyvqa.masks import (
    PALETTE,
    ShapeMask,
    blank_patches,
    nearest_color,
    shape_mask,
)
from whytoken.experiments.worlds.easyvqa.questions import (
    ANSWERS,
    COLORS,
    QUESTION_TYPES,
    SHAPES,
    ParsedQuestion,
    is_absent,
    normalize_question,
    parse_question,
)
from whytoken.experiments.worlds.easyvqa.samples import (
    DEMO_SAMPLE_ID,
    GEOMETRY,
    IMAGE_PLACEHOLDER,
    NO_SHAPE_ANSWER,
    PROMPT_TEMPLATE,
    SPLITS,
    EasyVQAGeometry,
    EasyVQASample,
    demo_sample,
    get_sample,
    image_ids,
    load_samples,
    shape_labels,
    vocabulary,
)

__all__ = [
    "PALETTE",
    "ShapeMask",
    "blank_patches",
    "nearest_color",
    "shape_mask",
    "ANSWERS",
    "COLORS",
    "QUESTION_TYPES",
    "SHAPES",
    "ParsedQuestion",
    "is_absent",
    "normalize_question",
    "parse_question",
    "DEMO_SAMPLE_ID",
    "GEOMETRY",
    "IMAGE_PLACEHOLDER",
    "NO_SHAPE_ANSWER",
    "PROMPT_TEMPLATE",
    "SPLITS",
    "EasyVQAGeometry",
    "EasyVQASample",
    "demo_sample",
    "get_sample",
    "image_ids",
    "load_samples",
    "shape_labels",
    "vocabulary",
]
