"""The faithfulness harness: run a configuration, write one row per sample x target x method x setting.

:func:`run_experiment` reads an :class:`~whytoken.experiments.config.ExperimentConfig`,
loads the dataset, cuts it into one task per sample and runs the tasks on
the configured executor (:mod:`whytoken.experiments.executors`). A task
traces its sample once (every layer's attention), picks the target tokens,
and for every method setting computes the ranking
(:mod:`whytoken.experiments.baselines`) and the metrics
(:mod:`whytoken.experiments.metrics`) on the model, sharing one cached,
batched predictor per target and intervention kind.

Output folder
-------------
``results.jsonl``
    One JSON row per sample x target x method x setting (schema
    :data:`ROW_SCHEMA`), appended as tasks finish. Rows carry a stable
    ``row_id`` (hash of sample, target, method label, setting and the
    run-level keys that change results); a second run of the same
    configuration skips every row already present, so runs resume after a
    crash and extend when methods or sweep values are added.
``errors.jsonl``
    One line per failed sample (the sample reruns next time).
``config.json``
    The normalised configuration of the latest run.
``summary.csv`` / ``summary.md``
    One line per method setting (:func:`summarize_rows`).
``plots/``
    Deletion and insertion curves, flip-size histograms, metric vs swept
    parameter (:mod:`whytoken.experiments.plots`).

Models
------
``model`` names anything :func:`whytoken.adapters.load_model` accepts, or
``toy``: :class:`ToyModel`, a deterministic numpy stand-in (no torch) whose
token is carried by the summed *importance* of its context, used by the
tests and for trying a configuration quickly.

Examples
--------
>>> import tempfile
>>> config = ExperimentConfig.from_dict({
...     "name": "doc", "model": "toy", "dataset": {"kind": "prompts", "name": "smollm2_50", "n": 2},
...     "methods": ["attention", "random"], "max_k": 3, "metrics": ["flip", "deletion"]})
>>> with tempfile.TemporaryDirectory() as out:
...     summary = run_experiment(config, out, write_report=False)
...     again = run_experiment(config, out, write_report=False)
>>> summary.n_new_rows, again.n_new_rows, summary.n_errors
(4, 0, 0)
"""

from __future__ import annotations

import datetime as _dt
import importlib.metadata
import inspect
import json
import logging
import math
import os
import platform
import time
import traceback
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from whytoken.adapters.trace import GeneratedToken, Position, Prediction, TokenKind, Trace
from whytoken.errors import (
    ConfigError,
    InterventionError,
    InvalidImageError,
    InvalidParameterError,
    UnknownInterventionError,
    WhytokenError,
)
from whytoken.experiments.baselines import candidate_positions, get_baseline
from whytoken.experiments.config import ExperimentConfig, Setting, load_config, stable_hash
from whytoken.experiments.datasets import ExperimentSample, ground_truth_positions, load_dataset
from whytoken.experiments.executors import get_executor
from whytoken.experiments.metrics import (
    CachedPredictor,
    deletion_curve,
    describe_flip_sizes,
    insertion_curve,
    precision_recall,
)

__all__ = [
    "ROW_SCHEMA",
    "RunSummary",
    "SampleTask",
    "TaskResult",
    "ToyModel",
    "run_experiment",
    "run_sample",
    "load_model_for",
    "select_targets",
    "expand_settings",
    "row_id",
    "read_rows",
    "summarize_rows",
    "summary_markdown",
    "write_summary",
    "SUMMARY_COLUMNS",
    "format_cell",
    "paired_comparison",
    "paired_markdown",
]

logger = logging.getLogger(__name__)

#: Schema tag of every results row.
ROW_SCHEMA = "whytoken.experiment-row/1"
#: Row fields that depend on timing or the machine; they are left out when comparing runs.
VOLATILE_FIELDS = ("seconds", "created", "host", "trace_seconds", "timings", "executor")


# ============================================================================ toy model
def _unit_hash(*parts: Any) -> float:
    """A number in [0, 1) from a stable hash of ``parts``."""
    return int(stable_hash(list(parts), 12), 16) / float(16 ** 12)


