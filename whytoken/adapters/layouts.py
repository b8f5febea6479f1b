"""Image layouts: which patch of which image each image token stands for.

A vision-language model replaces each image placeholder in the prompt with a
run of image tokens. How those tokens map back to the picture differs by
family; each way is one *layout*, named in the architecture table
(:mod:`whytoken.adapters.architectures`):

``square``
    LLaVA-1.5, PaliGemma: the image is padded/resized/cropped to a square and
    cut into a ``(rows, cols)`` grid of ``patch_size`` patches, read row by
    row; an optional leading CLS token (``vision_feature_select_strategy ==
    "full"``) is a special token.
``merged``
    Qwen2-VL / Qwen2.5-VL: the image is resized to multiples of
    ``patch_size * spatial_merge_size``; each token is a merged block of
    ``merge x merge`` patches, read row by row over the merged grid.
``anyres``
    LLaVA-NeXT: a low-resolution base view (square grid) followed by the
    high-resolution tiles stitched into one grid, unpadded, with one
    "newline" token ending each row. The token order is read off the model's
    own ``pack_image_features`` applied to coordinate features, so it matches
    the model exactly.
``tiled``
    Idefics3 / SmolVLM: the resized image is split into tiles plus a global
    view; each tile's patches are pixel-shuffled into ``scale_factor^2``
    blocks. Token order again comes from the model's own ``pixel_shuffle``
    applied to coordinates.

Grid sizes come from the processed tensors and the configs, never from
constants. Pixel boxes are mapped back through the processor's own geometry
(pad, resize, crop) into the original image; they are half-open and clipped.

Layouts import torch; they run inside an adapter.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from whytoken.errors import AdapterError, UnknownAdapterError

__all__ = ["ImageToken", "ImageLayout", "IMAGE_LAYOUTS", "get_layout", "square_geometry"]


@dataclass(frozen=True)
class ImageToken:
    """One image-placeholder token: a patch (``patch``/``box`` set) or a special image token (``label``)."""

    patch: tuple[int, int] | None = None
    box: tuple[int, int, int, int] | None = None
    grid: str = ""
    label: str | None = None

    @property
    def is_patch(self) -> bool:
        return self.patch is not None


@dataclass(frozen=True)
class ImageLayout:
    """The image tokens of one image, in sequence order, and the grids they form.

    ``grids`` is a tuple of JSON-able dicts ``{"name", "rows", "cols", "patch_px"}``;
    the first is the image's primary grid (a trace's ``patch_grid``).
    """

    tokens: tuple[ImageToken, ...]
    grids: tuple[dict[str, Any], ...]

    @property
    def primary_grid(self) -> tuple[int, int]:
        return int(self.grids[0]["rows"]), int(self.grids[0]["cols"])


# ------------------------------------------------------------------ geometry
def _size_get(size: Any, key: str) -> Any:
    if size is None:
        return None
    if isinstance(size, Mapping):
        return size.get(key)
    return getattr(size, key, None)


def _resize_output(size: Any, height: int, width: int) -> tuple[int, int]:
    """Output (height, width) of the PIL/torchvision backends' ``resize`` for a size dict."""
    shortest, longest = _size_get(size, "shortest_edge"), _size_get(size, "longest_edge")
    if shortest and longest:
        from transformers.image_transforms import get_size_with_aspect_ratio

        return tuple(get_size_with_aspect_ratio((height, width), shortest, longest))  # type: ignore[return-value]
    if shortest:
        short, long = (width, height) if width <= height else (height, width)
        new_short, new_long = shortest, int(shortest * long / short)
        return (new_long, new_short) if width <= height else (new_short, new_long)
    if _size_get(size, "height") and _size_get(size, "width"):
        return int(_size_get(size, "height")), int(_size_get(size, "width"))
    if _size_get(size, "max_height") and _size_get(size, "max_width"):
        scale = min(_size_get(size, "max_height") / height, _size_get(size, "max_width") / width)
        return max(1, int(height * scale)), max(1, int(width * scale))
    raise AdapterError(f"cannot work out the resize geometry of the image processor size {size!r}")


