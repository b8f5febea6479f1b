"""The random baseline: a seeded uniformly random ranking, the floor every method should beat.

Examples
--------
>>> RandomBaseline(offset=2).get_params()
{'offset': 2}
"""

from __future__ import annotations

import numpy as np

from whytoken.errors import InvalidParameterError
from whytoken.experiments.baselines.base import AttributionMethod
from whytoken.experiments.baselines.registry import register_baseline

__all__ = ["RandomBaseline"]


@register_baseline("random")
class RandomBaseline(AttributionMethod):
    """A uniformly random ranking, seeded (``seed`` of :meth:`attribute`, plus the ``offset`` parameter)."""

    defaults = {"offset": 0}

    def check_params(self, params):
        if isinstance(params["offset"], bool) or not isinstance(params["offset"], (int, np.integer)):
            raise InvalidParameterError(f"random: offset = {params['offset']!r} is invalid; expected an integer")

    def _attribute(self, trace, target, candidates, model, seed):
        rng = np.random.default_rng([int(seed), int(self.params["offset"]), int(target)])
        return {"scores": rng.permutation(len(candidates)).astype(float)}
