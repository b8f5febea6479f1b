"""The input image with patch-level results: a heatmap, the explaining set outlined, other sets in a second style.

At 36 patches a box per patch reads well; at 576 (LLaVA-1.5) or 2,000 it
turns into a checkerboard. So a set is drawn as the *outline of the union* of
its patches (one contour, however many patches), the explaining set solid red,
other verified sets dashed amber; unverified candidates are never outlined
one by one: they become a faint blue tint counting how many candidates contain
each patch. A heatmap (attention, rollout, relevancy, PDS distance) tints each
patch; the image is embedded once per page and referenced by every panel.

Examples
--------
>>> cells = {p: PatchCell(p, (r, c), (c * 10, r * 10, c * 10 + 10, r * 10 + 10))
...          for p, (r, c) in enumerate((r, c) for r in range(3) for c in range(3))}
>>> outline_path([cells[0], cells[1]], cells.values()).count("M")   # one contour: 6 sides, as 6 segments
6
>>> svg = image_panel_svg(None, (30, 30), cells, outlines=[({0, 1}, "explaining")])
>>> svg.startswith("<svg") and "wt-outline-explaining" in svg
True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Collection, Iterable, Mapping, Sequence

from whytoken.report.svg import ALTERNATIVE, CANDIDATE, FONT, HIGHLIGHT, esc, heat_color

__all__ = ["PatchCell", "IMAGE_ID", "image_defs_svg", "outline_path", "image_panel_svg", "OUTLINE_STYLES"]

#: The element id of the embedded image (see :func:`image_defs_svg`).
IMAGE_ID = "wt-input-image"

#: Stroke style per role: colour, width in screen pixels, dash pattern in screen pixels.
OUTLINE_STYLES = {
    "explaining": (HIGHLIGHT, 3.0, None),
    "verified": (ALTERNATIVE, 2.4, (6.0, 3.5)),
    "candidate": (CANDIDATE, 1.6, (2.0, 3.0)),
}


@dataclass(frozen=True)
class PatchCell:
    """One image patch: its sequence position, grid cell and pixel box ``(x0, y0, x1, y1)``."""

    position: int
    patch: tuple[int, int]
    box: tuple[float, float, float, float]


def image_defs_svg(image_uri: str, image_size: tuple[int, int]) -> str:
    """A hidden SVG that holds the image once; panels draw it with ``<use href="#wt-input-image">``."""
    w, h = image_size
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="0" height="0" style="position:absolute" '
            f'aria-hidden="true"><defs><image id="{IMAGE_ID}" href="{image_uri}" x="0" y="0" width="{w}" '
            f'height="{h}" preserveAspectRatio="none"/></defs></svg>')


def outline_path(members: Iterable[PatchCell], cells: Iterable[PatchCell]) -> str:
    """SVG path data of the boundary of the union of ``members``' boxes (grid neighbours share sides)."""
    chosen = {c.patch for c in members}
    by_patch = {c.patch: c for c in cells}
    segments = []
    for (r, c) in sorted(chosen):
        cell = by_patch.get((r, c))
        if cell is None:
            continue
        x0, y0, x1, y1 = cell.box
        if (r - 1, c) not in chosen:
            segments.append(f"M{x0:.2f},{y0:.2f}H{x1:.2f}")
        if (r + 1, c) not in chosen:
            segments.append(f"M{x0:.2f},{y1:.2f}H{x1:.2f}")
        if (r, c - 1) not in chosen:
            segments.append(f"M{x0:.2f},{y0:.2f}V{y1:.2f}")
        if (r, c + 1) not in chosen:
            segments.append(f"M{x1:.2f},{y0:.2f}V{y1:.2f}")
    return "".join(segments)


