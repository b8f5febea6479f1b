"""Deprecated: the demo model's evaluation moved to :mod:`whytoken.experiments.training.evaluate`.

This module only forwards the names it used to define (with a
:class:`DeprecationWarning` on import); import them from :mod:`whytoken.experiments.training.evaluate`.

``python -m whytoken.experiments.evaluate ...`` still runs
``python -m whytoken.experiments.training.evaluate ...``.
"""

from whytoken.experiments._deprecated import deprecated_alias, run_moved_command

__getattr__, __dir__, __all__ = deprecated_alias(
    "whytoken.experiments.evaluate",
    [
        "whytoken.experiments.training.evaluate",
    ],
)

if __name__ == "__main__":
    raise SystemExit(run_moved_command("whytoken.experiments.evaluate", "whytoken.experiments.training.evaluate"))
