"""Plots of experiment results: curves, flip-size histograms and metrics against swept parameters.

Every function takes the rows of a ``results.jsonl`` (see
:mod:`whytoken.experiments.harness.results`) and writes one PNG. Figures are built
with :class:`matplotlib.figure.Figure` directly (no pyplot state, no backend
switch), so they work in worker processes and notebooks alike.

``deletion_curves.png`` / ``insertion_curves.png``
    Mean probability of the original target token against the number of
    removed (deletion) or restored (insertion) top-ranked tokens, one line
    per method setting.
``flip_sizes.png``
    Per method, the histogram of flip sizes, with samples not flipped within
    ``K`` in a separate bar.
``metric_vs_<param>.png``
    For every parameter that takes several values within one method (alpha,
    n_samples, layer, heads, learner, intervention, ...): mean flip size,
    mean deletion AUC and forward passes against the parameter; methods that do
    not vary it are drawn as horizontal reference lines.

Examples
--------
>>> import tempfile, os
>>> rows = [{"label": "random", "method": "random", "setting": {"offset": 0}, "setting_key": "a", "max_k": 2,
...          "flip_size": 2, "deletion_curve": [0.9, 0.6, 0.2], "deletion_auc": 0.575}]
>>> with tempfile.TemporaryDirectory() as d:
...     sorted(os.path.basename(p) for p in write_plots(rows, d))
['deletion_curves.png', 'flip_sizes.png']
"""

from __future__ import annotations

import json
import logging
import math
import os
import textwrap
import warnings
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from whytoken.files import atomic_path, ensure_directory

__all__ = [
    "plot_curves",
    "plot_flip_sizes",
    "plot_metric_vs_parameter",
    "varying_parameters",
    "modal_slice",
    "write_plots",
]

logger = logging.getLogger(__name__)

_MAX_LINES = 12


#: Characters per line of a subplot title (longer setting labels wrap instead of running into the next plot).
_TITLE_CHARS = 38


def _save(fig: Any, path: str | os.PathLike[str]) -> Path:
    """Write ``fig`` as a PNG atomically (a crash never leaves half a file); returns the path."""
    path = Path(path)
    with atomic_path(path, what="plot") as tmp:
        fig.savefig(tmp, format="png")
    return path


def _figure(width: float = 6.4, height: float = 4.2) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=110, layout="constrained")


def _group_key(row: Mapping[str, Any]) -> tuple[str, str]:
    return (row["label"], row.get("setting_key", ""))


def _setting_label(row: Mapping[str, Any], varying: Sequence[str]) -> str:
    parts = [f"{k}={row['setting'].get(k)}" for k in varying if k in row.get("setting", {})]
    return row["label"] + (f" ({', '.join(parts)})" if parts else "")


def varying_parameters(rows: Sequence[Mapping[str, Any]]) -> dict[str, list[str]]:
    """Per method label, the setting keys that take more than one value among the rows.

    Examples
    --------
    >>> rows = [{"label": "w", "setting": {"alpha": a, "layer": -1}} for a in (0.01, 0.05)]
    >>> varying_parameters(rows)
    {'w': ['alpha']}
    """
    values: dict[str, dict[str, set[str]]] = {}
    for r in rows:
        per = values.setdefault(r["label"], {})
        for k, v in r.get("setting", {}).items():
            per.setdefault(k, set()).add(json.dumps(v, sort_keys=True, default=str))
    return {label: sorted(k for k, vs in per.items() if len(vs) > 1) for label, per in values.items()}


def _groups(rows: Sequence[Mapping[str, Any]], field: str) -> dict[tuple[str, str], list[Mapping[str, Any]]]:
    groups: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for r in rows:
        if r.get(field) is not None:
            groups.setdefault(_group_key(r), []).append(r)
    if len(groups) > _MAX_LINES:  # keep one setting per label: the one with most rows
        best: dict[str, tuple[str, str]] = {}
        for key, group in groups.items():
            if key[0] not in best or len(group) > len(groups[best[key[0]]]):
                best[key[0]] = key
        groups = {key: groups[key] for key in best.values()}
    return groups


