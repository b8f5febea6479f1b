"""The ``easyvqa`` dataset kind: easy-VQA questions (a dataset nobody here wrote) with ground truth from the pixels.

For the ``whytoken-easyvqa`` model (8 x 8 patch grid). Options: ``split``
(train, val, test; default test), ``n`` (default 200), ``offset`` (first
sample in the split's order, default 0), ``qtypes`` (question types; default
all four, round-robin), ``order`` (``balanced``: types round-robin, the
default; ``source``: easy-VQA's order).

Ground truth (:mod:`whytoken.experiments.worlds.easyvqa`): ``cause_patches``
are the patches of the 8 x 8 grid the shape touches (none for an absent
answer), ``cause_words`` the question words that matter (the asked attribute;
for yes/no questions the named value and the negation). ``meta`` adds the
question type (``kind``), ``absent``, the covered fraction of each cause patch
(``cause_fractions``), the shape's patches for absent answers too
(``object_patches``), and easy-VQA's own question text and image id.

Examples
--------
>>> from whytoken.experiments.harness.datasets import load_dataset
>>> s = load_dataset({"kind": "easyvqa", "n": 2})[1]
>>> s.sample_id, s.answer, s.meta["kind"], [s.words[i] for i in s.cause_words]
('easyvqa/test/0', 'triangle', 'shape', ['shape'])
>>> len(s.cause_patches) == len(s.meta["cause_fractions"]) > 0
True
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from whytoken.errors import ConfigError
from whytoken.experiments.harness.datasets.base import ExperimentSample, register_dataset

__all__: list[str] = []


def _check_easyvqa(options: Mapping[str, Any]) -> None:
    from whytoken.experiments.worlds.easyvqa import QUESTION_TYPES, SPLITS

    if options["split"] not in SPLITS:
        raise ConfigError(f"dataset.split = {options['split']!r} is invalid: expected one of {list(SPLITS)}; "
                          "fix: use split: test for held-out questions")
    offset = options["offset"]
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise ConfigError(f"dataset.offset = {offset!r} is invalid: expected a non-negative integer; fix: set "
                          "dataset.offset: 0")
    qtypes = options["qtypes"]
    if qtypes is not None and (not isinstance(qtypes, (list, tuple)) or not qtypes
                               or set(qtypes) - set(QUESTION_TYPES) or len(set(qtypes)) != len(qtypes)):
        raise ConfigError(f"dataset.qtypes = {qtypes!r} is invalid: expected a non-empty subset of "
                          f"{list(QUESTION_TYPES)}; fix: remove the key to cycle through every type")
    if options["order"] not in ("balanced", "source"):
        raise ConfigError(f"dataset.order = {options['order']!r} is invalid: expected 'balanced' or 'source'; "
                          "fix: remove the key for types round-robin")


@register_dataset("easyvqa", defaults={"split": "test", "n": 200, "offset": 0, "qtypes": None, "order": "balanced"},
                  check=_check_easyvqa)
def _load_easyvqa(options: Mapping[str, Any], base_dir: Path | None) -> list[ExperimentSample]:
    """easy-VQA questions with ground-truth shape patches and words (for whytoken-easyvqa)."""
    from whytoken.experiments.worlds.easyvqa import load_samples

    samples = load_samples(options["split"], int(options["n"]), offset=int(options["offset"]),
                           qtypes=list(options["qtypes"]) if options["qtypes"] is not None else None,
                           order=options["order"])
    return [
        ExperimentSample(
            sample_id=s.sample_id,
            prompt=s.prompt,
            image=s.pixels,
            answer=s.answer,
            target=None,
            cause_patches=tuple(s.cause_patches),
            cause_words=tuple(s.cause_words),
            meta={"kind": s.qtype, "split": s.split, "index": s.index, "image_id": s.image_id, "absent": s.absent,
                  "question": s.question, "source_question": s.source_question,
                  "cause_fractions": [round(f, 4) for f in s.cause_fractions],
                  "object_patches": [list(p) for p in s.object_patches],
                  "condition_words": list(s.condition_words), "shape_color": s.mask.color},
        )
        for s in samples
    ]
