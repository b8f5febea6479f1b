"""The explanation query: verified explaining sets for generated tokens.

:func:`explain` learns a PAG per attention head, searches for the fewest input
tokens whose removal changes the target under one budget of forward passes,
and returns an :class:`Explanation` (JSON schema ``whytoken.explanation/2``);
``target="all"`` returns an :class:`AnswerExplanation`. The stages are modules:
:mod:`~whytoken.query.evidence`, :mod:`~whytoken.query.graphs`,
:mod:`~whytoken.query.proposals`, :mod:`~whytoken.query.verification`,
:mod:`~whytoken.query.search`, :mod:`~whytoken.query.assemble`. Verification
criteria, proposal strategies and search policies live in registries
(:func:`list_criteria`, :func:`list_proposers`, :func:`list_policies`).

This package imports neither torch nor the model adapters: it talks to the
trace and the model through the :class:`TraceLike` and
:class:`InterveningModel` protocols.

Examples
--------
>>> from whytoken.query import list_criteria, list_policies, SCHEMA
>>> SCHEMA, list_criteria(), list_policies()
('whytoken.explanation/2', ['prob-drop', 'top-token'], ['exhaustive', 'graph-guided', 'greedy'])
"""

from whytoken.query.criteria import (
    DEFAULT_CRITERION,
    Criterion,
    ProbabilityDrop,
    TopTokenChanged,
    UnknownCriterionError,
    get_criterion,
    list_criteria,
    register_criterion,
)
from whytoken.query.explain import InterveningModel, ProgressCallback, TraceLike, explain
from whytoken.query.explanation import ANSWER_SCHEMA, SCHEMA, AnswerExplanation, Explanation
from whytoken.query.proposals import Proposal, Proposer, get_proposer, list_proposers, register_proposer
from whytoken.query.records import ExplainingSet, InterventionOutcome, Member, TargetToken, TokenInfo
from whytoken.query.summaries import Check, HeadResult, Hint, SearchSummary
from whytoken.query.search import (
    DEFAULT_POLICY,
    SearchPolicy,
    exhaustive_passes,
    get_policy,
    list_policies,
    register_policy,
)
from whytoken.query.settings import (
    DEFAULT_ALPHA,
    DEFAULT_MAX_COND_SIZE,
    DEFAULT_MAX_PASSES,
    DEFAULT_MAX_RANGE,
    N_SAMPLES_BASES,
    POOLS,
    TARGET_ROWS,
    default_method,
    default_n_samples,
    resolve_n_samples,
)
from whytoken.query.targets import default_target, kind_name, resolve_heads, resolve_layer, resolve_target
from whytoken.query import blackbox  # noqa: F401,E402 - registers the "greedy" search policy

__all__ = [
    "explain",
    "Explanation",
    "AnswerExplanation",
    "ExplainingSet",
    "Member",
    "HeadResult",
    "Check",
    "Hint",
    "SearchSummary",
    "TargetToken",
    "TokenInfo",
    "InterventionOutcome",
    "SCHEMA",
    "ANSWER_SCHEMA",
    "Criterion",
    "TopTokenChanged",
    "ProbabilityDrop",
    "UnknownCriterionError",
    "register_criterion",
    "get_criterion",
    "list_criteria",
    "DEFAULT_CRITERION",
    "Proposal",
    "Proposer",
    "register_proposer",
    "get_proposer",
    "list_proposers",
    "SearchPolicy",
    "register_policy",
    "get_policy",
    "list_policies",
    "DEFAULT_POLICY",
    "exhaustive_passes",
    "TraceLike",
    "InterveningModel",
    "ProgressCallback",
    "default_method",
    "default_n_samples",
    "resolve_n_samples",
    "default_target",
    "kind_name",
    "resolve_target",
    "resolve_layer",
    "resolve_heads",
    "DEFAULT_ALPHA",
    "DEFAULT_MAX_RANGE",
    "DEFAULT_MAX_COND_SIZE",
    "DEFAULT_MAX_PASSES",
    "N_SAMPLES_BASES",
    "POOLS",
    "TARGET_ROWS",
]
