"""The ``experiment`` command group: run faithfulness experiments from a configuration file.

Mounted by the main CLI as ``whytoken experiment``:

``whytoken experiment run CONFIG [--out DIR] [--executor local|ray] [--address ADDR] [--workers N] [--limit N]``
    Run (or resume) the experiment a YAML/TOML configuration describes; writes
    ``results.jsonl``, ``summary.csv``, ``summary.md`` and ``plots/`` (see
    :mod:`whytoken.experiments.harness`). Rows already in ``results.jsonl``
    are skipped, so an interrupted run continues where it stopped.
``whytoken experiment summarize DIR``
    Rebuild the summary and plots of an output folder from its ``results.jsonl``.
``whytoken experiment check CONFIG``
    Validate a configuration and list the method settings it expands to.
``whytoken experiment list``
    The registries: attribution methods, dataset kinds, executors, metrics.

Configuration errors print as one red line naming the key, the value, what
was expected and the fix, and exit with code 2.

Examples
--------
>>> from typer.testing import CliRunner
>>> result = CliRunner().invoke(app, ["list"])
>>> result.exit_code, "grad-x-input" in result.output
(0, True)
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from whytoken.errors import WhytokenError

__all__ = ["app"]

logger = logging.getLogger(__name__)

app = typer.Typer(
    name="experiment",
    help="Faithfulness experiments: compare whytoken with attribution baselines on a dataset.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
_console = Console(highlight=False)
_errors = Console(stderr=True, highlight=False)


def _fail(err: Exception) -> None:
    from whytoken.cli.boundary import fail  # the CLI's one way of reporting errors (imported late: no cycle)

    fail(err)


@app.command("run")
def run(
    config: Path = typer.Argument(..., help="YAML or TOML experiment configuration."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Output folder (default: the config's output)."),
    executor: Optional[str] = typer.Option(None, "--executor", "-e", help="local or ray (overrides the config)."),
    address: Optional[str] = typer.Option(None, "--address", help="Ray cluster address (implies --executor ray)."),
    workers: Optional[int] = typer.Option(None, "--workers", "-w", help="Local worker processes (1: inline)."),
    limit: Optional[int] = typer.Option(None, "--limit", help="Only the first N samples."),
    fail_fast: bool = typer.Option(False, "--fail-fast", help="Stop at the first failing sample."),
    report: bool = typer.Option(True, "--report/--no-report", help="Write summary.csv, summary.md and plots."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Run or resume an experiment; print the summary table."""
    from whytoken.experiments.harness.config import load_config
    from whytoken.experiments.harness.results import read_rows
    from whytoken.experiments.harness.runner import run_experiment
    from whytoken.experiments.harness.summary import summarize_rows

    try:
        cfg = load_config(config)
        executor_spec = dict(cfg.executor)
        if address is not None:  # keep a ray executor's own options (max_in_flight, cpus_per_task, ...)
            executor_spec = {**(executor_spec if executor_spec.get("name") == "ray" else {"name": "ray"}),
                             "address": address}
        elif executor is not None and executor != executor_spec.get("name"):
            executor_spec = {"name": executor}
        if workers is not None:
            if executor_spec.get("name") != "local":
                raise typer.BadParameter("--workers applies to the local executor only", param_hint="--workers")
            executor_spec["workers"] = workers
        cfg = cfg.replace(executor=executor_spec)
        with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[sample]}"),
                      console=_console, disable=quiet, transient=False) as progress:
            task = progress.add_task(cfg.name, total=None, sample="")

            def on_progress(done: int, total: int, sample_id: str) -> None:
                progress.update(task, completed=done, total=total, sample=sample_id)

            summary = run_experiment(cfg, out, progress=on_progress, fail_fast=fail_fast, limit=limit,
                                     write_report=report)
    except WhytokenError as err:
        _fail(err)
        return
    lines = summarize_rows(read_rows(summary.output), cfg.max_k)
    _print_table(lines, cfg.max_k, Path(summary.output) / "summary.md")
    _console.print(f"{summary.n_new_rows} new rows ({summary.n_rows} in all, {summary.n_skipped_samples} of "
                   f"{summary.n_samples} samples already complete) in {summary.seconds:.1f} s -> {summary.output}",
                   soft_wrap=True)
    if summary.n_errors:
        _errors.print(f"[yellow]{summary.n_errors} sample(s) failed; see {summary.output / 'errors.jsonl'} "
                      "(they rerun next time)[/]")
        raise typer.Exit(code=1)


@app.command("summarize")
def summarize(folder: Path = typer.Argument(..., help="An experiment output folder (holding results.jsonl)."),
              plots: bool = typer.Option(True, "--plots/--no-plots", help="Also redraw the plots.")) -> None:
    """Rebuild summary.csv, summary.md and plots from results.jsonl."""
    from whytoken.errors import CheckpointError
    from whytoken.experiments.harness.results import read_rows
    from whytoken.experiments.harness.summary import summarize_rows, write_summary

    try:
        rows = read_rows(folder)
        if not rows:
            raise CheckpointError(f"{str(folder)!r} holds no results.jsonl rows; expected an experiment output "
                                  "folder; fix: pass the folder written by `whytoken experiment run`")
        k = rows[0].get("max_k")
        files = write_summary(rows, folder, max_k=k, plots=plots)
    except WhytokenError as err:
        _fail(err)
        return
    _print_table(summarize_rows(rows, k), k, Path(folder) / "summary.md")
    _console.print("wrote " + ", ".join(str(f) for f in files), soft_wrap=True)


