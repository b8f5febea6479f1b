"""The 576-patch world: geometry, exact patch coverage, questions and their ground truth."""

from __future__ import annotations

import numpy as np
import pytest

from whytoken.errors import ConfigError, InvalidParameterError
from whytoken.experiments.worlds.world576.scene import shape_mask
from whytoken.experiments.worlds.world576 import (
    ABSENT_ANSWERS,
    KINDS,
    RELATIONS,
    Scene,
    SceneObject,
    WorldConfig,
    blank_patches,
    generate,
    make_sample,
    patch_coverage,
    questions_about,
    render_scene,
)

WORLD = WorldConfig()
#: An offset into the test split whose first 20 relation questions include a "none" answer.
RELATION_NONE_OFFSET = 0


@pytest.fixture(scope="module")
def samples():
    return generate("test", 30)


def test_geometry_is_llava_15():
    assert (WORLD.image_size, WORLD.patch_size, WORLD.patch_grid, WORLD.num_patches) == (336, 14, 24, 576)


@pytest.mark.parametrize("bad", [dict(patch_size=15), dict(slot_grid=5), dict(min_size=80), dict(absent_rate=1.0),
                                 dict(max_objects=20), dict(protrusion=40)])
def test_bad_config_raises(bad):
    with pytest.raises(ConfigError):
        WorldConfig(**bad)


def test_coverage_is_exact_for_an_axis_aligned_square():
    # a square of side 0.84 * 50 = 42 px centred at (35, 35): pixel centres in [14, 56] -> pixels 14..55
    obj = SceneObject("square", "red", 0, 0, cy=35.0, cx=35.0, size=50.0, rgb=(220, 40, 40))
    rendering = render_scene(Scene((obj,), background_seed=1))
    assert np.array_equal(np.argwhere(rendering.labels == 0).min(0), [14, 14])
    assert np.array_equal(np.argwhere(rendering.labels == 0).max(0), [55, 55])
    coverage = patch_coverage(rendering.labels, 1)[0]
    assert coverage == {(r, c): 1.0 for r in (1, 2, 3) for c in (1, 2, 3)}


def test_coverage_of_a_misaligned_square_has_exact_fractions():
    # half side 0.42 * 25 = 10.5 px around (30, 30): pixel centres 19.5 ... 40.5 -> pixels 19..40 (22 px)
    obj = SceneObject("square", "blue", 0, 0, cy=30.0, cx=30.0, size=25.0, rgb=(40, 80, 230))
    coverage = patch_coverage(render_scene(Scene((obj,))).labels, 1)[0]
    # rows/cols 19..27 lie in patch 1 (9 px), 28..40 in patch 2 (13 px)
    expected = {(1, 1): 9 * 9 / 196, (1, 2): 9 * 13 / 196, (2, 1): 13 * 9 / 196, (2, 2): 13 * 13 / 196}
    assert coverage == pytest.approx(expected, abs=0) and set(coverage) == set(expected)


def test_coverage_sums_to_the_object_pixels(samples):
    for sample in samples[:20]:
        rendering = sample.render()
        for index, cov in enumerate(patch_coverage(rendering.labels, len(sample.scene.objects))):
            assert sum(cov.values()) * 196 == pytest.approx(int((rendering.labels == index).sum()))
            assert all(0 < f <= 1 for f in cov.values())


def test_objects_are_drawn_whole_and_sizes_span_4_to_36_patches():
    touched = []
    for sample in generate("train", 40):
        rendering = sample.render()
        cov = patch_coverage(rendering.labels, len(sample.scene.objects))
        for index, obj in enumerate(sample.scene.objects):  # each object is drawn whole: nothing painted over it
            box = obj.pixel_box(side=336)
            yy, xx = np.mgrid[box[0]:box[1], box[2]:box[3]] + 0.5
            assert int(shape_mask(obj, yy, xx).sum()) == int((rendering.labels == index).sum())
        touched += [len(c) for c in cov]
    assert min(touched) >= 3 and max(touched) <= 42
    assert np.percentile(touched, 5) <= 6 and np.percentile(touched, 95) >= 22


