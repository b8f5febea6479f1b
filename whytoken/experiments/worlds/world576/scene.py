"""Scenes of the 576-patch world: objects, clutter marks, a textured background, and exact rendering.

A :class:`Scene` is a pure description (objects with continuous centres and
sizes, thin line *marks*, a background seed); :func:`render_scene` draws it
with numpy only (no anti-aliasing: a pixel belongs to an object iff its
centre lies inside the shape), so the same scene gives the same bytes on every
machine and the label of every pixel is known. :func:`patch_coverage` turns
the label map into the exact fraction of each 14 px patch that each object
covers (pixel counts / 196), the ground truth the questions use.

Background: a per-scene grey tone with a small colour tint, a low-frequency
texture (three random plane waves, periods 24-112 px, the same on all
channels) and uniform per-pixel noise. Marks are 1.5-3 px wide line segments
in dark or light grey: clutter that no question is about. Objects are flat,
saturated, colour-jittered shapes; they never overlap each other or a mark
(``min_gap`` px apart).

Examples
--------
>>> obj = SceneObject("square", "blue", 0, 0, cy=20.0, cx=20.0, size=20.0, rgb=(40, 80, 230))
>>> rendering = render_scene(Scene((obj,), background_seed=0))
>>> rendering.image.size, int((rendering.labels == 0).sum())
((336, 336), 256)
>>> patch_coverage(rendering.labels, 1)[0][(0, 0)]  # pixels 12-13 of row and column 0: 4 / 196
0.02040816326530612
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

import numpy as np
from PIL import Image

from whytoken.errors import InvalidParameterError

from whytoken.experiments.worlds.world576.config import COLORS, SHAPES, WorldConfig

__all__ = [
    "BACKGROUND",
    "MARK",
    "SceneObject",
    "Mark",
    "Scene",
    "Rendering",
    "shape_mask",
    "mark_mask",
    "render_background",
    "render_scene",
    "patch_coverage",
    "blank_patches",
]

#: Label of background pixels in :attr:`Rendering.labels`.
BACKGROUND = -1
#: Label of mark (clutter) pixels.
MARK = -2


@dataclass(frozen=True)
class SceneObject:
    """One object: what it is, its slot, and its continuous geometry in pixels.

    Attributes
    ----------
    shape, color : str
        Names from :data:`~.config.SHAPES` and :data:`~.config.COLORS`.
    slot_row, slot_col : int
        The layout slot; relations are defined on slots.
    cy, cx : float
        Centre in pixels (pixel ``(y, x)`` has its centre at ``(y + 0.5, x + 0.5)``).
    size : float
        Nominal extent in pixels.
    rgb : tuple of int
        The jittered colour actually painted.
    """

    shape: str
    color: str
    slot_row: int
    slot_col: int
    cy: float
    cx: float
    size: float
    rgb: tuple[int, int, int] = (0, 0, 0)

    @property
    def slot(self) -> tuple[int, int]:
        """The (row, col) slot."""
        return (self.slot_row, self.slot_col)

    @property
    def name(self) -> str:
        """``"<color> <shape>"``, e.g. ``"red circle"``."""
        return f"{self.color} {self.shape}"

    @property
    def half_extent(self) -> float:
        """Half the side of the shape's bounding box, in pixels."""
        return 0.42 * self.size if self.shape == "square" else self.size / 2

    def pixel_box(self, pad: int = 0, side: int | None = None) -> tuple[int, int, int, int]:
        """Integer pixel bounds ``(y0, y1, x0, x1)`` (half-open) holding every pixel of the shape, plus ``pad``."""
        e = self.half_extent
        y0, y1 = math.floor(self.cy - e) - pad, math.ceil(self.cy + e) + pad
        x0, x1 = math.floor(self.cx - e) - pad, math.ceil(self.cx + e) + pad
        if side is not None:
            y0, x0, y1, x1 = max(0, y0), max(0, x0), min(side, y1), min(side, x1)
        return y0, y1, x0, x1


