"""Deprecated: experiment plots moved to :mod:`whytoken.experiments.harness.plots`.

This module only forwards the names it used to define (with a
:class:`DeprecationWarning` on import); import them from :mod:`whytoken.experiments.harness.plots`.
"""

from whytoken.experiments._deprecated import deprecated_alias

__getattr__, __dir__, __all__ = deprecated_alias(
    "whytoken.experiments.plots",
    [
        "whytoken.experiments.harness.plots",
    ],
)