def plot_curves(rows: Sequence[Mapping[str, Any]], path: str | os.PathLike[str], kind: str = "deletion") -> Path | None:
    """Mean deletion (or insertion) curve per method setting; None when no row has that curve."""
    field = f"{kind}_curve"
    groups = _groups(rows, field)
    if not groups:
        return None
    varying = varying_parameters(rows)
    fig = _figure()
    ax = fig.add_subplot()
    for key, group in sorted(groups.items()):
        length = max(len(r[field]) for r in group)
        matrix = np.full((len(group), length), np.nan)
        for i, r in enumerate(group):
            matrix[i, : len(r[field])] = [np.nan if p is None else p for p in r[field]]
        with warnings.catch_warnings():  # all-NaN columns (no sample reached that k) stay NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            mean = np.nanmean(matrix, axis=0)
            auc = np.nanmean([r[f"{kind}_auc"] if r.get(f"{kind}_auc") is not None else np.nan for r in group])
        ax.plot(np.arange(length), mean, marker="o", markersize=3,
                label=f"{_setting_label(group[0], varying.get(key[0], []))}  AUC={auc:.3f}")
    action = "removed" if kind == "deletion" else "restored (all others removed)"
    ax.set_xlabel(f"top-k tokens {action}; mean over samples with at least k candidates")
    ax.set_ylabel("p(original target token)")
    ax.set_title(f"{kind.capitalize()} curves (n={len({r['sample_id'] for r in rows if r.get(field)})} samples)"
                 if rows and "sample_id" in rows[0] else f"{kind.capitalize()} curves")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return _save(fig, path)


#: Bar widths between the last flip size K and the ">K" bar of :func:`plot_flip_sizes`.
_BEYOND_GAP = 2


