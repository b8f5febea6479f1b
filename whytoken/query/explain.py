"""The explanation query: the minimal set of input tokens that explains a generated token.

:func:`explain` answers "why was this token generated?" in four steps, for
every selected attention head of one layer:

1. **Evidence.** The head's attention matrix ``A`` (queries x keys) gives a
   correlation estimate ``C = A A^T`` over the tokens; a Fisher-z partial
   correlation test on ``C`` with ``N`` effective samples is the CI test
   (:class:`whytoken.causal.PartialCorrelationTest`).
2. **Graph.** A constraint-based learner (``ordered-icd`` for causal decoders,
   whose token order is a causal order; ``icd`` for encoders) learns a PAG
   over the candidate tokens and the target.
3. **Candidates.** The PDS-tree rooted at the target ranks the other tokens by
   graph distance; candidate sets of size 1, 2, ... are drawn from the tree
   (up to depth ``max_range``) nearest first (see
   :mod:`whytoken.query.candidates`).
4. **Verification.** The candidate sets of one size, de-duplicated over all
   heads, are sent to the model in batches: each set is removed (by the
   adapter's intervention, e.g. attention masking with fixed positions) and
   the target position predicted again. A set *explains* the target when the
   verification criterion (:mod:`whytoken.query.criteria`) says it changed.
   The search stops at the first size with a verified set.

Every verified set of that minimal size is kept: minimal explanations are
often not unique (in SmolLM2-135M, removing any one of "capital", "of" or
"France" changes " Paris"). They are ranked by, in order: PDS distance (the
largest member depth in the head that ranks the set best), the sum of member
depths, the largest member p-value against the target, the number of heads
proposing the set (more first), the size of the effect on the target
probability (larger first), and finally the member positions.

By default the first position of the sequence (models park spare attention
there, the *attention sink*, and removing it changes almost any prediction)
and special/template tokens are never removed; they remain in the graph as
observed variables. ``include_special=True`` makes them removable.

Examples
--------
A four-token "trace" whose target (position 3) attends mostly to token 1,
and a stand-in model whose answer changes exactly when token 1 is removed:

>>> import numpy as np
>>> from types import SimpleNamespace as NS
>>> from whytoken.adapters.trace import GeneratedToken, Position, Prediction, Trace
>>> A = np.array([[1, 0, 0, 0], [.1, .9, 0, 0], [.1, 0, .9, 0], [.1, .8, .1, 0]], dtype=np.float32)
>>> A[3] = [.05, .85, .05, .05]
>>> trace = Trace((Position(0, "special", 1, "<s>"), Position(1, "prompt_text", 7, " France"),
...                Position(2, "prompt_text", 8, " is"), Position(3, "generated", 9, " Paris")),
...               (GeneratedToken(3, 9, " Paris", 0.8),), {0: A[None]}, "France is", None, None,
...               {"n_layers": 1, "n_heads": 1, "head_dim": 64, "is_causal": True})
>>> def predict_batch(trace, target, sets, kind="mask"):
...     return [Prediction(s, kind, 5 if 1 in s else 9, "?", .5, 9, .8, target, .1 if 1 in s else .8)
...             for s in sets]
>>> result = explain(trace, " Paris", model=NS(predict_batch=predict_batch))
>>> result.status, result.explaining_set.positions, result.explaining_set.members[0].text
('explained', (1,), ' France')
"""

from __future__ import annotations

import importlib.metadata
import inspect
import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Hashable, Iterable, Mapping, Protocol, Sequence

import numpy as np

from whytoken.errors import (
    ExplanationError,
    InvalidParameterError,
    LayerError,
    TargetError,
)
from whytoken.graphs import PAG
from whytoken.query.candidates import RankedSet, n_subsets_up_to, rank_candidate_sets
from whytoken.query.criteria import DEFAULT_CRITERION, Criterion, get_criterion
from whytoken.query.explanation import (
    CandidateRecord,
    ExplainingSet,
    Explanation,
    HeadResult,
    InterventionOutcome,
    Member,
    SearchSummary,
    TargetToken,
    TokenInfo,
)

__all__ = [
    "explain",
    "TraceLike",
    "InterveningModel",
    "ProgressCallback",
    "default_n_samples",
    "resolve_n_samples",
    "default_method",
    "resolve_target",
    "resolve_layer",
    "resolve_heads",
    "kind_name",
    "DEFAULT_ALPHA",
    "DEFAULT_MAX_SET_SIZE",
    "DEFAULT_MAX_RANGE",
    "DEFAULT_MAX_CANDIDATES",
    "DEFAULT_MAX_COND_SIZE",
    "N_SAMPLES_BASES",
    "TARGET_ROWS",
]

logger = logging.getLogger(__name__)

