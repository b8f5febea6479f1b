"""Model identity: a cheap fingerprint of the weights a trace was made with.

A trace is explained by re-running a model with tokens removed. If that model is not the
one that made the trace -- another checkpoint of the same class and depth, a fine-tuned
copy, the same weights in another dtype -- every verified set is silently wrong. So every
trace records :func:`weights_fingerprint` of its model, and the adapter refuses a trace
whose fingerprint differs from its own (:class:`~whytoken.errors.ModelMismatchError`,
naming both models and fingerprints).

The fingerprint is a SHA-256 over the state dict's names, shapes and dtypes and a
deterministic sample of each tensor's values (:data:`SAMPLE_VALUES` evenly spaced elements,
read as float64). It reads a few thousand numbers, not the weights: milliseconds even for
SmolLM2-135M. Two checkpoints that differ only in weights the sample misses would collide;
training or fine-tuning changes essentially every weight, so in practice they do not.

The result is cached per model and recomputed when a parameter or buffer is replaced or
changed in place (torch's per-tensor version counters move; ``load_state_dict`` and
optimiser steps both count).

Examples
--------
>>> import torch
>>> from whytoken.adapters.identity import weights_fingerprint
>>> torch.manual_seed(0); a = torch.nn.Linear(4, 3)  # doctest: +ELLIPSIS
<...>
>>> fp = weights_fingerprint(a)
>>> fp.startswith("wt1:"), len(fp), fp == weights_fingerprint(a)
(True, 68, True)
>>> with torch.no_grad():
...     _ = a.weight.mul_(1.001)             # a "fine-tuned" copy
>>> weights_fingerprint(a) == fp
False
"""

from __future__ import annotations

import hashlib
import weakref
from typing import Any

import torch

__all__ = ["FINGERPRINT_PREFIX", "SAMPLE_VALUES", "weights_fingerprint", "short"]

#: Tag of the fingerprint scheme; a changed scheme gets a new tag (old fingerprints are then not compared).
FINGERPRINT_PREFIX = "wt1:"
#: Values read from each tensor.
SAMPLE_VALUES = 64

_cache: "weakref.WeakKeyDictionary[torch.nn.Module, tuple[tuple, str]]" = weakref.WeakKeyDictionary()


def _state_key(state: dict[str, torch.Tensor]) -> tuple:
    return tuple((name, id(t), t._version) for name, t in state.items())


def weights_fingerprint(model: torch.nn.Module) -> str:
    """``"wt1:"`` + 64 hex digits identifying the model's weights (see the module docstring).

    Parameters
    ----------
    model : torch.nn.Module
        Any module; its ``state_dict()`` is read.

    Returns
    -------
    str
    """
    state = model.state_dict(keep_vars=True)
    key = _state_key(state)
    cached = _cache.get(model)
    if cached is not None and cached[0] == key:
        return cached[1]
    digest = hashlib.sha256(FINGERPRINT_PREFIX.encode())
    with torch.no_grad():
        for name, tensor in state.items():
            t = tensor.detach()
            digest.update(f"{name}|{tuple(t.shape)}|{t.dtype}|".encode())
            flat = t.reshape(-1)
            if flat.numel() == 0:
                continue
            k = min(SAMPLE_VALUES, flat.numel())
            # integer arithmetic: float linspace overshoots the last index of tensors with > 2**24 elements
            index = torch.arange(k, device=flat.device, dtype=torch.long) * (flat.numel() - 1) // max(k - 1, 1)
            values = flat[index]
            if values.is_complex():
                values = torch.view_as_real(values)
            digest.update(values.to(torch.float64).cpu().numpy().tobytes())
    fingerprint = FINGERPRINT_PREFIX + digest.hexdigest()
    _cache[model] = (key, fingerprint)
    return fingerprint


def short(fingerprint: Any) -> str:
    """The first 12 hex digits of a fingerprint, for messages (``"none"`` for a missing one).

    Examples
    --------
    >>> short("wt1:0123456789abcdef" + "0" * 48), short(None)
    ('wt1:0123456789ab', 'none')
    """
    if not fingerprint:
        return "none"
    text = str(fingerprint)
    head, _, tail = text.partition(":")
    return f"{head}:{tail[:12]}" if tail else text[:16]
