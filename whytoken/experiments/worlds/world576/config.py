"""Vocabulary and geometry of the 576-patch world.

Colours, shapes, plurals, count words and relation words are the demo
world's (:mod:`whytoken.experiments.worlds.demo.config`); relations here name
*slots* instead of cells. The world draws 336 x 336 px images that LLaVA-1.5's patch geometry cuts into
24 x 24 = 576 patches of 14 px. Objects live in a coarse 4 x 4 layout of
*slots* (84 px, 6 x 6 patches each) that fixes the meaning of the relation
words: "left of X" is the object in the slot left of X's slot. Inside its slot
an object's size and centre are continuous, so objects are not aligned to the
patch grid, and an object may reach ``protrusion`` px into a neighbouring slot,
so neighbours can share patches (never pixels).

Examples
--------
>>> config = WorldConfig()
>>> config.image_size, config.patch_grid, config.num_patches, config.slot_size
(336, 24, 576, 84)
>>> config.slot_patches(0, 1)[:2]
((0, 6), (0, 7))
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Mapping

from whytoken.errors import ConfigError
from whytoken.experiments.worlds.demo.config import (  # the demo world's objects and words, shared
    COLORS,
    COUNT_WORDS,
    IMAGE_PLACEHOLDER,
    PLURALS,
    RELATIONS,
    SHAPES,
)
from whytoken.experiments.worlds.demo.questions import answer_vocabulary as _demo_answers

__all__ = [
    "COLORS",
    "SHAPES",
    "PLURALS",
    "RELATIONS",
    "KINDS",
    "COUNT_WORDS",
    "ABSENT_ANSWERS",
    "IMAGE_PLACEHOLDER",
    "PROMPT_TEMPLATE",
    "WorldConfig",
    "answer_vocabulary",
    "vocabulary",
]

#: Question kinds, in the order used for round-robin generation.
KINDS: tuple[str, ...] = ("color", "exists", "count", "relation", "same_color")
#: Answers of counting questions, indexed by the count.
COUNT_WORDS: tuple[str, ...] = ("zero", "one", "two", "three")
#: The answer each kind gives when an object it asks about is absent.
ABSENT_ANSWERS: dict[str, str] = {
    "color": "none", "exists": "no", "count": "zero", "relation": "none", "same_color": "none",
}
#: The model prompt: the image first, as in LLaVA-1.5, so every question about an image shares its prefix.
PROMPT_TEMPLATE = IMAGE_PLACEHOLDER + " {question} answer :"


@dataclass(frozen=True)
class WorldConfig:
    """Parameters of the 576-patch world; the defaults are those ``whytoken-world576`` was trained on.

    Parameters
    ----------
    image_size : int
        Image side in pixels.
    patch_size : int
        The vision tower's patch side; must divide ``image_size``.
    slot_grid : int
        Slots per image side; ``image_size / slot_grid`` must be a whole number of patches.
    min_size, max_size : float
        Range of an object's nominal extent in pixels (diameter of a circle,
        span of a cross, height and base of a triangle; a square's side is
        0.84 of it). The defaults make objects touch about 4 to 36 patches.
    protrusion : float
        How far (px) an object may reach past its slot's border.
    min_gap : int
        Minimum distance in pixels between two objects (they never overlap).
    min_objects, max_objects : int
        Scene size range (uniform); questions may add the objects they need.
    max_marks : int
        Up to this many thin line *marks* (clutter that is not an object) are drawn on the background.
    absent_rate : float
        Probability of an absent answer for ``color``, ``count``, ``relation`` and ``same_color``.
    max_count : int
        Largest answer of counting questions.
    color_jitter : int
        Object colours get uniform integer jitter in ``[-jitter, jitter]`` per channel.
    texture_amplitude : float
        Amplitude (grey levels) of the background's low-frequency texture.
    background_noise : int
        Background pixels get uniform integer noise in ``[-noise, noise]``.

    Examples
    --------
    >>> WorldConfig(slot_grid=5)
    Traceback (most recent call last):
    ...
    whytoken.errors.ConfigError: slot_grid=5 cuts image_size=336 into slots of 67.2 px; expected slots of a whole number of 14 px patches (e.g. slot_grid 2, 3, 4, 6)
    """

    image_size: int = 336
    patch_size: int = 14
    slot_grid: int = 4
    min_size: float = 20.0
    max_size: float = 72.0
    protrusion: float = 12.0
    min_gap: int = 2
    min_objects: int = 3
    max_objects: int = 8
    max_marks: int = 3
    absent_rate: float = 0.1
    max_count: int = 3
    color_jitter: int = 16
    texture_amplitude: float = 14.0
    background_noise: int = 10

    def __post_init__(self) -> None:
        if self.patch_size < 1 or self.image_size % self.patch_size:
            raise ConfigError(
                f"image_size={self.image_size}, patch_size={self.patch_size}: expected a patch size that divides "
                "the image side (LLaVA-1.5: 336 and 14)"
            )
        slot = self.image_size / max(1, self.slot_grid)
        if self.slot_grid < 2 or slot % self.patch_size:
            raise ConfigError(
                f"slot_grid={self.slot_grid} cuts image_size={self.image_size} into slots of {slot:.1f} px; expected "
                f"slots of a whole number of {self.patch_size} px patches (e.g. slot_grid 2, 3, 4, 6)"
            )
        if not 8 <= self.min_size <= self.max_size <= slot:
            raise ConfigError(
                f"min_size={self.min_size}, max_size={self.max_size}: expected 8 <= min_size <= max_size <= the "
                f"slot size {slot:.0f} px"
            )
        if not 0 <= self.protrusion <= slot / 4:
            raise ConfigError(f"protrusion={self.protrusion} is outside [0, {slot / 4:.0f}] px (a quarter slot)")
        if not 1 <= self.min_objects <= self.max_objects <= self.slot_grid**2 - 2:
            raise ConfigError(
                f"min_objects={self.min_objects}, max_objects={self.max_objects}: expected 1 <= min_objects <= "
                f"max_objects <= {self.slot_grid ** 2 - 2} for {self.slot_grid}x{self.slot_grid} slots"
            )
        if not 0.0 <= self.absent_rate < 1.0:
            raise ConfigError(f"absent_rate={self.absent_rate} is outside [0, 1)")
        if not 1 <= self.max_count < len(COUNT_WORDS):
            raise ConfigError(f"max_count={self.max_count} is outside [1, {len(COUNT_WORDS) - 1}]")
        if self.min_gap < 0 or self.max_marks < 0 or self.color_jitter < 0 or self.background_noise < 0:
            raise ConfigError(
                f"min_gap={self.min_gap}, max_marks={self.max_marks}, color_jitter={self.color_jitter}, "
                f"background_noise={self.background_noise}: expected non-negative values"
            )

    @property
    def patch_grid(self) -> int:
        """Patches per image side (24)."""
        return self.image_size // self.patch_size

    @property
    def num_patches(self) -> int:
        """Image tokens of the model (576)."""
        return self.patch_grid**2

    @property
    def slot_size(self) -> int:
        """Slot side in pixels (84)."""
        return self.image_size // self.slot_grid

    @property
    def patches_per_slot(self) -> int:
        """Patches per slot side (6)."""
        return self.slot_size // self.patch_size

    def slot_patches(self, row: int, col: int) -> tuple[tuple[int, int], ...]:
        """The (row, col) patches of one slot, row-major."""
        k = self.patches_per_slot
        return tuple((row * k + i, col * k + j) for i in range(k) for j in range(k))

    def patch_index(self, row: int, col: int) -> int:
        """Flat row-major index of a patch, i.e. its image token's rank."""
        return row * self.patch_grid + col

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; :meth:`from_dict` inverts it."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WorldConfig:
        """Build a config from :meth:`to_dict` output; unknown keys raise :class:`ConfigError`.

        Examples
        --------
        >>> WorldConfig.from_dict(WorldConfig().to_dict()) == WorldConfig()
        True
        """
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown world576 parameters {unknown}; expected a subset of {sorted(known)}")
        return cls(**dict(data))


def answer_vocabulary(config: WorldConfig | None = None) -> list[str]:
    """Every answer word, in a fixed order (the demo world's answers; ``same_color`` reuses yes/no/none).

    Examples
    --------
    >>> answer_vocabulary()[:6]
    ['red', 'green', 'blue', 'yellow', 'none', 'yes']
    """
    return _demo_answers(config or WorldConfig())


def vocabulary(config: WorldConfig | None = None) -> list[str]:
    """Every word of a prompt or an answer, without duplicates, in a fixed order.

    Examples
    --------
    >>> words = vocabulary()
    >>> "same" in words and "crosses" in words and len(words) == len(set(words))
    True
    """
    words = ["what", "color", "is", "the", "?", "there", "a", "how", "many", "shape", "of", "are", "and", "same",
             "answer", ":"]
    words += list(RELATIONS) + list(PLURALS.values()) + answer_vocabulary(config)
    return list(dict.fromkeys(words))
