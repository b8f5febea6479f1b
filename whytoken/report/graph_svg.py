"""The causal graph around the target, drawn so that it stays readable from 36 to 2,000 image tokens.

A head's PAG over ~600 tokens has thousands of edges; drawing every node
gives columns of pills and a fan of arrows. :func:`graph_figure` draws the
subgraph that matters and summarises the rest:

* **drawn one by one**: the target, the members of the explaining set and of
  the other verified sets, unverified candidates' members, then the target's
  nearest neighbours in the PDS-tree, up to ``max_nodes``;
* **summarised**: every other token within the PDS range is grouped, per PDS
  distance, into an image *region* (the patch grid cut into 3 x 3 blocks:
  "top-left", "centre", ...) or a text group ("prompt words", "generated");
  a summary node says how many tokens it holds, and one bundled line (its
  width grows with the count) stands for all edges between it and a drawn node.

Columns are PDS distances from the target (the target on the right). Edge
marks are drawn as in the literature: an arrowhead for ``>``, an open circle
for ``o``, a plain end for a tail. Captions and legends are HTML, written by
the template from :class:`GraphFigure`'s counts, so no text is drawn over
another.

Examples
--------
>>> from whytoken.graphs import PAG, Mark
>>> g = PAG(); g.add_edge(3, 10, Mark.CIRCLE, Mark.ARROW)
>>> fig = graph_figure(g, 10, {10: 0, 3: 1}, labels={3: "France", 10: "Paris"},
...                    kinds={3: "prompt_text", 10: "generated"}, roles={3: "explaining"})
>>> fig.svg.startswith("<svg") and "France" in fig.svg and "<polygon" in fig.svg, fig.n_drawn, fig.red_edges
(True, 2, 1)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Hashable, Mapping, Sequence

from whytoken.graphs import PAG, Mark, node_sort_key
from whytoken.report.svg import ALTERNATIVE, CANDIDATE, FONT, HIGHLIGHT, KIND_COLORS, box_exit, esc, mark_svg

__all__ = ["GraphFigure", "graph_figure", "region_name", "REGION_NAMES"]

#: Names of the 3 x 3 image regions, row by row.
REGION_NAMES = ("top-left", "top", "top-right", "left", "centre", "right", "bottom-left", "bottom", "bottom-right")
_TEXT_GROUPS = {"prompt_text": "prompt words", "generated": "generated tokens", "special": "special tokens"}
_ROLE_STROKE = {"explaining": (HIGHLIGHT, 3.5), "verified": (ALTERNATIVE, 3.0), "candidate": (CANDIDATE, 2.2)}


def region_name(patch: tuple[int, int], grid: tuple[int, int]) -> str:
    """The 3 x 3 region of a grid cell.

    Examples
    --------
    >>> region_name((0, 0), (24, 24)), region_name((12, 12), (24, 24)), region_name((23, 5), (24, 24))
    ('top-left', 'centre', 'bottom-left')
    """
    rows, cols = max(grid[0], 1), max(grid[1], 1)
    r = min(2, patch[0] * 3 // rows)
    c = min(2, patch[1] * 3 // cols)
    return REGION_NAMES[3 * r + c]


@dataclass(frozen=True)
class GraphFigure:
    """A drawn graph and the counts its caption states.

    Attributes
    ----------
    svg : str
    n_in_range : int
        Tokens within the PDS range (besides the target).
    n_drawn : int
        Nodes drawn one by one (the target included).
    n_grouped : int
        Tokens folded into summary nodes.
    n_groups : int
        Summary nodes.
    n_edges : int
        Edges of the graph among the target and the tokens in range.
    n_edges_drawn : int
        Edges drawn one by one.
    n_edges_bundled : int
        Edges drawn as bundles to summary nodes.
    red_edges : int
        Drawn edges between the explaining set and the target (the legend mentions red edges only if > 0).
    marks_tree : bool
        Whether only a spanning tree of the drawn nodes' edges was kept.
    """

    svg: str
    n_in_range: int
    n_drawn: int
    n_grouped: int
    n_groups: int
    n_edges: int
    n_edges_drawn: int
    n_edges_bundled: int
    red_edges: int
    marks_tree: bool


def _label_width(text: str) -> float:
    return max(30.0, 7.0 * len(text) + 18.0)


def _choose(in_range: Sequence[Hashable], pag: PAG, target: Hashable, depth: Mapping[Hashable, int],
            roles: Mapping[Hashable, str], max_nodes: int) -> list[Hashable]:
    if len(in_range) <= max_nodes:
        return list(in_range)
    order = {"explaining": 0, "verified": 1, "candidate": 2}
    marked = sorted((n for n in in_range if n in roles), key=lambda n: (order[roles[n]], depth[n], node_sort_key(n)))
    chosen = [n for n in marked if roles[n] == "explaining"]
    for n in marked:
        if n not in chosen and len(chosen) < max_nodes:
            chosen.append(n)
    rest = sorted((n for n in in_range if n not in chosen),
                  key=lambda n: (depth[n], not pag.has_edge(n, target), node_sort_key(n)))
    chosen.extend(rest[: max(0, max_nodes - len(chosen))])
    return chosen


def _tree_edges(edges: Sequence, target: Hashable, depth: Mapping[Hashable, int], keep: set) -> list:
    """Every edge touching the target or ``keep``, plus per other node one edge to a node a level closer."""
    chosen = [e for e in edges if target in e.nodes or e.u in keep or e.v in keep]
    have = {n for e in chosen for n in e.nodes}
    for node in sorted(depth, key=lambda n: (depth[n], node_sort_key(n))):
        if node == target or node in keep or node in have:
            continue
        closer = [e for e in edges if node in e.nodes and depth.get(e.other(node), -9) == depth[node] - 1]
        if closer:
            chosen.append(min(closer, key=lambda e: node_sort_key(e.other(node))))
            have.add(node)
    return list(dict.fromkeys(chosen))


def graph_figure(
    pag: PAG,
    target: Hashable,
    depth: Mapping[Hashable, int],
    labels: Mapping[Hashable, str],
    kinds: Mapping[Hashable, str],
    roles: Mapping[Hashable, str] | None = None,
    patches: Mapping[Hashable, tuple[int, int]] | None = None,
    grid: tuple[int, int] | None = None,
    max_nodes: int = 36,
    max_edges: int = 60,
    per_column: int = 14,
    row: float = 36.0,
    bands_per_group: int = 3,
) -> GraphFigure:
    """Draw the PAG around ``target`` (see the module docstring).

    Parameters
    ----------
    pag : PAG
    target : hashable
        The root of the PDS-tree (drawn on the right, dark).
    depth : mapping
        Node -> PDS-tree distance; only these nodes are drawn or summarised.
    labels, kinds : mapping
        Display text and token kind per node.
    roles : mapping, optional
        Node -> "explaining", "verified" or "candidate" (outline colours).
    patches, grid : optional
        Grid cell per image-patch node and the grid shape, for the regions.
    max_nodes : int
        Tokens drawn one by one (members of the explaining set always are).
    max_edges : int
        Above this many edges among the drawn nodes, keep a spanning tree along the
        PDS distances plus every edge of the target and of the marked sets.
    per_column, row : int, float
        Nodes per column before it wraps, and their vertical spacing in pixels.
    bands_per_group : int
        Bands drawn per summary node (to the target, and to the drawn nodes it has most edges with);
        the caption counts every bundled edge.
    """
    roles = dict(roles or {})
    patches = dict(patches or {})
    in_range = sorted((n for n in depth if n != target and n in pag), key=node_sort_key)
    individual = _choose(in_range, pag, target, depth, roles, max_nodes)
    ind_set = set(individual) | {target}
    group_of: dict[Hashable, tuple[int, str]] = {}
    for n in in_range:
        if n in ind_set:
            continue
        if n in patches and grid is not None:
            name = f"patches · {region_name(patches[n], grid)}"
        else:
            name = _TEXT_GROUPS.get(kinds.get(n, "special"), "other tokens")
        group_of[n] = (depth[n], name)
    groups: dict[tuple[int, str], list[Hashable]] = {}
    for n, key in group_of.items():
        groups.setdefault(key, []).append(n)
    for key in [k for k, members in groups.items() if len(members) == 1]:  # a group of one is just a node
        node = groups.pop(key)[0]
        del group_of[node]
        individual.append(node)
        ind_set.add(node)
    group_ids = {key: f"group:{key[0]}:{key[1]}" for key in groups}

    # -- which edges
    scope = ind_set | set(group_of)
    all_edges = [e for e in pag.edges() if e.u in scope and e.v in scope]
    direct = [e for e in all_edges if e.u in ind_set and e.v in ind_set]
    tree = len(direct) > max_edges
    if tree:  # keep the edges of the target and of the *checked* sets, and a tree towards the target
        checked = {n for n, r in roles.items() if r in ("explaining", "verified")} & ind_set
        direct = _tree_edges(direct, target, {n: depth.get(n, 0) for n in ind_set}, checked)
    bundles: dict[tuple[Hashable, str], int] = {}
    for e in all_edges:
        a_in, b_in = e.u in ind_set, e.v in ind_set
        if a_in != b_in:
            node, other = (e.u, e.v) if a_in else (e.v, e.u)
            key = (node, group_ids[group_of[other]])
            bundles[key] = bundles.get(key, 0) + 1
    n_bundled = sum(bundles.values())
    # each summary node keeps its bands to the target and to its `bands_per_group` most connected drawn nodes
    by_group: dict[str, list[tuple[Hashable, int]]] = {}
    for (node, gid), count in bundles.items():
        by_group.setdefault(gid, []).append((node, count))
    bundles = {}
    for gid, links in by_group.items():
        links.sort(key=lambda nc: (nc[0] != target, -nc[1], node_sort_key(nc[0])))
        for node, count in links[: bands_per_group + (links[0][0] == target)]:
            bundles[(node, gid)] = count

    # -- layout: columns by distance, drawn tokens first (barycentre order), then the summaries
    sizes: dict[Hashable, tuple[float, float]] = {n: (_label_width(labels.get(n, str(n))), 26.0) for n in ind_set}
    group_labels = {}
    for key, members in groups.items():
        text = f"{len(members)} {key[1]}" if not key[1].startswith("patches") else f"{len(members)} {key[1]}"
        group_labels[group_ids[key]] = text
        sizes[group_ids[key]] = (_label_width(text), 26.0)
    widest = max(w for w, _ in sizes.values())
    column = max(widest + 64.0, 150.0)
    pos: dict[Hashable, tuple[float, float]] = {target: (0.0, 0.0)}
    headers = [(0, 0.0)]
    x = 0.0
    neighbours = {n: set() for n in ind_set}
    for e in direct:
        neighbours[e.u].add(e.v)
        neighbours[e.v].add(e.u)
    for level in sorted({depth[n] for n in in_range}):
        members = [n for n in individual if depth[n] == level]

        def barycentre(n: Hashable) -> float:
            ys = [pos[m][1] for m in neighbours.get(n, ()) if m in pos]
            return sum(ys) / len(ys) if ys else 0.0

        members.sort(key=lambda n: (barycentre(n), node_sort_key(n)))
        column_items = members + [group_ids[k] for k in sorted(groups, key=lambda k: (k[1], k[0])) if k[0] == level]
        chunks = [column_items[i:i + per_column] for i in range(0, len(column_items), per_column)]
        first_x = None
        for c, chunk in enumerate(chunks):
            x -= column if c == 0 else column * 0.8
            first_x = x if first_x is None else first_x
            top = -(len(chunk) - 1) * row / 2
            for i, n in enumerate(chunk):
                pos[n] = (x, top + i * row)
        if first_x is not None:
            headers.append((level, (first_x + x) / 2))
    xs = [pos[n][0] + s * sizes[n][0] / 2 for n in pos for s in (-1, 1)]
    ys = [pos[n][1] + s * 13 for n in pos for s in (-1, 1)]
    pad = 20.0
    min_x, max_x = min(xs) - pad, max(xs) + pad
    min_y, max_y = min(ys) - pad - 20, max(ys) + pad
    width, height = max_x - min_x, max_y - min_y
    zoom = min(1.4, 700.0 / width) if width < 500 else 1.0
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="pag" viewBox="{min_x:.0f} {min_y:.0f} {width:.0f} '
             f'{height:.0f}" width="{width * zoom:.0f}" height="{height * zoom:.0f}" role="img" '
             f'aria-label="causal graph around the target" {FONT}>']
    for level, hx in headers:
        text = "target" if level == 0 else f"distance {level}"
        parts.append(f'<text x="{hx:.1f}" y="{min_y + 14:.1f}" text-anchor="middle" font-size="10.5" '
                     f'fill="#9ca3af" letter-spacing="0.06em">{text.upper()}</text>')

    # bundles first (under everything)
    if bundles:
        biggest = max(bundles.values())
        for (node, gid), count in bundles.items():
            (x1, y1), (x2, y2) = pos[node], pos[gid]
            w = 1.2 + 5.0 * math.sqrt(count / biggest)
            parts.append(f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="#94a3b8" '
                         f'stroke-opacity="0.45" stroke-width="{w:.1f}" stroke-linecap="round">'
                         f'<title>{count} edge(s) between {esc(labels.get(node, node))} and '
                         f'{esc(group_labels[gid])}</title></line>')
    red = 0
    explaining = {n for n, r in roles.items() if r == "explaining"}
    for e in direct:
        (x1, y1), (x2, y2) = pos[e.u], pos[e.v]
        if abs(x1 - x2) < 1.0:  # same column: bow out to the left
            cx, cy = x1 - max(sizes[e.u][0], sizes[e.v][0]) / 2 - 18 - 0.18 * abs(y2 - y1), (y1 + y2) / 2
        else:
            cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        sx, sy = box_exit(x1, y1, cx - x1, cy - y1, sizes[e.u][0] / 2 + 2, 15)
        ex, ey = box_exit(x2, y2, cx - x2, cy - y2, sizes[e.v][0] / 2 + 2, 15)
        us, ue = (sx - cx, sy - cy), (ex - cx, ey - cy)
        ns, ne = math.hypot(*us) or 1.0, math.hypot(*ue) or 1.0
        us, ue = (us[0] / ns, us[1] / ns), (ue[0] / ne, ue[1] / ne)
        on_path = (e.u in explaining and e.v == target) or (e.v in explaining and e.u == target)
        red += on_path
        color = HIGHLIGHT if on_path else "#475569"
        lx1, ly1 = (sx - us[0] * 6, sy - us[1] * 6) if e.at_u is Mark.ARROW else (sx, sy)
        lx2, ly2 = (ex - ue[0] * 6, ey - ue[1] * 6) if e.at_v is Mark.ARROW else (ex, ey)
        parts.append(f'<g><title>{esc(labels.get(e.u, e.u))} {esc(e.symbol)} {esc(labels.get(e.v, e.v))}</title>'
                     f'<path d="M{lx1:.1f},{ly1:.1f} Q{cx:.1f},{cy:.1f} {lx2:.1f},{ly2:.1f}" fill="none" '
                     f'stroke="{color}" stroke-width="{2.2 if on_path else 1.2}" stroke-opacity="0.9"/>'
                     f'{mark_svg(e.at_u, sx, sy, us[0], us[1], color)}'
                     f'{mark_svg(e.at_v, ex, ey, ue[0], ue[1], color)}</g>')
    for n in pos:
        x0, y0 = pos[n]
        w, h = sizes[n]
        if n in group_labels:
            parts.append(f'<g class="wt-group"><title>{esc(group_labels[n])} at this PDS distance, summarised</title>'
                         f'<rect x="{x0 - w / 2:.1f}" y="{y0 - h / 2:.1f}" width="{w:.1f}" height="{h:.1f}" rx="6" '
                         f'fill="#f8fafc" stroke="#94a3b8" stroke-dasharray="4 3"/>'
                         f'<text x="{x0:.1f}" y="{y0 + 4.3:.1f}" text-anchor="middle" font-size="11.5" '
                         f'fill="#334155">{esc(group_labels[n])}</text></g>')
            continue
        kind = kinds.get(n, "special")
        fill = "#111827" if n == target else KIND_COLORS.get(kind, "#6b7280")
        stroke, stroke_w = _ROLE_STROKE.get(roles.get(n, ""), ("#ffffff", 1.5))
        label = labels.get(n, str(n))
        tip = f"{label}: position {n} ({kind}), PDS distance {depth.get(n, 0)}"
        if n in roles:
            tip += f"; member of a {roles[n]} set"
        parts.append(f'<g class="wt-node"><title>{esc(tip)}</title>'
                     f'<rect x="{x0 - w / 2:.1f}" y="{y0 - h / 2:.1f}" width="{w:.1f}" height="{h:.1f}" rx="13" '
                     f'fill="{fill}" stroke="{stroke}" stroke-width="{stroke_w}"/>'
                     f'<text x="{x0:.1f}" y="{y0 + 4.3:.1f}" text-anchor="middle" font-size="12" fill="#ffffff" '
                     f'font-weight="600">{esc(label)}</text></g>')
    parts.append("</svg>")
    return GraphFigure(svg="".join(parts), n_in_range=len(in_range), n_drawn=len(ind_set),
                       n_grouped=len(group_of), n_groups=len(groups), n_edges=len(all_edges),
                       n_edges_drawn=len(direct), n_edges_bundled=n_bundled, red_edges=red,
                       marks_tree=tree)
