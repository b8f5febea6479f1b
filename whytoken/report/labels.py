"""Text for figures and tables: token labels, p-values in log space, effects and axis ticks.

Everything a report or the viewer prints about a number goes through here, so
the same value reads the same everywhere: a p-value is shown from its log10
(it never underflows to "0.0"), an effect as the relative drop of the target's
probability, an axis gets "nice" ticks whose labels keep enough digits to
differ from each other.

Examples
--------
>>> token_label(" France"), token_label("\\n"), token_label(" "), token_label("<image>", (2, 3))
('France', '⏎', '␣', 'patch 2,3')
>>> format_log10_p(-12.3), format_log10_p(math.log10(0.308)), format_log10_p(None)
('5e-13', '0.31', '–')
>>> nice_ticks(0.0, 0.0043)
[0.0, 0.002, 0.004]
>>> [format_tick(t, 0.002) for t in nice_ticks(0.0, 0.0043)]
['0', '0.002', '0.004']
>>> format_effect(0.99991), format_effect(None)
('−100%', '–')
"""

from __future__ import annotations

import math
from typing import Any

__all__ = [
    "token_label",
    "member_log10_p",
    "format_log10_p",
    "format_p",
    "format_prob",
    "format_effect",
    "nice_ticks",
    "format_tick",
    "P_VALUE_MEANING",
]

#: What a member's p-value tests, in one line for table headers, axes and tooltips.
P_VALUE_MEANING = ("p-value of the CI test 'token independent of the target' (Fisher z on the attention "
                   "partial correlation, "
                   "in the head that ranked the set); small = the graph ties the token to the target")

# the smallest positive double is ~1e-308: a p-value of exactly 0 underflowed below it
_UNDERFLOW_LOG10 = -308.0


def token_label(text: str, patch: tuple[int, int] | None = None, max_len: int = 18) -> str:
    """A short display label: stripped text, ``⏎``/``␣`` for whitespace, ``patch r,c`` for patches."""
    if patch is not None:
        return f"patch {patch[0]},{patch[1]}"
    stripped = text.strip()
    if not stripped:
        return "⏎" if "\n" in text else "␣"
    if len(stripped) > max_len:
        stripped = stripped[: max_len - 1] + "…"
    return stripped


def member_log10_p(member: Any) -> float | None:
    """log10 of a member's p-value: ``Member.log10_p_value`` where the query records it, else from ``p_value``.

    A p-value stored as exactly 0 underflowed; it is returned as -308 (below every double), not -inf.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> member_log10_p(SimpleNamespace(p_value=0.01)), member_log10_p(SimpleNamespace(p_value=0.0))
    (-2.0, -308.0)
    >>> member_log10_p(SimpleNamespace(p_value=0.5, log10_p_value=-40.0))
    -40.0
    """
    logged = getattr(member, "log10_p_value", None)
    if logged is not None and math.isfinite(logged):
        return float(logged)
    p = getattr(member, "p_value", None)
    if p is None or not math.isfinite(p) or p < 0:
        return None
    return math.log10(p) if p > 0 else _UNDERFLOW_LOG10


def format_log10_p(log10_p: float | None) -> str:
    """A p-value given by its log10: ``0.31``, ``0.004``, ``3e-7``, ``<1e-308``; never ``0``."""
    if log10_p is None or not math.isfinite(log10_p):
        return "–"
    if log10_p <= _UNDERFLOW_LOG10:
        return "<1e-308"
    if log10_p >= -2:
        p = 10.0 ** log10_p
        return f"{p:.2f}" if p >= 0.1 else f"{p:.3f}"
    mantissa_exp = math.floor(log10_p)
    mantissa = 10.0 ** (log10_p - mantissa_exp)
    if round(mantissa) >= 10:
        mantissa, mantissa_exp = 1.0, mantissa_exp + 1
    whole = abs(mantissa - round(mantissa)) < 0.05
    return f"{mantissa:.0f}e{mantissa_exp}" if whole else f"{mantissa:.1f}e{mantissa_exp}"


def format_p(p: float | None) -> str:
    """A p-value: :func:`format_log10_p` of its log10 (0 reads ``<1e-308``)."""
    if p is None or not math.isfinite(p):
        return "–"
    return format_log10_p(math.log10(p) if p > 0 else _UNDERFLOW_LOG10)


def format_prob(p: float | None) -> str:
    """A probability with enough digits to be non-zero when it is: ``0.77``, ``0.002``, ``8.5e-05``."""
    if p is None or not math.isfinite(p):
        return "–"
    if p == 0:
        return "0"
    if p >= 0.01:
        return f"{p:.2f}"
    if p >= 0.001:
        return f"{p:.3f}"
    return f"{p:.1e}"


def format_effect(effect: float | None) -> str:
    """The measured effect (relative drop of the target's probability) as a signed percentage."""
    if effect is None or not math.isfinite(effect):
        return "–"
    pct = 100.0 * effect
    if abs(pct) >= 99.5 and abs(pct) < 100:
        return "−100%" if pct > 0 else "+100%"
    return f"−{pct:.0f}%" if pct >= 0 else f"+{-pct:.0f}%"


def nice_ticks(low: float, high: float, target: int = 5) -> list[float]:
    """Round tick values covering ``[low, high]`` (1, 2, 2.5 or 5 times a power of ten apart)."""
    if not (math.isfinite(low) and math.isfinite(high)) or high <= low:
        return [low] if math.isfinite(low) else [0.0]
    raw = (high - low) / max(target - 1, 1)
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    start = math.ceil(low / step - 1e-9) * step
    ticks = []
    value = start
    while value <= high + step * 1e-9:
        ticks.append(round(value, 12))
        value += step
    return ticks or [low]


def format_tick(value: float, step: float) -> str:
    """A tick label with as many decimals as the tick step needs (``0``, ``0.002``, ``2.5``, ``1e-5``)."""
    if value == 0:
        return "0"
    if step < 1e-4:
        return f"{value:.0e}"
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    if step * 10 ** decimals % 1:  # steps like 0.25
        decimals += 1
    return f"{value:.{decimals}f}"
