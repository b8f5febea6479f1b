"""Hand-written SVG figures for the HTML report: the PAG around the target, image overlays, attention bars.

Everything here returns an SVG string that the report inlines, so the page
needs no network and no plotting library at render time. Colours follow
:data:`KIND_COLORS` (one per token kind) and :data:`HIGHLIGHT` (members of
the explaining set).

PAG drawing
-----------
:func:`pag_svg` draws the neighbourhood of the target within a PDS-tree
depth as layers: the target on the right, the tokens at PDS distance 1 in the
column to its left, distance 2 further left, and so on; within a column tokens
are placed near the tokens they connect to. Edge marks are drawn as in the
literature: an arrowhead for ``>``, a small open circle for ``o`` and a
plain line end for a tail.

Examples
--------
>>> from whytoken.graphs import PAG, Mark, node_sort_key
>>> g = PAG(); g.add_edge(3, 10, Mark.CIRCLE, Mark.ARROW)
>>> svg = pag_svg(g, target=10, depth={10: 0, 3: 1}, labels={3: "France", 10: "Paris"},
...               kinds={3: "prompt_text", 10: "generated"}, highlight={3})
>>> svg.startswith("<svg") and "France" in svg and "<polygon" in svg and "<circle" in svg
True
"""

from __future__ import annotations

import base64
import html
import io
import math
from typing import Any, Collection, Hashable, Mapping, Sequence

import numpy as np

from whytoken.graphs import PAG, Mark, node_sort_key

__all__ = [
    "KIND_COLORS",
    "HIGHLIGHT",
    "ALTERNATIVE",
    "png_data_uri",
    "pag_svg",
    "image_overlay_svg",
    "attention_bars_svg",
    "heat_color",
]

#: Fill colour per token kind.
KIND_COLORS = {
    "image_patch": "#0e7490",
    "prompt_text": "#4338ca",
    "generated": "#b45309",
    "special": "#6b7280",
}
#: Colour of the explaining set.
HIGHLIGHT = "#e11d48"
#: Colour of the other minimal sets.
ALTERNATIVE = "#f59e0b"

_FONT = "font-family=\"Inter, 'Segoe UI', Helvetica, Arial, sans-serif\""


def _esc(text: Any) -> str:
    return html.escape(str(text), quote=True)


def png_data_uri(image: Any, max_side: int | None = None) -> str:
    """A ``data:image/png;base64,...`` URI of a PIL image or a uint8 ``(H, W, 3)`` array.

    Examples
    --------
    >>> import numpy as np
    >>> png_data_uri(np.zeros((2, 2, 3), dtype=np.uint8)).startswith("data:image/png;base64,")
    True
    """
    from PIL import Image

    if not isinstance(image, Image.Image):
        image = Image.fromarray(np.asarray(image, dtype=np.uint8))
    image = image.convert("RGB")
    if max_side is not None and max(image.size) > max_side:
        scale = max_side / max(image.size)
        image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def heat_color(value: float) -> str:
    """A colour for ``value`` in [0, 1] on a white -> amber -> deep red ramp.

    Examples
    --------
    >>> heat_color(0.0), heat_color(1.0)
    ('#fff7ed', '#7f1d1d')
    """
    stops = [(0.0, (0xFF, 0xF7, 0xED)), (0.35, (0xFD, 0xBA, 0x74)), (0.7, (0xEA, 0x58, 0x0C)),
             (1.0, (0x7F, 0x1D, 0x1D))]
    v = min(max(float(value), 0.0), 1.0)
    for (a, ca), (b, cb) in zip(stops, stops[1:]):
        if v <= b:
            t = (v - a) / (b - a)
            rgb = [round(x + (y - x) * t) for x, y in zip(ca, cb)]
            return "#" + "".join(f"{c:02x}" for c in rgb)
    return "#7f1d1d"


# ---------------------------------------------------------------------- PAG
def _label_width(text: str) -> float:
    return max(30.0, 7.2 * len(text) + 16.0)