class ToyModel:
    """A deterministic, torch-free stand-in for a :class:`~whytoken.adapters.ModelAdapter`.

    Every context position ``j`` carries an *importance* ``w_j``: a prompt
    word's comes from a hash of its text (in ``[0, word_scale)``), an image
    patch's is its mean absolute deviation from mid grey (so coloured objects
    on a grey background matter). The generated token keeps its identity
    while the removed share of the total importance stays below ``1 -
    threshold``; its probability is ``sigmoid(sharpness * (kept share -
    threshold))``. Attention rows follow the importances with seeded noise,
    so attention-based rankings are informative but imperfect.

    Interventions: ``mask`` removes a position's importance entirely,
    ``zero`` removes ``zero_strength`` (default 0.8) of it.

    Parameters
    ----------
    n_layers, n_heads, head_dim : int
        Shape of the fake attention.
    patch_size : int
        Pixel side of one image patch when a prompt contains ``<image>``.
    sharpness, threshold : float
        Of the probability curve.
    word_scale : float
        Largest word importance.
    seed : int
        Seeds the attention noise.

    Examples
    --------
    >>> model = ToyModel()
    >>> trace = model.trace(prompt="The capital of France is", max_new_tokens=1)
    >>> [p.text for p in trace.positions]
    ['<s>', 'The', 'capital', 'of', 'France', 'is', ' red']
    >>> full = model.predict_batch(trace, 6, [()])[0]
    >>> full.changed, round(full.original_token_prob_after, 3) == round(trace.generated[0].prob, 3)
    (False, True)
    >>> model.predict_batch(trace, 6, [(1, 2, 3, 4, 5)])[0].changed
    True
    """

    name = "toy"
    _ANSWERS = (" paris", " yes", " no", " red", " blue", " two")

    def __init__(self, n_layers: int = 2, n_heads: int = 2, head_dim: int = 16, patch_size: int = 16,
                 sharpness: float = 12.0, threshold: float = 0.5, word_scale: float = 0.3,
                 zero_strength: float = 0.8, seed: int = 0) -> None:
        for key, value in (("n_layers", n_layers), ("n_heads", n_heads), ("head_dim", head_dim),
                           ("patch_size", patch_size)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidParameterError(f"ToyModel {key} must be a positive int, got {value!r}")
        if not 0.0 < threshold < 1.0:
            raise InvalidParameterError(f"ToyModel threshold must be in (0, 1), got {threshold!r}")
        self.n_layers, self.n_heads, self.head_dim, self.patch_size = n_layers, n_heads, head_dim, patch_size
        self.sharpness, self.threshold, self.word_scale = float(sharpness), float(threshold), float(word_scale)
        self.zero_strength, self.seed = float(zero_strength), int(seed)

    # -------------------------------------------------------------- adapter API
    def list_interventions(self) -> list[str]:
        """The removal kinds this model supports."""
        return ["mask", "zero"]

    def _weight(self, position: Position, images: Sequence[np.ndarray]) -> float:
        if position.kind is TokenKind.IMAGE_PATCH:
            x0, y0, x1, y1 = position.box  # type: ignore[misc]
            block = images[0][y0:y1, x0:x1].astype(float)
            return float(np.abs(block - 128.0).mean() / 128.0)
        if position.kind is TokenKind.SPECIAL:
            return 0.0
        return self.word_scale * _unit_hash("toy-word", position.text.strip().lower())

    def _prob(self, weights: np.ndarray, keep: np.ndarray) -> float:
        total = float(weights.sum())
        share = float((weights * keep).sum() / total) if total > 0 else 1.0
        return 1.0 / (1.0 + math.exp(-self.sharpness * (share - self.threshold)))

    def trace(self, image: Any = None, prompt: str = "", max_new_tokens: int = 1,
              layers: Any = "all", **_: Any) -> Trace:
        """Tokenize on whitespace (``<image>`` becomes one position per patch), generate, attend."""
        if not prompt or not prompt.strip():
            from whytoken.errors import InvalidPromptError

            raise InvalidPromptError("the toy model needs a non-empty prompt")
        images: list[np.ndarray] = []
        if image is not None:
            images.append(np.asarray(image.convert("RGB") if hasattr(image, "convert") else image, dtype=np.uint8))
        positions = [Position(0, TokenKind.SPECIAL, 1, "<s>")]
        for word in prompt.split():
            if word == "<image>":
                if not images:
                    raise InvalidImageError("the prompt has an <image> placeholder but no image was given")
                h, w = images[0].shape[:2]
                ps = self.patch_size
                for r in range(h // ps):
                    for c in range(w // ps):
                        positions.append(Position(len(positions), TokenKind.IMAGE_PATCH, 2, "<image>", patch=(r, c),
                                                  box=(c * ps, r * ps, (c + 1) * ps, (r + 1) * ps), image_index=0))
            else:
                positions.append(Position(len(positions), TokenKind.PROMPT_TEXT, 10 + int(_unit_hash(word) * 1000),
                                          word))
        generated = []
        for step in range(int(max_new_tokens)):
            answer = self._ANSWERS[int(_unit_hash("toy-answer", prompt, step) * len(self._ANSWERS))]
            weights = np.array([self._weight(p, images) for p in positions])
            prob = self._prob(weights, np.ones(len(positions)))
            token_id = 2000 + self._ANSWERS.index(answer)
            generated.append(GeneratedToken(len(positions), token_id, answer, prob))
            positions.append(Position(len(positions), TokenKind.GENERATED, token_id, answer))
        weights = np.array([self._weight(p, images) for p in positions])
        n = len(positions)
        all_layers = range(self.n_layers) if layers in ("all", None) else \
            [l % self.n_layers for l in (layers if isinstance(layers, (list, tuple)) else [layers])]
        attentions = {}
        for layer in all_layers:
            rng = np.random.default_rng([self.seed, layer, int(stable_hash(prompt, 8), 16)])
            logits = np.log(weights + 0.02)[None, None, :] * (1.0 + 0.5 * np.arange(self.n_heads))[:, None, None]
            logits = logits + rng.normal(0.0, 0.7, size=(self.n_heads, n, n))
            logits = np.where(np.tril(np.ones((n, n), dtype=bool))[None], logits, -np.inf)
            a = np.exp(logits - logits.max(axis=-1, keepdims=True))
            attentions[layer] = (a / a.sum(axis=-1, keepdims=True)).astype(np.float32)
        return Trace(tuple(positions), tuple(generated), attentions, prompt,
                     None if not images else (images[0].shape[1], images[0].shape[0]),
                     None if not images else (images[0].shape[0] // self.patch_size,
                                              images[0].shape[1] // self.patch_size),
                     {"name": "toy", "hf_class": None, "adapter": "ToyModel", "n_layers": self.n_layers,
                      "n_heads": self.n_heads, "head_dim": self.head_dim, "is_causal": True},
                     images=tuple(images), adapter=self)

    def predict_batch(self, trace: Trace, target: int | str, removal_sets: Iterable[Iterable[int]],
                      kind: str = "mask", batch_size: int = 16) -> list[Prediction]:
        """Predict the target position with each set of positions removed (``batch_size`` is accepted, unused)."""
        if kind not in self.list_interventions():
            raise UnknownInterventionError(f"unknown intervention {kind!r}; the toy model supports "
                                           f"{self.list_interventions()}")
        t = trace.target_index(target)
        gen = trace.generated_at(t)
        if gen is None:
            raise InterventionError(f"position {t} is not a generated token of the trace")
        weights = np.array([self._weight(p, trace.images) for p in trace.positions[:t]])
        out = []
        for removed in removal_sets:
            removed = tuple(sorted(int(i) for i in removed))
            if any(not 0 <= i < t for i in removed):
                raise InterventionError(f"removal set {removed} leaves the context 0..{t - 1} of target {t}")
            keep = np.ones(t)
            keep[list(removed)] = 0.0 if kind == "mask" else 1.0 - self.zero_strength
            p = self._prob(weights, keep)
            alt = 2000 + (self._ANSWERS.index(gen.text) + 1) % len(self._ANSWERS)
            top, top_text, top_p = (gen.token_id, gen.text, p) if p >= 0.5 else \
                (alt, self._ANSWERS[alt - 2000], 1.0 - p)
            out.append(Prediction(removed, kind, top, top_text, top_p, gen.token_id, gen.prob, target=t,
                                  original_token_prob_after=p))
        return out

    def predict(self, trace: Trace, target: int | str, removed: Iterable[int], kind: str = "mask") -> Prediction:
        """One removal set."""
        return self.predict_batch(trace, target, [tuple(removed)], kind=kind)[0]


# ============================================================================ models
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


# ============================================================================ tasks
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


def select_targets(trace: Trace, sample: ExperimentSample, targets: Any) -> list[int]:
    """Generated-token indices to explain for a sample under the run's ``targets`` rule.

    ``first``/``last``/``all``; ``answer``: the sample's ``target`` when set,
    else the first generated token whose text is the expected answer, else
    the first; a list: those generated indices that exist.
    """
    n = len(trace.generated)
    if targets != "answer":
        return _target_indices(n, targets)
    if n == 0:
        return []
    if sample.target is not None:
        position = trace.target_index(sample.target)
        return [i for i, g in enumerate(trace.generated) if g.position == position][:1] or [0]
    if sample.answer is not None:
        for i, g in enumerate(trace.generated):
            if g.text.strip().lower() == sample.answer.strip().lower():
                return [i]
    return [0]


def _target_indices(n: int, targets: Any) -> list[int]:
    """Generated indices for the rules that need only the generation length ``n``."""
    if n == 0:
        return []
    if targets == "first":
        return [0]
    if targets == "last":
        return [n - 1]
    if targets == "all":
        return list(range(n))
    return sorted({int(i) % n for i in targets if -n <= int(i) < n})


def expand_settings(settings: Sequence[Setting], n_heads: int) -> list[Setting]:
    """Replace ``heads: each`` by one setting per head ``0..n_heads-1``.

    Examples
    --------
    >>> s = Setting("attention", "attention", {"layer": -1, "heads": "each"}, "mask", "top-token")
    >>> [x.params["heads"] for x in expand_settings([s], 3)]
    [0, 1, 2]
    """
    out: list[Setting] = []
    for s in settings:
        if s.params.get("heads") == "each":
            out.extend(s.with_params(heads=h) for h in range(n_heads))
        else:
            out.append(s)
    return out


def _run_keys(config: ExperimentConfig) -> dict[str, Any]:
    """The run-level keys that change a row's values (part of every row id)."""
    return {"model": dict(config.model), "dataset": {k: v for k, v in config.dataset.items() if k != "n"},
            "max_k": config.max_k, "max_new_tokens": config.max_new_tokens, "metrics": sorted(config.metrics),
            "candidates": dict(config.candidates), "seed": config.seed, "trace": dict(config.trace)}


def row_id(config: ExperimentConfig, sample_id: str, generated_index: int, setting: Setting) -> str:
    """The stable identifier of one row (sample, target, method label, setting, run-level keys)."""
    return stable_hash([_run_keys(config), sample_id, int(generated_index), setting.label, setting.key], 20)


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
                                       "explaining_set" if attribution.explaining_set is not None else "flip_prefix")}
    if "cost" in metrics:
        row["cost"] = {"forward_passes": attribution.forward_passes, "seconds": _round(attribution.seconds, 4),
                       "ci_tests": attribution.details.get("n_ci_tests")}
    row["provenance"] = {"model": dict(config.model), "model_info": {k: trace.model_info.get(k) for k in (
        "name", "hf_class", "adapter", "revision", "n_layers", "n_heads", "head_dim", "dtype")},
        "dataset": dict(config.dataset), "seed": seed, "config_seed": config.seed,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), "host": platform.node()}
    return row


# ============================================================================ run
@dataclass(frozen=True)
class RunSummary:
    """What :func:`run_experiment` did.

    Attributes
    ----------
    output : Path
        The output folder.
    n_samples, n_skipped_samples : int
        Samples in the dataset, and those whose rows were all present already.
    n_new_rows, n_rows : int
        Rows written by this run, and rows in ``results.jsonl`` now.
    n_errors : int
        Samples that failed in this run, wholly or for some methods (see ``errors.jsonl``; they rerun next time).
    seconds : float
        Wall time.
    files : tuple of Path
        Summary and plot files written.
    """

    output: Path
    n_samples: int
    n_skipped_samples: int
    n_new_rows: int
    n_rows: int
    n_errors: int
    seconds: float
    files: tuple[Path, ...] = ()


def read_rows(path: str | os.PathLike[str]) -> list[dict]:
    """The rows of a ``results.jsonl`` (a missing file has none; a truncated last line is skipped)."""
    path = Path(path)
    if path.is_dir():
        path = path / "results.jsonl"
    if not path.is_file():
        return []
    rows = []
    for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            logger.warning("%s:%d is not valid JSON (interrupted write?); skipping it", path, line_no)
    return rows


def _expected_complete(config: ExperimentConfig, sample: ExperimentSample, previous: list[dict],
                       present: set[str]) -> bool:
    """Whether every row of a sample exists already (generation length and head count read from its rows)."""
    if not previous:
        return False
    first = previous[0]
    n_generated = first["target"].get("n_generated")
    n_heads = (first.get("provenance") or {}).get("model_info", {}).get("n_heads")
    if n_generated is None or n_heads is None:
        return False
    if config.targets == "answer":
        targets = sorted({r["target"]["generated_index"] for r in previous})
    else:
        targets = _target_indices(int(n_generated), config.targets)
    settings = expand_settings(config.settings(), int(n_heads))
    return all(row_id(config, sample.sample_id, g, s) in present for g in targets for s in settings)


def run_experiment(
    config: ExperimentConfig | str | os.PathLike[str],
    output: str | os.PathLike[str] | None = None,
    *,
    executor: Mapping[str, Any] | str | None = None,
    progress: Callable[[int, int, str], None] | None = None,
    fail_fast: bool = False,
    limit: int | None = None,
    write_report: bool = True,
) -> RunSummary:
    """Run (or resume) an experiment and write its results, summary and plots.

    Parameters
    ----------
    config : ExperimentConfig or path
        The configuration (a path is read with :func:`load_config`).
    output : path, optional
        Output folder (default: :meth:`ExperimentConfig.output_dir`).
    executor : mapping or str, optional
        Overrides the configuration's executor.
    progress : callable, optional
        ``progress(done, total, sample_id)`` after each sample.
    fail_fast : bool
        Re-raise the first sample error instead of recording it.
    limit : int, optional
        Run only the first ``limit`` samples.
    write_report : bool
        Write ``summary.csv``, ``summary.md`` and the plots.
    """
    start = time.perf_counter()
    if not isinstance(config, ExperimentConfig):
        config = load_config(config)
    if executor is not None:
        config = config.replace(executor={"name": executor} if isinstance(executor, str) else dict(executor))
    out = config.output_dir(output)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(config.to_dict(), indent=2, default=str) + "\n", encoding="utf-8")
    results_path = out / "results.jsonl"
    existing = read_rows(results_path)
    present = {r["row_id"] for r in existing if "row_id" in r}
    by_sample: dict[str, list[dict]] = {}
    for r in existing:
        by_sample.setdefault(r.get("sample_id"), []).append(r)

    base_dir = Path(config.source).parent if config.source else None
    samples = load_dataset(dict(config.dataset), base_dir)
    if limit is not None:
        samples = samples[: int(limit)]
    tasks, skipped = [], 0
    for sample in samples:
        previous = [r for r in by_sample.get(sample.sample_id, []) if r["row_id"] in present]
        if _expected_complete(config, sample, previous, present):
            skipped += 1
            continue
        tasks.append(SampleTask(config, sample, frozenset(r["row_id"] for r in previous), fail_fast))
    logger.info("%s: %d samples, %d complete already, %d to run", config.name, len(samples), skipped, len(tasks))

    n_new, n_errors, done = 0, 0, 0
    if progress is not None:
        progress(0, len(tasks), "")
    if tasks:
        runner = get_executor(dict(config.executor))
        try:
            with open(results_path, "a", encoding="utf-8") as results, \
                    open(out / "errors.jsonl", "a", encoding="utf-8") as errors:
                for _, result in runner.map_unordered(run_sample, tasks):
                    for row in result.rows:
                        if row["row_id"] in present:
                            continue
                        row["executor"] = runner.describe()
                        results.write(json.dumps(row, default=str, allow_nan=False) + "\n")
                        present.add(row["row_id"])
                        n_new += 1
                    results.flush()
                    if result.error is not None or result.row_errors:
                        n_errors += 1
                        for error in ((result.error,) if result.error is not None else ()) + result.row_errors:
                            errors.write(json.dumps(error, default=str) + "\n")
                        errors.flush()
                    done += 1
                    if progress is not None:
                        progress(done, len(tasks), result.sample_id)
        finally:
            runner.close()
    files: tuple[Path, ...] = ()
    rows = read_rows(results_path)
    if write_report and rows:
        files = write_summary(rows, out, max_k=config.max_k)
    return RunSummary(out, len(samples), skipped, n_new, len(rows), n_errors, time.perf_counter() - start, files)


