"""The HTML report: self-contained, shows the answer, graph, image and attention, renders in Chromium."""

from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pytest

from tests.query import fakes
from whytoken.query import Explanation, explain
from whytoken.report import render_report, token_label, write_report
from whytoken.report.svg import pag_svg


@pytest.fixture(scope="module")
def image_explanation():
    """Patch (0, 1) and the word ' left' both explain the target; heads disagree on the rest."""
    trace = fakes.make_trace([{2: 0.5, 7: 0.4, 0: 0.1}, {3: 0.5, 7: 0.4, 0: 0.1}, {5: 0.9, 0: 0.1}], with_image=True)
    return explain(trace, fakes.TARGET, layer=1, model=fakes.FakeModel(fakes.intersects({2, 7})))


@pytest.fixture(scope="module")
def text_explanation():
    trace = fakes.make_trace([{3: 0.5, 7: 0.4, 0: 0.1}])
    return explain(trace, fakes.TARGET, layer=1, model=fakes.FakeModel(fakes.contains_all({3, 7})))


@pytest.fixture(scope="module")
def scene_image():
    """A 32 x 32 picture: grey background, a red disc in patch (0, 1)."""
    yy, xx = np.mgrid[0:32, 0:32]
    image = np.full((32, 32, 3), 128, dtype=np.uint8)
    image[(yy - 8) ** 2 + (xx - 24) ** 2 < 36] = (220, 40, 40)
    return image


def test_report_is_self_contained(image_explanation, scene_image):
    html = render_report(image_explanation, image=scene_image)
    assert html.startswith("<!DOCTYPE html>")
    # no network: no external scripts, stylesheets, images or fonts
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)
    assert "<link" not in html and "<script" not in html and "@import" not in html
    assert "data:image/png;base64," in html
    assert html.count("<svg") >= 4  # patches, graph, heatmap, bars


def test_report_shows_answer_sets_and_heads(image_explanation, scene_image):
    html = render_report(image_explanation, image=scene_image)
    assert "patch 0,1" in html and "left" in html and "explained" in html
    assert html.count('<tr class="best">') == 2  # the answer's row and the drawn head's row
    for head in image_explanation.heads:
        assert f"<td>{head.head}" in html
    assert "forward passes (exhaustive: 9)" in html
    assert "attention sink" in html


def test_text_only_report_has_no_image_card(text_explanation, tmp_path):
    path = write_report(text_explanation, tmp_path / "r" / "report.html")
    html = path.read_text()
    assert "Input image" not in html and "data:image/png" not in html
    assert "circle" in html and "left" in html


def test_not_explained_report_says_so():
    trace = fakes.make_trace([{3: 0.9, 0: 0.1}])
    e = explain(trace, fakes.TARGET, layer=1, model=fakes.FakeModel(fakes.intersects({9})), max_set_size=1)
    html = render_report(e)
    assert "not-explained" in html and "No explanation found" in html


def test_report_from_loaded_json(image_explanation, tmp_path):
    loaded = Explanation.load(image_explanation.save(tmp_path / "e.json"))
    assert render_report(loaded) == render_report(image_explanation)


def test_pag_svg_draws_every_mark():
    from whytoken.graphs import PAG, Mark

    g = PAG()
    g.add_edge(1, 9, Mark.TAIL, Mark.ARROW)
    g.add_edge(2, 9, Mark.CIRCLE, Mark.ARROW)
    g.add_edge(3, 2, Mark.CIRCLE, Mark.CIRCLE)
    svg = pag_svg(g, 9, {9: 0, 1: 1, 2: 1, 3: 2}, labels={n: f"t{n}" for n in g.nodes},
                  kinds={n: "prompt_text" for n in g.nodes}, highlight={1})
    assert svg.count("<polygon") == 2  # two arrowheads
    assert svg.count("<circle") == 3  # three circle marks
    assert svg.count("<path") == 3 and "DISTANCE 2" in svg


def test_token_label():
    assert token_label(" Paris") == "Paris"
    assert token_label("x" * 40).endswith("…")
    assert token_label("<image>", patch=(2, 3)) == "patch 2,3"


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.mark.browser
def test_report_renders_in_headless_chromium(image_explanation, scene_image, tmp_path):
    browser = _chromium()
    if browser is None:
        pytest.skip("NO CHROMIUM BINARY FOUND (chromium, chromium-browser, google-chrome): the report-rendering "
                    "test did not run; install it with `python scripts/setup_env.py --dev` or "
                    "`apt-get install chromium`")
    from PIL import Image

    page = write_report(image_explanation, tmp_path / "report.html", image=scene_image)
    shot = tmp_path / "shot.png"
    profile = tmp_path / "profile"
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--hide-scrollbars", f"--user-data-dir={profile}", f"--screenshot={shot}", "--window-size=1280,2200",
           page.resolve().as_uri()]
    completed = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert shot.is_file(), f"chromium wrote no screenshot (exit {completed.returncode}): {completed.stderr[-2000:]}"
    pixels = np.asarray(Image.open(shot).convert("RGB"), dtype=np.float64)
    assert pixels.shape[:2] == (2200, 1280)
    non_background = np.abs(pixels - pixels[-1, -1]).sum(axis=2) > 30
    assert non_background.mean() > 0.05, "the page rendered (almost) blank"
    assert pixels.std() > 20
    # the red explaining-set colour shows up (outlines, chips, graph edges)
    red = (pixels[..., 0] > 200) & (pixels[..., 1] < 60) & (pixels[..., 2] < 100)
    assert red.sum() > 200
    # content in the lower half too: the tables rendered, not just the header
    assert non_background[1100:].mean() > 0.02


def test_notes_are_shown_escaped(text_explanation):
    html = render_report(text_explanation, notes={"ground truth": "word <circle>"})
    assert "<dt>ground truth</dt><dd>word &lt;circle&gt;</dd>" in html
