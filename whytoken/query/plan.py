"""Where one query stands before the search: its validated settings and each target's place in the trace.

:func:`resolve_settings` validates and resolves what :func:`whytoken.query.explain` was given
(the rules behind the defaults are in :mod:`whytoken.query.settings`) into one frozen
:class:`Settings`. :func:`plan_target` then places one generated token: its position, the graph
node that stands for it (the position that predicted it, for decoders), the graph's nodes and the
pool of removable tokens, as a :class:`TargetPlan`; :func:`prune_nodes` applies ``max_nodes``.

Examples
--------
>>> s = resolve_settings({"is_causal": True, "hidden_size": 64}, alpha=0.01, n_samples=None, method=None,
...                      max_set_size=None, max_range=3, max_passes=300, criterion="top-token",
...                      policy="graph-guided", include_special=False, pool="all", max_cond_size=3,
...                      batch_size=None, target_row="auto", intervention="mask", max_nodes=None)
>>> s.method, s.n_samples, s.target_row, s.cond_cap
('ordered-icd', 64, 'predicting', 3)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from whytoken.errors import ExplanationError, InvalidParameterError, TargetError
from whytoken.query.criteria import Criterion, get_criterion
from whytoken.query.records import TokenInfo
from whytoken.query.search import SearchPolicy, get_policy
from whytoken.query.settings import (
    POOLS,
    check_alpha,
    check_optional_positive_int,
    check_positive_int,
    default_method,
    resolve_n_samples,
    resolve_target_row,
)
from whytoken.query.targets import kind_name

__all__ = ["Settings", "TargetPlan", "resolve_settings", "plan_target", "prune_nodes", "token_info", "pool_filter"]


@dataclass(frozen=True)
class Settings:
    """The validated, resolved settings of one query."""

    crit: Criterion
    policy: SearchPolicy
    method: str
    ordered: bool
    n_samples: int
    cond_cap: int
    alpha: float
    max_range: int | None
    max_set_size: int | None
    max_passes: int
    batch_size: int | None
    include_special: bool
    pool: Any
    target_row: str
    intervention: str
    is_causal: bool

@dataclass(frozen=True)
class TargetPlan:
    """Where one target sits: its positions, the graph nodes and the candidate pool."""

    gen_index: int
    gen: Any
    reason: str
    target_pos: int
    root: int
    query_row: int
    tokens: Mapping[int, TokenInfo]
    nodes: tuple[int, ...]
    pool: tuple[int, ...]

def token_info(position: Any) -> TokenInfo:
    """The :class:`TokenInfo` of a trace position."""
    patch, box, token_id = getattr(position, "patch", None), getattr(position, "box", None), getattr(position, "token_id", None)
    image = getattr(position, "image_index", None)
    return TokenInfo(position=int(position.index), kind=kind_name(position.kind), text=str(position.text),
                     token_id=None if token_id is None else int(token_id),
                     patch=None if patch is None else (int(patch[0]), int(patch[1])),
                     box=None if box is None else tuple(float(b) for b in box),
                     image_index=None if image is None else int(image))

def pool_filter(pool: Any) -> Any:
    """A :data:`POOLS` name, or a frozenset of positions, from ``explain``'s ``pool``."""
    if isinstance(pool, str):
        if pool not in POOLS:
            raise InvalidParameterError(f"pool must be one of {', '.join(POOLS)} or positions, got {pool!r}")
        return pool
    try:
        positions = frozenset(int(p) for p in pool)
    except (TypeError, ValueError):
        raise InvalidParameterError(f"pool must be one of {', '.join(POOLS)} or an iterable of positions, "
                                    f"got {pool!r}") from None
    if not positions:
        raise InvalidParameterError("pool is empty; pass 'all', 'image', 'text' or some positions")
    return positions

