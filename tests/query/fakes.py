"""Builders shared by the query, CLI and report tests: traces with hand-built attention, fake models.

The attention is built so that the learned graph is known in advance: every
token attends mostly to itself (with a little mass on the first position,
like a real attention sink), and the target's row and the row of the position
before it (which predicted the target, the default target node) put their
mass on chosen "cause" tokens. The correlation ``A A^T`` then links the target to exactly
those tokens, and the fake model's answer changes by a rule fixed by the
test (e.g. "iff the removal set intersects {3, 7}"), so the minimal
explaining sets are known exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from whytoken.adapters.trace import GeneratedToken, Position, Prediction, TokenKind, Trace

N_PROMPT = 10  # positions 0..9: 0 is a special BOS token, 1..9 prompt words
TARGET = 10
WORDS = ["<s>", " the", " red", " circle", " is", " on", " the", " left", " of", " it"]


def attention_row(n: int, weights: dict[int, float]) -> np.ndarray:
    row = np.zeros(n)
    for k, w in weights.items():
        row[k] = w
    return row / row.sum()


def make_attention(target_weights: Sequence[dict[int, float]], n: int = TARGET + 1) -> np.ndarray:
    """One head per entry of ``target_weights``: the target row's mass over keys."""
    heads = []
    for weights in target_weights:
        a = np.zeros((n, n))
        a[0, 0] = 1.0
        for i in range(1, n):
            a[i] = attention_row(n, {0: 0.1, i: 0.9})
        # the target's row and the row of the position that predicted it (the default target node)
        a[TARGET] = a[TARGET - 1] = attention_row(n, weights)
        heads.append(a)
    return np.stack(heads).astype(np.float32)


def make_trace(target_weights: Sequence[dict[int, float]], adapter=None, prob: float = 0.8,
               with_image: bool = False) -> Trace:
    kinds = [TokenKind.SPECIAL] + [TokenKind.PROMPT_TEXT] * (N_PROMPT - 1)
    positions = []
    for i in range(N_PROMPT):
        if with_image and 1 <= i <= 4:
            r, c = divmod(i - 1, 2)
            positions.append(Position(i, TokenKind.IMAGE_PATCH, 99, "<image>", patch=(r, c),
                                      box=(c * 16, r * 16, c * 16 + 16, r * 16 + 16), image_index=0))
        else:
            positions.append(Position(i, kinds[i], 100 + i, WORDS[i]))
    positions.append(Position(TARGET, TokenKind.GENERATED, 42, " yes"))
    info = {"name": "fake", "n_layers": 2, "n_heads": len(target_weights), "head_dim": 64, "is_causal": True}
    return Trace(
        positions=tuple(positions),
        generated=(GeneratedToken(TARGET, 42, " yes", prob),),
        attentions={1: make_attention(target_weights)},
        prompt="".join(WORDS[1:]),
        image_size=(32, 32) if with_image else None,
        patch_grid=(2, 2) if with_image else None,
        model_info=info,
        adapter=adapter,
    )


@dataclass
class FakeModel:
    """An intervening model whose answer is a known function of the removal set.

    ``rule(removed) -> (changed_top_token, prob_after)``; every call and every
    removal set is counted.
    """

    rule: Callable[[frozenset], tuple[bool, float]]
    original_prob: float = 0.8
    calls: int = 0
    sets: list = field(default_factory=list)

    def predict_batch(self, trace, target, removal_sets, kind="mask"):
        assert kind == "mask"
        self.calls += 1
        out = []
        for removed in removal_sets:
            removed = frozenset(int(r) for r in removed)
            if target in removed:
                raise AssertionError("the target was removed")
            self.sets.append(removed)
            changed, after = self.rule(removed)
            top = 7 if changed else 42
            out.append(Prediction(tuple(removed), kind, top, " no" if changed else " yes",
                                  0.6 if changed else after, 42, self.original_prob, target=target,
                                  original_token_prob_after=after))
        return out


def intersects(causes):
    causes = frozenset(causes)
    return lambda removed: (bool(removed & causes), 0.1 if removed & causes else 0.8)


def contains_all(causes):
    causes = frozenset(causes)
    return lambda removed: (causes <= removed, 0.1 if causes <= removed else 0.8)
