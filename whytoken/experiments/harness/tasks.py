"""The unit of work of a run: one sample, traced once, every method setting ranked and measured on the model.

A :class:`SampleTask` (picklable, so it travels to worker processes and Ray
tasks) holds the configuration, the sample and the row ids already done;
:func:`run_sample` loads the model once per process (:func:`load_model_for`),
traces the sample with every layer's attention, picks the targets, and for
every setting computes the ranking (:mod:`whytoken.experiments.baselines`)
and the metrics (:mod:`whytoken.experiments.metrics`), sharing one cached,
batched predictor per target and intervention kind. It returns a
:class:`TaskResult` with the rows, or the error that stopped the sample.
"""

from __future__ import annotations

import datetime as _dt
import importlib.metadata
import inspect
import logging
import math
import platform
import time
import traceback
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Mapping, Sequence

from whytoken.adapters.trace import Trace
from whytoken.errors import ConfigError, WhytokenError
from whytoken.experiments.baselines import candidate_positions, get_baseline
from whytoken.experiments.harness.config import ExperimentConfig
from whytoken.experiments.harness.datasets import ExperimentSample, ground_truth_positions
from whytoken.experiments.harness.hashing import stable_hash
from whytoken.experiments.harness.results import ROW_SCHEMA, row_id
from whytoken.experiments.harness.sweeps import Setting, expand_settings
from whytoken.experiments.harness.targets import select_targets
from whytoken.experiments.harness.toy_model import ToyModel
from whytoken.experiments.metrics import (
    CachedPredictor, deletion_curve, insertion_curve, modality_reliance, pointing_game, precision_recall,
)

__all__ = ["SampleTask", "TaskResult", "load_model_for", "run_sample"]

logger = logging.getLogger(__name__)


_MODEL_CACHE: dict[str, Any] = {}


def load_model_for(spec: Mapping[str, Any], threads: int = 1) -> Any:
    """The model a configuration's ``model`` section names, cached per process.

    ``{"name": "toy", ...}`` builds a :class:`ToyModel`; anything else goes
    to :func:`whytoken.adapters.load_model` with the remaining keys as
    keyword arguments.
    """
    key = stable_hash(dict(spec))
    if key in _MODEL_CACHE:
        return _MODEL_CACHE[key]
    options = {k: (list(v) if isinstance(v, tuple) else v) for k, v in spec.items() if k != "name"}
    name = str(spec["name"])
    if name == "toy":
        try:
            model = ToyModel(**options)
        except TypeError as err:
            raise ConfigError(f"model options {sorted(options)} are invalid for the toy model: {err}; fix: remove "
                              "them") from err
    else:
        try:
            import torch

            torch.set_num_threads(int(threads))
        except ImportError:  # pragma: no cover - torch is a dependency
            pass
        from whytoken.adapters import load_model

        model = load_model(name, **options)
    _MODEL_CACHE[key] = model
    return model


@dataclass(frozen=True)
class SampleTask:
    """Everything one worker needs for one sample (picklable)."""

    config: ExperimentConfig
    sample: ExperimentSample
    skip_row_ids: frozenset[str] = frozenset()
    fail_fast: bool = False


@dataclass(frozen=True)
class TaskResult:
    """What a task sends back: its rows, or the error that stopped it."""

    sample_id: str
    rows: tuple[dict, ...]
    error: dict | None = None
    row_errors: tuple[dict, ...] = ()
    stats: Mapping[str, Any] = field(default_factory=dict)


