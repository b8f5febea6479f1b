"""Experiments on top of whytoken: synthetic worlds, tiny trained models, baselines, metrics and the harness.

Subpackages, one concept each:

* :mod:`whytoken.experiments.worlds` -- synthetic worlds with known causes
  (numpy and Pillow only); :mod:`~whytoken.experiments.worlds.demo` is the
  shapes world of the embedded demo model;
* :mod:`whytoken.experiments.training` -- building, training and evaluating
  tiny LLaVA models: the demo model (``whytoken/data/whytoken-demo``),
  ``python -m whytoken.experiments.training.train`` and
  ``python -m whytoken.experiments.training.evaluate``;
* :mod:`whytoken.experiments.baselines` -- attribution methods (attention,
  rollout, relevancy, gradient x input, random, whytoken) and their registry;
* :mod:`whytoken.experiments.metrics` -- faithfulness metrics on the model
  (deletion and insertion curves, flip size, ground-truth precision and recall);
* :mod:`whytoken.experiments.harness` -- experiment configurations and sweeps,
  datasets, the runner and its results log, executors (local, Ray), summaries,
  plots and the ``whytoken experiment`` command.

The flat modules of earlier versions (``whytoken.experiments.world``,
``.demo_model``, ``.train``, ``.evaluate``, ``.config``, ``.datasets``,
``.executors``, ``.plots``, ``.cli``) still import, with a
:class:`DeprecationWarning` naming the new path; ``python -m
whytoken.experiments.train`` and ``python -m whytoken.experiments.evaluate``
still run.

Only the worlds are imported here, so ``import whytoken.experiments`` stays free
of torch; import the other subpackages explicitly.

Examples
--------
>>> from whytoken.experiments import generate
>>> generate("test", 2)[1].kind
'exists'
"""

from whytoken.experiments.worlds.demo import (
    KINDS, Question, Sample, Scene, SceneObject, WorldConfig, blank_patches, generate, make_sample, questions_about,
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
