"""The demo world: shape scenes on a 6 x 6 grid, questions, and the known causes of their answers.

Every explanation whytoken returns for the embedded demo model can be checked
against this package, because the world knows *why* each answer is what it is.

Scenes
------
An image is a square grid of ``grid_size x grid_size`` cells (default 6 x 6
cells of 16 px, a 96 x 96 RGB image). With the default ``patch_size=16`` each
cell is exactly one patch of the CLIP vision tower, so the model's patch grid
*is* the world grid and one object is one image token. A cell is empty or
holds one object: a ``circle``, ``square``, ``triangle`` or ``cross`` in
``red``, ``green``, ``blue`` or ``yellow``. Objects jitter a little in size
(56-75 % of the cell), position (+-1 px) and colour (+-16 per channel) and
never leave their cell. The background is mid grey (128, 128, 128) with
uniform pixel noise of +-12, so *blanking* a patch (painting it flat
background grey, :func:`blank_patches`) is a real change even for an empty
cell. Scenes hold 3-8 objects (uniform), more when a question needs them.

Questions
---------
One question per sample; the kind is fixed by the caller (round-robin in
:func:`generate`, so kinds are exactly balanced). ``absent`` answers (rate
``absent_rate``, default 10 %) report that something is missing.

============  ====================================  ==========================  ===========================
kind          question                              answers                     ground-truth cause
============  ====================================  ==========================  ===========================
``color``     what color is the circle ?            red/green/blue/yellow;      the circle's patches; the
                                                    ``none`` (10 %)             word ``circle``
``exists``    is there a red square ?               yes / no (50 / 50)          yes: the red square's
                                                                                patches; no: no patches.
                                                                                Words ``red``, ``square``
``count``     how many triangles ?                  zero (10 %), one, two,      every triangle's patches;
                                                    three (30 % each)           the word ``triangles``
``relation``  what shape is left of the red         circle/square/triangle/     the anchor's and the
              circle ?  (left / right / above /     cross; ``none`` (10 %)      neighbour cell's patches;
              below, directly adjacent cell)                                    the relation word and the
                                                                                anchor's colour and shape
============  ====================================  ==========================  ===========================

Constraints make every question unambiguous: a ``color`` scene has exactly
one object of the asked shape (none when absent); an ``exists`` scene has at
most one object of the asked colour-and-shape, and in 75 % of scenes a
*near miss* of each kind (same colour other shape, same shape other colour);
a ``count`` scene has exactly the answered number of the asked shape; a
``relation`` anchor is the only object of its colour-and-shape, its neighbour
cell in the asked direction lies inside the grid, and in 70 % of scenes 1-3
other neighbours of the anchor are filled so that the relation word matters.
Shapes and colours are uniform otherwise.

Causes for absent answers: ``exists``/``no``, ``color``/``none`` and
``count``/``zero`` have no cause patches (nothing in the image can be removed
to change them; the question words are the cause). ``relation``/``none``
names the anchor and the *empty* neighbour cell. ``Sample.absent`` flags these
answers: blanking their cause patches is not expected to change them.

Beyond the one question :func:`make_sample` draws for a scene,
:func:`questions_about` lists every unambiguous question about a scene (same
rules, same causes) and :func:`ask` turns any of them into a :class:`Sample`;
the training script uses them to ask several questions per image.

Prompt format and word positions
--------------------------------
``Sample.prompt`` is ``"{question} <image> answer :"`` (:data:`PROMPT_TEMPLATE`),
e.g. ``"what color is the circle ? <image> answer :"``: the question comes
*before* the image, so the image tokens of a causal language model can read
the question (early fusion), and the answer is predicted after ``":"``.
``Sample.words`` is ``prompt.split()`` and ``cause_words`` index that list.
With the demo model's word-level tokenizer, question word ``i`` is token
``1 + i`` (after ``<s>``), the image tokens follow, and the placeholder's
word index is ``len(question.split())``.

Splits and seeds
----------------
A sample is a pure function of ``(seed, kind, config)``. The three splits
own disjoint seed ranges (:data:`SPLIT_SEED_RANGES`): train ``[0, 1e9)``,
val ``[1e9, 1.1e9)``, test ``[1.1e9, 1.2e9)``. ``generate(split, n, seed=s)``
returns the samples with seeds ``start + s, ..., start + s + n - 1`` and kinds
``kinds[(s + i) % len(kinds)]``. Images are rendered with numpy only, so the
same seed gives identical image bytes on every machine.

Modules
-------
* :mod:`~whytoken.experiments.worlds.demo.config` -- names, split seed ranges, :class:`WorldConfig`;
* :mod:`~whytoken.experiments.worlds.demo.scenes` -- objects, rendering, :func:`blank_patches`;
* :mod:`~whytoken.experiments.worlds.demo.questions` -- :class:`Question`, :class:`Sample`,
  :func:`ask`, :func:`questions_about`, the vocabulary;
* :mod:`~whytoken.experiments.worlds.demo.sampling` -- :func:`make_sample`, :func:`generate`.

Examples
--------
>>> from whytoken.experiments.worlds.demo import generate
>>> sample = generate("test", 1)[0]
>>> sample.kind, sample.image.size
('color', (96, 96))
>>> sample.words[sample.cause_words[0]] in SHAPES
True
"""

from whytoken.experiments.worlds.demo.config import (
    ABSENT_ANSWERS, COLORS, COUNT_WORDS, IMAGE_PLACEHOLDER, KINDS, PLURALS, PROMPT_TEMPLATE, RELATIONS, SHAPES,
    SPLIT_SEED_RANGES, WorldConfig, split_of_seed,
)
from whytoken.experiments.worlds.demo.questions import (
    Question, Sample, answer_vocabulary, ask, questions_about, vocabulary,
)
from whytoken.experiments.worlds.demo.sampling import generate, make_sample
from whytoken.experiments.worlds.demo.scenes import Scene, SceneObject, blank_patches, render_scene

__all__ = [
    "COLORS",
    "SHAPES",
    "PLURALS",
    "RELATIONS",
    "KINDS",
    "COUNT_WORDS",
    "ABSENT_ANSWERS",
    "IMAGE_PLACEHOLDER",
    "PROMPT_TEMPLATE",
    "SPLIT_SEED_RANGES",
    "WorldConfig",
    "SceneObject",
    "Scene",
    "Question",
    "Sample",
    "make_sample",
    "ask",
    "questions_about",
    "generate",
    "render_scene",
    "blank_patches",
    "split_of_seed",
    "answer_vocabulary",
    "vocabulary",
]
