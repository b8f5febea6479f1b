"""easy-VQA ground truth: masks derived from real pixels, question types, splits and samples (torch-free)."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from whytoken.errors import ConfigError, InvalidImageError, InvalidParameterError

pytest.importorskip("easy_vqa", reason="easy-VQA's data: pip install easy-vqa==1.0 (setup_env.py --dev)")

from whytoken.experiments.worlds.easyvqa import (  # noqa: E402
    COLORS,
    PALETTE,
    QUESTION_TYPES,
    SHAPES,
    blank_patches,
    demo_sample,
    get_sample,
    image_ids,
    is_absent,
    load_samples,
    nearest_color,
    parse_question,
    shape_labels,
    shape_mask,
    vocabulary,
)
from whytoken.experiments.worlds.easyvqa.questions import QUESTION_WORDS  # noqa: E402
from whytoken.experiments.worlds.easyvqa.samples import image_mask  # noqa: E402
from whytoken.experiments.worlds.easyvqa.source import load_image, source_questions  # noqa: E402

#: A seeded sample of real images from every split (masks take a few ms each).
_RNG = np.random.default_rng(12)
IMAGES = [(split, int(i)) for split in ("train", "val", "test")
          for i in _RNG.choice(image_ids(split), size=100, replace=False)]


# ----------------------------------------------------------------------------- masks on real images
@pytest.mark.parametrize("split, image_id", IMAGES[::3])
def test_mask_is_one_plausible_shape_that_explains_every_pixel(split, image_id):
    mask = image_mask(split, image_id)
    # shape_mask already refused images with residual > 4 or != 1 connected component
    assert mask.residual <= 1.5  # 8-bit rounding of a two-colour blend
    assert 30 <= mask.area <= 1100 and 3 <= len(mask.patches) <= 30
    assert mask.shape_rgb in PALETTE.values() and mask.color in COLORS
    assert min(mask.background) >= 230  # easy-VQA's pale tints
    assert np.isclose(sum(mask.fractions) * 64, mask.area)  # coverage is the alpha, patch by patch
    assert all(0 < f <= 1 for f in mask.fractions)
    # the mask is the set of pixels at least as near the shape colour as the background
    pixels = np.asarray(load_image(split, image_id), dtype=float)
    nearer = (np.linalg.norm(pixels - mask.shape_rgb, axis=-1) <= np.linalg.norm(pixels - mask.background, axis=-1))
    assert (nearer != mask.mask).sum() <= 0.01 * mask.mask.sum() + 2


@pytest.mark.parametrize("split, image_id", IMAGES[1::9])
def test_painting_background_patches_leaves_the_image_unchanged_and_the_cause_patches_remove_the_shape(split, image_id):
    image, mask = load_image(split, image_id), image_mask(split, image_id)
    assert np.array_equal(np.asarray(blank_patches(image, mask.background_patches(), mask.background)),
                          np.asarray(image))
    painted = blank_patches(image, mask.patches, mask.background)
    assert (np.asarray(painted) == np.asarray(mask.background, dtype=np.uint8)).all()
    with pytest.raises(InvalidImageError, match="flat"):
        shape_mask(painted)


def test_mask_colour_matches_every_colour_answer_and_every_yes_no_colour_answer():
    images = {(s, i) for s, i in IMAGES}
    checked = Counter()
    for split in ("train", "val", "test"):
        texts, _, ids = source_questions(split)
        for index, (text, image_id) in enumerate(zip(texts, ids)):
            if (split, image_id) not in images or parse_question(text).qtype not in ("color", "yes_no_color"):
                continue
            s = get_sample(f"easyvqa/{split}/{index}")
            mean = nearest_color(s.mask.mean_rgb)
            if s.qtype == "color":
                assert s.mask.color == mean == s.answer, s.sample_id
            else:
                assert (s.mask.color == parse_question(s.question).value) == (not s.absent), s.sample_id
            checked[s.qtype] += 1
    assert checked["color"] > 50 and checked["yes_no_color"] > 300


def test_shape_labels_from_questions_agree_with_the_masks_geometry():
    # a rectangle fills its bounding box, a triangle about half of it, a circle pi/4; small shapes blur this
    labels = shape_labels("val")
    assert len(labels) > 300 and set(labels.values()) == set(SHAPES)
    fill = {shape: [] for shape in SHAPES}
    for image_id, shape in labels.items():
        mask = image_mask("val", image_id)
        rows, cols = np.nonzero(mask.mask)
        fill[shape].append(mask.area / ((np.ptp(rows) + 1) * (np.ptp(cols) + 1)))
    medians = {shape: float(np.median(v)) for shape, v in fill.items()}
    assert medians["triangle"] < 0.6 < medians["circle"] < 0.9 < medians["rectangle"]


def test_mask_patch_coverage_is_exact_on_a_synthetic_shape():
    pixels = np.full((64, 64, 3), 240, dtype=np.uint8)
    pixels[4:20, 8:14] = (165, 42, 42)
    pixels[20, 8:14] = (202, 141, 141)  # a half-covered row, blended as an anti-aliased edge
    mask = shape_mask(pixels)
    assert mask.color == "brown" and mask.background == (240, 240, 240)
    assert dict(zip(mask.patches, [round(f, 4) for f in mask.fractions])) == {
        (0, 1): 0.375, (1, 1): 0.75, (2, 1): round((6 * 4 + 3) / 64, 4)}
    assert mask.patches_covering(0.5) == ((1, 1),)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda p: p[..., 0].copy(), "expected an RGB image"),
        (lambda p: p.astype(np.float32), "expected an RGB image"),
        (lambda p: np.full_like(p, 240), "flat"),
        (lambda p: _two_shapes(p), "2 connected components"),
        (lambda p: _noisy(p), "deviates"),
    ],
)
def test_mask_refuses_images_that_are_not_one_flat_shape(make, match):
    pixels = np.full((64, 64, 3), 240, dtype=np.uint8)
    pixels[10:20, 10:20] = (0, 0, 255)
    with pytest.raises(InvalidImageError, match=match):
        shape_mask(make(pixels))


def _two_shapes(pixels: np.ndarray) -> np.ndarray:
    pixels = pixels.copy()
    pixels[40:50, 40:50] = (0, 0, 255)
    return pixels


def _noisy(pixels: np.ndarray) -> np.ndarray:
    pixels = pixels.copy()
    pixels[30:34, 30:34] = (255, 0, 0)  # a third colour
    return pixels


def test_mask_and_blank_refuse_bad_patches():
    pixels = np.full((64, 64, 3), 240, dtype=np.uint8)
    pixels[10:20, 10:20] = 0
    with pytest.raises(InvalidParameterError, match="patch_size=7"):
        shape_mask(pixels, patch_size=7)
    with pytest.raises(InvalidParameterError, match=r"\(8, 0\) is outside"):
        blank_patches(pixels, [(8, 0)], (240, 240, 240))
    with pytest.raises(InvalidParameterError, match="min_fraction"):
        shape_mask(pixels).patches_covering(0.0)


# ----------------------------------------------------------------------------- questions
def test_every_question_has_a_type_and_its_answers_fit_the_type():
    answers_of = {"color": set(COLORS), "shape": set(SHAPES), "yes_no_shape": {"yes", "no"},
                  "yes_no_color": {"yes", "no"}}
    counts = Counter()
    for split in ("train", "test"):
        texts, answers, _ = source_questions(split)
        for text, answer in set(zip(texts, answers)):
            parsed = parse_question(text)
            assert answer in answers_of[parsed.qtype], (text, answer)
            counts[parsed.qtype] += 1
    assert set(counts) == set(QUESTION_TYPES)


@pytest.mark.parametrize(
    "text, qtype, words, negated",
    [
        ("what color is the circle?", "color", ("color",), False),
        ("what is the color of the shape?", "color", ("color",), False),
        ("what is the teal shape?", "shape", ("shape",), False),
        ("what shape does the image contain?", "shape", ("shape",), False),
        ("does the image not contain a triangle?", "yes_no_shape", ("not", "triangle"), True),
        ("is no gray shape present?", "yes_no_color", ("no", "gray"), True),
        ("is there a red shape in the image?", "yes_no_color", ("red",), False),
    ],
)
def test_parse_question_types_and_words_that_matter(text, qtype, words, negated):
    parsed = parse_question(text)
    assert (parsed.qtype, parsed.cause_word_strings, parsed.negated) == (qtype, words, negated)


def test_condition_words_name_the_values_a_what_question_mentions():
    parsed = parse_question("what is the teal shape?")
    assert [parsed.words[i] for i in parsed.condition_words] == ["teal"]
    assert is_absent(parse_question("is there a red shape?"), "no")
    assert not is_absent(parse_question("is no red shape present?"), "no")


@pytest.mark.parametrize("text", ["", "what is love?", "is there a red circle?", "what is the?"])
def test_parse_question_refuses_questions_easy_vqa_does_not_ask(text):
    with pytest.raises(InvalidParameterError):
        parse_question(text)


def test_vocabulary_covers_every_train_and_test_word():
    words = set(vocabulary())
    for split in ("train", "test"):
        texts, answers, _ = source_questions(split)
        assert {w for t in texts for w in parse_question(t).words} <= set(QUESTION_WORDS) <= words
        assert set(answers) <= words


# ----------------------------------------------------------------------------- splits and samples
def test_validation_images_are_carved_from_train_by_a_seeded_draw():
    train, val, test = (set(image_ids(s)) for s in ("train", "val", "test"))
    assert len(val) == 400 and len(train) == 3600 and len(test) == 1000 and not train & val
    assert train | val == set(range(4000))
    samples = load_samples("val", order="source")
    assert {s.image_id for s in samples} == val and all(s.split == "val" for s in samples)


def test_balanced_order_cycles_the_types_and_ids_read_back():
    samples = load_samples("test", 12, offset=4)
    assert [s.qtype for s in samples] == list(QUESTION_TYPES) * 3
    for s in samples[:4]:
        again = get_sample(s.sample_id)
        assert again == s and again.cause_patches == s.cause_patches
        texts, answers, ids = source_questions("test")
        assert (texts[s.index], answers[s.index], ids[s.index]) == (s.source_question, s.answer, s.image_id)
    assert load_samples("test", 3, order="source")[0].sample_id == "easyvqa/test/0"


def test_absent_answers_have_no_cause_patches_and_others_have_the_shape():
    for s in load_samples("test", 40):
        assert s.words[-3:] == ["<image>", "answer", ":"]
        assert all(s.words[i] == parse_question(s.question).words[i] for i in s.cause_words)
        if s.absent:
            assert s.cause_patches == () and s.object_patches
        else:
            assert s.cause_patches == s.mask.patches and len(s.cause_fractions) == len(s.cause_patches)
        assert s.to_dict()["cause_words"] == list(s.cause_words)


def test_demo_sample_is_a_test_sample_with_ground_truth():
    s = demo_sample()
    assert s.split == "test" and not s.absent and s.cause_patches and s.cause_word_strings


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: load_samples("dev"), "split='dev'"),
        (lambda: load_samples("test", qtypes=["count"]), "qtypes"),
        (lambda: load_samples("test", order="random"), "order"),
        (lambda: load_samples("test", -1), "non-negative"),
        (lambda: get_sample("easyvqa/test/x"), "expected 'easyvqa"),
        (lambda: get_sample(f"easyvqa/val/{_question_of_a_train_image()}"), "not in the 'val' split"),
        (lambda: load_image("val", image_ids("train")[0]), "not in the 'val' split"),
    ],
)
def test_bad_requests_raise_whytoken_errors(call, match):
    with pytest.raises(InvalidParameterError, match=match):
        call()


def _question_of_a_train_image() -> int:
    return source_questions("train")[2].index(image_ids("train")[0])


def test_missing_easy_vqa_package_is_a_config_error(monkeypatch):
    import sys

    from whytoken.experiments.worlds.easyvqa import source

    monkeypatch.setitem(sys.modules, "easy_vqa", None)
    source._source.cache_clear()
    try:
        with pytest.raises(ConfigError, match="pip install easy-vqa==1.0"):
            source.source_questions("test")
    finally:
        monkeypatch.undo()
        source._source.cache_clear()