def _layout(nodes: Sequence[Hashable], target: Hashable, depth: Mapping[Hashable, int], pag: PAG,
            column: float, row: float, per_column: int) -> tuple[dict[Hashable, tuple[float, float]], list[tuple[int, float]]]:
    """Layered layout: the target on the right, one column (or several) per PDS distance to its left.

    Within a column, nodes are ordered by the mean height of their neighbours in the
    columns already placed (barycentre heuristic), so edges cross little. Columns with
    more than ``per_column`` nodes wrap into several sub-columns. Returns the positions
    and ``(distance, x)`` of each column header.
    """
    pos: dict[Hashable, tuple[float, float]] = {target: (0.0, 0.0)}
    headers: list[tuple[int, float]] = [(0, 0.0)]
    x = 0.0
    for level in sorted({depth[n] for n in nodes if n != target}):
        members = [n for n in nodes if n != target and depth[n] == level]

        def barycentre(n: Hashable) -> float:
            ys = [pos[m][1] for m in pos if pag.has_edge(n, m)]
            return sum(ys) / len(ys) if ys else 0.0

        members.sort(key=lambda n: (barycentre(n), str(n)))
        chunks = [members[i:i + per_column] for i in range(0, len(members), per_column)]
        for c, chunk in enumerate(chunks):
            x -= column if c == 0 else column * 0.72
            if c == 0:
                headers.append((level, x))
            top = -(len(chunk) - 1) * row / 2
            for i, n in enumerate(chunk):
                pos[n] = (x, top + i * row)
    return pos, headers


def _tree_edges(edges: Sequence[Any], target: Hashable, depth: Mapping[Hashable, int],
                keep: Collection[Hashable]) -> list[Any]:
    """A readable subset of ``edges``: every edge touching the target or ``keep``, plus for every other
    token one edge to a neighbour one PDS level closer (the one with the smallest node id)."""
    chosen = [e for e in edges if target in e.nodes or e.u in keep or e.v in keep]
    covered = {n for e in chosen for n in e.nodes}
    for node in sorted(depth, key=lambda n: (depth[n], node_sort_key(n))):
        if node == target or node in keep:
            continue
        closer = [e for e in edges if node in e.nodes and depth.get(e.other(node), -9) == depth[node] - 1]
        if closer and not any(node in e.nodes and depth.get(e.other(node), -9) == depth[node] - 1 for e in chosen):
            chosen.append(min(closer, key=lambda e: node_sort_key(e.other(node))))
        covered.add(node)
    seen: set = set()
    out = []
    for e in chosen:
        if e not in seen:
            seen.add(e)
            out.append(e)
    return out


def _box_exit(cx: float, cy: float, dx: float, dy: float, half_w: float, half_h: float) -> tuple[float, float]:
    """Where the ray from a box centre in direction (dx, dy) leaves the box."""
    norm = math.hypot(dx, dy) or 1.0
    dx, dy = dx / norm, dy / norm
    tx = half_w / abs(dx) if dx else math.inf
    ty = half_h / abs(dy) if dy else math.inf
    t = min(tx, ty)
    return cx + dx * t, cy + dy * t


def _mark_svg(mark: Mark, x: float, y: float, ux: float, uy: float, color: str) -> str:
    """The endpoint decoration at (x, y); (ux, uy) is the unit direction pointing *into* the node."""
    if mark is Mark.ARROW:
        size, half = 10.0, 4.8
        bx, by = x - ux * size, y - uy * size
        px, py = -uy, ux
        pts = f"{x:.1f},{y:.1f} {bx + px * half:.1f},{by + py * half:.1f} {bx - px * half:.1f},{by - py * half:.1f}"
        return f'<polygon points="{pts}" fill="{color}"/>'
    if mark is Mark.CIRCLE:
        r = 4.2
        return (f'<circle cx="{x - ux * r:.1f}" cy="{y - uy * r:.1f}" r="{r}" fill="#ffffff" '
                f'stroke="{color}" stroke-width="1.6"/>')
    return ""


