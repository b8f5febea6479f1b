"""Ground-truth shape masks of easy-VQA images, derived from the pixels.

Every easy-VQA image is a flat background tint with one flat-coloured shape
drawn on it with anti-aliased edges, so each pixel is a blend
``pixel = background + alpha * (shape - background)`` of exactly two colours
(measured on all 5,000 images: the blend reproduces every pixel to within
1.04 grey levels, the 8-bit rounding). The rule (:func:`shape_mask`):

1. **background** -- the most frequent colour of the image's border pixels
   (the shape never covers most of the border: at least 78 % of the border
   is background on every image);
2. **shape colour** -- the most frequent colour among the pixels at least
   90 % as far from the background as the farthest pixel (the flat inside of
   the shape; anti-aliased rims are blends and vary);
3. **alpha** -- each pixel's position on the line from background to shape
   colour (least-squares projection, clipped to ``[0, 1]``): the fraction of
   the pixel the shape covers;
4. **mask** -- ``alpha >= 0.5``; **patch coverage** -- the mean alpha over a
   patch's pixels, the fraction of the patch the shape covers.

:func:`shape_mask` checks the two-colour model and raises
:class:`~whytoken.errors.InvalidImageError` when an image does not follow it
(residual above ``max_residual``, no shape, more than one connected
component), so a mask is never silently wrong.

Blanking (:func:`blank_patches`) paints patches with the image's own
background colour: the "remove this patch" edit of the intervention check.
On easy-VQA's flat backgrounds blanking a patch the shape does not touch
leaves the image byte-identical.

Examples
--------
>>> import numpy as np
>>> pixels = np.full((64, 64, 3), 240, dtype=np.uint8)
>>> pixels[8:28, 16:32] = (0, 0, 255)
>>> mask = shape_mask(pixels, patch_size=8)
>>> mask.color, int(mask.mask.sum()), mask.patches
('blue', 320, ((1, 2), (1, 3), (2, 2), (2, 3), (3, 2), (3, 3)))
>>> [round(f, 2) for f in mask.fractions]
[1.0, 1.0, 1.0, 1.0, 0.5, 0.5]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

import numpy as np
from PIL import Image
from scipy import ndimage

from whytoken.errors import InvalidImageError, InvalidParameterError

__all__ = [
    "PALETTE",
    "ShapeMask",
    "shape_mask",
    "nearest_color",
    "blank_patches",
]

#: The shape colours easy-VQA draws with (CSS named colours; every shape in the
#: 5,000 images has exactly one of these values).
PALETTE: dict[str, tuple[int, int, int]] = {
    "black": (0, 0, 0),
    "blue": (0, 0, 255),
    "brown": (165, 42, 42),
    "gray": (128, 128, 128),
    "green": (0, 255, 0),
    "red": (255, 0, 0),
    "teal": (0, 128, 128),
    "yellow": (255, 255, 0),
}


@dataclass(frozen=True)
class ShapeMask:
    """The shape of one image, separated from its background.

    Attributes
    ----------
    background, shape_rgb : tuple of int
        The two colours every pixel blends.
    color : str
        The :data:`PALETTE` name nearest to ``shape_rgb``.
    patches : tuple of (int, int)
        ``(row, col)`` of every patch the shape touches (coverage > 0), row-major.
    fractions : tuple of float
        The covered fraction of each of ``patches``, in the same order.
    alpha : numpy.ndarray
        ``(H, W)`` float, the fraction of each pixel the shape covers.
    mask : numpy.ndarray
        ``(H, W)`` bool, ``alpha >= 0.5``.
    coverage : numpy.ndarray
        ``(H / patch_size, W / patch_size)`` float, the fraction of each patch covered.
    patch_size : int
    residual : float
        Largest per-channel deviation of a pixel from its two-colour blend (grey levels).
    """

    background: tuple[int, int, int]
    shape_rgb: tuple[int, int, int]
    color: str
    alpha: np.ndarray = field(repr=False)
    mask: np.ndarray = field(repr=False)
    coverage: np.ndarray = field(repr=False)
    patch_size: int
    residual: float
    patches: tuple[tuple[int, int], ...] = ()
    fractions: tuple[float, ...] = ()

    @property
    def grid(self) -> int:
        """Patches per side."""
        return int(self.coverage.shape[0])

    @property
    def area(self) -> float:
        """Shape area in pixels (sum of alpha)."""
        return float(self.alpha.sum())

    @property
    def mean_rgb(self) -> tuple[float, float, float]:
        """Mean colour of the pixels inside :attr:`mask` (recomputed from ``alpha`` and the two colours)."""
        weights = self.alpha[self.mask]
        bg, fg = np.asarray(self.background, float), np.asarray(self.shape_rgb, float)
        mean = bg + float(weights.mean()) * (fg - bg)
        return (float(mean[0]), float(mean[1]), float(mean[2]))

    def patches_covering(self, min_fraction: float) -> tuple[tuple[int, int], ...]:
        """The patches covered by at least ``min_fraction`` (``0 < min_fraction <= 1``).

        Examples
        --------
        >>> import numpy as np
        >>> pixels = np.full((16, 16, 3), 250, dtype=np.uint8); pixels[0:8, 0:12] = 0
        >>> shape_mask(pixels, patch_size=8).patches_covering(0.9)
        ((0, 0),)
        """
        if not 0.0 < min_fraction <= 1.0:
            raise InvalidParameterError(f"min_fraction={min_fraction}; expected a fraction in (0, 1]")
        rows, cols = np.nonzero(self.coverage >= min_fraction)
        return tuple((int(r), int(c)) for r, c in zip(rows, cols))

    def background_patches(self) -> tuple[tuple[int, int], ...]:
        """``(row, col)`` of every patch the shape does not touch (coverage 0)."""
        rows, cols = np.nonzero(self.coverage == 0)
        return tuple((int(r), int(c)) for r, c in zip(rows, cols))


def _as_pixels(image: Image.Image | np.ndarray) -> np.ndarray:
    pixels = np.asarray(image.convert("RGB") if isinstance(image, Image.Image) else image)
    if pixels.ndim != 3 or pixels.shape[2] != 3 or pixels.dtype != np.uint8:
        raise InvalidImageError(
            f"image of shape {pixels.shape} and dtype {pixels.dtype}; expected an RGB image, (H, W, 3) uint8"
        )
    return pixels


def _mode(colors: np.ndarray) -> np.ndarray:
    """The most frequent RGB value (ties: the smallest packed value), as float64."""
    rgb = colors.reshape(-1, 3).astype(np.int64)
    packed = (rgb[:, 0] << 16) | (rgb[:, 1] << 8) | rgb[:, 2]
    values, counts = np.unique(packed, return_counts=True)
    top = int(values[int(np.argmax(counts))])
    return np.asarray([(top >> 16) & 255, (top >> 8) & 255, top & 255], dtype=np.float64)


def nearest_color(rgb: Iterable[float]) -> str:
    """The :data:`PALETTE` name nearest (Euclidean, RGB) to a colour.

    Examples
    --------
    >>> nearest_color((160, 40, 50))
    'brown'
    """
    value = np.asarray(list(rgb), dtype=float)
    return min(PALETTE, key=lambda name: float(np.sum((np.asarray(PALETTE[name], float) - value) ** 2)))


def shape_mask(image: Image.Image | np.ndarray, patch_size: int = 8, max_residual: float = 4.0) -> ShapeMask:
    """Separate an easy-VQA image's shape from its background (see the module docstring).

    Parameters
    ----------
    image : PIL.Image.Image or numpy.ndarray
        RGB, ``(H, W, 3)`` uint8 when an array; ``H`` and ``W`` multiples of ``patch_size``.
    patch_size : int, default 8
        Side of a model patch in pixels (the easy-VQA model uses 8: an 8 x 8 grid).
    max_residual : float, default 4.0
        Largest allowed deviation (grey levels) of a pixel from the two-colour blend.

    Returns
    -------
    ShapeMask

    Raises
    ------
    InvalidImageError
        For an image that is not one flat shape on a flat background.
    InvalidParameterError
        For a ``patch_size`` that does not divide the image.
    """
    pixels = _as_pixels(image)
    height, width = pixels.shape[:2]
    if patch_size < 1 or height % patch_size or width % patch_size:
        raise InvalidParameterError(
            f"patch_size={patch_size} does not divide the {width}x{height} image; expected a divisor such as 8"
        )
    values = pixels.astype(np.float64)
    border = np.concatenate([values[0], values[-1], values[:, 0], values[:, -1]])
    background = _mode(border)
    distance = np.linalg.norm(values - background, axis=-1)
    if distance.max() < 16.0:
        raise InvalidImageError(
            f"the image is flat (no pixel differs from the background {tuple(int(v) for v in background)} by 16 or "
            "more); expected one shape on a flat background, as in easy-VQA"
        )
    shape_rgb = _mode(values[distance >= 0.9 * distance.max()])
    direction = shape_rgb - background
    alpha = np.clip(((values - background) @ direction) / float(direction @ direction), 0.0, 1.0)
    residual = float(np.abs(values - (background + alpha[..., None] * direction)).max())
    if residual > max_residual:
        raise InvalidImageError(
            f"a pixel deviates by {residual:.1f} grey levels from the blend of background "
            f"{tuple(int(v) for v in background)} and shape colour {tuple(int(v) for v in shape_rgb)}; expected "
            f"<= {max_residual} (one flat shape on a flat background); fix: pass an easy-VQA image or raise max_residual"
        )
    mask = alpha >= 0.5
    _, n_components = ndimage.label(mask, structure=np.ones((3, 3), dtype=bool))
    if n_components != 1:
        raise InvalidImageError(
            f"the shape mask has {n_components} connected components; expected exactly one shape per image"
        )
    grid_h, grid_w = height // patch_size, width // patch_size
    coverage = alpha.reshape(grid_h, patch_size, grid_w, patch_size).mean(axis=(1, 3))
    rows, cols = np.nonzero(coverage > 0)
    bg = (int(background[0]), int(background[1]), int(background[2]))
    fg = (int(shape_rgb[0]), int(shape_rgb[1]), int(shape_rgb[2]))
    return ShapeMask(
        background=bg,
        shape_rgb=fg,
        color=nearest_color(fg),
        alpha=alpha,
        mask=mask,
        coverage=coverage,
        patch_size=patch_size,
        residual=residual,
        patches=tuple((int(r), int(c)) for r, c in zip(rows, cols)),
        fractions=tuple(float(coverage[r, c]) for r, c in zip(rows, cols)),
    )


def blank_patches(
    image: Image.Image | np.ndarray,
    patches: Iterable[tuple[int, int]],
    background: tuple[int, int, int],
    patch_size: int = 8,
) -> Image.Image:
    """Paint patches flat ``background`` colour (a new image; the input is not modified).

    Examples
    --------
    >>> import numpy as np
    >>> pixels = np.zeros((16, 16, 3), dtype=np.uint8)
    >>> blank_patches(pixels, [(1, 0)], (240, 230, 250)).getpixel((3, 12))
    (240, 230, 250)
    """
    pixels = _as_pixels(image).copy()
    grid_h, grid_w = pixels.shape[0] // patch_size, pixels.shape[1] // patch_size
    fill = np.asarray(background, dtype=np.uint8)
    for row, col in patches:
        if not (0 <= row < grid_h and 0 <= col < grid_w):
            raise InvalidParameterError(f"patch ({row}, {col}) is outside the {grid_h}x{grid_w} patch grid")
        pixels[row * patch_size : (row + 1) * patch_size, col * patch_size : (col + 1) * patch_size] = fill
    return Image.fromarray(pixels)
