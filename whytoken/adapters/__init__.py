"""Adapters: turn a Hugging Face model plus an input into a trace, and re-run it with tokens removed.

This is the only part of whytoken that imports torch and transformers -- and
only lazily: the data types (:class:`Trace`, :class:`Position`,
:class:`TokenKind`, :class:`GeneratedToken`, :class:`Prediction`), the
architecture table and the intervention registry import without torch, so
the causal core can read saved traces anywhere. :func:`load_model` and
:class:`ModelAdapter` load torch on first use.

Typical use::

    from whytoken.adapters import load_model
    adapter = load_model("smollm2-135m-instruct")
    trace = adapter.trace(prompt="The capital of France is", max_new_tokens=3, chat_template=False)
    target = trace.find_generated(" Paris")
    adapter.predict(trace, target, removed=[3])          # remove " France"
    trace.save("paris.safetensors")                      # Trace.load(...) restores it

Examples
--------
>>> import whytoken.adapters as adapters
>>> adapters.TokenKind.IMAGE_PATCH.value
'image_patch'
>>> adapters.list_interventions()
['mask', 'mean', 'pixel', 'zero']
"""

from __future__ import annotations

import importlib
from typing import Any

from whytoken.adapters.architectures import (
    ARCHITECTURES,
    ArchitectureSpec,
    get_architecture,
    list_adapters,
    register_adapter,
)
from whytoken.adapters.interventions import (
    Intervention,
    RowEdit,
    get_intervention,
    list_interventions,
    register_intervention,
)
from whytoken.adapters.trace import GeneratedToken, Position, Prediction, TokenKind, Trace

__all__ = [
    # data types (no torch)
    "Trace",
    "Position",
    "TokenKind",
    "GeneratedToken",
    "Prediction",
    # architecture table and interventions (no torch)
    "ArchitectureSpec",
    "ARCHITECTURES",
    "register_adapter",
    "get_architecture",
    "list_adapters",
    "Intervention",
    "RowEdit",
    "register_intervention",
    "get_intervention",
    "list_interventions",
    # torch, loaded on first access
    "ModelAdapter",
    "load_model",
    "list_models",
    "cache_dir",
    "toy_adapter",
    "VerificationSettings",
    "ForwardCount",
]

_LAZY = {
    "ModelAdapter": "whytoken.adapters.base",
    "adapter_for": "whytoken.adapters.base",
    "load_model": "whytoken.adapters.loading",
    "list_models": "whytoken.adapters.loading",
    "cache_dir": "whytoken.adapters.loading",
    "toy_adapter": "whytoken.adapters.toy",
    "VerificationSettings": "whytoken.adapters.verification",
    "ForwardCount": "whytoken.adapters.verification",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'whytoken.adapters' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