def pag_svg(
    pag: PAG,
    target: Hashable,
    depth: Mapping[Hashable, int],
    labels: Mapping[Hashable, str],
    kinds: Mapping[Hashable, str],
    highlight: Collection[Hashable] = (),
    alternatives: Collection[Hashable] = (),
    max_nodes: int = 48,
    per_column: int = 12,
    row: float = 40.0,
    max_edges: int = 40,
) -> str:
    """The PAG around ``target`` as an SVG string.

    Parameters
    ----------
    pag : PAG
        The learned graph.
    target : hashable
        The explained node (drawn in the centre).
    depth : mapping
        Node -> PDS-tree distance from the target; only these nodes are drawn.
    labels, kinds : mapping
        Display text and token kind per node.
    highlight : collection
        Members of the explaining set (red outline).
    alternatives : collection
        Members of other minimal sets (amber outline).
    max_nodes : int
        Most nodes drawn; the nearest are kept (highlighted ones always).
    per_column : int
        Nodes per column before a distance wraps into another column.
    row : float
        Vertical spacing of nodes, in pixels.
    max_edges : int
        Above this many edges, draw only a spanning tree along the PDS distances
        (each token's edge to one neighbour a level closer) plus every edge of
        the target and of the highlighted tokens.
    """
    chosen = [target] + sorted((n for n in depth if n != target and n in pag),
                               key=lambda n: (n not in highlight, n not in alternatives, depth[n], str(n)))
    nodes = chosen[:max_nodes]
    hidden = len(chosen) - len(nodes)
    sizes = {n: (_label_width(labels.get(n, str(n))), 26.0) for n in nodes}
    widest = max(w for w, _ in sizes.values())
    pos, headers = _layout(nodes, target, depth, pag, column=max(widest + 70.0, 150.0), row=row,
                           per_column=per_column)
    xs = [pos[n][0] - sizes[n][0] / 2 for n in nodes] + [pos[n][0] + sizes[n][0] / 2 for n in nodes]
    ys = [pos[n][1] - 13 for n in nodes] + [pos[n][1] + 13 for n in nodes]
    pad = 22.0
    min_x, max_x = min(xs) - pad, max(xs) + pad
    min_y, max_y = min(ys) - pad - 22, max(ys) + pad + 18
    width, height = max_x - min_x, max_y - min_y
    node_set = set(nodes)
    zoom = min(1.5, 760.0 / width) if width < 500 else 1.0  # small graphs are drawn larger
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="{min_x:.0f} {min_y:.0f} {width:.0f} {height:.0f}" '
             f'width="{width * zoom:.0f}" height="{height * zoom:.0f}" role="img" aria-label="PAG around the target" '
             f'{_FONT}>']
    for level, x in headers:
        text = "target" if level == 0 else f"distance {level}"
        parts.append(f'<text x="{x:.1f}" y="{min_y + 16:.1f}" text-anchor="middle" font-size="11" '
                     f'fill="#9ca3af" letter-spacing="0.06em">{text.upper()}</text>')
    edge_color = "#475569"
    edges = [e for e in pag.edges() if e.u in node_set and e.v in node_set]
    n_all = len(edges)
    if n_all > max_edges:
        edges = _tree_edges(edges, target, depth, set(highlight) | set(alternatives))
    if len(edges) < n_all:
        parts.append(f'<text x="{max_x - 6:.0f}" y="{max_y - 6:.0f}" text-anchor="end" font-size="11" fill="#6b7280">'
                     f'{len(edges)} of {n_all} edges drawn: one tree edge per token, and every edge of the target '
                     'and of the minimal sets</text>')
    for e in edges:
        (x1, y1), (x2, y2) = pos[e.u], pos[e.v]
        if abs(x1 - x2) < 1.0:  # same column: bow the edge out to the left so it clears the nodes between
            cx, cy = x1 - max(sizes[e.u][0], sizes[e.v][0]) / 2 - 18 - 0.18 * abs(y2 - y1), (y1 + y2) / 2
        else:
            cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        sx, sy = _box_exit(x1, y1, cx - x1, cy - y1, sizes[e.u][0] / 2 + 2, sizes[e.u][1] / 2 + 2)
        ex, ey = _box_exit(x2, y2, cx - x2, cy - y2, sizes[e.v][0] / 2 + 2, sizes[e.v][1] / 2 + 2)
        us = (sx - cx, sy - cy)  # direction into u at its end
        ue = (ex - cx, ey - cy)  # direction into v at its end
        ns, ne = math.hypot(*us) or 1.0, math.hypot(*ue) or 1.0
        us, ue = (us[0] / ns, us[1] / ns), (ue[0] / ne, ue[1] / ne)
        on_path = (e.u in highlight or e.u == target) and (e.v in highlight or e.v == target)
        color = HIGHLIGHT if on_path else edge_color
        width_px = 2.2 if on_path else 1.3
        # shorten the line under arrowheads so the tip stays sharp
        lx1, ly1 = (sx - us[0] * 6, sy - us[1] * 6) if e.at_u is Mark.ARROW else (sx, sy)
        lx2, ly2 = (ex - ue[0] * 6, ey - ue[1] * 6) if e.at_v is Mark.ARROW else (ex, ey)
        parts.append(f'<g><title>{_esc(labels.get(e.u, e.u))} {_esc(e.symbol)} {_esc(labels.get(e.v, e.v))}</title>'
                     f'<path d="M{lx1:.1f},{ly1:.1f} Q{cx:.1f},{cy:.1f} {lx2:.1f},{ly2:.1f}" fill="none" '
                     f'stroke="{color}" stroke-width="{width_px}"/>'
                     f'{_mark_svg(e.at_u, sx, sy, us[0], us[1], color)}'
                     f'{_mark_svg(e.at_v, ex, ey, ue[0], ue[1], color)}</g>')
    for n in nodes:
        x, y = pos[n]
        w, h = sizes[n]
        kind = kinds.get(n, "special")
        fill = KIND_COLORS.get(kind, "#6b7280")
        stroke, stroke_w = "#ffffff", 1.5
        if n == target:
            fill, stroke, stroke_w = "#111827", "#111827", 1.5
        elif n in highlight:
            stroke, stroke_w = HIGHLIGHT, 3.5
        elif n in alternatives:
            stroke, stroke_w = ALTERNATIVE, 3.0
        label = labels.get(n, str(n))
        tip = f"position {n} ({kind}), PDS distance {depth.get(n, 0)}"
        parts.append(
            f'<g><title>{_esc(label)} - {_esc(tip)}</title>'
            f'<rect x="{x - w / 2:.1f}" y="{y - h / 2:.1f}" width="{w:.1f}" height="{h:.1f}" rx="13" '
            f'fill="{fill}" stroke="{stroke}" stroke-width="{stroke_w}"/>'
            f'<text x="{x:.1f}" y="{y + 4.5:.1f}" text-anchor="middle" font-size="12.5" fill="#ffffff" '
            f'font-weight="600">{_esc(label)}</text></g>')
    if hidden:
        parts.append(f'<text x="{min_x + 6:.0f}" y="{max_y - 6:.0f}" font-size="11" fill="#6b7280">'
                     f'{hidden} more node(s) within range not drawn</text>')
    parts.append("</svg>")
    return "".join(parts)


