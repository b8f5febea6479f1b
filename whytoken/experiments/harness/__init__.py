"""The faithfulness harness: run a configuration, write one row per sample x target x method x setting.

:func:`run_experiment` reads an :class:`ExperimentConfig`,
loads the dataset, cuts it into one task per sample and runs the tasks on
the configured executor (:mod:`whytoken.experiments.harness.executors`). A task
traces its sample once (every layer's attention), picks the target tokens,
and for every method setting computes the ranking
(:mod:`whytoken.experiments.baselines`) and the metrics
(:mod:`whytoken.experiments.metrics`) on the model, sharing one cached,
batched predictor per target and intervention kind.

Modules
-------
* :mod:`~whytoken.experiments.harness.config` -- YAML/TOML configurations;
  :mod:`~whytoken.experiments.harness.sweeps` -- methods, settings and sweep grids;
* :mod:`~whytoken.experiments.harness.datasets` -- dataset kinds (a registry) and ground truth on traces;
* :mod:`~whytoken.experiments.harness.runner` -- :func:`run_experiment`;
  :mod:`~whytoken.experiments.harness.tasks` -- one sample's rows;
  :mod:`~whytoken.experiments.harness.targets` -- which generated tokens are explained;
* :mod:`~whytoken.experiments.harness.results` -- the results log, row ids, resuming;
* :mod:`~whytoken.experiments.harness.executors` -- local and Ray executors (a registry);
* :mod:`~whytoken.experiments.harness.summary` and :mod:`~whytoken.experiments.harness.plots` -- summaries and figures;
* :mod:`~whytoken.experiments.harness.cli` -- the ``whytoken experiment`` command;
* :mod:`~whytoken.experiments.harness.toy_model` -- :class:`ToyModel`;
  :mod:`~whytoken.experiments.harness.hashing` -- :func:`stable_hash`.

Output folder
-------------
``results.jsonl``
    One JSON row per sample x target x method x setting (schema
    :data:`ROW_SCHEMA`), appended as tasks finish. Rows carry a stable
    ``row_id`` (hash of sample, target, method label, setting and the
    run-level keys that change results); a second run of the same
    configuration skips every row already present, so runs resume after a
    crash and extend when methods or sweep values are added.
``errors.jsonl``
    One line per failed sample (the sample reruns next time).
``config.json``
    The normalised configuration of the latest run.
``summary.csv`` / ``summary.md``
    One line per method setting (:func:`summarize_rows`).
``plots/``
    Deletion and insertion curves, flip-size histograms, metric vs swept
    parameter (:mod:`whytoken.experiments.harness.plots`).

Models
------
``model`` names anything :func:`whytoken.adapters.load_model` accepts, or
``toy``: :class:`ToyModel`, a deterministic numpy stand-in (no torch) whose
token is carried by the summed *importance* of its context, used by the
tests and for trying a configuration quickly.

Examples
--------
>>> import tempfile
>>> config = ExperimentConfig.from_dict({
...     "name": "doc", "model": "toy", "dataset": {"kind": "prompts", "name": "smollm2_50", "n": 2},
...     "methods": ["attention", "random"], "max_k": 3, "metrics": ["flip", "deletion"]})
>>> with tempfile.TemporaryDirectory() as out:
...     summary = run_experiment(config, out, write_report=False)
...     again = run_experiment(config, out, write_report=False)
>>> summary.n_new_rows, again.n_new_rows, summary.n_errors
(4, 0, 0)
"""

from whytoken.experiments.harness.config import ExperimentConfig, load_config
from whytoken.experiments.harness.results import ROW_SCHEMA, VOLATILE_FIELDS, read_rows, row_id
from whytoken.experiments.harness.runner import RunSummary, run_experiment
from whytoken.experiments.harness.summary import (
    SUMMARY_COLUMNS, format_cell, paired_comparison, paired_markdown, summarize_rows, summary_markdown,
    write_summary,
)
from whytoken.experiments.harness.sweeps import expand_settings
from whytoken.experiments.harness.targets import select_targets
from whytoken.experiments.harness.tasks import SampleTask, TaskResult, load_model_for, run_sample
from whytoken.experiments.harness.toy_model import ToyModel

__all__ = [
    "ROW_SCHEMA",
    "VOLATILE_FIELDS",
    "ExperimentConfig",
    "load_config",
    "RunSummary",
    "SampleTask",
    "TaskResult",
    "ToyModel",
    "run_experiment",
    "run_sample",
    "load_model_for",
    "select_targets",
    "expand_settings",
    "row_id",
    "read_rows",
    "summarize_rows",
    "summary_markdown",
    "write_summary",
    "SUMMARY_COLUMNS",
    "format_cell",
    "paired_comparison",
    "paired_markdown",
]
