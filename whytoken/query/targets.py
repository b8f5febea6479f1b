"""Which token, layer and heads a query is about: resolving the user's ``target``, ``layer`` and ``heads``.

The default target is the first token of the *answer*: generated tokens that
only repeat the prompt (a chat model often restates the question, "The capital
of Japan is" -> "The capital of Japan is Tokyo.") and leading whitespace or
punctuation are skipped, and the reason is recorded in
:attr:`~whytoken.query.Explanation.target_reason`. ``target="all"`` explains
every generated token except end-of-sequence tokens (see
:func:`whytoken.query.explain`).

Examples
--------
>>> from types import SimpleNamespace as NS
>>> gen = [NS(text=t, position=5 + i) for i, t in enumerate(["The", " capital", " of", " Japan", " is", " Tokyo", "."])]
>>> trace = NS(generated=gen, positions=range(12), prompt="The capital of Japan is", model_info={})
>>> index, token, reason = default_target(trace)
>>> token.text, reason
(' Tokyo', "the first generated token after 5 that repeat the prompt ('The capital of Japan is')")
"""

from __future__ import annotations

import re
import string
from typing import Any, Iterable, Sequence

import numpy as np

from whytoken.errors import InvalidParameterError, LayerError, TargetError

__all__ = [
    "kind_name",
    "resolve_target",
    "default_target",
    "answer_targets",
    "is_end_token",
    "resolve_layer",
    "resolve_heads",
]

_SPECIAL_TEXT = re.compile(r"^\s*(<[^<>\s]+>|<\|[^|]+\|>)\s*$")
_WORD = re.compile(r"\w+", re.UNICODE)


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


def _require_generated(trace: Any) -> list[Any]:
    generated = list(trace.generated)
    if not generated:
        raise TargetError("the trace has no generated tokens, so there is nothing to explain; "
                          "trace again with max_new_tokens >= 1")
    return generated


def resolve_target(trace: Any, target: int | str) -> tuple[int, Any]:
    """The generated-token index and record named by ``target``.

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
    generated = _require_generated(trace)
    n = len(generated)
    if isinstance(target, str):
        matches = [i for i, g in enumerate(generated) if g.text == target]
        if not matches and target.strip():
            matches = [i for i, g in enumerate(generated) if g.text.strip() == target.strip()]
        if not matches:
            raise TargetError(f"target word {target!r} is not in the output; generated tokens (position: text) are "
                              f"{_generated_listing(generated)}. Pass one of these texts, its position, -1 for the "
                              "last, 'all' for every token, or nothing for the first answer token")
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
        raise TargetError(f"target must be a position (int), a generated token's text (str), 'all' or None, got "
                          f"{type(target).__name__} {target!r}; generated tokens: {_generated_listing(generated)}")
    return index, generated[index]


def is_end_token(token: Any, model_info: Any = None) -> bool:
    """Whether a generated token is an end-of-sequence / special token (by id when known, else by its text).

    Examples
    --------
    >>> from types import SimpleNamespace as NS
    >>> is_end_token(NS(text="</s>", token_id=2)), is_end_token(NS(text=" Paris", token_id=9))
    (True, False)
    """
    end_ids = (model_info or {}).get("eos_token_ids") if isinstance(model_info, dict) else None
    if end_ids and getattr(token, "token_id", None) in set(end_ids):
        return True
    return bool(_SPECIAL_TEXT.match(str(token.text)))


def _is_filler(text: str) -> bool:
    return not text.strip() or all(ch in string.punctuation or ch.isspace() for ch in text)


def _words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def _echo_length(generated: Sequence[Any], prompt: str) -> int:
    """How many leading generated tokens (after filler) only repeat a run of >= 2 prompt words."""
    prompt_words = _words(prompt)
    if len(prompt_words) < 2:
        return 0
    joined = " " + " ".join(prompt_words) + " "
    best, text = 0, ""
    for i, g in enumerate(generated):
        text += str(g.text)
        following = str(generated[i + 1].text) if i + 1 < len(generated) else " "
        if following[:1].isalnum():
            continue  # the next token continues this word: compare at word boundaries only
        words = _words(text)
        if not words:
            continue
        if (" " + " ".join(words) + " ") not in joined:
            break
        if len(words) >= 2:
            best = i + 1
    return best


def default_target(trace: Any) -> tuple[int, Any, str]:
    """The first token of the answer: ``(generated index, token, why it was chosen)``.

    Leading whitespace/punctuation tokens and a leading run of tokens that repeat
    two or more consecutive prompt words are skipped, as long as a token remains.
    """
    generated = _require_generated(trace)
    info = getattr(trace, "model_info", None)
    candidates = [i for i, g in enumerate(generated) if not is_end_token(g, info)]
    if not candidates:
        return 0, generated[0], "the only generated token (an end-of-sequence token)"
    start = 0
    while start < len(candidates) - 1 and _is_filler(str(generated[candidates[start]].text)):
        start += 1
    rest = [generated[i] for i in candidates[start:]]
    echo = _echo_length(rest, str(getattr(trace, "prompt", "") or ""))
    if 0 < echo < len(rest):
        index = candidates[start + echo]
        repeated = "".join(str(g.text) for g in rest[:echo]).strip()
        return index, generated[index], (f"the first generated token after {echo} that repeat the prompt "
                                          f"({repeated!r})")
    index = candidates[start]
    if start:
        return index, generated[index], f"the first generated token after {start} whitespace/punctuation token(s)"
    return index, generated[index], "the first generated token"


def answer_targets(trace: Any) -> tuple[list[tuple[int, Any]], list[tuple[int, str]]]:
    """``target="all"``: every generated token except end tokens, and the skipped ``(position, reason)``."""
    generated = _require_generated(trace)
    info = getattr(trace, "model_info", None)
    keep, skipped = [], []
    for i, g in enumerate(generated):
        if is_end_token(g, info):
            skipped.append((int(g.position), f"end-of-sequence token {g.text!r}"))
        else:
            keep.append((i, g))
    if not keep:
        raise TargetError(f"every generated token is an end-of-sequence token ({_generated_listing(generated)}); "
                          "pass a position to explain one anyway")
    return keep, skipped


def resolve_layer(trace: Any, layer: int) -> int:
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
    try:
        heads = list(heads)
    except TypeError:
        raise InvalidParameterError(f"heads must be 'all', an int or ints, got {type(heads).__name__} {heads!r}") from None
    selected: list[int] = []
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
