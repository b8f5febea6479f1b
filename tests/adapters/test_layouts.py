"""Image provenance: which patch and which pixel box of the original image each image token stands for."""

from __future__ import annotations

import numpy as np
import pytest

from whytoken.adapters import TokenKind, load_model
from whytoken.adapters.images import blank_boxes

from .tiny import (random_image, tiny_idefics3, tiny_llava, tiny_llava_next, tiny_paligemma,
                   tiny_qwen2_vl)

# PaliGemma's processor calls np.array(..., copy=False) on a list, which numpy 2 deprecates (not ours)
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


def _patches(trace, image_index=0, grid=None):
    return [p for p in trace.positions if p.kind is TokenKind.IMAGE_PATCH and p.image_index == image_index]


def test_llava_boxes_follow_resize_and_centre_crop():
    model, processor = tiny_llava(seed=0, image_side=32, patch=8)
    adapter = load_model(model, processor)
    trace = adapter.trace(random_image(40, 48), "what is it", max_new_tokens=1)
    # shortest edge 40 -> 32 (scale 0.8), width 48 -> 38, centre crop 32 drops 3 px on the left
    assert trace.patch_grid == (4, 4) and trace.image_size == (48, 40)
    boxes = {p.patch: p.box for p in _patches(trace)}
    assert len(boxes) == 16
    scale = 48 / 38
    for (r, c), (x0, y0, x1, y1) in boxes.items():
        assert x0 == int(np.floor((8 * c + 3) * scale + 1e-6)) and x1 == int(np.ceil((8 * c + 11) * scale - 1e-6))
        assert (y0, y1) == (10 * r, 10 * r + 10)


@pytest.mark.parametrize("build, kwargs", [
    (tiny_llava, {}),
    (tiny_llava, {"pad_to_square": True}),
    (tiny_paligemma, {}),
], ids=["llava-crop", "llava-pad-to-square", "paligemma-resize"])
def test_blanking_a_box_changes_that_patch_of_the_processed_image(build, kwargs):
    model, processor = build(seed=0, **kwargs)
    adapter = load_model(model, processor)
    image = random_image(40, 56, seed=5)
    trace = adapter.trace(image, "what is it", max_new_tokens=1)
    patch_px = trace.model_info["image_layouts"][0]["grids"][0]["patch_px"]
    before = adapter._process_images([image])["pixel_values"][0].abs().sum(0).numpy()
    for target in ((1, 2), (3, 0), (2, 3)):
        position = next(p for p in _patches(trace) if p.patch == target)
        after = adapter._process_images([blank_boxes(image, [position.box])])["pixel_values"][0]
        diff = np.abs(after.abs().sum(0).numpy() - before)
        r, c = target
        margin = 2  # resampling filters spill over a pixel or two
        inside = diff[max(0, r * patch_px - margin):(r + 1) * patch_px + margin,
                      max(0, c * patch_px - margin):(c + 1) * patch_px + margin].sum()
        assert diff.sum() > 0 and inside / diff.sum() > 0.9


def test_qwen2_vl_merged_grid_and_boxes():
    model, processor = tiny_qwen2_vl(seed=0, patch=4)
    adapter = load_model(model, processor)
    trace = adapter.trace(random_image(32, 48), "what is it", max_new_tokens=1)
    # 32x48 is already a multiple of patch*merge = 8: grid 8x12 patches, merged 4x6 tokens of 8x8 pixels
    assert trace.patch_grid == (4, 6)
    patches = _patches(trace)
    assert [p.patch for p in patches] == [(r, c) for r in range(4) for c in range(6)]
    assert all(p.box == (8 * c, 8 * r, 8 * c + 8, 8 * r + 8) for p in patches for r, c in [p.patch])
    start = trace.positions[patches[0].index - 1]
    assert start.kind is TokenKind.SPECIAL and start.text == "<|vision_start|>"


def test_qwen2_vl_resized_image_boxes_scale_back():
    model, processor = tiny_qwen2_vl(seed=0, patch=4)
    adapter = load_model(model, processor)
    trace = adapter.trace(random_image(30, 50), "what is it", max_new_tokens=1)
    rows, cols = trace.patch_grid
    patches = _patches(trace)
    assert len(patches) == rows * cols
    assert max(p.box[2] for p in patches) == 50 and max(p.box[3] for p in patches) == 30
    assert min(p.box[0] for p in patches) == 0 and min(p.box[1] for p in patches) == 0