def resolve_settings(info: Mapping[str, Any], alpha: Any, n_samples: Any, method: str | None, max_set_size: Any,
                     max_range: Any, max_passes: Any, criterion: Any, policy: Any, include_special: Any, pool: Any,
                     max_cond_size: Any, batch_size: Any, target_row: str, intervention: str,
                     max_nodes: Any) -> Settings:
    """The validated, resolved settings of one query (``info``: the trace's ``model_info``).

    Raises
    ------
    InvalidParameterError, UnknownLearnerError, UnknownPolicyError, UnknownCriterionError
        For a bad value; the message names it and what is expected.
    """
    from whytoken.causal import get_learner

    alpha = check_alpha(alpha)
    check_optional_positive_int("max_set_size", max_set_size)
    check_optional_positive_int("max_range", max_range)
    check_optional_positive_int("batch_size", batch_size)
    check_optional_positive_int("max_nodes", max_nodes)
    max_passes = check_positive_int("max_passes", max_passes)
    if max_cond_size is not None and (isinstance(max_cond_size, bool) or not isinstance(max_cond_size, (int, np.integer))
                                      or max_cond_size < 0):
        raise InvalidParameterError(f"max_cond_size must be an int >= 0 or None, got {max_cond_size!r}")
    if not isinstance(intervention, str):
        raise InvalidParameterError(f"intervention must be a name such as 'mask', got {intervention!r}")
    method = method or default_method(info)
    learner_cls = type(get_learner(method))  # an unknown name raises UnknownLearnerError listing the known ones
    n = resolve_n_samples(n_samples, info)
    is_causal = bool(info.get("is_causal", True))
    return Settings(
        crit=get_criterion(criterion), policy=get_policy(policy), method=method,
        ordered=bool(getattr(learner_cls, "uses_order", False)), n_samples=n,
        cond_cap=n - 4 if max_cond_size is None else min(int(max_cond_size), n - 4), alpha=alpha,
        max_range=max_range, max_set_size=max_set_size, max_passes=max_passes, batch_size=batch_size,
        include_special=bool(include_special), pool=pool_filter(pool),
        target_row=resolve_target_row(target_row, is_causal), intervention=intervention, is_causal=is_causal)

def plan_target(trace: Any, s: Settings, gen_index: int, gen: Any, reason: str, n_seq: int,
                nodes: Iterable[int] | None) -> TargetPlan:
    """Where the generated token ``gen`` sits: target node, graph nodes and the removable pool.

    Raises
    ------
    TargetError, InvalidParameterError, ExplanationError
        The target is beyond the traced attention, ``nodes``/``pool`` name positions the target
        cannot depend on, or nothing is removable.
    """
    target_pos = int(gen.position)
    if target_pos >= n_seq:
        raise TargetError(f"target position {target_pos} ({gen.text!r}) is beyond the traced attention "
                          f"({n_seq} positions); trace again so the attention covers the generated tokens")
    query_row = target_pos - 1 if s.is_causal and target_pos > 0 else target_pos
    root = query_row if s.target_row == "predicting" else target_pos
    last = root if s.is_causal else n_seq - 1  # a decoder's target sees only earlier positions
    tokens = {int(p.index): token_info(p) for p in trace.positions if int(p.index) <= max(last, target_pos)}
    first = min(tokens)
    allowed = {p for p in tokens if p <= last and p not in (root, target_pos)}
    if nodes is None:
        node_list = sorted(allowed)
    else:
        node_list = sorted({int(p) for p in nodes} - {root, target_pos})
        bad = [p for p in node_list if p not in allowed]
        if bad:
            raise InvalidParameterError(f"nodes {bad[:10]} are not positions the target can depend on "
                                        f"(valid: 0..{last}, without {sorted({root, target_pos})}); pass positions "
                                        "of the trace")
    if isinstance(s.pool, frozenset):
        bad = sorted(s.pool - set(node_list))
        if bad:
            raise InvalidParameterError(f"pool positions {bad[:10]} are not graph nodes the target can depend on "
                                        f"(valid: {node_list[0]}..{node_list[-1]}); pass earlier positions")
        pool = tuple(sorted(s.pool))
    else:
        kinds = {"all": None, "image": {"image_patch"}, "text": {"prompt_text", "generated"}}[s.pool]
        pool = tuple(p for p in node_list
                     if (s.include_special or (p != first and tokens[p].kind != "special"))
                     and (kinds is None or tokens[p].kind in kinds))
    if not pool:
        what = "" if s.pool == "all" else f" of kind {s.pool!r}"
        raise ExplanationError(f"no removable token{what} before the target {gen.text!r} at position {target_pos}: "
                               "the candidates are the first position or special tokens; pass include_special=True, "
                               "another pool, or a longer prompt")
    return TargetPlan(gen_index, gen, reason, target_pos, root, query_row, tokens, tuple(node_list + [root]), pool)

def prune_nodes(attn: np.ndarray, head_ids: Sequence[int], plans: list[TargetPlan], max_nodes: int, s: Settings,
                trace: Any, n_seq: int) -> tuple[list[int], list[TargetPlan]]:
    """Keep the ``max_nodes`` positions the (last) predicting row attends to most, plus the target nodes."""
    last = plans[-1]
    weight = attn[list(head_ids), last.query_row, :].mean(axis=0)
    candidates = sorted(set().union(*(p.nodes for p in plans)) - {p.root for p in plans})
    keep = set(sorted(candidates, key=lambda q: (-float(weight[q]), q))[:max_nodes])
    pruned = [plan_target(trace, s, p.gen_index, p.gen, p.reason, n_seq, [q for q in p.nodes if q in keep])
              for p in plans]
    return sorted(set().union(*(p.nodes for p in pruned))), pruned