# ---------------------------------------------------------------------- image overlays
def image_overlay_svg(
    image_uri: str | None,
    image_size: tuple[int, int],
    boxes: Mapping[Hashable, tuple[float, float, float, float]],
    highlight: Collection[Hashable] = (),
    alternatives: Collection[Hashable] = (),
    heat: Mapping[Hashable, float] | None = None,
    labels: Mapping[Hashable, str] | None = None,
    display: int = 320,
    title: str = "",
) -> str:
    """The image (if any) with patch boxes: outlines for the explaining set, or a heatmap.

    Parameters
    ----------
    image_uri : str or None
        A data URI of the input image; None draws a neutral background.
    image_size : (width, height)
        Pixel size of the original image (the boxes' coordinate system).
    boxes : mapping
        Position -> ``(x0, y0, x1, y1)`` of each image patch.
    highlight, alternatives : collection
        Patches outlined in red (the explaining set) and amber (other minimal sets).
    heat : mapping, optional
        Position -> value in [0, 1]; patches are tinted by :func:`heat_color`.
    labels : mapping, optional
        Tooltip text per patch.
    display : int
        Rendered width in pixels.
    """
    w, h = image_size
    scale_h = display * h / max(w, 1)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
             f'viewBox="0 0 {w} {h}" width="{display}" height="{scale_h:.0f}" role="img" '
             f'aria-label="{_esc(title)}" {_FONT}>']
    if image_uri:
        parts.append(f'<image href="{image_uri}" x="0" y="0" width="{w}" height="{h}" '
                     f'preserveAspectRatio="none" style="image-rendering:pixelated"/>')
    else:
        parts.append(f'<rect width="{w}" height="{h}" fill="#f3f4f6"/>')
    line = max(w, h) / 160.0
    for n, (x0, y0, x1, y1) in boxes.items():
        tip = _esc(labels.get(n, str(n))) if labels else _esc(n)
        if heat is not None:
            v = float(heat.get(n, 0.0))
            parts.append(f'<rect x="{x0}" y="{y0}" width="{x1 - x0}" height="{y1 - y0}" fill="{heat_color(v)}" '
                         f'fill-opacity="{0.15 + 0.7 * v:.2f}" stroke="#ffffff" stroke-opacity="0.35" '
                         f'stroke-width="{line * 0.5:.2f}"><title>{tip}: {v:.3f}</title></rect>')
        else:
            parts.append(f'<rect x="{x0}" y="{y0}" width="{x1 - x0}" height="{y1 - y0}" fill="none" '
                         f'stroke="#ffffff" stroke-opacity="0.28" stroke-width="{line * 0.5:.2f}">'
                         f'<title>{tip}</title></rect>')
    for group, color, dash in ((alternatives, ALTERNATIVE, f' stroke-dasharray="{line * 3:.1f} {line * 2:.1f}"'),
                               (highlight, HIGHLIGHT, "")):
        for n in group:
            if n not in boxes:
                continue
            x0, y0, x1, y1 = boxes[n]
            inset = line * 1.2
            parts.append(f'<rect x="{x0 + inset:.2f}" y="{y0 + inset:.2f}" width="{x1 - x0 - 2 * inset:.2f}" '
                         f'height="{y1 - y0 - 2 * inset:.2f}" fill="{color}" fill-opacity="0.18" stroke="{color}" '
                         f'stroke-width="{line * 2.2:.2f}"{dash}/>')
    parts.append("</svg>")
    return "".join(parts)


