"""What the report shows, computed from an :class:`~whytoken.query.Explanation`: the template's context.

:func:`report_context` gathers every figure and table of the page (see
:mod:`whytoken.report`); the Jinja2 template only lays them out. Image-level
figures scale with the patch count (outlines of the union of a set's patches,
heatmaps, 3 x 3 regions in the graph), so the page reads the same at 36 and at
2,000 image tokens and stays a few MB.
"""

from __future__ import annotations

import json
import math
from typing import Any, Mapping

import numpy as np

from whytoken.report import charts, graph_svg, overlay, svg
from whytoken.report.labels import (
    P_VALUE_MEANING,
    format_effect,
    format_log10_p,
    format_prob,
    member_log10_p,
    token_label,
)
from whytoken.report.sets import set_views

__all__ = ["report_context", "answer_steps", "mean_attention", "patch_cells", "hint_text", "MAX_TEXT_BARS", "MAX_CANDIDATES_SHOWN"]

#: Text tokens drawn in the attention chart (the strongest are kept, the rest counted).
MAX_TEXT_BARS = 40
#: Unverified candidates listed in the table and tinted on the image (the best-ranked).
MAX_CANDIDATES_SHOWN = 20


def mean_attention(explanation: Any) -> np.ndarray | None:
    """The head-mean attention row of the position that predicted the target (None without one)."""
    rows = [np.asarray(row, dtype=np.float64) for row in explanation.attention.values()]
    return np.mean(np.stack(rows), axis=0) if rows else None


def patch_cells(explanation: Any) -> dict[int, overlay.PatchCell]:
    """Position -> :class:`~whytoken.report.overlay.PatchCell` of every image patch with a box."""
    return {t.position: overlay.PatchCell(t.position, tuple(t.patch), tuple(t.box)) for t in explanation.tokens
            if t.kind == "image_patch" and t.box is not None and t.patch is not None}


def hint_text(hint: Any, style: str = "cli") -> str:
    """A structured suggestion as a CLI flag (``--n-samples 64``) or a Python keyword (``n_samples=64``)."""
    parameter, value = str(getattr(hint, "parameter", "")), getattr(hint, "value", None)
    if style == "cli":
        flag = "--" + parameter.replace("_", "-")
        if isinstance(value, bool):
            return flag if value else "--no-" + parameter.replace("_", "-")
        return f"{flag} {value}"
    return f"{parameter}={value!r}"


def _normalised(values: Mapping[int, float]) -> tuple[dict[int, float], float, float]:
    finite = [v for v in values.values() if math.isfinite(v)]
    low = min(finite + [0.0])
    high = max(finite + [0.0])
    span = high - low
    return ({p: ((v - low) / span if span > 0 and math.isfinite(v) else 0.0) for p, v in values.items()}, low, high)


def _map_panels(e: Any, cells: dict, image_ref: str | None, image_size: tuple[int, int],
                outlines: list, labels: dict, baselines: Mapping[str, Mapping[int, float]] | None,
                best: Any) -> list[dict[str, Any]]:
    """Heatmap panels: attention, each baseline given, and the PDS distance in the best head."""
    panels = []
    attention = mean_attention(e)
    maps: list[tuple[str, str, Mapping[int, float]]] = []
    if attention is not None:
        maps.append(("attention", f"Raw attention of position {e.attention_row} (mean over {len(e.attention)} "
                     "head(s)), the row that predicted the target", {p: float(attention[p]) for p in cells
                                                                    if p < len(attention)}))
    for name, scores in (baselines or {}).items():
        maps.append((name, f"{name} scores of the patches (baseline, for comparison)",
                     {int(p): float(v) for p, v in scores.items() if int(p) in cells}))
    for name, caption, values in maps:
        heat, low, high = _normalised(values)
        panels.append({
            "name": name, "caption": caption,
            "svg": overlay.image_panel_svg(image_ref, image_size, cells, heat=heat, outlines=outlines, labels=labels,
                                           values={p: f"{v:.4g}" for p, v in values.items()}, display=300,
                                           title=f"{name} over patches"),
            "colorbar": svg.colorbar_svg(f"{name} (patch share of the row)" if name == "attention" else name,
                                         low, high, width=300),
        })
    if best is not None:
        depth = dict(best.pds_depth)
        reach = max(depth.values()) if depth else 0
        heat = {p: (1.0 - (depth[p] - 1) / max(reach, 1) * 0.8 if p in depth else 0.0) for p in cells}
        values = {p: (f"PDS distance {depth[p]}" if p in depth else "outside the PDS range") for p in cells}
        n_in = sum(1 for p in cells if p in depth)
        panels.append({
            "name": "graph distance",
            "caption": f"PDS-tree distance from the target in head {best.head}: {n_in} of {len(cells)} patches "
                       f"within distance {reach} (darker = closer); the graph view below groups them by region",
            "svg": overlay.image_panel_svg(image_ref, image_size, cells, heat=heat, outlines=outlines, labels=labels,
                                           values=values, display=300, title="PDS distance over patches"),
            "colorbar": None,
        })
    return panels


