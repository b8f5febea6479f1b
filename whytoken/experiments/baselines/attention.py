"""Attention baselines: the raw attention row of the predicting position, and attention rollout.

``attention`` reads one layer's attention (head mean or one head);
``rollout`` (Abnar & Zuidema, 2020) multiplies every layer's residual-mixed
attention from the first layer to the last (:func:`attention_rollout`).

Examples
--------
>>> import numpy as np
>>> attention_rollout([np.array([[1.0, 0.0], [0.5, 0.5]])], residual=0.0).tolist()
[[1.0, 0.0], [0.5, 0.5]]
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from whytoken.errors import InvalidAttentionError, InvalidParameterError
from whytoken.experiments.baselines.base import (
    AttributionMethod,
    _all_layers,
    _check_heads,
    _check_layer,
    _head_mean,
    _head_selection,
    predicting_row,
    resolve_layer,
)
from whytoken.experiments.baselines.registry import register_baseline

__all__ = ["attention_rollout", "AttentionBaseline", "RolloutBaseline"]


def attention_rollout(attentions: Sequence[np.ndarray], residual: float = 0.5) -> np.ndarray:
    """Attention rollout over layers, first layer first (Abnar & Zuidema, 2020).

    Each layer's head-mean attention ``A`` becomes ``residual * I + (1 -
    residual) * A`` with rows re-normalised; the rollout is the product
    ``A_L ... A_2 A_1``, so row ``i`` says how much of position ``i``'s final
    representation flows from each input position.

    Parameters
    ----------
    attentions : sequence of ndarray
        Per layer, ``(heads, n, n)`` or ``(n, n)``, rows summing to 1.
    residual : float
        Weight of the identity (the skip connection), in ``[0, 1]``.

    Returns
    -------
    ndarray
        float64 ``(n, n)``, rows summing to 1.

    Examples
    --------
    >>> import numpy as np
    >>> np.allclose(attention_rollout([np.eye(3)] * 4), np.eye(3))
    True
    >>> a = np.array([[1.0, 0.0], [1.0, 0.0]])
    >>> attention_rollout([a]).round(2).tolist()
    [[1.0, 0.0], [0.5, 0.5]]
    """
    if not 0.0 <= residual <= 1.0:
        raise InvalidParameterError(f"residual must be in [0, 1], got {residual!r}; Abnar & Zuidema use 0.5")
    if not attentions:
        raise InvalidAttentionError("attention rollout needs at least one layer")
    n = _head_mean(attentions[0]).shape[0]
    eye = np.eye(n)
    rollout = eye.copy()
    for layer, a in enumerate(attentions):
        a = _head_mean(a)
        if a.shape != (n, n):
            raise InvalidAttentionError(f"layer {layer} attention has shape {a.shape}, expected ({n}, {n})")
        mixed = residual * eye + (1.0 - residual) * a
        mixed = mixed / mixed.sum(axis=1, keepdims=True)
        rollout = mixed @ rollout
    return rollout


@register_baseline("attention")
class AttentionBaseline(AttributionMethod):
    """Raw attention of the predicting position at one layer (head mean or one head)."""

    defaults = {"layer": -1, "heads": "mean"}

    def check_params(self, params):
        _check_layer(self.name, params["layer"])
        _check_heads(self.name, params["heads"], ("mean", "all", "each"))

    def _attribute(self, trace, target, candidates, model, seed):
        layer = resolve_layer(trace, self.params["layer"])
        row = _head_selection(np.asarray(trace.attentions[layer], dtype=np.float64), self.params["heads"],
                              self.name)[predicting_row(trace, target)]
        return {"scores": row[list(candidates)], "details": {"layer": layer}}


@register_baseline("rollout")
class RolloutBaseline(AttributionMethod):
    """Attention rollout of the predicting position (every layer; head mean or one head per layer)."""

    defaults = {"residual": 0.5, "heads": "mean"}

    def check_params(self, params):
        _check_heads(self.name, params["heads"], ("mean", "all", "each"))
        if not isinstance(params["residual"], (int, float)) or not 0.0 <= params["residual"] <= 1.0:
            raise InvalidParameterError(f"rollout: residual = {params['residual']!r} is invalid; expected a "
                                        "number in [0, 1] (Abnar & Zuidema use 0.5)")

    def _attribute(self, trace, target, candidates, model, seed):
        layers = _all_layers(trace, self.name)
        mats = [_head_selection(np.asarray(trace.attentions[layer], dtype=np.float64), self.params["heads"],
                                self.name) for layer in layers]
        rollout = attention_rollout(mats, residual=float(self.params["residual"]))
        return {"scores": rollout[predicting_row(trace, target)][list(candidates)]}
