"""Modality reliance: the two ablations and the verified set's kinds, per answer and summarised per kind."""

from __future__ import annotations

from types import SimpleNamespace as NS

import pytest

from whytoken.errors import InvalidParameterError
from whytoken.experiments.harness import ExperimentConfig, read_rows, run_experiment
from whytoken.experiments.harness.modality import modality_markdown, modality_table
from whytoken.experiments.metrics import ablation_reliance, modality_reliance, set_modality

IMAGE, TEXT = (1, 2, 3, 4), (6, 7)


def model_needing(image: bool, text: bool):
    """Changes its answer when every image token (if ``image``) or every word (if ``text``) is removed."""
    def predict(sets):
        out = []
        for s in sets:
            s = set(s)
            flip = (image and set(IMAGE) <= s) or (text and set(TEXT) <= s)
            out.append(NS(top_token_id=1 if flip else 0, original_token_id=0,
                          original_token_prob_after=0.1 if flip else 0.8))
        return out
    return predict


@pytest.mark.parametrize("image, text, verdict", [(True, False, "image"), (False, True, "text"),
                                                  (True, True, "both"), (False, False, "neither")])
def test_the_two_ablations_read_which_modality_carries_the_answer(image, text, verdict):
    r = modality_reliance(model_needing(image, text), IMAGE, TEXT, 0.8)
    assert r.reliance == verdict
    assert (r.image_removed_changes, r.text_removed_changes) == (image, text)
    assert r.n_image == 4 and r.n_text == 2 and r.set_modality is None


def test_text_only_inputs_have_no_image_ablation_and_the_set_gives_its_modality():
    calls = []

    def predict(sets):
        calls.append(list(sets))
        return model_needing(False, True)(sets)

    r = modality_reliance(predict, [], TEXT, 0.8, set_kinds=["PROMPT_TEXT"])
    assert r.image_removed_changes is None and r.reliance == "text" and r.set_modality == "text"
    assert calls == [[TEXT]]  # one pass only
    assert set_modality(["image_patch", "prompt_text"]) == "mixed" and set_modality(["special"]) == "text"
    assert ablation_reliance(None, None) == "neither"
    with pytest.raises(InvalidParameterError, match=r"positions \[2\] are both image and text"):
        modality_reliance(predict, [1, 2], [2, 3], 0.8)


def test_modality_table_summarises_per_kind():
    rows = [{"label": "w", "sample_id": str(i), "target": {"generated_index": 0}, "sample": {"kind": k},
             "modality": {"reliance": r, "set_modality": m}}
            for i, (k, r, m) in enumerate([("color", "image", "image"), ("color", "image", "mixed"),
                                           ("exists", "neither", None), ("exists", "both", "text")])]
    lines = {line["kind"]: line for line in modality_table(rows, "w")}
    assert lines["all"]["n"] == 4 and lines["color"]["image"] == 1.0 and lines["color"]["set_mixed"] == 0.5
    assert lines["exists"]["neither"] == 0.5 and lines["exists"]["set_none"] == 0.5
    text = modality_markdown(list(lines.values()))
    assert text.splitlines()[0].startswith("| kind | answers | ablation: image")


@pytest.mark.slow
def test_a_run_with_the_modality_metric_writes_rows_table_and_plot(tmp_path):
    config = ExperimentConfig.from_dict({
        "name": "mod", "model": "toy", "dataset": {"kind": "world", "split": "val", "n": 4}, "max_new_tokens": 1,
        "methods": ["whytoken", {"name": "greedy-search", "max_passes": 400}, "attention"], "max_k": 4,
        "metrics": ["flip", "ground_truth", "cost", "modality"]})
    assert run_experiment(config, tmp_path).n_errors == 0
    rows = read_rows(tmp_path)
    per_answer = {}
    for r in rows:
        m = r["modality"]
        assert m["reliance"] in ("image", "text", "both", "neither") and m["n_image"] == 36
        per_answer.setdefault(r["sample_id"], set()).add((m["image_removed_changes"], m["text_removed_changes"]))
        if r["method"] == "attention":
            assert m["set_modality"] is None
    assert all(len(v) == 1 for v in per_answer.values())  # the ablations do not depend on the method
    assert "Modality reliance, whytoken" in (tmp_path / "summary.md").read_text()
    assert (tmp_path / "plots" / "modality_whytoken.png").stat().st_size > 5000
