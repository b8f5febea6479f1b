"""The explanation query: verified minimal explaining sets for generated tokens.

:func:`explain` learns a PAG per attention head, ranks candidate sets of
input tokens with the PDS-tree rooted at the target, and verifies them on the
model; it returns an :class:`Explanation` (JSON schema
``whytoken.explanation/1``). Verification criteria live in a small registry
(:func:`list_criteria`).

This package imports neither torch nor the model adapters: it talks to the
trace and the model through the :class:`TraceLike` and
:class:`InterveningModel` protocols.

Examples
--------
>>> from whytoken.query import list_criteria, SCHEMA
>>> SCHEMA, list_criteria()
('whytoken.explanation/1', ['prob-drop', 'top-token'])
"""

from whytoken.query.candidates import RankedSet, n_subsets_up_to, rank_candidate_sets
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
from whytoken.query.explain import (
    DEFAULT_ALPHA,
    DEFAULT_MAX_CANDIDATES,
    DEFAULT_MAX_COND_SIZE,
    DEFAULT_MAX_RANGE,
    DEFAULT_MAX_SET_SIZE,
    N_SAMPLES_BASES,
    TARGET_ROWS,
    InterveningModel,
    TraceLike,
    default_method,
    default_n_samples,
    resolve_n_samples,
    explain,
    kind_name,
    resolve_heads,
    resolve_layer,
    resolve_target,
)
from whytoken.query.explanation import (
    SCHEMA,
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
    "Explanation",
    "ExplainingSet",
    "Member",
    "HeadResult",
    "CandidateRecord",
    "SearchSummary",
    "TargetToken",
    "TokenInfo",
    "InterventionOutcome",
    "SCHEMA",
    "Criterion",
    "TopTokenChanged",
    "ProbabilityDrop",
    "UnknownCriterionError",
    "register_criterion",
    "get_criterion",
    "list_criteria",
    "DEFAULT_CRITERION",
    "RankedSet",
    "rank_candidate_sets",
    "n_subsets_up_to",
    "TraceLike",
    "InterveningModel",
    "default_method",
    "default_n_samples",
    "resolve_n_samples",
    "kind_name",
    "resolve_target",
    "resolve_layer",
    "resolve_heads",
    "DEFAULT_ALPHA",
    "DEFAULT_MAX_SET_SIZE",
    "DEFAULT_MAX_RANGE",
    "DEFAULT_MAX_CANDIDATES",
    "DEFAULT_MAX_COND_SIZE",
    "N_SAMPLES_BASES",
    "TARGET_ROWS",
]
