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

New methods subclass :class:`AttributionMethod` and register with
:func:`register_baseline`; :func:`get_baseline` raises
:class:`~whytoken.errors.UnknownBaselineError` listing the known names.

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

from __future__ import annotations

import abc
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Mapping, Sequence, TypeVar

import numpy as np

from whytoken.adapters.trace import TokenKind, Trace
from whytoken.errors import (
    AdapterError,
    ExplanationError,
    InvalidAttentionError,
    InvalidParameterError,
    LayerError,
    UnknownBaselineError,
)
from whytoken.registry import Registry

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
    "baseline_views",
]

logger = logging.getLogger(__name__)


# ----------------------------------------------------------------------------- candidates
def candidate_positions(
    trace: Trace,
    target: int | str,
    *,
    include_special: bool = False,
    include_first: bool = False,
) -> tuple[int, ...]:
    """The positions a method may rank for ``target``: what could have caused it.

    For a causal decoder: every position before the target that is an image
    patch, a prompt token or an earlier generated token. For an encoder: every
    other position of those kinds.

    Parameters
    ----------
    trace : Trace
    target : int or str
        Anything :meth:`Trace.target_index` accepts.
    include_special : bool
        Also rank special/template tokens.
    include_first : bool
        Also rank position 0, the attention sink of most decoders.

    Returns
    -------
    tuple of int
        Ascending positions.
    """
    t = trace.target_index(target)
    kinds = {TokenKind.IMAGE_PATCH, TokenKind.PROMPT_TEXT, TokenKind.GENERATED}
    if include_special:
        kinds.add(TokenKind.SPECIAL)
    end = t if trace.is_causal else trace.n_positions
    return tuple(
        p.index for p in trace.positions[:end]
        if p.index != t and p.kind in kinds and (include_first or p.index != 0)
    )


def predicting_row(trace: Trace, target: int) -> int:
    """The query position whose output predicts ``target``: ``target - 1`` in a decoder, itself in an encoder.

    Raises
    ------
    InvalidParameterError
        For position 0 of a decoder, which nothing predicts.
    """
    if not trace.is_causal:
        return target
    if target < 1:
        raise InvalidParameterError(f"target position {target} of a causal decoder has no predicting position; "
                                    "explain a generated token (position >= 1)")
    return target - 1


def rank_by_scores(candidates: Sequence[int], scores: Sequence[float]) -> tuple[int, ...]:
    """Candidates sorted by score, highest first; ties (and NaN, last) broken by ascending position.

    Examples
    --------
    >>> rank_by_scores([4, 7, 9, 2], [0.1, 0.5, 0.1, float("nan")])
    (7, 4, 9, 2)
    """
    pairs = []
    for c, s in zip(candidates, scores):
        s = float(s)
        pairs.append((np.isnan(s), -s if not np.isnan(s) else 0.0, int(c)))
    return tuple(c for _, _, c in sorted(pairs))


def resolve_layer(trace: Trace, layer: int) -> int:
    """A layer index as stored in ``trace.attentions`` (negative counts from the model's last layer).

    Raises
    ------
    LayerError
        If the layer was not captured; the message lists the captured ones.
    """
    n_layers = trace.model_info.get("n_layers")
    if n_layers is None and trace.attentions:
        n_layers = max(trace.attentions) + 1
    resolved = int(layer) + int(n_layers) if layer < 0 and n_layers is not None else int(layer)
    if resolved not in trace.attentions:
        raise LayerError(f"layer {layer} was not captured in this trace; captured layers are {list(trace.layers)}; "
                         "trace with layers='all' (or include this layer)")
    return resolved


def _all_layers(trace: Trace, method: str) -> list[int]:
    n_layers = int(trace.model_info.get("n_layers", len(trace.attentions)))
    missing = [layer for layer in range(n_layers) if layer not in trace.attentions]
    if missing:
        raise LayerError(f"{method} needs every layer's attention but the trace lacks layers {missing[:10]} "
                         f"(captured: {list(trace.layers)}); trace with layers='all'")
    return list(range(n_layers))