def attention_bars_svg(
    labels: Sequence[str],
    values: Sequence[float],
    kinds: Sequence[str],
    highlight: Sequence[bool] | None = None,
    height: int = 160,
    bar: int | None = None,
) -> str:
    """A column chart of attention over text tokens (one bar per token, label underneath).

    Examples
    --------
    >>> attention_bars_svg(["the", "cat"], [0.2, 0.7], ["prompt_text", "prompt_text"]).count("<rect")
    2
    """
    n = len(values)
    if bar is None:  # fill about 520 px, within 10-44 px per bar
        bar = int(min(44, max(10, 520 / max(n, 1) - 6)))
    top = max([float(v) for v in values] + [1e-9])
    label_h = 64
    gap = 6
    width = n * (bar + gap) + gap + 34
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height + label_h}" width="{width}" '
             f'height="{height + label_h}" role="img" aria-label="attention over text tokens" {_FONT}>']
    parts.append(f'<line x1="30" y1="{height}" x2="{width}" y2="{height}" stroke="#9ca3af"/>')
    parts.append(f'<text x="26" y="14" text-anchor="end" font-size="10" fill="#6b7280">{top:.2f}</text>')
    parts.append(f'<text x="26" y="{height}" text-anchor="end" font-size="10" fill="#6b7280">0</text>')
    for i, (label, v, kind) in enumerate(zip(labels, values, kinds)):
        x = 34 + gap + i * (bar + gap)
        bh = (height - 8) * float(v) / top
        color = KIND_COLORS.get(kind, "#6b7280")
        is_hi = bool(highlight[i]) if highlight is not None else False
        stroke = f' stroke="{HIGHLIGHT}" stroke-width="2.5"' if is_hi else ""
        parts.append(f'<rect x="{x}" y="{height - bh:.1f}" width="{bar}" height="{max(bh, 0.5):.1f}" rx="2" '
                     f'fill="{color}" fill-opacity="0.85"{stroke}><title>{_esc(label)}: {float(v):.4f}</title></rect>')
        weight = ' font-weight="700"' if is_hi else ""
        fill = HIGHLIGHT if is_hi else "#374151"
        parts.append(f'<text transform="translate({x + bar / 2 + 4},{height + 8}) rotate(55)" font-size="11.5" '
                     f'fill="{fill}"{weight}>{_esc(label)}</text>')
    parts.append("</svg>")
    return "".join(parts)
