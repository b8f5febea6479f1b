"""The layout of ``whytoken.experiments``: subpackages by concept, torch-free imports, deprecated flat paths.

The flat modules of earlier versions (``whytoken.experiments.world`` ...) must
keep importing, warn with the new path, and hand out the very objects the new
modules define; ``python -m whytoken.experiments.train`` / ``.evaluate`` (the
commands recorded in the committed checkpoint's metadata) must keep running.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
import warnings

import pytest

#: old flat module -> where its public names live now
MOVED = {
    "whytoken.experiments.world": "whytoken.experiments.worlds.demo",
    "whytoken.experiments.demo_model": "whytoken.experiments.training.demo_model",
    "whytoken.experiments.train": "whytoken.experiments.training",
    "whytoken.experiments.evaluate": "whytoken.experiments.training.evaluate",
    "whytoken.experiments.config": "whytoken.experiments.harness.config",
    "whytoken.experiments.datasets": "whytoken.experiments.harness.datasets",
    "whytoken.experiments.executors": "whytoken.experiments.harness.executors",
    "whytoken.experiments.plots": "whytoken.experiments.harness.plots",
    "whytoken.experiments.cli": "whytoken.experiments.harness.cli",
}

#: the public names of every old flat module before the move: the compatibility contract
OLD_NAMES = {
    "whytoken.experiments.world": (
        "COLORS SHAPES PLURALS RELATIONS KINDS COUNT_WORDS ABSENT_ANSWERS IMAGE_PLACEHOLDER PROMPT_TEMPLATE "
        "SPLIT_SEED_RANGES WorldConfig SceneObject Scene Question Sample make_sample ask questions_about "
        "generate render_scene blank_patches split_of_seed answer_vocabulary vocabulary"
    ).split(),
    "whytoken.experiments.demo_model": (
        "DEFAULT_CHECKPOINT_DIR METADATA_FILE SPECIAL_TOKENS CHAT_TEMPLATE DemoArchitecture "
        "sincos_position_table build_tokenizer build_image_processor build_processor build_model load_demo "
        "read_metadata world_config_of encode image_token_positions cause_token_positions"
    ).split(),
    "whytoken.experiments.train": "TrainConfig TrainResult pick_questions build_batch hidden_states train save_checkpoint main".split(),
    "whytoken.experiments.evaluate": (
        "predict_answers accuracy_by_kind InterventionReport intervention_check feature_leakage format_report "
        "main"
    ).split(),
    "whytoken.experiments.config": (
        "KNOWN_KEYS KNOWN_METRICS GLOBAL_SETTING_KEYS MethodSpec Setting ExperimentConfig load_config "
        "stable_hash"
    ).split(),
    "whytoken.experiments.datasets": (
        "ExperimentSample DatasetKind register_dataset list_datasets get_dataset_kind validate_dataset_spec "
        "load_dataset packaged_prompt_lists ground_truth_positions align_words"
    ).split(),
    "whytoken.experiments.executors": (
        "Executor LocalExecutor RayExecutor register_executor list_executors get_executor "
        "validate_executor_spec"
    ).split(),
    "whytoken.experiments.plots": "plot_curves plot_flip_sizes plot_metric_vs_parameter varying_parameters modal_slice write_plots".split(),
    "whytoken.experiments.cli": "app".split(),
    "whytoken.experiments.harness": (
        "ROW_SCHEMA RunSummary SampleTask TaskResult ToyModel run_experiment run_sample load_model_for "
        "select_targets expand_settings row_id read_rows summarize_rows summary_markdown write_summary "
        "SUMMARY_COLUMNS format_cell paired_comparison paired_markdown VOLATILE_FIELDS"
    ).split(),
    "whytoken.experiments.baselines": (
        "Attribution AttributionMethod register_baseline get_baseline list_baselines baseline_class "
        "candidate_positions predicting_row rank_by_scores attention_rollout relevancy_map resolve_layer "
        "AttentionBaseline RolloutBaseline RelevancyBaseline GradientXInputBaseline RandomBaseline "
        "WhytokenMethod baseline_views whytoken_scores"
    ).split(),
    "whytoken.experiments.metrics": (
        "PredictionLike ChangeCriterion Predict RemovalCurve CachedPredictor deletion_curve insertion_curve "
        "normalized_auc flip_size_from_changes precision_recall flip_rate describe_flip_sizes "
        "top_token_changed prob_after"
    ).split(),
}

#: names of the old modules and the new module that defines each
NEW_HOMES = {
    "whytoken.experiments.world": {"generate": "worlds.demo.sampling", "Sample": "worlds.demo.questions",
                                   "blank_patches": "worlds.demo.scenes", "WorldConfig": "worlds.demo.config"},
    "whytoken.experiments.demo_model": {"load_demo": "training.demo_model", "encode": "training.encoding"},
    "whytoken.experiments.train": {"TrainConfig": "training.config", "build_batch": "training.batches",
                                   "train": "training.loop", "save_checkpoint": "training.checkpoint",
                                   "main": "training.train", "_SEED_STRIDE": "training.config"},
    "whytoken.experiments.config": {"ExperimentConfig": "harness.config", "Setting": "harness.sweeps",
                                    "stable_hash": "harness.hashing"},
    "whytoken.experiments.datasets": {"load_dataset": "harness.datasets.base", "_DATASETS": "harness.datasets.base",
                                      "align_words": "harness.datasets.ground_truth"},
}


def _fresh_import(name: str):
    sys.modules.pop(name, None)
    return importlib.import_module(name)


@pytest.mark.parametrize("old", sorted(MOVED))
def test_old_flat_paths_warn_and_forward_every_name(old):
    with pytest.warns(DeprecationWarning, match=rf"{old} is deprecated; import from {MOVED[old]}"):
        module = _fresh_import(old)
    assert set(OLD_NAMES[old]) <= set(module.__all__), old
    for name in module.__all__:
        assert getattr(module, name) is not None
    for name, home in NEW_HOMES.get(old, {}).items():
        assert getattr(module, name) is getattr(importlib.import_module(f"whytoken.experiments.{home}"), name)
    with pytest.raises(AttributeError, match="moved to"):
        getattr(module, "no_such_name")


def test_star_import_of_an_old_path_gives_its_public_names():
    namespace: dict = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        exec("from whytoken.experiments.world import *", namespace)
    from whytoken.experiments.worlds import demo

    assert {k for k in namespace if not k.startswith("__")} == set(demo.__all__)


@pytest.mark.parametrize("package", ["whytoken.experiments", "whytoken.experiments.worlds",
                                     "whytoken.experiments.baselines", "whytoken.experiments.metrics",
                                     "whytoken.experiments.harness", "whytoken.experiments.harness.cli"])
def test_experiment_layers_without_models_import_without_torch(package):
    code = (f"import importlib, sys; importlib.import_module({package!r}); "
            "print(','.join(m for m in ('torch', 'transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"importing {package} pulled in {out.stdout.strip()}"


@pytest.mark.parametrize("package", ["whytoken.experiments.baselines", "whytoken.experiments.metrics",
                                     "whytoken.experiments.harness"])
def test_modules_that_became_packages_keep_their_names_without_a_warning(package):
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        module = importlib.import_module(package)
    assert set(OLD_NAMES[package]) <= set(module.__all__)
    assert all(hasattr(module, name) for name in module.__all__)


@pytest.mark.parametrize("package", ["whytoken.experiments", "whytoken.experiments.worlds",
                                     "whytoken.experiments.worlds.demo", "whytoken.experiments.harness.datasets"])
def test_subpackages_export_what_they_list(package):
    module = importlib.import_module(package)
    assert module.__all__ and all(hasattr(module, name) for name in module.__all__)


@pytest.mark.slow
@pytest.mark.parametrize("module, prog", [
    ("whytoken.experiments.training.train", "python -m whytoken.experiments.training.train"),
    ("whytoken.experiments.train", "python -m whytoken.experiments.training.train"),
    ("whytoken.experiments.training.evaluate", "python -m whytoken.experiments.training.evaluate"),
    ("whytoken.experiments.evaluate", "python -m whytoken.experiments.training.evaluate"),
])
def test_training_commands_run_under_old_and_new_module_paths(module, prog):
    out = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"usage: {prog}")
    if module.count(".") == 2:  # the old path says where the command moved
        assert f"run {prog}" in out.stderr and "DeprecationWarning" in out.stderr
    else:
        assert "DeprecationWarning" not in out.stderr