# ----------------------------------------------------------------------------- pure maps
def _head_mean(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 3:
        return a.mean(axis=0)
    if a.ndim == 2:
        return a
    raise InvalidAttentionError(f"attention must have shape (heads, n, n) or (n, n), got {a.shape}")


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


# ----------------------------------------------------------------------------- results
@dataclass(frozen=True)
class Attribution:
    """One method's scores over the candidates of one target token.

    Attributes
    ----------
    method : str
        The registry name.
    params : mapping
        The method's settings.
    target : int
        The explained position.
    candidates : tuple of int
        The ranked positions, ascending.
    scores : tuple of float
        One score per candidate; higher means more important.
    explaining_set : tuple of int or None
        For methods that return a set (whytoken): its positions.
    verified : bool or None
        Whether removing ``explaining_set`` changed the target (None: no set or not checked).
    forward_passes : int
        Model forward (or forward+backward) passes the method itself spent.
    seconds : float
        Wall time of the method.
    details : mapping
        Method-specific JSON-able extras (CI tests, best head, status, ...).
    """

    method: str
    params: Mapping[str, Any]
    target: int
    candidates: tuple[int, ...]
    scores: tuple[float, ...]
    explaining_set: tuple[int, ...] | None = None
    verified: bool | None = None
    forward_passes: int = 0
    seconds: float = 0.0
    details: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.candidates) != len(self.scores):
            raise InvalidParameterError(
                f"{self.method}: {len(self.scores)} scores for {len(self.candidates)} candidates; give one each"
            )

    @property
    def ranking(self) -> tuple[int, ...]:
        """Candidates, most important first (ties by ascending position)."""
        return rank_by_scores(self.candidates, self.scores)

    def top(self, k: int) -> tuple[int, ...]:
        """The ``k`` best-ranked candidates."""
        return self.ranking[: max(int(k), 0)]

    def score_of(self) -> dict[int, float]:
        """Position -> score."""
        return dict(zip(self.candidates, self.scores))

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready form (scores rounded to 6 significant digits)."""
        return {
            "method": self.method,
            "params": dict(self.params),
            "target": self.target,
            "candidates": list(self.candidates),
            "scores": [float(f"{s:.6g}") for s in self.scores],
            "explaining_set": None if self.explaining_set is None else list(self.explaining_set),
            "verified": self.verified,
            "forward_passes": self.forward_passes,
            "seconds": self.seconds,
            "details": dict(self.details),
        }


# ----------------------------------------------------------------------------- registry
class AttributionMethod(abc.ABC):
    """Base class of attribution methods.

    Subclasses list their parameters with defaults in ``defaults``; the
    constructor only validates and stores them. :meth:`attribute` does the work.
    """

    #: registry name, set by :func:`register_baseline`
    name: ClassVar[str] = ""
    #: whether the method needs the live model (an adapter) besides the trace
    needs_model: ClassVar[bool] = False
    #: parameter name -> default value
    defaults: ClassVar[Mapping[str, Any]] = {}

    def __init__(self, **params: Any) -> None:
        unknown = sorted(set(params) - set(self.defaults))
        if unknown:
            raise InvalidParameterError(
                f"method {self.name!r} has no parameter(s) {unknown}; its parameters are "
                f"{sorted(self.defaults) or 'none'}"
            )
        self.params = {**self.defaults, **params}
        self.check_params(self.params)

    def check_params(self, params: Mapping[str, Any]) -> None:
        """Raise :class:`InvalidParameterError` for bad parameter values (called by the constructor)."""

    def get_params(self) -> dict[str, Any]:
        """The method's settings."""
        return dict(self.params)

    def attribute(
        self,
        trace: Trace,
        target: int | str,
        *,
        model: Any = None,
        candidates: Sequence[int] | None = None,
        seed: int = 0,
    ) -> Attribution:
        """Score the candidates of ``target``.

        Parameters
        ----------
        trace : Trace
        target : int or str
            The explained token (see :meth:`Trace.target_index`).
        model : ModelAdapter, optional
            The live model; required when ``needs_model`` (default: ``trace.adapter``).
        candidates : sequence of int, optional
            Positions to rank (default: :func:`candidate_positions`).
        seed : int
            Seed of any random choice.

        Returns
        -------
        Attribution
        """
        t = trace.target_index(target)
        cands = tuple(sorted(int(c) for c in (candidate_positions(trace, t) if candidates is None else candidates)))
        model = model if model is not None else trace.adapter
        if self.needs_model and model is None:
            raise ExplanationError(
                f"method {self.name!r} needs the live model: pass model=<ModelAdapter> or use a trace made by "
                "adapter.trace(...) in this process"
            )
        start = time.perf_counter()
        result = self._attribute(trace, t, cands, model, int(seed))
        seconds = time.perf_counter() - start
        return Attribution(
            method=self.name,
            params=self.get_params(),
            target=t,
            candidates=cands,
            scores=tuple(float(s) for s in result["scores"]),
            explaining_set=result.get("explaining_set"),
            verified=result.get("verified"),
            forward_passes=int(result.get("forward_passes", 0)),
            seconds=seconds,
            details=result.get("details", {}),
        )

    @abc.abstractmethod
    def _attribute(self, trace: Trace, target: int, candidates: tuple[int, ...], model: Any,
                   seed: int) -> dict[str, Any]:
        """Return at least ``{"scores": one float per candidate}``."""


