"""Deprecated: the ``whytoken experiment`` command group moved to :mod:`whytoken.experiments.harness.cli`.

This module only forwards the names it used to define (with a
:class:`DeprecationWarning` on import); import them from :mod:`whytoken.experiments.harness.cli`.
"""

from whytoken.experiments._deprecated import deprecated_alias

__getattr__, __dir__, __all__ = deprecated_alias(
    "whytoken.experiments.cli",
    [
        "whytoken.experiments.harness.cli",
    ],
)
