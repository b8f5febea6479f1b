"""Datasets of experiment samples: the synthetic world, user JSONL files and text prompts.

A dataset turns the ``dataset`` section of an experiment configuration into a
list of :class:`ExperimentSample` -- a prompt, an optional image (as a
``uint8`` array, so samples pickle cheaply to worker processes and Ray
tasks), an optional expected answer and, where known, the ground-truth
causes. Kinds register with :func:`register_dataset`; :func:`list_datasets`
names them:

``world``
    The synthetic shapes world (:mod:`whytoken.experiments.worlds.demo`), with
    ground-truth cause patches and words. Options: ``split`` (train, val,
    test; default test), ``n`` (default 200), ``seed`` (offset inside the
    split, default 0), ``kinds`` (question kinds), ``world`` (WorldConfig
    parameters).
``world576``
    The 576-patch world (:mod:`whytoken.experiments.worlds.world576`) of the
    ``whytoken-world576`` model, with ground-truth cause patches (every patch a
    cause object touches; ``min_coverage`` keeps the better covered ones), the
    exact coverage per patch in ``meta["regions"]``, and the words that matter.
    Options: ``split``, ``n``, ``seed``, ``kinds``, ``min_coverage``.
``easyvqa``
    easy-VQA questions (:mod:`whytoken.experiments.worlds.easyvqa`) for the
    ``whytoken-easyvqa`` model, with ground-truth shape patches and words.
    Options: ``split``, ``n``, ``offset``, ``qtypes``, ``order``.
``jsonl``
    One JSON object per line: ``{"prompt": ..., "image": path or null, "id":
    ..., "answer": ..., "target": ...}``; image paths are relative to the
    JSONL file. Options: ``path`` (required), ``n`` (first n rows).
``prompts``
    Text prompts for decoder LMs, one per line (``#`` comments; an optional
    tab-separated expected answer). Options: ``path`` or ``name`` (a packaged
    list; ``smollm2_50``: 50 factual completions), ``n``.

Ground truth is expressed in the sample's own terms (patch cells, prompt
word indices) and mapped onto a trace's positions by
:func:`ground_truth_positions`.

Modules: :mod:`~whytoken.experiments.harness.datasets.base` (samples, the
registry, loading), one module per kind
(:mod:`~whytoken.experiments.harness.datasets.world`,
:mod:`~whytoken.experiments.harness.datasets.jsonl`,
:mod:`~whytoken.experiments.harness.datasets.prompts`) and
:mod:`~whytoken.experiments.harness.datasets.ground_truth`. A new kind is a
new module whose loader is decorated with :func:`register_dataset` and which
is imported below.

Examples
--------
>>> samples = load_dataset({"kind": "prompts", "name": "smollm2_50", "n": 2})
>>> [(s.sample_id, s.prompt, s.answer) for s in samples]
[('smollm2_50/0', 'The capital of France is', 'Paris'), ('smollm2_50/1', 'The capital of Germany is', 'Berlin')]
>>> load_dataset({"kind": "world", "split": "test", "n": 1})[0].cause_words
(4,)
"""

from whytoken.experiments.harness.datasets.base import (
    DatasetKind, ExperimentSample, get_dataset_kind, list_datasets, load_dataset, register_dataset,
    validate_dataset_spec,
)
from whytoken.experiments.harness.datasets.ground_truth import align_words, ground_truth_positions
from whytoken.experiments.harness.datasets import easyvqa, jsonl, world, world576  # noqa: F401 - register kinds
from whytoken.experiments.harness.datasets.prompts import packaged_prompt_lists

__all__ = [
    "ExperimentSample",
    "DatasetKind",
    "register_dataset",
    "list_datasets",
    "get_dataset_kind",
    "validate_dataset_spec",
    "load_dataset",
    "packaged_prompt_lists",
    "ground_truth_positions",
    "align_words",
]
