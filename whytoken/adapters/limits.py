"""Input limits a model imposes, checked before any forward pass.

Past these limits a model does not fail cleanly: GPT-2 raises an ``IndexError`` from its
position table, rotary models (Llama, Qwen2) silently run with positions they were never
trained on and answer garbage, an embedding lookup of an id beyond the vocabulary raises
an ``IndexError`` deep inside torch. So the adapter checks, up front:

* the context window: prompt tokens plus the tokens to generate must fit in the model's
  ``max_position_embeddings`` (GPT-2 calls it ``n_positions``; transformers maps the name);
  :class:`~whytoken.errors.ContextLengthError` says by how much it is exceeded and how to
  fit (shorter prompt, fewer new tokens);
* the vocabulary: every token id of a trace must be a row of the model's input embeddings,
  else :class:`~whytoken.errors.ModelMismatchError` (a trace of another model, or a damaged
  one).

Models whose config states no window are not checked (said in :func:`context_window`).

Examples
--------
>>> from types import SimpleNamespace
>>> context_window(SimpleNamespace(max_position_embeddings=2048))
2048
>>> check_context_length("gpt2", 1020, 8, window=1024)
Traceback (most recent call last):
...
whytoken.errors.ContextLengthError: the prompt has 1020 tokens and 8 more are to be generated, 1028 in all, \
but gpt2 accepts at most 1024 positions (max_position_embeddings); shorten the prompt by at least 4 tokens or \
generate fewer (max_new_tokens <= 4; --max-new-tokens on the command line)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from whytoken.errors import ContextLengthError, ModelMismatchError

__all__ = ["context_window", "check_context_length", "check_vocabulary"]


def context_window(text_config: Any) -> int | None:
    """The model's context window in positions, or None when its config states none."""
    value = getattr(text_config, "max_position_embeddings", None)
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        return None
    return int(value)


def check_context_length(name: str, n_prompt: int, n_new: int, window: int | None) -> None:
    """Raise :class:`~whytoken.errors.ContextLengthError` if ``n_prompt + n_new > window``."""
    if window is None:
        return
    total = int(n_prompt) + int(n_new)
    if total <= window:
        return
    if n_prompt > window or n_new == 0:
        raise ContextLengthError(
            f"the prompt has {n_prompt} tokens but {name} accepts at most {window} positions "
            f"(max_position_embeddings); shorten the prompt by at least {total - window} tokens"
        )
    raise ContextLengthError(
        f"the prompt has {n_prompt} tokens and {n_new} more are to be generated, {total} in all, but {name} "
        f"accepts at most {window} positions (max_position_embeddings); shorten the prompt by at least "
        f"{total - window} tokens or generate fewer (max_new_tokens <= {window - n_prompt}; --max-new-tokens on "
        "the command line)"
    )


def check_vocabulary(name: str, input_ids: np.ndarray, n_embeddings: int | None) -> None:
    """Raise :class:`~whytoken.errors.ModelMismatchError` if an id is not a row of the embeddings."""
    ids = np.asarray(input_ids)
    if n_embeddings is None or ids.size == 0:
        return
    low, high = int(ids.min()), int(ids.max())
    if low < 0 or high >= n_embeddings:
        bad = low if low < 0 else high
        where = int(np.flatnonzero(ids == bad)[0])
        raise ModelMismatchError(
            f"the trace holds token id {bad} (position {where}) but {name} has a vocabulary of {n_embeddings} ids "
            f"(0..{n_embeddings - 1}); the trace was made with another model or is damaged: pass the model that "
            "made it, or trace again with this one"
        )
