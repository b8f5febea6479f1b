"""Input images: reading files, validation, conversion to RGB arrays, and blanking pixel boxes.

Adapters keep every input image as a uint8 array of shape ``(height, width, 3)``
so that a trace can store it and the ``pixel`` intervention can edit it. This
module converts what users pass (file paths, PIL images, numpy arrays) into that
form, and refuses, with a message that says how to fix it, what it cannot
convert without guessing.

:func:`load_image` is the one image reader: the command line's ``--image`` and
the library (``adapter.trace(image="scene.png")``) both use it, so a file means
the same pixels everywhere. It applies the EXIF orientation (as image viewers
do), takes the first frame of animated files, rescales 16-bit images exactly to
8 bits (``round(v / 257)``: 65535 -> 255; converting them with PIL's
``convert("RGB")`` would clip every value above 255), composites transparency
(alpha channels, palette transparency) on white, and refuses images above
:data:`MAX_IMAGE_PIXELS` pixels (decompression bombs; PIL's own
``DecompressionBombError`` becomes an :class:`~whytoken.errors.InvalidImageError`).

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

__all__ = ["MIN_IMAGE_SIDE", "MAX_IMAGE_PIXELS", "load_image", "to_rgb_array", "to_rgb_arrays", "blank_boxes",
           "to_pil"]

#: Smallest accepted width and height in pixels; smaller images carry no patch.
MIN_IMAGE_SIDE = 2
#: Largest accepted image in pixels (width x height) read from a file: 64 megapixels, ~200 MB as RGB.
#: Processors resize every image to a few hundred pixels a side, so larger inputs only cost memory.
MAX_IMAGE_PIXELS = 64_000_000

# PIL modes of 16-bit grayscale; their value range (0..65535) is known, so they rescale exactly.
_SIXTEEN_BIT_MODES = {"I;16", "I;16L", "I;16B", "I;16N"}

# PIL modes that convert to RGB without guessing a value range.
_CONVERTIBLE_MODES = {"1", "L", "LA", "P", "PA", "RGB", "RGBA", "RGBX", "RGBa", "CMYK", "YCbCr", "LAB", "HSV", "La"}


def _from_pil(image: Any) -> np.ndarray:
    if image.mode in _SIXTEEN_BIT_MODES:
        wide = np.asarray(image).astype(np.uint32)
        gray = ((wide + 128) // 257).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode not in _CONVERTIBLE_MODES:
        raise InvalidImageError(
            f"cannot convert a PIL image of mode {image.mode!r} to RGB without guessing its value range; "
            f"convert it yourself, e.g. Image.fromarray(np.clip(np.asarray(img) / scale * 255, 0, 255)"
            f".astype('uint8')).convert('RGB'); convertible modes: "
            f"{', '.join(sorted(_CONVERTIBLE_MODES | _SIXTEEN_BIT_MODES))}"
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
    image : str, os.PathLike, PIL.Image.Image or array-like
        An image file (read with :func:`load_image`), a PIL image of a convertible mode,
        or an array ``(H, W)``, ``(H, W, 1)``, ``(H, W, 3)`` or ``(H, W, 4)`` of uint8 or
        floats in [0, 1].
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
    elif isinstance(image, str) or hasattr(image, "__fspath__"):
        array = _from_pil(load_image(image))
    elif isinstance(image, bytes):
        raise InvalidImageError(
            f"got {len(image)} bytes, not an image; pass a file path, a PIL image or an (H, W, 3) uint8 array "
            "(for encoded bytes: PIL.Image.open(io.BytesIO(data)))"
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


def load_image(path: Any, *, max_pixels: int = MAX_IMAGE_PIXELS) -> Any:
    """Read an image file as a PIL RGB image, the same way for the CLI and the library.

    Parameters
    ----------
    path : str or os.PathLike
        A PNG, JPEG, GIF, BMP, TIFF, WebP... file PIL can read.
    max_pixels : int
        Refuse images with more pixels than this (see :data:`MAX_IMAGE_PIXELS`).

    Returns
    -------
    PIL.Image.Image
        Mode ``RGB`` (see the module docstring for what is converted and how).

    Raises
    ------
    InvalidImageError
        Missing or unreadable file, not an image, truncated or damaged data, too many
        pixels, or a mode with no known value range (32-bit int, float).

    Examples
    --------
    >>> import pathlib, tempfile
    >>> import numpy as np
    >>> from PIL import Image
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "deep.png"
    >>> Image.fromarray(np.full((4, 4), 65535, dtype=np.uint16)).save(path)   # 16-bit grayscale
    >>> np.asarray(load_image(path))[0, 0].tolist()                             # rescaled, not clipped
    [255, 255, 255]
    >>> load_image(path.with_name("missing.png"))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    whytoken.errors.InvalidImageError: image file '...missing.png' does not exist; pass the path of a PNG or JPEG ...
    """
    import os
    import struct
    import zlib

    from PIL import Image, ImageOps, UnidentifiedImageError

    name = os.fspath(path)
    shown = repr(str(name))
    if not os.path.exists(name):
        raise InvalidImageError(f"image file {shown} does not exist; pass the path of a PNG or JPEG file (if this "
                                "string is the prompt, pass it as prompt=...)")
    if os.path.isdir(name):
        raise InvalidImageError(f"image path {shown} is a directory; pass an image file inside it")
    try:
        # the size is in the header: refuse before decoding (PIL's own bomb check, at twice its global
        # MAX_IMAGE_PIXELS, fires in open() for the very largest)
        with Image.open(name) as opened:
            width, height = opened.size
            if width * height > max_pixels:
                raise InvalidImageError(
                    f"image {shown} has {width}x{height} = {width * height:,} pixels, more than the "
                    f"{max_pixels:,} accepted; resize it first (the model sees a few hundred pixels a side), or pass "
                    "load_image(path, max_pixels=...) if you trust the file"
                )
            opened.seek(0)
            opened.load()
            image = ImageOps.exif_transpose(opened)  # a loaded copy, usable after the file is closed
    except InvalidImageError:
        raise
    except Image.DecompressionBombError as err:
        raise InvalidImageError(f"image {shown} is too large to decode safely ({err}); resize it first") from err
    except UnidentifiedImageError as err:
        raise InvalidImageError(f"{shown} is not an image file PIL can read; pass a PNG or JPEG file") from err
    except PermissionError as err:
        raise InvalidImageError(f"cannot read image {shown}: permission denied; check the file's permissions") from err
    except (OSError, ValueError, SyntaxError, EOFError, struct.error, zlib.error) as err:
        raise InvalidImageError(f"cannot decode image {shown} ({type(err).__name__}: {err}); the file is truncated "
                                "or damaged: re-export it as PNG or JPEG") from err
    try:
        return to_pil(_from_pil(image))
    except InvalidImageError as err:
        raise InvalidImageError(f"image {shown}: {err}") from None


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
