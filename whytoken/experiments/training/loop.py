"""The demo recipe's optimisation loop: vision pre-training, then the whole model on questions.

:func:`train` builds a fresh demo LLaVA, pre-trains its vision tower and
projector on the cell probe (:func:`_pretrain_vision`), then trains the whole
model on answers plus the auxiliary losses with the learning-rate schedule of
:func:`_lr_at`, logging the curve (and validation accuracy) every 100 steps.

Examples
--------
>>> round(_lr_at(0, TrainConfig(warmup=10)), 6), _lr_at(50, TrainConfig(warmup=10))
(0.0003, 0.003)
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import numpy as np
import torch

from whytoken.experiments.training.batches import (
    _augment,
    _image_features,
    _pixel_values,
    build_batch,
    hidden_states,
    pick_questions,
)
from whytoken.experiments.training.config import _SEED_STRIDE, TrainConfig, TrainResult
from whytoken.experiments.training.demo_model import build_model, build_processor
from whytoken.experiments.training.evaluate import accuracy_by_kind
from whytoken.experiments.training.losses import (
    _answer_cells,
    _attention_loss,
    _aux_loss,
    _cell_targets,
    _patch_targets,
    _probe_sizes,
)
from whytoken.experiments.worlds.demo import KINDS, generate, make_sample

__all__ = ["train"]

logger = logging.getLogger(__name__)


def _decay_start(steps: int, decay_fraction: float) -> int:
    """The first step of the learning rate's linear decay (the last ``decay_fraction`` of ``steps``)."""
    return int(steps * (1.0 - decay_fraction))


def _lr_at(step: int, config: TrainConfig) -> float:
    """Warm-up, then constant ``lr``, then a linear decay to 5 % over the last ``decay_fraction`` of the steps."""
    if step < config.warmup:
        return config.lr * (step + 1) / config.warmup
    decay_start = _decay_start(config.steps, config.decay_fraction)
    if step < decay_start:
        return config.lr
    progress = (step - decay_start) / max(1, config.steps - decay_start)
    return config.lr * (1.0 - 0.95 * min(1.0, progress))


def _pretrain_vision(
    model: Any, probe: torch.nn.Module, config: TrainConfig, rng: np.random.Generator, history: list[dict[str, Any]]
) -> None:
    """Phase 1: train vision tower, projector and probe on the probe loss alone (a stand-in for CLIP pre-training).

    Images come from a pool of ``vision_pool`` training scenes (world seeds
    ``seed * 10**8 + 9 * 10**7 + i``, apart from phase 2's) rendered once;
    each step takes ``vision_batch`` of them with the empty-cell augmentation.
    """
    if config.vision_steps == 0 or config.aux_weight == 0:
        return
    world = config.world
    base = config.seed * _SEED_STRIDE + 9 * _SEED_STRIDE // 10
    pool = [make_sample(base + i, KINDS[i % len(KINDS)], world) for i in range(config.vision_pool)]
    params = (
        list(model.model.vision_tower.parameters())
        + list(model.model.multi_modal_projector.parameters())
        + list(probe.parameters())
    )
    optimizer = torch.optim.AdamW(params, lr=config.lr, betas=(0.9, 0.98), weight_decay=0.0)
    start = time.perf_counter()
    running = 0.0
    for step in range(config.vision_steps):
        picked = [pool[int(i)] for i in rng.choice(len(pool), size=config.vision_batch, replace=False)]
        pixel_values = _pixel_values([_augment(s, rng, config) for s in picked])
        for group in optimizer.param_groups:
            group["lr"] = config.lr * min(1.0, (step + 1) / config.warmup)
        features = _image_features(model.model, pixel_values)
        loss = _aux_loss(probe(features), _cell_targets(picked, world, config.probe_neighbours),
                         config.probe_neighbours)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        running = loss.item() if step == 0 else 0.98 * running + 0.02 * loss.item()
        if (step + 1) % 100 == 0 or step == config.vision_steps - 1:
            entry = {"vision_step": step + 1, "aux_loss": round(running, 5),
                     "elapsed_s": round(time.perf_counter() - start, 1)}
            history.append(entry)
            logger.info("vision %s", json.dumps(entry))


