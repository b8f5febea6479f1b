"""Stable hashes of JSON-able values: the same in every process and on every machine.

Row ids, setting keys, per-sample seeds and the toy model's pseudo-random
numbers are all derived from :func:`stable_hash`, so results resume and
compare across runs and executors.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

__all__ = ["stable_hash"]


def stable_hash(value: Any, length: int = 16) -> str:
    """A hash of a JSON-able value that is the same in every process and on every machine.

    Examples
    --------
    >>> stable_hash({"b": 1, "a": [1, 2]}) == stable_hash({"a": [1, 2], "b": 1})
    True
    >>> len(stable_hash("x"))
    16
    """
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]