def square_geometry(image_processor: Any, height: int, width: int) -> Callable[[float, float], tuple[float, float]]:
    """Map a point of the processed (square) image back to the original image.

    Follows the processor's own steps: LLaVA's centred pad-to-square (when
    ``do_pad`` and the processor has ``pad_to_square``), the resize, then the
    centre crop.

    Returns
    -------
    callable
        ``(x, y)`` processed pixels -> ``(x, y)`` original pixels.
    """
    pad_x = pad_y = 0
    canvas_h, canvas_w = height, width
    if getattr(image_processor, "do_pad", False) and hasattr(image_processor, "pad_to_square"):
        side = max(height, width)
        pad_x, pad_y = (side - width) // 2, (side - height) // 2
        canvas_h = canvas_w = side
    if getattr(image_processor, "do_resize", True):
        res_h, res_w = _resize_output(getattr(image_processor, "size", None), canvas_h, canvas_w)
    else:
        res_h, res_w = canvas_h, canvas_w
    top = left = 0
    crop = getattr(image_processor, "crop_size", None)
    if getattr(image_processor, "do_center_crop", False) and _size_get(crop, "height"):
        crop_h, crop_w = int(_size_get(crop, "height")), int(_size_get(crop, "width"))
        top = (res_h - crop_h) // 2 if crop_h <= res_h else -math.ceil((crop_h - res_h) / 2)
        left = (res_w - crop_w) // 2 if crop_w <= res_w else -math.ceil((crop_w - res_w) / 2)

    def to_original(x: float, y: float) -> tuple[float, float]:
        return (x + left) * canvas_w / res_w - pad_x, (y + top) * canvas_h / res_h - pad_y

    return to_original


def _box(to_original: Callable[[float, float], tuple[float, float]], x0: float, y0: float, x1: float, y1: float,
         height: int, width: int) -> tuple[int, int, int, int]:
    ox0, oy0 = to_original(x0, y0)
    ox1, oy1 = to_original(x1, y1)
    bx0 = int(min(max(math.floor(ox0 + 1e-6), 0), width))
    by0 = int(min(max(math.floor(oy0 + 1e-6), 0), height))
    bx1 = int(min(max(math.ceil(ox1 - 1e-6), 0), width))
    by1 = int(min(max(math.ceil(oy1 - 1e-6), 0), height))
    return bx0, by0, max(bx1, bx0), max(by1, by0)


def _scale_geometry(orig_h: int, orig_w: int, proc_h: int, proc_w: int
                    ) -> Callable[[float, float], tuple[float, float]]:
    def to_original(x: float, y: float) -> tuple[float, float]:
        return x * orig_w / proc_w, y * orig_h / proc_h

    return to_original


# ------------------------------------------------------------------- layouts
def square_layout(model: Any, processor: Any, image: np.ndarray, inputs: Mapping[str, Any], index: int) -> ImageLayout:
    """LLaVA-1.5 / PaliGemma: one square grid, row-major."""
    config = model.config
    patch = int(config.vision_config.patch_size)
    pixel_values = inputs["pixel_values"]
    proc_h, proc_w = (int(s) for s in pixel_values[index].shape[-2:])
    rows, cols = proc_h // patch, proc_w // patch
    height, width = image.shape[:2]
    to_original = square_geometry(processor.image_processor, height, width)
    tokens: list[ImageToken] = []
    if getattr(config, "vision_feature_select_strategy", None) == "full":
        tokens.append(ImageToken(label="<image_cls>"))
    for r in range(rows):
        for c in range(cols):
            box = _box(to_original, c * patch, r * patch, (c + 1) * patch, (r + 1) * patch, height, width)
            tokens.append(ImageToken(patch=(r, c), box=box, grid="base"))
    return ImageLayout(tuple(tokens), ({"name": "base", "rows": rows, "cols": cols, "patch_px": patch},))