@app.command("check")
def check(config: Path = typer.Argument(..., help="YAML or TOML experiment configuration.")) -> None:
    """Validate a configuration and list its method settings."""
    from whytoken.experiments.harness.config import load_config

    try:
        cfg = load_config(config)
        settings = cfg.settings()
    except WhytokenError as err:
        _fail(err)
        return
    table = Table(title=f"{cfg.name}: {len(settings)} method settings")
    for column in ("label", "method", "parameters", "intervention", "criterion"):
        table.add_column(column)
    for s in settings:
        table.add_row(s.label, s.method, ", ".join(f"{k}={v}" for k, v in s.params.items()), s.intervention,
                      s.criterion)
    _console.print(table)
    _console.print(f"model {dict(cfg.model)}, dataset {dict(cfg.dataset)}, executor {dict(cfg.executor)}, "
                   f"output {cfg.output_dir()}")


@app.command("list")
def list_registries() -> None:
    """List attribution methods, dataset kinds, executors and metrics."""
    from whytoken.experiments.baselines import baseline_class, list_baselines
    from whytoken.experiments.harness.config import KNOWN_METRICS
    from whytoken.experiments.harness.datasets import list_datasets
    from whytoken.experiments.harness.executors import list_executors

    table = Table(title="attribution methods")
    table.add_column("name")
    table.add_column("needs model")
    table.add_column("parameters (defaults)")
    for name in list_baselines():
        cls = baseline_class(name)
        table.add_row(name, "yes" if cls.needs_model else "no",
                      ", ".join(f"{k}={v}" for k, v in cls.defaults.items()))
    _console.print(table)
    _console.print(f"dataset kinds: {', '.join(list_datasets())}")
    _console.print(f"executors: {', '.join(list_executors())}")
    _console.print(f"metrics: {', '.join(KNOWN_METRICS)}")


#: Summary columns by how much a reader needs them: a narrow terminal shows the first that fit.
_COLUMN_PRIORITY = ("label", "n", "flip_rate", "flip_mean", "explained_rate", "set_precision", "gt_precision",
                    "deletion_auc", "forward_passes", "set_size", "flip_mean_capped", "gt_recall", "set_recall",
                    "insertion_auc", "flip_median", "exhaustive_passes", "seconds", "setting")


def _print_table(lines: list, max_k: int | None, full: Path | None = None) -> None:
    """The summary table, as wide as the terminal allows.

    Columns are added in :data:`_COLUMN_PRIORITY` order while the table's natural width still
    fits the console (labels wrap within 24 characters, numbers never wrap); the columns left out are named,
    with the file that holds the full table (``full``: summary.md of the run).
    """
    from rich.measure import Measurement

    from whytoken.experiments.harness.summary import SUMMARY_COLUMNS, format_cell

    if not lines:
        return
    columns = [c for c in SUMMARY_COLUMNS if any(line.get(c) not in (None, "") for line in lines)]
    short = {"label": "method", "flip_rate": f"flip\n<={max_k}", "flip_mean": "flip\nmean", "flip_median": "flip\nmed",
             "flip_mean_capped": "flip\ncapped", "deletion_auc": "del\nAUC", "insertion_auc": "ins\nAUC",
             "gt_precision": "GT\nP", "gt_recall": "GT\nR", "set_precision": "set\nP", "set_recall": "set\nR",
             "explained_rate": "expl-\nained", "set_size": "set\nsize", "forward_passes": "fwd\npasses",
             "exhaustive_passes": "exhaus-\ntive", "seconds": "s"}

    def build(chosen: list[str]) -> Table:
        table = Table(title=f"summary (K = {max_k})")
        for c in chosen:
            if c in ("label", "setting"):  # text: wraps within at most 24 / 36 characters
                table.add_column(short.get(c, c), overflow="fold", max_width=24 if c == "label" else 36)
            else:
                table.add_column(short.get(c, c), no_wrap=True, justify="right")
        for line in lines:
            table.add_row(*(format_cell(line.get(c)) for c in chosen))
        return table

    order = [c for c in _COLUMN_PRIORITY if c in columns] + [c for c in columns if c not in _COLUMN_PRIORITY]
    chosen: list[str] = []
    for c in order:
        trial = [x for x in columns if x in chosen or x == c]
        if not chosen or Measurement.get(_console, _console.options.update_width(10 ** 5), build(trial)).maximum <= _console.width:
            chosen = trial
    _console.print(build(chosen))
    left_out = [short.get(c, c).replace("-\n", "").replace("\n", " ") for c in columns if c not in chosen]
    if left_out:
        where = f"the full table is in {full}" if full is not None and full.exists() else \
            "widen the terminal or run `whytoken experiment summarize DIR` to write summary.md"
        _console.print(f"[dim]{len(left_out)} column(s) left out to fit {_console.width} columns "
                       f"({', '.join(left_out)}); {where}[/]")
