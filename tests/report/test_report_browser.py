"""The static report in headless Chromium: the demo model and a 576-patch LLaVA.

Checks what a reader would notice: text boxes that overlap (measured on the
DOM), a page above 3 MB, anything fetched from the network, and the figures
that must be there (the explaining set outlined on the image, the graph).
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.report.browser import browser, screenshot, text_overlaps, watch_requests
from whytoken.report import write_report

pytestmark = pytest.mark.browser

MAX_BYTES = 3 * 1024 * 1024


@pytest.fixture(scope="module")
def demo_result():
    """The demo: the embedded synthetic LLaVA explaining 'green' (the cross), verified on the model."""
    from whytoken.cli import DEMO_EXPLAIN
    from whytoken.adapters import load_model
    from whytoken.experiments.worlds.demo import generate
    from whytoken.query import explain

    sample = generate("test", 1, seed=0, kinds=("color",))[0]
    adapter = load_model("whytoken-demo")
    trace = adapter.trace(image=sample.image, prompt=sample.prompt, max_new_tokens=1, layers=(-1,),
                          chat_template=False)
    return explain(trace, int(trace.generated[0].position), model=adapter, **DEMO_EXPLAIN), sample.image


@pytest.fixture(scope="module")
def llava576_result():
    """A random tiny LLaVA at LLaVA-1.5's geometry (336 px, 14 px patches: 24 x 24 = 576 image tokens).

    Verification is off (a random model explains nothing and a full search costs ~40 s on one core): the
    report must then show unverified candidates, never "minimal sets".
    """
    from tests.report.models import llava576_adapter, llava576_image
    from whytoken.query import explain

    adapter = llava576_adapter()
    image = llava576_image()
    trace = adapter.trace(image=image, prompt="<image> what color is the cat", max_new_tokens=2, stop_at_eos=False)
    assert trace.patch_grid == (24, 24)
    return explain(trace, int(trace.generated[0].position), verify=False, n_samples="hidden_size",
                   target_row="predicting"), image


def _check_page(path, name, tmp_path):
    with browser() as b:
        page = b.new_page(viewport={"width": 1280, "height": 900})
        outside = watch_requests(page)
        page.goto(path.resolve().as_uri())
        page.wait_for_load_state("load")
        overlaps = text_overlaps(page)
        shot = screenshot(page, name, tmp_path)
        counts = page.evaluate("""() => ({
            explaining: document.querySelectorAll('#image-result .wt-outline-explaining').length,
            candidate: document.querySelectorAll('#image-result .wt-outline-candidate').length,
            nodes: Math.max(0, ...[...document.querySelectorAll('#graph svg.pag')].map(s => s.querySelectorAll('.wt-node').length)),
            groups: Math.max(0, ...[...document.querySelectorAll('#graph svg.pag')].map(s => s.querySelectorAll('.wt-group').length)),
            maps: document.querySelectorAll('#maps figure.map').length,
            images: [...document.querySelectorAll('use')].filter(u => u.getBBox().width > 0).length,
        })""")
    assert outside == [], f"the report fetched from the network: {outside}"
    assert overlaps["n_boxes"] > 100, "too little text rendered"
    assert overlaps["n_overlaps"] == 0, f"overlapping text boxes: {overlaps['overlaps'][:10]}"
    assert shot.stat().st_size > 50_000
    return counts


def test_demo_report_in_chromium(demo_result, tmp_path):
    explanation, image = demo_result
    assert explanation.status == "explained"
    path = write_report(explanation, tmp_path / "demo.html", image=image)
    assert path.stat().st_size <= MAX_BYTES
    counts = _check_page(path, "report-demo.png", tmp_path)
    assert counts["explaining"] == 1 and counts["maps"] >= 2 and counts["images"] >= 3
    assert counts["nodes"] >= 10  # at 36 patches the graph is drawn node by node


def test_576_patch_report_in_chromium(llava576_result, tmp_path):
    explanation, image = llava576_result
    assert explanation.status == "unverified"
    path = write_report(explanation, tmp_path / "llava576.html", image=image)
    size = path.stat().st_size
    assert size <= MAX_BYTES, f"report is {size / 1e6:.1f} MB at 576 patches"
    html = path.read_text()
    assert "minimal set" not in html.lower().replace("globally minimal", "")
    counts = _check_page(path, "report-llava576.png", tmp_path)
    assert counts["explaining"] == 0 and counts["candidate"] == 1  # only the best candidate, dotted
    assert counts["nodes"] <= 60  # never ~580 pills
    in_range = len(explanation.best_head.pds_depth) - 1
    if in_range > 60:  # the rest of the tokens in range summarised by region
        assert counts["groups"] >= 3


def test_overlap_check_detects_overlapping_text(tmp_path):
    """The DOM check is not vacuous: two SVG labels drawn on top of each other are caught."""
    page_path = tmp_path / "bad.html"
    page_path.write_text('<html><body><p>some text here</p><svg width="300" height="60">'
                         '<text x="10" y="30">358 more node(s)</text><text x="20" y="32">47 of 1128 edges</text>'
                         "</svg></body></html>")
    with browser() as b:
        page = b.new_page()
        page.goto(page_path.resolve().as_uri())
        result = text_overlaps(page)
    assert result["n_overlaps"] == 1


def test_2000_patch_report_in_chromium(tmp_path):
    """At 45 x 45 = 2,025 image tokens the page still fits 3 MB, draws the sets as outlines, groups the graph."""
    from tests.report.models import synthetic_explanation

    explanation = synthetic_explanation(side=45)
    image = np.random.default_rng(0).integers(0, 256, size=(630, 630, 3), dtype=np.uint8)
    path = write_report(explanation, tmp_path / "p2025.html", image=image)
    size = path.stat().st_size
    assert size <= MAX_BYTES, f"report is {size / 1e6:.1f} MB at 2,025 patches"
    counts = _check_page(path, "report-2025.png", tmp_path)
    assert counts["explaining"] == 1 and counts["nodes"] <= 45 and counts["groups"] >= 3
    assert size > 500_000  # the maps over 2,025 patches are there
    assert "+ 4 more" in path.read_text()  # a 9-patch set is summarised in the sentence, listed in the table
