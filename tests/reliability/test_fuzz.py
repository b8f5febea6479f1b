"""Fuzzing the loaders: whatever the bytes, a valid object or a package error; never another
exception, never a hang.

Strategies start from valid files (a graph in JSON/GraphML/DOT, a saved trace, an explanation)
and damage them the ways files get damaged: truncation, flipped bytes, a field replaced by any
JSON value, a key deleted; plus arbitrary text and bytes. Every example runs under a timeout.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.reliability.harness import _alarm, _Hang
from whytoken.errors import WhytokenError

EXAMPLES = settings(max_examples=150, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
TIMEOUT_S = 10.0

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=8,
)


def _paths(doc: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path (tuple of keys/indices) into a JSON document."""
    out = [prefix]
    if isinstance(doc, dict):
        for key, value in doc.items():
            out += _paths(value, prefix + (key,))
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            out += _paths(value, prefix + (i,))
    return out


@st.composite
def damaged_json(draw, doc: Any) -> Any:
    """``doc`` with one to three fields replaced by arbitrary JSON values or deleted."""
    doc = json.loads(json.dumps(doc))
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(doc)
        path = draw(st.sampled_from(paths))
        if not path:
            return draw(JSON_VALUES)
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        if draw(st.booleans()) and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(JSON_VALUES)
    return doc


@st.composite
def damaged_bytes(draw, data: bytes) -> bytes:
    """``data`` truncated, with flipped bytes, or with a slice duplicated."""
    how = draw(st.sampled_from(["truncate", "flip", "duplicate", "garbage"]))
    if how == "truncate":
        return data[: draw(st.integers(0, max(len(data) - 1, 0)))]
    if how == "garbage":
        return draw(st.binary(max_size=200))
    out = bytearray(data)
    if how == "flip":
        for _ in range(draw(st.integers(1, 8))):
            i = draw(st.integers(0, len(out) - 1))
            out[i] = draw(st.integers(0, 255))
        return bytes(out)
    i = draw(st.integers(0, len(out) - 1))
    j = draw(st.integers(i, len(out)))
    return bytes(out[:j] + out[i:j] + out[j:])


def _valid_or_package_error(load, *args) -> Any:
    """Run a loader: its result, or None after a package error; anything else fails the test."""
    try:
        with _alarm(TIMEOUT_S):
            return load(*args)
    except WhytokenError:
        return None
    except _Hang:
        pytest.fail(f"{getattr(load, '__name__', load)} still running after {TIMEOUT_S} s")


def _pag():
    from whytoken.graphs import PAG, Mark

    g = PAG([0, 1, "x", 3], meta={"model": "m", "layer": 2, "alpha": 0.01})
    g.add_edge(0, 1, Mark.TAIL, Mark.ARROW)
    g.add_edge(1, "x", Mark.CIRCLE, Mark.ARROW)
    g.add_edge("x", 3, Mark.ARROW, Mark.ARROW)
    g.add_node(0, label="The", row=1)
    return g


# ------------------------------------------------------------------ graphs
@EXAMPLES
@given(data=st.data())
def test_graph_json_documents(data):
    from whytoken.graphs import PAG
    from whytoken.graphs.io import pag_from_json, pag_to_json

    doc = data.draw(damaged_json(pag_to_json(_pag())))
    result = _valid_or_package_error(pag_from_json, doc)
    assert result is None or isinstance(result, PAG)


@EXAMPLES
@given(data=st.data())
def test_graph_files_in_every_format(data, tmp_path_factory):
    from whytoken.graphs import PAG, read_pag

    fmt = data.draw(st.sampled_from(["json", "graphml", "dot"]))
    folder = tmp_path_factory.mktemp("g")
    good = _pag().save(folder / f"good.{fmt}")
    path = folder / f"bad.{fmt}"
    path.write_bytes(data.draw(damaged_bytes(good.read_bytes())))
    result = _valid_or_package_error(read_pag, path)
    assert result is None or isinstance(result, PAG)


@EXAMPLES
@given(text=st.text(alphabet=st.sampled_from(list('graph digraph {}[];=->"0123 xo\n\\,arrowhead=odot')),
                    max_size=120))
