"""Input images: validation, conversion to RGB arrays, and blanking pixel boxes.

Adapters keep every input image as a uint8 array of shape ``(height, width, 3)``
so that a trace can store it and the ``pixel`` intervention can edit it. This
module converts what users pass (PIL images, numpy arrays) into that form, and
refuses, with a message that says how to fix it, what it cannot convert
without guessing.

Examples
--------
>>> import numpy as np
>>> from whytoken.adapters.images import to_rgb_array, blank_boxes
>>> rgb = to_rgb_array(np.zeros((4, 6), dtype=np.uint8))  # grayscale -> RGB
>>> rgb.shape, rgb.dtype
((4, 6, 3), dtype('uint8'))
>>> img = np.arange(4 * 4 * 3, dtype=np.uint8).reshape(4, 4, 3)
>>> blank_boxes(img, [(0, 0, 2, 2)])[0, 0].tolist() == img.reshape(-1, 3).mean(0).round().astype(int).tolist()
True
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

import numpy as np

from whytoken.errors import InvalidImageError

__all__ = ["MIN_IMAGE_SIDE", "to_rgb_array", "to_rgb_arrays", "blank_boxes", "to_pil"]

#: Smallest accepted width and height in pixels; smaller images carry no patch.
MIN_IMAGE_SIDE = 2

# PIL modes that convert to RGB without guessing a value range.
_CONVERTIBLE_MODES = {"1", "L", "LA", "P", "PA", "RGB", "RGBA", "RGBX", "RGBa", "CMYK", "YCbCr", "LAB", "HSV", "La"}


def _from_pil(image: Any) -> np.ndarray:
    if image.mode not in _CONVERTIBLE_MODES:
        raise InvalidImageError(
            f"cannot convert a PIL image of mode {image.mode!r} to RGB without guessing its value range; "
            f"convert it yourself, e.g. Image.fromarray(np.clip(np.asarray(img) / scale * 255, 0, 255)"
            f".astype('uint8')).convert('RGB'); convertible modes: {', '.join(sorted(_CONVERTIBLE_MODES))}"
        )
    if image.mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        from PIL import Image

        # composite on white, the convention of most image processors' convert_rgb
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, image.convert("RGBA"))
    return np.asarray(image.convert("RGB"), dtype=np.uint8)


def _from_array(array: np.ndarray) -> np.ndarray:
    if array.ndim == 2:
        array = np.repeat(array[:, :, None], 3, axis=2)
    elif array.ndim == 3 and array.shape[2] in (1, 3, 4):
        if array.shape[2] == 1:
            array = np.repeat(array, 3, axis=2)
        elif array.shape[2] == 4:
            array = array[:, :, :3]
    else:
        hint = ""
        if array.ndim == 3 and array.shape[0] in (1, 3, 4):
            hint = " (channels-first? use array.transpose(1, 2, 0))"
        raise InvalidImageError(
            f"an image array must have shape (height, width), (height, width, 3) or (height, width, 4); "
            f"got shape {array.shape}{hint}"
        )
    if array.dtype == np.uint8:
        return np.ascontiguousarray(array)
    if np.issubdtype(array.dtype, np.floating):
        if not np.isfinite(array).all() or array.min() < 0.0 or array.max() > 1.0:
            raise InvalidImageError(
                f"a float image array must hold values in [0, 1]; got range "
                f"[{np.nanmin(array):.3g}, {np.nanmax(array):.3g}] (dtype {array.dtype}); "
                "scale it to [0, 1] or pass uint8"
            )
        return np.ascontiguousarray(np.round(array * 255.0).astype(np.uint8))
    if np.issubdtype(array.dtype, np.integer) or array.dtype == np.bool_:
        if array.min() < 0 or array.max() > 255:
            raise InvalidImageError(
                f"an integer image array must hold values in [0, 255]; got range [{array.min()}, {array.max()}] "
                f"(dtype {array.dtype}); rescale it to uint8"
            )
        return np.ascontiguousarray(array.astype(np.uint8))
    raise InvalidImageError(f"unsupported image array dtype {array.dtype}; pass uint8 or float in [0, 1]")


def to_rgb_array(image: Any, min_side: int = MIN_IMAGE_SIDE) -> np.ndarray:
    """Convert a PIL image or an array to a uint8 RGB array ``(height, width, 3)``.

    Parameters
    ----------
    image : PIL.Image.Image or array-like
        A PIL image of a convertible mode, or an array ``(H, W)``, ``(H, W, 1)``,
        ``(H, W, 3)`` or ``(H, W, 4)`` of uint8 or floats in [0, 1].
    min_side : int
        Smallest accepted width/height.

    Raises
    ------
    InvalidImageError
        For unconvertible modes, wrong shapes or value ranges, and images
        smaller than ``min_side``.
    """
    if image is None:
        raise InvalidImageError("image is None; pass a PIL image or an (H, W, 3) uint8 array")
    if hasattr(image, "mode") and hasattr(image, "convert"):
        array = _from_pil(image)
    elif isinstance(image, (str, bytes)) or hasattr(image, "__fspath__"):
        raise InvalidImageError(
            f"got a path {image!r}; open it first: PIL.Image.open(path) (whytoken does not read files implicitly)"
        )
    else:
        try:
            array = np.asarray(image)
        except (TypeError, ValueError) as err:
            raise InvalidImageError(f"cannot read {type(image).__name__} as an image array: {err}") from err
        if array.dtype == object:
            raise InvalidImageError(f"cannot read {type(image).__name__} as an image; pass a PIL image or an array")
        array = _from_array(array)
    height, width = array.shape[:2]
    if height < min_side or width < min_side:
        raise InvalidImageError(
            f"image of {width}x{height} pixels is too small: width and height must be at least {min_side}; "
            "pass a larger image (the processor resizes it to the model's input size)"
        )
    return array


def to_rgb_arrays(images: Any, min_side: int = MIN_IMAGE_SIDE) -> list[np.ndarray]:
    """Like :func:`to_rgb_array` for None, one image, or a list/tuple of images."""
    if images is None:
        return []
    if isinstance(images, (list, tuple)):
        return [to_rgb_array(im, min_side) for im in images]
    return [to_rgb_array(images, min_side)]


def blank_boxes(image: np.ndarray, boxes: Iterable[Sequence[int]], fill: Sequence[float] | None = None) -> np.ndarray:
    """A copy of ``image`` with the pixel boxes set to ``fill`` (default: the image's mean colour).

    Parameters
    ----------
    image : ndarray
        uint8 ``(H, W, 3)``.
    boxes : iterable of (x0, y0, x1, y1)
        Half-open pixel boxes.
    fill : sequence of float or None
        RGB fill; None uses the per-channel mean of the whole image.
    """
    out = np.array(image, copy=True)
    colour = np.asarray(fill if fill is not None else image.reshape(-1, 3).mean(axis=0))
    colour = np.clip(np.round(colour), 0, 255).astype(np.uint8)
    for x0, y0, x1, y1 in boxes:
        out[max(0, y0):max(0, y1), max(0, x0):max(0, x1)] = colour
    return out


def to_pil(array: np.ndarray) -> Any:
    """A PIL RGB image of a uint8 ``(H, W, 3)`` array."""
    from PIL import Image

    return Image.fromarray(np.ascontiguousarray(array))