def _versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for package in ("whytoken", "torch", "transformers", "numpy", "causal-learn"):
        try:
            out[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            out[package] = None
    return out


def _round(x: float | None, digits: int = 6) -> float | None:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return None
    return float(f"{float(x):.{digits}g}")


def _sample_seed(config: ExperimentConfig, sample_id: str, generated_index: int) -> int:
    return int(stable_hash([config.seed, sample_id, generated_index], 8), 16)


def run_sample(task: SampleTask) -> TaskResult:
    """Trace one sample and compute every missing row for it (the unit of work of an executor)."""
    config, sample = task.config, task.sample
    try:
        return _run_sample(task)
    except Exception as err:  # one bad sample must not stop a long run
        if task.fail_fast:
            raise
        logger.warning("sample %s failed: %s: %s", sample.sample_id, type(err).__name__, err)
        return TaskResult(sample.sample_id, (), error={
            "sample_id": sample.sample_id, "type": type(err).__name__, "message": str(err),
            "traceback": traceback.format_exc(limit=6)[-3000:], "config": config.name,
        })


def _run_sample(task: SampleTask) -> TaskResult:
    config, sample = task.config, task.sample
    model = load_model_for(config.model, config.threads)
    start = time.perf_counter()
    trace = model.trace(image=sample.pil_image(), prompt=sample.prompt, max_new_tokens=config.max_new_tokens,
                        layers="all", **dict(config.trace))
    trace_seconds = time.perf_counter() - start
    gt = ground_truth_positions(trace, sample) if "ground_truth" in config.metrics else None
    settings = expand_settings(config.settings(), trace.n_heads)
    versions = _versions()
    batch_kwargs = ({"batch_size": config.batch_size}
                    if "batch_size" in inspect.signature(model.predict_batch).parameters else {})
    rows: list[dict] = []
    row_errors: list[dict] = []
    n_forward = 0
    for gen_index in select_targets(trace, sample, config.targets):
        gen = trace.generated[gen_index]
        t = gen.position
        candidates = candidate_positions(trace, t, **dict(config.candidates))
        predictors: dict[str, CachedPredictor] = {}
        seed = _sample_seed(config, sample.sample_id, gen_index)
        for setting in settings:
            rid = row_id(config, sample.sample_id, gen_index, setting)
            if rid in task.skip_row_ids:
                continue
            predictor = predictors.get(setting.intervention)
            if predictor is None:
                predictor = predictors[setting.intervention] = CachedPredictor(
                    partial(model.predict_batch, trace, t, kind=setting.intervention, **batch_kwargs),
                    batch_size=config.batch_size)
            try:
                row = _row(config, sample, trace, gen_index, candidates, setting, model, predictor, gt, seed)
            except WhytokenError as err:  # one method failing must not lose the sample's other rows
                if task.fail_fast:
                    raise
                logger.warning("sample %s, %s: %s: %s", sample.sample_id, setting.label, type(err).__name__, err)
                row_errors.append({"sample_id": sample.sample_id, "label": setting.label, "setting": setting.to_dict(),
                                   "generated_index": gen_index, "type": type(err).__name__, "message": str(err),
                                   "config": config.name})
                continue
            row.update(row_id=rid, trace_seconds=_round(trace_seconds, 4), versions=versions)
            rows.append(row)
        n_forward += sum(p.n_forward for p in predictors.values())
    return TaskResult(sample.sample_id, tuple(rows), row_errors=tuple(row_errors),
                      stats={"forward_passes": n_forward, "n_positions": trace.n_positions})


def _row(config: ExperimentConfig, sample: ExperimentSample, trace: Trace, gen_index: int,
         candidates: tuple[int, ...], setting: Setting, model: Any, predictor: CachedPredictor,
         gt: frozenset[int] | None, seed: int) -> dict[str, Any]:
    from whytoken.query.criteria import get_criterion

    gen = trace.generated[gen_index]
    method = get_baseline(setting.method, **dict(setting.params))
    attribution = method.attribute(trace, gen.position, model=model, candidates=candidates, seed=seed)
    ranking = attribution.ranking
    criterion = get_criterion(setting.criterion)
    metrics = set(config.metrics)
    row: dict[str, Any] = {
        "schema": ROW_SCHEMA,
        "run": config.name,
        "sample_id": sample.sample_id,
        "sample": {k: v for k, v in sample.describe().items() if k not in ("cause_patches", "cause_words")},
        "target": {"generated_index": gen_index, "n_generated": len(trace.generated), "position": gen.position,
                   "token_id": gen.token_id, "text": gen.text, "prob": _round(gen.prob)},
        "answer_correct": None if sample.answer is None else gen.text.strip().lower() == sample.answer.strip().lower(),
        "label": setting.label,
        "method": setting.method,
        "setting": setting.to_dict(),
        "setting_key": setting.key,
        "n_candidates": len(candidates),
        "max_k": config.max_k,
        "ranking_top": list(ranking[: config.max_k]),
        "explaining_set": None if attribution.explaining_set is None else list(attribution.explaining_set),
        "explaining_set_size": None if attribution.explaining_set is None else len(attribution.explaining_set),
        "verified": attribution.verified,
        "details": dict(attribution.details),
    }
    if metrics & {"flip", "deletion"}:
        deletion = deletion_curve(ranking, predictor, config.max_k, criterion=criterion)
        row["flip_size"] = deletion.flip_size
        row["flipped_within_k"] = deletion.flip_size is not None
        if "deletion" in metrics:
            row["deletion_curve"] = [_round(p) for p in deletion.probs]
            row["deletion_auc"] = _round(deletion.auc)
    if "insertion" in metrics:
        insertion = insertion_curve(ranking, predictor, config.max_k, criterion=criterion, original_prob=gen.prob)
        row["insertion_curve"] = [_round(p) for p in insertion.probs]
        row["insertion_auc"] = _round(insertion.auc)
    if "ground_truth" in metrics:
        row["ground_truth"] = None
        if gt is not None:
            truth = sorted(gt)
            p_gt, r_gt = precision_recall(ranking[: len(truth)], truth) if truth else (None, None)
            if attribution.explaining_set is not None:
                selected: Sequence[int] | None = attribution.explaining_set
            elif row.get("flip_size") is not None:
                selected = ranking[: row["flip_size"]]
            else:
                selected = None
            p_set, r_set = precision_recall(selected, truth) if selected is not None and truth else (None, None)
            row["ground_truth"] = {"positions": truth, "precision_at_gt": _round(p_gt), "recall_at_gt": _round(r_gt),
                                   "precision_set": _round(p_set), "recall_set": _round(r_set),
                                   "set_source": None if selected is None else (
                                       "explaining_set" if attribution.explaining_set is not None else "flip_prefix"),
                                   **_patch_truth(trace, candidates, ranking, selected, gt)}
    if "modality" in metrics:
        row["modality"] = _modality(trace, gen, candidates, attribution, predictor, criterion)
    if "cost" in metrics:
        row["cost"] = {"forward_passes": attribution.forward_passes, "seconds": _round(attribution.seconds, 4),
                       "ci_tests": attribution.details.get("n_ci_tests")}
    row["provenance"] = {"model": dict(config.model), "model_info": {k: trace.model_info.get(k) for k in (
        "name", "hf_class", "adapter", "revision", "n_layers", "n_heads", "head_dim", "dtype")},
        "dataset": dict(config.dataset), "seed": seed, "config_seed": config.seed,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), "host": platform.node()}
    return row


