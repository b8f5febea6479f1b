"""What the viewer's page receives for one explanation: a JSON document built from an :class:`Explanation`.

:func:`explanation_payload` is torch-free and shared by the live viewer and
``whytoken serve --open``. It carries, besides the explanation's own fields,
what the page needs to draw without recomputing anything:

* per head, the PAG as Cytoscape elements with positions computed here
  (:func:`graph_elements`): image patches at their grid cells, so the graph is
  read over the picture; text tokens in reading order below it; the target on
  the right; each node's PDS distance and role (explaining / verified /
  candidate), each edge's marks and whether it touches the target or a set;
* heatmaps over the patches (:func:`patch_maps`): raw attention (head mean and
  per head), baselines passed in (rollout, relevancy ...), PDS distance;
* the sets grouped by what was checked (:func:`whytoken.report.sets.set_views`).

Examples
--------
>>> from whytoken.graphs import PAG, Mark
>>> g = PAG(); g.add_edge(1, 3, Mark.CIRCLE, Mark.ARROW); g.add_edge(2, 3, Mark.TAIL, Mark.ARROW)
>>> tokens = [{"position": 1, "kind": "image_patch", "label": "patch 0,0", "patch": (0, 0)},
...           {"position": 2, "kind": "prompt_text", "label": "cat", "patch": None},
...           {"position": 3, "kind": "generated", "label": "red", "patch": None}]
>>> els = graph_elements(g, tokens, target=3, depth={3: 0, 1: 1}, roles={1: "explaining"})
>>> [n["data"]["id"] for n in els["nodes"]], els["edges"][0]["data"]["marks"], els["edges"][0]["data"]["focus"]
(['1', '2', '3'], ['o', '>'], True)
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np

from whytoken.graphs import Mark
from whytoken.report.context import mean_attention
from whytoken.report.labels import P_VALUE_MEANING, format_effect, format_prob, token_label
from whytoken.report.sets import set_views

__all__ = ["explanation_payload", "graph_elements", "patch_maps", "CELL"]

#: Grid spacing of patch nodes in graph coordinates.
CELL = 30.0
_MARK_CHAR = {Mark.TAIL: "-", Mark.ARROW: ">", Mark.CIRCLE: "o"}


def _positions(tokens: Sequence[Mapping[str, Any]], target: int, grid: tuple[int, int] | None) -> dict[int, tuple]:
    """Patch nodes on their grid cells; text in reading order below (rows of up to 16); the target to the right.

    Without patches the target simply follows the text (an arc diagram: edges are drawn as arcs above the row).
    """
    pos: dict[int, tuple[float, float]] = {}
    patches = [t for t in tokens if t.get("patch") is not None]
    rows = (grid[0] if grid else max((t["patch"][0] for t in patches), default=-1) + 1) if patches else 0
    cols = (grid[1] if grid else max((t["patch"][1] for t in patches), default=-1) + 1) if patches else 0
    for t in patches:
        r, c = t["patch"]
        pos[t["position"]] = (c * CELL, r * CELL)
    text = [t for t in tokens if t.get("patch") is None and t["position"] != target]
    if not patches:
        text = text + [t for t in tokens if t["position"] == target]
    per_row = 16
    step = 80.0
    top = rows * CELL + (90.0 if patches else 0.0)
    for i, t in enumerate(text):
        r, c = divmod(i, per_row)
        pos[t["position"]] = (c * step, top + r * 140.0)
    if patches:
        width = max(cols * CELL, min(len(text), per_row) * step)
        pos[target] = (width + 160.0, rows * CELL / 2.0)
    elif target not in pos:
        pos[target] = (len(text) * step, top)
    return pos


def graph_elements(pag: Any, tokens: Sequence[Mapping[str, Any]], target: int, depth: Mapping[int, int],
                   roles: Mapping[int, str] | None = None, grid: tuple[int, int] | None = None) -> dict[str, list]:
    """Cytoscape ``{"nodes": [...], "edges": [...]}`` of a PAG with preset positions (see the module docstring)."""
    roles = dict(roles or {})
    info = {int(t["position"]): t for t in tokens}
    present = [info[n] for n in pag.nodes if n in info]
    pos = _positions(present, target, grid)
    nodes = []
    for n in sorted(pag.nodes, key=lambda n: (str(type(n)), n)):
        t = info.get(n, {"kind": "special", "label": str(n), "patch": None})
        x, y = pos.get(n, (0.0, -80.0))
        nodes.append({"data": {"id": str(n), "position": n, "label": t["label"], "kind": t["kind"],
                               "patch": t.get("patch"), "depth": depth.get(n), "role": roles.get(n, ""),
                               "target": n == target},
                      "position": {"x": x, "y": y}})
    edges = []
    for e in pag.edges():
        focus = target in (e.u, e.v) or e.u in roles or e.v in roles
        (xu, yu), (xv, yv) = pos.get(e.u, (0.0, 0.0)), pos.get(e.v, (0.0, 0.0))
        # edges along a row of text are arcs above it (otherwise they would lie on top of each other)
        arc = -min(0.3 * abs(xv - xu), 220.0) * (1 if xv >= xu else -1) if abs(yu - yv) < 1 and \
            info.get(e.u, {}).get("patch") is None else 0.0
        edges.append({"data": {"id": f"{e.u}-{e.v}", "source": str(e.u), "target": str(e.v),
                               "marks": [_MARK_CHAR[e.at_u], _MARK_CHAR[e.at_v]], "symbol": e.symbol,
                               "focus": bool(focus), "arc": round(arc, 1)}})
    return {"nodes": nodes, "edges": edges}


def patch_maps(explanation: Any, baselines: Mapping[str, Mapping[int, float]] | None = None) -> dict[str, dict]:
    """Heatmaps over the image patches: ``{name: {"label", "values": {position: value}}}``."""
    patches = [t.position for t in explanation.tokens if t.kind == "image_patch"]
    maps: dict[str, dict] = {}
    mean = mean_attention(explanation)
    if mean is not None:
        maps["attention"] = {"label": f"raw attention of position {explanation.attention_row} (head mean)",
                             "values": {p: float(mean[p]) for p in patches if p < len(mean)}}
        for head, row in sorted(explanation.attention.items()):
            values = np.asarray(row, dtype=np.float64)
            maps[f"attention:{head}"] = {"label": f"raw attention, head {head}",
                                         "values": {p: float(values[p]) for p in patches if p < len(values)}}
    for name, scores in (baselines or {}).items():
        maps[name] = {"label": f"{name} (baseline)", "values": {int(p): float(v) for p, v in scores.items()
                                                                if int(p) in set(patches)}}
    for head in explanation.heads:
        maps[f"distance:{head.head}"] = {"label": f"PDS distance from the target, head {head.head}",
                                         "values": {p: float(head.pds_depth[p]) for p in patches
                                                    if p in head.pds_depth}, "reverse": True}
    return maps


def explanation_payload(explanation: Any, image_uri: str | None = None,
                        baselines: Mapping[str, Mapping[int, float]] | None = None,
                        layers: Sequence[int] = ()) -> dict[str, Any]:
    """The page's JSON for one explanation (see the module docstring)."""
    e = explanation
    groups = set_views(e)
    roles: dict[int, str] = {}
    for view in reversed(groups.all):
        for p in view.positions:
            roles[p] = view.role
    if groups.explaining is not None:
        for p in groups.explaining.positions:
            roles[p] = "explaining"
    tokens = [{"position": t.position, "kind": t.kind, "text": t.text, "label": token_label(t.text, t.patch),
               "patch": None if t.patch is None else list(t.patch), "box": None if t.box is None else list(t.box)}
              for t in e.tokens]
    root = e.target_node if e.target_node is not None else e.target.position
    best = e.best_head
    if root != e.target.position:  # the predicting position stands for the target in the graphs
        tokens = [dict(t, label=f"{t['label']} ⇒ {token_label(e.target.text)}") if t["position"] == root else t
                  for t in tokens]
    graphs = {}
    for head in e.heads:
        graphs[str(head.head)] = graph_elements(head.pag, tokens, root, dict(head.pds_depth), roles, e.patch_grid)
    answer = groups.explaining
    s = e.search
    return {
        "status": e.status,
        "message": e.message,
        "target": {"position": e.target.position, "text": e.target.text, "label": token_label(e.target.text),
                   "prob": e.target.prob, "prob_text": format_prob(e.target.prob), "node": root},
        "target_reason": getattr(e, "target_reason", None),
        "hints": [{"parameter": getattr(h, "parameter", ""), "value": getattr(h, "value", None),
                   "reason": getattr(h, "reason", "")} for h in (getattr(e, "hints", None) or ())],
        "answer": None if answer is None else {**answer.to_json(), "effect_text": format_effect(answer.effect),
                                               "after_text": format_prob(answer.target_prob_after),
                                               "new_prob_text": format_prob(answer.new_prob)},
        "sets": [{**v.to_json(), "effect_text": format_effect(v.effect),
                  "after_text": format_prob(v.target_prob_after)} for v in groups.all[:60]],
        "n_candidates": len(groups.candidates),
        "tokens": tokens,
        "generated_text": e.generated_text,
        "prompt": e.prompt,
        "image": image_uri,
        "image_size": None if e.image_size is None else list(e.image_size),
        "patch_grid": None if e.patch_grid is None else list(e.patch_grid),
        "maps": patch_maps(e, baselines),
        "heads": [{"head": h.head, "nodes": h.n_nodes, "edges": h.n_edges, "tests": h.n_ci_tests,
                   "seconds": round(h.learn_seconds, 3), "in_range": max(len(h.pds_depth) - 1, 0),
                   "answer_in_tree": (None if e.explaining_set is None else
                                      sum(1 for p in e.explaining_set.positions if h.pds_depth.get(p, 0) > 0)),
                   "method": h.method} for h in e.heads],
        "best_head": None if best is None else best.head,
        "graphs": graphs,
        "layer": e.provenance.get("layer"),
        "layers": list(layers),
        "search": {"passes": s.n_interventions, "exhaustive": s.exhaustive_interventions,
                   "calls": s.n_model_calls, "max_passes": getattr(s, "max_passes", None),
                   "passes_by_stage": dict(getattr(s, "passes_by_stage", None) or {})},
        "seconds": round(float(e.timings.get("total", 0.0)), 2),
        "p_meaning": P_VALUE_MEANING,
        "provenance": {k: v for k, v in dict(e.provenance).items()
                       if isinstance(v, (str, int, float, bool, type(None)))},
    }
