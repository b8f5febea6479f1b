"""The query's settings: defaults, the rules behind them, and their validation.

Defaults are what a user gets from ``explain(trace)`` with nothing else, so
each one below is a rule that holds for every model, not a number tuned for one:

**Effective sample size N** (:func:`default_n_samples`). One head's output for
token ``i`` is ``sum_k A[i, k] v_k``; reading each value coordinate as one draw of
the token variables gives ``N = d_head`` samples behind ``C = A A^T``. The heads'
outputs are concatenated and mixed into the residual stream, whose width is the
hidden size: every coordinate the layer writes carries the same attention
pattern's evidence. The default is ``N = hidden_size`` (``"hidden_size"``): the
narrow heads of small models (16-dimensional in the embedded demo model) leave
the Fisher-z tests with too little power at ``N = d_head`` for the graphs to
reach the causes (benchmarks/RESULTS.md, validation split). ``"head_dim"`` or
an int overrides it.

**Target row** (:data:`TARGET_ROWS`, default ``"auto"``). A causal decoder's
logits for the token at position ``t`` are computed from the hidden state at
``t - 1``: that position's attention row is the one that produced the token,
so it stands for the target in the graphs (``"predicting"``). An encoder's
masked token is predicted at its own position (``"generated"``).

**Learner** (:func:`default_method`): ``ordered-icd`` for causal decoders
(the token order is a causal order), ``icd`` otherwise.

**Budget** (:data:`DEFAULT_MAX_PASSES`): the search never sends more removal
sets to the model than this (see :mod:`whytoken.query.search`).

Examples
--------
>>> resolve_n_samples(None, {"head_dim": 16, "hidden_size": 64})
64
>>> resolve_target_row("auto", is_causal=True), resolve_target_row("auto", is_causal=False)
('predicting', 'generated')
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from whytoken.errors import ExplanationError, InvalidParameterError

__all__ = [
    "DEFAULT_ALPHA",
    "DEFAULT_MAX_RANGE",
    "DEFAULT_MAX_COND_SIZE",
    "DEFAULT_MAX_PASSES",
    "DEFAULT_N_SAMPLES",
    "N_SAMPLES_BASES",
    "TARGET_ROWS",
    "POOLS",
    "default_n_samples",
    "resolve_n_samples",
    "default_method",
    "resolve_target_row",
    "check_alpha",
    "check_positive_int",
    "check_optional_positive_int",
]

#: Significance level of the CI tests.
DEFAULT_ALPHA = 0.01
#: Deepest PDS-tree level counted as graph support for a token.
DEFAULT_MAX_RANGE = 3
#: Largest conditioning set of the structure learner (ICD level).
DEFAULT_MAX_COND_SIZE = 3
#: Most removal sets (forward sequences) one explanation may send to the model.
DEFAULT_MAX_PASSES = 300
#: Named feature dimensions accepted as ``n_samples``.
N_SAMPLES_BASES = ("head_dim", "hidden_size")
#: The default basis of N (see the module docstring).
DEFAULT_N_SAMPLES = "hidden_size"
#: Which attention row stands for the target in the graphs.
TARGET_ROWS = ("auto", "generated", "predicting")
#: Named candidate pools: which token kinds may be removed.
POOLS = ("all", "image", "text")


def check_alpha(alpha: Any) -> float:
    """``alpha`` as a float in (0, 1), else an :class:`InvalidParameterError`."""
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float, np.floating)) or not 0.0 < float(alpha) < 1.0:
        raise InvalidParameterError(f"alpha must be in (0, 1), got {alpha!r}; typical values are 0.01 or 0.05")
    return float(alpha)


def check_positive_int(name: str, value: Any) -> int:
    """``value`` as a positive int, else an :class:`InvalidParameterError` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise InvalidParameterError(f"{name} must be a positive int, got {value!r}")
    return int(value)


def check_optional_positive_int(name: str, value: Any) -> int | None:
    """Like :func:`check_positive_int`, allowing None."""
    return None if value is None else check_positive_int(name, value)


def default_n_samples(model_info: Mapping[str, Any], basis: str = DEFAULT_N_SAMPLES) -> int:
    """The effective sample size N for a named feature dimension of the model.

    Raises
    ------
    InvalidParameterError
        If ``basis`` is not one of :data:`N_SAMPLES_BASES`.
    ExplanationError
        If the trace does not record the dimension.

    Examples
    --------
    >>> default_n_samples({"head_dim": 64, "hidden_size": 576}), default_n_samples({"head_dim": 64}, "head_dim")
    (576, 64)
    >>> default_n_samples({"hidden_size": 576, "n_heads": 9}, "head_dim")
    64
    """
    info = model_info or {}
    if basis not in N_SAMPLES_BASES:
        raise InvalidParameterError(f"n_samples basis {basis!r} is unknown; expected an int or one of "
                                    f"{', '.join(N_SAMPLES_BASES)}")
    if basis == "hidden_size":
        if info.get("hidden_size"):
            return int(info["hidden_size"])
        if info.get("head_dim") and info.get("n_heads"):
            return int(info["head_dim"]) * int(info["n_heads"])
        raise ExplanationError("cannot use n_samples='hidden_size': the trace's model_info records neither "
                               "hidden_size nor head_dim and n_heads; pass an int, e.g. n_samples=64")
    if info.get("head_dim"):
        return int(info["head_dim"])
    if info.get("hidden_size") and info.get("n_heads"):
        return int(info["hidden_size"]) // int(info["n_heads"])
    raise ExplanationError("cannot derive n_samples='head_dim': the trace's model_info has no head_dim "
                           "(nor hidden_size and n_heads); pass an int, e.g. n_samples=64")


def resolve_n_samples(n_samples: int | str | None, model_info: Mapping[str, Any]) -> int:
    """N for ``n_samples``: an int as given, a basis name, or None (:data:`DEFAULT_N_SAMPLES`).

    Examples
    --------
    >>> info = {"head_dim": 16, "hidden_size": 64}
    >>> resolve_n_samples("head_dim", info), resolve_n_samples(32, info)
    (16, 32)
    """
    if n_samples is None:
        return default_n_samples(model_info)
    if isinstance(n_samples, str):
        return default_n_samples(model_info, basis=n_samples)
    if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)) or n_samples < 5:
        raise InvalidParameterError(f"n_samples must be an int >= 5 (Fisher's z needs N - |Z| - 3 > 0), one of "
                                    f"{', '.join(N_SAMPLES_BASES)} or None, got {n_samples!r}")
    return int(n_samples)


def default_method(model_info: Mapping[str, Any]) -> str:
    """``ordered-icd`` for causal decoders (token order is a causal order), else ``icd``.

    Examples
    --------
    >>> default_method({"is_causal": True}), default_method({"is_causal": False})
    ('ordered-icd', 'icd')
    """
    return "ordered-icd" if (model_info or {}).get("is_causal", True) else "icd"


def resolve_target_row(target_row: str, is_causal: bool) -> str:
    """``"generated"`` or ``"predicting"`` for a :data:`TARGET_ROWS` value (``"auto"``: see the module docstring)."""
    if target_row not in TARGET_ROWS:
        raise InvalidParameterError(f"target_row must be one of {', '.join(TARGET_ROWS)}, got {target_row!r}")
    if target_row == "auto":
        return "predicting" if is_causal else "generated"
    return target_row
