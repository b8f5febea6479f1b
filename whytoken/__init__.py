"""whytoken: why was this token generated?

whytoken reads a transformer's self-attention as evidence about conditional
independence between tokens, learns a partial ancestral graph (PAG) over
image-patch and text tokens, and returns the minimal set of input tokens whose
removal changes a chosen output token, verified on the model itself.

Subpackages, in dependency order:

* :mod:`whytoken.graphs` -- edge marks, PAGs, exchange formats (numpy, networkx)
* :mod:`whytoken.causal` -- CI tests, the ICD family of learners, PDS-trees (no torch)
* :mod:`whytoken.query` -- verified minimal explaining sets (no torch)
* :mod:`whytoken.adapters` -- traces and interventions on Hugging Face models (torch)
* :mod:`whytoken.experiments` -- synthetic world, demo model, faithfulness harness

The most used names are re-exported here and imported on first use, so
``import whytoken`` stays light (no torch until a model is loaded).

Examples
--------
>>> import whytoken
>>> whytoken.__version__
'0.1.0'
>>> whytoken.PAG is whytoken.graphs.PAG
True
"""

from __future__ import annotations

import importlib
from typing import Any

from whytoken.errors import WhytokenError

__version__ = "0.1.0"

_LAZY = {
    "PAG": "whytoken.graphs",
    "Mark": "whytoken.graphs",
    "Edge": "whytoken.graphs",
    "learn_pag": "whytoken.causal",
    "PartialCorrelationTest": "whytoken.causal",
    "pds_tree": "whytoken.causal",
    "explain": "whytoken.query",
    "Explanation": "whytoken.query",
    "Trace": "whytoken.adapters",
    "load_model": "whytoken.adapters",
}

__all__ = ["WhytokenError", "__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    if name in {"graphs", "causal", "query", "adapters", "experiments", "errors"}:
        return importlib.import_module(f"whytoken.{name}")
    raise AttributeError(f"module 'whytoken' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
