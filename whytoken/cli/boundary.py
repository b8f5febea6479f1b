"""The CLI's error boundary and output helpers: consoles, progress bars, thread settings.

Every command body runs inside :func:`errors`: an exception that reaches it prints one red
line and the fix on stderr and exits 2 for a :class:`~whytoken.errors.WhytokenError`
(``--debug`` adds the traceback).
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any, Iterator

import typer
from rich.console import Console
from rich.markup import escape as _rich_escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from whytoken.errors import WhytokenError

__all__ = ["state", "out_console", "err_console", "errors", "escape", "progress", "set_threads", "configure"]

#: Settings of the root command (``--debug``, ``--threads``) for the subcommands.
state: dict[str, Any] = {"debug": False, "threads": None}
out_console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


def configure(debug: bool, threads: int | None) -> None:
    """Record the root options and set up logging (DEBUG with ``--debug``, else WARNING)."""
    state["debug"] = debug
    state["threads"] = threads
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")


@contextlib.contextmanager
def errors() -> Iterator[None]:
    """Turn WhytokenError into one red line and exit code 2 (the traceback only with --debug)."""
    try:
        yield
    except WhytokenError as err:
        if state.get("debug"):
            err_console.print_exception()
        # soft_wrap: the message stays one line however narrow the terminal is
        err_console.print(f"[bold red]error:[/] [red]{escape(str(err))}[/]", soft_wrap=True)
        err_console.print(f"[dim]({type(err).__name__}; run with --debug for the traceback)[/]", soft_wrap=True)
        raise typer.Exit(code=2) from None


def escape(text: str) -> str:
    """``text`` with rich markup escaped."""
    return _rich_escape(text)


def progress() -> Progress:
    """The progress display of long commands (on stderr)."""
    return Progress(SpinnerColumn(), TextColumn("[progress.description]{task.description}"), BarColumn(),
                    MofNCompleteColumn(), TimeElapsedColumn(), console=err_console, transient=False)


def set_threads() -> None:
    """Apply ``--threads`` to torch (imported only then)."""
    if state.get("threads"):
        import torch

        torch.set_num_threads(int(state["threads"]))
