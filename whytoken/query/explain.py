"""The explanation query: the fewest input tokens whose removal changes a generated token.

:func:`explain` answers "why was this token generated?" in stages, each a
module of its own:

1. **Evidence** (:mod:`~whytoken.query.evidence`): each head's attention ``A``
   gives ``C = A A^T``, a correlation ``R`` and Fisher-z partial-correlation CI
   tests with ``N`` effective samples.
2. **Graphs** (:mod:`~whytoken.query.graphs`): a PAG per head (``ordered-icd``
   for decoders, ``icd`` for encoders) and the PDS-tree rooted at the target;
   their summary ranks every candidate token.
3. **Proposals** (:mod:`~whytoken.query.proposals`): groups the graphs tie
   together (image regions, words, the target's neighbourhood).
4. **Verification** (:mod:`~whytoken.query.verification`): removals checked on
   the model under one budget of forward passes (``max_passes``).
5. **Search** (:mod:`~whytoken.query.search`): a registered policy decides what to
   verify (default ``graph-guided``: singles, pairs, groups, a complete fallback,
   a minimality check).
6. **Result** (:mod:`~whytoken.query.assemble`): verified sets of the smallest
   size found, ranked by their measured effect, each with the claims its checks
   support (``irreducible``, ``globally_minimal``), in an
   :class:`~whytoken.query.Explanation`.

The defaults are rules, not tuned numbers (see :mod:`whytoken.query.settings`):
N is the hidden size, the target node is the position that predicted the
token (decoders), the learner uses the token order, and the budget is
:data:`~whytoken.query.settings.DEFAULT_MAX_PASSES` forward passes.

By default the first position (the attention sink) and special/template tokens
are never removed; they stay in the graphs as observed variables.

Examples
--------
A four-token "trace" whose target (position 3) attends mostly to token 1, and
a stand-in model whose answer changes exactly when token 1 is removed:

>>> import numpy as np
>>> from types import SimpleNamespace as NS
>>> from whytoken.adapters.trace import GeneratedToken, Position, Prediction, Trace
>>> A = np.array([[1, 0, 0, 0], [.1, .9, 0, 0], [.1, .8, .1, 0], [.05, .85, .05, .05]], dtype=np.float32)
>>> trace = Trace((Position(0, "special", 1, "<s>"), Position(1, "prompt_text", 7, " France"),
...                Position(2, "prompt_text", 8, " is"), Position(3, "generated", 9, " Paris")),
...               (GeneratedToken(3, 9, " Paris", 0.8),), {0: A[None]}, "France is", None, None,
...               {"n_layers": 1, "n_heads": 1, "head_dim": 64, "hidden_size": 64, "is_causal": True})
>>> def predict_batch(trace, target, sets, kind="mask"):
...     return [Prediction(s, kind, 5 if 1 in s else 9, "?", .5, 9, .8, target, .1 if 1 in s else .8)
...             for s in sets]
>>> result = explain(trace, model=NS(predict_batch=predict_batch))
>>> result.status, result.explaining_set.positions, result.explaining_set.claim()
('explained', (1,), 'minimal')
"""

from __future__ import annotations

import importlib.metadata
import inspect
import logging
import time
import warnings
from typing import Any, Callable, Iterable, Mapping, Protocol, Sequence

import numpy as np

from whytoken.errors import ExplanationError
from whytoken.query.assemble import build_set, exhaustive_estimate, hints_for, rank_sets, status_message
from whytoken.query.criteria import DEFAULT_CRITERION, Criterion
from whytoken.query.evidence import build_evidence
from whytoken.query.explanation import AnswerExplanation, Explanation
from whytoken.query.graphs import LayerGraphs, learn_graphs, token_evidence
from whytoken.query.plan import Settings, TargetPlan, plan_target, prune_nodes, resolve_settings
from whytoken.query.records import TargetToken
from whytoken.query.search import DEFAULT_POLICY, FoundSet, SearchContext, SearchPolicy
from whytoken.query.settings import DEFAULT_ALPHA, DEFAULT_MAX_COND_SIZE, DEFAULT_MAX_PASSES, DEFAULT_MAX_RANGE
from whytoken.query.summaries import SearchSummary
from whytoken.query.targets import answer_targets, default_target, resolve_heads, resolve_layer, resolve_target
from whytoken.query.verification import Verifier

