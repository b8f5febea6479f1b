"""The harness end to end on the torch-free toy model: rows, resumability, ground truth, errors, CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from whytoken.errors import TargetError
from whytoken.experiments.harness.cli import app
from whytoken.experiments.harness.config import ExperimentConfig
from whytoken.experiments.harness.datasets import ExperimentSample, align_words, ground_truth_positions, load_dataset
from whytoken.experiments.harness import (
    ROW_SCHEMA,
    VOLATILE_FIELDS,
    ToyModel,
    read_rows,
    run_experiment,
    select_targets,
    summarize_rows,
)

PROMPTS = {"kind": "prompts", "name": "smollm2_50", "n": 3}


def config(**changes):
    data = {"name": "t", "model": "toy", "dataset": PROMPTS, "methods": ["attention", "rollout", "random"],
            "max_k": 4, "max_new_tokens": 2}
    data.update(changes)
    return ExperimentConfig.from_dict(data)


def stable(row):
    row = {k: v for k, v in row.items() if k not in VOLATILE_FIELDS}
    row["provenance"] = {k: v for k, v in row["provenance"].items() if k not in VOLATILE_FIELDS}
    row["cost"] = {k: v for k, v in (row.get("cost") or {}).items() if k not in VOLATILE_FIELDS}
    row["details"] = {k: v for k, v in row.get("details", {}).items() if k not in VOLATILE_FIELDS}
    return row


def test_rows_carry_metrics_and_provenance(tmp_path):
    summary = run_experiment(config(), tmp_path, write_report=False)
    rows = read_rows(tmp_path)
    assert summary.n_new_rows == len(rows) == 3 * 3 and summary.n_errors == 0
    assert len({r["row_id"] for r in rows}) == len(rows)
    row = rows[0]
    assert row["schema"] == ROW_SCHEMA and row["target"]["generated_index"] == 0
    for key in ("flip_size", "deletion_curve", "deletion_auc", "insertion_curve", "insertion_auc", "cost",
                "provenance", "setting", "versions", "executor"):
        assert key in row, key
    assert len(row["deletion_curve"]) == 5 and row["deletion_curve"][0] == pytest.approx(row["target"]["prob"])
    assert row["provenance"]["model_info"]["n_heads"] == 2 and row["setting"]["intervention"] == "mask"


def test_second_run_adds_no_rows_and_runs_no_samples(tmp_path):
    first = run_experiment(config(), tmp_path, write_report=False)
    second = run_experiment(config(), tmp_path, write_report=False)
    assert first.n_new_rows == 9
    assert second.n_new_rows == 0 and second.n_skipped_samples == 3
    assert len(read_rows(tmp_path)) == 9


def test_added_methods_and_sweep_values_only_add_their_rows(tmp_path):
    run_experiment(config(), tmp_path, write_report=False)
    grown = config(methods=["attention", "rollout", "random", {"name": "attention", "label": "head", "heads": "each"}],
                   sweep={"intervention": ["mask", "zero"]})
    summary = run_experiment(grown, tmp_path, write_report=False)
    # per sample: 2 heads + (attention, rollout, random) under "zero"
    assert summary.n_new_rows == 3 * (2 * 2 + 3)
    assert run_experiment(grown, tmp_path, write_report=False).n_new_rows == 0


def test_a_truncated_last_line_is_skipped_and_redone(tmp_path):
    run_experiment(config(), tmp_path, write_report=False)
    path = tmp_path / "results.jsonl"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:-1]) + "\n" + lines[-1][:40])
    assert run_experiment(config(), tmp_path, write_report=False).n_new_rows == 1


def test_results_are_deterministic_across_runs(tmp_path):
    run_experiment(config(), tmp_path / "a", write_report=False)
    run_experiment(config(), tmp_path / "b", write_report=False)
    a = sorted((stable(r) for r in read_rows(tmp_path / "a")), key=lambda r: r["row_id"])
    b = sorted((stable(r) for r in read_rows(tmp_path / "b")), key=lambda r: r["row_id"])
    assert a == b


def test_summary_plots_and_markdown_are_written(tmp_path):
    cfg = config(methods=["attention", "random"], sweep={"attention.layer": [0, 1]})
    summary = run_experiment(cfg, tmp_path)
    names = {p.name for p in summary.files}
    assert {"summary.csv", "summary.md", "deletion_curves.png", "insertion_curves.png", "flip_sizes.png",
            "metric_vs_layer.png"} <= names
    lines = summarize_rows(read_rows(tmp_path), 4)
    assert [(line["label"], line["n"]) for line in lines] == [("attention", 3), ("attention", 3), ("random", 3)]
    assert "| attention | layer=0" in (tmp_path / "summary.md").read_text()


def test_the_toy_models_importance_is_recovered_by_an_exact_ranking():
    model = ToyModel()
    trace = model.trace(prompt="a b c d e f", max_new_tokens=1)
    t = trace.generated[0].position
    weights = {p.index: model._weight(p, trace.images) for p in trace.positions[1:t]}
    ranking = sorted(weights, key=lambda i: -weights[i])
    total, removed, k = sum(weights.values()), 0.0, 0
    while removed / total <= 1 - model.threshold:
        removed += weights[ranking[k]]
        k += 1
    from whytoken.experiments.metrics import deletion_curve

    assert deletion_curve(ranking, lambda s: model.predict_batch(trace, t, s), max_k=6).flip_size == k


# ----------------------------------------------------------------------------- targets and ground truth
def test_select_targets_rules():
    trace = ToyModel().trace(prompt="x y", max_new_tokens=3)
    sample = ExperimentSample("s", "x y", answer=trace.generated[1].text.strip())
    assert select_targets(trace, sample, "first") == [0]
    assert select_targets(trace, sample, "last") == [2]
    assert select_targets(trace, sample, "all") == [0, 1, 2]
    assert select_targets(trace, sample, (1, -1, 7)) == [1, 2]
    assert select_targets(trace, sample, "answer") in ([1], [0])  # the first token with the answer's text
    with pytest.raises(TargetError):
        select_targets(trace, ExperimentSample("s", "x y", target=99), "answer")


def test_world_ground_truth_maps_to_patch_and_word_positions():
    sample = load_dataset({"kind": "world", "split": "test", "n": 1})[0]
    trace = ToyModel().trace(image=sample.pil_image(), prompt=sample.prompt, max_new_tokens=1)
    gt = ground_truth_positions(trace, sample)
    patches = {trace.positions[i].patch for i in gt if trace.positions[i].patch is not None}
    words = {trace.positions[i].text for i in gt if trace.positions[i].patch is None}
    assert patches == set(sample.cause_patches)
    assert words == {sample.words[w] for w in sample.cause_words}


def test_word_alignment_handles_subword_tokens():
    from whytoken.adapters.trace import Position, Trace

    positions = (Position(0, "special", 1, "<s>"), Position(1, "prompt_text", 2, "The"),
                 Position(2, "prompt_text", 3, " tri"), Position(3, "prompt_text", 4, "angles"),
                 Position(4, "prompt_text", 5, " ?"))
    trace = Trace(positions, (), {}, "The triangles ?", None, None, {})
    assert align_words(trace, ["The", "triangles", "?"]) == {0: 1, 1: 2, 2: 4}


def test_world_run_reports_ground_truth(tmp_path):
    cfg = config(dataset={"kind": "world", "split": "test", "n": 2}, methods=["attention", "random"],
                 max_new_tokens=1)
    run_experiment(cfg, tmp_path, write_report=False)
    rows = read_rows(tmp_path)
    assert all(r["ground_truth"] is not None for r in rows)
    gt = rows[0]["ground_truth"]
    assert 0 <= gt["precision_at_gt"] <= 1 and gt["precision_at_gt"] == gt["recall_at_gt"]
    assert rows[0]["answer_correct"] in (True, False)
    line = summarize_rows(rows, 4)[0]
    assert line["gt_precision"] is not None


# ----------------------------------------------------------------------------- errors
def test_failing_samples_are_recorded_and_retried(tmp_path):
    data = tmp_path / "d.jsonl"
    data.write_text(json.dumps({"prompt": "a b c", "id": "ok"}) + "\n" + json.dumps({"prompt": " ", "id": "bad"}) + "\n")
    cfg = ExperimentConfig.from_dict({"name": "t", "model": "toy", "dataset": {"kind": "jsonl", "path": str(data)},
                                      "methods": ["random"], "max_k": 2})
    summary = run_experiment(cfg, tmp_path / "out", write_report=False)
    assert summary.n_errors == 1 and summary.n_new_rows == 1
    error = json.loads((tmp_path / "out" / "errors.jsonl").read_text().splitlines()[0])
    assert error["sample_id"] == "bad" and error["type"] == "InvalidPromptError"
    again = run_experiment(cfg, tmp_path / "out", write_report=False)
    assert again.n_skipped_samples == 1 and again.n_errors == 1
    with pytest.raises(Exception, match="non-empty prompt"):
        run_experiment(cfg, tmp_path / "out", write_report=False, fail_fast=True)


# ----------------------------------------------------------------------------- command line
def test_cli_run_and_resume(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("name: cli\nmodel: toy\ndataset: {kind: prompts, name: smollm2_50, n: 2}\n"
                    "methods: [attention, random]\nmax_k: 3\noutput: out\n")
    runner = CliRunner()
    first = runner.invoke(app, ["run", str(path), "--quiet", "--no-report"])
    assert first.exit_code == 0, first.output
    assert "4 new rows" in first.output and "summary (K = 3)" in first.output
    second = runner.invoke(app, ["run", str(path), "--quiet", "--no-report"])
    assert "0 new rows" in second.output and "2 of 2 samples already complete" in second.output
    summary = runner.invoke(app, ["summarize", str(tmp_path / "out"), "--no-plots"])
    assert summary.exit_code == 0 and (tmp_path / "out" / "summary.csv").is_file()


def test_cli_reports_config_errors_in_one_line(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("name: cli\nmodel: toy\ndataset: {kind: world}\nmax_k: many\n")
    result = CliRunner().invoke(app, ["run", str(path)])
    assert result.exit_code == 2
    assert "max_k = 'many' is invalid" in result.output
    check = CliRunner().invoke(app, ["check", str(path)])
    assert check.exit_code == 2


def test_cli_check_lists_the_settings(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('name = "c"\nmodel = "toy"\nmethods = ["attention"]\n[dataset]\nkind = "world"\n'
                    '[sweep]\nlayer = [0, 1]\n')
    result = CliRunner().invoke(app, ["check", str(path)])
    assert result.exit_code == 0 and "2 method settings" in result.output


def test_toy_model_interventions_are_checked():
    from whytoken.errors import InterventionError, UnknownInterventionError

    model = ToyModel()
    trace = model.trace(prompt="a b", max_new_tokens=1)
    with pytest.raises(UnknownInterventionError, match="mask"):
        model.predict_batch(trace, -1, [()], kind="pixel")
    with pytest.raises(InterventionError, match="leaves the context"):
        model.predict_batch(trace, -1, [(5,)])
    zero = model.predict_batch(trace, -1, [(1, 2)], kind="zero")[0].original_token_prob_after
    mask = model.predict_batch(trace, -1, [(1, 2)], kind="mask")[0].original_token_prob_after
    assert mask <= zero and np.isfinite(mask)


def test_each_head_sweep_reports_the_post_hoc_best_head(tmp_path):
    cfg = config(methods=[{"name": "attention", "heads": "each"}])
    run_experiment(cfg, tmp_path, write_report=False)
    lines = summarize_rows(read_rows(tmp_path), 4)
    heads = [line for line in lines if "best" not in line["setting"]]
    best = [line for line in lines if "best" in line["setting"]]
    assert len(heads) == 2 and len(best) == 1
    assert "chosen post hoc" in best[0]["setting"]
    assert best[0]["flip_rate"] == max(line["flip_rate"] for line in heads)


def test_a_failing_method_keeps_the_samples_other_rows(tmp_path):
    # layer 5 does not exist in the two-layer toy model: that method fails on every sample, the others run
    cfg = config(methods=["random", {"name": "attention", "label": "bad", "layer": 5}])
    summary = run_experiment(cfg, tmp_path, write_report=False)
    assert summary.n_new_rows == 3 and summary.n_errors == 3
    errors = [json.loads(line) for line in (tmp_path / "errors.jsonl").read_text().splitlines()]
    assert {e["label"] for e in errors} == {"bad"} and all(e["type"] == "LayerError" for e in errors)
    assert run_experiment(cfg, tmp_path, write_report=False).n_new_rows == 0