def plot_flip_sizes(rows: Sequence[Mapping[str, Any]], path: str | os.PathLike[str],
                    max_k: int | None = None) -> Path | None:
    """Histogram of flip sizes per method setting (samples not flipped within K in the last bar)."""
    groups = {k: g for k, g in _groups([r for r in rows if "flip_size" in r], "max_k").items()}
    if not groups:
        return None
    varying = varying_parameters(rows)
    k = int(max_k if max_k is not None else max(r.get("max_k", 20) for g in groups.values() for r in g))
    n = len(groups)
    cols = min(3, n)
    nrows = math.ceil(n / cols)
    fig = _figure(3.2 * cols, 2.4 * nrows)
    axes = fig.subplots(nrows, cols, squeeze=False, sharey=True)
    for ax, (key, group) in zip(axes.flat, sorted(groups.items())):
        sizes = [r["flip_size"] if r.get("flip_size") is not None else k + 1 for r in group]
        counts = np.bincount(np.clip(sizes, 1, k + 1), minlength=k + 2)[1:]
        colors = ["tab:blue"] * k + ["tab:gray"]
        # the ">K" bar (not flipped within K) stands apart, so its label never touches K's
        beyond = k + 1 + _BEYOND_GAP
        ax.bar(np.r_[np.arange(1, k + 1), beyond], counts, color=colors)
        ticks = sorted({1, max(1, k // 2), k})
        ax.set_xticks(ticks + [beyond], [str(t) for t in ticks] + [f">{k}"])
        flipped = sum(1 for s in sizes if s <= k) / len(sizes)
        label = textwrap.fill(_setting_label(group[0], varying.get(key[0], [])), _TITLE_CHARS)
        ax.set_title(f"{label}\nflipped {flipped:.0%}", fontsize=8)
        ax.set_xlabel("flip size", fontsize=8)
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    axes[0][0].set_ylabel("samples")
    return _save(fig, path)


def _cost(row: Mapping[str, Any], key: str) -> float:
    value = (row.get("cost") or {}).get(key)
    return np.nan if value is None else float(value)


def _value_key(v: Any) -> tuple:
    if isinstance(v, bool):
        return (1, str(v))
    if isinstance(v, (int, float)):
        return (0, float(v))
    return (1, json.dumps(v, sort_keys=True, default=str))


def modal_slice(rows: Sequence[Mapping[str, Any]], parameter: str) -> list[Mapping[str, Any]]:
    """The rows of one method whose other setting keys take their most common value.

    In a one-factor-at-a-time sweep the defaults are the most common values
    (each appears in every other grid), so this is the slice that varies only
    ``parameter``; in a full grid it is one cross-section. Frequencies count
    distinct settings, not rows.

    Examples
    --------
    >>> rows = [{"setting": {"alpha": a, "learner": l}} for a, l in
    ...         [(0.01, "icd"), (0.05, "icd"), (0.2, "icd"), (0.01, "pc"), (0.01, "fci")]]
    >>> [(r["setting"]["alpha"], r["setting"]["learner"]) for r in modal_slice(rows, "alpha")]
    [(0.01, 'icd'), (0.05, 'icd'), (0.2, 'icd')]
    """
    settings = {json.dumps(r.get("setting", {}), sort_keys=True, default=str): r.get("setting", {}) for r in rows}
    counts: dict[str, dict[str, int]] = {}
    for setting in settings.values():
        for key, value in setting.items():
            if key != parameter:
                text = json.dumps(value, sort_keys=True, default=str)
                counts.setdefault(key, {})[text] = counts.setdefault(key, {}).get(text, 0) + 1
    mode = {key: max(values.items(), key=lambda kv: kv[1])[0] for key, values in counts.items()}
    return [r for r in rows if all(json.dumps(r.get("setting", {}).get(key), sort_keys=True, default=str) == text
                                   for key, text in mode.items())]


def plot_metric_vs_parameter(rows: Sequence[Mapping[str, Any]], parameter: str,
                             path: str | os.PathLike[str], max_k: int | None = None) -> Path | None:
    """Mean flip size, deletion AUC and forward passes against one swept parameter (None if nothing varies).

    Each method contributes the slice of its rows where every other setting key
    has its most common value (:func:`modal_slice`); methods that do not vary
    the parameter are drawn as dashed reference lines.
    """
    varying = varying_parameters(rows)
    movers = [label for label, keys in varying.items() if parameter in keys]
    if not movers:
        return None
    k = int(max_k if max_k is not None else max(r.get("max_k", 20) for r in rows))
    metrics = [("flip size (mean; unflipped = K+1)",
                lambda g: np.mean([r["flip_size"] if r.get("flip_size") is not None else k + 1 for r in g])
                if any("flip_size" in r for r in g) else np.nan),
               ("deletion AUC", lambda g: np.nanmean([r["deletion_auc"] if r.get("deletion_auc") is not None
                                                      else np.nan for r in g])),
               ("forward passes", lambda g: np.nanmean([_cost(r, "forward_passes") for r in g]))]
    values = sorted({json.dumps(r["setting"].get(parameter), default=str) for r in rows
                     if r["label"] in movers and parameter in r["setting"]},
                    key=lambda s: _value_key(json.loads(s)))
    numeric = all(isinstance(json.loads(v), (int, float)) and not isinstance(json.loads(v), bool) for v in values)
    fig = _figure(4.0 * len(metrics), 3.4)
    axes = fig.subplots(1, len(metrics), squeeze=False)[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a metric missing for a method gives NaN, not a warning
        for ax, (title, fn) in zip(axes, metrics):
            for index, label in enumerate(sorted({r["label"] for r in rows})):
                group_rows = modal_slice([r for r in rows if r["label"] == label], parameter)
                color = f"C{index % 10}"
                if label in movers:
                    xs, ys = [], []
                    for i, v in enumerate(values):
                        sel = [r for r in group_rows if json.dumps(r["setting"].get(parameter), default=str) == v]
                        if sel:
                            xs.append(json.loads(v) if numeric else i)
                            ys.append(fn(sel))
                    ax.plot(xs, ys, marker="o", label=label, color=color)
                else:
                    y = fn(group_rows)
                    if not (isinstance(y, float) and math.isnan(y)):
                        ax.axhline(y, linestyle="--", linewidth=1, alpha=0.8, label=label, color=color)
            if numeric:
                positive = [json.loads(v) for v in values if json.loads(v) > 0]
                if len(positive) == len(values) and max(positive) / min(positive) >= 20:
                    ax.set_xscale("log")
            else:
                ticks = ["default" if json.loads(v) is None else str(json.loads(v)) for v in values]
                ax.set_xticks(range(len(values)), ticks, rotation=30, fontsize=7)
            ax.set_xlabel(parameter)
            ax.set_title(title, fontsize=9)
            ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    return _save(fig, path)


def write_plots(rows: Sequence[Mapping[str, Any]], folder: str | os.PathLike[str],
                max_k: int | None = None) -> list[Path]:
    """Write every applicable plot into ``folder``; return the written paths."""
    folder = ensure_directory(folder, what="plot folder")
    written = [plot_curves(rows, folder / "deletion_curves.png", "deletion"),
               plot_curves(rows, folder / "insertion_curves.png", "insertion"),
               plot_flip_sizes(rows, folder / "flip_sizes.png", max_k)]
    params = sorted({k for keys in varying_parameters(rows).values() for k in keys})
    for parameter in params:
        written.append(plot_metric_vs_parameter(rows, parameter, folder / f"metric_vs_{parameter}.png", max_k))
    return [p for p in written if p is not None]