@dataclass(frozen=True)
class Mark:
    """A thin line segment of clutter, from ``(y0, x0)`` to ``(y1, x1)`` in pixels."""

    y0: float
    x0: float
    y1: float
    x1: float
    width: float
    gray: int

    def pixel_box(self, pad: int = 0, side: int | None = None) -> tuple[int, int, int, int]:
        """Integer pixel bounds ``(y0, y1, x0, x1)`` (half-open) of the segment, plus ``pad``."""
        r = self.width / 2
        y0 = math.floor(min(self.y0, self.y1) - r) - pad
        y1 = math.ceil(max(self.y0, self.y1) + r) + pad
        x0 = math.floor(min(self.x0, self.x1) - r) - pad
        x1 = math.ceil(max(self.x0, self.x1) + r) + pad
        if side is not None:
            y0, x0, y1, x1 = max(0, y0), max(0, x0), min(side, y1), min(side, x1)
        return y0, y1, x0, x1


@dataclass(frozen=True)
class Scene:
    """A full scene: objects (sorted by slot), marks and the background seed.

    Examples
    --------
    >>> scene = Scene((SceneObject("circle", "red", 0, 1, 40.0, 120.0, 30.0),), background_seed=0)
    >>> scene.object_in(0, 1).name, scene.object_in(2, 2)
    ('red circle', None)
    >>> scene.describe()
    'red circle in slot (0, 1)'
    """

    objects: tuple[SceneObject, ...]
    marks: tuple[Mark, ...] = ()
    background_seed: int = 0

    def object_in(self, row: int, col: int) -> SceneObject | None:
        """The object in a slot, or ``None`` for an empty slot."""
        for obj in self.objects:
            if obj.slot == (row, col):
                return obj
        return None

    def index_of(self, obj: SceneObject) -> int:
        """The position of an object in :attr:`objects` (its label in the rendering)."""
        return self.objects.index(obj)

    def find(self, shape: str | None = None, color: str | None = None) -> tuple[SceneObject, ...]:
        """Objects matching a shape and/or a colour, in slot order."""
        return tuple(o for o in self.objects if (shape is None or o.shape == shape) and (color is None or o.color == color))

    def without(self, indices: Iterable[int]) -> Scene:
        """The same scene with some objects removed (same marks and background)."""
        drop = set(indices)
        return Scene(tuple(o for i, o in enumerate(self.objects) if i not in drop), self.marks, self.background_seed)

    def describe(self) -> str:
        """One entry per object, slot order: ``"red circle in slot (0, 1)"``."""
        return "; ".join(f"{o.name} in slot ({o.slot_row}, {o.slot_col})" for o in self.objects)


@dataclass(frozen=True)
class Rendering:
    """What :func:`render_scene` returns.

    Attributes
    ----------
    image : PIL.Image.Image
        The RGB scene.
    labels : numpy.ndarray
        ``(H, W)`` int16: the object index of each pixel, :data:`BACKGROUND` or :data:`MARK`.
    background : numpy.ndarray
        ``(H, W, 3)`` uint8: the background alone (texture and noise, no marks, no objects);
        painting patches from it removes whatever was drawn there.
    """

    image: Image.Image
    labels: np.ndarray
    background: np.ndarray


