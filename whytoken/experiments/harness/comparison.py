"""Head-to-head comparisons of verifying methods, answer by answer: cost, set size, the exhaustive minimum.

whytoken and the black-box searches (``greedy-search``, ``exhaustive-search``)
all return verified sets, so they are compared on the same answers:

:func:`head_to_head`
    Pairs the rows of two method labels by (sample, target, probing keys) and
    reports both methods' forward passes and seconds (mean, the ratio of the
    means and the median of the per-answer ratios), how often each verified a
    set, how often the first method's set is no larger than the second's
    (an answer where the first found none counts against it, even when the
    second found none either; where only the first found one, for it; and the
    same share among the answers the second method explains), and both
    pointing-game rates.
:func:`minimum_table`
    For every verifying label, its set size against the exhaustive minimum of
    the ``exhaustive-search`` rows with the same pool
    (:func:`~whytoken.experiments.metrics.size_against_minimum`).
:func:`head_to_head_pairs`
    Which label pairs a summary compares: each ``whytoken`` label against each
    search label with the same ``pool``.

Examples
--------
>>> rows = [{"label": l, "method": m, "sample_id": s, "target": {"generated_index": 0}, "setting": {"pool": "all"},
...          "explaining_set_size": k, "verified": k is not None, "cost": {"forward_passes": f, "seconds": f / 100},
...          "ground_truth": {"pointing": True}}
...         for l, m, s, k, f in [("whytoken", "whytoken", "a", 1, 10), ("greedy", "greedy-search", "a", 2, 100),
...                               ("whytoken", "whytoken", "b", None, 30), ("greedy", "greedy-search", "b", 3, 100)]]
>>> h = head_to_head(rows, "whytoken", "greedy")
>>> h["n"], h["passes_ratio"], h["size_no_larger"], h["explained_a"]
(2, 0.2, 0.5, 0.5)
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from whytoken.experiments.metrics import MINIMUM_VERDICTS, size_against_minimum

__all__ = ["SEARCH_METHODS", "VERIFYING_METHODS", "head_to_head", "head_to_head_pairs", "head_to_head_markdown",
           "minimum_table", "minimum_markdown"]

#: Methods that are verified black-box searches.
SEARCH_METHODS = ("greedy-search", "exhaustive-search")
#: Methods whose rows carry a verified explaining set.
VERIFYING_METHODS = ("whytoken",) + SEARCH_METHODS


def _pair_key(row: Mapping[str, Any]) -> tuple:
    setting = row.get("setting") or {}
    return (row["sample_id"], row["target"]["generated_index"], setting.get("intervention"), setting.get("criterion"))


def _by_key(rows: Iterable[Mapping[str, Any]], label: str) -> dict[tuple, Mapping[str, Any]]:
    out: dict[tuple, Mapping[str, Any]] = {}
    for r in rows:
        if r["label"] == label:
            out.setdefault(_pair_key(r), r)  # the first setting of a swept label
    return out


def _mean(values: Iterable[Any]) -> float | None:
    vals = [float(v) for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return float(np.mean(vals)) if vals else None


def _cost(row: Mapping[str, Any], key: str) -> float | None:
    value = (row.get("cost") or {}).get(key)
    return None if value is None else float(value)


def _size(row: Mapping[str, Any]) -> int | None:
    return row.get("explaining_set_size") if row.get("verified") else None


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b == 0 else a / b


def head_to_head(rows: Sequence[Mapping[str, Any]], label_a: str, label_b: str) -> dict[str, Any]:
    """Answer-by-answer comparison of two verifying method labels (see the module docstring)."""
    a_rows, b_rows = _by_key(rows, label_a), _by_key(rows, label_b)
    pairs = [(a_rows[k], b_rows[k]) for k in a_rows if k in b_rows]
    out: dict[str, Any] = {"a": label_a, "b": label_b, "n": len(pairs)}
    if not pairs:
        return out
    for key in ("forward_passes", "seconds"):
        short = "passes" if key == "forward_passes" else key
        ma, mb = _mean(_cost(a, key) for a, _ in pairs), _mean(_cost(b, key) for _, b in pairs)
        ratios = [_ratio(_cost(a, key), _cost(b, key)) for a, b in pairs]
        out[f"{short}_a"], out[f"{short}_b"], out[f"{short}_ratio"] = ma, mb, _ratio(ma, mb)
        out[f"{short}_ratio_median"] = float(np.median([r for r in ratios if r is not None])) if any(
            r is not None for r in ratios) else None
    sizes = [(_size(a), _size(b)) for a, b in pairs]
    out["explained_a"] = sum(sa is not None for sa, _ in sizes) / len(pairs)
    out["explained_b"] = sum(sb is not None for _, sb in sizes) / len(pairs)
    out["size_no_larger"] = sum(sa is not None and (sb is None or sa <= sb) for sa, sb in sizes) / len(pairs)
    found_b = [(sa, sb) for sa, sb in sizes if sb is not None]
    out["size_no_larger_found"] = (sum(sa is not None and sa <= sb for sa, sb in found_b) / len(found_b)
                                   if found_b else None)
    out["neither"] = sum(sa is None and sb is None for sa, sb in sizes)
    both = [(sa, sb) for sa, sb in sizes if sa is not None and sb is not None]
    out["size_smaller"] = sum(sa < sb for sa, sb in both)
    out["size_equal"] = sum(sa == sb for sa, sb in both)
    out["size_larger"] = sum(sa > sb for sa, sb in both)
    out["size_a"] = _mean(sa for sa, _ in both)
    out["size_b"] = _mean(sb for _, sb in both)
    out["pointing_a"] = _mean(_pointing(a) for a, _ in pairs)
    out["pointing_b"] = _mean(_pointing(b) for _, b in pairs)
    return out


def _pointing(row: Mapping[str, Any]) -> float | None:
    value = (row.get("ground_truth") or {}).get("pointing")
    return None if value is None else float(bool(value))


def _first_settings(rows: Sequence[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    out: dict[str, Mapping[str, Any]] = {}
    for r in rows:
        out.setdefault(r["label"], r)
    return out


def head_to_head_pairs(rows: Sequence[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """(whytoken label, search label) pairs with the same ``pool`` setting, in label order."""
    first = _first_settings(rows)
    ours = sorted(l for l, r in first.items() if r["method"] == "whytoken")
    theirs = sorted(l for l, r in first.items() if r["method"] in SEARCH_METHODS)
    pool = {l: (first[l].get("setting") or {}).get("pool", "all") for l in ours + theirs}
    return [(a, b) for a in ours for b in theirs if pool[a] == pool[b]]


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.{digits}f}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)


def head_to_head_markdown(comparisons: Sequence[Mapping[str, Any]]) -> str:
    """A markdown table of :func:`head_to_head` results (empty string when there are none)."""
    lines = [c for c in comparisons if c.get("n")]
    if not lines:
        return ""
    out = ["| A vs B | answers | passes A | passes B | A/B passes (ratio of means) | median per-answer ratio | "
           "seconds A | seconds B | A/B seconds | explained A | explained B | A's set no larger (all answers) | "
           "(answers B explains) | smaller / equal / larger | pointing A | pointing B |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for c in lines:
        out.append(f"| {c['a']} vs {c['b']} | {c['n']} | {_fmt(c['passes_a'], 1)} | {_fmt(c['passes_b'], 1)} | "
                   f"{_fmt(c['passes_ratio'])} | {_fmt(c['passes_ratio_median'])} | {_fmt(c['seconds_a'], 2)} | "
                   f"{_fmt(c['seconds_b'], 2)} | {_fmt(c['seconds_ratio'])} | {_fmt(c['explained_a'])} | "
                   f"{_fmt(c['explained_b'])} | {_fmt(c['size_no_larger'])} | {_fmt(c['size_no_larger_found'])} | "
                   f"{c['size_smaller']} / {c['size_equal']} / {c['size_larger']} | {_fmt(c['pointing_a'])} | "
                   f"{_fmt(c['pointing_b'])} |")
    return "\n".join(out)


def minimum_table(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per verifying label: how its sets compare with the exhaustive minimum (same pool, same answers).

    Each line counts the answers in each of
    :data:`~whytoken.experiments.metrics.MINIMUM_VERDICTS` and the share at the
    minimum among answers whose minimum is known (exactly, or as a bound a
    set met).
    """
    first = _first_settings(rows)
    exhaustive = {(first[l].get("setting") or {}).get("pool", "all"): l
                  for l in sorted(first) if first[l]["method"] == "exhaustive-search"}
    out = []
    for label in sorted(first):
        if first[label]["method"] not in VERIFYING_METHODS:
            continue
        ref_label = exhaustive.get((first[label].get("setting") or {}).get("pool", "all"))
        if ref_label is None or ref_label == label:
            continue
        refs = _by_key(rows, ref_label)
        counts = dict.fromkeys(MINIMUM_VERDICTS, 0)
        for key, row in _by_key(rows, label).items():
            ref = refs.get(key)
            if ref is None:
                continue
            details = ref.get("details") or {}
            counts[size_against_minimum(_size(row), details.get("min_size_at_least"),
                                        details.get("min_size_exact"))] += 1
        n = sum(counts.values())
        known = counts["at-minimum"] + counts["above-minimum"]
        out.append({"label": label, "reference": ref_label, "n": n, **counts,
                    "at_minimum_share": counts["at-minimum"] / known if known else None})
    return out


def minimum_markdown(lines: Sequence[Mapping[str, Any]]) -> str:
    """A markdown table of :func:`minimum_table` (empty string when there is no exhaustive reference)."""
    if not lines:
        return ""
    out = ["| method | reference | answers | at minimum | above minimum | unknown | no set | at minimum (of known) |",
           "|---|---|---|---|---|---|---|---|"]
    for line in lines:
        out.append(f"| {line['label']} | {line['reference']} | {line['n']} | {line['at-minimum']} | "
                   f"{line['above-minimum']} | {line['unknown']} | {line['no-set']} | "
                   f"{_fmt(line['at_minimum_share'])} |")
    return "\n".join(out)
