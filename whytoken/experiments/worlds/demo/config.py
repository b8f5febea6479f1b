"""Names and parameters of the demo world: vocabulary constants, split seed ranges and :class:`WorldConfig`.

The constants fix what the world can say (colours, shapes, relations,
question kinds, answers) and the prompt format; :class:`WorldConfig` fixes
its geometry (grid, cell and patch size), background and object counts. The
three splits own disjoint ranges of per-sample seeds
(:data:`SPLIT_SEED_RANGES`, :func:`split_of_seed`).

Examples
--------
>>> WorldConfig().num_patches, split_of_seed(1_000_000_000)
(36, 'val')
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Mapping

from whytoken.errors import ConfigError, InvalidParameterError

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
    "SPLIT_SEED_RANGES",
    "WorldConfig",
    "split_of_seed",
]


#: Colour names and their base RGB values.
COLORS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "green": (40, 180, 60),
    "blue": (40, 80, 230),
    "yellow": (240, 210, 30),
}
#: Shape names, in a fixed order.
SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "cross")
#: The plural used in counting questions.
PLURALS: dict[str, str] = {"circle": "circles", "square": "squares", "triangle": "triangles", "cross": "crosses"}
#: Relation words and the (row, col) offset of the neighbour they name.
RELATIONS: dict[str, tuple[int, int]] = {"left": (0, -1), "right": (0, 1), "above": (-1, 0), "below": (1, 0)}
#: Question kinds, in the order used for round-robin generation.
KINDS: tuple[str, ...] = ("color", "exists", "count", "relation")
#: Answers of counting questions, indexed by the count.
COUNT_WORDS: tuple[str, ...] = ("zero", "one", "two", "three")
#: The answer each kind gives when its object is absent.
ABSENT_ANSWERS: dict[str, str] = {"color": "none", "exists": "no", "count": "zero", "relation": "none"}
#: The placeholder the processor expands into one token per image patch.
IMAGE_PLACEHOLDER = "<image>"
#: The model prompt for a question; the processor expands ``<image>`` to one token per patch.
PROMPT_TEMPLATE = "{question} " + IMAGE_PLACEHOLDER + " answer :"
#: Disjoint ranges of per-sample seeds owned by each split.
SPLIT_SEED_RANGES: dict[str, range] = {
    "train": range(0, 1_000_000_000),
    "val": range(1_000_000_000, 1_100_000_000),
    "test": range(1_100_000_000, 1_200_000_000),
}


@dataclass(frozen=True)
class WorldConfig:
    """Parameters of the world; the defaults are those the demo model was trained on.

    Parameters
    ----------
    grid_size : int
        Cells per image side.
    cell_size : int
        Cell side in pixels.
    patch_size : int
        The vision tower's patch side in pixels; must divide ``cell_size``.
    background : tuple of int
        Background RGB; blanking paints patches this colour.
    background_noise : int
        Background pixels get uniform integer noise in ``[-noise, noise]``.
    color_jitter : int
        Object colours get uniform integer jitter in ``[-jitter, jitter]`` per channel.
    min_objects, max_objects : int
        Scene size range (uniform); questions may add the objects they need.
    absent_rate : float
        Probability of an absent answer for ``color``, ``count`` and ``relation``.
    max_count : int
        Largest answer of counting questions (at most ``len(COUNT_WORDS) - 1``).

    Examples
    --------
    >>> WorldConfig().image_size, WorldConfig().patch_grid
    (96, 6)
    """

    grid_size: int = 6
    cell_size: int = 16
    patch_size: int = 16
    background: tuple[int, int, int] = (128, 128, 128)
    background_noise: int = 12
    color_jitter: int = 16
    min_objects: int = 3
    max_objects: int = 8
    absent_rate: float = 0.1
    max_count: int = 3

    def __post_init__(self) -> None:
        if self.grid_size < 3:
            raise ConfigError(f"grid_size={self.grid_size} is too small; expected >= 3 cells per side")
        if self.cell_size < 8 or self.patch_size < 1 or self.cell_size % self.patch_size:
            raise ConfigError(
                f"cell_size={self.cell_size}, patch_size={self.patch_size}: expected cell_size >= 8 and a "
                "multiple of patch_size so that every cell covers whole patches; pick e.g. 16 and 16 or 16 and 8"
            )
        if not 1 <= self.min_objects <= self.max_objects <= self.grid_size**2 - 4:
            raise ConfigError(
                f"min_objects={self.min_objects}, max_objects={self.max_objects}: expected "
                f"1 <= min_objects <= max_objects <= {self.grid_size ** 2 - 4} for a {self.grid_size}x{self.grid_size} grid"
            )
        if not 0.0 <= self.absent_rate < 1.0:
            raise ConfigError(f"absent_rate={self.absent_rate} is outside [0, 1)")
        if not 1 <= self.max_count < len(COUNT_WORDS):
            raise ConfigError(f"max_count={self.max_count} is outside [1, {len(COUNT_WORDS) - 1}]")
        if len(self.background) != 3 or not all(0 <= c <= 255 for c in self.background):
            raise ConfigError(f"background={self.background} is not an RGB triple of 0-255 values")

    @property
    def image_size(self) -> int:
        """Image side in pixels (``grid_size * cell_size``)."""
        return self.grid_size * self.cell_size

    @property
    def patch_grid(self) -> int:
        """Patches per image side in the model's grid."""
        return self.image_size // self.patch_size

    @property
    def num_patches(self) -> int:
        """Number of image patches, i.e. image tokens of the demo model."""
        return self.patch_grid**2

    @property
    def patches_per_cell(self) -> int:
        """Patches per cell side."""
        return self.cell_size // self.patch_size

    def cell_patches(self, row: int, col: int) -> tuple[tuple[int, int], ...]:
        """The (row, col) patches, in the model's patch grid, that cover one cell.

        Examples
        --------
        >>> WorldConfig(patch_size=8).cell_patches(0, 1)
        ((0, 2), (0, 3), (1, 2), (1, 3))
        """
        k = self.patches_per_cell
        return tuple((row * k + i, col * k + j) for i in range(k) for j in range(k))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; :meth:`from_dict` inverts it."""
        out = asdict(self)
        out["background"] = list(self.background)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WorldConfig:
        """Build a config from :meth:`to_dict` output; unknown keys raise :class:`ConfigError`.

        Examples
        --------
        >>> WorldConfig.from_dict(WorldConfig().to_dict()) == WorldConfig()
        True
        """
        known = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown world parameters {unknown}; expected a subset of {sorted(known)}")
        kwargs = dict(data)
        if "background" in kwargs:
            kwargs["background"] = tuple(int(c) for c in kwargs["background"])
        return cls(**kwargs)


def split_of_seed(seed: int) -> str:
    """The split that owns an absolute sample seed.

    Examples
    --------
    >>> split_of_seed(5), split_of_seed(1_100_000_000)
    ('train', 'test')
    """
    for name, seeds in SPLIT_SEED_RANGES.items():
        if seed in seeds:
            return name
    raise InvalidParameterError(
        f"seed={seed} is in no split; expected a value in one of "
        + ", ".join(f"{k}: [{r.start}, {r.stop})" for k, r in SPLIT_SEED_RANGES.items())
    )