def shape_mask(obj: SceneObject, yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
    """Boolean mask of the pixels whose centres ``(yy, xx)`` lie inside an object.

    Examples
    --------
    >>> yy, xx = np.mgrid[0:4, 0:4] + 0.5
    >>> int(shape_mask(SceneObject("circle", "red", 0, 0, 2.0, 2.0, 4.0), yy, xx).sum())
    12
    """
    dy, dx = yy - obj.cy, xx - obj.cx
    s = float(obj.size)
    if obj.shape == "circle":
        return dy**2 + dx**2 <= (s / 2) ** 2
    if obj.shape == "square":
        half = 0.42 * s
        return (np.abs(dy) <= half) & (np.abs(dx) <= half)
    if obj.shape == "triangle":  # apex up, height s, base s
        depth = dy + s / 2
        return (depth >= 0) & (dy <= s / 2) & (np.abs(dx) <= depth / 2)
    if obj.shape == "cross":
        arm = 0.16 * s
        return ((np.abs(dx) <= arm) & (np.abs(dy) <= s / 2)) | ((np.abs(dy) <= arm) & (np.abs(dx) <= s / 2))
    raise InvalidParameterError(f"shape={obj.shape!r} is unknown; expected one of {list(SHAPES)}")


def mark_mask(mark: Mark, yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
    """Boolean mask of the pixels whose centres lie within ``width / 2`` of a mark's segment."""
    vy, vx = mark.y1 - mark.y0, mark.x1 - mark.x0
    length2 = max(vy * vy + vx * vx, 1e-9)
    t = np.clip(((yy - mark.y0) * vy + (xx - mark.x0) * vx) / length2, 0.0, 1.0)
    return (yy - mark.y0 - t * vy) ** 2 + (xx - mark.x0 - t * vx) ** 2 <= (mark.width / 2) ** 2


def _window(box: tuple[int, int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    y0, y1, x0, x1 = box
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float64)
    return yy + 0.5, xx + 0.5


def render_background(seed: int, config: WorldConfig) -> np.ndarray:
    """The textured background of a scene, ``(H, W, 3)`` uint8, from its seed alone."""
    rng = np.random.default_rng(seed)
    side = config.image_size
    tone = (rng.uniform(105, 150) + rng.uniform(-8, 8, size=3)).astype(np.float32)
    coords = np.arange(side, dtype=np.float32) + 0.5
    texture = np.zeros((side, side), dtype=np.float32)
    for _ in range(3):  # plane waves sin(ky y + kx x + phase), summed as separable outer products
        period, angle, phase = rng.uniform(24, 112), rng.uniform(0, np.pi), rng.uniform(0, 2 * np.pi)
        ky, kx = 2 * np.pi * np.sin(angle) / period, 2 * np.pi * np.cos(angle) / period
        texture += np.outer(np.sin(ky * coords), np.cos(kx * coords + phase))
        texture += np.outer(np.cos(ky * coords), np.sin(kx * coords + phase))
    texture *= np.float32(config.texture_amplitude / 3)
    noise = rng.integers(-config.background_noise, config.background_noise + 1, size=(side, side, 3), dtype=np.int16)
    pixels = np.rint(texture[:, :, None] + tone[None, None, :]) + noise
    return np.clip(pixels, 0, 255).astype(np.uint8)


def render_scene(scene: Scene, config: WorldConfig | None = None) -> Rendering:
    """Draw a scene: textured background, marks, flat-coloured objects; with the label of every pixel.

    Raises
    ------
    InvalidParameterError
        If an object has an unknown shape or leaves the image.

    Examples
    --------
    >>> obj = SceneObject("triangle", "red", 1, 1, cy=126.0, cx=126.0, size=40.0, rgb=(220, 40, 40))
    >>> r = render_scene(Scene((obj,), background_seed=3))
    >>> r.image.getpixel((126, 130)), int(r.labels[130, 126])
    ((220, 40, 40), 0)
    """
    config = config or WorldConfig()
    side = config.image_size
    background = render_background(scene.background_seed, config)
    pixels = background.copy()
    labels = np.full((side, side), BACKGROUND, dtype=np.int16)
    for mark in scene.marks:
        y0, y1, x0, x1 = box = mark.pixel_box(side=side)
        mask = mark_mask(mark, *_window(box))
        pixels[y0:y1, x0:x1][mask] = mark.gray
        labels[y0:y1, x0:x1][mask] = MARK
    for index, obj in enumerate(scene.objects):
        y0, y1, x0, x1 = box = obj.pixel_box()
        if y0 < 0 or x0 < 0 or y1 > side or x1 > side:
            raise InvalidParameterError(
                f"object {obj.name} at ({obj.cy:.1f}, {obj.cx:.1f}) of size {obj.size:.1f} leaves the "
                f"{side}x{side} image; expected its box inside the image"
            )
        if obj.color not in COLORS:
            raise InvalidParameterError(f"color={obj.color!r} is unknown; expected one of {list(COLORS)}")
        mask = shape_mask(obj, *_window(box))
        pixels[y0:y1, x0:x1][mask] = np.asarray(obj.rgb, dtype=np.uint8)
        labels[y0:y1, x0:x1][mask] = index
    return Rendering(Image.fromarray(pixels), labels, background)


def patch_coverage(
    labels: np.ndarray, n_objects: int, config: WorldConfig | None = None
) -> list[dict[tuple[int, int], float]]:
    """Exact fraction of each patch that each object covers, from a label map.

    Parameters
    ----------
    labels : numpy.ndarray
        ``Rendering.labels``.
    n_objects : int
        Number of objects in the scene.
    config : WorldConfig, optional

    Returns
    -------
    list of dict
        One ``{(row, col): fraction}`` per object, only patches with a covered pixel,
        where ``fraction`` = covered pixels / ``patch_size ** 2``.

    Examples
    --------
    >>> labels = np.full((336, 336), -1, dtype=np.int16)
    >>> labels[0:14, 7:21] = 0  # half of patch (0, 0), half of patch (0, 1)
    >>> labels[14:21, 0:14] = 0  # half of patch (1, 0)
    >>> patch_coverage(labels, 1)[0]
    {(0, 0): 0.5, (0, 1): 0.5, (1, 0): 0.5}
    """
    config = config or WorldConfig()
    p, g = config.patch_size, config.patch_grid
    if labels.shape != (config.image_size, config.image_size):
        raise InvalidParameterError(
            f"labels of shape {labels.shape} do not match the world; expected ({config.image_size}, {config.image_size})"
        )
    rows = np.arange(config.image_size) // p
    patch_of = rows[:, None] * g + rows[None, :]
    out: list[dict[tuple[int, int], float]] = []
    area = float(p * p)
    for index in range(n_objects):
        counts = np.bincount(patch_of[labels == index], minlength=g * g)
        out.append({(int(i) // g, int(i) % g): float(counts[i]) / area for i in np.flatnonzero(counts)})
    return out


def blank_patches(
    image: Image.Image | np.ndarray,
    patches: Iterable[tuple[int, int]],
    fill: np.ndarray | tuple[int, int, int] = (128, 128, 128),
    config: WorldConfig | None = None,
) -> Image.Image:
    """Paint patches with a fill: the world's "remove these patches" intervention.

    Parameters
    ----------
    image : PIL.Image.Image or numpy.ndarray
        RGB image of side ``config.image_size``.
    patches : iterable of (int, int)
        (row, col) patches of the 24 x 24 grid.
    fill : numpy.ndarray or tuple of int, default (128, 128, 128)
        A flat RGB colour, or an ``(H, W, 3)`` image whose pixels are copied in
        (``Rendering.background`` removes exactly what was drawn on the patches).
    config : WorldConfig, optional

    Returns
    -------
    PIL.Image.Image
        A new image; the input is not modified.

    Examples
    --------
    >>> img = Image.new("RGB", (336, 336), (220, 40, 40))
    >>> blank_patches(img, [(0, 1)]).getpixel((20, 5)), blank_patches(img, [(0, 1)]).getpixel((30, 5))
    ((128, 128, 128), (220, 40, 40))
    """
    config = config or WorldConfig()
    pixels = np.array(image, dtype=np.uint8)
    side, p, g = config.image_size, config.patch_size, config.patch_grid
    if pixels.shape != (side, side, 3):
        raise InvalidParameterError(f"image of shape {pixels.shape} does not match the world; expected ({side}, {side}, 3) RGB")
    source = np.asarray(fill, dtype=np.uint8)
    if source.ndim == 3 and source.shape != pixels.shape:
        raise InvalidParameterError(f"fill image of shape {source.shape}; expected {pixels.shape} like the image")
    if source.ndim == 1 and source.shape != (3,):
        raise InvalidParameterError(f"fill={fill!r}; expected an RGB triple or an (H, W, 3) image")
    for row, col in patches:
        if not (0 <= row < g and 0 <= col < g):
            raise InvalidParameterError(f"patch ({row}, {col}) is outside the {g}x{g} patch grid")
        block = (slice(row * p, (row + 1) * p), slice(col * p, (col + 1) * p))
        pixels[block] = source[block] if source.ndim == 3 else source
    return Image.fromarray(pixels)