def test_dot_text_from_its_own_alphabet(text):
    from whytoken.graphs import PAG
    from whytoken.graphs.io import pag_from_dot

    result = _valid_or_package_error(pag_from_dot, text)
    assert result is None or isinstance(result, PAG)


# ------------------------------------------------------------------ traces
def _saved_trace(folder: Path, suffix: str) -> Path:
    from tests.query import fakes

    return fakes.make_trace([{3: 0.5, 7: 0.4, 0: 0.1}], with_image=True).save(folder / f"trace{suffix}")


@EXAMPLES
@given(data=st.data())
def test_trace_files(data, tmp_path_factory):
    from whytoken.adapters.trace import Trace

    folder = tmp_path_factory.mktemp("t")
    good = _saved_trace(folder, data.draw(st.sampled_from([".safetensors", ".npz"])))
    path = folder / f"bad{good.suffix}"
    path.write_bytes(data.draw(damaged_bytes(good.read_bytes())))
    result = _valid_or_package_error(Trace.load, path)
    assert result is None or isinstance(result, Trace)


@EXAMPLES
@given(data=st.data())
def test_trace_metadata(data, tmp_path_factory):
    import numpy as np

    from whytoken.adapters.trace import Trace

    folder = tmp_path_factory.mktemp("m")
    good = _saved_trace(folder, ".npz")
    arrays = dict(np.load(good))
    meta = data.draw(damaged_json(json.loads(str(arrays.pop("__whytoken_meta__")))))
    np.savez(folder / "bad.npz", __whytoken_meta__=np.array(json.dumps(meta)), **arrays)
    result = _valid_or_package_error(Trace.load, folder / "bad.npz")
    assert result is None or isinstance(result, Trace)


# ------------------------------------------------------------------ explanations (the lead's query)
@pytest.fixture(scope="module")
def explanation_doc():
    from tests.query import fakes
    from whytoken.query import explain

    return explain(fakes.make_trace([{3: 0.5, 7: 0.4, 0: 0.1}], with_image=True), fakes.TARGET,
                   verify=False).to_json()


@EXAMPLES
@given(data=st.data())
def test_explanation_documents(data, explanation_doc):
    from whytoken.query import Explanation

    doc = data.draw(damaged_json(explanation_doc))
    result = _valid_or_package_error(Explanation.from_json, doc)
    assert result is None or isinstance(result, Explanation)


# ------------------------------------------------------------------ experiment configurations
VALID_CONFIG = {
    "name": "fuzz", "model": "toy", "seed": 1,
    "dataset": {"kind": "world", "split": "test", "n": 4},
    "methods": ["whytoken", {"name": "attention", "label": "att0", "heads": 0}, "rollout", "random"],
    "metrics": ["flip", "deletion"], "targets": "first", "max_new_tokens": 2, "max_k": 5,
    "intervention": "mask", "criterion": "top-token",
    "sweep": [{"alpha": [0.01, 0.05]}, {"att0.layer": [-1, -2], "intervention": ["mask", "zero"]}],
    "executor": {"name": "local", "workers": 1}, "threads": 1, "batch_size": 8,
    "candidates": {"include_special": False}, "trace": {"chat_template": False},
}


@EXAMPLES
@given(data=st.data())
def test_experiment_config_documents(data):
    from whytoken.experiments.harness.config import ExperimentConfig

    doc = data.draw(damaged_json(VALID_CONFIG))
    result = _valid_or_package_error(ExperimentConfig.from_dict, doc)
    assert result is None or isinstance(result, ExperimentConfig)


@EXAMPLES
@given(data=st.data())
def test_experiment_config_files(data, tmp_path_factory):
    import yaml

    from whytoken.experiments.harness.config import ExperimentConfig, load_config

    folder = tmp_path_factory.mktemp("c")
    good = yaml.safe_dump(VALID_CONFIG).encode()
    suffix = data.draw(st.sampled_from([".yaml", ".toml"]))
    if suffix == ".toml":
        good = b'name = "fuzz"\nmodel = "toy"\nmethods = ["random", "attention"]\n[dataset]\nkind = "world"\nn = 3\n'
    path = folder / f"run{suffix}"
    path.write_bytes(data.draw(damaged_bytes(good)))
    result = _valid_or_package_error(load_config, path)
    assert result is None or isinstance(result, ExperimentConfig)
