"""Experiments on top of whytoken: the synthetic ground-truth world and the embedded demo model.

* :mod:`whytoken.experiments.world` -- seeded shape scenes, questions and their
  known causes (numpy and Pillow only);
* :mod:`whytoken.experiments.demo_model` -- the tiny LLaVA checkpoint trained on
  the world (``whytoken/data/whytoken-demo``), its processor and loaders;
* :mod:`whytoken.experiments.train` -- ``python -m whytoken.experiments.train``;
* :mod:`whytoken.experiments.evaluate` -- ``python -m whytoken.experiments.evaluate``:
  per-kind accuracy and pixel-blanking interventions.

Only the world is imported here, so ``import whytoken.experiments`` stays free
of torch; import the other modules explicitly.

Examples
--------
>>> from whytoken.experiments import generate
>>> generate("test", 2)[1].kind
'exists'
"""

from whytoken.experiments.world import (
    KINDS,
    Question,
    Sample,
    Scene,
    SceneObject,
    WorldConfig,
    blank_patches,
    generate,
    make_sample,
    questions_about,
)

__all__ = [
    "KINDS",
    "Question",
    "Sample",
    "Scene",
    "SceneObject",
    "WorldConfig",
    "blank_patches",
    "generate",
    "make_sample",
    "questions_about",
]