#: Significance level of the CI tests.
DEFAULT_ALPHA = 0.01
#: Largest explaining set tried.
DEFAULT_MAX_SET_SIZE = 3
#: Deepest PDS-tree level whose tokens may be set members.
DEFAULT_MAX_RANGE = 3
#: Most candidate sets verified per set size (over all heads, after de-duplication).
DEFAULT_MAX_CANDIDATES = 256
#: Largest conditioning set of the structure learner (ICD level).
DEFAULT_MAX_COND_SIZE = 3
#: Named feature dimensions accepted as ``n_samples`` (see :func:`default_n_samples`).
N_SAMPLES_BASES = ("head_dim", "hidden_size")
#: Which attention row stands for the target in the graphs (see :func:`explain`).
TARGET_ROWS = ("generated", "predicting")

#: ``progress(stage, done, total)``: stage is ``"learn"`` or ``"verify"``.
ProgressCallback = Callable[[str, int, int], None]


class TraceLike(Protocol):
    """What :func:`explain` reads from a trace (:class:`whytoken.adapters.trace.Trace` satisfies it).

    ``positions`` items have ``index``, ``kind`` (an enum whose lower-cased
    name is one of ``image_patch``, ``prompt_text``, ``special``, ``generated``),
    ``token_id``, ``text``, ``patch`` and ``box``; ``generated`` items have
    ``position``, ``token_id``, ``text`` and ``prob``; ``attentions`` maps a
    layer to a float array of shape ``(heads, n, n)``.
    """

    positions: Sequence[Any]
    generated: Sequence[Any]
    attentions: Mapping[int, Any]
    prompt: str
    model_info: Mapping[str, Any]


class InterveningModel(Protocol):
    """What verification needs from a model (:class:`whytoken.adapters.ModelAdapter` satisfies it).

    ``predict_batch`` removes each set of positions from the input (all sets in
    as few forward passes as it can) and returns, per set, a prediction with
    ``top_token_id``, ``top_token_text``, ``top_prob``, ``original_token_id`` and
    ``original_prob`` at the target position.
    """

    def predict_batch(self, trace: Any, target: Any, removal_sets: Sequence[Sequence[int]],
                      kind: str = "mask") -> list[Any]: ...


# ---------------------------------------------------------------------- input resolution
def kind_name(kind: Any) -> str:
    """The lower-case name of a token kind (``TokenKind.IMAGE_PATCH`` -> ``"image_patch"``).

    Examples
    --------
    >>> kind_name("PROMPT_TEXT")
    'prompt_text'
    """
    name = getattr(kind, "name", kind)
    return str(name).lower()


def _generated_listing(generated: Sequence[Any], limit: int = 20) -> str:
    items = [f"{int(g.position)}: {g.text!r}" for g in generated[:limit]]
    more = f" ... ({len(generated)} in all)" if len(generated) > limit else ""
    return "[" + ", ".join(items) + "]" + more


def resolve_target(trace: TraceLike, target: int | str) -> tuple[int, Any]:
    """The generated-token index and record named by ``target``.

    The convention is :meth:`whytoken.adapters.trace.Trace.target_index`'s.

    Parameters
    ----------
    trace : TraceLike
    target : int or str
        A non-negative int is a sequence position, which must hold a generated
        token; a negative int ``-k`` is the k-th generated token from the end
        (``-1``: the last); a string is the text of a generated token (the first
        exact match, else the first match ignoring surrounding spaces).

    Raises
    ------
    TargetError
        Out of range, not a generated position, or not in the output; the
        message lists the generated tokens with their positions.

    Examples
    --------
    >>> from types import SimpleNamespace as NS
    >>> trace = NS(generated=[NS(text=" Paris", position=5), NS(text=".", position=6)], positions=range(7))
    >>> resolve_target(trace, "Paris")[0], resolve_target(trace, -1)[0], resolve_target(trace, 6)[0]
    (0, 1, 1)
    """
    generated = list(trace.generated)
    if not generated:
        raise TargetError("the trace has no generated tokens, so there is nothing to explain; "
                          "trace again with max_new_tokens >= 1")
    n = len(generated)
    if isinstance(target, str):
        matches = [i for i, g in enumerate(generated) if g.text == target]
        if not matches and target.strip():
            matches = [i for i, g in enumerate(generated) if g.text.strip() == target.strip()]
        if not matches:
            raise TargetError(f"target word {target!r} is not in the output; generated tokens (position: text) are "
                              f"{_generated_listing(generated)}. Pass one of these texts, its position, or -1 for the last")
        index = matches[0]
    elif isinstance(target, (int, np.integer)) and not isinstance(target, bool):
        target = int(target)
        n_positions = len(trace.positions)
        if target < 0:
            if target < -n:
                raise TargetError(f"target {target} is out of range: the trace generated {n} token(s), so negative "
                                  f"targets must be in -{n}..-1; generated tokens: {_generated_listing(generated)}")
            index = n + target
        else:
            by_position = {int(g.position): i for i, g in enumerate(generated)}
            if target not in by_position:
                where = (f"position {target} is out of range (0..{n_positions - 1})" if target >= n_positions
                         else f"position {target} holds an input token, not a generated one")
                raise TargetError(f"target {target} cannot be explained: {where}; generated tokens are "
                                  f"{_generated_listing(generated)}. Pass one of those positions, a negative "
                                  "index (-1 = last generated) or the token's text")
            index = by_position[target]
    else:
        raise TargetError(f"target must be a position (int) or a generated token's text (str), got "
                          f"{type(target).__name__} {target!r}; generated tokens: {_generated_listing(generated)}")
    return index, generated[index]


