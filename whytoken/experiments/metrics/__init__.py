"""Faithfulness metrics for token attributions, computed on the model itself.

An attribution method ranks the *candidate* tokens (image patches, prompt
tokens, earlier generated tokens) by how much they are supposed to matter for
one generated *target* token. The metrics here ask the model whether the
ranking is right, by removing tokens (with the adapter's intervention) and
reading the target position's prediction again:

**Deletion curve**
    ``p_k`` = probability of the original target token after removing the
    top-``k`` ranked candidates, ``k = 0..K``. A faithful ranking makes it
    fall fast: *lower* area is better.
**Insertion curve**
    Start from every candidate removed and put back the top-``k``; ``p_k`` is
    the original token's probability then. A faithful ranking makes it rise
    fast: *higher* area is better.
**Area under a curve**
    The trapezoid rule over ``x = k / K`` in ``[0, 1]``, on the raw
    probabilities, so areas lie in ``[0, 1]`` and compare across samples with
    different candidate counts (:func:`normalized_auc`).
**Flip size**
    The smallest ``k >= 1`` such that removing the top-``k`` changes the
    target (by default: the most likely token is no longer the original one),
    read off the deletion curve; ``None`` when no ``k <= K`` flips it. For a
    method that returns an explaining set (whytoken) the set is put first in
    its ranking, so a verified minimal set of size ``s`` gives flip size ``s``.
**Ground-truth precision and recall**
    On data with known causes (the synthetic world), the share of a selected
    set that are true causes and the share of true causes selected
    (:func:`precision_recall`).
**Pointing game**
    Whether the highest-ranked image patch lies inside the ground-truth object
    (:func:`pointing_game`).
**Size against the exhaustive minimum**
    Whether a verified set is as small as the smallest set an exhaustive
    search finds, or proves cannot exist (:func:`size_against_minimum`).
**Modality reliance**
    Whether the image, the question or both carry an answer's cause, from the
    kinds of a verified set's members and from removing every image token and
    every question word (:func:`modality_reliance`).

The model is reached only through a *predict* callable, ``predict(removal_sets)
-> list of predictions``, each prediction having ``top_token_id``,
``original_token_id`` and ``original_token_prob_after`` (the original token's
probability after the removal), as :class:`whytoken.adapters.trace.Prediction`
does. :class:`CachedPredictor` wraps an
adapter's batched ``predict_batch`` so one batch evaluates a whole curve and
removal sets shared between methods are run once.

Modules: :mod:`~whytoken.experiments.metrics.predictor` (the prediction
protocol, the change rule, :class:`CachedPredictor`),
:mod:`~whytoken.experiments.metrics.curves` (deletion and insertion curves),
:mod:`~whytoken.experiments.metrics.flips` (flip size and its distribution),
:mod:`~whytoken.experiments.metrics.ground_truth` (precision and recall
against known causes, the pointing game),
:mod:`~whytoken.experiments.metrics.sets` (size against the exhaustive
minimum) and :mod:`~whytoken.experiments.metrics.modality` (modality
reliance). The cost of a method (forward passes, CI tests, seconds) is read
off its :class:`~whytoken.experiments.baselines.Attribution`.

Examples
--------
A toy model whose target token flips exactly when tokens 3 and 5 are both
removed, and whose probability drops by 0.2 for each of them removed:

>>> from types import SimpleNamespace
>>> def predict(removal_sets):
...     out = []
...     for removed in removal_sets:
...         hits = len({3, 5} & set(removed))
...         out.append(SimpleNamespace(top_token_id=1 if hits == 2 else 0,
...                                    original_token_id=0, original_token_prob_after=0.9 - 0.2 * hits))
...     return out
>>> curve = deletion_curve([5, 3, 1, 2], predict, max_k=4)
>>> [round(p, 2) for p in curve.probs]
[0.9, 0.7, 0.5, 0.5, 0.5]
>>> curve.flip_size, round(curve.auc, 3)
(2, 0.6)
>>> deletion_curve([1, 2, 5, 3], predict, max_k=4).flip_size
4
"""

from whytoken.experiments.metrics.curves import RemovalCurve, deletion_curve, insertion_curve, normalized_auc
from whytoken.experiments.metrics.flips import describe_flip_sizes, flip_rate, flip_size_from_changes
from whytoken.experiments.metrics.ground_truth import pointing_game, precision_recall
from whytoken.experiments.metrics.modality import (
    RELIANCE, SET_MODALITIES, ModalityReliance, ablation_reliance, modality_reliance, set_modality,
)
from whytoken.experiments.metrics.sets import MINIMUM_VERDICTS, size_against_minimum
from whytoken.experiments.metrics.predictor import (
    CachedPredictor, ChangeCriterion, Predict, PredictionLike, prob_after, top_token_changed,
)

__all__ = [
    "PredictionLike",
    "ChangeCriterion",
    "Predict",
    "RemovalCurve",
    "CachedPredictor",
    "deletion_curve",
    "insertion_curve",
    "normalized_auc",
    "flip_size_from_changes",
    "precision_recall",
    "pointing_game",
    "size_against_minimum",
    "MINIMUM_VERDICTS",
    "ModalityReliance",
    "modality_reliance",
    "ablation_reliance",
    "set_modality",
    "RELIANCE",
    "SET_MODALITIES",
    "flip_rate",
    "describe_flip_sizes",
    "top_token_changed",
    "prob_after",
]