def answer_steps(explanation: Any, answer: Any | None, link: str) -> dict[str, Any] | None:
    """The answer's tokens for the step-through strip: text, status, link, which is this page, the chains."""
    if answer is None:
        return None
    here = explanation.target.position
    explained = {e.target.position: e for e in getattr(answer, "explanations", ())}
    skipped = {int(p): str(why) for p, why in getattr(answer, "skipped", ())}
    tokens = []
    for position in sorted(set(explained) | set(skipped)):
        e = explained.get(position)
        tokens.append({"position": position, "label": token_label(e.target.text) if e else f"@{position}",
                       "status": e.status if e else "skipped", "why": skipped.get(position, ""),
                       "href": None if e is None or position == here else link.format(position=position),
                       "current": position == here})
    labels = {t["position"]: t["label"] for t in tokens}
    chains = [(labels.get(s, f"@{s}"), labels.get(t, f"@{t}")) for s, t in getattr(answer, "chains", ())]
    via = [labels.get(s, f"@{s}") for s, t in getattr(answer, "chains", ()) if t == here]
    return {"tokens": tokens, "chains": chains, "via": via}


def _search_facts(search: Any, passes_by_stage: Mapping[str, int]) -> list[tuple[str, str]]:
    """What the search spent and under which limits, as (label, value) pairs; fields the query does not record
    are left out (results of older and newer versions of the query differ here)."""
    facts: list[tuple[str, str]] = []

    def add(label: str, *names: str, fmt: Any = str) -> None:
        for name in names:
            value = getattr(search, name, None)
            if value is not None and value != ():
                facts.append((label, fmt(value)))
                return

    add("search policy", "policy")
    add("set sizes tried", "sizes_tried", fmt=lambda v: ", ".join(str(x) for x in v))
    add("removable tokens", "pool_size", "n_candidate_nodes")
    used = getattr(search, "passes_used", None)
    used = getattr(search, "n_interventions", None) if used is None else used
    budget = getattr(search, "max_passes", None)
    stages = ", ".join(f"{k}: {v}" for k, v in passes_by_stage.items())
    facts.append(("forward passes", f"{used}{f' of {budget}' if budget else ''} in "
                  f"{getattr(search, 'n_model_calls', '?')} batched call(s){f' ({stages})' if stages else ''}"))
    add("an exhaustive search would need", "exhaustive_passes", "exhaustive_interventions")
    add("stopped", "stopped")
    add("largest set size", "max_set_size", fmt=lambda v: "any" if v is None else str(v))
    add("PDS distance limit", "max_range")
    add("sets per size", "max_candidates")
    return facts


