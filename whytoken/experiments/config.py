"""Deprecated: experiment configurations moved to :mod:`whytoken.experiments.harness.config`.

This module only forwards the names it used to define (with a
:class:`DeprecationWarning` on import); import them from :mod:`whytoken.experiments.harness.config`.
"""

from whytoken.experiments._deprecated import deprecated_alias

__getattr__, __dir__, __all__ = deprecated_alias(
    "whytoken.experiments.config",
    [
        "whytoken.experiments.harness.config",
        "whytoken.experiments.harness.sweeps",
        "whytoken.experiments.harness.hashing",
    ],
    "whytoken.experiments.harness.config (MethodSpec, Setting, GLOBAL_SETTING_KEYS: "
    "whytoken.experiments.harness.sweeps; stable_hash: whytoken.experiments.harness.hashing)",
)