def train(config: TrainConfig) -> TrainResult:
    """Train a demo model from scratch.

    Parameters
    ----------
    config : TrainConfig

    Returns
    -------
    TrainResult

    Examples
    --------
    >>> config = TrainConfig(steps=2, images_per_step=2, questions_per_image=2, eval_every=0,
    ...                      vision_steps=1, vision_batch=2, vision_pool=2)
    >>> [entry["step"] for entry in train(config).history if "step" in entry]
    [2]
    """
    torch.set_num_threads(config.threads)
    world = config.world
    processor = build_processor(world)
    token_ids = processor.tokenizer.get_vocab()
    model = build_model(processor.tokenizer, world, config.architecture, seed=config.seed)
    model.train()
    probe = torch.nn.Linear(config.architecture.text_hidden, sum(_probe_sizes(config.probe_neighbours)))
    cause_probe = torch.nn.Linear(config.architecture.text_hidden, 2)
    cause_layer = max(0, config.architecture.text_layers - 2)  # the input of the last layer
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "embed" not in n]
    no_decay = [p for n, p in model.named_parameters() if p.ndim < 2 or "embed" in n]
    optimizer = torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": config.weight_decay},
            {"params": no_decay + list(probe.parameters()) + list(cause_probe.parameters()), "weight_decay": 0.0},
        ],
        lr=config.lr,
        betas=(0.9, 0.98),
    )
    captured: dict[str, torch.Tensor] = {}
    hooks = [
        model.model.multi_modal_projector.register_forward_hook(
            lambda module, inputs, output: captured.__setitem__("features", output)
        ),
        model.model.language_model.layers[cause_layer].register_forward_hook(
            lambda module, inputs, output: captured.__setitem__(
                "cause_layer", output[0] if isinstance(output, tuple) else output
            )
        ),
        model.model.language_model.layers[-1].self_attn.register_forward_hook(
            lambda module, inputs, output: captured.__setitem__("attention", output[1])
        ),
    ]
    rng = np.random.default_rng(config.seed)
    val = generate("val", config.eval_n, config=world) if config.eval_every > 0 else []
    history: list[dict[str, Any]] = []
    seed_base = config.seed * _SEED_STRIDE
    cross_entropy = torch.nn.functional.cross_entropy
    start = time.perf_counter()
    running = running_aux = running_cause = 0.0
    try:
        _pretrain_vision(model, probe, config, rng, history)
        for step in range(config.steps):
            first = step * config.images_per_step
            samples = [
                make_sample(seed_base + first + i, KINDS[(first + i) % len(KINDS)], world)
                for i in range(config.images_per_step)
            ]
            groups = [pick_questions(s, config.questions_per_image, rng, config.kind_weights) for s in samples]
            batch = build_batch(groups, [_augment(s, rng, config) for s in samples], token_ids, world)
            for group in optimizer.param_groups:
                group["lr"] = _lr_at(step, config)
            hidden = hidden_states(model, batch)
            rows, at = torch.arange(hidden.shape[0]), batch["answer_positions"]
            loss = cross_entropy(model.lm_head(hidden[rows, at]), batch["answer_ids"]) + cross_entropy(
                model.lm_head(hidden[rows, at + 1]), batch["eos_ids"]
            )
            running = loss.item() if step == 0 else 0.98 * running + 0.02 * loss.item()
            if config.cause_weight > 0:
                is_image = batch["input_ids"] == model.config.image_token_id
                states = captured["cause_layer"][is_image].reshape(len(rows), world.num_patches, -1)
                cause_logits = cause_probe(states)
                bce = torch.nn.functional.binary_cross_entropy_with_logits
                cause_loss = bce(cause_logits[..., 0], _patch_targets(groups, world, lambda q: q.cause_patch_indices))
                if config.answer_weight > 0:
                    cause_loss = cause_loss + config.answer_weight * bce(
                        cause_logits[..., 1], _patch_targets(groups, world, _answer_cells)
                    )
                running_cause = cause_loss.item() if step == 0 else 0.98 * running_cause + 0.02 * cause_loss.item()
                loss = loss + config.cause_weight * cause_loss
            if config.attention_weight > 0:
                attention_loss = _attention_loss(captured["attention"], batch, groups, model.config.image_token_id)
                loss = loss + config.attention_weight * attention_loss
            if config.aux_weight > 0:
                targets = _cell_targets(samples, world, config.probe_neighbours)
                aux_loss = _aux_loss(probe(captured["features"]), targets, config.probe_neighbours)
                running_aux = aux_loss.item() if step == 0 else 0.98 * running_aux + 0.02 * aux_loss.item()
                loss = loss + config.aux_weight * aux_loss
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            if (step + 1) % 100 == 0 or step == config.steps - 1:
                entry: dict[str, Any] = {
                    "step": step + 1,
                    "loss": round(running, 5),
                    "aux_loss": round(running_aux, 5),
                    "cause_loss": round(running_cause, 5),
                    "lr": round(_lr_at(step, config), 7),
                    "elapsed_s": round(time.perf_counter() - start, 1),
                }
                if config.eval_every > 0 and ((step + 1) % config.eval_every == 0 or step == config.steps - 1):
                    acc = accuracy_by_kind(model, processor, val)
                    entry["val"] = {k: round(v["accuracy"], 4) for k, v in acc.items()}
                    model.train()
                history.append(entry)
                logger.info("step %s", json.dumps(entry))
    finally:
        for hook in hooks:
            hook.remove()
    seconds = time.perf_counter() - start
    model.eval()
    return TrainResult(model=model, processor=processor, history=history, train_seconds=seconds)
