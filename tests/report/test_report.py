"""The HTML report: self-contained, shows the answer, graph, image and attention, renders in Chromium."""

from __future__ import annotations

import re

import numpy as np
import pytest

from tests.query import fakes
from whytoken.query import Explanation, explain
from whytoken.report import render_report, token_label, write_report
from whytoken.report.graph_svg import graph_figure


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
    assert html.count("data:image/png;base64,") == 1  # the image is embedded once, every panel references it
    assert html.count('<use href="#wt-input-image"') >= 3  # result panel, attention map, PDS-distance map
    assert html.count("<svg") >= 6


def test_report_shows_answer_sets_and_heads(image_explanation, scene_image):
    html = render_report(image_explanation, image=scene_image)
    assert "patch 0,1" in html and "left" in html and "explained" in html
    assert html.count('<tr class="best">') == 2  # the answer's row and the drawn head's row
    for head in image_explanation.heads:
        assert f"<td>{head.head}" in html
    assert f"(exhaustive: {image_explanation.search.exhaustive_interventions})" in html
    assert "attention sink" in html
    # the effect of every verified set, and the p-values labelled with what they test
    from whytoken.report.sets import set_views

    groups = set_views(image_explanation)
    for view in (groups.explaining, *groups.verified):
        assert f'<td class="num">{view.effect_text}</td>' in html
    assert "independent of the target" in html and "−log10 p" in html


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


def test_graph_figure_draws_every_mark():
    from whytoken.graphs import PAG, Mark

    g = PAG()
    g.add_edge(1, 9, Mark.TAIL, Mark.ARROW)
    g.add_edge(2, 9, Mark.CIRCLE, Mark.ARROW)
    g.add_edge(3, 2, Mark.CIRCLE, Mark.CIRCLE)
    fig = graph_figure(g, 9, {9: 0, 1: 1, 2: 1, 3: 2}, labels={n: f"t{n}" for n in g.nodes},
                       kinds={n: "prompt_text" for n in g.nodes}, roles={1: "explaining"})
    assert fig.svg.count("<polygon") == 2  # two arrowheads
    assert fig.svg.count("<circle") == 3  # three circle marks
    assert fig.svg.count("<path") == 3 and "DISTANCE 2" in fig.svg
    assert (fig.n_drawn, fig.n_grouped, fig.red_edges) == (4, 0, 1)


def test_graph_figure_groups_the_rest_into_regions():
    """A 24 x 24 grid of patches all tied to the target: the marked ones drawn, the rest in region groups."""
    from whytoken.graphs import PAG, Mark

    g = PAG()
    target = 1000
    patches = {r * 24 + c: (r, c) for r in range(24) for c in range(24)}
    for p in patches:
        g.add_edge(p, target, Mark.CIRCLE, Mark.ARROW)
    depth = {target: 0, **{p: 1 for p in patches}}
    fig = graph_figure(g, target, depth, labels={p: f"patch {r},{c}" for p, (r, c) in patches.items()},
                       kinds={**{p: "image_patch" for p in patches}, target: "generated"},
                       roles={5: "explaining", 6: "verified"}, patches=patches, grid=(24, 24), max_nodes=20)
    assert fig.n_in_range == 576 and fig.n_drawn == 21 and fig.n_grouped == 556
    assert fig.n_groups == 9  # one summary node per 3 x 3 region at distance 1
    # the drawn patches' edges to the target one by one; the grouped ones' as one band per group
    assert fig.n_edges_drawn == 20 and fig.n_edges_bundled == 556 and fig.svg.count("<line") >= 9
    assert fig.svg.count('class="wt-group"') == 9 and fig.svg.count('class="wt-node"') == 21


def test_unverified_candidates_are_never_called_minimal_sets():
    trace = fakes.make_trace([{2: 0.5, 7: 0.4, 0: 0.1}, {3: 0.5, 7: 0.4, 0: 0.1}], with_image=True)
    e = explain(trace, fakes.TARGET, layer=1, verify=False)
    html = render_report(e, image=np.zeros((32, 32, 3), dtype=np.uint8))
    assert e.status == "unverified"
    assert "minimal set" not in html.lower().replace("globally minimal", "")
    assert "not verified" in html and "Verified explaining sets" in html
    assert 'class="wt-outline-explaining"' not in html
    best = e.minimal_sets[0]
    has_patch = any(m.patch is not None for m in best.members)
    assert ('class="wt-outline-candidate"' in html) == has_patch  # the best candidate, dotted, if it is on the image


def test_token_label():
    assert token_label(" Paris") == "Paris"
    assert token_label("x" * 40).endswith("…")
    assert token_label("<image>", patch=(2, 3)) == "patch 2,3"


def test_notes_are_shown_escaped(text_explanation):
    html = render_report(text_explanation, notes={"ground truth": "word <circle>"})
    assert "<dt>ground truth</dt><dd>word &lt;circle&gt;</dd>" in html


def test_answer_report_steps_through_the_tokens(image_explanation):
    """With the whole answer, each token's report links to the others and states the chains."""
    from whytoken.query import AnswerExplanation

    answer = AnswerExplanation(explanations=(image_explanation,), chains=((4, image_explanation.target.position),),
                               skipped=((99, "end-of-sequence token '</s>'"),))
    html = render_report(image_explanation, answer=answer, link="../token-{position}/report.html")
    assert "Answer, token by token" in html and 'class="tok step current"' in html
    assert "end-of-sequence token" in html and "runs through the generated token(s)" in html
    assert render_report(image_explanation).count("token by token") == 0


def test_a_set_of_words_is_not_called_an_outline_of_patches(scene_image):
    """The image legend of a set without patches says so instead of 'outline of its 0 patch(es)'."""
    trace = fakes.make_trace([{2: 0.5, 7: 0.4, 0: 0.1}], with_image=True)
    e = explain(trace, fakes.TARGET, layer=1, model=fakes.FakeModel(fakes.intersects({7})))
    assert e.explaining_set is not None and all(m.patch is None for m in e.explaining_set.members)
    html = render_report(e, image=scene_image)
    assert "explaining set: no patches (its members are text tokens)" in html
    assert "outline of its 0 patch(es)" not in html
