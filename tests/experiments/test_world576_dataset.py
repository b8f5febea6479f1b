"""The harness's world576 dataset kind: samples with ground-truth patches, coverage and words."""

from __future__ import annotations

import pytest

from whytoken.errors import ConfigError
from whytoken.experiments.harness.datasets import list_datasets, load_dataset, validate_dataset_spec
from whytoken.experiments.worlds.world576 import generate


def test_world576_is_registered_with_its_options():
    assert "world576" in list_datasets()
    options = validate_dataset_spec({"kind": "world576"})
    assert options == {"split": "test", "n": 200, "seed": 0, "kinds": None, "min_coverage": 0.0}


def test_samples_carry_the_world_ground_truth():
    rows = load_dataset({"kind": "world576", "n": 5, "seed": 3})
    truth = generate("test", 5, seed=3)
    for row, s in zip(rows, truth):
        assert row.sample_id == f"world576/test/{s.seed}" and row.prompt == s.prompt and row.answer == s.answer
        assert row.image.shape == (336, 336, 3)
        assert row.cause_patches == s.cause_patches and row.cause_words == s.cause_words
        assert row.meta["kind"] == s.kind and row.meta["absent"] == s.absent
        covered = {tuple(p): c for r in row.meta["regions"] for p, c in zip(r["patches"], r["coverage"])}
        assert set(covered) == set(s.cause_patches)


def test_min_coverage_keeps_the_better_covered_patches():
    full = load_dataset({"kind": "world576", "n": 3, "kinds": ["color"]})
    half = load_dataset({"kind": "world576", "n": 3, "kinds": ["color"], "min_coverage": 0.5})
    truth = generate("test", 3, kinds=["color"])
    for a, b, s in zip(full, half, truth):
        assert set(b.cause_patches) <= set(a.cause_patches)
        assert set(b.cause_patches) == {p for p, f in s.cause_coverage.items() if f >= 0.5}


@pytest.mark.parametrize("bad", [{"split": "dev"}, {"seed": -1}, {"kinds": ["colour"]}, {"min_coverage": 1.5},
                                 {"n": 0}, {"world": {}}])
def test_bad_options_raise_config_error(bad):
    with pytest.raises(ConfigError):
        validate_dataset_spec({"kind": "world576", **bad})
