"""Plots and terminal tables of the experiment harness that a reader can read: no overlapping labels, tables
that fit the terminal (the wide table stays in summary.md)."""

from __future__ import annotations

import io
import itertools

import pytest
from rich.console import Console

from whytoken.experiments.harness import cli as harness_cli
from whytoken.experiments.harness import plots


def _text_overlaps(fig):
    """Pairs of drawn texts of a figure whose boxes overlap by more than 1 px each way.

    The texts: every visible axes' title, axis labels, legend entries and the tick labels matplotlib
    actually draws (those inside the view; Axis keeps others it does not draw).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    texts = []
    for ax in fig.axes:
        if not ax.get_visible():
            continue
        texts += [ax.title, ax.xaxis.label, ax.yaxis.label]
        for axis in (ax.xaxis, ax.yaxis):
            texts += [tick.label1 for tick in axis._update_ticks()]
        legend = ax.get_legend()
        if legend is not None:
            texts += list(legend.get_texts())
    boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in texts if t.get_visible() and t.get_text().strip()]
    out = []
    for (ta, a), (tb, b) in itertools.combinations(boxes, 2):
        dx = min(a.x1, b.x1) - max(a.x0, b.x0)
        dy = min(a.y1, b.y1) - max(a.y0, b.y0)
        if dx > 1 and dy > 1:
            out.append((ta, tb))
    return out


@pytest.fixture()
def figures(monkeypatch):
    drawn = []
    save = plots._save

    def keep(fig, path):
        drawn.append(fig)
        return save(fig, path)

    monkeypatch.setattr(plots, "_save", keep)
    return drawn


def _rows(k=20):
    rows = []
    for i, (method, setting) in enumerate([("whytoken", {"n_samples": "hidden_size", "target_row": "predicting",
                                                          "max_cond_size": 3}),
                                           ("attention", {"heads": "mean"}), ("rollout", {}), ("relevancy", {}),
                                           ("random", {"offset": 0})]):
        label = method if method != "whytoken" else "whytoken (n_samples=hidden_size, target_row=predicting)"
        for j in range(30):
            size = None if j % 7 == 0 else 1 + (i + j) % (k + 3)
            rows.append({"label": label, "method": method, "setting": setting, "setting_key": str(i), "max_k": k,
                         "flip_size": size if size is None or size <= k else None,
                         "deletion_curve": [0.9, 0.5, 0.2], "deletion_auc": 0.5, "forward_passes": 10})
    return rows


def test_flip_size_labels_do_not_overlap(figures, tmp_path):
    path = plots.plot_flip_sizes(_rows(20), tmp_path / "flip_sizes.png", 20)
    assert path.stat().st_size > 1000
    fig = figures[-1]
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert labels[-2:] == ["20", ">20"]
    assert _text_overlaps(fig) == []


def test_every_plot_is_free_of_overlapping_text(figures, tmp_path):
    rows = _rows(20)
    for r in rows[:60]:
        r["setting"] = {**r["setting"], "alpha": [0.01, 0.05, 0.2][hash(r["setting_key"] + str(id(r))) % 3]}
    written = plots.write_plots(rows, tmp_path)
    assert {p.name for p in written} >= {"flip_sizes.png", "deletion_curves.png"}
    for fig in figures:
        assert _text_overlaps(fig) == [], fig


@pytest.mark.parametrize("width", [80, 120, 220])
def test_summary_table_fits_the_terminal(monkeypatch, tmp_path, width):
    console = Console(file=io.StringIO(), width=width, highlight=False, color_system=None)
    monkeypatch.setattr(harness_cli, "_console", console)
    lines = [{"label": label, "setting": "{'n_samples': 'hidden_size', 'target_row': 'predicting'}", "n": 200,
              "flip_rate": 0.935, "flip_mean": 1.34, "flip_median": 1.0, "flip_mean_capped": 2.62,
              "deletion_auc": 0.12, "insertion_auc": 0.4, "gt_precision": 0.622, "gt_recall": 0.5,
              "set_precision": 0.863, "set_recall": 0.7, "explained_rate": 0.9, "set_size": 1.3,
              "forward_passes": 86.7, "exhaustive_passes": 64.5, "seconds": 1.2}
             for label in ("whytoken (n_samples=hidden_size)", "attention", "rollout", "relevancy", "random")]
    full = tmp_path / "summary.md"
    full.write_text("| wide |\n")
    harness_cli._print_table(lines, 20, full)
    text = console.file.getvalue()
    assert max(len(line) for line in text.splitlines()) <= width
    assert "<=20" in text and "0.935" in text and "whytoken" in text
    if width < 200:
        assert "left out to fit" in text and str(full) in text.replace("\n", "")
    else:  # every number fits; at most the long setting text is left to summary.md
        assert "exhaus-" in text and "1.200" in text and "0.400" in text  # exhaustive passes, seconds, insertion AUC
