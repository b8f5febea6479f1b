"""Deprecated: the demo model's training command and recipe moved to :mod:`whytoken.experiments.training.train`.

This module only forwards the names it used to define (with a
:class:`DeprecationWarning` on import); import them from :mod:`whytoken.experiments.training.train`.

``python -m whytoken.experiments.train ...`` still runs
``python -m whytoken.experiments.training.train ...``.
"""

from whytoken.experiments._deprecated import deprecated_alias, run_moved_command

__getattr__, __dir__, __all__ = deprecated_alias(
    "whytoken.experiments.train",
    [
        "whytoken.experiments.training.train",
        "whytoken.experiments.training.config",
        "whytoken.experiments.training.batches",
        "whytoken.experiments.training.losses",
        "whytoken.experiments.training.loop",
        "whytoken.experiments.training.checkpoint",
    ],
    "whytoken.experiments.training (TrainConfig: .config; pick_questions, build_batch, hidden_states: .batches; "
    "train: .loop; save_checkpoint: .checkpoint; main: .train)",
)

if __name__ == "__main__":
    raise SystemExit(run_moved_command("whytoken.experiments.train", "whytoken.experiments.training.train"))
