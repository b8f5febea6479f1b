"""Head-to-head benchmark: whytoken's verified sets against a verified black-box greedy search (issue 15).

Each configuration is an ordinary experiment (``experiments/configs/headtohead_*.yaml``): the harness runs
whytoken, the EAGLE-style ``greedy-search`` and the ``exhaustive-search`` (the ground-truth minimum) on the same
answers and the same pool, in the same process, so every ratio below is measured against a baseline of the same
run. The script runs (or resumes: ``results.jsonl``) each configuration, then prints per dataset:

* the head-to-head table (whytoken vs each search with the same pool): forward passes and seconds of both and
  their ratio (ratio of the means; median of the per-answer ratios), answers explained, the share of answers
  where whytoken's set is no larger than the search's (an answer whytoken does not explain counts against it),
  the pointing game of both;
* issue 15's figures for each pair: passes ratio <= 1/10, set no larger on >= 80 % of answers, pointing game
  >= 90 % -- each "met" or "missed";
* the same per question kind, the set sizes against the exhaustive minimum, the modality reliance of whytoken's
  answers per kind, and the answers where whytoken loses (no set, or a larger set than the search's) with
  their passes by stage.

Usage::

    python benchmarks/headtohead.py experiments/configs/headtohead_world.yaml --md runs/headtohead-world.md
    python benchmarks/headtohead.py --results runs/headtohead-world     # only read a finished run
    python benchmarks/headtohead.py --same-rows runs/world576-inline-20 runs/world576-ray-1000   # inline == Ray?

One torch thread per run (the configurations say ``threads: 1``); the machine load (``uptime``) is printed
before and after.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Mapping, Sequence

FIGURES = (("passes_ratio", "<=", 0.1, "passes ratio <= 1/10"),
           ("size_no_larger", ">=", 0.8, "set no larger on >= 80 % of all answers"),
           ("pointing_a", ">=", 0.9, "pointing game >= 90 %"))


def _uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "load average: " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def _figures(line: Mapping[str, Any]) -> str:
    out = []
    for key, op, bound, text in FIGURES:
        value = line.get(key)
        if value is None:
            out.append(f"{text}: n/a")
            continue
        met = value <= bound if op == "<=" else value >= bound
        out.append(f"{text}: {'met' if met else 'MISSED'} ({value:.3f})")
    return "; ".join(out)


def _kinds(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    return sorted({str((r.get("sample") or {}).get("kind")) for r in rows if (r.get("sample") or {}).get("kind")})


def _losses(rows: Sequence[Mapping[str, Any]], a: str, b: str, limit: int) -> list[str]:
    """Answers ``b`` explains where ``a`` has no set or a larger one: the concrete examples for the report."""
    from whytoken.experiments.harness.comparison import _by_key

    ours, theirs = _by_key(rows, a), _by_key(rows, b)
    out = []
    for key in sorted(ours):
        if key not in theirs:
            continue
        x, y = ours[key], theirs[key]
        sx = x.get("explaining_set_size") if x.get("verified") else None
        sy = y.get("explaining_set_size") if y.get("verified") else None
        if (sx is not None and (sy is None or sx <= sy)) or (sx is None and sy is None):
            continue  # a win, a tie, or neither explains it (counted apart)
        sample = x.get("sample") or {}
        details = x.get("details") or {}
        out.append(f"  {x['sample_id']} [{sample.get('kind')}] {sample.get('question') or sample.get('prompt')!r} -> "
                   f"{x['target']['text']!r}: {a} {x.get('explaining_set')} ({details.get('status')}, "
                   f"{x['cost']['forward_passes']} passes {details.get('passes_by_stage')}) | {b} "
                   f"{y.get('explaining_set')} ({y['cost']['forward_passes']} passes)")
        if len(out) >= limit:
            break
    return out


def report(rows: Sequence[Mapping[str, Any]], name: str, examples: int = 12) -> str:
    from whytoken.experiments.harness.comparison import (
        head_to_head, head_to_head_markdown, head_to_head_pairs, minimum_markdown, minimum_table,
    )
    from whytoken.experiments.harness.modality import modality_labels, modality_markdown, modality_table
    from whytoken.experiments.harness.summary import summarize_rows, summary_markdown

    pairs = head_to_head_pairs(rows)
    lines = [f"## {name}", ""]
    comparisons = [head_to_head(rows, a, b) for a, b in pairs]
    lines += [head_to_head_markdown(comparisons), ""]
    for c in comparisons:
        if c.get("n"):
            lines.append(f"* {c['a']} vs {c['b']} ({c['n']} answers, {c['neither']} explained by neither): "
                         f"{_figures(c)}")
    lines.append("")
    kinds = _kinds(rows)
    if len(kinds) > 1:
        lines += ["By question kind:", ""]
        per_kind = []
        for kind in kinds:
            subset = [r for r in rows if (r.get("sample") or {}).get("kind") == kind]
            for a, b in pairs:
                c = head_to_head(subset, a, b)
                c["a"] = f"{c['a']} [{kind}]"
                per_kind.append(c)
        lines += [head_to_head_markdown(per_kind), ""]
    minimum = minimum_markdown(minimum_table(rows))
    if minimum:
        lines += ["Set size against the exhaustive minimum:", "", minimum, ""]
    lines += ["All methods (harness summary):", "", summary_markdown(summarize_rows(rows)), ""]
    for label in [l for l in modality_labels(rows) if l.startswith("whytoken")][:2]:
        lines += [f"Modality reliance, {label} (shares of answers):", "",
                  modality_markdown(modality_table(rows, label)), ""]
    for a, b in pairs:
        losses = _losses(rows, a, b, examples)
        if losses:
            lines += [f"Answers {b} explains where {a} has no set or a larger one (first {len(losses)}):", ""]
            lines += losses + [""]
    return "\n".join(lines)


def modality_plot(runs: Sequence[tuple[str, Sequence[Mapping[str, Any]]]], path: str) -> Any:
    """One modality-reliance figure over several runs: a bar per dataset and question kind (whytoken's answers;
    the label with pool ``all`` where a run has one, so that its sets can hold either modality)."""
    from whytoken.experiments.harness.modality import modality_labels, plot_modality

    merged = []
    for name, rows in runs:
        labels = [l for l in modality_labels(rows) if l.startswith("whytoken")]
        if not labels:
            continue
        pools = {r["label"]: (r.get("setting") or {}).get("pool", "all") for r in rows}
        label = next((l for l in labels if pools.get(l) == "all"), labels[0])
        for r in rows:
            if r["label"] == label:
                kind = (r.get("sample") or {}).get("kind") or "prompt"
                merged.append({**r, "label": "whytoken", "sample_id": f"{name}/{r['sample_id']}",
                               "sample": {**(r.get("sample") or {}), "kind": f"{name}: {kind}"}})
    return plot_modality(merged, path, "whytoken", include_all=False) if merged else None


def same_rows(folder_a: Path, folder_b: Path) -> str:
    """Compare two runs of one configuration (e.g. inline and on Ray) on the rows both hold, volatile fields aside."""
    from whytoken.experiments.harness import VOLATILE_FIELDS, read_rows

    def clean(row: Mapping[str, Any]) -> dict:
        out = {k: v for k, v in row.items() if k not in VOLATILE_FIELDS}
        for key in ("provenance", "cost", "details"):
            if isinstance(out.get(key), Mapping):
                out[key] = {k: v for k, v in out[key].items() if k not in VOLATILE_FIELDS}
        return out

    a = {r["row_id"]: clean(r) for r in read_rows(folder_a)}
    b = {r["row_id"]: clean(r) for r in read_rows(folder_b)}
    common = sorted(set(a) & set(b))
    differ = [k for k in common if a[k] != b[k]]
    return (f"same rows: {folder_a} ({len(a)} rows) vs {folder_b} ({len(b)} rows): {len(common)} in both, "
            f"{len(common) - len(differ)} identical, {len(differ)} differ" + (f" (first: {differ[0]})" if differ else ""))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("configs", nargs="*", help="experiment configurations to run (or resume)")
    parser.add_argument("--results", nargs="*", default=[], help="run folders to read without running")
    parser.add_argument("--limit", type=int, default=None, help="first N samples of each dataset")
    parser.add_argument("--examples", type=int, default=12, help="losing answers listed per pair")
    parser.add_argument("--md", default=None, help="also write the report to this markdown file")
    parser.add_argument("--plot", default=None, help="write one modality-reliance figure over all runs (PNG)")
    parser.add_argument("--same-rows", nargs=2, metavar=("RUN_A", "RUN_B"), default=None,
                        help="compare two runs of one configuration (e.g. inline and Ray) on their common rows")
    args = parser.parse_args(argv)
    if not args.configs and not args.results and not args.same_rows:
        parser.error("give configurations to run, --results folders to read or --same-rows RUN_A RUN_B")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from whytoken.experiments.harness import load_config, read_rows, run_experiment

    text = [f"load before: {_uptime()}", ""]
    folders: list[tuple[str, Path]] = []
    for path in args.configs:
        config = load_config(path)
        summary = run_experiment(config, limit=args.limit)
        text.append(f"ran {path}: {summary.n_new_rows} new rows, {summary.n_rows} in all, {summary.n_errors} "
                    f"samples with errors, {summary.seconds:.0f} s -> {summary.output}")
        folders.append((config.name, summary.output))
    folders += [(Path(p).name, Path(p)) for p in args.results]
    runs = [(name, read_rows(folder)) for name, folder in folders]
    for name, rows in runs:
        text += ["", report(rows, name, args.examples)]
    if args.plot:
        written = modality_plot(runs, args.plot)
        text.append(f"modality plot: {written}")
    if args.same_rows:
        text.append(same_rows(Path(args.same_rows[0]), Path(args.same_rows[1])))
    text += ["", f"load after: {_uptime()}", f"command: {' '.join([Path(sys.argv[0]).name] + list(argv or sys.argv[1:]))}"]
    out = "\n".join(text)
    print(out)
    if args.md:
        from whytoken.files import atomic_write_text

        atomic_write_text(args.md, out + "\n", what="head-to-head report")
    return 0


if __name__ == "__main__":
    sys.exit(main())
