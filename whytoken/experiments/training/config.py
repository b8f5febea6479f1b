"""Hyper-parameters and results of the demo model's training recipe.

:class:`TrainConfig` holds every setting of a run (the defaults made the
committed checkpoint) and checks them; :class:`TrainResult` is what
:func:`~whytoken.experiments.training.loop.train` returns. The recipe itself
is described in :mod:`whytoken.experiments.training.train`.

Examples
--------
>>> TrainConfig(steps=10).answers_seen
640
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from whytoken.errors import ConfigError
from whytoken.experiments.training.demo_model import DemoArchitecture
from whytoken.experiments.worlds.demo import KINDS, SPLIT_SEED_RANGES, WorldConfig

__all__ = ["TrainConfig", "TrainResult"]


_SEED_STRIDE = 10**8


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of a training run (the defaults made the committed checkpoint).

    Examples
    --------
    >>> TrainConfig().questions_per_image
    4
    """

    seed: int = 0
    steps: int = 3000
    images_per_step: int = 16
    questions_per_image: int = 4
    lr: float = 3e-3
    warmup: int = 100
    decay_fraction: float = 0.25
    weight_decay: float = 0.01
    threads: int = 1
    blank_prob: float = 0.25
    aux_weight: float = 1.0
    probe_neighbours: bool = True
    cause_weight: float = 1.0
    attention_weight: float = 0.0
    answer_weight: float = 1.0
    vision_steps: int = 800
    vision_batch: int = 64
    vision_pool: int = 2048
    kind_weights: tuple[float, ...] = (0.1, 0.15, 0.2, 0.55)
    eval_every: int = 500
    eval_n: int = 400
    test_n: int = 200
    intervention_n: int = 40
    architecture: DemoArchitecture = field(default_factory=DemoArchitecture)
    world: WorldConfig = field(default_factory=WorldConfig)

    def __post_init__(self) -> None:
        if self.seed < 0 or (self.seed + 1) * _SEED_STRIDE > len(SPLIT_SEED_RANGES["train"]):
            raise ConfigError(
                f"seed={self.seed}; expected 0 <= seed < {len(SPLIT_SEED_RANGES['train']) // _SEED_STRIDE}"
            )
        if self.steps * self.images_per_step > 9 * _SEED_STRIDE // 10:
            raise ConfigError(
                f"steps * images_per_step = {self.steps * self.images_per_step} exceeds the {_SEED_STRIDE} training "
                "seeds of one run; lower steps or images_per_step"
            )
        for name in ("steps", "images_per_step", "questions_per_image", "threads", "vision_batch", "vision_pool"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name}={getattr(self, name)}; expected a positive integer")
        if len(self.kind_weights) != len(KINDS) or min(self.kind_weights) < 0 or sum(self.kind_weights) <= 0:
            raise ConfigError(
                f"kind_weights={self.kind_weights}; expected {len(KINDS)} non-negative weights for {list(KINDS)}"
            )
        if not 0.0 <= self.blank_prob <= 1.0:
            raise ConfigError(f"blank_prob={self.blank_prob} is outside [0, 1]")
        if self.vision_steps < 0:
            raise ConfigError(f"vision_steps={self.vision_steps}; expected 0 (no pre-training) or more")
        if not 0.0 <= self.decay_fraction <= 1.0:
            raise ConfigError(f"decay_fraction={self.decay_fraction} is outside [0, 1]")
        if self.lr <= 0 or self.aux_weight < 0:
            raise ConfigError(f"lr={self.lr}, aux_weight={self.aux_weight}; expected lr > 0 and aux_weight >= 0")

    @property
    def answers_seen(self) -> int:
        """Supervised answers over the run (``steps * images_per_step * questions_per_image``)."""
        return self.steps * self.images_per_step * self.questions_per_image

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        out = asdict(self)
        out["architecture"] = self.architecture.to_dict()
        out["world"] = self.world.to_dict()
        return out


@dataclass(frozen=True)
class TrainResult:
    """What :func:`train` returns.

    Attributes
    ----------
    model : LlavaForConditionalGeneration
        The trained model (eval mode).
    processor : LlavaProcessor
    history : list of dict
        ``{"step", "loss", "aux_loss", "lr", "elapsed_s"}`` every 100 steps, with
        val accuracy per kind (``"val"``) every ``eval_every`` steps.
    train_seconds : float
        Wall time of the optimisation loop, data generation and val checks included.
    """

    model: Any
    processor: Any
    history: list[dict[str, Any]]
    train_seconds: float