def resolve_layer(trace: TraceLike, layer: int) -> int:
    """The key of ``trace.attentions`` for ``layer`` (negative counts from the last layer).

    Raises
    ------
    LayerError
        If the layer is outside the model or was not traced; the message lists the traced layers.
    """
    if isinstance(layer, bool) or not isinstance(layer, (int, np.integer)):
        raise LayerError(f"layer must be an int, got {type(layer).__name__} {layer!r}")
    layer = int(layer)
    traced = sorted(trace.attentions)
    n_layers = trace.model_info.get("n_layers") if trace.model_info else None
    if n_layers is not None and not -n_layers <= layer < n_layers:
        raise LayerError(f"layer {layer} is out of range: the model has {n_layers} layers "
                         f"(0..{n_layers - 1}, or -{n_layers}..-1); traced layers: {traced}")
    if layer in trace.attentions:
        return layer
    if n_layers is not None:
        for alias in (layer % n_layers, layer - n_layers):
            if alias in trace.attentions:
                return alias
    raise LayerError(f"layer {layer} was not traced; traced layers: {traced}. "
                     f"Explain one of those or trace again with layers=({layer},)")


def resolve_heads(heads: str | int | Iterable[int], n_heads: int) -> tuple[int, ...]:
    """The head indices selected by ``heads`` ("all", an int, or several ints).

    Raises
    ------
    LayerError
        A head outside ``0..n_heads-1``.
    InvalidParameterError
        No head selected, or an unreadable specification.

    Examples
    --------
    >>> resolve_heads("all", 3), resolve_heads(1, 3), resolve_heads("0,2", 3)
    ((0, 1, 2), (1,), (0, 2))
    """
    if isinstance(heads, str):
        text = heads.strip().lower()
        if text == "all":
            return tuple(range(n_heads))
        try:
            heads = [int(part) for part in text.replace(" ", ",").split(",") if part]
        except ValueError:
            raise InvalidParameterError(f"cannot read heads {heads!r}; expected 'all', one index or a "
                                        f"comma-separated list such as '0,3,5' (the layer has {n_heads} heads)") from None
    if isinstance(heads, (int, np.integer)) and not isinstance(heads, bool):
        heads = [int(heads)]
    selected = []
    for h in heads:
        if isinstance(h, bool) or not isinstance(h, (int, np.integer)):
            raise InvalidParameterError(f"head indices must be ints, got {h!r}")
        if not 0 <= int(h) < n_heads:
            raise LayerError(f"head {h} is out of range: the layer has {n_heads} heads (0..{n_heads - 1})")
        if int(h) not in selected:
            selected.append(int(h))
    if not selected:
        raise InvalidParameterError(f"no heads selected; pass heads='all' or indices in 0..{n_heads - 1}")
    return tuple(selected)


def default_n_samples(model_info: Mapping[str, Any], basis: str = "head_dim") -> int:
    """The effective sample size N of the CI test: a feature dimension of the model.

    A head's output for token i is ``sum_k A[i, k] v_k`` with ``d_head``-dimensional
    value vectors ``v_k``; treating each value coordinate as one draw of the token
    variables gives ``N = d_head`` samples behind ``C = A A^T`` (``basis="head_dim"``,
    the default). The heads' outputs are concatenated into the hidden state, so
    ``basis="hidden_size"`` counts every coordinate the layer writes: more power
    for the tests, which matters when heads are narrow (the embedded demo model
    has 16-dimensional heads in a 64-dimensional stream).

    Raises
    ------
    InvalidParameterError
        If ``basis`` is not one of :data:`N_SAMPLES_BASES`.
    ExplanationError
        If the trace does not record the requested dimension.

    Examples
    --------
    >>> default_n_samples({"head_dim": 64}), default_n_samples({"hidden_size": 576, "n_heads": 9})
    (64, 64)
    >>> default_n_samples({"head_dim": 16, "hidden_size": 64}, basis="hidden_size")
    64
    """
    info = model_info or {}
    if basis not in N_SAMPLES_BASES:
        raise InvalidParameterError(f"n_samples basis {basis!r} is unknown; expected an int or one of "
                                    f"{', '.join(N_SAMPLES_BASES)}")
    if basis == "hidden_size":
        if info.get("hidden_size"):
            return int(info["hidden_size"])
        raise ExplanationError("cannot use n_samples='hidden_size': the trace's model_info has no hidden_size; "
                               "pass an int, e.g. n_samples=64")
    if info.get("head_dim"):
        return int(info["head_dim"])
    if info.get("hidden_size") and info.get("n_heads"):
        return int(info["hidden_size"]) // int(info["n_heads"])
    raise ExplanationError("cannot derive n_samples: the trace's model_info has no head_dim "
                           "(nor hidden_size and n_heads); pass n_samples=<head dimension>, e.g. 64")


