"""Bar charts for the report: attention over text tokens, and p-values on a log scale.

Both are horizontal bar charts (one row per token, the label on the left), so
labels never overlap however many tokens there are, and the value axis gets
round ticks from :func:`~whytoken.report.labels.nice_ticks` whose labels keep
enough digits to differ ("0.002", not "0.00").

Examples
--------
>>> svg = hbar_svg(["the", "cat"], [0.0012, 0.0041], axis_label="attention weight")
>>> svg.count("<rect") >= 2 and "0.004" in svg and "attention weight" in svg
True
>>> svg = log_p_svg(["France"], [-6.2], alpha=0.01)
>>> "−log10 p" in svg and "α = 0.01" in svg and "stroke-dasharray" in svg
True
"""

from __future__ import annotations

import math
from typing import Sequence

from whytoken.report.labels import format_log10_p, format_tick, nice_ticks
from whytoken.report.svg import FONT, HIGHLIGHT, KIND_COLORS, esc

__all__ = ["hbar_svg", "log_p_svg"]

_ROW = 18.0
_LABEL_CHAR = 6.6


def _axis(x0: float, x1: float, y: float, high: float, axis_label: str) -> list[str]:
    ticks = nice_ticks(0.0, high, target=5)
    step = ticks[1] - ticks[0] if len(ticks) > 1 else high or 1.0
    top = max(ticks[-1], high) or 1.0
    parts = [f'<line x1="{x0}" y1="{y}" x2="{x1}" y2="{y}" stroke="#9ca3af"/>']
    for t in ticks:
        x = x0 + (x1 - x0) * t / top
        parts.append(f'<line x1="{x:.1f}" y1="{y}" x2="{x:.1f}" y2="{y + 4}" stroke="#9ca3af"/>'
                     f'<text x="{x:.1f}" y="{y + 15}" text-anchor="middle" font-size="10" fill="#4b5563">'
                     f'{format_tick(t, step)}</text>')
    parts.append(f'<text x="{(x0 + x1) / 2:.0f}" y="{y + 30}" text-anchor="middle" font-size="10.5" '
                 f'fill="#6b7280">{esc(axis_label)}</text>')
    return parts


def _scale_top(values: Sequence[float]) -> float:
    high = max([v for v in values if math.isfinite(v)] + [0.0])
    if high <= 0:
        return 1.0
    ticks = nice_ticks(0.0, high, target=5)
    return max(ticks[-1], high)


def hbar_svg(labels: Sequence[str], values: Sequence[float], kinds: Sequence[str] | None = None,
             highlight: Sequence[bool] | None = None, axis_label: str = "", width: int = 440,
             tooltips: Sequence[str] | None = None, top: float | None = None) -> str:
    """Horizontal bars, one row per label; highlighted rows get a red outline and bold label.

    ``top`` fixes the end of the value axis (default: a round value above the largest bar).
    """
    n = len(values)
    label_w = min(160.0, max([_LABEL_CHAR * len(s) for s in labels] + [30.0]) + 10)
    x0, x1 = label_w, width - 24.0
    top = _scale_top(values) if top is None else top
    height = n * _ROW + 44
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height:.0f}" '
             f'width="{width}" height="{height:.0f}" role="img" aria-label="{esc(axis_label)}" {FONT}>']
    for i, (label, v) in enumerate(zip(labels, values)):
        y = 4 + i * _ROW
        is_hi = bool(highlight[i]) if highlight is not None else False
        color = KIND_COLORS.get(kinds[i], "#6b7280") if kinds is not None else "#4338ca"
        bw = (x1 - x0) * max(float(v), 0.0) / top if math.isfinite(v) else 0.0
        stroke = f' stroke="{HIGHLIGHT}" stroke-width="2"' if is_hi else ""
        tip = tooltips[i] if tooltips is not None else f"{label}: {v:.4g}"
        weight = ' font-weight="700"' if is_hi else ""
        parts.append(f'<text x="{x0 - 6:.0f}" y="{y + 12:.1f}" text-anchor="end" font-size="11" '
                     f'fill="{HIGHLIGHT if is_hi else "#374151"}"{weight}>'
                     f'{esc(label)}</text>'
                     f'<rect x="{x0}" y="{y + 2:.1f}" width="{max(bw, 0.8):.1f}" height="{_ROW - 5:.0f}" rx="2" '
                     f'fill="{color}" fill-opacity="0.8"{stroke}><title>{esc(tip)}</title></rect>')
    parts.extend(_axis(x0, x1, 6 + n * _ROW, top, axis_label))
    parts.append("</svg>")
    return "".join(parts)


def log_p_svg(labels: Sequence[str], log10_p: Sequence[float | None], alpha: float | None = None,
              highlight: Sequence[bool] | None = None, width: int = 440,
              axis_label: str = "−log10 p (longer = stronger dependence on the target)") -> str:
    """−log10 p per token as horizontal bars, with the significance level α as a dashed line."""
    strengths = [(-v if v is not None and math.isfinite(v) else 0.0) for v in log10_p]
    reference = -math.log10(alpha) if alpha else None
    top = _scale_top(strengths + ([reference] if reference else []))
    tips = [f"{label}: p = {format_log10_p(v)}" for label, v in zip(labels, log10_p)]
    svg = hbar_svg(labels, strengths, ["prompt_text"] * len(labels), highlight, axis_label, width, tips, top=top)
    if reference is None:
        return svg
    label_w = min(160.0, max([_LABEL_CHAR * len(s) for s in labels] + [30.0]) + 10)
    x = label_w + (width - 24.0 - label_w) * reference / top
    bottom = 6 + len(labels) * _ROW
    line = (f'<line x1="{x:.1f}" y1="2" x2="{x:.1f}" y2="{bottom:.0f}" stroke="#059669" stroke-dasharray="4 3">'
            f'<title>significance level α = {alpha:g}</title></line>')
    return svg.replace("</svg>", line + "</svg>")
