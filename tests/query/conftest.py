"""Fixtures for the query tests (builders in fakes.py, shared with the CLI and report tests)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest


def load_fakes():
    """Import tests/query/fakes.py by path (the test folders are not packages)."""
    name = "whytoken_test_fakes"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).resolve().parent / "fakes.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


fakes = load_fakes()


@pytest.fixture
def two_causes_trace():
    """Two identical heads whose target attends to 3 (strongly) and 7, and a third attending to 5."""
    return fakes.make_trace([{3: 0.5, 7: 0.4, 0: 0.1}, {3: 0.5, 7: 0.4, 0: 0.1}, {5: 0.9, 0: 0.1}])


@pytest.fixture
def kit():
    """The builders above, for tests that need their own traces and models."""
    return SimpleNamespace(TARGET=fakes.TARGET, FakeModel=fakes.FakeModel, make_trace=fakes.make_trace,
                           intersects=fakes.intersects, contains_all=fakes.contains_all)
