"""whytoken itself as an attribution method: the verified minimal explaining set, ranked first.

``whytoken`` runs :func:`whytoken.query.explain` (verification on the model
included) and turns the :class:`~whytoken.query.Explanation` into scores
(:func:`whytoken_scores`), so that it is compared with the baselines on the
same metrics.

Examples
--------
>>> WhytokenMethod(alpha=0.05).get_params()["alpha"]
0.05
"""

from __future__ import annotations

from typing import Any

import numpy as np

from whytoken.adapters.trace import TokenKind, Trace
from whytoken.errors import InvalidParameterError, LayerError
from whytoken.experiments.baselines.base import AttributionMethod, _check_layer, predicting_row, resolve_layer
from whytoken.experiments.baselines.registry import register_baseline

__all__ = ["WhytokenMethod", "whytoken_scores"]


@register_baseline("whytoken")
class WhytokenMethod(AttributionMethod):
    """whytoken's verified minimal explaining set, as a ranking.

    The explaining set's members rank first, then the members of the other
    verified sets, then the tokens the search removed alone, by their measured
    effect on the target (:attr:`~whytoken.query.Explanation.single_token_effects`;
    interventions it has paid for anyway), then the remaining candidates as the
    query orders its evidence: by the head-mean attention of the predicting
    position, then by distance from the target in the best head's PDS-tree.
    Parameters are passed to :func:`whytoken.query.explain`; the defaults are the
    library's.
    """

    needs_model = True
    defaults = {"layer": -1, "heads": "all", "alpha": 0.01, "n_samples": None, "learner": None,
                "max_set_size": None, "max_range": 3, "max_passes": 300, "policy": "graph-guided", "pool": "all",
                "max_nodes": None, "max_cond_size": 3, "target_row": "auto", "intervention": "mask",
                "criterion": "top-token"}

    def check_params(self, params):
        _check_layer(self.name, params["layer"])
        heads = params["heads"]
        if not (isinstance(heads, str) or isinstance(heads, (int, np.integer))
                or (isinstance(heads, (list, tuple)) and heads)) or isinstance(heads, bool):
            raise InvalidParameterError(f"whytoken: heads = {heads!r} is invalid; expected 'all', 'each', a head "
                                        "index or a list of indices")
        alpha = params["alpha"]
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0.0 < alpha < 1.0:
            raise InvalidParameterError(f"whytoken: alpha = {alpha!r} is invalid; expected a number in (0, 1), "
                                        "e.g. 0.01")
        from whytoken.query import N_SAMPLES_BASES, TARGET_ROWS

        n = params["n_samples"]
        if not (n is None or n in N_SAMPLES_BASES
                or (isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n >= 5)):
            raise InvalidParameterError(f"whytoken: n_samples = {n!r} is invalid; expected null (the hidden size), "
                                        f"{' or '.join(N_SAMPLES_BASES)}, or an int >= 5, e.g. 64")
        if params["target_row"] not in TARGET_ROWS:
            raise InvalidParameterError(f"whytoken: target_row = {params['target_row']!r} is invalid; expected one of "
                                        f"{', '.join(TARGET_ROWS)}")
        from whytoken.query import POOLS, get_policy

        get_policy(params["policy"])  # an unknown name raises UnknownPolicyError listing the known ones
        if params["pool"] not in POOLS:
            raise InvalidParameterError(f"whytoken: pool = {params['pool']!r} is invalid; expected one of "
                                        f"{', '.join(POOLS)}")
        budget = params["max_passes"]
        if isinstance(budget, bool) or not isinstance(budget, (int, np.integer)) or budget < 1:
            raise InvalidParameterError(f"whytoken: max_passes = {budget!r} is invalid; expected a positive int, "
                                        "e.g. 300")

    def explain(self, trace: Trace, target: int, model: Any, *, include_special: bool = False,
                seed: int = 0, batch_size: int | None = None) -> Any:
        """Run :func:`whytoken.query.explain` with this method's settings; returns the Explanation.

        ``learner: null`` lets the query choose (``ordered-icd`` for decoders, ``icd`` for encoders).
        """
        from whytoken.query import explain

        p = self.params
        return explain(trace, target, layer=p["layer"], heads=p["heads"], alpha=p["alpha"],
                       n_samples=p["n_samples"], method=p["learner"], max_set_size=p["max_set_size"],
                       max_range=p["max_range"], verify=True, model=model, criterion=p["criterion"],
                       include_special=include_special, seed=seed, intervention=p["intervention"],
                       max_passes=p["max_passes"], policy=p["policy"], pool=p["pool"], max_nodes=p["max_nodes"],
                       batch_size=batch_size, max_cond_size=p["max_cond_size"], target_row=p["target_row"])

    def _attribute(self, trace, target, candidates, model, seed):
        # The query's removable set is fixed by include_special (first position and special tokens);
        # follow the candidates the harness ranks so both conventions agree.
        include_special = any(c == 0 or trace.positions[c].kind is TokenKind.SPECIAL for c in candidates)
        explanation = self.explain(trace, target, model, include_special=include_special, seed=seed)
        return whytoken_scores(explanation, trace, target, candidates, self.params["layer"])


def whytoken_scores(explanation: Any, trace: Trace, target: int, candidates: tuple[int, ...],
                    layer: int = -1) -> dict[str, Any]:
    """Turn an :class:`~whytoken.query.Explanation` into candidate scores (see :class:`WhytokenMethod`)."""
    cands = list(candidates)
    try:
        attention = np.asarray(trace.attentions[resolve_layer(trace, layer)], dtype=np.float64)
        att = attention.mean(axis=0)[predicting_row(trace, target)]
    except LayerError:
        att = np.zeros(trace.n_positions)
    chosen = tuple(explanation.explaining_set.positions) if explanation.explaining_set is not None else ()
    alternatives = [p for s in tuple(explanation.explaining_sets) + tuple(getattr(explanation, "other_sets", ()))
                    for p in s.positions if p not in chosen]
    best = explanation.best_head
    depth = dict(best.pds_depth) if best is not None else {}
    n = len(cands)
    far = n + 1

    effects = explanation.single_token_effects

    def key(c: int) -> tuple:
        if c in chosen or c in alternatives:
            return (0 if c in chosen else 1, 0.0, -float(att[c]), 0, c)
        if c in effects:  # removed alone during the search: rank by the measured effect
            return (2, -effects[c], -float(att[c]), 0, c)
        return (3, 0.0, -float(att[c]), depth.get(c, far), c)

    order = sorted(cands, key=key)
    scores = {c: float(n - rank) for rank, c in enumerate(order)}
    search = explanation.search
    return {
        "scores": [scores[c] for c in cands],
        "explaining_set": chosen if chosen else None,
        "verified": explanation.verified,
        "forward_passes": int(search.passes_used),
        "details": {
            "status": explanation.status,
            "n_ci_tests": int(sum(h.n_ci_tests for h in explanation.heads)),
            "model_calls": int(search.n_model_calls),
            "exhaustive_interventions": int(search.exhaustive_passes),
            "passes_by_stage": dict(getattr(search, "passes_by_stage", {}) or {}),
            "best_head": None if best is None else best.head,
            "n_minimal_sets": len(explanation.explaining_sets),
            "claim": (explanation.explaining_set.claim() if hasattr(explanation.explaining_set, "claim")
                      else None),
            "timings": {k: float(v) for k, v in explanation.timings.items()},
        },
    }