__all__ = ["explain", "TraceLike", "InterveningModel", "ProgressCallback"]

logger = logging.getLogger(__name__)

#: ``progress(stage, done, total)``: stage is ``"learn"``, ``"verify"`` or (``target="all"``) ``"target"``.
ProgressCallback = Callable[[str, int, int], None]


class TraceLike(Protocol):
    """What :func:`explain` reads from a trace (:class:`whytoken.adapters.trace.Trace` satisfies it).

    ``positions`` items have ``index``, ``kind`` (an enum whose lower-cased name is one of
    ``image_patch``, ``prompt_text``, ``special``, ``generated``), ``token_id``, ``text``, ``patch``,
    ``box`` and ``image_index``; ``generated`` items have ``position``, ``token_id``, ``text`` and
    ``prob``; ``attentions`` maps a layer to a float array of shape ``(heads, n, n)``.
    """

    positions: Sequence[Any]
    generated: Sequence[Any]
    attentions: Mapping[int, Any]
    prompt: str
    model_info: Mapping[str, Any]


class InterveningModel(Protocol):
    """What verification needs from a model (:class:`whytoken.adapters.ModelAdapter` satisfies it).

    ``predict_batch`` removes each set of positions from the input and returns, per set, a
    prediction with ``top_token_id``, ``top_token_text``, ``top_prob``, ``original_token_id``,
    ``original_prob`` and ``original_token_prob_after`` at the target position.
    """

    def predict_batch(self, trace: Any, target: Any, removal_sets: Sequence[Sequence[int]],
                      kind: str = "mask") -> list[Any]: ...


