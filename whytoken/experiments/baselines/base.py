"""The attribution interface: candidate positions, the :class:`Attribution` result and :class:`AttributionMethod`.

Every method scores the *candidates* of one target token
(:func:`candidate_positions`: image patches, prompt tokens and earlier
generated tokens, without special tokens and the attention sink unless asked
for); sorting by score (:func:`rank_by_scores`) gives its ranking. A method
subclasses :class:`AttributionMethod`: parameters with defaults in
``defaults``, checks in ``check_params``, the work in ``_attribute``. The
helpers here (:func:`predicting_row`, :func:`resolve_layer`, head selection)
are shared by the built-in methods.

Examples
--------
>>> rank_by_scores([3, 1, 2], [0.2, 0.9, 0.2])
(1, 2, 3)
"""

from __future__ import annotations

import abc
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar, Mapping, Sequence

import numpy as np

from whytoken.adapters.trace import TokenKind, Trace
from whytoken.errors import ExplanationError, InvalidAttentionError, InvalidParameterError, LayerError

__all__ = [
    "Attribution",
    "AttributionMethod",
    "candidate_positions",
    "predicting_row",
    "rank_by_scores",
    "resolve_layer",
]


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


def _head_mean(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 3:
        return a.mean(axis=0)
    if a.ndim == 2:
        return a
    raise InvalidAttentionError(f"attention must have shape (heads, n, n) or (n, n), got {a.shape}")


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
