"""Benchmark of the explanation query with its library defaults (issue 11's figures).

Every figure here is measured against a baseline run in the same process on the same inputs:
an exhaustive search over the same candidate pool (all single tokens, then all pairs, ...), which
gives the true smallest explaining size and every set of that size.

Datasets (all through the experiment harness's loaders, so the ground truth is the harness's):

``world``      the embedded demo model on the synthetic world (``--split``, ``-n``); figures:
               explained, the top-ranked set inside the ground truth (answers that are present),
               at the exhaustive minimum size, passes against the exhaustive search's.
``world576``   the 576-patch world model (``whytoken-world576``) when installed: explained, inside
               the ground-truth object(s), passes, wall time per answer; ``--greedy`` also runs the
               black-box greedy search policy (if registered) on the same pool for the pass ratio.
``ranking``    how well each evidence ordering ranks single tokens (demo world, ``--split``, ``-n``):
               the rank of the first token whose removal changes the answer, when tokens are ordered
               by the predicting row's attention, by graph tier then dependence, by dependence alone,
               and at random (seeded); every single token is checked on the model.
``smollm2``    SmolLM2-135M on the packaged prompt lists (``smollm2_50``, ``smollm2_long``): the
               explaining sets equal the exhaustive search's (all of them; and "agree": same size,
               each one of the exhaustive's), the top-ranked set is the single token with the
               largest probability drop where the minimum is one token, passes against exhaustive.

Usage::

    python benchmarks/query.py world --split test -n 200 --out runs/query-world-test
    python benchmarks/query.py smollm2 --out runs/query-smollm2
    python benchmarks/query.py world576 --split test -n 100 --greedy --out runs/query-world576

One torch thread (``--threads``); the machine load is printed with the results.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Iterable, Sequence


def _load_average() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def _pool(trace: Any, explanation: Any) -> list[int]:
    """The query's default candidate pool: positions before the target node, no first/special token."""
    root = explanation.target_node
    return [p.index for p in trace.positions
            if p.index < root and p.index != 0 and p.kind.value != "special"]


def exhaustive(adapter: Any, trace: Any, target: int, pool: Sequence[int], max_size: int,
               batch_size: int = 16) -> dict[str, Any]:
    """Every subset of ``pool`` of size 1, 2, ... until a size has sets that change the target."""
    passes, drops = 0, {}
    for k in range(1, max_size + 1):
        sets = list(itertools.combinations(pool, k))
        preds = adapter.predict_batch(trace, target, [list(s) for s in sets], batch_size=batch_size)
        passes += len(sets)
        if k == 1:
            drops = {s[0]: 1.0 - q.original_token_prob_after / q.original_prob for s, q in zip(sets, preds)}
        hits = sorted(tuple(sorted(s)) for s, q in zip(sets, preds) if q.changed)
        if hits:
            return {"minimum": k, "sets": hits, "passes": passes, "single_drops": drops}
    return {"minimum": None, "sets": [], "passes": passes, "single_drops": drops}


def _row(explanation: Any, seconds: float) -> dict[str, Any]:
    best = explanation.explaining_set
    return {"target": explanation.target.text, "status": explanation.status,
            "size": None if best is None else best.size, "top": None if best is None else list(best.positions),
            "sets": [list(s.positions) for s in explanation.explaining_sets],
            "claim": None if best is None else best.claim(), "passes": explanation.search.passes_used,
            "passes_by_stage": dict(explanation.search.passes_by_stage), "seconds": round(seconds, 3),
            "learn_seconds": round(explanation.timings.get("learn", 0.0), 3)}


