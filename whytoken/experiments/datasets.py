"""Deprecated: experiment datasets moved to :mod:`whytoken.experiments.harness.datasets`.

This module only forwards the names it used to define (with a
:class:`DeprecationWarning` on import); import them from :mod:`whytoken.experiments.harness.datasets`.
"""

from whytoken.experiments._deprecated import deprecated_alias

__getattr__, __dir__, __all__ = deprecated_alias(
    "whytoken.experiments.datasets",
    [
        "whytoken.experiments.harness.datasets",
        "whytoken.experiments.harness.datasets.base",
        "whytoken.experiments.harness.datasets.world",
        "whytoken.experiments.harness.datasets.jsonl",
        "whytoken.experiments.harness.datasets.prompts",
        "whytoken.experiments.harness.datasets.ground_truth",
    ],
)
