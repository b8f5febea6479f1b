"""The ``whytoken`` command line: registries, explain on saved traces, graph export, error handling."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from tests.adapters import tiny
from tests.query import fakes
from whytoken.cli import app, main
from whytoken.graphs import list_formats, read_pag
from whytoken.query import Explanation, list_criteria

runner = CliRunner()


@pytest.fixture
def saved_trace(tmp_path):
    trace = fakes.make_trace([{3: 0.5, 7: 0.4, 0: 0.1}, {5: 0.9, 0: 0.1}], with_image=True)
    folder = tmp_path / "trace"
    folder.mkdir()
    trace.save(folder / "trace.safetensors")
    return folder


def test_learners_lists_every_registry():
    from whytoken.causal import list_learners

    result = runner.invoke(app, ["learners"])
    assert result.exit_code == 0, result.output
    for name in list_learners() + list_criteria() + list_formats():
        assert name in result.output


def test_explain_saved_trace_without_model(saved_trace, tmp_path):
    out = tmp_path / "out"
    result = runner.invoke(app, ["explain", "--trace", str(saved_trace), "--no-verify", "--layer", "1",
                                 "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["explanation.json", "graph.graphml", "graph.json",
                                                     "report.html"]
    explanation = Explanation.load(out / "explanation.json")
    assert explanation.status == "unverified" and explanation.target.position == 10
    assert read_pag(out / "graph.json") == explanation.pag == read_pag(out / "graph.graphml")
    assert "not verified" in result.output


def test_explain_options_reach_the_query(saved_trace, tmp_path):
    out = tmp_path / "out"
    result = runner.invoke(app, ["explain", "--trace", str(saved_trace), "--no-verify", "--layer", "1",
                                 "--heads", "1", "--alpha", "0.05", "--target-text", "yes", "--max-range", "1",
                                 "--max-nodes", "6", "--n-samples", "32", "--max-cond-size", "1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    doc = json.loads((out / "explanation.json").read_text())
    prov = doc["provenance"]
    assert prov["heads"] == [1] and prov["alpha"] == 0.05 and prov["max_range"] == 1 and prov["max_nodes"] == 6
    assert prov["n_samples"] == 32 and prov["max_cond_size"] == 1
    assert doc["heads"][0]["n_nodes"] == 7  # the target and the 6 most attended tokens


@pytest.mark.parametrize("args, message", [
    (["--target", "4"], "holds an input token"),
    (["--target-text", "Paris"], "not in the output"),
    (["--layer", "7"], "out of range"),
    (["--alpha", "1.5"], "alpha must be in (0, 1)"),
    (["--heads", "9"], "head 9 is out of range"),
    (["--heads", "x"], "cannot read --heads"),
    (["--n-samples", "wide"], "--n-samples 'wide' is invalid"),
    (["--n-samples", "0"], "--n-samples '0' is invalid"),
])
def test_bad_input_is_one_clean_line_with_exit_code_2(saved_trace, tmp_path, args, message):
    result = runner.invoke(app, ["explain", "--trace", str(saved_trace), "--no-verify", "--layer", "1",
                                 "--out", str(tmp_path / "out"), *args])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and message in errors[0]  # one line, whatever the terminal width


def test_debug_shows_the_traceback(saved_trace, tmp_path):
    result = runner.invoke(app, ["--debug", "explain", "--trace", str(saved_trace), "--no-verify",
                                 "--layer", "1", "--target", "4", "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "Traceback" in result.output and "TargetError" in result.output


def test_verification_needs_a_model(saved_trace, tmp_path):
    result = runner.invoke(app, ["explain", "--trace", str(saved_trace), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "--model is required" in result.output


def test_missing_trace_and_unknown_choice(tmp_path):
    result = runner.invoke(app, ["explain", "--trace", str(tmp_path / "nope"), "--no-verify", "--out", "x"])
    assert result.exit_code == 2 and "does not exist" in result.output
    result = runner.invoke(app, ["explain", "--trace", "t", "--no-verify", "--out", "x", "--method", "icdd"])
    assert result.exit_code == 2 and "icdd" in result.output  # typer lists the registry's choices


def test_graph_export(saved_trace, tmp_path):
    out = tmp_path / "out"
    assert runner.invoke(app, ["explain", "--trace", str(saved_trace), "--no-verify", "--layer", "1",
                               "--out", str(out)]).exit_code == 0
    explanation = Explanation.load(out / "explanation.json")
    for fmt in list_formats():
        target = tmp_path / f"g.{fmt}"
        result = runner.invoke(app, ["graph", "export", str(out / "explanation.json"), "--format", fmt,
                                     "--out", str(target)])
        assert result.exit_code == 0, result.output
        assert read_pag(target, format=fmt) == explanation.pag
    result = runner.invoke(app, ["graph", "export", str(out / "graph.json"), "--format", "dot"])
    assert result.exit_code == 0 and (out / "graph.dot").is_file()
    result = runner.invoke(app, ["graph", "export", str(out / "explanation.json"), "--format", "dot", "--head", "1",
                                 "--out", str(tmp_path / "h1.dot")])
    assert read_pag(tmp_path / "h1.dot") == explanation.heads[1].pag
    result = runner.invoke(app, ["graph", "export", str(out / "explanation.json"), "--format", "dot", "--head", "5"])
    assert result.exit_code == 2 and "head 5 is not in this explanation" in result.output


def test_main_returns_exit_codes(saved_trace, tmp_path):
    assert main(["learners"]) == 0
    assert main(["explain", "--trace", str(saved_trace), "--no-verify", "--target", "99",
                 "--out", str(tmp_path / "o")]) == 2


@pytest.mark.slow
def test_trace_then_explain_a_checkpoint_directory(tmp_path):
    pytest.importorskip("torch")
    model, tokenizer = tiny.tiny_llama(seed=3)
    ckpt = tmp_path / "ckpt"
    model.save_pretrained(ckpt)
    tokenizer.save_pretrained(ckpt)
    traced = tmp_path / "trace"
    result = runner.invoke(app, ["trace", "--model", str(ckpt), "--prompt", "the cat sits on the mat and the dog sees",
                                 "--max-new-tokens", "2", "--out", str(traced)])
    assert result.exit_code == 0, result.output
    assert (traced / "trace.safetensors").is_file() and "explain it with" in result.output
    as_file = tmp_path / "t.npz"
    assert runner.invoke(app, ["trace", "--model", str(ckpt), "--prompt", "the cat", "--max-new-tokens", "1",
                               "--out", str(as_file)]).exit_code == 0
    assert as_file.is_file()
    out = tmp_path / "out"
    result = runner.invoke(app, ["explain", "--trace", str(traced), "--model", str(ckpt), "--target", "-1",
                                 "--max-set-size", "2", "--criterion", "prob-drop", "--fraction", "0.7",
                                 "--out", str(out)])
    assert result.exit_code == 0, result.output
    explanation = Explanation.load(out / "explanation.json")
    assert explanation.provenance["criterion_params"] == {"fraction": 0.7}
    assert explanation.status in ("explained", "not-explained")  # a random model may have no small explanation
    assert explanation.search.n_interventions > 0 and (out / "report.html").stat().st_size > 10_000


def test_fraction_needs_prob_drop(saved_trace, tmp_path):
    result = runner.invoke(app, ["explain", "--trace", str(saved_trace), "--no-verify", "--fraction", "0.3",
                                 "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "--fraction 0.3 only applies to --criterion prob-drop" in result.output


def _demo_checkpoint_or_skip():
    pytest.importorskip("torch")
    from whytoken.adapters.loading import demo_checkpoint
    from whytoken.errors import CheckpointError

    try:
        return demo_checkpoint()
    except CheckpointError as err:
        pytest.skip(f"the embedded demo checkpoint is not in the package yet ({err})")


@pytest.mark.slow
def test_demo_writes_the_four_outputs(tmp_path):
    _demo_checkpoint_or_skip()
    out = tmp_path / "demo"
    result = runner.invoke(app, ["demo", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["explanation.json", "graph.graphml", "graph.json", "report.html"]
    explanation = Explanation.load(out / "explanation.json")
    assert explanation.provenance["model"] and explanation.patch_grid is not None
    # oracle: the synthetic world's ground truth for the built-in scene (the cross's patch, the word "cross")
    assert explanation.status == "explained", explanation.message
    found = {(m.patch if m.patch is not None else m.text) for s in explanation.minimal_sets for m in s.members}
    assert found and found <= {(1, 2), "cross"}, found
    assert explanation.provenance["n_samples"] == 64 and explanation.provenance["target_row"] == "predicting"
    assert "Truth" in result.output and "forward passes" in result.output
    html = (out / "report.html").read_text()
    assert "data:image/png;base64," in html and explanation.target.text.strip() in html


def test_unknown_model_lists_the_short_names(tmp_path):
    pytest.importorskip("torch")
    result = runner.invoke(app, ["explain", "--model", "no-such-model", "--prompt", "hi", "--out", str(tmp_path)])
    assert result.exit_code == 2
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "smollm2-135m-instruct" in errors[0] and "Traceback" not in result.output


def test_an_unexpected_exception_is_an_internal_error_with_exit_code_1(saved_trace, tmp_path, monkeypatch):
    import whytoken.query

    def broken(*args, **kwargs):
        raise KeyError("heads")

    monkeypatch.setattr(whytoken.query, "explain", broken)
    result = runner.invoke(app, ["explain", "--trace", str(saved_trace), "--no-verify", "--out", str(tmp_path / "o")])
    assert result.exit_code == 1, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "internal error while explaining the target: KeyError" in errors[0]
    assert "please report" in errors[0] and "Traceback" not in result.output


def test_ctrl_c_exits_130_without_a_traceback(saved_trace, tmp_path, monkeypatch):
    import whytoken.query

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(whytoken.query, "explain", interrupted)
    result = runner.invoke(app, ["explain", "--trace", str(saved_trace), "--no-verify", "--out", str(tmp_path / "o")])
    assert result.exit_code == 130 and "interrupted" in result.output and "Traceback" not in result.output


def test_out_that_is_an_existing_file_is_bad_input(saved_trace, tmp_path):
    taken = tmp_path / "taken"
    taken.write_text("keep me")
    result = runner.invoke(app, ["explain", "--trace", str(saved_trace), "--no-verify", "--layer", "1",
                                 "--out", str(taken)])
    assert result.exit_code == 2, result.output
    assert "OutputError" in result.output and "taken" in result.output and "a file is in the way" in result.output
    assert taken.read_text() == "keep me"


def test_graph_export_of_a_damaged_explanation_names_the_file(tmp_path):
    bad = tmp_path / "explanation.json"
    bad.write_text(json.dumps({"schema": "whytoken.explanation/1", "heads": 5}))
    result = runner.invoke(app, ["graph", "export", str(bad), "--format", "dot"])
    assert result.exit_code == 2, result.output
    assert "explanation.json" in result.output and "Traceback" not in result.output


def test_sigterm_is_handled_like_ctrl_c_with_exit_code_143(saved_trace, tmp_path):
    import os
    import subprocess
    import sys

    code = ("import os, signal, sys, whytoken.query\n"
            "def stop(*a, **k):\n    os.kill(os.getpid(), signal.SIGTERM)\n    import time; time.sleep(30)\n"
            "whytoken.query.explain = stop\n"
            "from whytoken.cli import main\n"
            f"sys.exit(main(['explain', '--trace', {str(saved_trace)!r}, '--no-verify', '--out', "
            f"{str(tmp_path / 'o')!r}]))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert out.returncode == 143, out.stderr[-2000:]
    assert "terminated" in out.stderr and "Traceback" not in out.stderr


def test_explain_all_tokens_writes_one_folder_per_token_and_the_answer(saved_trace, tmp_path):
    from whytoken.query import AnswerExplanation

    out = tmp_path / "all"
    result = runner.invoke(app, ["explain", "--trace", str(saved_trace), "--no-verify", "--layer", "1",
                                 "--target", "all", "--max-passes", "20", "--policy", "graph-guided",
                                 "--pool", "text", "--out", str(out)])
    assert result.exit_code == 0, result.output
    answer = AnswerExplanation.load(out / "answer.json")
    assert [e.target.position for e in answer] == [10]
    assert sorted(p.name for p in (out / "token-10").iterdir()) == ["explanation.json", "graph.graphml",
                                                                   "graph.json", "report.html"]
    assert answer[0].provenance["pool"] == "text" and answer[0].provenance["max_passes"] == 20


def test_bad_target_value_is_a_clean_error(saved_trace, tmp_path):
    result = runner.invoke(app, ["explain", "--trace", str(saved_trace), "--no-verify", "--layer", "1",
                                 "--target", "last", "--out", str(tmp_path / "x")])
    assert result.exit_code == 2 and "--target 'last'" in result.output


def test_demo_model_must_have_a_demo_world(tmp_path):
    result = runner.invoke(app, ["demo", "--model", "smollm2-135m-instruct", "--out", str(tmp_path / "d")])
    assert result.exit_code == 2 and "no demo world" in result.output and "whytoken-world576" in result.output


def test_every_packaged_demo_world_has_a_sample_with_ground_truth():
    from whytoken.cli.demo import DEMO_MODELS, _truth, demo_sample

    for model in DEMO_MODELS:
        sample = demo_sample(model)
        assert sample.prompt and sample.image is not None and sample.answer
        assert "is caused by" in _truth(sample)