def image_panel_svg(
    image_uri: str | None,
    image_size: tuple[int, int],
    cells: Mapping[int, PatchCell],
    heat: Mapping[int, float] | None = None,
    outlines: Sequence[tuple[Collection[int], str]] = (),
    candidate_counts: Mapping[int, int] | None = None,
    labels: Mapping[int, str] | None = None,
    values: Mapping[int, str] | None = None,
    display: int = 340,
    title: str = "",
    heat_opacity: float = 0.75,
) -> str:
    """One image panel.

    Parameters
    ----------
    image_uri : str or None
        ``"#wt-input-image"`` to reference an image embedded with :func:`image_defs_svg`, a data URI,
        or None for a neutral background.
    image_size : (width, height)
        Pixel size of the image (the boxes' coordinates).
    cells : mapping of position -> PatchCell
    heat : mapping of position -> value in [0, 1], optional
        Tint per patch on the :func:`~whytoken.report.svg.heat_color` ramp.
    outlines : sequence of (positions, role)
        Sets to outline, role one of :data:`OUTLINE_STYLES`; drawn in order (put the explaining set last).
    candidate_counts : mapping of position -> int, optional
        How many unverified candidates contain each patch (a blue tint, no outlines).
    labels, values : mapping, optional
        Hover text per patch (label and the heat value as text).
    display : int
        Rendered width in pixels.
    """
    w, h = image_size
    scale = w / max(display, 1)  # image units per screen pixel
    height = display * h / max(w, 1)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{display}" '
             f'height="{height:.0f}" role="img" aria-label="{esc(title)}" {FONT}>']
    if image_uri and image_uri.startswith("#"):
        parts.append(f'<use href="{image_uri}"/>')
    elif image_uri:
        parts.append(f'<image href="{image_uri}" x="0" y="0" width="{w}" height="{h}" preserveAspectRatio="none"/>')
    else:
        parts.append(f'<rect width="{w}" height="{h}" fill="#e5e7eb"/>')
    if heat is not None:
        parts.append('<g class="wt-heat">')
        for p, cell in cells.items():
            v = float(heat.get(p, 0.0))
            x0, y0, x1, y1 = cell.box
            tip = f"{labels.get(p, p) if labels else p}: {values.get(p, f'{v:.3f}') if values else f'{v:.3f}'}"
            parts.append(f'<rect x="{x0}" y="{y0}" width="{x1 - x0}" height="{y1 - y0}" fill="{heat_color(v)}" '
                         f'fill-opacity="{0.12 + heat_opacity * v:.2f}"><title>{esc(tip)}</title></rect>')
        parts.append("</g>")
    if candidate_counts:
        top = max(candidate_counts.values())
        parts.append('<g class="wt-candidates">')
        for p, n in candidate_counts.items():
            if p in cells and n > 0:
                x0, y0, x1, y1 = cells[p].box
                parts.append(f'<rect x="{x0}" y="{y0}" width="{x1 - x0}" height="{y1 - y0}" fill="{CANDIDATE}" '
                             f'fill-opacity="{0.10 + 0.45 * n / top:.2f}">'
                             f'<title>{esc(labels.get(p, p) if labels else p)}: '
                             f'in {n} unverified candidate set(s)</title></rect>')
        parts.append("</g>")
    elif heat is None and labels and len(cells) <= 600:  # hover targets naming each patch (the maps name them too)
        parts.append('<g class="wt-hover" fill="transparent">')
        for p, cell in cells.items():
            x0, y0, x1, y1 = cell.box
            parts.append(f'<rect x="{x0}" y="{y0}" width="{x1 - x0}" height="{y1 - y0}">'
                         f'<title>{esc(labels.get(p, p))}</title></rect>')
        parts.append("</g>")
    for members, role in outlines:
        chosen = [cells[p] for p in members if p in cells]
        if not chosen:
            continue
        color, width, dash = OUTLINE_STYLES[role]
        dash_attr = f' stroke-dasharray="{dash[0] * scale:.2f} {dash[1] * scale:.2f}"' if dash else ""
        path = outline_path(chosen, cells.values())
        # a white halo under the stroke keeps it visible on any picture
        parts.append(f'<path class="wt-outline-{role}" d="{path}" fill="none" stroke="#ffffff" '
                     f'stroke-opacity="0.9" stroke-width="{(width + 2.0) * scale:.2f}" stroke-linecap="square"/>'
                     f'<path d="{path}" fill="none" stroke="{color}" stroke-width="{width * scale:.2f}" '
                     f'stroke-linecap="square"{dash_attr}/>')
    parts.append("</svg>")
    return "".join(parts)