# ============================================================================ summaries
def _mean(values: Iterable[Any]) -> float | None:
    vals = [float(v) for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return float(np.mean(vals)) if vals else None


def _setting_text(setting: Mapping[str, Any], method: str) -> str:
    from whytoken.experiments.baselines import baseline_class

    try:
        defaults = baseline_class(method).defaults
    except WhytokenError:
        defaults = {}
    parts = [f"{k}={v}" for k, v in setting.items()
             if k not in ("intervention", "criterion") and defaults.get(k, object()) != v]
    probe = [f"{k}={setting[k]}" for k, default in (("intervention", "mask"), ("criterion", "top-token"))
             if setting.get(k, default) != default]
    return ", ".join(parts + probe)


def summarize_rows(rows: Sequence[Mapping[str, Any]], max_k: int | None = None) -> list[dict[str, Any]]:
    """One summary line per (method label, setting): faithfulness, ground truth and cost means.

    Columns: ``label``, ``method``, ``setting`` (non-default parameters and
    the probing keys), ``n``, ``flip_rate`` (share flipped within ``max_k``),
    ``flip_mean``/``flip_median`` (over flipped rows), ``flip_mean_capped``
    (unflipped counted as ``max_k + 1``), ``deletion_auc``, ``insertion_auc``,
    ``gt_precision``/``gt_recall`` (top-|GT|), ``set_precision``/``set_recall``
    (the explaining set, or the flipping prefix), ``explained_rate`` (rows
    with a verified explaining set, whytoken only), ``forward_passes``,
    ``set_size`` (mean verified explaining-set size, whytoken only), ``exhaustive_passes`` (interventions an
    exhaustive search over the same candidates would need, whytoken only), ``seconds``. Lines are ordered by label,
    then setting (the one with only default parameters first); settings swept over single heads add a post-hoc "best head" line.

    Examples
    --------
    >>> rows = [{"label": "a", "method": "random", "setting": {"offset": 0}, "setting_key": "k", "max_k": 5,
    ...          "flip_size": s, "deletion_auc": 0.5} for s in (1, 3, None)]
    >>> line = summarize_rows(rows)[0]
    >>> line["n"], round(line["flip_rate"], 3), line["flip_mean"], line["flip_mean_capped"]
    (3, 0.667, 2.0, 3.333)
    """
    groups: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["label"], r["setting_key"]), []).append(r)
    out = []
    def order(item: tuple) -> tuple:
        (label, _), group = item
        text = _setting_text(group[0]["setting"], group[0]["method"])
        return (label, text != "", json.dumps(group[0]["setting"], sort_keys=True, default=str))

    for (label, key), group in sorted(groups.items(), key=order):
        first = group[0]
        k = int(max_k if max_k is not None else first.get("max_k", 20))
        line: dict[str, Any] = {"label": label, "method": first["method"],
                                "setting": _setting_text(first["setting"], first["method"]), "setting_key": key,
                                "n": len(group)}
        if any("flip_size" in r for r in group):
            stats = describe_flip_sizes([r.get("flip_size") for r in group], k)
            line.update(flip_rate=stats["flip_rate"], flip_mean=stats["mean"], flip_median=stats["median"],
                        flip_mean_capped=round(stats["mean_capped"], 3))
        line["deletion_auc"] = _mean(r.get("deletion_auc") for r in group)
        line["insertion_auc"] = _mean(r.get("insertion_auc") for r in group)
        gts = [r.get("ground_truth") for r in group if r.get("ground_truth")]
        line["gt_precision"] = _mean(g["precision_at_gt"] for g in gts)
        line["gt_recall"] = _mean(g["recall_at_gt"] for g in gts)
        line["set_precision"] = _mean(g["precision_set"] for g in gts)
        line["set_recall"] = _mean(g["recall_set"] for g in gts)
        if first["method"] == "whytoken":
            line["explained_rate"] = _mean(1.0 if r.get("verified") else 0.0 for r in group)
            line["set_size"] = _mean(r.get("explaining_set_size") for r in group if r.get("verified"))
            line["exhaustive_passes"] = _mean((r.get("details") or {}).get("exhaustive_interventions") for r in group)
        line["forward_passes"] = _mean((r.get("cost") or {}).get("forward_passes") for r in group)
        line["seconds"] = _mean((r.get("cost") or {}).get("seconds") for r in group)
        line["setting_params"] = dict(first["setting"])
        out.append(line)
    return out + _best_head_lines(out)


