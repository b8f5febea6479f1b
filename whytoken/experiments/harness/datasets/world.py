"""The ``world`` dataset kind: samples of the demo shapes world, with ground-truth cause patches and words.

Options: ``split`` (train, val, test; default test), ``n`` (default 200),
``seed`` (offset inside the split, default 0), ``kinds`` (question kinds),
``world`` (:class:`~whytoken.experiments.worlds.demo.WorldConfig` parameters).

Examples
--------
>>> from whytoken.experiments.harness.datasets import load_dataset
>>> load_dataset({"kind": "world", "split": "val", "n": 1})[0].sample_id
'world/val/1000000000'
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from whytoken.errors import ConfigError
from whytoken.experiments.harness.datasets.base import ExperimentSample, register_dataset

__all__: list[str] = []


def _check_world(options: Mapping[str, Any]) -> None:
    from whytoken.experiments.worlds.demo import KINDS, SPLIT_SEED_RANGES, WorldConfig

    if options["split"] not in SPLIT_SEED_RANGES:
        raise ConfigError(f"dataset.split = {options['split']!r} is invalid: expected one of "
                          f"{list(SPLIT_SEED_RANGES)}; fix: use split: test for held-out samples")
    seed = options["seed"]
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"dataset.seed = {seed!r} is invalid: expected a non-negative integer offset into the "
                          "split; fix: set dataset.seed: 0")
    kinds = options["kinds"]
    if kinds is not None and (not isinstance(kinds, (list, tuple)) or not kinds or set(kinds) - set(KINDS)):
        raise ConfigError(f"dataset.kinds = {kinds!r} is invalid: expected a non-empty subset of {list(KINDS)}; "
                          "fix: remove the key to cycle through every kind")
    if options["world"] is not None:
        if not isinstance(options["world"], Mapping):
            raise ConfigError(f"dataset.world = {options['world']!r} is invalid: expected a mapping of "
                              "WorldConfig parameters; fix: remove it to use the demo model's world")
        WorldConfig.from_dict(dict(options["world"]))


@register_dataset("world", defaults={"split": "test", "n": 200, "seed": 0, "kinds": None, "world": None},
                  check=_check_world)
def _load_world(options: Mapping[str, Any], base_dir: Path | None) -> list[ExperimentSample]:
    """The synthetic shapes world with ground-truth causes."""
    from whytoken.experiments.worlds.demo import WorldConfig, generate

    config = WorldConfig.from_dict(dict(options["world"])) if options["world"] is not None else None
    samples = generate(options["split"], int(options["n"]), seed=int(options["seed"]),
                       kinds=list(options["kinds"]) if options["kinds"] is not None else None, config=config)
    out = []
    for s in samples:
        out.append(ExperimentSample(
            sample_id=f"world/{s.split}/{s.seed}",
            prompt=s.prompt,
            image=s.pixels,
            answer=s.answer,
            target=None,
            cause_patches=tuple(tuple(p) for p in s.cause_patches),
            cause_words=tuple(s.cause_words),
            meta={"kind": s.kind, "split": s.split, "seed": s.seed, "absent": s.absent,
                  "question": s.question, "scene": s.scene.describe()},
        ))
    return out
