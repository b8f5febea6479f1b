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

**Batches by device and length.** Rows are sorted by their first changed position and split into
passes by a small exact optimisation (:func:`plan_batches`): a pass costs a fixed overhead
(:func:`pass_overhead`) plus every token it runs, each row from the pass's earliest start, and holds
at most :func:`token_budget` tokens. On one CPU thread a SmolLM2 pass costs about 130 ms before its
first token (the weights are streamed once per pass), so sets removing late tokens (a few positions
each) share passes -- 40 ms per set at 16 per pass against 150 ms alone -- while long suffixes run
alone: batching does not pay there and large passes get slower per token (on this CPU 8 full
600-token rows per pass cost more per row than one). An explicit ``batch_size`` overrides the rule
(that many rows per pass).

The cache is per trace (weakly held, at most :data:`MAX_TRACES` traces, rebuilt when the trace's
tokens or images or the model's weights change; ``adapter.clear_verification_cache()`` frees it)
and costs one forward pass over the trace when first used. Every model call is counted:
``adapter.forward_count`` is a :class:`ForwardCount` snapshot, and the difference of two snapshots
is what a piece of work cost.

Measured (benchmarks/RESULTS.md, "Verification cost"; SmolLM2-135M, n = 600, one CPU thread): a
mix of removal sets costs 0.42 of the uncached path at batch 1 (0.32 of the old batch-8 default),
the sets ``explain`` sends 0.05, but a single token at a uniformly random position 0.56 -- prefix
reuse skips only what precedes the first removed position.

This module imports numpy only; the cache and the cached re-run are in
:mod:`whytoken.adapters.verification_cache`.

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
    "PASS_OVERHEADS",
    "PREFIX_MEMORY",
    "MAX_TRACES",
    "token_budget",
    "pass_overhead",
    "plan_batches",
]

#: Most tokens (rows x positions re-run) in one forward pass when ``batch_size`` is not given, by
#: device type (a single row may exceed it). CPU: large passes cost more per token (SmolLM2-135M,
#: one thread: 4.6 ms per token in passes of up to 512, about 6 ms at 2,400-9,400;
#: ``benchmarks/verification.py --calibrate``); GPU: a rule of thumb, not measured here, that keeps
#: eager attention's (rows, heads, q, k) scores within a few GB.
TOKEN_BUDGETS = {"cpu": 512, "cuda": 16384, "mps": 4096}

#: The fixed cost of one forward pass, in tokens' worth of work, by device type: packing rows into
#: one pass saves it once per pass saved and costs every padded position (each row of a pass is
#: re-run from the pass's earliest start). CPU: fitted on SmolLM2-135M, one thread, cache of 600
#: positions -- a pass costs about 128 ms (streaming the weights) + 24 ms per row (its copy of the
#: cached prefix) + 4.6 ms per token, so 28 tokens; GPU: a rule of thumb (kernel launches dominate
#: small passes), not measured here.
PASS_OVERHEADS = {"cpu": 32, "cuda": 2048, "mps": 512}

#: Bytes of cached prefix the rows of one pass may hold (each row gets its own copy of the
#: prefix's keys and values, every layer at once), by device type; CUDA: a quarter of the memory
#: free at the time of the pass.
PREFIX_MEMORY = {"cpu": 2 ** 31, "mps": 2 ** 30}

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
        Most tokens per forward pass when ``batch_size`` is not given; None: :func:`token_budget`.
    pass_overhead : int or None
        A pass's fixed cost in tokens for the packing rule; None: :func:`pass_overhead`.

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
    pass_overhead: int | None = None

    def __post_init__(self) -> None:
        for name, least in (("token_budget", 1), ("pass_overhead", 0)):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, np.integer))
                                      or value < least):
                raise InvalidParameterError(f"{name} must be an int >= {least} or None, got {value!r}")

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


def _device_kind(device: Any) -> str:
    kind = str(device).split(":", 1)[0]
    return kind if kind in TOKEN_BUDGETS else "cpu"


def token_budget(device: Any) -> int:
    """Most tokens per forward pass on a device (:data:`TOKEN_BUDGETS`; unknown types get the CPU's).

    Examples
    --------
    >>> token_budget("cpu"), token_budget("cuda:0")
    (512, 16384)
    """
    return TOKEN_BUDGETS[_device_kind(device)]


def pass_overhead(device: Any) -> int:
    """A forward pass's fixed cost in tokens on a device (:data:`PASS_OVERHEADS`).

    Examples
    --------
    >>> pass_overhead("cpu")
    32
    """
    return PASS_OVERHEADS[_device_kind(device)]


def plan_batches(starts: Sequence[int], length: int, *, budget: int | None = None, overhead: int = 0,
                 max_rows: int | None = None, batch_size: int | None = None) -> list[list[int]]:
    """Group rows into forward passes, each run from the earliest start among its rows.

    Rows are sorted by start, latest first. With ``batch_size``, consecutive rows fill passes of
    that many. Otherwise the passes are the partition of that order that minimises the estimated
    cost, ``overhead`` per pass plus every token run (a row joining a pass is re-run from the
    pass's earliest start), with at most ``budget`` tokens and ``max_rows`` rows in a pass of
    several rows: rows with
    short suffixes share passes, long ones run alone. Exact dynamic programme over the sorted order
    (contiguous groups are optimal for this cost), O(rows x budget / shortest suffix).

    Parameters
    ----------
    starts : sequence of int
        Each row's first position to re-run (0 .. length-1).
    length : int
        Positions in a full row.
    budget : int or None
        Most tokens (rows x (length - earliest start)) in a pass of several rows.
    overhead : int
        A pass's fixed cost, in tokens.
    max_rows : int or None
        Most rows in a pass (e.g. what the memory for their copies of a cached prefix allows).
    batch_size : int or None
        Rows per pass (overrides ``budget``, ``overhead`` and ``max_rows`` when given).

    Returns
    -------
    list of list of int
        Row indices per pass.

    Examples
    --------
    >>> plan_batches([9, 0, 8, 7], 10, budget=64, overhead=4)   # suffixes 1, 10, 2, 3
    [[0, 2, 3], [1]]
    >>> plan_batches([9, 0, 8, 7], 10, budget=64, overhead=0)   # no saving from sharing a pass
    [[0], [2], [3], [1]]
    >>> plan_batches([9, 0, 8, 7], 10, budget=64, overhead=4, max_rows=2)
    [[0, 2], [3], [1]]
    >>> plan_batches([9, 0, 8, 7], 10, batch_size=3)
    [[0, 2, 3], [1]]
    """
    order = sorted(range(len(starts)), key=lambda i: (-starts[i], i))
    if batch_size is not None:
        return [order[k:k + batch_size] for k in range(0, len(order), batch_size)]
    if budget is None:
        raise InvalidParameterError("plan_batches needs a token budget or a batch_size")
    suffix = [length - starts[i] for i in order]  # ascending
    best = [0.0] + [float("inf")] * len(order)
    cut = [0] * (len(order) + 1)
    for j in range(1, len(order) + 1):
        q = suffix[j - 1]  # the longest suffix of a pass ending at row j
        rows = 1
        most = j if max_rows is None else min(j, max(1, max_rows))
        while rows <= most and (rows == 1 or rows * q <= budget):
            cost = best[j - rows] + overhead + rows * q
            if cost < best[j]:
                best[j], cut[j] = cost, j - rows
            rows += 1
    batches: list[list[int]] = []
    j = len(order)
    while j > 0:
        batches.append(order[cut[j]:j])
        j = cut[j]
    return batches[::-1]