def _best_head_lines(lines: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """For settings swept over single heads (``heads: each``), the best head chosen post hoc.

    Best: highest flip rate, then smallest capped mean flip size, then smallest
    deletion AUC -- chosen on the very samples it is reported on, so it is an
    optimistic upper bound for "pick one head", labelled as such.
    """
    families: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for line in lines:
        heads = line["setting_params"].get("heads")
        if isinstance(heads, int) and not isinstance(heads, bool):
            rest = {k: v for k, v in line["setting_params"].items() if k != "heads"}
            families.setdefault((line["label"], json.dumps(rest, sort_keys=True, default=str)), []).append(line)
    out = []
    for (label, _), family in families.items():
        if len(family) < 2:
            continue

        def key(line: Mapping[str, Any]) -> tuple:
            return (-(line.get("flip_rate") or 0.0), line.get("flip_mean_capped") or math.inf,
                    line.get("deletion_auc") if line.get("deletion_auc") is not None else math.inf)

        best = min(family, key=key)
        head = best["setting_params"]["heads"]
        line = dict(best)
        line["setting"] = (best["setting"].replace(f"heads={head}", f"heads=best (head {head} of {len(family)}, "
                                                                     "chosen post hoc)"))
        line["setting_key"] = best["setting_key"] + "-best"
        out.append(line)
    return out


SUMMARY_COLUMNS = ("label", "setting", "n", "flip_rate", "flip_mean", "flip_median", "flip_mean_capped", "deletion_auc",
                   "insertion_auc", "gt_precision", "gt_recall", "set_precision", "set_recall", "explained_rate",
                   "set_size", "forward_passes", "exhaustive_passes", "seconds")


def format_cell(value: Any) -> str:
    """A summary value as table text (3 decimals; empty for missing values)."""
    if value is None:
        return ""
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.3f}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)


