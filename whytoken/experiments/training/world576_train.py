"""Train the ``whytoken-world576`` LLaVA from scratch on the 576-patch world, resumably.

Command line (the committed checkpoint's command is in its metadata, ``train_command``)::

    python -m whytoken.experiments.training.world576_train --out runs/world576 [--package DIR]

``--out`` holds the run: ``train_state.pt`` (model, probes, optimiser, step;
rewritten atomically every ``checkpoint_every_s`` seconds), ``curve.jsonl``
(one line per 25 steps: running losses, training accuracy per kind, learning
rate, wall time; validation accuracy per kind every ``eval_every`` steps) and,
at the end, ``model/`` (the checkpoint). Re-running the same command resumes
from ``train_state.pt``: the data of step ``s`` is a pure function of
``(seed, s)`` (:func:`~.world576_batches.make_items`), so a resumed run sees
the data it would have seen. The same command with a larger ``--steps``
*extends* the run, when its state was saved before the learning rate began
to decay (the last ``decay_fraction`` of the steps): every step done had the
learning rate of the longer schedule, so the extended run is the longer run
(``--eval-every``, ``--eval-n``, ``--checkpoint-every-s`` and ``--threads``
may change too). ``--package DIR`` also writes the checkpoint with
``whytoken_world576.json`` (recipe, command, wall time, curve, test accuracy
per kind, intervention check, versions) to ``DIR``.

Recipe
------
* **Data**: each step ``images_per_step`` fresh training scenes (kinds
  round-robin), ``questions_per_image`` questions each (kinds drawn with
  ``kind_weights``, then answers uniformly), the augmentations of
  :mod:`~.world576_batches` (paint, drop, remove an object).
* **Pass**: the image prefix once per image, the questions on its cached keys
  and values (:mod:`~.world576_passes`); SDPA attention for training (the
  checkpoint is saved for eager attention, which tracing needs).
* **Loss**: cross-entropy on the answer and the ``</s>`` after it, plus four
  probes discarded after training (linear heads; the saved model is a plain
  ``LlavaForConditionalGeneration``): the *vision probe* (per patch at the
  projector output: colour, shape, part of the covering object), the *object
  probe* (per image token at layer ``probe_layer``: the covering object's
  colour-and-shape, a first-patch-of-object marker with its shape, and the
  objects in the slots left of and above it), the *slot probe* (on the
  ``":"`` token at layer ``query_layer``: the slots of the answer's causes)
  and the *phrase probe* (on every shape word of a question at layer
  ``phrase_layer``: the colours, count and slots of the objects it names).
  A 14 px patch does not show a 20-72 px object's shape: with a tower whose
  tokens saw only their own patch (an earlier design) the vision probe read
  colour (0.99) but not shape (0.26-0.42) and the answers stayed at the
  majority class; with two global-attention layers it reads shape on 0.83 of
  object patches after 1,200 steps (phase 1 alone). The object probe asks the
  language model to group patches into objects, the phrase probe asks each
  shape word to find its objects among the image tokens (a one-step lookup;
  through the answer alone the lookup is two steps, and the answers stayed
  at the majority class) and the slot probe asks the ``":"`` token to
  gather them.
* **Phases**: phase 1 trains the vision tower, projector and vision probe
  alone (``vision_steps`` steps of ``vision_batch`` scenes from a pool of
  ``vision_pool``; a stand-in for a real LLaVA's pre-trained tower), phase 2
  everything on all losses.
* **Optimiser**: AdamW (betas 0.9/0.98, weight decay 0.01 on matrices),
  linear warm-up, constant ``lr``, linear decay to 5 % over the last
  ``decay_fraction`` of the steps (the demo recipe's schedule), gradient norm
  clipped at 1.

Threads: one torch thread by default (on the shared 2-core machine two threads
were slower whenever other jobs ran, as for the demo model); batches for the
next step are built in a background thread while the current step runs.

Examples
--------
>>> World576TrainConfig(steps=10).answers_seen
1280
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from whytoken.errors import ConfigError
from whytoken.files import append_text, atomic_directory, atomic_path, atomic_write_text
from whytoken.experiments.training.loop import _decay_start, _lr_at
from whytoken.experiments.training.world576_batches import (
    PHRASE_MAX_COUNT,
    PROBE_SIZES,
    SILHOUETTE_CELLS,
    make_items,
    phrase_width,
    vision_targets,
)
from whytoken.experiments.training.world576_model import World576Architecture, build_model, build_processor
from whytoken.experiments.training.batches import _pixel_values
from whytoken.experiments.training.world576_passes import CONTEXT_OFFSETS, image_features, training_losses, vision_loss
from whytoken.experiments.worlds.demo import SPLIT_SEED_RANGES
from whytoken.experiments.worlds.world576 import (
    KINDS,
    WorldConfig,
    generate,
    make_scene_and_question,
    patch_coverage,
    render_scene,
)

__all__ = ["World576TrainConfig", "train", "main"]

logger = logging.getLogger(__name__)

_SEED_STRIDE = 10**8


@dataclass(frozen=True)
class World576TrainConfig:
    """Hyper-parameters of a world576 training run (the recipe's defaults: the packaged checkpoint's).

    Examples
    --------
    >>> World576TrainConfig(kind_weights=(1.0,))
    Traceback (most recent call last):
    ...
    whytoken.errors.ConfigError: kind_weights=(1.0,); expected 5 non-negative weights for ['color', 'exists', 'count', 'relation', 'same_color']
    """

    seed: int = 0
    steps: int = 6000
    images_per_step: int = 8
    questions_per_image: int = 16
    lr: float = 3e-3
    warmup: int = 100
    decay_fraction: float = 0.25
    weight_decay: float = 0.01
    threads: int = 1
    kind_weights: tuple[float, ...] = (0.1, 0.15, 0.25, 0.3, 0.2)
    blank_prob: float = 0.3
    drop_prob: float = 0.3
    remove_prob: float = 0.25
    vision_weight: float = 1.0
    object_weight: float = 1.0
    slot_weight: float = 0.25
    context_weight: float = 0.0
    context_layer: int = 0
    phrase_weight: float = 1.0
    phrase_layer: int = 1
    probe_layer: int = 1
    query_layer: int = 2
    vision_steps: int = 2000
    vision_batch: int = 16
    vision_pool: int = 3000
    eval_every: int = 250
    eval_n: int = 250
    checkpoint_every_s: float = 300.0
    architecture: World576Architecture = field(default_factory=World576Architecture)
    world: WorldConfig = field(default_factory=WorldConfig)

    def __post_init__(self) -> None:
        if self.seed < 0 or (self.seed + 1) * _SEED_STRIDE > len(SPLIT_SEED_RANGES["train"]):
            raise ConfigError(f"seed={self.seed}; expected 0 <= seed < {len(SPLIT_SEED_RANGES['train']) // _SEED_STRIDE}")
        if self.steps * self.images_per_step > _SEED_STRIDE:
            raise ConfigError(f"steps * images_per_step = {self.steps * self.images_per_step} exceeds the "
                              f"{_SEED_STRIDE} training seeds of one run; lower steps or images_per_step")
        for name in ("steps", "images_per_step", "questions_per_image", "threads", "warmup"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name}={getattr(self, name)}; expected a positive integer")
        if len(self.kind_weights) != len(KINDS) or min(self.kind_weights) < 0 or sum(self.kind_weights) <= 0:
            raise ConfigError(f"kind_weights={self.kind_weights}; expected {len(KINDS)} non-negative weights for "
                              f"{list(KINDS)}")
        for name in ("blank_prob", "drop_prob", "remove_prob", "decay_fraction"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"{name}={getattr(self, name)} is outside [0, 1]")
        layers = self.architecture.text_layers
        if (not 0 <= self.probe_layer < layers - 1 or not 0 <= self.query_layer < layers
                or not 0 <= self.context_layer < layers - 1 or not 0 <= self.phrase_layer < layers):
            raise ConfigError(f"probe_layer={self.probe_layer}, context_layer={self.context_layer}, query_layer="
                              f"{self.query_layer}, phrase_layer={self.phrase_layer}: expected 0 <= probe_layer, "
                              f"context_layer < {layers - 1} and 0 <= query_layer, phrase_layer < {layers} "
                              f"(text_layers={layers})")
        if self.lr <= 0 or min(self.vision_weight, self.object_weight, self.slot_weight, self.context_weight,
                               self.phrase_weight) < 0:
            raise ConfigError(f"lr={self.lr}, probe weights vision={self.vision_weight}, object={self.object_weight}, "
                              f"slot={self.slot_weight}, context={self.context_weight}, phrase={self.phrase_weight}: "
                              "expected lr > 0 and non-negative weights")

    @property
    def answers_seen(self) -> int:
        """Supervised answers over the run."""
        return self.steps * self.images_per_step * self.questions_per_image

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        out = asdict(self)
        out["architecture"] = self.architecture.to_dict()
        out["world"] = self.world.to_dict()
        return out


def _probes(config: World576TrainConfig) -> torch.nn.ModuleDict:
    hidden = config.architecture.text_hidden
    torch.manual_seed(config.seed + 1)
    return torch.nn.ModuleDict({
        "vision": torch.nn.Linear(hidden, sum(PROBE_SIZES["vision"]) + SILHOUETTE_CELLS),
        "object": torch.nn.Linear(hidden, sum(PROBE_SIZES["object"])),
        "slot": torch.nn.Linear(hidden, config.world.slot_grid ** 2),
        **({"context": torch.nn.Linear(hidden, len(CONTEXT_OFFSETS) * (SILHOUETTE_CELLS + PROBE_SIZES["vision"][0]))}
           if config.context_weight > 0 else {}),
        **({"phrase": torch.nn.Linear(hidden, phrase_width(config.world) + PHRASE_MAX_COUNT + 1)}
           if config.phrase_weight > 0 else {}),
    })


def _pretrain_vision(model: Any, probe: torch.nn.Module, config: World576TrainConfig) -> list[dict[str, Any]]:
    """Phase 1: vision tower, projector and vision probe alone on the vision-probe loss (a stand-in for the
    pre-training a real LLaVA's vision tower has had); ``vision_pool`` training scenes from their own seed range.
    """
    if config.vision_steps == 0:
        return []
    world = config.world
    base = config.seed * _SEED_STRIDE + 9 * _SEED_STRIDE // 10
    pool = []
    for i in range(config.vision_pool):
        scene, _ = make_scene_and_question(base + i, KINDS[i % len(KINDS)], world)
        rendering = render_scene(scene, world)
        classes, silhouettes = vision_targets(scene, rendering.labels,
                                              patch_coverage(rendering.labels, len(scene.objects), world), world)
        pool.append((np.asarray(rendering.image), classes, silhouettes))
    tower = model.model.vision_tower
    params = [*tower.parameters(), *model.model.multi_modal_projector.parameters(), *probe.parameters()]
    optimizer = torch.optim.AdamW(params, lr=config.lr, betas=(0.9, 0.98), weight_decay=0.0)
    rng = np.random.default_rng([config.seed, 9])
    history, running, start = [], 0.0, time.perf_counter()
    for step in range(config.vision_steps):
        picked = [pool[int(i)] for i in rng.choice(len(pool), size=min(config.vision_batch, len(pool)), replace=False)]
        for group in optimizer.param_groups:
            group["lr"] = config.lr * min(1.0, (step + 1) / config.warmup)
        features = image_features(model, _pixel_values([p[0] for p in picked]))
        loss = vision_loss(probe, features, torch.from_numpy(np.stack([p[1] for p in picked])),
                           torch.from_numpy(np.stack([p[2] for p in picked])))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        running = loss.item() if step == 0 else 0.95 * running + 0.05 * loss.item()
        if (step + 1) % 25 == 0 or step + 1 == config.vision_steps:
            history.append({"vision_step": step + 1, "vision": round(running, 4),
                            "elapsed_s": round(time.perf_counter() - start, 1)})
            logger.info("%s", json.dumps(history[-1]))
    return history


#: Settings a resumed run may change: how long it runs (an extension), how often it evaluates and saves, threads.
EXTENDABLE = ("steps", "eval_every", "eval_n", "checkpoint_every_s", "threads")


def _check_extension(state_file: Path, saved: dict[str, Any], config: World576TrainConfig, step: int) -> None:
    """Raise unless ``config`` only extends the saved run: :data:`EXTENDABLE` settings differ, and a changed
    ``steps`` leaves the learning rate of every step done unchanged (the state is from before either decay)."""
    new = config.to_dict()
    differ = sorted(k for k in set(saved) | set(new) if saved.get(k) != new.get(k))
    fixed = [k for k in differ if k not in EXTENDABLE]
    if fixed:
        raise ConfigError(f"{state_file} was written by another configuration ({', '.join(fixed)} differ); expected "
                          f"the same settings to resume (only {', '.join(EXTENDABLE)} may change), or a new --out "
                          "directory")
    if "steps" in differ:
        limit = min(_decay_start(saved["steps"], saved["decay_fraction"]),
                    _decay_start(config.steps, config.decay_fraction))
        if step > limit:
            raise ConfigError(f"steps={config.steps}: {state_file} is at step {step}, after the learning-rate decay "
                              f"began (step {limit}); a run can be extended only from a state saved before its decay "
                              "(copy train_state.pt while the run is in its constant phase), or start a new --out "
                              "directory")


def _save_state(path: Path, state: dict[str, Any]) -> None:
    with atomic_path(path, what="training state") as tmp:
        torch.save(state, tmp)


def train(config: World576TrainConfig, out: Path) -> tuple[Any, Any, list[dict[str, Any]], float]:
    """Train (or resume) a run in ``out``; return ``(model, processor, curve, train_seconds)``.

    Examples
    --------
    >>> import tempfile
    >>> config = World576TrainConfig(steps=2, images_per_step=1, questions_per_image=2, eval_every=0, vision_steps=1,
    ...                              vision_batch=1, vision_pool=1)
    >>> model, processor, curve, seconds = train(config, Path(tempfile.mkdtemp()))
    >>> curve[-1]["step"], model.training
    (2, False)
    """
    from whytoken.experiments.training.world576_evaluate import accuracy_by_kind

    torch.set_num_threads(config.threads)
    out.mkdir(parents=True, exist_ok=True)
    world = config.world
    processor = build_processor(world)
    vocab = processor.tokenizer.get_vocab()
    model = build_model(processor.tokenizer, world, config.architecture, seed=config.seed, attn_implementation="sdpa")
    probes = _probes(config)
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "embed" not in n]
    no_decay = [p for n, p in model.named_parameters() if p.ndim < 2 or "embed" in n]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": config.weight_decay},
                                   {"params": no_decay + list(probes.parameters()), "weight_decay": 0.0}],
                                  lr=config.lr, betas=(0.9, 0.98))
    state_file, log_file = out / "train_state.pt", out / "curve.jsonl"
    first_step, elapsed = 0, 0.0
    if state_file.is_file():
        state = torch.load(state_file, weights_only=False)
        if state["config"] != config.to_dict():
            _check_extension(state_file, state["config"], config, state["step"])
        model.load_state_dict(state["model"])
        probes.load_state_dict(state["probes"])
        optimizer.load_state_dict(state["optimizer"])
        first_step, elapsed = state["step"], state["elapsed_s"]
        logger.info("resuming %s at step %d", out, first_step)
    curve = [json.loads(line) for line in log_file.read_text().splitlines()] if log_file.is_file() else []
    curve = [entry for entry in curve if entry.get("step", 0) <= first_step]
    atomic_write_text(log_file, "".join(json.dumps(entry) + "\n" for entry in curve), what="training curve")
    captured: dict[str, torch.Tensor] = {}
    layers = model.model.language_model.layers

    def capture(name: str) -> Any:
        return lambda module, inputs, output: captured.__setitem__(name, output[0] if isinstance(output, tuple) else output)

    hooks = [layers[config.probe_layer].register_forward_hook(capture("probe")),
             layers[config.query_layer].register_forward_hook(capture("query"))]
    if config.context_weight > 0:
        hooks.append(layers[config.context_layer].register_forward_hook(capture("context")))
    if config.phrase_weight > 0:
        hooks.append(layers[config.phrase_layer].register_forward_hook(capture("phrase")))
    val = generate("val", config.eval_n, config=world) if config.eval_every > 0 else []
    start, last_save = time.perf_counter() - elapsed, time.perf_counter()
    running: dict[str, float] = {}
    model.train()
    if first_step == 0:
        curve = _pretrain_vision(model, probes["vision"], config)
        atomic_write_text(log_file, "".join(json.dumps(entry) + "\n" for entry in curve), what="training curve")
    pool = ThreadPoolExecutor(1)
    upcoming = pool.submit(make_items, first_step, config) if first_step < config.steps else None
    try:
        for step in range(first_step, config.steps):
            items = upcoming.result()
            upcoming = pool.submit(make_items, step + 1, config) if step + 1 < config.steps else None
            for group in optimizer.param_groups:
                group["lr"] = _lr_at(step, config)
            losses = training_losses(model, probes, items, vocab, captured)
            loss = (losses["answer"] + config.vision_weight * losses["vision"]
                    + config.object_weight * losses["object"] + config.slot_weight * losses["slot"]
                    + config.context_weight * losses.get("context", 0.0)
                    + config.phrase_weight * losses.get("phrase", 0.0))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(list(model.parameters()) + list(probes.parameters()), 1.0)
            optimizer.step()
            for key, value in losses.items():
                running[key] = value.item() if key not in running else 0.95 * running[key] + 0.05 * value.item()
            done = step + 1
            if done % 25 == 0 or done == config.steps:
                entry: dict[str, Any] = {"step": done, **{k: round(v, 4) for k, v in running.items()},
                                         "lr": round(_lr_at(step, config), 6),
                                         "elapsed_s": round(time.perf_counter() - start, 1)}
                if config.eval_every > 0 and (done % config.eval_every == 0 or done == config.steps):
                    entry["val"] = {k: round(v["accuracy"], 4) for k, v in accuracy_by_kind(model, processor, val).items()}
                    model.train()
                curve.append(entry)
                append_text(log_file, json.dumps(entry) + "\n", what="training curve")
                logger.info("%s", json.dumps(entry))
            if time.perf_counter() - last_save > config.checkpoint_every_s or done == config.steps:
                _save_state(state_file, {"model": model.state_dict(), "probes": probes.state_dict(),
                                         "optimizer": optimizer.state_dict(), "step": done,
                                         "elapsed_s": time.perf_counter() - start, "config": config.to_dict()})
                last_save = time.perf_counter()
    finally:
        for hook in hooks:
            hook.remove()
        pool.shutdown(wait=False, cancel_futures=True)
    seconds = time.perf_counter() - start
    model.eval()
    model.set_attn_implementation("eager")
    return model, processor, curve, seconds


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; see the module docstring."""
    from whytoken.experiments.training.world576_checkpoint import save_world576

    defaults = World576TrainConfig()
    parser = argparse.ArgumentParser(prog="python -m whytoken.experiments.training.world576_train",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="run directory (state, curve, model); resumes")
    parser.add_argument("--package", type=Path, default=None, help="also write the checkpoint and metadata here")
    parser.add_argument("--test-n", type=int, default=1000, help="test questions for the packaged accuracy")
    parser.add_argument("--intervention-n", type=int, default=500, help="test questions for the intervention check")
    for name in ("seed", "steps", "images_per_step", "questions_per_image", "warmup", "threads", "eval_every",
                 "eval_n", "probe_layer", "query_layer", "context_layer", "phrase_layer", "vision_steps", "vision_batch", "vision_pool"):
        parser.add_argument(f"--{name.replace('_', '-')}", type=int, default=getattr(defaults, name))
    for name in ("lr", "weight_decay", "decay_fraction", "blank_prob", "drop_prob", "remove_prob", "vision_weight",
                 "object_weight", "slot_weight", "context_weight", "phrase_weight", "checkpoint_every_s"):
        parser.add_argument(f"--{name.replace('_', '-')}", type=float, default=getattr(defaults, name))
    parser.add_argument("--kind-weights", type=float, nargs=len(KINDS), default=list(defaults.kind_weights),
                        metavar="W", help=f"weights of the questions' kinds {list(KINDS)}")
    for name, value in defaults.architecture.to_dict().items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=int, default=value)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    architecture = World576Architecture(**{k: getattr(args, k) for k in defaults.architecture.to_dict()})
    skip = {"architecture", "world", "kind_weights"}
    config = World576TrainConfig(**{k: getattr(args, k) for k in asdict(defaults) if k not in skip},
                                 kind_weights=tuple(args.kind_weights), architecture=architecture)
    command = "python -m whytoken.experiments.training.world576_train " + " ".join(
        shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    model, processor, curve, seconds = train(config, args.out)
    with atomic_directory(args.out / "model", what="checkpoint") as tmp:
        model.save_pretrained(tmp)
        processor.save_pretrained(tmp)
    if args.package is not None:
        metadata = save_world576(model, processor, config, curve, seconds, args.package, command,
                                 test_n=args.test_n, intervention_n=args.intervention_n)
        logger.info("test accuracy %s", {k: round(v["accuracy"], 4) for k, v in metadata["accuracy"]["per_kind"].items()})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
