"""The 576-patch world: LLaVA-1.5's patch geometry, objects spanning many patches, exact ground truth.

The world of the ``whytoken-world576`` model. A 336 x 336 px image is cut
into 24 x 24 = 576 patches of 14 px, as LLaVA-1.5 does. One to two dozen
patches make an object: circles, squares, triangles and crosses in red, green,
blue and yellow, 20-72 px across (touching about 4-36 patches each), placed
with continuous jitter in a coarse 4 x 4 layout of slots (so they are not
aligned to the patch grid, and neighbours may share patches), on a textured
background with thin clutter marks. Questions: ``color``, ``exists``,
``count``, ``relation`` (on slots) and ``same_color``, which needs two
objects' evidence at once. Every answer comes with its causes: each cause
object's patches with the exact fraction of each patch it covers, and the
question words that matter.

Modules: :mod:`.config` (vocabulary, geometry), :mod:`.scene` (scenes, exact
rendering, coverage, blanking), :mod:`.questions` (questions, samples, ground
truth), :mod:`.sampling` (seeded samples and splits). numpy and Pillow only.

Examples
--------
>>> from whytoken.experiments.worlds.world576 import generate
>>> s = generate("test", 1)[0]
>>> s.prompt
'<image> what color is the triangle ? answer :'
>>> len(s.cause_patches), s.regions[0].role
(10, 'target')
"""

from whytoken.experiments.worlds.world576.config import (
    ABSENT_ANSWERS,
    COLORS,
    COUNT_WORDS,
    IMAGE_PLACEHOLDER,
    KINDS,
    PLURALS,
    PROMPT_TEMPLATE,
    RELATIONS,
    SHAPES,
    WorldConfig,
    answer_vocabulary,
    vocabulary,
)
from whytoken.experiments.worlds.world576.questions import CauseRegion, Question, Sample, ask, questions_about
from whytoken.experiments.worlds.world576.sampling import demo_sample, generate, make_sample, make_scene_and_question
from whytoken.experiments.worlds.world576.scene import (
    BACKGROUND,
    MARK,
    Mark,
    Rendering,
    Scene,
    SceneObject,
    blank_patches,
    patch_coverage,
    render_scene,
)

__all__ = [
    "ABSENT_ANSWERS",
    "COLORS",
    "COUNT_WORDS",
    "IMAGE_PLACEHOLDER",
    "KINDS",
    "PLURALS",
    "PROMPT_TEMPLATE",
    "RELATIONS",
    "SHAPES",
    "WorldConfig",
    "answer_vocabulary",
    "vocabulary",
    "CauseRegion",
    "Question",
    "Sample",
    "ask",
    "questions_about",
    "demo_sample",
    "generate",
    "make_sample",
    "make_scene_and_question",
    "BACKGROUND",
    "MARK",
    "Mark",
    "Rendering",
    "Scene",
    "SceneObject",
    "blank_patches",
    "patch_coverage",
    "render_scene",
]
