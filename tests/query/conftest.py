"""Fixtures for the query tests (builders in fakes.py, shared with the CLI and report tests)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tests.query import fakes


@pytest.fixture
def two_causes_trace():
    """Two identical heads whose target attends to 3 (strongly) and 7, and a third attending to 5."""
    return fakes.make_trace([{3: 0.5, 7: 0.4, 0: 0.1}, {3: 0.5, 7: 0.4, 0: 0.1}, {5: 0.9, 0: 0.1}])


@pytest.fixture
def kit():
    """The builders above, for tests that need their own traces and models."""
    return SimpleNamespace(TARGET=fakes.TARGET, FakeModel=fakes.FakeModel, make_trace=fakes.make_trace,
                           intersects=fakes.intersects, contains_all=fakes.contains_all)