_BASELINES: Registry[type[AttributionMethod]] = Registry(
    "attribution method", plural="methods", error=UnknownBaselineError,
    fix="Register a new one with @register_baseline(name).", name_attribute="name",
)
M = TypeVar("M", bound=type[AttributionMethod])


def register_baseline(name: str, *, overwrite: bool = False) -> Callable[[M], M]:
    """Class decorator: register an :class:`AttributionMethod` subclass under ``name`` (and set its ``name``).

    Raises
    ------
    DuplicateRegistrationError
        If ``name`` is taken by another class and ``overwrite`` is false.
    """
    return _BASELINES.register(name, overwrite=overwrite)


def list_baselines() -> list[str]:
    """Names of the registered attribution methods (whytoken included), sorted.

    Examples
    --------
    >>> list_baselines()
    ['attention', 'grad-x-input', 'random', 'relevancy', 'rollout', 'whytoken']
    """
    return _BASELINES.names()


def baseline_class(name: str) -> type[AttributionMethod]:
    """The class registered as ``name``.

    Raises
    ------
    UnknownBaselineError
        Listing the known names.
    """
    return _BASELINES.get(name)


def get_baseline(name: str, **params: Any) -> AttributionMethod:
    """Instantiate the method registered as ``name`` with ``params``.

    Examples
    --------
    >>> get_baseline("attention", layer=-2).get_params()
    {'layer': -2, 'heads': 'mean'}
    >>> get_baseline("saliency")
    Traceback (most recent call last):
    ...
    whytoken.errors.UnknownBaselineError: unknown attribution method 'saliency'; known methods: attention, \
grad-x-input, random, relevancy, rollout, whytoken. Register a new one with @register_baseline(name).
    """
    return baseline_class(name)(**params)


# ----------------------------------------------------------------------------- methods
def _check_heads(method: str, heads: Any, allowed: tuple[str, ...]) -> None:
    if isinstance(heads, str) and heads in allowed:
        return
    if isinstance(heads, (int, np.integer)) and not isinstance(heads, bool):
        return
    raise InvalidParameterError(f"{method}: heads = {heads!r} is invalid; expected one of {list(allowed)} or a "
                                "head index")


def _check_layer(method: str, layer: Any) -> None:
    if isinstance(layer, bool) or not isinstance(layer, (int, np.integer)):
        raise InvalidParameterError(f"{method}: layer = {layer!r} is invalid; expected a layer index (-1: last)")


def _head_selection(array: np.ndarray, heads: Any, method: str) -> np.ndarray:
    """Mean over heads, or one head, of a ``(heads, n, n)`` array."""
    if heads in ("mean", "all", None):
        return array.mean(axis=0)
    if isinstance(heads, (int, np.integer)) and not isinstance(heads, bool):
        if not -array.shape[0] <= heads < array.shape[0]:
            raise LayerError(f"{method}: head {heads} is out of range; valid heads are 0..{array.shape[0] - 1}")
        return array[int(heads)]
    raise InvalidParameterError(f"{method}: heads must be 'mean' or a head index, got {heads!r}")


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


