"""Summaries of a results log: one line per method setting, per-sample comparisons, and the files they go to.

:func:`summarize_rows` averages faithfulness, ground-truth and cost metrics
per (method label, setting), with a post-hoc "best head" line for settings
swept over single heads; :func:`paired_comparison` counts per-sample wins and
losses of whytoken against every other method; :func:`write_summary` writes
``summary.csv``, ``summary.md`` and the plots
(:mod:`whytoken.experiments.harness.plots`).

Examples
--------
>>> format_cell(0.12345), format_cell(None), format_cell(12345.6)
('0.123', '', '12346')
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from whytoken.errors import WhytokenError
from whytoken.experiments.harness.comparison import (
    VERIFYING_METHODS, head_to_head, head_to_head_markdown, head_to_head_pairs, minimum_markdown, minimum_table,
)
from whytoken.experiments.metrics import describe_flip_sizes
from whytoken.files import atomic_open, atomic_write_text

__all__ = [
    "SUMMARY_COLUMNS",
    "summarize_rows",
    "summary_markdown",
    "format_cell",
    "paired_comparison",
    "paired_markdown",
    "write_summary",
]


def _mean(values: Iterable[Any]) -> float | None:
    vals = [float(v) for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return float(np.mean(vals)) if vals else None


def _setting_text(setting: Mapping[str, Any], method: str) -> str:
    from whytoken.experiments.baselines import baseline_class

    try:
        defaults = baseline_class(method).defaults
    except WhytokenError:
        defaults = {}
    parts = [f"{k}={v}" for k, v in setting.items()
             if k not in ("intervention", "criterion") and defaults.get(k, object()) != v]
    probe = [f"{k}={setting[k]}" for k, default in (("intervention", "mask"), ("criterion", "top-token"))
             if setting.get(k, default) != default]
    return ", ".join(parts + probe)


def summarize_rows(rows: Sequence[Mapping[str, Any]], max_k: int | None = None) -> list[dict[str, Any]]:
    """One summary line per (method label, setting): faithfulness, ground truth and cost means.

    Columns: ``label``, ``method``, ``setting`` (non-default parameters and
    the probing keys), ``n``, ``flip_rate`` (share flipped within ``max_k``),
    ``flip_mean``/``flip_median`` (over flipped rows), ``flip_mean_capped``
    (unflipped counted as ``max_k + 1``), ``deletion_auc``, ``insertion_auc``,
    ``gt_precision``/``gt_recall`` (top-|GT|), ``set_precision``/``set_recall``
    (the explaining set, or the flipping prefix), ``explained_rate`` (rows
    with a verified explaining set, whytoken only), ``forward_passes``,
    ``set_size`` (mean verified explaining-set size, whytoken only), ``exhaustive_passes`` (interventions an
    exhaustive search over the same candidates would need, whytoken only), ``seconds``. Lines are ordered by label,
    then setting (the one with only default parameters first); settings swept over single heads add a post-hoc "best head" line.

    Examples
    --------
    >>> rows = [{"label": "a", "method": "random", "setting": {"offset": 0}, "setting_key": "k", "max_k": 5,
    ...          "flip_size": s, "deletion_auc": 0.5} for s in (1, 3, None)]
    >>> line = summarize_rows(rows)[0]
    >>> line["n"], round(line["flip_rate"], 3), line["flip_mean"], line["flip_mean_capped"]
    (3, 0.667, 2.0, 3.333)
    """
    groups: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["label"], r["setting_key"]), []).append(r)
    out = []
    def order(item: tuple) -> tuple:
        (label, _), group = item
        text = _setting_text(group[0]["setting"], group[0]["method"])
        return (label, text != "", json.dumps(group[0]["setting"], sort_keys=True, default=str))

    for (label, key), group in sorted(groups.items(), key=order):
        first = group[0]
        k = int(max_k if max_k is not None else first.get("max_k", 20))
        line: dict[str, Any] = {"label": label, "method": first["method"],
                                "setting": _setting_text(first["setting"], first["method"]), "setting_key": key,
                                "n": len(group)}
        if any("flip_size" in r for r in group):
            stats = describe_flip_sizes([r.get("flip_size") for r in group], k)
            line.update(flip_rate=stats["flip_rate"], flip_mean=stats["mean"], flip_median=stats["median"],
                        flip_mean_capped=round(stats["mean_capped"], 3))
        line["deletion_auc"] = _mean(r.get("deletion_auc") for r in group)
        line["insertion_auc"] = _mean(r.get("insertion_auc") for r in group)
        gts = [r.get("ground_truth") for r in group if r.get("ground_truth")]
        line["gt_precision"] = _mean(g["precision_at_gt"] for g in gts)
        line["gt_recall"] = _mean(g["recall_at_gt"] for g in gts)
        line["set_precision"] = _mean(g["precision_set"] for g in gts)
        line["set_recall"] = _mean(g["recall_set"] for g in gts)
        line["pointing"] = _mean(None if g.get("pointing") is None else float(g["pointing"]) for g in gts)
        line["patch_precision"] = _mean(g.get("precision_patches") for g in gts)
        line["patch_recall"] = _mean(g.get("recall_patches") for g in gts)
        if first["method"] in VERIFYING_METHODS:
            line["explained_rate"] = _mean(1.0 if r.get("verified") else 0.0 for r in group)
            line["set_size"] = _mean(r.get("explaining_set_size") for r in group if r.get("verified"))
        if first["method"] == "whytoken":
            line["exhaustive_passes"] = _mean((r.get("details") or {}).get("exhaustive_interventions") for r in group)
        line["forward_passes"] = _mean((r.get("cost") or {}).get("forward_passes") for r in group)
        line["seconds"] = _mean((r.get("cost") or {}).get("seconds") for r in group)
        line["setting_params"] = dict(first["setting"])
        out.append(line)
    return out + _best_head_lines(out)


def _best_head_lines(lines: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """For settings swept over single heads (``heads: each``), the best head chosen post hoc.

    Best: highest flip rate, then smallest capped mean flip size, then smallest
    deletion AUC -- chosen on the very samples it is reported on, so it is an
    optimistic upper bound for "pick one head", labelled as such.
    """
    families: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for line in lines:
        heads = line["setting_params"].get("heads")
        if isinstance(heads, int) and not isinstance(heads, bool):
            rest = {k: v for k, v in line["setting_params"].items() if k != "heads"}
            families.setdefault((line["label"], json.dumps(rest, sort_keys=True, default=str)), []).append(line)
    out = []
    for (label, _), family in families.items():
        if len(family) < 2:
            continue

        def key(line: Mapping[str, Any]) -> tuple:
            return (-(line.get("flip_rate") or 0.0), line.get("flip_mean_capped") or math.inf,
                    line.get("deletion_auc") if line.get("deletion_auc") is not None else math.inf)

        best = min(family, key=key)
        head = best["setting_params"]["heads"]
        line = dict(best)
        line["setting"] = (best["setting"].replace(f"heads={head}", f"heads=best (head {head} of {len(family)}, "
                                                                     "chosen post hoc)"))
        line["setting_key"] = best["setting_key"] + "-best"
        out.append(line)
    return out


SUMMARY_COLUMNS = ("label", "setting", "n", "flip_rate", "flip_mean", "flip_median", "flip_mean_capped", "deletion_auc",
                   "insertion_auc", "gt_precision", "gt_recall", "set_precision", "set_recall", "pointing",
                   "patch_precision", "patch_recall", "explained_rate", "set_size", "forward_passes",
                   "exhaustive_passes", "seconds")


def format_cell(value: Any) -> str:
    """A summary value as table text (3 decimals; empty for missing values)."""
    if value is None:
        return ""
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.3f}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)


def summary_markdown(lines: Sequence[Mapping[str, Any]], max_k: int | None = None) -> str:
    """A markdown table of :func:`summarize_rows` lines (empty columns dropped).

    Examples
    --------
    >>> print(summary_markdown([{"label": "random", "setting": "", "n": 2, "flip_rate": 0.5}]))
    | method | setting | n | flipped <= K |
    |---|---|---|---|
    | random |  | 2 | 0.500 |
    """
    headers = {"label": "method", "flip_rate": f"flipped <= {max_k}" if max_k else "flipped <= K",
               "flip_mean": "flip size (mean)", "flip_median": "flip size (median)",
               "flip_mean_capped": "flip size (capped mean)", "deletion_auc": "deletion AUC (lower better)",
               "insertion_auc": "insertion AUC (higher better)", "gt_precision": "GT precision (top-#GT)",
               "gt_recall": "GT recall (top-#GT)", "set_precision": "set precision", "set_recall": "set recall",
               "pointing": "pointing game", "patch_precision": "set precision (GT patches)",
               "patch_recall": "set recall (GT patches)",
               "explained_rate": "explained", "set_size": "set size (verified)", "forward_passes": "forward passes",
               "exhaustive_passes": "exhaustive search passes", "seconds": "seconds"}
    columns = [c for c in SUMMARY_COLUMNS if any(line.get(c) not in (None, "") for line in lines) or c in ("label", "setting")]
    out = ["| " + " | ".join(headers.get(c, c) for c in columns) + " |", "|" + "---|" * len(columns)]
    for line in lines:
        out.append("| " + " | ".join(format_cell(line.get(c)) for c in columns) + " |")
    return "\n".join(out)


def paired_comparison(rows: Sequence[Mapping[str, Any]], reference: str = "whytoken",
                      max_k: int | None = None) -> list[dict[str, Any]]:
    """Per-sample wins and losses of one method label against every other, on flip size and deletion AUC.

    Rows are paired by (sample, target, probing settings) using each label's
    first setting (the unswept one when a sweep ran). A flip size not reached
    within ``max_k`` counts as ``max_k + 1``.

    Returns
    -------
    list of dict
        Per other label: ``n`` pairs, ``flip_smaller``/``flip_equal``/``flip_larger`` (the
        reference's flip size compared with the other's) and ``auc_lower``/``auc_higher``.

    Examples
    --------
    >>> rows = [{"label": l, "sample_id": s, "target": {"generated_index": 0}, "setting_key": "k",
    ...          "setting": {"intervention": "mask"}, "flip_size": f, "deletion_auc": a, "max_k": 5}
    ...         for l, s, f, a in [("whytoken", "a", 1, .1), ("random", "a", 3, .5),
    ...                            ("whytoken", "b", None, .4), ("random", "b", 2, .2)]]
    >>> c = paired_comparison(rows)[0]
    >>> c["label"], c["n"], c["flip_smaller"], c["flip_larger"], c["auc_lower"], c["auc_higher"]
    ('random', 2, 1, 1, 1, 1)
    """
    first_key: dict[str, str] = {}
    for r in rows:
        first_key.setdefault(r["label"], r["setting_key"])
    chosen = [r for r in rows if r["setting_key"] == first_key[r["label"]]]

    def pair_key(r: Mapping[str, Any]) -> tuple:
        probe = r.get("setting", {})
        return (r["sample_id"], r["target"]["generated_index"], probe.get("intervention"), probe.get("criterion"))

    by_label: dict[str, dict[tuple, Mapping[str, Any]]] = {}
    for r in chosen:
        by_label.setdefault(r["label"], {})[pair_key(r)] = r
    if reference not in by_label:
        return []
    ref = by_label[reference]
    out = []
    for label in sorted(by_label):
        if label == reference:
            continue
        pairs = [(ref[k], other) for k, other in by_label[label].items() if k in ref]
        counts = {"flip_smaller": 0, "flip_equal": 0, "flip_larger": 0, "auc_lower": 0, "auc_higher": 0}
        for a, b in pairs:
            k = int(max_k if max_k is not None else a.get("max_k", 20))
            fa = a.get("flip_size") if a.get("flip_size") is not None else k + 1
            fb = b.get("flip_size") if b.get("flip_size") is not None else k + 1
            counts["flip_smaller" if fa < fb else "flip_larger" if fa > fb else "flip_equal"] += 1
            da, db = a.get("deletion_auc"), b.get("deletion_auc")
            if da is not None and db is not None and da != db:
                counts["auc_lower" if da < db else "auc_higher"] += 1
        out.append({"reference": reference, "label": label, "n": len(pairs), **counts})
    return out


def paired_markdown(comparison: Sequence[Mapping[str, Any]]) -> str:
    """A markdown table of :func:`paired_comparison` (empty string when there is nothing to compare)."""
    if not comparison:
        return ""
    ref = comparison[0]["reference"]
    out = [f"| {ref} vs | pairs | {ref} flips with fewer | same | more | lower deletion AUC | higher |",
           "|---|---|---|---|---|---|---|"]
    for c in comparison:
        out.append(f"| {c['label']} | {c['n']} | {c['flip_smaller']} | {c['flip_equal']} | {c['flip_larger']} | "
                   f"{c['auc_lower']} | {c['auc_higher']} |")
    return "\n".join(out)


def write_summary(rows: Sequence[Mapping[str, Any]], out: str | os.PathLike[str],
                  max_k: int | None = None, plots: bool = True) -> tuple[Path, ...]:
    """Write ``summary.csv``, ``summary.md`` and (``plots=True``) the PNG plots; return the paths."""
    import csv

    out = Path(out)
    lines = summarize_rows(rows, max_k)
    csv_path = out / "summary.csv"
    with atomic_open(csv_path, "w", newline="", what="summary table") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(SUMMARY_COLUMNS) + ["method", "setting_key"], extrasaction="ignore")
        writer.writeheader()
        for line in lines:
            writer.writerow({k: ("" if v is None else v) for k, v in line.items()})
    k = max_k if max_k is not None else (rows[0].get("max_k") if rows else None)
    md_path = out / "summary.md"
    paired = paired_markdown(paired_comparison(rows, max_k=k))
    atomic_write_text(md_path, summary_markdown(lines, k) + "\n"
                      + (f"\nPer-sample comparison:\n\n{paired}\n" if paired else "")
                      + _verified_sections(rows), what="summary")
    files = [csv_path, md_path]
    if plots:
        from whytoken.experiments.harness.modality import modality_labels, plot_modality
        from whytoken.experiments.harness.plots import write_plots

        files.extend(write_plots(rows, out / "plots", max_k=k))
        for label in modality_labels(rows)[:4]:
            written = plot_modality(rows, out / "plots" / f"modality_{label}.png", label)
            files.extend([written] if written is not None else [])
    return tuple(files)


def _verified_sections(rows: Sequence[Mapping[str, Any]]) -> str:
    """The head-to-head, exhaustive-minimum and modality-reliance sections of ``summary.md`` (where they apply)."""
    from whytoken.experiments.harness.modality import modality_labels, modality_markdown, modality_table

    text = ""
    versus = head_to_head_markdown([head_to_head(rows, a, b) for a, b in head_to_head_pairs(rows)])
    if versus:
        text += f"\nHead-to-head (answer by answer, same pool):\n\n{versus}\n"
    minimum = minimum_markdown(minimum_table(rows))
    if minimum:
        text += f"\nSet size against the exhaustive minimum:\n\n{minimum}\n"
    for label in modality_labels(rows)[:4]:
        table = modality_markdown(modality_table(rows, label))
        text += f"\nModality reliance, {label} (shares of answers):\n\n{table}\n"
    return text
