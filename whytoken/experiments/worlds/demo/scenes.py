"""Scenes of the demo world: objects in grid cells, their rendering, and blanking patches.

A :class:`Scene` is a tuple of :class:`SceneObject` (shape, colour, cell,
size, jitter) and the seed of the background noise; :func:`render_scene`
draws it with numpy only (the same scene gives the same bytes on every
machine) and :func:`blank_patches` paints patches flat background grey, the
world's "remove these patches" intervention.

Examples
--------
>>> scene = Scene((SceneObject("circle", "red", 0, 1, 12, rgb=(220, 40, 40)),), noise_seed=0)
>>> image = render_scene(scene)
>>> image.getpixel((24, 8)), blank_patches(image, [(0, 1)]).getpixel((24, 8))
((220, 40, 40), (128, 128, 128))
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Iterable

import numpy as np
from PIL import Image

from whytoken.errors import InvalidParameterError
from whytoken.experiments.worlds.demo.config import SHAPES, WorldConfig

__all__ = ["SceneObject", "Scene", "render_scene", "blank_patches"]


@dataclass(frozen=True)
class SceneObject:
    """One object: what it is, which cell it occupies and how it is drawn.

    Attributes
    ----------
    shape, color : str
        Names from :data:`SHAPES` and :data:`COLORS`.
    row, col : int
        The cell.
    size : int
        Nominal extent in pixels (diameter of a circle, height of a triangle).
    dy, dx : int
        Offset of the centre from the cell centre, in pixels.
    rgb : tuple of int
        The jittered colour actually painted.
    """

    shape: str
    color: str
    row: int
    col: int
    size: int
    dy: int = 0
    dx: int = 0
    rgb: tuple[int, int, int] = (0, 0, 0)

    @property
    def cell(self) -> tuple[int, int]:
        """The (row, col) cell."""
        return (self.row, self.col)

    @property
    def name(self) -> str:
        """``"<color> <shape>"``, e.g. ``"red circle"``."""
        return f"{self.color} {self.shape}"


@dataclass(frozen=True)
class Scene:
    """A full scene description: the objects and the noise seed of the background.

    Examples
    --------
    >>> scene = Scene((SceneObject("circle", "red", 0, 1, 12),), noise_seed=0)
    >>> scene.object_at(0, 1).name, scene.object_at(2, 2)
    ('red circle', None)
    >>> scene.describe()
    'red circle at (0, 1)'
    """

    objects: tuple[SceneObject, ...]
    noise_seed: int = 0

    def object_at(self, row: int, col: int) -> SceneObject | None:
        """The object in a cell, or ``None`` for an empty cell."""
        for obj in self.objects:
            if obj.row == row and obj.col == col:
                return obj
        return None

    def find(self, shape: str | None = None, color: str | None = None) -> tuple[SceneObject, ...]:
        """Objects matching a shape and/or a colour, in row-major cell order."""
        hits = [o for o in self.objects if (shape is None or o.shape == shape) and (color is None or o.color == color)]
        return tuple(sorted(hits, key=lambda o: (o.row, o.col)))

    def describe(self) -> str:
        """One line per object, row-major: ``"red circle at (0, 1)"``."""
        return "; ".join(f"{o.name} at ({o.row}, {o.col})" for o in sorted(self.objects, key=lambda o: (o.row, o.col)))


@functools.lru_cache(maxsize=8)
def _cell_coordinates(cell_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates ``(yy, xx)`` of a cell (cached; treat as read-only)."""
    yy, xx = np.mgrid[0:cell_size, 0:cell_size].astype(np.float64) + 0.5
    return yy, xx


