"""The viewer in a real browser: ``whytoken serve`` on a free port, driven by Playwright on the system Chromium.

A person's path through it: type a prompt, upload the picture, generate,
click the generated token, wait while it is explained (progress shown), and
find the explaining patch outlined on the image and the head's graph drawn
with all its nodes; then switch head and map, search a node, download every
file. The same for ``--open`` on saved results, at 36 and at 576 patches.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request

import pytest

from tests.report.browser import browser, screenshot, text_overlaps, watch_requests
from tests.viewer.server import running_viewer

pytestmark = [pytest.mark.browser, pytest.mark.slow]

LOCAL = ("http://127.0.0.1", "data:", "blob:", "about:")


def _api(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    from whytoken.experiments.worlds.demo import generate

    sample = generate("test", 1, seed=0, kinds=("color",))[0]
    path = tmp_path_factory.mktemp("scene") / "scene.png"
    sample.image.save(path)
    return path


@pytest.fixture(scope="module")
def demo_outputs(tmp_path_factory):
    """``whytoken demo --out DIR``: a saved result to open (its image only inside report.html)."""
    out = tmp_path_factory.mktemp("demo-out")
    done = subprocess.run([sys.executable, "-m", "whytoken", "--threads", "1", "demo", "--out", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return out


@pytest.fixture(scope="module")
def llava576_outputs(tmp_path_factory):
    """A 576-patch explanation (random tiny LLaVA, verify=False) saved with its image.png."""
    from PIL import Image

    from tests.report.models import llava576_adapter, llava576_image
    from whytoken.cli import write_outputs
    from whytoken.query import explain

    adapter = llava576_adapter()
    image = llava576_image()
    trace = adapter.trace(image=image, prompt="<image> what color is the cat", max_new_tokens=2, stop_at_eos=False)
    e = explain(trace, int(trace.generated[0].position), verify=False, n_samples="hidden_size",
                target_row="predicting")
    out = tmp_path_factory.mktemp("llava576-out")
    write_outputs(e, out, image=image)
    Image.fromarray(image).save(out / "image.png")
    return out, e


def _wait_result(page, timeout=240_000):
    page.wait_for_function("document.body.dataset.result", timeout=timeout)
    page.wait_for_function("document.querySelector('#graph').dataset.nodes", timeout=60_000)


def test_generate_click_explain(scene, tmp_path):
    with running_viewer() as url, browser() as b:
        page = b.new_page(viewport={"width": 1440, "height": 1000})
        outside = watch_requests(page, LOCAL)
        page.goto(url)
        page.fill("#prompt", "what color is the cross ?")
        page.set_input_files("#image", str(scene))
        page.wait_for_selector("#preview:not([hidden])")
        page.click("#generate")
        page.wait_for_selector(".gen-token", timeout=120_000)
        assert page.inner_text(".gen-token >> nth=0") == "green"
        page.click(".gen-token >> nth=0")
        page.wait_for_selector("#progress:not([hidden])", timeout=20_000)  # progress is shown while it runs
        _wait_result(page)
        rid = page.evaluate("document.body.dataset.result")
        payload = _api(f"{url}api/results/{rid}")
        assert payload["status"] == "explained"
        # the explaining patch is outlined on the image: patch 1,2 (the green cross), as the world says
        outlined = [el.get_attribute("data-positions") for el in page.query_selector_all("#image-panel .outline-explaining")]
        answer = payload["answer"]
        assert outlined == [",".join(str(p) for p in answer["positions"])] and answer["labels"] == ["patch 1,2"]
        # the graph of the best head has every node of that head's PAG
        best = next(h for h in payload["heads"] if h["head"] == payload["best_head"])
        assert int(page.get_attribute("#graph", "data-nodes")) == best["nodes"]
        assert int(page.get_attribute("#graph", "data-edges")) == best["edges"]
        assert page.evaluate("window.whytoken.cy.nodes('.explaining').length") == 1
        screenshot(page, "viewer-demo.png", tmp_path)
        assert text_overlaps(page)["n_overlaps"] == 0
        # another head: its own graph
        other = next(h for h in payload["heads"] if h["head"] != payload["best_head"])
        page.select_option("#head", str(other["head"]))
        page.wait_for_function(f"document.querySelector('#graph').dataset.nodes == '{other['nodes']}'")
        # baseline maps: rollout and relevancy were computed for the live model
        options = page.eval_on_selector_all("#map option", "els => els.map(e => e.value)")
        assert {"attention", "rollout", "relevancy"} <= set(options)
        page.select_option("#map", "rollout")
        assert page.get_attribute("#image-panel svg", "data-map") == "rollout"
        assert len(page.query_selector_all("#image-panel rect[data-position]")) == 36
        # node search
        page.fill("#search", "cross")
        assert page.evaluate("window.whytoken.cy.nodes('.match').map(n => n.data('label'))") == ["cross"]
        # downloads
        for name, needle in (("explanation.json", '"schema": "whytoken.explanation/'),
                             ("graph.json", "whytoken.pag/1"), ("graph.graphml", "<graphml"),
                             ("report.html", "<!DOCTYPE html>")):
            response = page.request.get(f"{url}api/results/{rid}/{name}")
            assert response.status == 200 and needle in response.text()
        # a layer switch re-explains at that layer
        page.select_option("#layer", "0")
        page.wait_for_function(f"document.body.dataset.result != '{rid}'", timeout=240_000)
        assert _api(f"{url}api/results/{page.evaluate('document.body.dataset.result')}")["layer"] == 0
        # every token at once: each generated token gets its status (the end-of-sequence token is skipped)
        page.click("#explain-all")
        page.wait_for_function("document.querySelector('#chains').textContent.length > 0", timeout=240_000)
        statuses = page.eval_on_selector_all(".gen-token", "els => els.map(e => [e.textContent, e.dataset.status])")
        assert statuses[0] == ["green", "explained"]
        assert all(status in ("explained", "not-explained", "unverified", "skipped") for _, status in statuses)
        assert outside == [], f"the viewer fetched from the network: {outside}"


def test_open_saved_demo_without_a_model(demo_outputs, tmp_path):
    with running_viewer("--open", str(demo_outputs)) as url, browser() as b:
        state = _api(f"{url}api/state")
        assert state["mode"] == "open" and len(state["results"]) == 1
        page = b.new_page(viewport={"width": 1440, "height": 1000})
        outside = watch_requests(page, LOCAL)
        page.goto(url)
        _wait_result(page)
        assert page.is_hidden("#input-card")  # no model: nothing to generate with
        saved = json.loads((demo_outputs / "explanation.json").read_text())
        positions = ",".join(str(m["position"]) for m in saved["explaining_set"]["members"])
        assert [el.get_attribute("data-positions")
                for el in page.query_selector_all("#image-panel .outline-explaining")] == [positions]
        head = next(h for h in saved["heads"] if h["head"] == saved["pag_head"])
        assert int(page.get_attribute("#graph", "data-nodes")) == len(head["pag"]["nodes"])
        assert page.evaluate("document.querySelector('#image-panel image') !== null")  # the image from report.html
        screenshot(page, "viewer-open-demo.png", tmp_path)
        assert outside == []


def test_open_576_patches_stays_responsive(llava576_outputs, tmp_path):
    out, explanation = llava576_outputs
    with running_viewer("--open", str(out)) as url, browser() as b:
        page = b.new_page(viewport={"width": 1440, "height": 1000})
        outside = watch_requests(page, LOCAL)
        page.goto(url)
        _wait_result(page)
        best = explanation.best_head
        assert int(page.get_attribute("#graph", "data-nodes")) == best.n_nodes
        assert int(page.get_attribute("#graph", "data-edges")) == best.n_edges
        assert best.n_nodes > 576
        assert len(page.query_selector_all("#image-panel rect[data-position]")) == 576 or \
            page.eval_on_selector("#map", "e => e.value") == "sets"
        # unverified: only the best candidate outlined (dotted), never an "explaining" outline
        assert page.query_selector_all("#image-panel .outline-explaining") == []
        assert len(page.query_selector_all("#image-panel .outline-candidate")) == 1
        # pan/zoom and a search work on thousands of edges (how fast: benchmarks/viewer.py)
        zoom = page.evaluate("""async () => {
            const cy = window.whytoken.cy, z0 = cy.zoom();
            for (let i = 0; i < 10; i++) { cy.zoom(cy.zoom() * 1.15); cy.panBy({x: 15, y: 5}); }
            await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
            return cy.zoom() / z0; }""")
        assert zoom > 3
        page.fill("#search", "patch 3,4")
        assert page.evaluate("window.whytoken.cy.nodes('.match').length") == 1
        page.select_option("#map", "attention")
        assert len(page.query_selector_all("#image-panel rect[data-position]")) == 576
        screenshot(page, "viewer-open-576.png", tmp_path)
        assert outside == []