def summary_markdown(lines: Sequence[Mapping[str, Any]], max_k: int | None = None) -> str:
    """A markdown table of :func:`summarize_rows` lines (empty columns dropped).

    Examples
    --------
    >>> print(summary_markdown([{"label": "random", "setting": "", "n": 2, "flip_rate": 0.5}]))
    | method | setting | n | flipped <= K |
    |---|---|---|---|
    | random |  | 2 | 0.500 |
    """
    headers = {"label": "method", "flip_rate": f"flipped <= {max_k}" if max_k else "flipped <= K",
               "flip_mean": "flip size (mean)", "flip_median": "flip size (median)",
               "flip_mean_capped": "flip size (capped mean)", "deletion_auc": "deletion AUC (lower better)",
               "insertion_auc": "insertion AUC (higher better)", "gt_precision": "GT precision (top-#GT)",
               "gt_recall": "GT recall (top-#GT)", "set_precision": "set precision", "set_recall": "set recall",
               "explained_rate": "explained", "set_size": "set size (verified)", "forward_passes": "forward passes",
               "exhaustive_passes": "exhaustive search passes", "seconds": "seconds"}
    columns = [c for c in SUMMARY_COLUMNS if any(line.get(c) not in (None, "") for line in lines) or c in ("label", "setting")]
    out = ["| " + " | ".join(headers.get(c, c) for c in columns) + " |", "|" + "---|" * len(columns)]
    for line in lines:
        out.append("| " + " | ".join(format_cell(line.get(c)) for c in columns) + " |")
    return "\n".join(out)


