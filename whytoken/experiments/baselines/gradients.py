"""Gradient baselines: the gradient of the target token's logit times the input embeddings.

``grad-x-input`` needs the live model; the gradients come from
:func:`whytoken.adapters.attribution.target_gradients`.

Examples
--------
>>> GradientXInputBaseline(aggregate="l2").get_params()
{'aggregate': 'l2'}
"""

from __future__ import annotations

import numpy as np

from whytoken.errors import InvalidParameterError
from whytoken.experiments.baselines.base import AttributionMethod
from whytoken.experiments.baselines.registry import register_baseline

__all__ = ["GradientXInputBaseline"]


@register_baseline("grad-x-input")
class GradientXInputBaseline(AttributionMethod):
    """Gradient of the target logit w.r.t. the input embeddings, times the embeddings.

    ``aggregate="sum"`` (default) sums over the hidden dimension (signed: a
    token that raises the logit scores high); ``"l2"`` takes the norm.
    """

    needs_model = True
    defaults = {"aggregate": "sum"}

    def check_params(self, params):
        if params["aggregate"] not in ("sum", "l2"):
            raise InvalidParameterError(f"grad-x-input: aggregate = {params['aggregate']!r} is invalid; expected "
                                        "'sum' or 'l2'")

    def _attribute(self, trace, target, candidates, model, seed):
        from whytoken.adapters.attribution import target_gradients

        aggregate = self.params["aggregate"]
        grads = target_gradients(model, trace, target, attention=False)
        gxi = grads.embedding_grad_x_input if aggregate == "sum" else grads.embedding_grad_x_input_l2
        return {"scores": np.asarray(gxi)[list(candidates)], "forward_passes": 1,
                "details": {"logit": grads.logit}}
