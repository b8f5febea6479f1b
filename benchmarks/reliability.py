"""Reliability figures (issue 13): the bad-input suite's outcome counts.

Runs every case of ``tests/reliability/cases_*.py`` (each one kind of bad input, tried as a
user would, through the library or the command line) under a timeout and counts the outcomes:
``clean`` (the expected package error, naming the value), ``wrong`` (another package error),
``unnamed`` (the message does not name the value), ``foreign`` (an exception outside the
package's hierarchy, or a CLI traceback), ``silent`` (no error), ``hang`` (timeout). Cases in
other engineers' areas that are still pending are counted apart, by owner.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/reliability.py [--timeout 15] [--markdown]

The fault figures (full disk, read-only directory, kills) are pass/fail tests:
``python -m pytest tests/reliability -q``.
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=15.0, help="seconds per case before it counts as a hang")
    parser.add_argument("--markdown", action="store_true", help="print the per-area table as markdown")
    parser.add_argument("--verbose", action="store_true", help="print every case")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    import logging

    logging.disable(logging.WARNING)
    from tests.reliability.harness import OUTCOMES, Kit, check, load_cases

    cases = load_cases()
    kit = Kit(Path(tempfile.mkdtemp(prefix="whytoken-reliability-")))
    by_area: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    pending: list[tuple[str, str, str]] = []
    started = time.perf_counter()
    for case in cases:
        outcome = check(case, kit, timeout=args.timeout)
        if args.verbose or (outcome.kind != "clean" and case.owner is None):
            print(f"{outcome.kind:8} {case.area}:{case.id}  {outcome.detail[:160]}", file=sys.stderr)
        if case.owner is not None and outcome.kind != "clean":
            pending.append((case.id, outcome.kind, case.owner))
        else:
            by_area[case.area][outcome.kind] += 1
    elapsed = time.perf_counter() - started

    total = collections.Counter()
    for counts in by_area.values():
        total.update(counts)
    print(f"{len(cases)} kinds of bad input in {len(by_area)} areas, {elapsed:.0f} s "
          f"(timeout {args.timeout:.0f} s per case)")
    header = ["area", "kinds", *OUTCOMES]
    rows = [[area, str(sum(c.values())), *(str(c[o]) for o in OUTCOMES)] for area, c in sorted(by_area.items())]
    rows.append(["all (ours)", str(sum(total.values())), *(str(total[o]) for o in OUTCOMES)])
    if args.markdown:
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
        for row in rows:
            print("| " + " | ".join(row) + " |")
    else:
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
        for row in [header, *rows]:
            print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)))
    if pending:
        print(f"\npending in other engineers' areas ({len(pending)}, not counted above):")
        for case_id, kind, owner in pending:
            print(f"  {case_id}: {kind} -- {owner}")
    bad = sum(total[o] for o in OUTCOMES if o != "clean")
    return 0 if bad == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