def paired_comparison(rows: Sequence[Mapping[str, Any]], reference: str = "whytoken",
                      max_k: int | None = None) -> list[dict[str, Any]]:
    """Per-sample wins and losses of one method label against every other, on flip size and deletion AUC.

    Rows are paired by (sample, target, probing settings) using each label's
    first setting (the unswept one when a sweep ran). A flip size not reached
    within ``max_k`` counts as ``max_k + 1``.

    Returns
    -------
    list of dict
        Per other label: ``n`` pairs, ``flip_smaller``/``flip_equal``/``flip_larger`` (the
        reference's flip size compared with the other's) and ``auc_lower``/``auc_higher``.

    Examples
    --------
    >>> rows = [{"label": l, "sample_id": s, "target": {"generated_index": 0}, "setting_key": "k",
    ...          "setting": {"intervention": "mask"}, "flip_size": f, "deletion_auc": a, "max_k": 5}
    ...         for l, s, f, a in [("whytoken", "a", 1, .1), ("random", "a", 3, .5),
    ...                            ("whytoken", "b", None, .4), ("random", "b", 2, .2)]]
    >>> c = paired_comparison(rows)[0]
    >>> c["label"], c["n"], c["flip_smaller"], c["flip_larger"], c["auc_lower"], c["auc_higher"]
    ('random', 2, 1, 1, 1, 1)
    """
    first_key: dict[str, str] = {}
    for r in rows:
        first_key.setdefault(r["label"], r["setting_key"])
    chosen = [r for r in rows if r["setting_key"] == first_key[r["label"]]]

    def pair_key(r: Mapping[str, Any]) -> tuple:
        probe = r.get("setting", {})
        return (r["sample_id"], r["target"]["generated_index"], probe.get("intervention"), probe.get("criterion"))

    by_label: dict[str, dict[tuple, Mapping[str, Any]]] = {}
    for r in chosen:
        by_label.setdefault(r["label"], {})[pair_key(r)] = r
    if reference not in by_label:
        return []
    ref = by_label[reference]
    out = []
    for label in sorted(by_label):
        if label == reference:
            continue
        pairs = [(ref[k], other) for k, other in by_label[label].items() if k in ref]
        counts = {"flip_smaller": 0, "flip_equal": 0, "flip_larger": 0, "auc_lower": 0, "auc_higher": 0}
        for a, b in pairs:
            k = int(max_k if max_k is not None else a.get("max_k", 20))
            fa = a.get("flip_size") if a.get("flip_size") is not None else k + 1
            fb = b.get("flip_size") if b.get("flip_size") is not None else k + 1
            counts["flip_smaller" if fa < fb else "flip_larger" if fa > fb else "flip_equal"] += 1
            da, db = a.get("deletion_auc"), b.get("deletion_auc")
            if da is not None and db is not None and da != db:
                counts["auc_lower" if da < db else "auc_higher"] += 1
        out.append({"reference": reference, "label": label, "n": len(pairs), **counts})
    return out


