"""Deprecated: experiment executors moved to :mod:`whytoken.experiments.harness.executors`.

This module only forwards the names it used to define (with a
:class:`DeprecationWarning` on import); import them from :mod:`whytoken.experiments.harness.executors`.
"""

from whytoken.experiments._deprecated import deprecated_alias

__getattr__, __dir__, __all__ = deprecated_alias(
    "whytoken.experiments.executors",
    [
        "whytoken.experiments.harness.executors",
    ],
)