def resolve_n_samples(n_samples: int | str | None, model_info: Mapping[str, Any]) -> int:
    """The effective sample size for ``n_samples``: an int as given, a basis name, or None (the head dim).

    Examples
    --------
    >>> info = {"head_dim": 16, "hidden_size": 64}
    >>> resolve_n_samples(None, info), resolve_n_samples("hidden_size", info), resolve_n_samples(32, info)
    (16, 64, 32)
    """
    if n_samples is None:
        return default_n_samples(model_info)
    if isinstance(n_samples, str):
        return default_n_samples(model_info, basis=n_samples)
    if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)) or n_samples < 1:
        raise InvalidParameterError(f"n_samples must be a positive int, one of {', '.join(N_SAMPLES_BASES)} or "
                                    f"None, got {n_samples!r}")
    return int(n_samples)


def default_method(model_info: Mapping[str, Any]) -> str:
    """``ordered-icd`` for causal decoders (token order is a causal order), else ``icd``.

    Examples
    --------
    >>> default_method({"is_causal": True}), default_method({"is_causal": False})
    ('ordered-icd', 'icd')
    """
    return "ordered-icd" if (model_info or {}).get("is_causal", True) else "icd"


def _check_params(alpha: float, max_set_size: int, max_range: int | None,
                  max_candidates: int, batch_size: int, max_nodes: int | None, max_cond_size: int | None) -> None:
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0.0 < float(alpha) < 1.0:
        raise InvalidParameterError(f"alpha must be in (0, 1), got {alpha!r}; typical values are 0.01 or 0.05")

    def positive(name: str, value: Any, allow_none: bool = False) -> None:
        if value is None and allow_none:
            return
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise InvalidParameterError(f"{name} must be a positive int{' or None' if allow_none else ''}, "
                                        f"got {value!r}")

    positive("max_set_size", max_set_size)
    positive("max_range", max_range, allow_none=True)
    positive("max_candidates", max_candidates)
    positive("batch_size", batch_size)
    positive("max_nodes", max_nodes, allow_none=True)
    if max_cond_size is not None and (isinstance(max_cond_size, bool) or not isinstance(max_cond_size, (int, np.integer))
                                      or max_cond_size < 0):
        raise InvalidParameterError(f"max_cond_size must be an int >= 0 or None, got {max_cond_size!r}")


