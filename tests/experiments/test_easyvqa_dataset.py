"""The harness's ``easyvqa`` dataset kind: options, samples and the ground truth they declare."""

from __future__ import annotations

import pytest

from whytoken.errors import ConfigError
from whytoken.experiments.harness.datasets import list_datasets, load_dataset, validate_dataset_spec

pytest.importorskip("easy_vqa", reason="easy-VQA's data: pip install easy-vqa==1.0 (setup_env.py --dev)")


def test_easyvqa_is_a_registered_kind_with_defaults():
    assert "easyvqa" in list_datasets()
    options = validate_dataset_spec({"kind": "easyvqa"})
    assert options == {"split": "test", "n": 200, "offset": 0, "qtypes": None, "order": "balanced"}


def test_samples_carry_image_prompt_answer_and_ground_truth():
    from whytoken.experiments.worlds.easyvqa import get_sample

    samples = load_dataset({"kind": "easyvqa", "n": 8, "offset": 4})
    assert [s.meta["kind"] for s in samples] == ["color", "shape", "yes_no_shape", "yes_no_color"] * 2
    for s in samples:
        truth = get_sample(s.sample_id)
        assert s.prompt == truth.prompt and s.answer == truth.answer and s.image.shape == (64, 64, 3)
        assert s.has_ground_truth and s.cause_words and [s.words[i] for i in s.cause_words] == list(
            truth.cause_word_strings)
        assert s.cause_patches == truth.cause_patches and s.meta["absent"] == truth.absent
        assert len(s.meta["cause_fractions"]) == len(s.cause_patches)
        assert s.meta["object_patches"] and (s.cause_patches == () or s.meta["absent"] is False)
        assert s.describe()["sample_id"] == s.sample_id


def test_options_select_split_types_and_order():
    val = load_dataset({"kind": "easyvqa", "split": "val", "n": 3, "qtypes": ["yes_no_color"], "order": "source"})
    assert all(s.meta["split"] == "val" and s.meta["kind"] == "yes_no_color" for s in val)
    assert [s.meta["index"] for s in val] == sorted(s.meta["index"] for s in val)


@pytest.mark.parametrize(
    "spec, match",
    [
        ({"split": "dev"}, "dataset.split"),
        ({"offset": -1}, "dataset.offset"),
        ({"qtypes": ["count"]}, "dataset.qtypes"),
        ({"qtypes": []}, "dataset.qtypes"),
        ({"order": "random"}, "dataset.order"),
        ({"seed": 3}, r"\['seed'\] are unknown"),
        ({"n": 0}, "dataset.n"),
    ],
)
def test_bad_options_are_config_errors(spec, match):
    with pytest.raises(ConfigError, match=match):
        validate_dataset_spec({"kind": "easyvqa", **spec})
