"""Running an experiment: load the dataset, skip what is done, run the tasks, append the rows, summarise.

:func:`run_experiment` reads an :class:`~whytoken.experiments.harness.config.ExperimentConfig`,
loads its dataset, cuts it into one :class:`~whytoken.experiments.harness.tasks.SampleTask`
per sample not yet complete in the results log, runs the tasks on the
configured executor (:mod:`whytoken.experiments.harness.executors`), appends
their rows to ``results.jsonl`` and their errors to ``errors.jsonl`` as they
finish, and writes the summary and plots.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from whytoken.experiments.harness.config import ExperimentConfig, load_config
from whytoken.experiments.harness.datasets import load_dataset
from whytoken.experiments.harness.executors import TaskFailure, get_executor
from whytoken.experiments.harness.results import _expected_complete, append_rows, read_rows, repair_log
from whytoken.experiments.harness.summary import write_summary
from whytoken.experiments.harness.tasks import SampleTask, TaskResult, run_sample
from whytoken.files import atomic_write_text, ensure_directory

__all__ = ["RunSummary", "run_experiment"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunSummary:
    """What :func:`run_experiment` did.

    Attributes
    ----------
    output : Path
        The output folder.
    n_samples, n_skipped_samples : int
        Samples in the dataset, and those whose rows were all present already.
    n_new_rows, n_rows : int
        Rows written by this run, and rows in ``results.jsonl`` now.
    n_errors : int
        Samples that failed in this run, wholly or for some methods (see ``errors.jsonl``; they rerun next time).
    seconds : float
        Wall time.
    files : tuple of Path
        Summary and plot files written.
    """

    output: Path
    n_samples: int
    n_skipped_samples: int
    n_new_rows: int
    n_rows: int
    n_errors: int
    seconds: float
    files: tuple[Path, ...] = ()


def run_experiment(
    config: ExperimentConfig | str | os.PathLike[str],
    output: str | os.PathLike[str] | None = None,
    *,
    executor: Mapping[str, Any] | str | None = None,
    progress: Callable[[int, int, str], None] | None = None,
    fail_fast: bool = False,
    limit: int | None = None,
    write_report: bool = True,
) -> RunSummary:
    """Run (or resume) an experiment and write its results, summary and plots.

    Parameters
    ----------
    config : ExperimentConfig or path
        The configuration (a path is read with :func:`load_config`).
    output : path, optional
        Output folder (default: :meth:`ExperimentConfig.output_dir`).
    executor : mapping or str, optional
        Overrides the configuration's executor.
    progress : callable, optional
        ``progress(done, total, sample_id)`` after each sample.
    fail_fast : bool
        Re-raise the first sample error instead of recording it.
    limit : int, optional
        Run only the first ``limit`` samples.
    write_report : bool
        Write ``summary.csv``, ``summary.md`` and the plots.
    """
    start = time.perf_counter()
    if not isinstance(config, ExperimentConfig):
        config = load_config(config)
    if executor is not None:
        config = config.replace(executor={"name": executor} if isinstance(executor, str) else dict(executor))
    out = ensure_directory(config.output_dir(output), what="experiment output folder")
    atomic_write_text(out / "config.json", json.dumps(config.to_dict(), indent=2, default=str) + "\n",
                      what="run configuration")
    results_path, errors_path = out / "results.jsonl", out / "errors.jsonl"
    repair_log(results_path)
    repair_log(errors_path)
    existing = read_rows(results_path)
    present = {r["row_id"] for r in existing if "row_id" in r}
    by_sample: dict[str, list[dict]] = {}
    for r in existing:
        by_sample.setdefault(r.get("sample_id"), []).append(r)

    base_dir = Path(config.source).parent if config.source else None
    samples = load_dataset(dict(config.dataset), base_dir)
    if limit is not None:
        samples = samples[: int(limit)]
    tasks, skipped = [], 0
    for sample in samples:
        previous = [r for r in by_sample.get(sample.sample_id, []) if r["row_id"] in present]
        if _expected_complete(config, sample, previous, present):
            skipped += 1
            continue
        tasks.append(SampleTask(config, sample, frozenset(r["row_id"] for r in previous), fail_fast))
    logger.info("%s: %d samples, %d complete already, %d to run", config.name, len(samples), skipped, len(tasks))

    n_new, n_errors, done = 0, 0, 0
    if progress is not None:
        progress(0, len(tasks), "")
    if tasks:
        runner = get_executor(dict(config.executor))
        try:
            for index, result in runner.map_unordered(run_sample, tasks):
                if isinstance(result, TaskFailure):  # the worker died: the sample is redone next run
                    sample_id = tasks[index].sample.sample_id
                    result = TaskResult(sample_id, (), error={"sample_id": sample_id, "type": result.type,
                                                              "message": result.message, "config": config.name})
                new = []
                for row in result.rows:
                    if row["row_id"] in present:
                        continue
                    row["executor"] = runner.describe()
                    new.append(row)
                    present.add(row["row_id"])
                append_rows(results_path, new)  # a sample's rows: all or nothing
                n_new += len(new)
                if result.error is not None or result.row_errors:
                    n_errors += 1
                    append_rows(errors_path, ((result.error,) if result.error is not None else ()) + result.row_errors,
                                allow_nan=True)
                done += 1
                if progress is not None:
                    progress(done, len(tasks), result.sample_id)
        finally:
            runner.close()
    files: tuple[Path, ...] = ()
    rows = read_rows(results_path)
    if write_report and rows:
        files = write_summary(rows, out, max_k=config.max_k)
    return RunSummary(out, len(samples), skipped, n_new, len(rows), n_errors, time.perf_counter() - start, files)
