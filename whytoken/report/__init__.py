"""The self-contained HTML report of an explanation.

:func:`render_report` turns an :class:`~whytoken.query.Explanation` (plus,
optionally, the input image) into one HTML page with no external
resources: CSS is inlined, figures are inline SVG and the image is a base64
PNG. The page shows

* the answer and the explaining set in plain words, with the prompt and the
  generated text where explaining words are highlighted;
* the image with the explaining patches outlined (other minimal sets dashed);
* the PAG around the target, within the PDS-tree range, with its edge marks;
* every verified minimal set, ranked, and a per-head table (graph size, CI
  tests, time, candidates tried and verified);
* for comparison, the raw attention of the position that predicted the
  target: a heatmap over the image patches and bars over the text tokens;
* the search budget and the provenance.

The templates live in ``whytoken/report/templates/`` (Jinja2).

Examples
--------
>>> from whytoken.report import token_label
>>> token_label(" France"), token_label("\\n"), token_label(" ")
('France', '⏎', '␣')
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from whytoken.query.explanation import Explanation, TokenInfo
from whytoken.report import svg

__all__ = ["render_report", "write_report", "token_label", "TEMPLATE_DIR"]

logger = logging.getLogger(__name__)

#: Where the Jinja2 templates live.
TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"


def token_label(text: str, patch: tuple[int, int] | None = None, max_len: int = 18) -> str:
    """A short display label for a token: stripped text, ``⏎``/``␣`` for whitespace, ``patch r,c`` for patches."""
    if patch is not None:
        return f"patch {patch[0]},{patch[1]}"
    stripped = text.strip()
    if not stripped:
        return "⏎" if "\n" in text else "␣"
    if len(stripped) > max_len:
        stripped = stripped[: max_len - 1] + "…"
    return stripped


def _environment() -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["fmt_p"] = _fmt_p
    env.filters["tok"] = lambda text: token_label(str(text), max_len=24)
    return env


def _fmt_p(value: float | None) -> str:
    if value is None or not np.isfinite(value):
        return "–"
    if value == 0:
        return "0"
    if value < 1e-3:
        return f"{value:.1e}"
    return f"{value:.3f}"


def _mean_attention(explanation: Explanation) -> np.ndarray | None:
    rows = [np.asarray(row, dtype=np.float64) for row in explanation.attention.values()]
    if not rows:
        return None
    return np.mean(np.stack(rows), axis=0)


def _context(explanation: Explanation, image: Any | None, notes: Mapping[str, str] | None = None) -> dict[str, Any]:
    e = explanation
    tokens = {t.position: t for t in e.tokens}
    answer = e.explaining_set
    highlight = set(answer.positions) if answer is not None else set()
    alternatives = {p for s in e.minimal_sets[1:] for p in s.positions} - highlight

    def label(t: TokenInfo) -> str:
        return token_label(t.text, t.patch)

    # -- prompt and answer, token by token (image patches collapsed into one chip)
    chips: list[dict[str, Any]] = []
    n_patches = 0
    patches_marked = 0
    for t in e.tokens:
        if t.kind == "image_patch":
            n_patches += 1
            patches_marked += t.position in highlight
            if chips and chips[-1]["kind"] == "image_patch":
                chips[-1]["count"] += 1
                chips[-1]["marked"] += t.position in highlight
                continue
            chips.append({"kind": "image_patch", "count": 1, "marked": int(t.position in highlight), "text": ""})
            continue
        role = ("target" if t.position == e.target.position else "explaining" if t.position in highlight
                else "alternative" if t.position in alternatives else t.kind)
        chips.append({"kind": t.kind, "role": role, "text": t.text.replace("\n", "⏎"), "position": t.position,
                      "count": 1, "marked": 0})

    # -- image panels
    boxes = {t.position: t.box for t in e.tokens if t.kind == "image_patch" and t.box is not None}
    image_uri = svg.png_data_uri(image) if image is not None else None
    image_size = e.image_size
    if image_size is None and boxes:
        image_size = (int(max(b[2] for b in boxes.values())), int(max(b[3] for b in boxes.values())))
    attention = _mean_attention(e)
    patch_panel = heat_panel = None
    patch_labels = {p: f"{label(tokens[p])} (position {p})" for p in boxes}
    if boxes and image_size is not None:
        patch_panel = svg.image_overlay_svg(image_uri, image_size, boxes, highlight, alternatives,
                                            labels=patch_labels, title="explaining patches")
        if attention is not None:
            vals = {p: float(attention[p]) for p in boxes if p < len(attention)}
            top = max(vals.values()) if vals else 0.0
            heat = {p: (v / top if top > 0 else 0.0) for p, v in vals.items()}
            heat_panel = svg.image_overlay_svg(image_uri, image_size, boxes, highlight, (), heat=heat,
                                               labels=patch_labels, title="attention over patches")
    patch_mass = float(sum(attention[p] for p in boxes if p < len(attention))) if attention is not None else 0.0

    # -- attention bars over text tokens (the first position, the sink, is reported separately)
    bars = None
    sink_mass = None
    if attention is not None:
        first = min(tokens)
        text_tokens = [t for t in e.tokens if t.kind != "image_patch" and t.position < e.target.position
                       and t.position != first and t.position < len(attention)]
        sink_mass = float(attention[first]) if first < len(attention) else None
        if text_tokens:
            bars = svg.attention_bars_svg([label(t) for t in text_tokens],
                                          [float(attention[t.position]) for t in text_tokens],
                                          [t.kind for t in text_tokens],
                                          [t.position in highlight for t in text_tokens])

    # -- PAGs: the best head's, then the heads that ranked the other minimal sets best (at most 3 graphs)
    best = e.best_head
    root = e.target_node if e.target_node is not None else e.target.position
    shown: list[Any] = [] if best is None else [best]
    for s in e.minimal_sets[1:]:
        head = next((h for h in e.heads if h.head == s.best_head), None)
        if head is not None and head not in shown and len(shown) < 3:
            shown.append(head)
    graphs = []
    for i, head in enumerate(shown):
        depth = dict(head.pds_depth) or {root: 0}
        graph_labels = {p: label(tokens[p]) for p in head.pag.nodes if p in tokens}
        if root != e.target.position:  # the predicting position stands for the target
            graph_labels[root] = f"{graph_labels[root]} ⇒ {token_label(e.target.text)}"
        proposes = [token_label(t.text, t.patch) for s in e.minimal_sets if s.best_head == head.head
                    for t in (tokens[p] for p in s.positions)]
        graphs.append({
            "svg": svg.pag_svg(head.pag, root, depth, labels=graph_labels,
                               kinds={p: tokens[p].kind for p in head.pag.nodes if p in tokens},
                               highlight=highlight, alternatives=alternatives),
            "caption": (f"Head {head.head}{' (ranks the answer best)' if i == 0 and answer is not None else ''}: "
                        f"{head.n_nodes} tokens, {head.n_edges} edges learned by {head.method}; drawn: the "
                        f"{len(depth) - 1} token(s) within PDS distance {max(depth.values()) if depth else 0} "
                        "of the target" + (f"; ranks {', '.join(proposes)} best" if i > 0 and proposes else "")
                        + "."),
        })

    sets = []
    for rank, s in enumerate(e.minimal_sets, start=1):
        sets.append({
            "rank": rank,
            "members": [{"label": token_label(m.text, m.patch), "position": m.position, "kind": m.kind,
                         "p": m.p_value, "p_rest": m.p_value_given_rest, "d": m.pds_distance} for m in s.members],
            "verified": s.verified,
            "heads": ", ".join(str(h) for h in s.heads),
            "pds": s.pds_distance,
            "new_token": None if s.outcome is None else s.outcome.top_token_text,
            "new_prob": None if s.outcome is None else s.outcome.top_prob,
            "after": None if s.outcome is None else s.outcome.target_prob_after,
        })

    heads = []
    for h in e.heads:
        tried = len(h.candidates)
        checked = sum(1 for c in h.candidates if c.verified is not None)
        heads.append({"head": h.head, "nodes": h.n_nodes, "edges": h.n_edges, "tests": h.n_ci_tests,
                      "seconds": h.learn_seconds, "in_range": max(len(h.pds_depth) - 1, 0), "tried": tried,
                      "checked": checked, "verified": h.n_verified, "minimal": h.minimal_size,
                      "best": best is not None and h.head == best.head})

    prov = dict(e.provenance)
    return {
        "e": e,
        "title": f"Why {e.target.text!r}?",
        "model": prov.get("model") or "model",
        "chips": chips,
        "n_patches": n_patches,
        "patch_panel": patch_panel,
        "heat_panel": heat_panel,
        "patch_mass": patch_mass,
        "bars": bars,
        "sink_mass": sink_mass,
        "sink_label": token_label(tokens[min(tokens)].text) if tokens else "",
        "graphs": graphs,
        "sets": sets,
        "heads": heads,
        "modality": e.modality,
        "target_label": token_label(e.target.text),
        "answer_labels": [token_label(m.text, m.patch) for m in answer.members] if answer is not None else [],
        "provenance_json": json.dumps(prov, indent=2, sort_keys=True, default=str),
        "kind_colors": svg.KIND_COLORS,
        "highlight": svg.HIGHLIGHT,
        "alternative": svg.ALTERNATIVE,
        "notes": dict(notes or {}),
        "status_class": {"explained": "ok", "not-explained": "warn", "unverified": "info"}.get(e.status, "info"),
    }


def render_report(explanation: Explanation, image: Any | None = None,
                  notes: Mapping[str, str] | None = None) -> str:
    """The report as one self-contained HTML string.

    Parameters
    ----------
    explanation : Explanation
        The result of :func:`whytoken.query.explain` (or one loaded from JSON).
    image : PIL.Image.Image or uint8 array (H, W, 3), optional
        The input image (``trace.images[0]``); without it patches are drawn on a blank canvas.
    notes : mapping of str to str, optional
        Extra lines shown under the prompt, e.g. ``{"ground truth": "patch 1,2 and 'cross'"}``.

    Returns
    -------
    str
        HTML with inline CSS and figures; no network access is needed to view it.
    """
    return _environment().get_template("report.html.j2").render(**_context(explanation, image, notes))


def write_report(explanation: Explanation, path: str | Path, image: Any | None = None,
                 notes: Mapping[str, str] | None = None) -> Path:
    """Render the report and write it to ``path`` (folders created); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_report(explanation, image=image, notes=notes), encoding="utf-8")
    logger.info("wrote report to %s", path)
    return path
