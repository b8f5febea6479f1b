"""The CLI result panel (whytoken.cli.panel): fits 60-120 columns, speaks in CLI flags, shows effects.

(The panel renders the same set views as the report, so its tests live with the report's.)
"""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from tests.query import fakes
from whytoken.cli import panel
from whytoken.query import explain


@pytest.fixture()
def capture(monkeypatch):
    def run(explanation, width):
        console = Console(file=io.StringIO(), width=width, highlight=False, color_system=None)
        monkeypatch.setattr(panel, "out_console", console)
        panel.print_explanation(explanation)
        return console.file.getvalue()
    return run


@pytest.fixture(scope="module")
def explained():
    trace = fakes.make_trace([{2: 0.5, 7: 0.4, 0: 0.1}, {3: 0.5, 7: 0.4, 0: 0.1}], with_image=True)
    return explain(trace, fakes.TARGET, layer=1, model=fakes.FakeModel(fakes.intersects({2, 7})))


@pytest.fixture(scope="module")
def not_explained():
    trace = fakes.make_trace([{3: 0.9, 0: 0.1}])
    return explain(trace, fakes.TARGET, layer=1, model=fakes.FakeModel(fakes.intersects({9})), max_set_size=1,
                   n_samples=16, criterion="prob-drop")


@pytest.mark.parametrize("width", [60, 80, 120])
def test_panel_fits_the_terminal(capture, explained, width):
    text = capture(explained, width)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= width
    orphans = ("p =", "p\u00a0=", "after)")
    assert not any(line.strip("│ ").startswith(orphans) for line in lines)  # no number split from its name
    assert "effect" in text and "−" in text and "other verified set(s)" in text


def test_not_explained_advice_uses_cli_flags(capture, not_explained):
    text = " ".join(capture(not_explained, 100).split())
    assert not_explained.status == "not-explained"
    assert "--include-special" in text  # from the structured hints, or rewritten from the message
    assert "include_special=" not in text and "max_set_size=" not in text and "n_samples=" not in text
    assert "--criterion prob-drop" not in text  # already the criterion in use
    for hint in getattr(not_explained, "hints", None) or ():
        assert panel.hint_flag(hint) in text


def test_structured_hints_are_flags():
    from types import SimpleNamespace

    assert panel.hint_flag(SimpleNamespace(parameter="n_samples", value=64)) == "--n-samples 64"
    assert panel.hint_flag(SimpleNamespace(parameter="include_special", value=True)) == "--include-special"
    assert panel.hint_flag(SimpleNamespace(parameter="verify", value=False)) == "--no-verify"
