"""Deprecated: the demo model's parts moved to :mod:`whytoken.experiments.training.demo_model`.

This module only forwards the names it used to define (with a
:class:`DeprecationWarning` on import); import them from :mod:`whytoken.experiments.training.demo_model`.
"""

from whytoken.experiments._deprecated import deprecated_alias

__getattr__, __dir__, __all__ = deprecated_alias(
    "whytoken.experiments.demo_model",
    [
        "whytoken.experiments.training.demo_model",
        "whytoken.experiments.training.encoding",
    ],
    "whytoken.experiments.training.demo_model (encode and the token positions: "
    "whytoken.experiments.training.encoding)",
)
