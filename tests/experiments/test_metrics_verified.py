"""The field's metrics for verified sets: pointing game, size against the exhaustive minimum, head-to-head cost.

Hand-built rows and oracles first; then one small harness run on the toy model, where every method (ranking,
whytoken, the black-box searches) gets the same metrics and the summary compares them answer by answer.
"""

from __future__ import annotations

import pytest

from whytoken.experiments.harness import ExperimentConfig, read_rows, run_experiment
from whytoken.experiments.harness.comparison import head_to_head, head_to_head_pairs, minimum_table
from whytoken.experiments.metrics import MINIMUM_VERDICTS, pointing_game, size_against_minimum


def test_pointing_game_reads_the_first_image_patch_of_the_ranking():
    image = [10, 11, 12, 13]
    assert pointing_game([3, 11, 10], truth_patches=[11], image_positions=image) is True  # word 3 is skipped
    assert pointing_game([12, 11], truth_patches=[11], image_positions=image) is False
    assert pointing_game([3, 4], truth_patches=[11], image_positions=image) is None  # no patch ranked
    assert pointing_game([11], truth_patches=[], image_positions=image) is None  # absent answer: no object


@pytest.mark.parametrize("size, at_least, exact, verdict", [
    (1, 1, 1, "at-minimum"), (2, 1, 1, "above-minimum"), (2, 2, None, "at-minimum"),
    (5, 3, None, "unknown"), (None, 1, 1, "no-set"), (1, 1, None, "at-minimum"),
])
def test_size_against_minimum(size, at_least, exact, verdict):
    assert size_against_minimum(size, at_least, exact) == verdict
    assert verdict in MINIMUM_VERDICTS


def _row(label, method, sample, size, passes, seconds=0.1, pool="all", pointing=None, details=None):
    return {"label": label, "method": method, "sample_id": sample, "target": {"generated_index": 0},
            "setting": {"pool": pool, "intervention": "mask", "criterion": "top-token"},
            "explaining_set_size": size, "verified": size is not None,
            "cost": {"forward_passes": passes, "seconds": seconds}, "ground_truth": {"pointing": pointing},
            "details": details or {}}


def test_head_to_head_pairs_answers_and_counts_missing_sets_against_the_method_without_one():
    rows = [_row("whytoken", "whytoken", "a", 2, 20, pointing=True),
            _row("greedy", "greedy-search", "a", 3, 200, pointing=True),
            _row("whytoken", "whytoken", "b", None, 40, pointing=False),
            _row("greedy", "greedy-search", "b", 4, 100, pointing=True),
            _row("whytoken", "whytoken", "c", 5, 30),
            _row("greedy", "greedy-search", "c", None, 300),
            _row("greedy", "greedy-search", "d", 1, 50)]  # no whytoken row: not paired
    h = head_to_head(rows, "whytoken", "greedy")
    assert h["n"] == 3
    assert h["passes_a"] == 30 and h["passes_b"] == 200 and h["passes_ratio"] == pytest.approx(0.15)
    assert h["passes_ratio_median"] == pytest.approx(0.1)  # 0.1, 0.4, 0.1
    assert h["size_no_larger"] == pytest.approx(2 / 3)  # a (2 <= 3) and c (greedy found none); b counts against
    assert (h["size_smaller"], h["size_equal"], h["size_larger"]) == (1, 0, 0)
    assert h["pointing_a"] == 0.5 and h["pointing_b"] == 1.0
    assert h["explained_a"] == pytest.approx(2 / 3) and h["explained_b"] == pytest.approx(2 / 3)


def test_pairs_and_minimum_follow_the_pool():
    rows = [_row("whytoken", "whytoken", "a", 1, 5), _row("whytoken-image", "whytoken", "a", 3, 9, pool="image"),
            _row("greedy", "greedy-search", "a", 1, 50),
            _row("greedy-image", "greedy-search", "a", 4, 90, pool="image"),
            _row("exhaustive", "exhaustive-search", "a", 1, 40, details={"min_size_at_least": 1,
                                                                            "min_size_exact": 1}),
            _row("exhaustive-image", "exhaustive-search", "a", None, 900, pool="image",
                 details={"min_size_at_least": 3, "min_size_exact": None})]
    assert head_to_head_pairs(rows) == [("whytoken", "exhaustive"), ("whytoken", "greedy"),
                                        ("whytoken-image", "exhaustive-image"), ("whytoken-image", "greedy-image")]
    lines = {line["label"]: line for line in minimum_table(rows)}
    assert lines["whytoken"]["at-minimum"] == 1 and lines["greedy"]["at-minimum"] == 1
    assert lines["whytoken-image"]["at-minimum"] == 1  # size 3 meets the proven bound: minimal
    assert lines["greedy-image"]["unknown"] == 1
    assert "exhaustive" not in lines and "exhaustive-image" not in lines


@pytest.mark.slow
def test_every_method_gets_cost_pointing_and_the_head_to_head_in_a_run(tmp_path):
    config = ExperimentConfig.from_dict({
        "name": "h2h", "model": "toy", "dataset": {"kind": "world", "split": "val", "n": 3}, "max_new_tokens": 1,
        "methods": ["whytoken", {"name": "greedy-search", "max_passes": 400}, "exhaustive-search", "attention",
                    "random"],
        "metrics": ["flip", "deletion", "insertion", "ground_truth", "cost"], "max_k": 6})
    summary = run_experiment(config, tmp_path)
    assert summary.n_errors == 0
    rows = read_rows(tmp_path)
    assert {r["label"] for r in rows} == {"whytoken", "greedy-search", "exhaustive-search", "attention", "random"}
    for r in rows:
        assert r["cost"]["forward_passes"] >= 0 and r["cost"]["seconds"] >= 0
        assert len(r["deletion_curve"]) == len(r["insertion_curve"]) == 7
        gt = r["ground_truth"]
        assert set(gt) >= {"pointing", "precision_patches", "recall_patches", "n_patches"}
        if r["method"] == "greedy-search":
            assert r["cost"]["forward_passes"] <= 400
            assert r["details"]["passes_by_stage"].get("greedy", 0) > 0
    text = (tmp_path / "summary.md").read_text()
    assert "Head-to-head" in text and "whytoken vs greedy-search" in text and "pointing game" in text
    assert "Set size against the exhaustive minimum" in text
