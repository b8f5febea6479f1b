"""The ``whytoken`` command line.

Commands
--------
``whytoken demo [--out DIR]``
    Explain the embedded synthetic LLaVA's answer to a built-in scene and
    question; writes ``explanation.json``, ``graph.json``, ``graph.graphml``
    and ``report.html`` into DIR.
``whytoken explain --model M (--prompt TEXT [--image PATH] | --trace PATH) --out DIR``
    The same for any supported checkpoint directory or short name
    (``smollm2-135m-instruct``, ``whytoken-demo``), or for a saved trace.
``whytoken trace --model M --prompt TEXT [--image PATH] --out DIR``
    Save a trace (tokens, generated text, attention) to explain later.
``whytoken graph export FILE --format json|graphml|dot``
    Convert a saved graph (or the graph of a saved explanation).
``whytoken learners``
    List the registries: learners, criteria, graph formats, interventions, models.
``whytoken serve [--model M] [--port P] [--open DIR]``
    The interactive viewer on localhost (:mod:`whytoken.viewer`).
``whytoken experiment ...``
    Faithfulness experiments against attribution baselines (see
    :mod:`whytoken.experiments.cli`).

One module per command (group): :mod:`~whytoken.cli.demo`, :mod:`~whytoken.cli.explain`,
:mod:`~whytoken.cli.trace`, :mod:`~whytoken.cli.graph`, :mod:`~whytoken.cli.learners`; the
steps they share are in :mod:`~whytoken.cli.pipeline` and :mod:`~whytoken.cli.options`, the
result panel in :mod:`~whytoken.cli.panel`, and the error boundary and consoles in
:mod:`~whytoken.cli.boundary`. A new command is a function in its own module registered
below with ``app.command(name)(function)``.

Every failure prints as one red line with the fix; the exit code is 2 for bad input, 1 for an
internal error and 130 after Ctrl-C (:mod:`~whytoken.cli.boundary`); ``--debug`` shows the
traceback.

Examples
--------
>>> from typer.testing import CliRunner
>>> result = CliRunner().invoke(app, ["learners"])
>>> result.exit_code, "ordered-icd" in result.output or "fci" in result.output
(0, True)
"""

from __future__ import annotations

import os
import sys
from typing import Optional

import typer

from whytoken.cli.boundary import BoundaryGroup, configure, handle_termination
from whytoken.cli.demo import DEMO_EXPLAIN, DEMO_KIND, DEMO_SEED, demo
from whytoken.cli.explain import explain_command
from whytoken.cli.graph import graph_app
from whytoken.cli.learners import learners_command
from whytoken.cli.pipeline import write_outputs
from whytoken.cli.serve import serve_command
from whytoken.cli.trace import trace_command
from whytoken.experiments.harness.cli import app as experiment_app

__all__ = ["app", "main", "DEMO_SEED", "DEMO_KIND", "DEMO_EXPLAIN", "write_outputs"]

app = typer.Typer(
    name="whytoken",
    help="Why was this token generated? Minimal, verified explanations from attention-based causal graphs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    cls=BoundaryGroup,
)


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks and debug logging."),
    threads: Optional[int] = typer.Option(None, "--threads", min=1,
                                          help="Torch CPU threads (default: torch's own choice)."),
) -> None:
    configure(debug, threads)


app.command("demo")(demo)
app.command("explain")(explain_command)
app.command("trace")(trace_command)
app.add_typer(graph_app, name="graph")
app.command("learners")(learners_command)
app.command("serve")(serve_command)
app.add_typer(experiment_app, name="experiment")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``whytoken`` console script; returns the exit code."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    handle_termination()
    try:
        app(args=argv, prog_name="whytoken", standalone_mode=True)
    except SystemExit as exit_:
        code = exit_.code
        return int(code) if isinstance(code, int) else (0 if code is None else 1)
    return 0
