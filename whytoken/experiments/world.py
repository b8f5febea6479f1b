"""Deprecated: the demo world moved to :mod:`whytoken.experiments.worlds.demo`.

This module only forwards the names it used to define (with a
:class:`DeprecationWarning` on import); import them from :mod:`whytoken.experiments.worlds.demo`.
"""

from whytoken.experiments._deprecated import deprecated_alias

__getattr__, __dir__, __all__ = deprecated_alias(
    "whytoken.experiments.world",
    [
        "whytoken.experiments.worlds.demo",
        "whytoken.experiments.worlds.demo.config",
        "whytoken.experiments.worlds.demo.scenes",
        "whytoken.experiments.worlds.demo.questions",
        "whytoken.experiments.worlds.demo.sampling",
    ],
)