def test_some_neighbours_share_patches():
    shared = 0
    for sample in generate("train", 40):
        sets = [set(c) for c in patch_coverage(sample.render().labels, len(sample.scene.objects))]
        shared += any(a & b for i, a in enumerate(sets) for b in sets[:i])
    assert shared >= 3


def test_samples_are_seeded_and_split_by_seed():
    a, b = make_sample(1_100_000_003, "relation"), make_sample(1_100_000_003, "relation")
    assert a.pixels.tobytes() == b.pixels.tobytes() and a.question == b.question and a.regions == b.regions
    assert {s.split for s in generate("val", 3)} == {"val"}
    with pytest.raises(InvalidParameterError):
        generate("test", 1, seed=-1)


def test_ground_truth_roles_and_words(samples):
    for s in samples:
        roles = [r.role for r in s.regions]
        if s.absent:  # nothing to remove; relation/none names the anchor and the empty slot
            assert s.answer == ABSENT_ANSWERS[s.kind]
            assert roles == (["anchor", "empty_slot"] if s.kind == "relation" else [])
        elif s.kind == "color":
            assert roles == ["target"] and s.scene.objects[s.regions[0].object_index].color == s.answer
        elif s.kind == "count":
            assert len(roles) == ["zero", "one", "two", "three"].index(s.answer)
        elif s.kind == "relation":
            anchor, neighbour = (s.scene.objects[r.object_index] for r in s.regions)
            relation, color, shape = s.cause_word_strings
            dr, dc = RELATIONS[relation]
            assert (anchor.slot_row + dr, anchor.slot_col + dc) == neighbour.slot and neighbour.shape == s.answer
            assert (anchor.color, anchor.shape) == (color, shape) and roles == ["anchor", "neighbour"]
        elif s.kind == "same_color":
            first, second = (s.scene.objects[r.object_index] for r in s.regions)
            assert roles == ["first", "second"]
            assert s.answer == ("yes" if first.color == second.color else "no")
            assert set(s.cause_word_strings) == {first.shape, second.shape}
        assert all(0 < c <= 1 for r in s.regions for c in r.coverage)


def test_relation_none_names_the_empty_slot():
    s = next(s for s in generate("test", 20, seed=RELATION_NONE_OFFSET, kinds=["relation"]) if s.answer == "none")
    anchor, empty = s.regions
    assert anchor.role == "anchor" and empty.role == "empty_slot" and empty.object_index is None
    assert s.scene.object_in(*empty.slot) is None
    dr, dc = RELATIONS[s.cause_word_strings[0]]
    assert empty.slot == (s.scene.objects[anchor.object_index].slot_row + dr,
                          s.scene.objects[anchor.object_index].slot_col + dc)
    assert all(0 < c <= 1 for c in empty.coverage) and len(empty.patches) >= 30


def test_every_kind_is_generated_with_balanced_answers():
    from whytoken.experiments.worlds.world576 import make_scene_and_question

    answers = {kind: [make_scene_and_question(seed, kind)[1].answer for seed in range(60)] for kind in KINDS}
    assert 0.3 < answers["exists"].count("yes") / 60 < 0.7
    assert 0.25 < answers["same_color"].count("yes") / 60 < 0.65
    assert {"one", "two", "three"} <= set(answers["count"]) and set(answers["color"]) >= {"red", "green", "blue"}


def test_primary_question_is_among_questions_about(samples):
    for s in samples[:25]:
        q = next(q for q in questions_about(s.scene) if q.question == s.question)
        assert q.answer == s.answer


def test_blanking_with_the_background_removes_the_object(samples):
    s = next(s for s in samples if not s.absent)
    rendering = s.render()
    blanked = np.array(blank_patches(s.image, s.cause_patches, rendering.background))
    labels = rendering.labels
    for region in s.regions:
        assert not np.any((labels == region.object_index) & np.any(blanked != np.array(rendering.background), -1))
    with pytest.raises(InvalidParameterError):
        blank_patches(s.image, [(24, 0)])