def _versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for package in ("whytoken", "transformers", "torch", "numpy", "networkx", "causal-learn"):
        try:
            out[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            out[package] = None
    return out


def _token_info(position: Any) -> TokenInfo:
    patch = getattr(position, "patch", None)
    box = getattr(position, "box", None)
    token_id = getattr(position, "token_id", None)
    return TokenInfo(
        position=int(position.index),
        kind=kind_name(position.kind),
        text=str(position.text),
        token_id=None if token_id is None else int(token_id),
        patch=None if patch is None else (int(patch[0]), int(patch[1])),
        box=None if box is None else tuple(float(b) for b in box),
    )


# ---------------------------------------------------------------------- per-head learning
@dataclass
class _HeadWork:
    """Mutable scratch state of one head during the search (frozen into a HeadResult at the end)."""

    head: int
    pag: PAG
    ci_test: Any
    n_ci_tests: int
    learn_seconds: float
    depth: dict[int, int]
    p_values: dict[int, float]
    records: list[tuple[tuple[int, ...], int]] = field(default_factory=list)


def _annotate(pag: PAG, tokens: Mapping[int, TokenInfo], meta: Mapping[str, Any]) -> PAG:
    """Attach token attributes (kind, text, patch cell) to the learned graph's nodes."""
    out = pag.copy()
    out.meta.update(meta)
    for pos in out.nodes:
        tok = tokens[int(pos)]
        # label: what graph viewers (GraphML, DOT) show on the node
        label = f"patch {tok.patch[0]},{tok.patch[1]}" if tok.patch is not None else tok.text
        attrs: dict[str, Any] = {"label": label, "kind": tok.kind, "text": tok.text}
        if tok.patch is not None:
            attrs["patch_row"], attrs["patch_col"] = tok.patch
        out.add_node(pos, **attrs)
    return out


def _learn_head(R: np.ndarray, head: int, nodes: list[int], root: int, tokens: Mapping[int, TokenInfo],
                n_samples: int, alpha: float, method: str, max_cond_size: int | None, max_range: int | None,
                ordered: bool) -> _HeadWork:
    from whytoken.causal import PartialCorrelationTest, learn_pag
    from whytoken.causal.pds import pds_tree

    # R is the correlation over *all* positions up to the target (each token's
    # whole attention row counts); the graph is learned on the block of the
    # selected nodes, whose names are their sequence positions.
    sub = R[np.ix_(nodes, nodes)]
    ci_test = PartialCorrelationTest.from_correlation(sub, n_samples=n_samples, alpha=alpha, nodes=nodes)
    start = time.perf_counter()
    result = learn_pag(ci_test, nodes, method=method, order=nodes if ordered else None, max_cond_size=max_cond_size)
    seconds = time.perf_counter() - start
    pag = _annotate(result.pag, tokens, {"head": head, "method": method, "alpha": alpha, "n_samples": n_samples})
    tree = pds_tree(pag, root, max_depth=max_range)
    depth = {int(n): int(d) for n, d in tree.depth.items()}
    before = ci_test.n_tests
    p_values = {pos: float(ci_test.test(pos, root, ()).p_value) for pos, d in depth.items() if d > 0}
    ci_test.n_tests = before  # report the learner's tests only
    return _HeadWork(head, pag, ci_test, int(result.n_tests), seconds, depth, p_values)


# ---------------------------------------------------------------------- the query
def explain(
    trace: TraceLike,
    target: int | str,
    layer: int = -1,
    heads: str | int | Iterable[int] = "all",
    alpha: float = DEFAULT_ALPHA,
    n_samples: int | str | None = None,
    method: str | None = None,
    nodes: Iterable[int] | None = None,
    max_set_size: int = DEFAULT_MAX_SET_SIZE,
    max_range: int | None = DEFAULT_MAX_RANGE,
    verify: bool = True,
    model: InterveningModel | None = None,
    criterion: str | Criterion = DEFAULT_CRITERION,
    include_special: bool = False,
    seed: int = 0,
    *,
    intervention: str = "mask",
    max_candidates: int = DEFAULT_MAX_CANDIDATES,
    max_nodes: int | None = None,
    max_cond_size: int | None = DEFAULT_MAX_COND_SIZE,
    batch_size: int = 32,
    target_row: str = "generated",
    progress: ProgressCallback | None = None,
) -> Explanation:
    """Find the minimal set of input tokens whose removal changes a generated token.

    Parameters
    ----------
    trace : TraceLike
        A :class:`whytoken.adapters.trace.Trace` (attentions for ``layer`` recorded).
    target : int or str
        The generated token to explain: its sequence position, a negative index
        among the generated tokens (-1 = last), or its text (e.g. ``"Paris"``);
        see :func:`resolve_target`.
    layer : int, default -1
        The layer whose attention is read (negative counts from the last).
    heads : "all", int or iterable of int
        Heads of that layer to learn graphs from.
    alpha : float, default 0.01
        Significance level of the CI tests.
    n_samples : int or {"head_dim", "hidden_size"}, optional
        Effective sample size N of the Fisher-z test; default: the model's head
        dimension; ``"hidden_size"`` uses the width of the residual stream
        (see :func:`default_n_samples`).
    method : str, optional
        A learner from :func:`whytoken.causal.list_learners`; default
        ``ordered-icd`` for causal decoders, ``icd`` for encoders.
    nodes : iterable of int, optional
        Positions to learn over (the target is always added); default: every
        position before the target (image patches, prompt and special tokens,
        earlier generated tokens); for encoders, every other position.
    max_set_size : int, default 3
        Largest explaining set tried.
    max_range : int or None, default 3
        Deepest PDS-tree level whose tokens may be members (None: the whole tree).
    verify : bool, default True
        Check candidates on the model. False returns the graph's best-ranked
        candidates of the smallest size, unverified.
    model : InterveningModel, optional
        The model for verification; default ``trace.adapter`` (a trace loaded
        from disk has none: pass ``model=load_model(...)``).
    criterion : str or Criterion, default "top-token"
        When a removal counts as changing the target; see
        :func:`whytoken.query.list_criteria` (``"prob-drop"`` uses a fraction of
        0.5; pass ``get_criterion("prob-drop", fraction=f)`` for another).
    include_special : bool, default False
        Allow the first position (attention sink) and special/template tokens in
        explaining sets.
    seed : int, default 0
        Recorded in the provenance. Nothing in the query is random and the
        built-in interventions are deterministic; the seed documents runs that
        use a stochastic intervention of your own.
    intervention : str, default "mask"
        Removal kind, from the adapter's ``list_interventions()``.
    max_candidates : int, default 256
        Most candidate sets verified per size (over all heads, after de-duplication).
    max_nodes : int, optional
        Prune the graph to the target plus the ``max_nodes`` positions the target's
        predicting row attends to most (mean over the selected heads).
    max_cond_size : int or None, default 3
        Largest conditioning set of the learner (never more than ``N - 4``, which
        Fisher's z needs). None runs the learner until no edge has a larger
        ICD-Sep set: on heads that stay dense the number of sets grows
        combinatorially with the level (one 46-token head of the demo model took
        13 minutes uncapped, 0.3 s at 3), while on the demo world's held-out
        split raising the cap from 3 to 5 changed no explanation.
    batch_size : int, default 32
        Removal sets per model call.
    target_row : {"generated", "predicting"}, default "generated"
        Which attention row stands for the target in the graphs: the generated
        token's own position, or (causal decoders) the position before it,
        whose output predicted it; that position is then not a candidate.
    progress : callable, optional
        ``progress(stage, done, total)`` with stage ``"learn"`` or ``"verify"``.

    Returns
    -------
    Explanation
        ``status`` is ``"explained"``, ``"not-explained"`` (nothing verified within
        the limits; ``message`` says what was tried) or ``"unverified"``.

    Raises
    ------
    TargetError, LayerError, InvalidParameterError, UnknownLearnerError, ExplanationError
        For bad inputs; each message names the bad value and the fix.
    """
    t_start = time.perf_counter()
    _check_params(alpha, max_set_size, max_range, max_candidates, batch_size, max_nodes, max_cond_size)
    crit = get_criterion(criterion)
    info = dict(getattr(trace, "model_info", None) or {})
    from whytoken.causal import attention_to_correlation, get_learner

    method = method or default_method(info)
    learner_cls = type(get_learner(method))  # an unknown name raises UnknownLearnerError listing the known ones
    ordered = bool(getattr(learner_cls, "uses_order", False))
    n_samples = resolve_n_samples(n_samples, info)
    if n_samples < 5:
        raise InvalidParameterError(f"n_samples={n_samples} is too small for Fisher's z test (needs N - |Z| - 3 > 0); "
                                    "use at least 5, normally the head dimension")
    # Fisher's z needs N - |Z| - 3 > 0: never condition on more than N - 4 tokens.
    cond_cap = n_samples - 4 if max_cond_size is None else min(int(max_cond_size), n_samples - 4)

    gen_index, gen = resolve_target(trace, target)
    target_pos = int(gen.position)
    layer_key = resolve_layer(trace, layer)
    attn = np.asarray(trace.attentions[layer_key])
    if attn.ndim != 3 or attn.shape[1] != attn.shape[2]:
        raise ExplanationError(f"attention of layer {layer_key} has shape {attn.shape}; expected (heads, n, n)")
    n_heads, n_seq = attn.shape[0], attn.shape[1]
    head_ids = resolve_heads(heads, n_heads)
    if target_pos >= n_seq:
        raise TargetError(f"target position {target_pos} ({gen.text!r}) is beyond the traced attention "
                          f"({n_seq} positions); trace again so the attention covers the generated tokens")

    is_causal = bool(info.get("is_causal", True))
    query_row = target_pos - 1 if is_causal and target_pos > 0 else target_pos
    if target_row not in TARGET_ROWS:
        raise InvalidParameterError(f"target_row must be one of {', '.join(TARGET_ROWS)}, got {target_row!r}")
    # The graph node that stands for the target: the generated token's own position, or (decoders) the
    # position whose output predicted it.
    root = query_row if target_row == "predicting" else target_pos
    # A decoder's target sees only earlier positions; an encoder's sees all of them.
    last = root if is_causal else n_seq - 1
    tokens = {int(p.index): _token_info(p) for p in trace.positions if int(p.index) <= max(last, target_pos)}
    first = min(tokens)

    def removable(pos: int) -> bool:
        tok = tokens[pos]
        if pos in (target_pos, root):
            return False
        if include_special:
            return True
        return pos != first and tok.kind != "special"

    # ---- nodes of the graphs
    allowed = {p for p in tokens if p <= last and p not in (root, target_pos)}
    if nodes is None:
        node_list = sorted(allowed)
    else:
        node_list = sorted({int(p) for p in nodes} - {root, target_pos})
        bad = [p for p in node_list if p not in allowed]
        if bad:
            raise InvalidParameterError(f"nodes {bad[:10]} are not positions the target can depend on "
                                        f"(valid: 0..{last}, without {sorted({root, target_pos})}); "
                                        "pass positions of the trace")
    if max_nodes is not None and len(node_list) > max_nodes:
        weight = attn[list(head_ids), query_row, :].mean(axis=0)
        keep = sorted(node_list, key=lambda p: (-float(weight[p]), p))[:max_nodes]
        node_list = sorted(keep)
    if not any(removable(p) for p in node_list):
        raise ExplanationError(
            f"no removable token before the target {gen.text!r} at position {target_pos}: the candidates are "
            "the first position or special tokens; pass include_special=True or a longer prompt")
    graph_nodes = node_list + [root]

    # ---- 1-3: evidence, graph and PDS-tree per head
    works: list[_HeadWork] = []
    t_learn = time.perf_counter()
    for i, h in enumerate(head_ids):
        R = attention_to_correlation(attn[h, : last + 1, : last + 1])
        works.append(_learn_head(R, h, graph_nodes, root, tokens, n_samples, alpha, method,
                                 cond_cap, max_range, ordered))
        logger.info("head %d: %d edges, %d CI tests, %.2fs, %d tokens within range %s",
                    h, works[-1].pag.number_of_edges(), works[-1].n_ci_tests, works[-1].learn_seconds,
                    len(works[-1].depth) - 1, max_range)
        if progress is not None:
            progress("learn", i + 1, len(head_ids))
    learn_seconds = time.perf_counter() - t_learn

    pool = [p for p in node_list if removable(p)]
    removable_set = set(pool)

    # ---- 4: candidate sets per size, de-duplicated over heads, verified in batches
    verifier = None
    if verify:
        verifier = model if model is not None else getattr(trace, "adapter", None)
        if verifier is None:
            raise ExplanationError(
                "cannot verify: the trace has no live model (it was probably loaded from disk); pass "
                "model=load_model(<the traced model>) or verify=False for unverified graph candidates")
    original_prob = float(gen.prob)
    outcomes: dict[tuple[int, ...], InterventionOutcome] = {}
    first_hit: int | None = None  # interventions up to the first verified set, in rank order
    n_calls = 0
    n_proposed = 0
    truncated = False
    sizes_tried: list[int] = []
    found: list[tuple[tuple, tuple[int, ...]]] = []
    proposals_at_found: dict[tuple[int, ...], dict[str, Any]] = {}
    t_verify = time.perf_counter()
    for size in range(1, max_set_size + 1):
        proposals: dict[tuple[int, ...], dict[str, Any]] = {}
        for w in works:
            ranked: list[RankedSet] = rank_candidate_sets(w.depth, w.p_values, removable_set, size,
                                                          limit=max_candidates)
            n_proposed += len(ranked)
            for r in ranked:
                w.records.append((r.positions, r.pds_distance))
                entry = proposals.setdefault(r.positions, {"key": r.key[:3], "heads": [], "best": w.head,
                                                           "ranked": r})
                entry["heads"].append(w.head)
                if r.key[:3] < entry["key"]:
                    entry.update(key=r.key[:3], best=w.head, ranked=r)
        if not proposals:
            continue
        sizes_tried.append(size)
        ordered_sets = sorted(proposals, key=lambda s: (proposals[s]["key"], -len(proposals[s]["heads"]), s))
        if len(ordered_sets) > max_candidates:
            truncated = True
            ordered_sets = ordered_sets[:max_candidates]
        if not verify:
            proposals_at_found = {s: proposals[s] for s in ordered_sets}
            found = [((proposals[s]["key"], -len(proposals[s]["heads"]), s), s) for s in ordered_sets]
            break
        todo = [s for s in ordered_sets if s not in outcomes]
        for start in range(0, len(todo), batch_size):
            batch = todo[start:start + batch_size]
            predictions = _predict(verifier, trace, target_pos, batch, intervention)
            n_calls += 1
            for s, pred in zip(batch, predictions):
                outcomes[s] = InterventionOutcome(
                    changed=bool(crit.changed(pred, original_prob)),
                    top_token_id=int(pred.top_token_id),
                    top_token_text=str(pred.top_token_text),
                    top_prob=float(pred.top_prob),
                    target_prob_after=_prob_after(pred),
                    effect=float(crit.effect(pred, original_prob)),
                )
                if first_hit is None and outcomes[s].changed:
                    first_hit = len(outcomes)
            if progress is not None:
                progress("verify", min(start + batch_size, len(todo)), len(todo))
        verified = [s for s in ordered_sets if outcomes[s].changed]
        logger.info("size %d: %d candidate sets, %d verified", size, len(ordered_sets), len(verified))
        if verified:
            proposals_at_found = {s: proposals[s] for s in verified}
            found = [((proposals[s]["key"], -len(proposals[s]["heads"]), -_finite(outcomes[s].effect), s), s)
                     for s in verified]
            break
    verify_seconds = time.perf_counter() - t_verify

    # ---- assemble the result
    by_head = {w.head: w for w in works}
    minimal_sets = []
    for _, s in sorted(found):
        entry = proposals_at_found[s]
        w = by_head[entry["best"]]
        members = []
        for pos in s:
            tok = tokens[pos]
            rest = [q for q in s if q != pos]
            p_rest = float(w.ci_test.test(pos, root, rest).p_value) if rest else None
            members.append(Member(position=pos, kind=tok.kind, text=tok.text, patch=tok.patch,
                                  pds_distance=w.depth.get(pos), p_value=w.p_values.get(pos),
                                  p_value_given_rest=p_rest))
        ranked = entry["ranked"]
        minimal_sets.append(ExplainingSet(
            members=tuple(members),
            verified=(outcomes[s].changed if verify else None),
            heads=tuple(sorted(entry["heads"])),
            best_head=entry["best"],
            pds_distance=ranked.pds_distance,
            depth_sum=ranked.depth_sum,
            outcome=outcomes.get(s),
        ))
    minimal_size = minimal_sets[0].size if minimal_sets else None

    head_results = []
    for w in works:
        records = tuple(
            CandidateRecord(positions=pos, pds_distance=d,
                            verified=(outcomes[pos].changed if pos in outcomes else None),
                            effect=(_finite_or_none(outcomes[pos].effect) if pos in outcomes else None))
            for pos, d in w.records)
        sizes = [len(c.positions) for c in records if c.verified]
        head_results.append(HeadResult(
            head=w.head, pag=w.pag, n_ci_tests=w.n_ci_tests, learn_seconds=w.learn_seconds,
            pds_depth=dict(sorted(w.depth.items())), candidates=records,
            minimal_size=min(sizes) if sizes else None, method=method))

    exhaustive = n_subsets_up_to(len(pool), minimal_size if (verify and minimal_size) else max_set_size)
    search = SearchSummary(
        sizes_tried=tuple(sizes_tried), n_candidate_nodes=len(pool), n_proposed=n_proposed,
        n_unique=len(outcomes) if verify else len(proposals_at_found), n_interventions=len(outcomes),
        n_model_calls=n_calls, exhaustive_interventions=exhaustive, first_verified_at=first_hit, truncated=truncated,
        max_set_size=max_set_size, max_range=max_range, max_candidates=max_candidates)

    status, message = _status_message(verify, minimal_sets, gen.text, search, crit, len(head_ids), include_special,
                                      n_samples, info.get("hidden_size"))
    attention = {h: tuple(float(x) for x in attn[h, query_row, : max(tokens) + 1]) for h in head_ids}
    image_size = getattr(trace, "image_size", None)
    patch_grid = getattr(trace, "patch_grid", None)
    provenance = {
        "model": info.get("name") or info.get("model") or info.get("name_or_path"),
        "revision": info.get("revision"),
        "architecture": info.get("architecture"),
        "layer": layer_key,
        "heads": list(head_ids),
        "alpha": float(alpha),
        "n_samples": n_samples,
        "learner": method,
        "max_cond_size": cond_cap,
        "criterion": crit.name,
        "criterion_params": crit.get_params(),
        "intervention": intervention,
        "include_special": include_special,
        "max_set_size": max_set_size,
        "max_range": max_range,
        "max_candidates": max_candidates,
        "max_nodes": max_nodes,
        "target_row": target_row,
        "verify": verify,
        "seed": seed,
        "versions": _versions(),
    }
    total = time.perf_counter() - t_start
    return Explanation(
        status=status,
        message=message,
        target=TargetToken(target_pos, gen_index, int(gen.token_id), str(gen.text), original_prob),
        explaining_set=minimal_sets[0] if minimal_sets else None,
        minimal_sets=tuple(minimal_sets),
        heads=tuple(head_results),
        search=search,
        tokens=tuple(tokens[p] for p in sorted(tokens)),
        attention=attention,
        attention_row=query_row,
        target_node=root,
        prompt=str(getattr(trace, "prompt", "") or ""),
        generated_text="".join(str(g.text) for g in trace.generated),
        image_size=None if image_size is None else tuple(int(v) for v in image_size),
        patch_grid=None if patch_grid is None else tuple(int(v) for v in patch_grid),
        timings={"learn": learn_seconds, "verify": verify_seconds, "total": total},
        provenance=provenance,
    )


def _predict(model: InterveningModel, trace: Any, target_pos: int, batch: Sequence[tuple[int, ...]],
             intervention: str) -> list[Any]:
    kwargs: dict[str, Any] = {"kind": intervention}
    if _accepts(model.predict_batch, "batch_size"):
        kwargs["batch_size"] = len(batch)  # one call of ours = one forward pass of the model
    predictions = list(model.predict_batch(trace, target_pos, [list(s) for s in batch], **kwargs))
    if len(predictions) != len(batch):
        raise ExplanationError(f"the model returned {len(predictions)} predictions for {len(batch)} removal sets; "
                               "predict_batch must return one prediction per set")
    return predictions


def _accepts(function: Callable[..., Any], name: str) -> bool:
    try:
        return name in inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False


def _finite(value: float) -> float:
    return value if math.isfinite(value) else 0.0


def _finite_or_none(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _prob_after(prediction: Any) -> float:
    value = getattr(prediction, "original_token_prob_after", None)
    return float("nan") if value is None else float(value)


#: Below this effective sample size a not-explained result suggests a larger N.
_SMALL_N = 32


def _status_message(verify: bool, sets: Sequence[ExplainingSet], text: str, search: SearchSummary,
                    crit: Criterion, n_heads: int, include_special: bool,
                    n_samples: int | None = None, hidden_size: int | None = None) -> tuple[str, str]:
    if not verify:
        if sets:
            return "unverified", (f"Best graph candidate for {text!r}: {sets[0].describe()} "
                                  f"(not verified on the model; {len(sets)} candidate set(s) of size {sets[0].size}).")
        return "unverified", (f"No candidate set for {text!r}: the target has no removable token within PDS "
                              f"distance {search.max_range} in any of {n_heads} head(s).")
    if sets:
        best = sets[0]
        alt = f"; {len(sets) - 1} other set(s) of the same size also verify" if len(sets) > 1 else ""
        return "explained", (f"Removing {best.describe()} changes {text!r} "
                             f"(criterion: {crit.describe()}){alt}.")
    sizes = f"sizes {search.sizes_tried[0]}-{search.sizes_tried[-1]}" if search.sizes_tried else "no size"
    hint = "raise max_set_size or max_range, try criterion='prob-drop'"
    if not include_special:
        hint += " or include_special=True"
    if n_samples is not None and n_samples < _SMALL_N and hidden_size and hidden_size > n_samples:
        # narrow heads: the tests have little power and the graphs rarely reach the causes
        hint = (f"N = {n_samples} gives the CI tests little power, so the graphs rarely reach the causes: "
                f"try n_samples='hidden_size' (N = {hidden_size}); or {hint}")
    return "not-explained", (
        f"No explanation found: none of the {search.n_interventions} candidate set(s) tried "
        f"({sizes}, PDS distance <= {search.max_range}, {n_heads} head(s)) changed {text!r} "
        f"under the criterion '{crit.describe()}'; {hint}.")
