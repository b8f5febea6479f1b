"""The ``world576`` dataset kind: the 576-patch world, with ground-truth cause patches (and their coverage) and words.

Options: ``split`` (train, val, test; default test), ``n`` (default 200),
``seed`` (offset inside the split, default 0), ``kinds`` (question kinds of
:data:`~whytoken.experiments.worlds.world576.KINDS`), ``min_coverage``
(default 0.0: every patch a cause object touches is a cause patch; e.g. 0.25
keeps only patches at least a quarter covered; for ``relation``/``none`` the
empty slot's background counts as covered). Each sample's ``meta`` carries
the kind, the answer's absence flag, the cause regions (role, object, patches
and the exact fraction of each patch covered) and the scene.

Examples
--------
>>> from whytoken.experiments.harness.datasets import load_dataset
>>> s = load_dataset({"kind": "world576", "split": "val", "n": 1})[0]
>>> s.sample_id, s.image.shape, s.meta["kind"]
('world576/val/1000000000', (336, 336, 3), 'color')
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from whytoken.errors import ConfigError
from whytoken.experiments.harness.datasets.base import ExperimentSample, register_dataset

__all__: list[str] = []


def _check_world576(options: Mapping[str, Any]) -> None:
    from whytoken.experiments.worlds.demo import SPLIT_SEED_RANGES
    from whytoken.experiments.worlds.world576 import KINDS

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
    cover = options["min_coverage"]
    if isinstance(cover, bool) or not isinstance(cover, (int, float)) or not 0.0 <= cover < 1.0:
        raise ConfigError(f"dataset.min_coverage = {cover!r} is invalid: expected a fraction in [0, 1); fix: "
                          "set it to 0.0 to count every touched patch")


@register_dataset("world576", defaults={"split": "test", "n": 200, "seed": 0, "kinds": None, "min_coverage": 0.0},
                  check=_check_world576)
def _load_world576(options: Mapping[str, Any], base_dir: Path | None) -> list[ExperimentSample]:
    """The 576-patch world (whytoken-world576) with ground-truth cause patches, coverage and words."""
    from whytoken.experiments.worlds.world576 import generate

    samples = generate(options["split"], int(options["n"]), seed=int(options["seed"]),
                       kinds=list(options["kinds"]) if options["kinds"] is not None else None)
    floor = float(options["min_coverage"])
    out = []
    for s in samples:
        coverage = s.cause_coverage
        out.append(ExperimentSample(
            sample_id=f"world576/{s.split}/{s.seed}",
            prompt=s.prompt,
            image=s.pixels,
            answer=s.answer,
            target=None,
            cause_patches=tuple(p for p, f in coverage.items() if f >= floor and f > 0),
            cause_words=tuple(s.cause_words),
            meta={"kind": s.kind, "split": s.split, "seed": s.seed, "absent": s.absent, "question": s.question,
                  "regions": [r.to_dict() for r in s.regions], "scene": s.scene.describe()},
        ))
    return out
