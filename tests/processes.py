"""Helpers for tests that start and signal child processes."""

from __future__ import annotations

import signal

__all__ = ["default_sigint"]


def default_sigint() -> None:
    """In the child: SIGINT back to its default, so that Python turns it into KeyboardInterrupt.

    A test run started in the background of a non-interactive shell inherits SIGINT *ignored*, and Python
    keeps an ignored SIGINT ignored: Ctrl-C would then never reach the process under test.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)
