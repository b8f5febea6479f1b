"""Building, training and evaluating tiny LLaVA models on the synthetic worlds.

The embedded demo model (``whytoken/data/whytoken-demo``) and its recipe:

* :mod:`~whytoken.experiments.training.demo_model` -- architecture,
  tokenizer, processor, building and loading the checkpoint;
* :mod:`~whytoken.experiments.training.encoding` -- world samples as model
  inputs, and where their image and cause tokens sit;
* :mod:`~whytoken.experiments.training.config` -- :class:`TrainConfig`, the
  recipe's hyper-parameters, and :class:`TrainResult`;
* :mod:`~whytoken.experiments.training.batches` -- questions per image,
  training batches, augmentation, the shared-vision forward;
* :mod:`~whytoken.experiments.training.losses` -- the auxiliary probe and
  attention losses and their targets;
* :mod:`~whytoken.experiments.training.loop` -- :func:`train`, the
  optimisation loop;
* :mod:`~whytoken.experiments.training.checkpoint` -- saving a checkpoint
  with its metadata and test figures;
* :mod:`~whytoken.experiments.training.train` -- the command
  ``python -m whytoken.experiments.training.train`` (the recipe is described there);
* :mod:`~whytoken.experiments.training.evaluate` -- accuracy per question
  kind, blanking interventions and feature leakage, and the command
  ``python -m whytoken.experiments.training.evaluate``.

These modules import torch and transformers; nothing is imported here, so
import the module you need.
"""

__all__: list[str] = []
