"""Cheaper verification: re-run a traced sequence with positions removed, redoing only what changed.

Every explanation is checked by re-running the model once per removal set, so these re-runs are
where ``explain`` spends its time. :meth:`~whytoken.adapters.ModelAdapter.predict_batch` saves in
three ways, all exact (the results equal the uncached path up to float round-off, tested for every
architecture in the table and every intervention kind):

**Prefix reuse** (causal decoders). Under a token-level intervention (``mask``, ``zero``, ``mean``)
the positions before the first removed one receive exactly the unablated inputs, and in a causal
model nothing later reaches them: their keys and values in every layer equal the unablated run's.
The adapter runs the unablated sequence once per trace with the key/value cache on, keeps it, and
re-runs each removal set only from its *first changed position* with the cached prefix cropped
there. Position ids are the trace's fixed ones, sliced (M-RoPE's 3-D ids included), so nothing is
renumbered. Architectures whose prompt positions attend to later positions cannot do this: BERT
(bidirectional) and PaliGemma (prefix-LM); the table says so (``ArchitectureSpec.prefix_cache``)
and they re-run every position.

**Image features once.** The language model's input embeddings (text embeddings with the vision
tower and projector output merged in, as the model itself merges them) are captured once per trace
at the entry of the language model, and every re-run starts from them (``inputs_embeds``), so
``mask``/``zero``/``mean`` never run the vision tower. ``pixel`` re-encodes only the images it
edits, each through the model's own merge path fed with that image's placeholder tokens alone, and
splices the new features in; its re-run starts at the edited image's first token.

**Batches by device and length.** Rows are sorted by their first changed position and packed
greedily into forward passes of at most :func:`token_budget` tokens (rows x positions re-run); a
pass runs from the earliest start among its rows. On this project's CPU one pass of many short rows
is cheaper per row than one row at a time, while a 600-token pass of 8 rows costs more per row than
8 single passes (memory traffic of the eager attention and MLP activations), hence a small budget
on CPU and a large one on GPUs. An explicit ``batch_size`` overrides the budget (rows per pass).

The cache is per trace (weakly held, at most :data:`MAX_TRACES` traces, rebuilt when the trace's
tokens or images or the model's weights change; ``adapter.clear_verification_cache()`` frees it)
and costs one forward pass over the trace when first used. Every model call is counted:
``adapter.forward_count`` is a :class:`ForwardCount` snapshot, and the difference of two snapshots
is what a piece of work cost.

Examples
--------
>>> from whytoken.adapters.toy import toy_adapter
>>> adapter = toy_adapter("llama", seed=0)
>>> trace = adapter.trace(prompt="the cat sits on the red mat", max_new_tokens=2, stop_at_eos=False)
>>> before = adapter.forward_count
>>> predictions = adapter.predict_batch(trace, -1, [[1], [6], [7]])
>>> spent = adapter.forward_count - before
>>> spent.sequences, spent.model_calls  # one prefix build, one pass for the three rows
(4, 2)
>>> spent.tokens < spent.full_tokens    # positions re-run against what the uncached path runs
True
>>> adapter.verification = VerificationSettings(reuse_prefix=False, encode_images_once=False)
>>> uncached = adapter.predict_batch(trace, -1, [[1], [6], [7]])  # the reference path
>>> [p.top_token_id for p in predictions] == [p.top_token_id for p in uncached]
True
>>> adapter.verification = VerificationSettings()
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Sequence

import numpy as np

from whytoken.errors import InvalidParameterError

__all__ = [
    "VerificationSettings",
    "ForwardCount",
    "TOKEN_BUDGETS",
    "MAX_TRACES",
    "token_budget",
    "plan_batches",
]

#: Tokens (rows x positions re-run) per forward pass when ``batch_size`` is not given, by device type.
#: CPU: measured on SmolLM2-135M, one thread (benchmarks/RESULTS.md, "Verification cost"); GPU: a
#: rule of thumb that keeps eager attention's (rows, heads, q, k) scores within a few GB.
TOKEN_BUDGETS = {"cpu": 256, "cuda": 16384, "mps": 4096}

#: Traces whose verification cache is kept per adapter (the least recently used is dropped).
MAX_TRACES = 2


@dataclass(frozen=True)
class VerificationSettings:
    """How an adapter re-runs removal sets (``adapter.verification``; all on by default).

    Parameters
    ----------
    reuse_prefix : bool
        Reuse the unablated key/value cache before each row's first changed position
        (causal decoders whose table entry allows it).
    encode_images_once : bool
        Start re-runs from the language model's input embeddings captured once per trace;
        False re-encodes every row's images, as the uncached path does.
    token_budget : int or None
        Tokens per forward pass when ``batch_size`` is not given; None: :func:`token_budget`.

    With both flags False, ``predict_batch`` runs the original uncached path: every row
    re-runs every position and re-encodes its images (the reference the tests compare with).

    Examples
    --------
    >>> VerificationSettings().enabled, VerificationSettings(False, False).enabled
    (True, False)
    """

    reuse_prefix: bool = True
    encode_images_once: bool = True
    token_budget: int | None = None

    def __post_init__(self) -> None:
        budget = self.token_budget
        if budget is not None and (isinstance(budget, bool) or not isinstance(budget, (int, np.integer))
                                   or budget < 1):
            raise InvalidParameterError(f"token_budget must be a positive int or None, got {budget!r}")

    @property
    def enabled(self) -> bool:
        """Whether the cached path is used at all."""
        return self.reuse_prefix or self.encode_images_once


@dataclass(frozen=True)
class ForwardCount:
    """Cumulative work of an adapter's forward passes (snapshots subtract).

    Attributes
    ----------
    model_calls : int
        Calls of the Hugging Face model: verification passes, the once-per-trace cache build
        and image re-encodings (trace's own passes included).
    sequences : int
        Batch rows run through the language model (one per removal set, plus reference runs
        and cache builds).
    tokens : int
        Positions run through the language model, summed over rows.
    full_tokens : int
        Positions the uncached path would have run for the same rows (every row from 0).
    images_encoded : int
        Images run through the vision tower.

    Examples
    --------
    >>> a = ForwardCount(model_calls=3, sequences=10, tokens=50, full_tokens=90, images_encoded=1)
    >>> (a - ForwardCount(model_calls=1, sequences=4)).sequences
    6
    """

    model_calls: int = 0
    sequences: int = 0
    tokens: int = 0
    full_tokens: int = 0
    images_encoded: int = 0

    def __add__(self, other: "ForwardCount") -> "ForwardCount":
        return ForwardCount(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    def __sub__(self, other: "ForwardCount") -> "ForwardCount":
        return ForwardCount(*(getattr(self, f.name) - getattr(other, f.name) for f in fields(self)))

    def to_dict(self) -> dict[str, int]:
        """JSON-able form."""
        return {f.name: int(getattr(self, f.name)) for f in fields(self)}


def token_budget(device: Any) -> int:
    """Tokens per forward pass for a device (:data:`TOKEN_BUDGETS`; unknown types get the CPU's).

    Examples
    --------
    >>> token_budget("cpu"), token_budget("cuda:0")
    (256, 16384)
    """
    kind = str(device).split(":", 1)[0]
    return TOKEN_BUDGETS.get(kind, TOKEN_BUDGETS["cpu"])


def plan_batches(starts: Sequence[int], length: int, *, budget: int | None = None,
                 batch_size: int | None = None) -> list[list[int]]:
    """Group rows into forward passes: latest start first, each pass run from its earliest start.

    Parameters
    ----------
    starts : sequence of int
        Each row's first position to re-run (0 .. length-1).
    length : int
        Positions in a full row.
    budget : int or None
        At most this many tokens (rows x (length - earliest start)) per pass; a row alone
        may exceed it.
    batch_size : int or None
        At most this many rows per pass (overrides ``budget`` when given).

    Returns
    -------
    list of list of int
        Row indices per pass.

    Examples
    --------
    >>> plan_batches([5, 0, 9, 8], 10, budget=4)
    [[2, 3], [0], [1]]
    >>> plan_batches([5, 0, 9, 8], 10, batch_size=3)
    [[2, 3, 0], [1]]
    """
    if batch_size is None and budget is None:
        raise InvalidParameterError("plan_batches needs a token budget or a batch_size")
    order = sorted(range(len(starts)), key=lambda i: (-starts[i], i))
    batches: list[list[int]] = []
    for i in order:
        if batches:
            current = batches[-1]
            rows = len(current) + 1
            fits = (rows <= batch_size if batch_size is not None
                    else rows * (length - starts[i]) <= budget)  # type: ignore[operator]
            if fits:
                current.append(i)
                continue
        batches.append([i])
    return batches