def run_world(args: argparse.Namespace) -> list[dict[str, Any]]:
    from whytoken.adapters import load_model
    from whytoken.experiments.harness.datasets import ground_truth_positions, load_dataset
    from whytoken.query import explain

    model = "whytoken-demo" if args.dataset == "world" else "whytoken-world576"
    adapter = load_model(model)
    spec = {"kind": args.dataset, "split": args.split, "n": args.n, "seed": args.offset}
    rows = []
    for sample in load_dataset(spec):
        trace = adapter.trace(image=sample.pil_image(), prompt=sample.prompt, max_new_tokens=2, chat_template=False,
                              layers=(-1,))
        start = time.perf_counter()
        e = explain(trace)
        row = {"id": sample.sample_id, "kind": sample.meta.get("kind"), "absent": bool(sample.meta.get("absent")),
               "answer": sample.answer, **_row(e, time.perf_counter() - start)}
        truth = ground_truth_positions(trace, sample) or frozenset()
        row["inside"] = bool(e.explaining_set is not None and set(e.explaining_set.positions) <= truth)
        pool = _pool(trace, e)
        row["pool"] = len(pool)
        if args.exhaustive and args.dataset == "world":
            ex = exhaustive(adapter, trace, e.target.position, pool, max_size=2, batch_size=64)
            row.update(exhaustive_minimum=ex["minimum"], exhaustive_passes=ex["passes"])
        if args.greedy:
            from whytoken.query import list_policies

            if "greedy" in list_policies():
                start = time.perf_counter()
                g = explain(trace, policy="greedy", pool="image", max_passes=args.greedy_budget)
                row["greedy"] = _row(g, time.perf_counter() - start)
                start = time.perf_counter()
                w = explain(trace, pool="image")
                row["whytoken_image"] = _row(w, time.perf_counter() - start)
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def summarize_world(rows: Sequence[dict[str, Any]]) -> list[str]:
    n = len(rows)
    present = [r for r in rows if not r["absent"]]
    explained = sum(r["status"] == "explained" for r in rows)
    inside = sum(r["inside"] for r in present)
    lines = [f"explained: {explained}/{n} ({explained / n:.1%})",
             f"top-ranked set inside the ground truth (answer present): {inside}/{len(present)} "
             f"({inside / max(len(present), 1):.1%})",
             f"mean passes: {statistics.mean(r['passes'] for r in rows):.1f} "
             f"(max {max(r['passes'] for r in rows)}); mean seconds per explanation: "
             f"{statistics.mean(r['seconds'] for r in rows):.2f} (max {max(r['seconds'] for r in rows):.2f})"]
    if rows and "exhaustive_passes" in rows[0]:
        have = [r for r in rows if r["exhaustive_minimum"] is not None]
        at_min = sum(r["size"] == r["exhaustive_minimum"] for r in have)
        ex = statistics.mean(r["exhaustive_passes"] for r in rows)
        ours = statistics.mean(r["passes"] for r in rows)
        lines += [f"at the exhaustive minimum size (sizes 1-2 exist: {len(have)}): {at_min}/{len(have)} "
                  f"({at_min / max(len(have), 1):.1%})",
                  f"mean exhaustive passes (sizes 1-2): {ex:.1f}; whytoken/exhaustive = {ours / ex:.3f}"]
    greedy = [r for r in rows if "greedy" in r]
    if greedy:
        g = statistics.mean(r["greedy"]["passes"] for r in greedy)
        w = statistics.mean(r["whytoken_image"]["passes"] for r in greedy)
        both = [r for r in greedy if r["greedy"]["size"] and r["whytoken_image"]["size"]]
        smaller = sum(r["whytoken_image"]["size"] <= r["greedy"]["size"] for r in both)
        lines += [f"image pool: whytoken {w:.1f} passes vs greedy {g:.1f} (ratio {w / max(g, 1e-9):.3f}); "
                  f"set size <= greedy's on {smaller}/{len(both)}"]
    kinds = sorted({r["kind"] for r in rows if r["kind"]})
    for kind in kinds:
        part = [r for r in rows if r["kind"] == kind]
        pres = [r for r in part if not r["absent"]]
        lines.append(f"  {kind}: explained {sum(r['status'] == 'explained' for r in part)}/{len(part)}, inside GT "
                     f"{sum(r['inside'] for r in pres)}/{len(pres)}, passes {statistics.mean(r['passes'] for r in part):.1f}")
    return lines


