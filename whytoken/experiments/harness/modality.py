"""Modality reliance over a run: which modality carries the answers, per question kind, as a table and a plot.

Rows of a run with the ``modality`` metric carry, per answer, the two
ablations (every image token removed, every question word removed) and the
modality of the method's verified set
(:mod:`whytoken.experiments.metrics.modality`). :func:`modality_table`
summarises them per question kind (the sample's ``kind``; ``all`` for the
whole run) for one method label: the share of answers whose ablations read
``image``, ``text``, ``both`` or ``neither``, and the share whose verified
set is image-only, text-only, mixed, or missing. :func:`plot_modality` draws
both as stacked bars.

Examples
--------
>>> rows = [{"label": "whytoken", "sample_id": str(i), "sample": {"kind": k},
...          "modality": {"reliance": r, "set_modality": s}}
...         for i, (k, r, s) in enumerate([("color", "image", "image"), ("color", "both", "text"),
...                                        ("count", "image", None)])]
>>> [(line["kind"], line["n"], line["image"], line["set_none"]) for line in modality_table(rows, "whytoken")]
[('all', 3, 0.6666666666666666, 0.3333333333333333), ('color', 2, 0.5, 0.0), ('count', 1, 1.0, 1.0)]
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from whytoken.experiments.metrics import RELIANCE, SET_MODALITIES

__all__ = ["modality_labels", "modality_table", "modality_markdown", "plot_modality"]

_SET_COLUMNS = tuple(f"set_{m}" for m in SET_MODALITIES) + ("set_none",)
_COLORS = {"image": "tab:blue", "text": "tab:orange", "both": "tab:purple", "neither": "tab:gray",
           "set_image": "tab:blue", "set_text": "tab:orange", "set_mixed": "tab:purple", "set_none": "lightgray"}


def modality_labels(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """Labels whose rows carry modality results and a verified set (whytoken and the searches first)."""
    labels: dict[str, str] = {}
    for r in rows:
        if r.get("modality") is not None and r.get("verified") is not None:
            labels.setdefault(r["label"], r.get("method", ""))
    return sorted(labels, key=lambda label: (labels[label] != "whytoken", label))


def _kind(row: Mapping[str, Any]) -> str:
    return str((row.get("sample") or {}).get("kind") or "prompt")


def modality_table(rows: Sequence[Mapping[str, Any]], label: str, include_all: bool = True) -> list[dict[str, Any]]:
    """Per question kind (``all`` first unless ``include_all`` is false), shares of answers by ablation verdict
    and by set modality."""
    chosen: dict[tuple, Mapping[str, Any]] = {}
    for r in rows:
        if r["label"] == label and r.get("modality") is not None:
            chosen.setdefault((r.get("sample_id"), (r.get("target") or {}).get("generated_index")), r)
    groups: dict[str, list[Mapping[str, Any]]] = {"all": list(chosen.values())}
    for r in chosen.values():
        groups.setdefault(_kind(r), []).append(r)
    out = []
    for kind in (["all"] if include_all else []) + sorted(k for k in groups if k != "all"):
        group = groups[kind]
        if not group:
            continue
        n = len(group)
        line: dict[str, Any] = {"label": label, "kind": kind, "n": n}
        for verdict in RELIANCE:
            line[verdict] = sum(r["modality"].get("reliance") == verdict for r in group) / n
        for m in SET_MODALITIES:
            line[f"set_{m}"] = sum(r["modality"].get("set_modality") == m for r in group) / n
        line["set_none"] = sum(r["modality"].get("set_modality") is None for r in group) / n
        out.append(line)
    return out


def modality_markdown(lines: Sequence[Mapping[str, Any]]) -> str:
    """A markdown table of :func:`modality_table` lines (shares of answers)."""
    if not lines:
        return ""
    head = ("| kind | answers | ablation: image | text | both | neither | set: image | text | mixed | none |\n"
            "|---|---|---|---|---|---|---|---|---|---|")
    body = [f"| {line['kind']} | {line['n']} | " + " | ".join(f"{line[c]:.2f}" for c in RELIANCE + _SET_COLUMNS)
            + " |" for line in lines]
    return "\n".join([head] + body)


def plot_modality(rows: Sequence[Mapping[str, Any]], path: str | os.PathLike[str],
                  label: str | None = None, include_all: bool = True) -> Path | None:
    """Stacked bars per question kind: the ablation verdicts (left) and the set modality (right)."""
    from whytoken.experiments.harness.plots import _figure, _save

    labels = modality_labels(rows)
    label = label if label is not None else (labels[0] if labels else None)
    lines = modality_table(rows, label, include_all) if label is not None else []
    if not lines:
        return None
    fig = _figure(9.0, 1.6 + 0.45 * len(lines))
    axes = fig.subplots(1, 2, sharey=True)
    y = np.arange(len(lines))
    names = [f"{line['kind']} (n={line['n']})" for line in lines]
    for ax, columns, title in ((axes[0], RELIANCE, "removing all image tokens / all question words"),
                               (axes[1], _SET_COLUMNS, f"modality of {label}'s verified set")):
        left = np.zeros(len(lines))
        for column in columns:
            share = np.array([line[column] for line in lines])
            ax.barh(y, share, left=left, color=_COLORS[column], label=column.replace("set_", ""))
            left += share
        ax.set_xlim(0, 1)
        ax.set_xticks([0, 0.25, 0.5, 0.75, 1], ["0", "25%", "50%", "75%", "100%"], fontsize=8)
        ax.set_xlabel("share of answers", fontsize=8)
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.1 - 0.4 / len(lines)), ncol=len(columns),
                  frameon=False)
    axes[0].set_yticks(y, names, fontsize=8)
    axes[0].invert_yaxis()
    return _save(fig, path)