def _versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for package in ("whytoken", "transformers", "torch", "numpy", "networkx", "causal-learn"):
        try:
            out[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            out[package] = None
    return out


def _predictor(model: Any, trace: Any, target_pos: int, intervention: str,
               batch_size: int | None) -> Callable[[list[tuple[int, ...]]], list[Any]]:
    kwargs: dict[str, Any] = {"kind": intervention}
    try:
        accepts = "batch_size" in inspect.signature(model.predict_batch).parameters
    except (TypeError, ValueError):
        accepts = False
    if accepts and batch_size is not None:
        kwargs["batch_size"] = batch_size

    def predict(sets: list[tuple[int, ...]]) -> list[Any]:
        return list(model.predict_batch(trace, target_pos, [list(x) for x in sets], **kwargs))

    return predict


def _explain_target(trace: Any, s: Settings, plan: TargetPlan, layer: LayerGraphs, verifier_model: Any,
                    progress: ProgressCallback | None, provenance: Mapping[str, Any], learn_seconds: float,
                    t_start: float) -> Explanation:
    graphs = layer.for_root(plan.root, plan.query_row, plan.nodes, s.max_range)
    evidence = token_evidence(graphs, plan.pool)
    original_prob = float(plan.gen.prob)
    t_verify = time.perf_counter()
    result = None
    verifier = None
    if verifier_model is not None:
        verifier = Verifier(_predictor(verifier_model, trace, plan.target_pos, s.intervention, s.batch_size),
                            s.crit, original_prob, s.max_passes, batch_size=None, progress=progress)
        ctx = SearchContext(plan.pool, plan.tokens, evidence, verifier, s.max_set_size)
        result = s.policy.search(ctx)
        found = [build_set(f, plan.tokens, graphs, verifier, len(plan.pool)) for f in result.found]
    else:
        best = [p for p in evidence.ranked(plan.pool) if evidence.supported(p)][:8]
        empty = Verifier(lambda sets: [], s.crit, original_prob, 0)
        found = [build_set(FoundSet((p,), "graph", None), plan.tokens, graphs, empty, len(plan.pool), verified=None)
                 for p in best]
    verify_seconds = time.perf_counter() - t_verify
    ranked = rank_sets(found, evidence)
    smallest = ranked[0].size if ranked else None
    explaining = tuple(x for x in ranked if x.size == smallest)
    others = tuple(x for x in ranked if x.size != smallest)
    status, message = status_message(verifier is not None, explaining, str(plan.gen.text), result, verifier,
                                     s.crit, len(plan.pool))
    hints = hints_for(result, s.crit, s.include_special, s.max_passes,
                      s.pool if isinstance(s.pool, str) else "given") if status == "not-explained" else ()
    summary = SearchSummary(
        policy=s.policy.name, max_passes=s.max_passes, passes_used=verifier.passes if verifier else 0,
        passes_by_stage=dict(verifier.passes_by_stage) if verifier else {},
        n_model_calls=verifier.n_calls if verifier else 0, pool_size=len(plan.pool),
        exhaustive_passes=exhaustive_estimate(len(plan.pool), smallest if verifier else None, s.max_set_size),
        first_verified_at=verifier.first_hit if verifier else None,
        stopped=result.stopped if result is not None else "unverified",
        pool_changes_target=result.pool_changes_target if result is not None else None,
        max_set_size=s.max_set_size, max_range=s.max_range)
    image_size, patch_grid = getattr(trace, "image_size", None), getattr(trace, "patch_grid", None)
    return Explanation(
        status=status, message=message,
        target=TargetToken(plan.target_pos, plan.gen_index, int(plan.gen.token_id), str(plan.gen.text), original_prob),
        target_reason=plan.reason,
        explaining_set=explaining[0] if explaining else None, explaining_sets=explaining, other_sets=others,
        heads=tuple(g.result() for g in graphs), search=summary,
        checks=tuple(verifier.checks) if verifier else (), hints=hints,
        tokens=tuple(plan.tokens[p] for p in sorted(plan.tokens)),
        attention={g.head: tuple(float(x) for x in layer.evidence.attention[g.head, plan.query_row,
                                                                            : max(plan.tokens) + 1])
                   for g in graphs},
        attention_row=plan.query_row, target_node=plan.root,
        prompt=str(getattr(trace, "prompt", "") or ""),
        generated_text="".join(str(g.text) for g in trace.generated),
        image_size=None if image_size is None else tuple(int(v) for v in image_size),
        patch_grid=None if patch_grid is None else tuple(int(v) for v in patch_grid),
        timings={"learn": learn_seconds, "verify": verify_seconds, "total": time.perf_counter() - t_start},
        provenance=provenance)


def explain(
    trace: TraceLike,
    target: int | str | None = None,
    layer: int = -1,
    heads: str | int | Iterable[int] = "all",
    alpha: float = DEFAULT_ALPHA,
    n_samples: int | str | None = None,
    method: str | None = None,
    nodes: Iterable[int] | None = None,
    max_set_size: int | None = None,
    max_range: int | None = DEFAULT_MAX_RANGE,
    verify: bool = True,
    model: InterveningModel | None = None,
    criterion: str | Criterion = DEFAULT_CRITERION,
    include_special: bool = False,
    seed: int = 0,
    *,
    intervention: str = "mask",
    max_passes: int = DEFAULT_MAX_PASSES,
    policy: str | SearchPolicy = DEFAULT_POLICY,
    pool: str | Iterable[int] = "all",
    max_nodes: int | None = None,
    max_cond_size: int | None = DEFAULT_MAX_COND_SIZE,
    batch_size: int | None = None,
    target_row: str = "auto",
    progress: ProgressCallback | None = None,
    max_candidates: int | None = None,
) -> Explanation | AnswerExplanation:
    """Find the fewest input tokens whose removal changes a generated token, verified on the model.

    Parameters
    ----------
    trace : TraceLike
        A :class:`whytoken.adapters.trace.Trace` (attentions for ``layer`` recorded).
    target : int, str, "all" or None
        The generated token to explain: its sequence position, a negative index among the
        generated tokens (-1 = last), its text (e.g. ``"Paris"``), ``"all"`` for every
        generated token of the answer (returns an :class:`AnswerExplanation`), or None
        (default) for the first token of the answer (leading whitespace/punctuation and a
        repeat of the prompt are skipped; :attr:`Explanation.target_reason` says which).
    layer : int, default -1
        The layer whose attention is read (negative counts from the last).
    heads : "all", int or iterable of int
        Heads of that layer to learn graphs from.
    alpha : float, default 0.01
        Significance level of the CI tests.
    n_samples : int or {"hidden_size", "head_dim"}, optional
        Effective sample size N of the Fisher-z test; default the hidden size (see
        :mod:`whytoken.query.settings` for the rule).
    method : str, optional
        A learner from :func:`whytoken.causal.list_learners`; default ``ordered-icd`` for
        causal decoders, ``icd`` for encoders.
    nodes : iterable of int, optional
        Positions to learn over (the target node is always added); default every position
        the target can depend on.
    max_set_size : int, optional
        Largest explaining set reported (None: limited by the pool and the budget only).
    max_range : int or None, default 3
        Deepest PDS-tree level counted as graph support for a token.
    verify : bool, default True
        Check candidates on the model. False returns the graphs' best single-token
        candidates, unverified.
    model : InterveningModel, optional
        The model for verification; default ``trace.adapter``.
    criterion : str or Criterion, default "top-token"
        When a removal counts as changing the target (:func:`whytoken.query.list_criteria`).
    include_special : bool, default False
        Allow the first position (attention sink) and special/template tokens to be removed.
    seed : int, default 0
        Recorded in the provenance (nothing in the query is random).
    intervention : str, default "mask"
        Removal kind, from the adapter's ``list_interventions()``.
    max_passes : int, default 300
        The budget: most removal sets sent to the model (never exceeded; the result says
        how many were used and by which stage).
    policy : str or SearchPolicy, default "graph-guided"
        The search policy (:func:`whytoken.query.list_policies`).
    pool : {"all", "image", "text"} or iterable of int, default "all"
        Which tokens may be removed: every removable token, image patches only, text only,
        or these positions.
    max_nodes : int, optional
        Prune the graphs to the target plus the ``max_nodes`` positions the predicting row
        attends to most (mean over the selected heads).
    max_cond_size : int or None, default 3
        Largest conditioning set of the learner (never more than ``N - 4``).
    batch_size : int, optional
        Removal sets per forward pass (None: the adapter's choice for its device).
    target_row : {"auto", "predicting", "generated"}, default "auto"
        Which attention row stands for the target in the graphs; ``auto`` is the position
        that predicted it for decoders, its own position for encoders.
    progress : callable, optional
        ``progress(stage, done, total)``.
    max_candidates : int, optional
        Deprecated and ignored: the search is bounded by ``max_passes`` now.

    Returns
    -------
    Explanation or AnswerExplanation
        ``status`` is ``"explained"``, ``"not-explained"`` (``message`` and ``hints`` say what
        was tried and what to change) or ``"unverified"``.

    Raises
    ------
    TargetError, LayerError, InvalidParameterError, UnknownLearnerError, UnknownPolicyError, ExplanationError
        For bad inputs; each message names the bad value and the fix.
    """
    t_start = time.perf_counter()
    if max_candidates is not None:
        warnings.warn("explain(max_candidates=...) is ignored: the search is bounded by max_passes (forward passes "
                      "in all) since whytoken 0.2", DeprecationWarning, stacklevel=2)
    info = dict(getattr(trace, "model_info", None) or {})
    settings = resolve_settings(info, alpha, n_samples, method, max_set_size, max_range, max_passes, criterion,
                                policy, include_special, pool, max_cond_size, batch_size, target_row, intervention,
                                max_nodes)
    layer_key = resolve_layer(trace, layer)
    attn = np.asarray(trace.attentions[layer_key])
    if attn.ndim != 3 or attn.shape[1] != attn.shape[2]:
        raise ExplanationError(f"attention of layer {layer_key} has shape {attn.shape}; expected (heads, n, n)")
    head_ids = resolve_heads(heads, attn.shape[0])
    n_seq = attn.shape[1]

    verifier_model = None
    if verify:
        verifier_model = model if model is not None else getattr(trace, "adapter", None)
        if verifier_model is None:
            raise ExplanationError("cannot verify: the trace has no live model (it was probably loaded from disk); "
                                   "pass model=load_model(<the traced model>) or verify=False for unverified "
                                   "graph candidates")

    if isinstance(target, str) and target.strip().lower() == "all":
        selected, skipped = answer_targets(trace)
        targets = [(i, g, "every generated token of the answer (target='all')") for i, g in selected]
    elif target is None:
        targets, skipped = [default_target(trace)], []
    else:
        index, gen = resolve_target(trace, target)
        targets, skipped = [(index, gen, f"requested ({target!r})")], []
    plans = [plan_target(trace, settings, i, g, why, n_seq, nodes) for i, g, why in targets]

    all_nodes = sorted(set().union(*(p.nodes for p in plans)))
    if max_nodes is not None and len(all_nodes) > max_nodes + 1:
        all_nodes, plans = prune_nodes(attn, head_ids, plans, max_nodes, settings, trace, n_seq)
    t_learn = time.perf_counter()
    evidence = build_evidence(attn, head_ids, all_nodes, settings.n_samples, settings.alpha, last=max(all_nodes))
    tokens = {k: v for p in plans for k, v in p.tokens.items()}
    layer_graphs = learn_graphs(evidence, tokens, settings.method, settings.ordered, settings.cond_cap, progress)
    learn_seconds = time.perf_counter() - t_learn
    provenance = _provenance(info, layer_key, evidence, settings, seed, verify, max_nodes)

    explanations = []
    for i, plan in enumerate(plans):
        explanations.append(_explain_target(trace, settings, plan, layer_graphs, verifier_model, progress,
                                            provenance, learn_seconds, t_start))
        if progress is not None and len(plans) > 1:
            progress("target", i + 1, len(plans))
    if not (isinstance(target, str) and target.strip().lower() == "all"):
        return explanations[0]
    chains = tuple(sorted({(m.position, e.target.position) for e in explanations if e.explaining_set is not None
                           for m in e.explaining_set.members if m.kind == "generated"}))
    return AnswerExplanation(explanations=tuple(explanations), chains=chains, skipped=tuple(skipped),
                             prompt=str(getattr(trace, "prompt", "") or ""),
                             generated_text="".join(str(g.text) for g in trace.generated), provenance=provenance)


def _provenance(info: Mapping[str, Any], layer_key: int, evidence: Any, s: Settings, seed: int, verify: bool,
                max_nodes: int | None) -> dict[str, Any]:
    return {
        "model": info.get("name") or info.get("model") or info.get("name_or_path"),
        "revision": info.get("revision"),
        "weights_fingerprint": info.get("weights_fingerprint") or info.get("fingerprint"),
        "architecture": info.get("architecture"),
        "layer": layer_key,
        "heads": list(evidence.heads),
        "skipped_heads": {str(h): why for h, why in evidence.skipped.items()},
        "alpha": s.alpha,
        "n_samples": s.n_samples,
        "learner": s.method,
        "max_cond_size": s.cond_cap,
        "criterion": s.crit.name,
        "criterion_params": s.crit.get_params(),
        "policy": s.policy.name,
        "policy_params": {k: (list(v) if isinstance(v, tuple) else v) for k, v in s.policy.get_params().items()},
        "max_passes": s.max_passes,
        "pool": s.pool if isinstance(s.pool, str) else sorted(s.pool),
        "intervention": s.intervention,
        "include_special": s.include_special,
        "max_set_size": s.max_set_size,
        "max_range": s.max_range,
        "max_nodes": max_nodes,
        "target_row": s.target_row,
        "verify": verify,
        "seed": seed,
        "versions": _versions(),
    }

