"""The synthetic world: determinism, disjoint splits, and ground truth that matches the pixels."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from whytoken.errors import ConfigError, InvalidParameterError
from whytoken.experiments.worlds.demo import (
    COLORS,
    COUNT_WORDS,
    KINDS,
    PLURALS,
    RELATIONS,
    SHAPES,
    SPLIT_SEED_RANGES,
    Sample,
    Scene,
    SceneObject,
    WorldConfig,
    ask,
    blank_patches,
    generate,
    make_sample,
    questions_about,
    render_scene,
    split_of_seed,
    vocabulary,
)

WORLD = WorldConfig()


@pytest.fixture(scope="module")
def samples() -> list[Sample]:
    return generate("train", 400, seed=1234)


def oracle_answer(sample: Sample) -> tuple[str, set[tuple[int, int]]]:
    """Recompute answer and cause cells from the scene description alone."""
    words = sample.question.split()
    scene = sample.scene
    if sample.kind == "color":
        hits = scene.find(shape=words[4])
        assert len(hits) <= 1, "colour questions need a unique shape"
        return (hits[0].color if hits else "none"), {h.cell for h in hits}
    if sample.kind == "exists":
        hits = scene.find(shape=words[4], color=words[3])
        assert len(hits) <= 1
        return ("yes" if hits else "no"), {h.cell for h in hits}
    if sample.kind == "count":
        shape = {v: k for k, v in PLURALS.items()}[words[2]]
        hits = scene.find(shape=shape)
        return COUNT_WORDS[len(hits)], {h.cell for h in hits}
    relation = words[3]
    color, shape = words[-3], words[-2]
    anchors = scene.find(shape=shape, color=color)
    assert len(anchors) == 1, "relation anchors must be unique"
    dr, dc = RELATIONS[relation]
    cell = (anchors[0].row + dr, anchors[0].col + dc)
    assert 0 <= cell[0] < WORLD.grid_size and 0 <= cell[1] < WORLD.grid_size
    neighbour = scene.object_at(*cell)
    return (neighbour.shape if neighbour else "none"), {anchors[0].cell, cell}


def test_same_seed_gives_identical_bytes_and_questions():
    a, b = generate("val", 12, seed=5), generate("val", 12, seed=5)
    for x, y in zip(a, b):
        assert x.image.tobytes() == y.image.tobytes()
        assert (x.question, x.answer, x.cause_patches, x.cause_words, x.scene) == (
            y.question, y.answer, y.cause_patches, y.cause_words, y.scene)


def test_different_seeds_give_different_images():
    images = {s.image.tobytes() for s in generate("train", 50)}
    assert len(images) == 50


def test_splits_own_disjoint_seed_ranges():
    ranges = sorted(SPLIT_SEED_RANGES.values(), key=lambda r: r.start)
    for lower, upper in zip(ranges, ranges[1:]):
        assert lower.stop <= upper.start
    seeds = {split: {s.seed for s in generate(split, 20)} for split in SPLIT_SEED_RANGES}
    assert not seeds["train"] & seeds["val"] and not seeds["train"] & seeds["test"] and not seeds["val"] & seeds["test"]
    for split, values in seeds.items():
        assert {split_of_seed(v) for v in values} == {split}
        assert all(s.split == split for s in generate(split, 4))


def test_offsets_continue_the_same_stream():
    long = generate("test", 10)
    assert [s.seed for s in generate("test", 4, seed=6)] == [s.seed for s in long[6:]]
    assert [s.question for s in generate("test", 4, seed=6)] == [s.question for s in long[6:]]


def test_kinds_are_round_robin_and_answers_balanced(samples):
    kinds = Counter(s.kind for s in samples)
    assert set(kinds.values()) == {100}
    answers = {k: Counter(s.answer for s in samples if s.kind == k) for k in KINDS}
    assert set(answers["color"]) <= set(COLORS) | {"none"} and len(answers["color"]) >= 4
    assert 35 <= answers["exists"]["yes"] <= 65
    assert set(answers["count"]) <= set(COUNT_WORDS) and answers["count"]["zero"] < 25
    assert set(answers["relation"]) <= set(SHAPES) | {"none"} and len(answers["relation"]) >= 4


def test_answers_and_causes_follow_from_the_scene(samples):
    for sample in samples:
        answer, cells = oracle_answer(sample)
        assert sample.answer == answer, sample
        assert set(sample.cause_patches) == {p for cell in cells for p in WORLD.cell_patches(*cell)}
        assert list(sample.cause_patch_indices) == [r * WORLD.patch_grid + c for r, c in sample.cause_patches]
        assert sample.absent == (answer in ("no", "none", "zero"))


def test_questions_about_contains_the_primary_question_with_the_same_cause(samples):
    for sample in samples[:120]:
        questions = questions_about(sample.scene)
        match = [q for q in questions if q.question == sample.question]
        assert len(match) == 1
        again = ask(match[0], sample.scene, sample.image, sample.seed)
        assert (again.answer, again.cause_patches, again.cause_words, again.absent) == (
            sample.answer, sample.cause_patches, sample.cause_words, sample.absent)
        for q in questions:  # every listed question passes the oracle
            derived = ask(q, sample.scene, sample.image, sample.seed)
            assert oracle_answer(derived) == (q.answer, set(q.cause_cells))


def test_cause_words_name_the_question_keywords(samples):
    for sample in samples:
        words = sample.cause_word_strings
        q = sample.question.split()
        if sample.kind == "color":
            assert words == (q[4],) and q[4] in SHAPES
        elif sample.kind == "exists":
            assert words == (q[3], q[4])
        elif sample.kind == "count":
            assert words == (q[2],) and q[2] in PLURALS.values()
        else:
            assert words == (q[3], q[-3], q[-2]) and q[3] in RELATIONS
        assert all(w in vocabulary() for w in sample.words if w != "<image>")


def test_cause_patches_hold_the_objects_pixels_and_empty_cells_do_not(samples):
    p = WORLD.patch_size
    noise = WORLD.background_noise
    for sample in samples[:80]:
        pixels = sample.pixels.astype(int)
        object_cells = {o.cell: o for o in sample.scene.objects}
        for row in range(WORLD.patch_grid):
            for col in range(WORLD.patch_grid):
                block = pixels[row * p : (row + 1) * p, col * p : (col + 1) * p]
                deviation = np.abs(block - np.asarray(WORLD.background)).max(axis=-1)
                obj = object_cells.get((row, col))
                if obj is None:
                    assert deviation.max() <= noise
                else:
                    painted = np.all(block == np.asarray(obj.rgb), axis=-1).sum()
                    assert painted >= 30, (sample.seed, obj)  # the smallest triangle has ~40 px
        for r, c in sample.cause_patches:
            if not (sample.kind == "relation" and sample.absent and sample.scene.object_at(r, c) is None):
                assert (r, c) in object_cells


def test_blank_patches_paints_background_and_leaves_the_rest():
    sample = next(s for s in generate("test", 8) if s.cause_patches)
    blanked = np.asarray(blank_patches(sample.image, sample.cause_patches))
    original = sample.pixels
    p = WORLD.patch_size
    mask = np.zeros(original.shape[:2], dtype=bool)
    for r, c in sample.cause_patches:
        mask[r * p : (r + 1) * p, c * p : (c + 1) * p] = True
    assert np.all(blanked[mask] == np.asarray(WORLD.background))
    assert np.array_equal(blanked[~mask], original[~mask])
    assert np.array_equal(sample.pixels, original)  # input untouched


def test_finer_patch_grid_maps_cells_to_patch_blocks():
    world = WorldConfig(patch_size=8)
    sample = make_sample(3, "count", world)
    assert world.patch_grid == 12 and world.num_patches == 144
    shape = {v: k for k, v in PLURALS.items()}[sample.question.split()[2]]
    n_objects = len(sample.scene.find(shape=shape))
    assert len(sample.cause_patches) == 4 * n_objects
    assert all(0 <= i < 144 for i in sample.cause_patch_indices)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(min_value=0, max_value=SPLIT_SEED_RANGES["test"].stop - 1), kind=st.sampled_from(KINDS))
def test_every_seed_and_kind_gives_a_consistent_sample(seed, kind):
    sample = make_sample(seed, kind)
    assert sample.answer == oracle_answer(sample)[0]
    assert WorldConfig().min_objects <= len(sample.scene.objects) <= WorldConfig().max_objects + 4
    assert sample.image.size == (WORLD.image_size, WORLD.image_size)
    n = len(sample.question.split())
    assert sample.words[:n] == sample.question.split() and sample.words[n:] == ["<image>", "answer", ":"]


def test_render_scene_is_a_pure_function_of_the_scene():
    scene = Scene((SceneObject("cross", "green", 2, 3, 11, 1, -1, (40, 180, 60)),), noise_seed=9)
    assert render_scene(scene).tobytes() == render_scene(scene).tobytes()


def test_to_dict_is_json_ready():
    import json

    data = generate("test", 1)[0].to_dict()
    assert json.loads(json.dumps(data)) == data


@pytest.mark.parametrize(
    "call",
    [
        lambda: generate("dev", 3),
        lambda: generate("train", 3, kinds=["colour"]),
        lambda: generate("val", 10, seed=len(SPLIT_SEED_RANGES["val"]) - 5),
        lambda: make_sample(5, "shape"),
        lambda: split_of_seed(-1),
        lambda: blank_patches(np.zeros((10, 10, 3), dtype=np.uint8), [(0, 0)]),
        lambda: blank_patches(generate("test", 1)[0].image, [(6, 0)]),
    ],
)
def test_bad_arguments_raise_invalid_parameter_error(call):
    with pytest.raises(InvalidParameterError):
        call()


@pytest.mark.parametrize(
    "kwargs",
    [{"cell_size": 16, "patch_size": 7}, {"grid_size": 2}, {"min_objects": 9, "max_objects": 3},
     {"absent_rate": 1.5}, {"max_count": 9}],
)
def test_bad_world_parameters_raise_config_error(kwargs):
    with pytest.raises(ConfigError, match=next(iter(kwargs))):
        WorldConfig(**kwargs)


def test_world_config_round_trips_and_rejects_unknown_keys():
    world = WorldConfig(grid_size=5, background=(10, 20, 30))
    assert WorldConfig.from_dict(world.to_dict()) == world
    with pytest.raises(ConfigError, match="grid"):
        WorldConfig.from_dict({"grid": 5})
