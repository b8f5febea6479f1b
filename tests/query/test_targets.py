"""Which token a query explains by default, and what target="all" covers."""

from __future__ import annotations

from types import SimpleNamespace as NS

import pytest

from whytoken.errors import TargetError
from whytoken.query.targets import answer_targets, default_target, is_end_token


def trace(texts, prompt="", eos_ids=None):
    generated = [NS(text=t, position=10 + i, token_id=100 + i) for i, t in enumerate(texts)]
    info = {"eos_token_ids": eos_ids} if eos_ids else {}
    return NS(generated=generated, positions=range(10 + len(texts)), prompt=prompt, model_info=info)


@pytest.mark.parametrize("texts, prompt, expected, reason", [
    ([" Paris", "."], "The capital of France is", " Paris", "the first generated token"),
    (["The", " capital", " of", " Japan", " is", " Tokyo", "."], "The capital of Japan is", " Tokyo", "repeat the prompt"),
    (["\n", " Tokyo"], "The capital of Japan is", " Tokyo", "whitespace/punctuation"),
    ([" red"], "what color is the red circle ?", " red", "the first generated token"),  # one word is no echo
    (["The", " capital"], "The capital of Japan is", "The", "the first generated token"),  # all echo: keep the first
    ([" The", " cap", "ital", " city", " is", " Tokyo"], "The capital city", " is", "repeat the prompt"),
])
def test_default_target_skips_an_echo_of_the_prompt(texts, prompt, expected, reason):
    index, token, why = default_target(trace(texts, prompt))
    assert token.text == expected and reason in why


def test_end_tokens_are_skipped():
    t = trace([" yes", "</s>"], eos_ids=None)
    assert is_end_token(t.generated[1]) and not is_end_token(t.generated[0])
    kept, skipped = answer_targets(t)
    assert [g.text for _, g in kept] == [" yes"] and skipped == [(11, "end-of-sequence token '</s>'")]
    by_id = trace([" yes", " stop"], eos_ids=[101])
    assert [g.text for _, g in answer_targets(by_id)[0]] == [" yes"]
    with pytest.raises(TargetError, match="every generated token"):
        answer_targets(trace(["</s>"]))
    with pytest.raises(TargetError, match="no generated tokens"):
        default_target(trace([]))