def run_ranking(args: argparse.Namespace) -> list[dict[str, Any]]:
    import random

    from whytoken.adapters import load_model
    from whytoken.experiments.harness.datasets import load_dataset
    from whytoken.query import explain
    from whytoken.query.evidence import build_evidence

    adapter = load_model("whytoken-demo")
    rows = []
    for sample in load_dataset({"kind": "world", "split": args.split, "n": args.n, "seed": args.offset}):
        trace = adapter.trace(image=sample.pil_image(), prompt=sample.prompt, max_new_tokens=1, chat_template=False,
                              layers=(-1,))
        e = explain(trace, verify=False)
        pool = _pool(trace, e)
        preds = adapter.predict_batch(trace, e.target.position, [[p] for p in pool], batch_size=64)
        hits = {p for p, q in zip(pool, preds) if q.changed}
        if not hits:
            continue
        # the evidence table the search orders by, rebuilt from the explanation's own graphs
        heads = {h.head: h for h in e.heads}
        depth = {p: min((h.pds_depth.get(p, 99) for h in heads.values() if h.pds_depth.get(p, 0) > 0), default=None)
                 for p in pool}
        logp = {m: 0.0 for m in pool}

        import numpy as np

        attn = np.asarray(trace.attentions[max(trace.attentions)])
        layer = build_evidence(attn, list(heads), pool + [e.target_node], e.provenance["n_samples"],
                               e.provenance["alpha"], last=e.target_node)
        for ev in layer.for_root(e.target_node, e.attention_row):
            for p in pool:
                logp[p] = min(logp[p], ev.log10_p.get(p, 0.0))
        att = {p: float(np.mean([e.attention[h][p] for h in heads])) for p in pool}
        tier = {p: 2 if depth[p] is None else (0 if depth[p] == 1 else 1) for p in pool}
        rng = random.Random(sample.sample_id)
        shuffled = pool[:]
        rng.shuffle(shuffled)
        orders = {"attention": sorted(pool, key=lambda p: (-att[p], p)),
                  "graph tier, then dependence": sorted(pool, key=lambda p: (tier[p], logp[p], p)),
                  "dependence": sorted(pool, key=lambda p: (logp[p], p)),
                  "random": shuffled}
        row = {"id": sample.sample_id, "pool": len(pool), "n_changing": len(hits),
               "first_rank": {name: min(order.index(h) for h in hits) for name, order in orders.items()},
               "changing_in_a_tree": sum(depth[h] is not None for h in hits)}
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def summarize_ranking(rows: Sequence[dict[str, Any]]) -> list[str]:
    lines = [f"{len(rows)} answers with a single token that changes them; pool {statistics.mean(r['pool'] for r in rows):.1f} "
             f"tokens, {statistics.mean(r['n_changing'] for r in rows):.1f} of them change the answer; "
             f"{sum(r['changing_in_a_tree'] for r in rows)} of {sum(r['n_changing'] for r in rows)} changing tokens "
             "lie within PDS distance 3 of the target in some head"]
    for name in rows[0]["first_rank"] if rows else ():
        ranks = [r["first_rank"][name] for r in rows]
        lines.append(f"  {name:28s} rank of the first changing token: mean {statistics.mean(ranks):.1f}, median "
                     f"{statistics.median(ranks):.0f}, first {sum(x == 0 for x in ranks)}/{len(ranks)}, "
                     f"top 4 {sum(x < 4 for x in ranks)}/{len(ranks)}")
    return lines


