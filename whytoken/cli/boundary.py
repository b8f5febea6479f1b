"""The CLI's one error boundary, and its output helpers: consoles, progress bars, thread settings.

Whatever goes wrong, the user sees one red line that says what was wrong and how to fix
it, and the process exits with a code that says whose problem it is:

==========  ==================================================================================
exit code   meaning
==========  ==================================================================================
0           success
2           bad input or a fixable environment: every :class:`~whytoken.errors.WhytokenError`
            (unknown model, bad flag value, unreadable image, full disk, read-only directory)
1           an internal error: an exception of another type, wrapped as
            :class:`~whytoken.errors.InternalError` with what was being done and a request
            for a bug report
130         interrupted (Ctrl-C); files already written are complete (writes are atomic)
143         terminated (SIGTERM, e.g. a job scheduler): handled like Ctrl-C, so clean-up runs
==========  ==================================================================================

The boundary is installed on the root command group (:class:`BoundaryGroup`), so it also
covers subcommand groups (``whytoken graph``, ``whytoken experiment``) that do not set up
their own. Operating-system errors that escape a writer are still put in user terms (a full
disk, a permission problem: exit 2). ``--debug`` prints the traceback as well.

Commands say what they are doing with :func:`doing`, so that an unexpected failure names the
step ("while loading the model 'x'", "while writing the outputs to 'out'").

Examples
--------
>>> from whytoken.cli.boundary import as_package_error
>>> err = as_package_error(KeyError("k"), "reading the config")
>>> type(err).__name__, err.exit_code
('InternalError', 1)
>>> print(err)
internal error while reading the config: KeyError: 'k'; this is a bug in whytoken or a dependency: please report \
it with the command and the output of `whytoken --debug ...`
"""

from __future__ import annotations

import contextlib
import errno
import logging
import signal
from typing import Any, Iterator

import click
import typer
from rich.console import Console
from rich.markup import escape as _rich_escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from typer.core import TyperGroup

from whytoken.errors import CheckpointError, InternalError, WhytokenError
from whytoken.files import output_error

__all__ = ["state", "out_console", "err_console", "errors", "fail", "doing", "as_package_error", "BoundaryGroup",
           "escape", "progress", "set_threads", "configure", "INTERRUPTED", "TERMINATED", "Terminated",
           "handle_termination"]

#: Exit code after Ctrl-C (128 + SIGINT, the shell convention).
INTERRUPTED = 130
#: Exit code after SIGTERM (128 + SIGTERM).
TERMINATED = 143


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the process is, so that ``finally`` blocks and atomic writes clean up."""


def handle_termination() -> None:
    """Make SIGTERM raise :class:`Terminated` (the default would end the process mid-write).

    Called by the ``whytoken`` entry point (main thread only; elsewhere it does nothing).
    """
    def terminate(signum: int, frame: Any) -> None:
        raise Terminated()

    try:
        signal.signal(signal.SIGTERM, terminate)
    except ValueError:  # not the main thread
        pass

#: Settings of the root command (``--debug``, ``--threads``) and the current step, for the subcommands.
state: dict[str, Any] = {"debug": False, "threads": None, "doing": None, "failed_in": None}
out_console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

logger = logging.getLogger(__name__)

#: typer's and click's own exits and usage errors, which print and exit by themselves.
#: (typer >= 0.23 vendors click: its usage errors derive from TyperException, not click's classes.)
_PASS_THROUGH = tuple({typer.Exit, typer.Abort, getattr(typer.exceptions, "TyperException", typer.Exit),
                       click.exceptions.Exit, click.exceptions.Abort, click.ClickException})

_USER_OS_ERRORS = {errno.ENOSPC, errno.EFBIG, errno.EACCES, errno.EPERM, errno.EROFS, errno.EISDIR,
                   errno.ENOTDIR, errno.EEXIST, getattr(errno, "EDQUOT", errno.ENOSPC)}


def configure(debug: bool, threads: int | None) -> None:
    """Record the root options and set up logging (DEBUG with ``--debug``, else WARNING)."""
    state["debug"] = debug
    state["threads"] = threads
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")


@contextlib.contextmanager
def doing(what: str) -> Iterator[None]:
    """Name the current step for error messages (``"loading the model 'x'"``); nests."""
    previous = state.get("doing")
    state["doing"] = what
    try:
        yield
    except BaseException:
        if state.get("failed_in") is None:  # the innermost step names the failure
            state["failed_in"] = what
        raise
    finally:
        state["doing"] = previous


def as_package_error(err: BaseException, what: str | None = None) -> WhytokenError:
    """``err`` in the package's hierarchy: WhytokenErrors as they are, others wrapped.

    Operating-system errors a user can fix (full disk, permissions, a file where a directory
    is expected) become :class:`~whytoken.errors.OutputError`, a missing file a
    :class:`~whytoken.errors.CheckpointError`; anything else an
    :class:`~whytoken.errors.InternalError` naming the step, the type and the message.
    """
    if isinstance(err, WhytokenError):
        return err
    step = f" while {what}" if what else ""
    if isinstance(err, OSError) and err.errno in _USER_OS_ERRORS:
        return output_error(err, err.filename or "?", "file" + step)
    if isinstance(err, FileNotFoundError):
        return CheckpointError(f"file {err.filename!r} does not exist{step}; check the path")
    if isinstance(err, MemoryError):
        return InternalError(f"out of memory{step}; use a shorter prompt, fewer layers (--layers), fewer heads "
                             "(--heads) or fewer nodes (--max-nodes)")
    return InternalError(f"internal error{step}: {type(err).__name__}: {err}; this is a bug in whytoken or a "
                         "dependency: please report it with the command and the output of `whytoken --debug ...`")


def _report(err: WhytokenError, original: BaseException) -> None:
    if state.get("debug"):
        err_console.print_exception()
    # soft_wrap: the message stays one line however narrow the terminal is
    err_console.print(f"[bold red]error:[/] [red]{escape(str(err))}[/]", soft_wrap=True)
    kind = type(err).__name__ if err is original else f"{type(err).__name__} from {type(original).__name__}"
    err_console.print(f"[dim]({kind}; run with --debug for the traceback)[/]", soft_wrap=True)


def fail(err: BaseException) -> None:
    """Report ``err`` as the boundary does (one line, the class, the fix) and exit with its code.

    For command groups that catch errors themselves (``whytoken experiment``), so that every
    command reports the same way.
    """
    package_error = as_package_error(err, state.get("failed_in") or state.get("doing"))
    _report(package_error, err)
    raise typer.Exit(code=package_error.exit_code)


@contextlib.contextmanager
def errors() -> Iterator[None]:
    """The error boundary: one red line, the exit code of the table above, the traceback only with --debug."""
    try:
        yield
    except _PASS_THROUGH:
        raise  # typer/click's own exits and usage errors: they print and exit themselves
    except KeyboardInterrupt as stop:
        what = "terminated" if isinstance(stop, Terminated) else "interrupted"
        err_console.print(f"[bold red]{what}[/] [dim](files already written are complete)[/]")
        raise typer.Exit(code=TERMINATED if isinstance(stop, Terminated) else INTERRUPTED) from None
    except Exception as original:  # noqa: BLE001 -- the boundary: nothing passes it unexplained
        err = as_package_error(original, state.get("failed_in") or state.get("doing"))
        _report(err, original)
        raise typer.Exit(code=err.exit_code) from None
    finally:
        state["failed_in"] = None


class BoundaryGroup(TyperGroup):
    """The root command group: every subcommand runs inside :func:`errors`."""

    def invoke(self, ctx: Any) -> Any:
        with errors():
            return super().invoke(ctx)


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
