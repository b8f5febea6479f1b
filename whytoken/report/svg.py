"""SVG building blocks shared by the report's figures: colours, colour ramps, escaping, edge marks, images.

The figures themselves live in :mod:`whytoken.report.overlay` (the image with
heatmaps and outlined sets), :mod:`whytoken.report.graph_svg` (the causal graph
around the target) and :mod:`whytoken.report.charts` (bar charts with axes).
Everything returns an SVG string that the report inlines, so the page needs no
network and no plotting library at render time.

Examples
--------
>>> heat_color(0.0), heat_color(1.0)
('#fff7ed', '#7f1d1d')
>>> colorbar_svg("attention", 0.0, 0.0043).count("<text") >= 3
True
"""

from __future__ import annotations

import base64
import html
import io
import math
from typing import Any

import numpy as np

from whytoken.graphs import Mark
from whytoken.report.labels import format_tick, nice_ticks

__all__ = [
    "KIND_COLORS",
    "HIGHLIGHT",
    "ALTERNATIVE",
    "CANDIDATE",
    "FONT",
    "esc",
    "png_data_uri",
    "heat_color",
    "distance_color",
    "colorbar_svg",
    "mark_svg",
    "box_exit",
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
#: Colour of the other verified sets.
ALTERNATIVE = "#f59e0b"
#: Colour of unverified candidates (never called minimal sets).
CANDIDATE = "#2563eb"

FONT = "font-family=\"Inter, 'Segoe UI', Helvetica, Arial, sans-serif\""

_HEAT_STOPS = [(0.0, (0xFF, 0xF7, 0xED)), (0.35, (0xFD, 0xBA, 0x74)), (0.7, (0xEA, 0x58, 0x0C)),
               (1.0, (0x7F, 0x1D, 0x1D))]
_DISTANCE_COLORS = ("#111827", "#1d4ed8", "#60a5fa", "#bfdbfe", "#e0f2fe")


def esc(text: Any) -> str:
    """HTML/SVG-escape ``text`` (quotes included)."""
    return html.escape(str(text), quote=True)


def png_data_uri(image: Any, max_side: int | None = None) -> str:
    """A ``data:image/png;base64,...`` URI of a PIL image or a uint8 ``(H, W, 3)`` array.

    Examples
    --------
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
    """A colour for ``value`` in [0, 1] on a white -> amber -> deep red ramp."""
    v = min(max(float(value), 0.0), 1.0) if math.isfinite(value) else 0.0
    for (a, ca), (b, cb) in zip(_HEAT_STOPS, _HEAT_STOPS[1:]):
        if v <= b:
            t = (v - a) / (b - a)
            rgb = [round(x + (y - x) * t) for x, y in zip(ca, cb)]
            return "#" + "".join(f"{c:02x}" for c in rgb)
    return "#7f1d1d"


def distance_color(distance: int | None) -> str:
    """Colour of a PDS-tree distance (0 = target, darkest; None = out of range, palest)."""
    if distance is None:
        return _DISTANCE_COLORS[-1]
    return _DISTANCE_COLORS[min(int(distance), len(_DISTANCE_COLORS) - 2)]


def colorbar_svg(label: str, low: float, high: float, width: int = 300) -> str:
    """A horizontal colour bar for :func:`heat_color` from ``low`` to ``high``, with round ticks and a label."""
    ticks = [t for t in nice_ticks(low, high, target=4) if low - 1e-12 <= t <= high + 1e-12]
    step = ticks[1] - ticks[0] if len(ticks) > 1 else max(high - low, 1e-12)
    span = (high - low) or 1.0
    x0, x1 = 8.0, width - 8.0
    stops = "".join(f'<stop offset="{s:.2f}" stop-color="{heat_color(s)}"/>' for s in np.linspace(0, 1, 9))
    gid = f"wt-cbar-{abs(hash((label, low, high))) % 10 ** 8}"
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="colorbar" viewBox="0 0 {width} 46" width="{width}" '
             f'height="46" role="img" aria-label="colour scale: {esc(label)}" {FONT}>',
             f'<defs><linearGradient id="{gid}">{stops}</linearGradient></defs>',
             f'<rect x="{x0}" y="4" width="{x1 - x0}" height="10" fill="url(#{gid})" stroke="#d1d5db" '
             'stroke-width="0.5"/>']
    last_right = -1e9
    for t in ticks:
        x = x0 + (x1 - x0) * (t - low) / span
        text = format_tick(t, step)
        half = 3.2 * len(text)
        if x - half < last_right + 4:  # keep tick labels apart
            continue
        last_right = x + half
        parts.append(f'<line x1="{x:.1f}" y1="14" x2="{x:.1f}" y2="18" stroke="#6b7280"/>'
                     f'<text x="{x:.1f}" y="28" text-anchor="middle" font-size="10" fill="#4b5563">{text}</text>')
    parts.append(f'<text x="{width / 2:.0f}" y="42" text-anchor="middle" font-size="10" fill="#6b7280">'
                 f'{esc(label)}</text></svg>')
    return "".join(parts)


def box_exit(cx: float, cy: float, dx: float, dy: float, half_w: float, half_h: float) -> tuple[float, float]:
    """Where the ray from a box centre in direction (dx, dy) leaves the box."""
    norm = math.hypot(dx, dy) or 1.0
    dx, dy = dx / norm, dy / norm
    tx = half_w / abs(dx) if dx else math.inf
    ty = half_h / abs(dy) if dy else math.inf
    t = min(tx, ty)
    return cx + dx * t, cy + dy * t


def mark_svg(mark: Mark, x: float, y: float, ux: float, uy: float, color: str) -> str:
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
