"""The self-contained HTML report of an explanation.

:func:`render_report` turns an :class:`~whytoken.query.Explanation` (plus,
optionally, the input image and baseline maps) into one HTML page with no
external resources: CSS is inlined, figures are inline SVG, the image is one
base64 PNG referenced by every panel. It reads the same from 36 to 2,000
image tokens and stays a few MB at 576 patches. The page shows

* the answer in plain words: the set, what the model predicts without it, the
  measured effect, and only the claims that were checked (verified,
  irreducible, globally minimal);
* the image with the explaining set outlined (one contour around its
  patches), other verified sets dashed in a second colour, and unverified
  candidates only as a faint tint (never called minimal sets);
* heatmaps over the patches with colour scales: raw attention, any baseline
  passed in (rollout, relevancy ...) and the PDS-tree distance from the target;
* the PAG around the target: the subgraph that matters drawn node by node,
  the rest grouped into image regions and text groups (:mod:`~whytoken.report.graph_svg`);
* attention over text tokens, and the graph evidence of each member as
  −log10 p with the significance level marked, labelled with what it tests;
* the sets with their effects, the unverified candidates apart, a per-head
  table, the search budget and the provenance.

Modules: :mod:`~whytoken.report.labels` (numbers and labels),
:mod:`~whytoken.report.sets` (which set may be called what),
:mod:`~whytoken.report.overlay`, :mod:`~whytoken.report.graph_svg`,
:mod:`~whytoken.report.charts` (figures), :mod:`~whytoken.report.context`
(the page's content); templates in ``whytoken/report/templates/`` (Jinja2).

Examples
--------
>>> from whytoken.report import token_label
>>> token_label(" France"), token_label("\\n"), token_label(" ")
('France', '⏎', '␣')
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Mapping

from whytoken.report.labels import token_label

__all__ = ["render_report", "write_report", "token_label", "TEMPLATE_DIR"]

logger = logging.getLogger(__name__)

#: Where the Jinja2 templates live.
TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"


def _environment() -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["tok"] = lambda text: token_label(str(text), max_len=24)
    return env


def render_report(explanation: Any, image: Any | None = None, notes: Mapping[str, str] | None = None,
                  baselines: Mapping[str, Mapping[int, float]] | None = None, answer: Any | None = None,
                  link: str = "../token-{position}/report.html") -> str:
    """The report as one self-contained HTML string.

    Parameters
    ----------
    explanation : Explanation
        The result of :func:`whytoken.query.explain` (or one loaded from JSON).
    image : PIL.Image.Image or uint8 array (H, W, 3), optional
        The input image (``trace.images[0]``); without it patches are drawn on a blank canvas.
    notes : mapping of str to str, optional
        Extra lines shown under the prompt, e.g. ``{"ground truth": "patch 1,2 and 'cross'"}``.
    baselines : mapping of str to (mapping of position to float), optional
        Baseline scores per patch (e.g. ``{"rollout": {...}, "relevancy": {...}}``), drawn as heatmaps.
    answer : AnswerExplanation, optional
        The whole answer this explanation belongs to (``explain(trace, "all")``): the page then shows every
        generated token, each a link to its own report (``link`` formatted with its position), and the
        chains through earlier generated tokens, so a reader steps through the answer token by token.
    link : str
        Where the report of the token at ``{position}`` lives, relative to this one (the layout that
        ``whytoken explain --target all`` writes: one ``token-<position>/`` folder per token).

    Returns
    -------
    str
        HTML with inline CSS and figures; no network access is needed to view it.
    """
    from whytoken.report.context import report_context

    from whytoken.report.context import answer_steps

    return _environment().get_template("report.html.j2").render(
        **report_context(explanation, image, notes, baselines), steps=answer_steps(explanation, answer, link))


def write_report(explanation: Any, path: str | Path, image: Any | None = None,
                 notes: Mapping[str, str] | None = None,
                 baselines: Mapping[str, Mapping[int, float]] | None = None, answer: Any | None = None,
                 link: str = "../token-{position}/report.html") -> Path:
    """Render the report (see :func:`render_report`) and write it atomically to ``path``; returns the path."""
    from whytoken.files import atomic_write_text, ensure_directory

    path = Path(path)
    ensure_directory(path.parent)
    atomic_write_text(path, render_report(explanation, image=image, notes=notes, baselines=baselines,
                                          answer=answer, link=link), what="report")
    logger.info("wrote report to %s", path)
    return path