def paired_markdown(comparison: Sequence[Mapping[str, Any]]) -> str:
    """A markdown table of :func:`paired_comparison` (empty string when there is nothing to compare)."""
    if not comparison:
        return ""
    ref = comparison[0]["reference"]
    out = [f"| {ref} vs | pairs | {ref} flips with fewer | same | more | lower deletion AUC | higher |",
           "|---|---|---|---|---|---|---|"]
    for c in comparison:
        out.append(f"| {c['label']} | {c['n']} | {c['flip_smaller']} | {c['flip_equal']} | {c['flip_larger']} | "
                   f"{c['auc_lower']} | {c['auc_higher']} |")
    return "\n".join(out)


def write_summary(rows: Sequence[Mapping[str, Any]], out: str | os.PathLike[str],
                  max_k: int | None = None, plots: bool = True) -> tuple[Path, ...]:
    """Write ``summary.csv``, ``summary.md`` and (``plots=True``) the PNG plots; return the paths."""
    import csv

    out = Path(out)
    lines = summarize_rows(rows, max_k)
    csv_path = out / "summary.csv"
    with open(csv_path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(SUMMARY_COLUMNS) + ["method", "setting_key"], extrasaction="ignore")
        writer.writeheader()
        for line in lines:
            writer.writerow({k: ("" if v is None else v) for k, v in line.items()})
    k = max_k if max_k is not None else (rows[0].get("max_k") if rows else None)
    md_path = out / "summary.md"
    paired = paired_markdown(paired_comparison(rows, max_k=k))
    md_path.write_text(summary_markdown(lines, k) + "\n" + (f"\nPer-sample comparison:\n\n{paired}\n" if paired else ""),
                       encoding="utf-8")
    files = [csv_path, md_path]
    if plots:
        from whytoken.experiments.plots import write_plots

        files.extend(write_plots(rows, out / "plots", max_k=k))
    return tuple(files)