@register_baseline("whytoken")
class WhytokenMethod(AttributionMethod):
    """whytoken's verified minimal explaining set, as a ranking.

    The explaining set's members rank first, then the members of the other
    minimal sets, then the tokens the search removed alone, by their measured
    effect on the target (:attr:`~whytoken.query.Explanation.single_token_effects`;
    interventions it has paid for anyway), then the remaining candidates by
    distance from the target in the best head's PDS-tree; ties go to the
    head-mean attention of the predicting position. Parameters are passed to
    :func:`whytoken.query.explain`.
    """

    needs_model = True
    defaults = {"layer": -1, "heads": "all", "alpha": 0.01, "n_samples": None, "learner": None,
                "max_set_size": 3, "max_range": 3, "max_candidates": 256, "max_nodes": None,
                "max_cond_size": 3, "target_row": "generated", "intervention": "mask", "criterion": "top-token"}

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
            raise InvalidParameterError(f"whytoken: n_samples = {n!r} is invalid; expected null (the head dimension), "
                                        f"{' or '.join(N_SAMPLES_BASES)}, or an int >= 5, e.g. 64")
        if params["target_row"] not in TARGET_ROWS:
            raise InvalidParameterError(f"whytoken: target_row = {params['target_row']!r} is invalid; expected one of "
                                        f"{', '.join(TARGET_ROWS)}")

    def explain(self, trace: Trace, target: int, model: Any, *, include_special: bool = False,
                seed: int = 0, batch_size: int = 32) -> Any:
        """Run :func:`whytoken.query.explain` with this method's settings; returns the Explanation.

        ``learner: null`` lets the query choose (``ordered-icd`` for decoders, ``icd`` for encoders).
        """
        from whytoken.query import explain

        p = self.params
        return explain(trace, target, layer=p["layer"], heads=p["heads"], alpha=p["alpha"],
                       n_samples=p["n_samples"], method=p["learner"], max_set_size=p["max_set_size"],
                       max_range=p["max_range"], verify=True, model=model, criterion=p["criterion"],
                       include_special=include_special, seed=seed, intervention=p["intervention"],
                       max_candidates=p["max_candidates"], max_nodes=p["max_nodes"], batch_size=batch_size,
                       max_cond_size=p["max_cond_size"], target_row=p["target_row"])

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
    alternatives = [p for s in explanation.minimal_sets for p in s.positions if p not in chosen]
    best = explanation.best_head
    depth = dict(best.pds_depth) if best is not None else {}
    n = len(cands)
    far = n + 1

    effects = explanation.single_token_effects

    def key(c: int) -> tuple:
        if c in chosen or c in alternatives:
            return (0 if c in chosen else 1, 0.0, 0, -float(att[c]), c)
        if c in effects:  # removed alone during the search: rank by the measured effect
            return (2, -effects[c], 0, -float(att[c]), c)
        return (3, 0.0, depth.get(c, far), -float(att[c]), c)

    order = sorted(cands, key=key)
    scores = {c: float(n - rank) for rank, c in enumerate(order)}
    search = explanation.search
    return {
        "scores": [scores[c] for c in cands],
        "explaining_set": chosen if chosen else None,
        "verified": explanation.verified,
        "forward_passes": int(search.n_interventions),
        "details": {
            "status": explanation.status,
            "n_ci_tests": int(sum(h.n_ci_tests for h in explanation.heads)),
            "model_calls": int(search.n_model_calls),
            "exhaustive_interventions": int(search.exhaustive_interventions),
            "best_head": None if best is None else best.head,
            "n_minimal_sets": len(explanation.minimal_sets),
            "timings": {k: float(v) for k, v in explanation.timings.items()},
        },
    }


def baseline_views(
    trace: Trace,
    target: int | str,
    methods: Sequence[str] = ("attention", "rollout", "relevancy", "grad-x-input"),
    *,
    model: Any = None,
    seed: int = 0,
) -> dict[str, Attribution]:
    """Baseline attributions of one target for display next to an explanation (e.g. in the HTML report).

    Methods that cannot run on what is at hand (gradient methods without a live
    model, rollout on a trace without every layer) are left out and logged,
    so a report can show whatever is available.

    Returns
    -------
    dict of str -> Attribution
        In the order of ``methods``.

    Examples
    --------
    >>> from whytoken.experiments.harness import ToyModel
    >>> trace = ToyModel().trace(prompt="a b c", max_new_tokens=1)
    >>> sorted(baseline_views(trace, -1, methods=("attention", "rollout", "random")))
    ['attention', 'random', 'rollout']
    """
    out: dict[str, Attribution] = {}
    for name in methods:
        method = get_baseline(name)
        try:
            out[name] = method.attribute(trace, target, model=model, seed=seed)
        except (ExplanationError, LayerError, AdapterError) as err:
            logger.info("baseline view %s skipped: %s", name, err)
    return out