def report_context(explanation: Any, image: Any | None = None, notes: Mapping[str, str] | None = None,
                   baselines: Mapping[str, Mapping[int, float]] | None = None) -> dict[str, Any]:
    """The template context of :func:`whytoken.report.render_report`."""
    e = explanation
    tokens = {t.position: t for t in e.tokens}
    groups = set_views(e)
    answer = groups.explaining
    best_candidate = groups.candidates[0] if answer is None and groups.candidates else None
    shown = answer or best_candidate
    explaining = set(answer.positions) if answer else set()
    verified_pos = groups.positions("verified") - explaining
    candidate_pos = groups.positions("candidate") - explaining - verified_pos
    roles = {**{p: "candidate" for p in candidate_pos}, **{p: "verified" for p in verified_pos},
             **{p: "explaining" for p in explaining}}

    def label(p: int) -> str:
        t = tokens[p]
        return token_label(t.text, t.patch)

    # -- prompt and answer chips (image patches collapsed into one chip)
    chips: list[dict[str, Any]] = []
    for t in e.tokens:
        if t.kind == "image_patch":
            if chips and chips[-1]["kind"] == "image_patch":
                chips[-1]["count"] += 1
                chips[-1]["marked"] += t.position in explaining
                continue
            chips.append({"kind": "image_patch", "count": 1, "marked": int(t.position in explaining), "text": ""})
            continue
        role = "target" if t.position == e.target.position else roles.get(t.position, t.kind)
        role = {"verified": "alternative"}.get(role, role)
        chips.append({"kind": t.kind, "role": role, "text": t.text.replace("\n", "⏎"), "position": t.position,
                      "count": 1, "marked": 0})

    # -- image figures
    cells = patch_cells(e)
    image_size = e.image_size
    if image_size is None and cells:
        image_size = (int(max(c.box[2] for c in cells.values())), int(max(c.box[3] for c in cells.values())))
    image_defs = image_ref = None
    if image is not None and image_size is not None:
        image_defs = overlay.image_defs_svg(svg.png_data_uri(image, max_side=672), image_size)
        image_ref = "#" + overlay.IMAGE_ID
    patch_labels = {p: f"{label(p)} (position {p})" for p in cells}
    outlines = []
    for view in groups.verified:
        outlines.append((view.positions, "verified"))
    if answer is not None:
        outlines.append((answer.positions, "explaining"))
    elif best_candidate is not None:
        outlines.append((best_candidate.positions, "candidate"))
    counts: dict[int, int] = {}
    for view in groups.candidates[:MAX_CANDIDATES_SHOWN]:
        for p in view.positions:
            counts[p] = counts.get(p, 0) + 1
    best = e.best_head
    result_panel = map_panels = None
    if cells and image_size is not None:
        result_panel = overlay.image_panel_svg(image_ref, image_size, cells, outlines=outlines,
                                               candidate_counts=counts or None, labels=patch_labels, display=340,
                                               title="explaining patches")
        map_panels = _map_panels(e, cells, image_ref, image_size, outlines, patch_labels, baselines, best)

    # -- attention over text tokens (the first position, an attention sink, reported separately)
    attention = mean_attention(e)
    bars = sink_mass = None
    n_text_hidden = 0
    if attention is not None:
        first = min(tokens)
        text = [t for t in e.tokens if t.kind != "image_patch" and t.position < e.target.position
                and t.position != first and t.position < len(attention)]
        sink_mass = float(attention[first]) if first < len(attention) else None
        if len(text) > MAX_TEXT_BARS:
            keep = sorted(text, key=lambda t: -attention[t.position])[:MAX_TEXT_BARS]
            n_text_hidden = len(text) - len(keep)
            text = sorted(keep, key=lambda t: t.position)
        if text:
            bars = charts.hbar_svg([label(t.position) for t in text], [float(attention[t.position]) for t in text],
                                   [t.kind for t in text], [t.position in explaining for t in text],
                                   axis_label=f"attention weight (row of position {e.attention_row}, head mean)")

    # -- graphs: the best head, then heads that ranked other verified sets (at most 3)
    root = e.target_node if e.target_node is not None else e.target.position
    heads_shown = [] if best is None else [best]
    for view in groups.verified:
        head = next((h for h in e.heads if view.heads and h.head == view.heads[0]), None)
        if head is not None and head not in heads_shown and len(heads_shown) < 3:
            heads_shown.append(head)
    graphs = []
    for head in heads_shown:
        depth = dict(head.pds_depth) or {root: 0}
        labels = {p: label(p) for p in head.pag.nodes if p in tokens}
        if root != e.target.position and root in labels:
            labels[root] = f"{labels[root]} ⇒ {token_label(e.target.text)}"
        fig = graph_svg.graph_figure(head.pag, root, depth, labels,
                                     kinds={p: tokens[p].kind for p in head.pag.nodes if p in tokens}, roles=roles,
                                     patches={p: tuple(tokens[p].patch) for p in head.pag.nodes
                                              if p in tokens and tokens[p].patch is not None},
                                     grid=e.patch_grid)
        graphs.append({"head": head, "fig": fig, "reach": max(depth.values()) if depth else 0})
    kinds_drawn = {tokens[p].kind for g in graphs for p in g["head"].pds_depth if p in tokens}

    # -- graph evidence (log-scale p-values) for the members of the verified sets
    evidence = None
    member_rows = []
    seen: set[int] = set()
    for view in ([answer] if answer else []) + list(groups.verified) + ([best_candidate] if best_candidate else []):
        for p, lp in zip(view.positions, view.log10_p):
            if p not in seen and len(member_rows) < 24:
                seen.add(p)
                member_rows.append((label(p), lp, p in explaining))
    if member_rows:
        evidence = charts.log_p_svg([r[0] for r in member_rows], [r[1] for r in member_rows],
                                    alpha=e.provenance.get("alpha"), highlight=[r[2] for r in member_rows])

    heads = []
    for h in e.heads:
        heads.append({"head": h.head, "nodes": h.n_nodes, "edges": h.n_edges, "tests": h.n_ci_tests,
                      "seconds": h.learn_seconds, "in_range": max(len(h.pds_depth) - 1, 0),
                      "answer_in_tree": (None if answer is None else
                                         sum(1 for p in answer.positions if h.pds_depth.get(p, 0) > 0)),
                      "best": best is not None and h is best})

    search = e.search
    passes_by_stage = getattr(search, "passes_by_stage", None) or {}
    search_facts = _search_facts(search, passes_by_stage)
    hints = [{"cli": hint_text(h, "cli"), "python": hint_text(h, "python"), "reason": getattr(h, "reason", "")}
             for h in (getattr(e, "hints", None) or ())]
    prov = dict(e.provenance)
    return {
        "e": e,
        "title": f"Why {e.target.text!r}?",
        "model": prov.get("model") or "model",
        "chips": chips,
        "groups": groups,
        "answer": answer,
        "best_candidate": best_candidate,
        "shown": shown,
        "shown_labels": [] if shown is None else list(shown.labels),
        "target_label": token_label(e.target.text),
        "target_reason": getattr(e, "target_reason", None),
        "hints": hints,
        "image_defs": image_defs,
        "result_panel": result_panel,
        "map_panels": map_panels or [],
        "n_patches": len(cells),
        "n_candidates_on_image": sum(1 for v in groups.candidates[:MAX_CANDIDATES_SHOWN]
                                     if any(p in cells for p in v.positions)),
        "bars": bars,
        "n_text_hidden": n_text_hidden,
        "sink_mass": sink_mass,
        "sink_label": token_label(tokens[min(tokens)].text) if tokens else "",
        "graphs": graphs,
        "kinds_drawn": kinds_drawn,
        "evidence": evidence,
        "p_meaning": P_VALUE_MEANING,
        "heads": heads,
        "modality": e.modality,
        "passes_by_stage": dict(passes_by_stage),
        "search_facts": search_facts,
        "max_passes": getattr(search, "max_passes", None),
        "provenance_json": json.dumps(prov, indent=2, sort_keys=True, default=str),
        "kind_colors": svg.KIND_COLORS,
        "highlight": svg.HIGHLIGHT,
        "alternative": svg.ALTERNATIVE,
        "candidate_color": svg.CANDIDATE,
        "notes": dict(notes or {}),
        "status_class": {"explained": "ok", "not-explained": "warn", "unverified": "info"}.get(e.status, "info"),
        "fmt_effect": format_effect,
        "fmt_lp": format_log10_p,
        "fmt_prob": format_prob,
        "member_lp": member_log10_p,
        "label": label,
    }
