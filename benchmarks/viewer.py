"""Report and viewer at scale: size and render time of report.html, and the viewer's graph in Chromium.

For synthetic explained results over 6 x 6, 24 x 24 and 45 x 45 image patches
(36, 576, 2,025 tokens; tests/report/models.py builds them, no model runs) this
prints, per scale and as a ratio to the 36-patch baseline measured in the same
run (repeats interleaved):

* ``report.html``: bytes, and seconds to render it (``render_report``);
* the viewer (``whytoken serve --open``, headless Chromium through Playwright):
  seconds from navigation until the graph of the best head is drawn, and the
  mean time of one zoom/pan step over 20 steps (each awaited to the next frame),
  with the number of nodes and edges drawn.

Usage::

    python benchmarks/viewer.py [--repeats 3] [--sides 6,24,45]

Needs the viewer extra and Playwright with a system Chromium (``scripts/setup_env.py --dev``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.report.browser import browser  # noqa: E402
from tests.report.models import synthetic_explanation  # noqa: E402
from tests.viewer.server import running_viewer  # noqa: E402

STEP_JS = """async () => {
    const cy = window.whytoken.cy, t0 = performance.now();
    for (let i = 0; i < 20; i++) {
        cy.zoom({level: cy.zoom() * (i % 2 ? 0.8 : 1.25), renderedPosition: {x: 300, y: 250}});
        cy.panBy({x: 12, y: -6});
        await new Promise(r => requestAnimationFrame(r));
    }
    return (performance.now() - t0) / 20; }"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sides", default="6,24,45")
    args = parser.parse_args()
    sides = [int(s) for s in args.sides.split(",")]

    import numpy as np

    from whytoken.report import render_report

    work = Path(tempfile.mkdtemp(prefix="wt-bench-viewer-"))
    results: dict[int, dict[str, list[float]]] = {s: {"bytes": [], "render": [], "load": [], "step": []} for s in sides}
    drawn: dict[int, tuple[int, int]] = {}
    folders = {}
    for side in sides:
        e = synthetic_explanation(side=side)
        image = np.random.default_rng(0).integers(0, 256, size=(side * 14, side * 14, 3), dtype=np.uint8)
        folder = work / f"p{side * side}"
        folder.mkdir()
        e.save(folder / "explanation.json")
        from PIL import Image

        Image.fromarray(image).save(folder / "image.png")
        folders[side] = (folder, e, image)
    for _ in range(args.repeats):
        for side in sides:  # interleaved: every repeat measures every scale once
            folder, e, image = folders[side]
            t0 = time.perf_counter()
            html = render_report(e, image=image)
            results[side]["render"].append(time.perf_counter() - t0)
            results[side]["bytes"].append(len(html.encode()))
    with browser() as b:
        for side in sides:
            folder = folders[side][0]
            with running_viewer("--open", str(folder)) as url:
                for _ in range(args.repeats):
                    page = b.new_page(viewport={"width": 1440, "height": 1000})
                    t0 = time.perf_counter()
                    page.goto(url)
                    page.wait_for_function("document.querySelector('#graph').dataset.nodes", timeout=120_000)
                    results[side]["load"].append(time.perf_counter() - t0)
                    results[side]["step"].append(page.evaluate(STEP_JS) / 1000.0)
                    drawn[side] = (int(page.get_attribute("#graph", "data-nodes")),
                                   int(page.get_attribute("#graph", "data-edges")))
                    page.close()
    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    base = sides[0]
    med = {s: {k: statistics.median(v) for k, v in r.items()} for s, r in results.items()}
    print(f"# report and viewer at scale ({args.repeats} repeats, medians; ratios to {base * base} patches)")
    print(f"# load: {load}")
    print("| patches | report MB | render s (x) | viewer nodes / edges | load s (x) | zoom/pan step ms (x) |")
    print("|---|---|---|---|---|---|")
    for s in sides:
        m, b0 = med[s], med[base]
        print(f"| {s * s} | {m['bytes'] / 1e6:.2f} | {m['render']:.2f} ({m['render'] / b0['render']:.1f}) | "
              f"{drawn[s][0]} / {drawn[s][1]} | {m['load']:.2f} ({m['load'] / b0['load']:.1f}) | "
              f"{1000 * m['step']:.1f} ({m['step'] / b0['step']:.1f}) |")


if __name__ == "__main__":
    main()
