"""Structure-learning benchmark: whytoken's learners against causal-learn's FCI on the same CI test.

For every size n, alpha and mask (full or causally masked attention) this
draws one peaky softmax attention matrix (``whytoken.causal.synthetic.peaky_attention``),
builds the Fisher-z partial-correlation test on ``C = A A^T`` with N samples,
and times ``learn_pag``:

* full attention: ``icd``;
* causally masked attention: ``ordered-icd`` with the token order, and ``icd``;
* causal-learn's ``fci`` on the same CI test, in a child process with a time
  budget; once it runs out of budget at some n, larger n are skipped for that
  (mask, alpha).

Single-threaded on purpose (a head is one job; parallelism goes across heads),
so BLAS threads are pinned to 1 before numpy is imported. Timings are the
minimum over ``--repeats`` runs of ``learn_pag`` alone (building the CI test is
not timed; a fresh test is built for every run). Targets, for the first
method of each mask (``icd`` full, ``ordered-icd`` causal): n = 200 in at most
0.1 s, n = 576 and n = 640 in at most 1 s per head.

Real heads (SmolLM2, the demo VLM, a 576-patch LLaVA) against causality-lab's
ordered ICD are timed by ``benchmarks/structure_real.py``; the d-separation
oracle on bnlearn networks by ``benchmarks/structure_networks.py``.

Run from the repository root::

    python benchmarks/structure.py                      # defaults, text table
    python benchmarks/structure.py --markdown           # markdown table for RESULTS.md
    python benchmarks/structure.py --sizes 25,50 --alphas 1e-2 --fci-budget 10
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS",
             "VECLIB_MAXIMUM_THREADS", "BLIS_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import datetime  # noqa: E402
import multiprocessing as mp  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402

import numpy as np  # noqa: E402

from whytoken.causal import learn_pag, list_learners  # noqa: E402
from whytoken.causal.ci_tests import PartialCorrelationTest, attention_to_correlation  # noqa: E402
from whytoken.causal.metrics import mark_agreement, skeleton_f1, skeleton_shd  # noqa: E402
from whytoken.causal.synthetic import peaky_attention  # noqa: E402
from whytoken.graphs import PAG  # noqa: E402

#: per-head time targets (seconds) for the first method of each mask
TARGETS = {200: 0.1, 576: 1.0, 640: 1.0}
DEFAULT_SIZES = "25,50,100,200,400,576,640"
DEFAULT_ALPHAS = "1e-2,1e-5"


@dataclass
class Row:
    mask: str
    alpha: float
    n: int
    method: str
    seconds: float | None = None
    n_tests: int | None = None
    edges: int | None = None
    status: str = "ok"  # ok | timeout | skipped | error: ...
    fci_seconds: float | None = None
    fci_tests: int | None = None
    fci_edges: int | None = None
    fci_status: str = ""
    skeleton_f1: float | None = None
    skeleton_shd: int | None = None
    marks_agree: float | None = None
    target: float | None = None
    extra: dict = field(default_factory=dict)

    @property
    def verdict(self) -> str:
        if self.target is None:
            return ""
        if self.seconds is None:
            return "FAIL (no run)"
        return "PASS" if self.seconds <= self.target else "FAIL"


def make_test(n: int, *, causal: bool, alpha: float, n_samples: int, seed: int, temperature: float,
              sink: float) -> PartialCorrelationTest:
    attention = peaky_attention(n, seed=seed, temperature=temperature, causal=causal, sink=sink)
    return PartialCorrelationTest.from_correlation(attention_to_correlation(attention), n_samples=n_samples,
                                                   alpha=alpha)


def time_method(method: str, correlation: np.ndarray, *, alpha: float, n_samples: int,
                repeats: int) -> tuple[float, int, PAG]:
    """Minimum wall time of learn_pag over ``repeats`` fresh CI tests; counts and graph of the last run."""
    best = float("inf")
    result = None
    for _ in range(repeats):
        test = PartialCorrelationTest.from_correlation(correlation, n_samples=n_samples, alpha=alpha)
        nodes = test.nodes
        order = nodes if method.startswith("ordered") else None
        start = time.perf_counter()
        result = learn_pag(test, nodes, method=method, order=order)
        best = min(best, time.perf_counter() - start)
    assert result is not None
    return best, result.n_tests, result.pag


def _fci_child(conn, correlation: np.ndarray, alpha: float, n_samples: int) -> None:
    try:
        test = PartialCorrelationTest.from_correlation(correlation, n_samples=n_samples, alpha=alpha)
        start = time.perf_counter()
        result = learn_pag(test, test.nodes, method="fci")
        seconds = time.perf_counter() - start
        conn.send(("ok", seconds, result.n_tests, result.pag.to_mark_matrix(test.nodes)))
    except Exception as err:  # reported by the parent as the row's status
        conn.send(("error", f"{type(err).__name__}: {err}", None, None))
    finally:
        conn.close()


def run_fci(correlation: np.ndarray, *, alpha: float, n_samples: int, budget: float):
    """Run FCI in a forked child; kill it when it exceeds ``budget`` seconds."""
    ctx = mp.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_fci_child, args=(child, correlation, alpha, n_samples), daemon=True)
    proc.start()
    child.close()
    if parent.poll(budget):
        status, seconds, n_tests, matrix = parent.recv()
        proc.join(timeout=10)
        if status != "ok":
            return f"error: {seconds}", None, None, None
        return "ok", seconds, n_tests, PAG.from_mark_matrix(matrix)
    proc.kill()  # this process started it; end it by its own handle
    proc.join()
    return "timeout", None, None, None


def fmt(value, spec: str = "") -> str:
    if value is None:
        return "-"
    return format(value, spec)


def render(rows: list[Row], markdown: bool) -> str:
    header = ["mask", "alpha", "n", "method", "seconds", "CI tests", "edges", "target",
              "FCI s", "FCI tests", "FCI edges", "speed-up (FCI s / ours s)", "skel F1 vs FCI", "skel SHD", "marks agree"]
    lines = []
    for r in rows:
        speedup = "-"
        if r.fci_seconds is not None and r.seconds not in (None, 0.0):
            ratio = r.fci_seconds / r.seconds
            speedup = f"{ratio:.0f}x" if ratio >= 10 else f"{ratio:.2g}x"
        ours = fmt(r.seconds, ".4f") if r.status == "ok" else r.status
        fci = fmt(r.fci_seconds, ".3f") if r.fci_status == "ok" else (r.fci_status or "-")
        target = f"<= {r.target:g} s {r.verdict}" if r.target is not None else ""
        lines.append([r.mask, f"{r.alpha:g}", str(r.n), r.method, ours, fmt(r.n_tests), fmt(r.edges), target,
                      fci, fmt(r.fci_tests), fmt(r.fci_edges), speedup, fmt(r.skeleton_f1, ".3f"),
                      fmt(r.skeleton_shd), fmt(r.marks_agree, ".3f")])
    if markdown:
        out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
        out += ["| " + " | ".join(cells) + " |" for cells in lines]
        return "\n".join(out)
    widths = [max(len(h), *(len(c[i]) for c in lines)) if lines else len(h) for i, h in enumerate(header)]
    out = ["  ".join(h.rjust(w) for h, w in zip(header, widths))]
    out += ["  ".join(c.rjust(w) for c, w in zip(cells, widths)) for cells in lines]
    return "\n".join(out)


def source_revision() -> str:
    """The git commit of the checkout, flagged when whytoken/ has uncommitted changes."""
    import subprocess

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True,
                              check=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "whytoken"], cwd=root, capture_output=True,
                               text=True, check=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown revision"
    return f"commit {head}" + (" + uncommitted changes in whytoken/" if dirty else "")


def environment() -> str:
    try:
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        load = "n/a"
    import causallearn  # noqa: F401  (version for the record)
    from importlib.metadata import version

    return (f"{datetime.datetime.now().isoformat(timespec='seconds')}; {platform.platform()}; "
            f"{platform.processor() or platform.machine()}; {os.cpu_count()} CPUs; load average {load}; "
            f"Python {platform.python_version()}; numpy {np.__version__}; causal-learn {version('causal-learn')}; "
            f"single thread (OMP/MKL/OpenBLAS = 1); {source_revision()}")


def parse_list(text: str, kind) -> list:
    return [kind(x) for x in text.split(",") if x.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default=DEFAULT_SIZES, help=f"comma-separated n (default {DEFAULT_SIZES})")
    parser.add_argument("--alphas", default=DEFAULT_ALPHAS, help=f"comma-separated alphas (default {DEFAULT_ALPHAS})")
    parser.add_argument("--masks", default="full,causal", help="full, causal or both (default full,causal)")
    parser.add_argument("--n-samples", type=int, default=128, help="N in Fisher's z (default 128)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per learner, minimum reported (default 3)")
    parser.add_argument("--fci-budget", type=float, default=60.0,
                        help="seconds per FCI run before it is killed; larger n are then skipped (default 60; 0 = no FCI)")
    parser.add_argument("--full-methods", default="icd", help="learners on full attention (default icd)")
    parser.add_argument("--causal-methods", default="ordered-icd,icd",
                        help="learners on causally masked attention (default ordered-icd,icd)")
    parser.add_argument("--seed", type=int, default=0, help="attention seed (default 0)")
    parser.add_argument("--temperature", type=float, default=0.25, help="softmax temperature (default 0.25)")
    parser.add_argument("--sink", type=float, default=0.0, help="attention-sink mass on token 0 (default 0)")
    parser.add_argument("--markdown", action="store_true", help="print a markdown table (for benchmarks/RESULTS.md)")
    args = parser.parse_args(argv)

    sizes = parse_list(args.sizes, int)
    alphas = parse_list(args.alphas, float)
    masks = parse_list(args.masks, str)
    methods = {"full": parse_list(args.full_methods, str), "causal": parse_list(args.causal_methods, str)}
    known = list_learners()
    for mask in masks:
        if mask not in methods:
            parser.error(f"unknown mask {mask!r}; use full and/or causal")
        for method in methods[mask]:
            if method not in known:
                parser.error(f"unknown learner {method!r}; registered: {', '.join(known)}")
    if args.fci_budget > 0:
        # warm causal-learn's import (seconds) in the parent so forked FCI runs do not pay it
        learn_pag(make_test(3, causal=False, alpha=0.01, n_samples=args.n_samples, seed=0,
                            temperature=args.temperature, sink=0.0), [0, 1, 2], method="fci")

    print(f"# structure-learning benchmark: {environment()}", flush=True)
    print(f"# command: python {' '.join([sys.argv[0], *(argv if argv is not None else sys.argv[1:])])}", flush=True)
    print(f"# peaky attention seed={args.seed} temperature={args.temperature} sink={args.sink}; "
          f"N={args.n_samples}; ours: min of {args.repeats} runs; FCI: one run, budget {args.fci_budget:g} s",
          flush=True)

    rows: list[Row] = []
    for mask in masks:
        causal = mask == "causal"
        for alpha in alphas:
            fci_gave_up_at: int | None = None
            for n in sizes:
                attention = peaky_attention(n, seed=args.seed, temperature=args.temperature, causal=causal,
                                            sink=args.sink)
                correlation = attention_to_correlation(attention)
                group: list[Row] = []
                for k, method in enumerate(methods[mask]):
                    row = Row(mask, alpha, n, method, target=TARGETS.get(n) if k == 0 else None)
                    try:
                        row.seconds, row.n_tests, pag = time_method(
                            method, correlation, alpha=alpha, n_samples=args.n_samples, repeats=args.repeats)
                        row.edges = pag.number_of_edges()
                        row.extra["pag"] = pag
                    except Exception as err:  # keep benchmarking the other rows; the table says why
                        row.status = f"error: {type(err).__name__}: {err}"
                    group.append(row)
                if args.fci_budget <= 0:
                    status, fci_s, fci_tests, fci_pag = "off", None, None, None
                elif fci_gave_up_at is not None:
                    status, fci_s, fci_tests, fci_pag = f"skipped (timeout at n={fci_gave_up_at})", None, None, None
                else:
                    status, fci_s, fci_tests, fci_pag = run_fci(correlation, alpha=alpha, n_samples=args.n_samples,
                                                                budget=args.fci_budget)
                    if status == "timeout":
                        status = f"timeout (> {args.fci_budget:g} s)"
                        fci_gave_up_at = n
                for row in group:
                    row.fci_status, row.fci_seconds, row.fci_tests = status, fci_s, fci_tests
                    if fci_pag is not None:
                        row.fci_edges = fci_pag.number_of_edges()
                        if "pag" in row.extra:
                            row.skeleton_f1 = skeleton_f1(row.extra["pag"], fci_pag)
                            row.skeleton_shd = skeleton_shd(row.extra["pag"], fci_pag)
                            row.marks_agree = mark_agreement(row.extra["pag"], fci_pag)
                    rows.append(row)
                    print("progress: " + render([row], markdown=False).splitlines()[1].strip(), file=sys.stderr,
                          flush=True)

    print()
    print(render(rows, markdown=args.markdown))
    verdicts = [r for r in rows if r.target is not None]
    failed = [r for r in verdicts if r.verdict != "PASS"]
    print()
    for r in verdicts:
        print(f"target {r.mask:6s} alpha={r.alpha:g} n={r.n:4d} {r.method:12s} "
              f"{fmt(r.seconds, '.4f'):>8s} s <= {r.target:g} s: {r.verdict}")
    print(f"{len(verdicts) - len(failed)}/{len(verdicts)} targets met")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
