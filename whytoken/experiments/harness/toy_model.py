"""A deterministic, torch-free stand-in model for trying a configuration quickly and testing the harness.

A configuration's ``model: toy`` builds a :class:`ToyModel`: it traces and
predicts like a :class:`~whytoken.adapters.ModelAdapter` (positions,
generated tokens, attention, removal interventions) with numpy only, and its
token is carried by the summed *importance* of its context, so attributions
have a right answer.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Sequence

import numpy as np

from whytoken.adapters.trace import GeneratedToken, Position, Prediction, TokenKind, Trace
from whytoken.errors import InterventionError, InvalidImageError, InvalidParameterError, UnknownInterventionError
from whytoken.experiments.harness.hashing import stable_hash

__all__ = ["ToyModel"]


def _unit_hash(*parts: Any) -> float:
    """A number in [0, 1) from a stable hash of ``parts``."""
    return int(stable_hash(list(parts), 12), 16) / float(16 ** 12)


class ToyModel:
    """A deterministic, torch-free stand-in for a :class:`~whytoken.adapters.ModelAdapter`.

    Every context position ``j`` carries an *importance* ``w_j``: a prompt
    word's comes from a hash of its text (in ``[0, word_scale)``), an image
    patch's is its mean absolute deviation from mid grey (so coloured objects
    on a grey background matter). The generated token keeps its identity
    while the removed share of the total importance stays below ``1 -
    threshold``; its probability is ``sigmoid(sharpness * (kept share -
    threshold))``. Attention rows follow the importances with seeded noise,
    so attention-based rankings are informative but imperfect.

    Interventions: ``mask`` removes a position's importance entirely,
    ``zero`` removes ``zero_strength`` (default 0.8) of it.

    Parameters
    ----------
    n_layers, n_heads, head_dim : int
        Shape of the fake attention.
    patch_size : int
        Pixel side of one image patch when a prompt contains ``<image>``.
    sharpness, threshold : float
        Of the probability curve.
    word_scale : float
        Largest word importance.
    seed : int
        Seeds the attention noise.

    Examples
    --------
    >>> model = ToyModel()
    >>> trace = model.trace(prompt="The capital of France is", max_new_tokens=1)
    >>> [p.text for p in trace.positions]
    ['<s>', 'The', 'capital', 'of', 'France', 'is', ' red']
    >>> full = model.predict_batch(trace, 6, [()])[0]
    >>> full.changed, round(full.original_token_prob_after, 3) == round(trace.generated[0].prob, 3)
    (False, True)
    >>> model.predict_batch(trace, 6, [(1, 2, 3, 4, 5)])[0].changed
    True
    """

    name = "toy"
    _ANSWERS = (" paris", " yes", " no", " red", " blue", " two")

    def __init__(self, n_layers: int = 2, n_heads: int = 2, head_dim: int = 16, patch_size: int = 16,
                 sharpness: float = 12.0, threshold: float = 0.5, word_scale: float = 0.3,
                 zero_strength: float = 0.8, seed: int = 0) -> None:
        for key, value in (("n_layers", n_layers), ("n_heads", n_heads), ("head_dim", head_dim),
                           ("patch_size", patch_size)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidParameterError(f"ToyModel {key} must be a positive int, got {value!r}")
        if not 0.0 < threshold < 1.0:
            raise InvalidParameterError(f"ToyModel threshold must be in (0, 1), got {threshold!r}")
        self.n_layers, self.n_heads, self.head_dim, self.patch_size = n_layers, n_heads, head_dim, patch_size
        self.sharpness, self.threshold, self.word_scale = float(sharpness), float(threshold), float(word_scale)
        self.zero_strength, self.seed = float(zero_strength), int(seed)

    # -------------------------------------------------------------- adapter API
    def list_interventions(self) -> list[str]:
        """The removal kinds this model supports."""
        return ["mask", "zero"]

    def _weight(self, position: Position, images: Sequence[np.ndarray]) -> float:
        if position.kind is TokenKind.IMAGE_PATCH:
            x0, y0, x1, y1 = position.box  # type: ignore[misc]
            block = images[0][y0:y1, x0:x1].astype(float)
            return float(np.abs(block - 128.0).mean() / 128.0)
        if position.kind is TokenKind.SPECIAL:
            return 0.0
        return self.word_scale * _unit_hash("toy-word", position.text.strip().lower())

    def _prob(self, weights: np.ndarray, keep: np.ndarray) -> float:
        total = float(weights.sum())
        share = float((weights * keep).sum() / total) if total > 0 else 1.0
        return 1.0 / (1.0 + math.exp(-self.sharpness * (share - self.threshold)))

    def trace(self, image: Any = None, prompt: str = "", max_new_tokens: int = 1,
              layers: Any = "all", **_: Any) -> Trace:
        """Tokenize on whitespace (``<image>`` becomes one position per patch), generate, attend."""
        if not prompt or not prompt.strip():
            from whytoken.errors import InvalidPromptError

            raise InvalidPromptError("the toy model needs a non-empty prompt")
        images: list[np.ndarray] = []
        if image is not None:
            images.append(np.asarray(image.convert("RGB") if hasattr(image, "convert") else image, dtype=np.uint8))
        positions = [Position(0, TokenKind.SPECIAL, 1, "<s>")]
        for word in prompt.split():
            if word == "<image>":
                if not images:
                    raise InvalidImageError("the prompt has an <image> placeholder but no image was given")
                h, w = images[0].shape[:2]
                ps = self.patch_size
                for r in range(h // ps):
                    for c in range(w // ps):
                        positions.append(Position(len(positions), TokenKind.IMAGE_PATCH, 2, "<image>", patch=(r, c),
                                                  box=(c * ps, r * ps, (c + 1) * ps, (r + 1) * ps), image_index=0))
            else:
                positions.append(Position(len(positions), TokenKind.PROMPT_TEXT, 10 + int(_unit_hash(word) * 1000),
                                          word))
        generated = []
        for step in range(int(max_new_tokens)):
            answer = self._ANSWERS[int(_unit_hash("toy-answer", prompt, step) * len(self._ANSWERS))]
            weights = np.array([self._weight(p, images) for p in positions])
            prob = self._prob(weights, np.ones(len(positions)))
            token_id = 2000 + self._ANSWERS.index(answer)
            generated.append(GeneratedToken(len(positions), token_id, answer, prob))
            positions.append(Position(len(positions), TokenKind.GENERATED, token_id, answer))
        weights = np.array([self._weight(p, images) for p in positions])
        n = len(positions)
        all_layers = range(self.n_layers) if layers in ("all", None) else \
            [l % self.n_layers for l in (layers if isinstance(layers, (list, tuple)) else [layers])]
        attentions = {}
        for layer in all_layers:
            rng = np.random.default_rng([self.seed, layer, int(stable_hash(prompt, 8), 16)])
            logits = np.log(weights + 0.02)[None, None, :] * (1.0 + 0.5 * np.arange(self.n_heads))[:, None, None]
            logits = logits + rng.normal(0.0, 0.7, size=(self.n_heads, n, n))
            logits = np.where(np.tril(np.ones((n, n), dtype=bool))[None], logits, -np.inf)
            a = np.exp(logits - logits.max(axis=-1, keepdims=True))
            attentions[layer] = (a / a.sum(axis=-1, keepdims=True)).astype(np.float32)
        return Trace(tuple(positions), tuple(generated), attentions, prompt,
                     None if not images else (images[0].shape[1], images[0].shape[0]),
                     None if not images else (images[0].shape[0] // self.patch_size,
                                              images[0].shape[1] // self.patch_size),
                     {"name": "toy", "hf_class": None, "adapter": "ToyModel", "n_layers": self.n_layers,
                      "n_heads": self.n_heads, "head_dim": self.head_dim, "is_causal": True},
                     images=tuple(images), adapter=self)

    def predict_batch(self, trace: Trace, target: int | str, removal_sets: Iterable[Iterable[int]],
                      kind: str = "mask", batch_size: int = 16) -> list[Prediction]:
        """Predict the target position with each set of positions removed (``batch_size`` is accepted, unused)."""
        if kind not in self.list_interventions():
            raise UnknownInterventionError(f"unknown intervention {kind!r}; the toy model supports "
                                           f"{self.list_interventions()}")
        t = trace.target_index(target)
        gen = trace.generated_at(t)
        if gen is None:
            raise InterventionError(f"position {t} is not a generated token of the trace")
        weights = np.array([self._weight(p, trace.images) for p in trace.positions[:t]])
        out = []
        for removed in removal_sets:
            removed = tuple(sorted(int(i) for i in removed))
            if any(not 0 <= i < t for i in removed):
                raise InterventionError(f"removal set {removed} leaves the context 0..{t - 1} of target {t}")
            keep = np.ones(t)
            keep[list(removed)] = 0.0 if kind == "mask" else 1.0 - self.zero_strength
            p = self._prob(weights, keep)
            alt = 2000 + (self._ANSWERS.index(gen.text) + 1) % len(self._ANSWERS)
            top, top_text, top_p = (gen.token_id, gen.text, p) if p >= 0.5 else \
                (alt, self._ANSWERS[alt - 2000], 1.0 - p)
            out.append(Prediction(removed, kind, top, top_text, top_p, gen.token_id, gen.prob, target=t,
                                  original_token_prob_after=p))
        return out

    def predict(self, trace: Trace, target: int | str, removed: Iterable[int], kind: str = "mask") -> Prediction:
        """One removal set."""
        return self.predict_batch(trace, target, [tuple(removed)], kind=kind)[0]