def run_smollm2(args: argparse.Namespace) -> list[dict[str, Any]]:
    from whytoken.adapters import load_model
    from whytoken.experiments.harness.datasets import load_dataset
    from whytoken.query import explain

    adapter = load_model("smollm2-135m-instruct")
    rows = []
    for name in args.lists.split(","):
        for sample in load_dataset({"kind": "prompts", "name": name}):
            trace = adapter.trace(prompt=sample.prompt, max_new_tokens=1, chat_template=False, layers=(-1,))
            start = time.perf_counter()
            e = explain(trace, -1)
            row = {"list": name, "prompt": sample.prompt, **_row(e, time.perf_counter() - start)}
            pool = _pool(trace, e)
            ex = exhaustive(adapter, trace, e.target.position, pool, max_size=args.max_size)
            ours = {tuple(s) for s in row["sets"]} if e.status == "explained" else set()
            truth = set(ex["sets"])
            drops = ex["single_drops"]
            best_drop = max(drops, key=drops.get) if drops else None
            changing = [s[0] for s in truth if len(s) == 1]
            best_changing = max(changing, key=drops.get) if changing else None
            row.update(pool=len(pool), exhaustive_minimum=ex["minimum"], exhaustive_sets=[list(s) for s in truth],
                       exhaustive_passes=ex["passes"], equal=ours == truth,
                       agree=bool(ours) and ours <= truth if truth else not ours,
                       # the exhaustive search stops at --max-size: a larger set found cannot be compared
                       comparable=bool(truth) or not ours or min(len(x) for x in ours) <= args.max_size,
                       largest_drop=best_drop, top_is_largest_drop=row["top"] == [best_drop],
                       largest_changing_drop=best_changing,
                       top_is_largest_changing_drop=best_changing is not None and row["top"] == [best_changing])
            rows.append(row)
            print(json.dumps(row), flush=True)
    return rows


def summarize_smollm2(rows: Sequence[dict[str, Any]]) -> list[str]:
    lines = []
    for name in sorted({r["list"] for r in rows}) + ["all"]:
        every = [r for r in rows if name in ("all", r["list"])]
        part = [r for r in every if r.get("comparable", True)]
        n = len(part)
        if len(every) > n:
            lines.append(f"{name}: {len(every) - n} prompt(s) whose smallest set found is larger than the exhaustive "
                         "search's --max-size left out of the comparison (the exhaustive search found none)")
        one = [r for r in part if r["exhaustive_minimum"] == 1]
        ours, ex = (statistics.mean(r[k] for r in part) for k in ("passes", "exhaustive_passes"))
        lines.append(f"{name} ({n} prompts): sets equal to exhaustive {sum(r['equal'] for r in part)}/{n} "
                     f"({sum(r['equal'] for r in part) / n:.0%}); agree (same size, each one of the exhaustive's) "
                     f"{sum(r['agree'] for r in part)}/{n}; where the minimum is one token, top = the single token "
                     f"with the largest probability drop {sum(r['top_is_largest_drop'] for r in one)}/{len(one)}, "
                     f"= the one with the largest drop among those that change the target "
                     f"{sum(r.get('top_is_largest_changing_drop', False) for r in one)}/{len(one)}; passes {ours:.1f} vs "
                     f"exhaustive {ex:.1f} (ratio {ours / max(ex, 1e-9):.3f})")
    return lines


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", choices=["world", "world576", "smollm2", "ranking"])
    parser.add_argument("--split", default="test")
    parser.add_argument("-n", type=int, default=200)
    parser.add_argument("--offset", type=int, default=0)
    parser.add_argument("--no-exhaustive", dest="exhaustive", action="store_false")
    parser.add_argument("--greedy", action="store_true", help="world576: also run the black-box greedy policy")
    parser.add_argument("--greedy-budget", type=int, default=20000)
    parser.add_argument("--lists", default="smollm2_50,smollm2_long")
    parser.add_argument("--max-size", type=int, default=3, help="smollm2: largest exhaustive size")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None, help="folder for rows.jsonl and summary.txt")
    args = parser.parse_args(list(argv) if argv is not None else None)

    import torch

    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    if args.dataset == "smollm2":
        rows = run_smollm2(args)
        lines = summarize_smollm2(rows)
    elif args.dataset == "ranking":
        rows = run_ranking(args)
        lines = summarize_ranking(rows)
    else:
        rows = run_world(args)
        lines = summarize_world(rows)
    lines.append(f"wall {time.perf_counter() - start:.0f} s; load average {_load_average()}; threads {args.threads}; "
                 f"command: python benchmarks/query.py {' '.join(sys.argv[1:] if argv is None else argv)}")
    print("\n".join(lines))
    if args.out is not None:
        from whytoken.files import atomic_write_text, ensure_directory

        ensure_directory(args.out)
        atomic_write_text(args.out / "rows.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
        atomic_write_text(args.out / "summary.txt", "\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