def test_llava_next_base_highres_and_newlines():
    model, processor = tiny_llava_next(seed=0)
    adapter = load_model(model, processor)
    trace = adapter.trace(random_image(30, 50), "what is it", max_new_tokens=1)
    base, highres = trace.model_info["image_layouts"][0]["grids"]
    assert (base["name"], base["rows"], base["cols"]) == ("base", 4, 4)
    image_run = [p for p in trace.positions if p.image_index == 0]
    newlines = [p for p in image_run if p.kind is TokenKind.SPECIAL]
    patches = [p for p in image_run if p.kind is TokenKind.IMAGE_PATCH]
    assert len(patches) == 16 + highres["rows"] * highres["cols"]
    assert len(newlines) == highres["rows"] and all(p.text == "<image_newline>" for p in newlines)
    # the run is: base grid row-major, then each high-resolution row followed by its newline
    assert [p.patch for p in image_run[:16]] == [(r, c) for r in range(4) for c in range(4)]
    row_ends = [i for i, p in enumerate(image_run) if p.kind is TokenKind.SPECIAL]
    assert row_ends == [16 + (highres["cols"] + 1) * (k + 1) - 1 for k in range(highres["rows"])]
    hires = patches[16:]
    # the unpadded high-resolution grid covers the whole picture and nothing outside it
    assert min(p.box[0] for p in hires) <= 3 and max(p.box[2] for p in hires) >= 47
    assert min(p.box[1] for p in hires) == 0 and max(p.box[3] for p in hires) == 30


def test_idefics3_tiles_and_global_view():
    model, processor = tiny_idefics3(seed=0)
    adapter = load_model(model, processor)
    trace = adapter.trace(random_image(40, 56), "what is it", max_new_tokens=1)
    tiles, global_view = trace.model_info["image_layouts"][0]["grids"]
    assert tiles["name"] == "tiles" and global_view["name"] == "global"
    patches = _patches(trace)
    assert len(patches) == tiles["rows"] * tiles["cols"] + global_view["rows"] * global_view["cols"]
    glob = patches[-global_view["rows"] * global_view["cols"]:]
    assert {p.box[0] for p in glob} >= {0} and max(p.box[2] for p in glob) == 56 and max(p.box[3] for p in glob) == 40
    specials = {p.text for p in trace.positions if p.kind is TokenKind.SPECIAL}
    assert {"<fake_token_around_image>", "<row_1_col_1>", "<global-img>"} <= specials


def test_two_images_have_their_own_patches_and_pixels():
    model, processor = tiny_llava(seed=0)
    adapter = load_model(model, processor)
    first, second = random_image(32, 40, seed=1), random_image(36, 36, seed=2)
    trace = adapter.trace([first, second], "what differs", max_new_tokens=1)
    assert len(trace.images) == 2 and trace.image_size == (40, 32)
    a, b = _patches(trace, 0), _patches(trace, 1)
    assert len(a) == len(b) == 16 and a[-1].index < b[0].index
    from whytoken.adapters.interventions import RowEdit, get_intervention

    row = RowEdit(attention_mask=np.ones(trace.n_positions, dtype=np.int64))
    get_intervention("pixel").apply(row, trace, (b[0].index,))
    np.testing.assert_array_equal(row.images[0], first)
    assert not np.array_equal(row.images[1], second)
    prediction = adapter.predict(trace, -1, removed=[b[0].index, b[5].index], kind="pixel")
    assert prediction.original_token_prob_after != pytest.approx(trace.generated[-1].prob, rel=1e-7)


def test_qwen2_vl_token_order_matches_the_patch_rows_of_pixel_values():
    """Blanking token k's box changes exactly the k-th group of merge*merge patch rows of ``pixel_values``."""
    model, processor = tiny_qwen2_vl(seed=0, patch=4)
    adapter = load_model(model, processor)
    image = random_image(32, 48, seed=6)  # a multiple of 8: no resampling, so the check is exact
    trace = adapter.trace(image, "what is it", max_new_tokens=1)
    before = adapter._process_images([image])["pixel_values"].numpy()
    for k in (0, 7, 23):
        box = _patches(trace)[k].box
        after = adapter._process_images([blank_boxes(image, [box])])["pixel_values"].numpy()
        changed = np.flatnonzero(np.abs(after - before).sum(-1) > 0)
        assert set(changed) <= set(range(4 * k, 4 * k + 4)) and len(changed) > 0
