"""Gradient-weighted relevancy (Chefer et al., 2021): attention times its gradient, propagated over layers.

:func:`relevancy_map` is the pure map; ``relevancy`` computes the
attentions and their gradients with respect to the target token's logit on
the live model (:func:`whytoken.adapters.attribution.target_gradients`).

Examples
--------
>>> import numpy as np
>>> relevancy_map([np.eye(2)[None]], [np.ones((1, 2, 2))]).tolist()
[[2.0, 0.0], [0.0, 2.0]]
"""

from __future__ import annotations

from typing import Any, ClassVar, Mapping, Sequence

import numpy as np

from whytoken.errors import InvalidAttentionError
from whytoken.experiments.baselines.base import AttributionMethod, _head_mean
from whytoken.experiments.baselines.registry import register_baseline

__all__ = ["relevancy_map", "RelevancyBaseline"]


def relevancy_map(attentions: Sequence[np.ndarray], gradients: Sequence[np.ndarray]) -> np.ndarray:
    """Gradient-weighted relevancy over layers, first layer first (Chefer et al., 2021, self-attention rule).

    ``R`` starts as the identity; for each layer ``A_bar = mean_heads(max(grad
    A * A, 0))`` and ``R <- R + A_bar R``.

    Parameters
    ----------
    attentions, gradients : sequence of ndarray
        Per layer, ``(heads, n, n)``: attention probabilities and the gradient
        of the target logit with respect to them.

    Returns
    -------
    ndarray
        float64 ``(n, n)``, non-negative.

    Examples
    --------
    One layer gives the closed form ``I + A_bar``:

    >>> import numpy as np
    >>> a = np.array([[[1.0, 0.0], [0.4, 0.6]]])
    >>> g = np.array([[[2.0, 0.0], [1.0, -1.0]]])
    >>> relevancy_map([a], [g]).tolist()
    [[3.0, 0.0], [0.4, 1.0]]
    """
    if len(attentions) != len(gradients) or not attentions:
        raise InvalidAttentionError(
            f"relevancy needs one gradient per attention layer, got {len(attentions)} attentions and "
            f"{len(gradients)} gradients"
        )
    n = np.asarray(attentions[0]).shape[-1]
    relevancy = np.eye(n)
    for layer, (a, g) in enumerate(zip(attentions, gradients)):
        a = np.asarray(a, dtype=np.float64)
        g = np.asarray(g, dtype=np.float64)
        if a.shape != g.shape or a.shape[-2:] != (n, n):
            raise InvalidAttentionError(f"layer {layer}: attention {a.shape} and gradient {g.shape} must both be "
                                        f"(heads, {n}, {n})")
        a_bar = _head_mean(np.clip(g * a, 0.0, None))
        relevancy = relevancy + a_bar @ relevancy
    return relevancy


@register_baseline("relevancy")
class RelevancyBaseline(AttributionMethod):
    """Chefer et al. (2021) gradient-weighted relevancy of the predicting position."""

    needs_model = True
    defaults: ClassVar[Mapping[str, Any]] = {}

    def _attribute(self, trace, target, candidates, model, seed):
        from whytoken.adapters.attribution import target_gradients

        grads = target_gradients(model, trace, target)
        relevancy = relevancy_map(grads.attentions, grads.attention_grads)
        return {"scores": relevancy[grads.row][list(candidates)], "forward_passes": 1,
                "details": {"logit": grads.logit}}
