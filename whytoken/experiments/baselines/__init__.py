"""Attribution methods that rank input tokens for one generated token: baselines and whytoken.

Every method answers the same question -- which candidate tokens matter most
for the target token? -- with a score per candidate (:class:`Attribution`);
sorting by score gives the method's *ranking*, which the faithfulness metrics
(:mod:`whytoken.experiments.metrics`) check on the model.

Candidates follow the query's convention (:func:`candidate_positions`): image
patches, prompt tokens and earlier generated tokens before the target;
special/template tokens and the first (attention-sink) position are excluded
unless asked for.

Built-in methods (:func:`list_baselines`):

``attention``
    The raw attention row of the position that predicts the target (the
    position just before it in a decoder), at one layer, averaged over heads
    (``heads="mean"``) or of one head (``heads=3``).
``rollout``
    Attention rollout (Abnar & Zuidema, 2020): per layer the head-mean
    attention mixed with the residual stream, ``0.5 A + 0.5 I`` and
    re-normalised, multiplied from the first layer to the last
    (:func:`attention_rollout`). Needs every layer in the trace.
``relevancy``
    Gradient-weighted relevancy (Chefer et al., 2021): ``A_bar = mean_h
    (grad A * A)^+`` per layer with the gradient of the target token's logit,
    ``R <- R + A_bar R`` from the first layer to the last
    (:func:`relevancy_map`). Needs the live model.
``grad-x-input``
    Gradient of the target logit with respect to the input embeddings times
    the embeddings, summed over the hidden dimension. Needs the live model.
``random``
    A seeded random ranking: the floor every method should beat.
``whytoken``
    The verified minimal explaining set of :func:`whytoken.query.explain`,
    ranked first; the other candidates follow by PDS-tree distance from the
    target in the best head, then by attention.
``greedy-search``, ``exhaustive-search``
    Verified black-box searches over whytoken's pool
    (:mod:`~whytoken.experiments.baselines.blackbox`): EAGLE-style greedy growth
    over image regions then whytoken's shrink, and every subset up to a size
    (the ground-truth minimum).

New methods subclass :class:`AttributionMethod` and register with
:func:`register_baseline`; :func:`get_baseline` raises
:class:`~whytoken.errors.UnknownBaselineError` listing the known names.

Modules: :mod:`~whytoken.experiments.baselines.base` (candidates, the
:class:`Attribution` result, the base class),
:mod:`~whytoken.experiments.baselines.registry`, one module per family
(:mod:`~whytoken.experiments.baselines.attention` for ``attention`` and
``rollout``, :mod:`~whytoken.experiments.baselines.relevancy`,
:mod:`~whytoken.experiments.baselines.gradients`,
:mod:`~whytoken.experiments.baselines.random_ranking`,
:mod:`~whytoken.experiments.baselines.whytoken_method`,
:mod:`~whytoken.experiments.baselines.blackbox`) and
:mod:`~whytoken.experiments.baselines.views` (:func:`baseline_views`). A new
family is a new module that registers its classes and is imported below.

Examples
--------
>>> import numpy as np
>>> from whytoken.adapters.trace import Trace, Position, GeneratedToken
>>> positions = (Position(0, "special", 1, "<s>"), Position(1, "prompt_text", 5, " a"),
...              Position(2, "prompt_text", 6, " b"), Position(3, "generated", 7, " c"))
>>> a = np.array([[1, 0, 0, 0], [.5, .5, 0, 0], [.2, .7, .1, 0], [.1, .2, .3, .4]], dtype=np.float32)
>>> trace = Trace(positions, (GeneratedToken(3, 7, " c", 0.9),), {0: a[None]}, "a b", None, None,
...               {"n_layers": 1, "n_heads": 1})
>>> candidate_positions(trace, 3)
(1, 2)
>>> result = get_baseline("attention").attribute(trace, 3)
>>> result.ranking, [round(s, 2) for s in result.scores]
((1, 2), [0.7, 0.1])
>>> get_baseline("random").attribute(trace, 3, seed=0).ranking in {(1, 2), (2, 1)}
True
"""

from whytoken.experiments.baselines.base import (
    Attribution,
    AttributionMethod,
    candidate_positions,
    predicting_row,
    rank_by_scores,
    resolve_layer,
)
from whytoken.experiments.baselines.registry import baseline_class, get_baseline, list_baselines, register_baseline
from whytoken.experiments.baselines.attention import AttentionBaseline, RolloutBaseline, attention_rollout
from whytoken.experiments.baselines.relevancy import RelevancyBaseline, relevancy_map
from whytoken.experiments.baselines.gradients import GradientXInputBaseline
from whytoken.experiments.baselines.random_ranking import RandomBaseline
from whytoken.experiments.baselines.whytoken_method import WhytokenMethod, whytoken_scores
from whytoken.experiments.baselines.blackbox import (
    ExhaustiveSearchMethod, GreedySearchMethod, SearchMethod, min_size_bounds, search_pool,
)
from whytoken.experiments.baselines.views import baseline_views

__all__ = [
    "Attribution",
    "AttributionMethod",
    "register_baseline",
    "get_baseline",
    "list_baselines",
    "baseline_class",
    "candidate_positions",
    "predicting_row",
    "rank_by_scores",
    "attention_rollout",
    "relevancy_map",
    "resolve_layer",
    "AttentionBaseline",
    "RolloutBaseline",
    "RelevancyBaseline",
    "GradientXInputBaseline",
    "RandomBaseline",
    "WhytokenMethod",
    "whytoken_scores",
    "SearchMethod",
    "GreedySearchMethod",
    "ExhaustiveSearchMethod",
    "search_pool",
    "min_size_bounds",
    "baseline_views",
]