def _shape_mask(obj: SceneObject, cell_size: int) -> np.ndarray:
    """Boolean ``(cell_size, cell_size)`` mask of an object inside its cell."""
    yy, xx = _cell_coordinates(cell_size)
    cy = cell_size / 2 + obj.dy
    cx = cell_size / 2 + obj.dx
    s = float(obj.size)
    dy, dx = yy - cy, xx - cx
    if obj.shape == "circle":
        return dy**2 + dx**2 <= (s / 2) ** 2
    if obj.shape == "square":
        half = 0.42 * s
        return (np.abs(dy) <= half) & (np.abs(dx) <= half)
    if obj.shape == "triangle":  # apex up, height s, base s
        top = cy - s / 2
        return (yy >= top) & (yy <= cy + s / 2) & (np.abs(dx) <= (yy - top) / 2)
    if obj.shape == "cross":
        arm = 0.16 * s
        return ((np.abs(dx) <= arm) & (np.abs(dy) <= s / 2)) | ((np.abs(dy) <= arm) & (np.abs(dx) <= s / 2))
    raise InvalidParameterError(f"shape={obj.shape!r} is unknown; expected one of {list(SHAPES)}")


def render_scene(scene: Scene, config: WorldConfig | None = None) -> Image.Image:
    """Draw a scene: noisy grey background, one flat-coloured shape per occupied cell.

    Parameters
    ----------
    scene : Scene
        Objects and background noise seed.
    config : WorldConfig, optional
        Geometry and background; the default world when omitted.

    Returns
    -------
    PIL.Image.Image
        RGB image of side ``config.image_size``.

    Examples
    --------
    >>> img = render_scene(Scene((SceneObject("square", "blue", 1, 1, 12, rgb=(40, 80, 230)),)))
    >>> img.size, img.getpixel((24, 24))
    ((96, 96), (40, 80, 230))
    """
    config = config or WorldConfig()
    side, c = config.image_size, config.cell_size
    rng = np.random.default_rng(scene.noise_seed)
    noise = rng.integers(-config.background_noise, config.background_noise + 1, size=(side, side, 3), dtype=np.int16)
    noise += np.asarray(config.background, dtype=np.int16)
    pixels = np.clip(noise, 0, 255, out=noise).astype(np.uint8)
    for obj in scene.objects:
        if not (0 <= obj.row < config.grid_size and 0 <= obj.col < config.grid_size):
            raise InvalidParameterError(
                f"object {obj.name} at cell ({obj.row}, {obj.col}) is outside the {config.grid_size}x{config.grid_size} grid"
            )
        mask = _shape_mask(obj, c)
        block = pixels[obj.row * c : (obj.row + 1) * c, obj.col * c : (obj.col + 1) * c]
        block[mask] = np.asarray(obj.rgb, dtype=np.uint8)
    return Image.fromarray(pixels)


def blank_patches(
    image: Image.Image | np.ndarray,
    patches: Iterable[tuple[int, int]],
    config: WorldConfig | None = None,
) -> Image.Image:
    """Paint patches flat background colour: the world's "remove these patches" intervention.

    Parameters
    ----------
    image : PIL.Image.Image or numpy.ndarray
        RGB image (``(H, W, 3)`` uint8 when an array) of side ``config.image_size``.
    patches : iterable of (int, int)
        (row, col) patches in the model's patch grid.
    config : WorldConfig, optional
        Geometry and background colour.

    Returns
    -------
    PIL.Image.Image
        A new image; the input is not modified.

    Examples
    --------
    >>> from whytoken.experiments.worlds.demo import generate
    >>> sample = generate("test", 1)[0]
    >>> blanked = blank_patches(sample.image, sample.cause_patches)
    >>> r, c = sample.cause_patches[0]
    >>> blanked.getpixel((c * 16 + 8, r * 16 + 8))
    (128, 128, 128)
    """
    config = config or WorldConfig()
    pixels = np.array(image, dtype=np.uint8)
    side = config.image_size
    if pixels.shape != (side, side, 3):
        raise InvalidParameterError(
            f"image of shape {pixels.shape} does not match the world; expected ({side}, {side}, 3) RGB"
        )
    p = config.patch_size
    for row, col in patches:
        if not (0 <= row < config.patch_grid and 0 <= col < config.patch_grid):
            raise InvalidParameterError(
                f"patch ({row}, {col}) is outside the {config.patch_grid}x{config.patch_grid} patch grid"
            )
        pixels[row * p : (row + 1) * p, col * p : (col + 1) * p] = np.asarray(config.background, dtype=np.uint8)
    return Image.fromarray(pixels)