def _image_positions(trace: Trace, positions: Sequence[int]) -> list[int]:
    from whytoken.adapters.trace import TokenKind

    return [p for p in positions if trace.positions[p].kind is TokenKind.IMAGE_PATCH]


def _patch_truth(trace: Trace, candidates: Sequence[int], ranking: Sequence[int], selected: Sequence[int] | None,
                 gt: frozenset[int]) -> dict[str, Any]:
    """Ground truth on the image alone: the pointing game and the selection's image members against the
    ground-truth patches (precision over its image members; None where either side has no patch)."""
    patches = set(_image_positions(trace, sorted(gt)))
    if not patches:
        return {"n_patches": 0, "pointing": None, "precision_patches": None, "recall_patches": None}
    image = _image_positions(trace, candidates)
    chosen = _image_positions(trace, list(selected)) if selected is not None else []
    precision, recall = precision_recall(chosen, patches) if chosen else (None, None)
    return {"n_patches": len(patches), "pointing": pointing_game(ranking, patches, image),
            "precision_patches": _round(precision), "recall_patches": _round(recall)}


def _modality(trace: Trace, gen: Any, candidates: Sequence[int], attribution: Any, predictor: CachedPredictor,
              criterion: Any) -> dict[str, Any]:
    """Which modality carries the answer (:func:`~whytoken.experiments.metrics.modality_reliance`): every
    image token and every prompt word of the pool removed at once (two passes, shared by the methods)."""
    from whytoken.adapters.trace import TokenKind

    root = gen.position - 1 if trace.is_causal else gen.position  # whytoken's target node, never removed
    pool = [c for c in candidates if c != root]
    text = [p for p in pool if trace.positions[p].kind is TokenKind.PROMPT_TEXT]
    kinds = ([trace.positions[p].kind.name for p in attribution.explaining_set]
             if attribution.explaining_set is not None and attribution.verified else [])
    return modality_reliance(predictor, _image_positions(trace, pool), text, gen.prob, set_kinds=kinds,
                             criterion=criterion).to_dict()
