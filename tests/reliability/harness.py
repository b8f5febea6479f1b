"""Running a bad input and classifying what happened.

A *case* is one kind of bad input tried as a user would: a function of a :class:`Kit` that
performs the bad call (library or command line). :func:`check` runs it under a timeout and
classifies the outcome:

=============  ===============================================================================
``clean``      the expected :class:`~whytoken.errors.WhytokenError` subclass, its message names
               the bad value(s) (and, for the CLI: exit code = the error's ``exit_code``, one
               ``error:`` line, no traceback)
``wrong``      a package error, but of another class than expected
``unnamed``    the expected class, but the message does not name the bad value
``foreign``    an exception outside the package's hierarchy (or a CLI traceback / exit 1)
``silent``     no error at all
``hang``       still running after the timeout
=============  ===============================================================================

The same table runs under pytest (tests/reliability/test_bad_inputs.py) and as the figure
of benchmarks/reliability.py.
"""

from __future__ import annotations

import contextlib
import functools
import re
import signal
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import whytoken.errors as errors_module
from whytoken.errors import WhytokenError

__all__ = ["Case", "CASES", "bad_input", "Kit", "CliResult", "Outcome", "check", "OUTCOMES"]

OUTCOMES = ("clean", "wrong", "unnamed", "foreign", "silent", "hang")


@dataclass(frozen=True)
class Case:
    """One kind of bad input."""

    id: str
    area: str
    run: Callable[["Kit"], Any]
    error: type[WhytokenError]
    names: tuple[str, ...]
    owner: str | None = None  # another engineer's pending fix: reported, expected to fail until then
    description: str = ""


CASES: list[Case] = []


def bad_input(area: str, error: type[WhytokenError], *names: str, owner: str | None = None
              ) -> Callable[[Callable[["Kit"], Any]], Callable[["Kit"], Any]]:
    """Register ``function(kit)`` as a case expecting ``error`` with a message containing ``names``."""

    def register(function: Callable[["Kit"], Any]) -> Callable[["Kit"], Any]:
        case_id = function.__name__.removeprefix("case_").replace("_", "-")
        if any(c.id == case_id for c in CASES):
            raise ValueError(f"duplicate bad-input case {case_id!r}")
        CASES.append(Case(case_id, area, function, error, tuple(names), owner,
                          (function.__doc__ or "").strip().splitlines()[0] if function.__doc__ else ""))
        return function

    return register


@dataclass
class CliResult:
    """What ``whytoken ...`` printed and returned."""

    exit_code: int
    output: str


@dataclass
class Kit:
    """What cases need: a scratch directory and tiny models built once."""

    tmp: Path
    _cache: dict[str, Any] = field(default_factory=dict)

    def cached(self, key: str, build: Callable[[], Any]) -> Any:
        if key not in self._cache:
            self._cache[key] = build()
        return self._cache[key]

    def path(self, name: str) -> Path:
        """A fresh path in the scratch directory (parents created)."""
        path = self.tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def cli(self, *args: str) -> CliResult:
        from typer.testing import CliRunner

        from whytoken.cli import app

        result = CliRunner().invoke(app, [str(a) for a in args])
        output = result.output
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            output += "\nTraceback (escaped the CLI):\n" + "".join(
                traceback.format_exception(type(result.exception), result.exception, result.exception.__traceback__))
        return CliResult(result.exit_code, output)


@dataclass(frozen=True)
class Outcome:
    kind: str
    detail: str = ""


class _Hang(BaseException):
    """Raised by the alarm; a BaseException so that ``except Exception`` in the code under test cannot eat it."""


@contextlib.contextmanager
def _alarm(seconds: float) -> Iterator[None]:
    def ring(signum: int, frame: Any) -> None:
        raise _Hang()

    previous = signal.signal(signal.SIGALRM, ring)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _cli_outcome(case: Case, result: CliResult) -> Outcome:
    if result.exit_code == 0:
        return Outcome("silent", f"exit code 0: {result.output[-300:]!r}")
    if "Traceback" in result.output:
        return Outcome("foreign", result.output[-600:])
    lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    kinds = re.findall(r"^\((\w+)(?: from \w+)?;", result.output, flags=re.M)
    if len(lines) != 1 or not kinds:
        return Outcome("foreign", f"expected one 'error:' line and its class, got {result.output[-400:]!r}")
    cls = getattr(errors_module, kinds[0], None)
    if not (isinstance(cls, type) and issubclass(cls, WhytokenError)):
        return Outcome("foreign", f"class {kinds[0]!r}: {lines[0]}")
    if not issubclass(cls, case.error):
        return Outcome("wrong", f"{kinds[0]} (expected {case.error.__name__}): {lines[0]}")
    if result.exit_code != cls.exit_code:
        return Outcome("wrong", f"exit code {result.exit_code}, expected {cls.exit_code}: {lines[0]}")
    missing = [n for n in case.names if n not in lines[0]]
    if missing:
        return Outcome("unnamed", f"{missing} not in {lines[0]!r}")
    return Outcome("clean", lines[0])


def check(case: Case, kit: Kit, timeout: float = 120.0) -> Outcome:
    """Run one case and classify it (see the module docstring)."""
    try:
        with _alarm(timeout):
            result = case.run(kit)
    except _Hang:
        return Outcome("hang", f"still running after {timeout:.0f} s")
    except WhytokenError as err:
        if not isinstance(err, case.error):
            return Outcome("wrong", f"{type(err).__name__} (expected {case.error.__name__}): {err}")
        message = str(err)
        missing = [n for n in case.names if n not in message]
        if missing:
            return Outcome("unnamed", f"{missing} not in {message!r}")
        return Outcome("clean", f"{type(err).__name__}: {message}")
    except Exception as err:  # noqa: BLE001 -- what we are looking for
        return Outcome("foreign", f"{type(err).__module__}.{type(err).__name__}: {err}")
    if isinstance(result, CliResult):
        return _cli_outcome(case, result)
    return Outcome("silent", f"returned {result!r}"[:300])


@functools.lru_cache(maxsize=None)
def load_cases() -> tuple[Case, ...]:
    """Every registered case (importing the case modules registers them)."""
    from tests.reliability import cases_adapters, cases_cli, cases_core, cases_experiments  # noqa: F401

    return tuple(CASES)
