"""Demo timing: where ``whytoken demo`` spends its time, and how many forward passes it saves.

Two measurements:

1. **End to end.** ``whytoken demo --out DIR`` in a fresh process (Python
   start-up, imports, model load, trace, graphs, verification, outputs),
   wall-clock, ``--runs`` times. The README promises under 30 s on this CPU.
2. **Split, in process.** The same pipeline step by step: importing the
   adapters (torch, transformers), ``load_model("whytoken-demo")``, the trace,
   structure learning per head, verification (seconds, interventions, batched
   model calls), writing the four output files. Then an **exhaustive search**
   over the same candidate tokens: every subset up to the minimal size that
   whytoken found, removed through the same adapter and criterion, to count
   the forward passes it needs and to check which minimal sets whytoken found
   (recall) -- and that every set it reports is one (precision).

``--smollm2`` adds the same split for SmolLM2-135M on "The capital of France
is" (needs the packaged weights).

Run from the repository root::

    python benchmarks/demo.py                  # text report
    python benchmarks/demo.py --markdown       # the "Demo timing" section for RESULTS.md
    python benchmarks/demo.py --runs 1 --no-exhaustive
    python benchmarks/demo.py --checkpoint /path/to/candidate   # a checkpoint not yet packaged
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import argparse  # noqa: E402
import datetime  # noqa: E402
import itertools  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402


_PATCHED_MAIN = (
    "import sys; from pathlib import Path; import whytoken.adapters.loading as L; "
    "ckpt = Path(sys.argv.pop(1)); L.KNOWN_MODELS['whytoken-demo'] = lambda: ckpt; "
    "from whytoken.cli import main; sys.exit(main(sys.argv[1:]))"
)


def use_checkpoint(path: str | None) -> None:
    """Point the short name ``whytoken-demo`` at ``path`` (to time a checkpoint before it is packaged)."""
    if path:
        import whytoken.adapters.loading as loading

        loading.KNOWN_MODELS["whytoken-demo"] = lambda: Path(path)


def end_to_end(runs: int, threads: int, checkpoint: str | None = None) -> list[float]:
    """Wall-clock seconds of ``whytoken demo`` in fresh processes."""
    exe = shutil.which("whytoken")
    if checkpoint:
        cmd = [sys.executable, "-c", _PATCHED_MAIN, checkpoint]
    else:
        cmd = [exe] if exe else [sys.executable, "-m", "whytoken.cli"]
    times = []
    for i in range(runs):
        out = Path(tempfile.mkdtemp(prefix="whytoken-demo-bench-"))
        start = time.perf_counter()
        done = subprocess.run(cmd + ["--threads", str(threads), "demo", "--out", str(out)], capture_output=True,
                              text=True)
        seconds = time.perf_counter() - start
        if done.returncode != 0:
            sys.exit(f"whytoken demo failed (exit {done.returncode}):\n{done.stdout}\n{done.stderr}")
        times.append(seconds)
        print(f"  run {i + 1}: whytoken demo took {seconds:.1f} s", file=sys.stderr)
        shutil.rmtree(out, ignore_errors=True)
    return times


def removable_pool(trace: Any, target: int, include_special: bool = False) -> list[int]:
    """The candidate tokens of the query (its default rule): before the target, not the first, not special."""
    first = trace.positions[0].index
    return [p.index for p in trace.positions[:target]
            if include_special or (p.index != first and p.kind.value != "special")]


def exhaustive(adapter: Any, trace: Any, target: int, pool: list[int], max_size: int, criterion: Any,
               original_prob: float, batch: int = 64) -> tuple[int, float, set[tuple[int, ...]]]:
    """Remove every subset of ``pool`` of size 1..max_size; return (interventions, seconds, minimal sets)."""
    start = time.perf_counter()
    n = 0
    minimal: set[tuple[int, ...]] = set()
    for size in range(1, max_size + 1):
        subsets = [s for s in itertools.combinations(pool, size) if not any(set(m) <= set(s) for m in minimal)]
        for i in range(0, len(subsets), batch):
            chunk = subsets[i:i + batch]
            for s, pred in zip(chunk, adapter.predict_batch(trace, target, [list(c) for c in chunk],
                                                            batch_size=len(chunk))):
                if criterion.changed(pred, original_prob):
                    minimal.add(s)
            n += len(chunk)
        if minimal:
            break
    return n, time.perf_counter() - start, minimal


def split(name: str, load: Any, make_trace: Any, image: Any, run_exhaustive: bool,
          exhaustive_limit: int, **settings: Any) -> dict[str, Any]:
    from whytoken.cli import write_outputs
    from whytoken.query import explain, get_criterion

    t = time.perf_counter()
    adapter = load()
    load_s = time.perf_counter() - t
    t = time.perf_counter()
    trace = make_trace(adapter)
    trace_s = time.perf_counter() - t
    target = trace.generated[0].position
    t = time.perf_counter()
    result = explain(trace, target, **settings)
    explain_s = time.perf_counter() - t
    t = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        write_outputs(result, Path(out), image=image if image is not None else (trace.images[0] if trace.images else None))
    write_s = time.perf_counter() - t
    heads = [h.learn_seconds for h in result.heads]
    row: dict[str, Any] = {
        "name": name,
        "positions": trace.n_positions,
        "graph_nodes": len(result.heads[0].pag) if result.heads else 0,
        "answer": trace.generated[0].text,
        "load_s": load_s,
        "trace_s": trace_s,
        "learn_total_s": sum(heads),
        "learn_per_head_s": (min(heads), statistics.median(heads), max(heads)) if heads else (0, 0, 0),
        "n_heads": len(heads),
        "ci_tests": sum(h.n_ci_tests for h in result.heads),
        "verify_s": result.timings.get("verify", float("nan")),
        "interventions": result.search.passes_used,
        "first_hit": result.search.first_verified_at,
        "model_calls": result.search.n_model_calls,
        "explain_s": explain_s,
        "write_s": write_s,
        "status": result.status,
        "minimal_size": result.explaining_set.size if result.explaining_set else None,
        "sets": [s.positions for s in result.minimal_sets],
        "labels": [" + ".join(m.text.strip() if m.patch is None else f"patch {m.patch[0]},{m.patch[1]}"
                              for m in s.members) for s in result.minimal_sets],
        "pool": result.search.pool_size,
        "exhaustive_count": result.search.exhaustive_passes,
    }
    k = row["minimal_size"] or result.search.max_set_size or 2
    pool = removable_pool(trace, target)
    total = sum(math.comb(len(pool), r) for r in range(1, k + 1))
    if run_exhaustive and total <= exhaustive_limit:
        crit = get_criterion(result.provenance["criterion"], **result.provenance.get("criterion_params", {}))
        n, secs, minimal = exhaustive(adapter, trace, target, pool, k, crit, result.target.prob)
        found = set(row["sets"])
        row.update(exh_run=n, exh_s=secs, exh_minimal=len(minimal),
                   recall=len(found & minimal) / len(minimal) if minimal else float("nan"),
                   precision=len(found & minimal) / len(found) if found else float("nan"))
    return row


def demo_split(seed: int, kind: str, run_exhaustive: bool, limit: int, import_s: float) -> dict[str, Any]:
    from whytoken.adapters import load_model
    from whytoken.cli import DEMO_EXPLAIN, DEMO_KIND
    from whytoken.experiments.worlds.demo import generate

    sample = generate("test", 1, seed=seed, kinds=(kind or DEMO_KIND,))[0]
    row = split("whytoken-demo", lambda: load_model("whytoken-demo"),
                lambda a: a.trace(image=sample.image, prompt=sample.prompt, max_new_tokens=1, layers=(-1,),
                                  chat_template=False),
                sample.image, run_exhaustive, limit, **DEMO_EXPLAIN)
    row["import_s"] = import_s
    row["question"] = sample.question
    row["truth"] = (f"patches {list(sample.cause_patches)}, words {list(sample.cause_word_strings)}")
    return row


def smollm2_split(run_exhaustive: bool, limit: int) -> dict[str, Any]:
    from whytoken.adapters import load_model

    row = split("smollm2-135m-instruct", lambda: load_model("smollm2-135m-instruct"),
                lambda a: a.trace(prompt="The capital of France is", max_new_tokens=1, chat_template=False,
                                  layers=(-1,)), None, run_exhaustive, limit)
    row["question"] = "The capital of France is"
    row["truth"] = "-"
    return row


def report(rows: list[dict[str, Any]], e2e: list[float], markdown: bool, threads: int) -> str:
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    lines = []
    if markdown:
        lines += ["## Demo timing", "",
                  f"`python benchmarks/demo.py --markdown` on {datetime.date.today()}, {platform.processor() or platform.machine()}, "
                  f"{os.cpu_count()} cores, torch threads {threads}, load average {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} "
                  "(a shared machine: other jobs were running).", ""]
    if e2e:
        lines.append(f"**`whytoken demo` end to end** (fresh process, including imports and model load): "
                     f"{', '.join(f'{t:.1f}' for t in e2e)} s (median {statistics.median(e2e):.1f} s; budget 30 s).")
        lines.append("")
    head = ["step"] + [r["name"] for r in rows]

    def fmt(v: Any) -> str:
        return f"{v:.2f}" if isinstance(v, float) else str(v)

    table = [
        ("input", [f"{r['question']!r} -> {r['answer']!r} ({r['positions']} positions, {r['graph_nodes']} graph nodes)" for r in rows]),
        ("import torch, transformers (model classes), adapters (s)",
         [fmt(r.get("import_s", float("nan"))) if i == 0 else "(done)" for i, r in enumerate(rows)]),
        ("load_model (s)", [fmt(r["load_s"]) for r in rows]),
        ("trace: generate + attention (s)", [fmt(r["trace_s"]) for r in rows]),
        ("learning, all heads (s)", [f"{r['learn_total_s']:.2f} ({r['n_heads']} heads, {r['ci_tests']} CI tests)" for r in rows]),
        ("learning per head, min / median / max (s)", ["{:.3f} / {:.3f} / {:.3f}".format(*r["learn_per_head_s"]) for r in rows]),
        ("verification (s)", [fmt(r["verify_s"]) for r in rows]),
        ("verification forward passes (batched calls)", [f"{r['interventions']} ({r['model_calls']})" for r in rows]),
        ("passes up to the first verified set, in rank order", [str(r["first_hit"]) for r in rows]),
        ("explain() total (s)", [fmt(r["explain_s"]) for r in rows]),
        ("write JSON, GraphML, report (s)", [fmt(r["write_s"]) for r in rows]),
        ("answer", [f"{r['status']}, size {r['minimal_size']}: {'; '.join(r['labels'][:4])}{' ...' if len(r['labels']) > 4 else ''}" for r in rows]),
        ("ground truth (world)", [r["truth"] for r in rows]),
        ("exhaustive search, same candidates, sizes <= found (count)", [f"{r['exhaustive_count']} over {r['pool']} tokens" for r in rows]),
        ("exhaustive search, run (passes, s)", [f"{r['exh_run']} passes, {r['exh_s']:.1f} s" if "exh_run" in r else "not run" for r in rows]),
        ("minimal sets: exhaustive found / whytoken recall / precision", [f"{r['exh_minimal']} / {r['recall']:.2f} / {r['precision']:.2f}" if "exh_run" in r else "-" for r in rows]),
    ]
    if markdown:
        lines.append("| " + " | ".join(head) + " |")
        lines.append("|" + "---|" * len(head))
        for name, vals in table:
            lines.append("| " + " | ".join([name] + [v.replace("|", "/") for v in vals]) + " |")
    else:
        for name, vals in table:
            lines.append(f"{name:<62} " + " | ".join(vals))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="end-to-end runs of `whytoken demo` (0: skip)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--seed", type=int, default=0, help="demo scene (test-split offset)")
    parser.add_argument("--kind", default="", help="demo question kind (default: the demo's)")
    parser.add_argument("--no-exhaustive", action="store_true", help="skip running the exhaustive search")
    parser.add_argument("--exhaustive-limit", type=int, default=5000, help="largest exhaustive search to run")
    parser.add_argument("--smollm2", action="store_true", help="also time SmolLM2 on 'The capital of France is'")
    parser.add_argument("--markdown", action="store_true", help="print the RESULTS.md section")
    parser.add_argument("--checkpoint", default=None, help="time this checkpoint directory as 'whytoken-demo' "
                        "(before it is packaged)")
    args = parser.parse_args()

    e2e = end_to_end(args.runs, args.threads, args.checkpoint) if args.runs else []
    start = time.perf_counter()
    import torch
    import transformers.modeling_utils  # noqa: F401  (most of load_model's first-call cost is this import)
    from transformers import LlavaForConditionalGeneration  # noqa: F401

    import whytoken.adapters.base  # noqa: F401

    import_s = time.perf_counter() - start
    use_checkpoint(args.checkpoint)
    torch.set_num_threads(args.threads)
    rows = [demo_split(args.seed, args.kind, not args.no_exhaustive, args.exhaustive_limit, import_s)]
    if args.smollm2:
        rows.append(smollm2_split(not args.no_exhaustive, args.exhaustive_limit))
    print(report(rows, e2e, args.markdown, args.threads))


if __name__ == "__main__":
    main()
