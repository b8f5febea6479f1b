"""Ground truth on a trace: a sample's known causes (patch cells, prompt word indices) as trace positions.

Datasets express causes in the sample's own terms; :func:`ground_truth_positions`
maps them onto the positions of a trace (patches by their grid cell, words by
:func:`align_words`), which the ground-truth metrics compare with each
method's selection.

Examples
--------
>>> from whytoken.adapters.trace import Trace, Position
>>> from whytoken.experiments.harness.datasets import ExperimentSample
>>> t = Trace((Position(0, "special", 1, "<s>"), Position(1, "prompt_text", 3, "red")), (), {}, "red", None, None, {})
>>> sorted(ground_truth_positions(t, ExperimentSample("s", "red", cause_words=(0,))))
[1]
"""

from __future__ import annotations

import logging
from typing import Any, Sequence

from whytoken.experiments.harness.datasets.base import ExperimentSample

__all__ = ["align_words", "ground_truth_positions"]

logger = logging.getLogger(__name__)


def align_words(trace: Any, words: Sequence[str]) -> dict[int, int]:
    """Map prompt word indices to trace positions by matching token texts in order.

    Walks the prompt-text positions of ``trace`` and the ``words`` together,
    skipping words that are not tokens on their own (like the ``<image>``
    placeholder, which becomes image-patch positions). A word split into
    several tokens maps to its first token.

    Returns
    -------
    dict of int -> int
        Word index -> position, for the words found.

    Examples
    --------
    >>> from whytoken.adapters.trace import Trace, Position
    >>> t = Trace((Position(0, "special", 1, "<s>"), Position(1, "image_patch", 2, "<image>", patch=(0, 0)),
    ...            Position(2, "prompt_text", 3, "what"), Position(3, "prompt_text", 4, "color")),
    ...           (), {}, "<image> what color", None, None, {})
    >>> align_words(t, ["<image>", "what", "color"])
    {1: 2, 2: 3}
    """
    from whytoken.adapters.trace import TokenKind

    tokens = [(p.index, p.text.strip().lower()) for p in trace.positions if p.kind is TokenKind.PROMPT_TEXT]
    mapping: dict[int, int] = {}
    cursor = 0
    for w_index, word in enumerate(words):
        target = word.strip().lower()
        j, built, start = cursor, "", None
        while j < len(tokens):
            text = tokens[j][1]
            if not text:
                j += 1
                continue
            if start is None:
                if not target.startswith(text):
                    break
                start, built = tokens[j][0], text
            elif target.startswith(built + text):
                built += text
            else:
                break
            j += 1
            if built == target:
                mapping[w_index] = start
                cursor = j
                break
    return mapping


def ground_truth_positions(trace: Any, sample: ExperimentSample) -> frozenset[int] | None:
    """The trace positions of a sample's ground-truth causes (patches and words), or None without ground truth.

    Patches match :attr:`Position.patch` of image-patch positions; words are
    aligned with :func:`align_words`. Causes that cannot be located are logged.
    """
    if not sample.has_ground_truth:
        return None
    from whytoken.adapters.trace import TokenKind

    out: set[int] = set()
    if sample.cause_patches:
        wanted = set(sample.cause_patches)
        found = {p.index for p in trace.positions if p.kind is TokenKind.IMAGE_PATCH and p.patch in wanted}
        if len(found) < len(wanted):
            logger.warning("sample %s: only %d of %d cause patches are image positions of the trace",
                           sample.sample_id, len(found), len(wanted))
        out |= found
    if sample.cause_words:
        mapping = align_words(trace, sample.words)
        missing = [w for w in sample.cause_words if w not in mapping]
        if missing:
            logger.warning("sample %s: cause words %s not found among the trace's prompt tokens",
                           sample.sample_id, [sample.words[w] for w in missing if w < len(sample.words)])
        out |= {mapping[w] for w in sample.cause_words if w in mapping}
    return frozenset(out)
