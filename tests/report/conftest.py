"""Fixtures for the report tests: explanations of the fake traces in tests/query/fakes.py."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from whytoken.query import explain


def _fakes():
    name = "whytoken_test_fakes"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).resolve().parents[1] / "query" / "fakes.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.fixture(scope="module")
def image_explanation():
    """Patch (0, 1) and the word ' left' both explain the target; heads disagree on the rest."""
    f = _fakes()
    trace = f.make_trace([{2: 0.5, 7: 0.4, 0: 0.1}, {3: 0.5, 7: 0.4, 0: 0.1}, {5: 0.9, 0: 0.1}], with_image=True)
    return explain(trace, f.TARGET, layer=1, model=f.FakeModel(f.intersects({2, 7})))


@pytest.fixture(scope="module")
def text_explanation():
    f = _fakes()
    trace = f.make_trace([{3: 0.5, 7: 0.4, 0: 0.1}])
    return explain(trace, f.TARGET, layer=1, model=f.FakeModel(f.contains_all({3, 7})))


@pytest.fixture(scope="module")
def scene_image():
    """A 32 x 32 picture: grey background, a red disc in patch (0, 1)."""
    yy, xx = np.mgrid[0:32, 0:32]
    image = np.full((32, 32, 3), 128, dtype=np.uint8)
    image[(yy - 8) ** 2 + (xx - 24) ** 2 < 36] = (220, 40, 40)
    return image