def merged_layout(model: Any, processor: Any, image: np.ndarray, inputs: Mapping[str, Any], index: int) -> ImageLayout:
    """Qwen2-VL / Qwen2.5-VL: merged ``merge x merge`` patch blocks, row-major over the merged grid."""
    vision = model.config.vision_config
    patch = int(vision.patch_size)
    merge = int(vision.spatial_merge_size)
    t, h, w = (int(v) for v in inputs["image_grid_thw"][index].tolist())
    rows, cols = h // merge, w // merge
    height, width = image.shape[:2]
    to_original = _scale_geometry(height, width, h * patch, w * patch)
    block = patch * merge
    tokens = [
        ImageToken(patch=(r, c), box=_box(to_original, c * block, r * block, (c + 1) * block, (r + 1) * block,
                                          height, width), grid="merged")
        for _ in range(t)
        for r in range(rows)
        for c in range(cols)
    ]
    return ImageLayout(tuple(tokens), ({"name": "merged", "rows": rows, "cols": cols, "patch_px": block},))


def anyres_layout(model: Any, processor: Any, image: np.ndarray, inputs: Mapping[str, Any], index: int) -> ImageLayout:
    """LLaVA-NeXT: base grid, then the unpadded high-resolution grid with a newline token per row."""
    import torch
    from transformers.image_processing_utils import get_patch_output_size, select_best_resolution
    from transformers.models.llava_next.modeling_llava_next import get_anyres_image_grid_shape

    config = model.config
    side = int(config.vision_config.image_size)
    patch = int(config.vision_config.patch_size)
    grid = side // patch
    height, width = image.shape[:2]
    image_size = [int(v) for v in inputs["image_sizes"][index].tolist()]  # (height, width)
    tiles_h, tiles_w = get_anyres_image_grid_shape(image_size, config.image_grid_pinpoints, side)
    n_tiles = 1 + tiles_h * tiles_w
    # coordinate features (tile, row, col, 1) pushed through the model's own packing
    tile_idx = torch.arange(n_tiles).repeat_interleave(grid * grid)
    rr = torch.arange(grid).repeat_interleave(grid).repeat(n_tiles)
    cc = torch.arange(grid).repeat(grid * n_tiles)
    coords = torch.stack([tile_idx, rr, cc, torch.ones_like(cc)], dim=-1).float().view(n_tiles, grid * grid, 4)
    newline = torch.tensor([-1.0, -1.0, -1.0, -1.0])
    packer = model.model if hasattr(model.model, "pack_image_features") else model
    packed, _ = packer.pack_image_features(
        [coords], torch.tensor([image_size]), getattr(config, "vision_feature_select_strategy", "default"),
        image_newline=newline,
    )
    packed = packed[0].round().long().tolist()

    base_map = _scale_geometry(height, width, side, side)
    best_h, best_w = select_best_resolution((height, width), config.image_grid_pinpoints)
    new_h, new_w = get_patch_output_size(np.zeros((height, width, 3)), (best_h, best_w),
                                         input_data_format="channels_last")
    paste_y, paste_x = (best_h - new_h) // 2, (best_w - new_w) // 2

    def hires_map(x: float, y: float) -> tuple[float, float]:
        return (x - paste_x) * width / new_w, (y - paste_y) * height / new_h

    hires = [(tr // tiles_w * grid + r, tr % tiles_w * grid + c) for t, r, c, one in packed if t >= 1
             for tr in (t - 1,)]
    r0 = min((p[0] for p in hires), default=0)
    c0 = min((p[1] for p in hires), default=0)
    tokens: list[ImageToken] = []
    for t, r, c, one in packed:
        if one < 0:
            tokens.append(ImageToken(label="<image_newline>"))
        elif t == 0:
            tokens.append(ImageToken(patch=(r, c), grid="base", box=_box(
                base_map, c * patch, r * patch, (c + 1) * patch, (r + 1) * patch, height, width)))
        else:
            big_r = (t - 1) // tiles_w * grid + r
            big_c = (t - 1) % tiles_w * grid + c
            tokens.append(ImageToken(patch=(big_r - r0, big_c - c0), grid="highres", box=_box(
                hires_map, big_c * patch, big_r * patch, (big_c + 1) * patch, (big_r + 1) * patch, height, width)))
    hi_rows = 1 + max((p[0] for p in hires), default=-1) - r0
    hi_cols = 1 + max((p[1] for p in hires), default=-1) - c0
    grids = ({"name": "base", "rows": grid, "cols": grid, "patch_px": patch},
             {"name": "highres", "rows": hi_rows, "cols": hi_cols, "patch_px": patch,
              "tiles": [tiles_h, tiles_w], "resolution": [best_h, best_w]})
    return ImageLayout(tuple(tokens), grids)


def tiled_layout(model: Any, processor: Any, image: np.ndarray, inputs: Mapping[str, Any], index: int) -> ImageLayout:
    """Idefics3 / SmolVLM: tiles row by row, then the global view; pixel-shuffled blocks within each.

    The processor resizes the image to ``(rows * T, cols * T)`` (``T`` the
    vision tower's image size) and cuts it into ``rows x cols`` tiles of
    ``T x T`` plus a global view (the whole image resized to ``T x T``); with
    ``rows == cols == 0`` there is only the global view.
    """
    import torch

    from whytoken.adapters.images import to_pil

    config = model.config
    patch = int(config.vision_config.patch_size)
    tile = int(config.vision_config.image_size)
    scale = int(config.scale_factor)
    grid = tile // patch
    cells_per_side = grid // scale
    height, width = image.shape[:2]
    info = processor.image_processor(images=[[to_pil(image)]], return_row_col_info=True, return_tensors="pt")
    n_rows, n_cols = int(info["rows"][0][0]), int(info["cols"][0][0])
    # coordinate probe through the connector's own pixel shuffle: which patches each token merges
    coords = torch.stack(torch.meshgrid(torch.arange(grid), torch.arange(grid), indexing="ij"), dim=-1)
    shuffled = model.model.connector.pixel_shuffle(coords.reshape(1, grid * grid, 2).float(), scale)
    shuffled = shuffled.reshape(shuffled.shape[1], scale * scale, 2)
    cells = [(int(block[:, 0].min()) // scale, int(block[:, 1].min()) // scale) for block in shuffled]
    block_px = patch * scale
    tokens: list[ImageToken] = []
    grids: list[dict[str, Any]] = []
    if n_rows * n_cols > 0:
        to_original = _scale_geometry(height, width, n_rows * tile, n_cols * tile)
        for tr in range(n_rows):
            for tc in range(n_cols):
                for r, c in cells:
                    x0, y0 = tc * tile + c * block_px, tr * tile + r * block_px
                    tokens.append(ImageToken(
                        patch=(tr * cells_per_side + r, tc * cells_per_side + c), grid="tiles",
                        box=_box(to_original, x0, y0, x0 + block_px, y0 + block_px, height, width)))
        grids.append({"name": "tiles", "rows": n_rows * cells_per_side, "cols": n_cols * cells_per_side,
                      "patch_px": block_px, "tiles": [n_rows, n_cols]})
    global_map = _scale_geometry(height, width, tile, tile)
    for r, c in cells:
        tokens.append(ImageToken(patch=(r, c), grid="global", box=_box(
            global_map, c * block_px, r * block_px, (c + 1) * block_px, (r + 1) * block_px, height, width)))
    grids.append({"name": "global", "rows": cells_per_side, "cols": cells_per_side, "patch_px": block_px})
    return ImageLayout(tuple(tokens), tuple(grids))


#: Layout name -> function ``(model, processor, image, image_inputs, index) -> ImageLayout``.
IMAGE_LAYOUTS: dict[str, Callable[..., ImageLayout]] = {
    "square": square_layout,
    "merged": merged_layout,
    "anyres": anyres_layout,
    "tiled": tiled_layout,
}


def get_layout(name: str) -> Callable[..., ImageLayout]:
    """The layout function registered under ``name``."""
    try:
        return IMAGE_LAYOUTS[name]
    except KeyError:
        raise UnknownAdapterError(
            f"image layout {name!r} is not implemented; known layouts: {', '.join(sorted(IMAGE_LAYOUTS))}"
        ) from None


def flatten(layouts: Sequence[ImageLayout]) -> list[tuple[int, ImageToken]]:
    """``(image_index, token)`` for every image token of all images, in order."""
    return [(i, token) for i, layout in enumerate(layouts) for token in layout.tokens]
