"""A synthetic ground-truth world: shape scenes, questions, and known causes.

Every explanation whytoken returns for the embedded demo model can be checked
against this module, because the world knows *why* each answer is what it is.

Scenes
------
An image is a square grid of ``grid_size x grid_size`` cells (default 6 x 6
cells of 16 px, a 96 x 96 RGB image). With the default ``patch_size=16`` each
cell is exactly one patch of the CLIP vision tower, so the model's patch grid
*is* the world grid and one object is one image token. A cell is empty or
holds one object: a ``circle``, ``square``, ``triangle`` or ``cross`` in
``red``, ``green``, ``blue`` or ``yellow``. Objects jitter a little in size
(56-75 % of the cell), position (+-1 px) and colour (+-16 per channel) and
never leave their cell. The background is mid grey (128, 128, 128) with
uniform pixel noise of +-12, so *blanking* a patch (painting it flat
background grey, :func:`blank_patches`) is a real change even for an empty
cell. Scenes hold 3-8 objects (uniform), more when a question needs them.

Questions
---------
One question per sample; the kind is fixed by the caller (round-robin in
:func:`generate`, so kinds are exactly balanced). ``absent`` answers (rate
``absent_rate``, default 10 %) report that something is missing.

============  ====================================  ==========================  ===========================
kind          question                              answers                     ground-truth cause
============  ====================================  ==========================  ===========================
``color``     what color is the circle ?            red/green/blue/yellow;      the circle's patches; the
                                                    ``none`` (10 %)             word ``circle``
``exists``    is there a red square ?               yes / no (50 / 50)          yes: the red square's
                                                                                patches; no: no patches.
                                                                                Words ``red``, ``square``
``count``     how many triangles ?                  zero (10 %), one, two,      every triangle's patches;
                                                    three (30 % each)           the word ``triangles``
``relation``  what shape is left of the red         circle/square/triangle/     the anchor's and the
              circle ?  (left / right / above /     cross; ``none`` (10 %)      neighbour cell's patches;
              below, directly adjacent cell)                                    the relation word and the
                                                                                anchor's colour and shape
============  ====================================  ==========================  ===========================

Constraints make every question unambiguous: a ``color`` scene has exactly
one object of the asked shape (none when absent); an ``exists`` scene has at
most one object of the asked colour-and-shape, and in 75 % of scenes a
*near miss* of each kind (same colour other shape, same shape other colour);
a ``count`` scene has exactly the answered number of the asked shape; a
``relation`` anchor is the only object of its colour-and-shape, its neighbour
cell in the asked direction lies inside the grid, and in 70 % of scenes 1-3
other neighbours of the anchor are filled so that the relation word matters.
Shapes and colours are uniform otherwise.

Causes for absent answers: ``exists``/``no``, ``color``/``none`` and
``count``/``zero`` have no cause patches (nothing in the image can be removed
to change them; the question words are the cause). ``relation``/``none``
names the anchor and the *empty* neighbour cell. ``Sample.absent`` flags these
answers: blanking their cause patches is not expected to change them.

Beyond the one question :func:`make_sample` draws for a scene,
:func:`questions_about` lists every unambiguous question about a scene (same
rules, same causes) and :func:`ask` turns any of them into a :class:`Sample`;
the training script uses them to ask several questions per image.

Prompt format and word positions
--------------------------------
``Sample.prompt`` is ``"{question} <image> answer :"`` (:data:`PROMPT_TEMPLATE`),
e.g. ``"what color is the circle ? <image> answer :"``: the question comes
*before* the image, so the image tokens of a causal language model can read
the question (early fusion), and the answer is predicted after ``":"``.
``Sample.words`` is ``prompt.split()`` and ``cause_words`` index that list.
With the demo model's word-level tokenizer, question word ``i`` is token
``1 + i`` (after ``<s>``), the image tokens follow, and the placeholder's
word index is ``len(question.split())``.

Splits and seeds
----------------
A sample is a pure function of ``(seed, kind, config)``. The three splits
own disjoint seed ranges (:data:`SPLIT_SEED_RANGES`): train ``[0, 1e9)``,
val ``[1e9, 1.1e9)``, test ``[1.1e9, 1.2e9)``. ``generate(split, n, seed=s)``
returns the samples with seeds ``start + s, ..., start + s + n - 1`` and kinds
``kinds[(s + i) % len(kinds)]``. Images are rendered with numpy only, so the
same seed gives identical image bytes on every machine.

Examples
--------
>>> from whytoken.experiments.world import generate
>>> sample = generate("test", 1)[0]
>>> sample.kind, sample.image.size
('color', (96, 96))
>>> sample.words[sample.cause_words[0]] in SHAPES
True
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
from PIL import Image

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
    "SceneObject",
    "Scene",
    "Question",
    "Sample",
    "make_sample",
    "ask",
    "questions_about",
    "generate",
    "render_scene",
    "blank_patches",
    "split_of_seed",
    "answer_vocabulary",
    "vocabulary",
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


@dataclass(frozen=True)
class SceneObject:
    """One object: what it is, which cell it occupies and how it is drawn.

    Attributes
    ----------
    shape, color : str
        Names from :data:`SHAPES` and :data:`COLORS`.
    row, col : int
        The cell.
    size : int
        Nominal extent in pixels (diameter of a circle, height of a triangle).
    dy, dx : int
        Offset of the centre from the cell centre, in pixels.
    rgb : tuple of int
        The jittered colour actually painted.
    """

    shape: str
    color: str
    row: int
    col: int
    size: int
    dy: int = 0
    dx: int = 0
    rgb: tuple[int, int, int] = (0, 0, 0)

    @property
    def cell(self) -> tuple[int, int]:
        """The (row, col) cell."""
        return (self.row, self.col)

    @property
    def name(self) -> str:
        """``"<color> <shape>"``, e.g. ``"red circle"``."""
        return f"{self.color} {self.shape}"


@dataclass(frozen=True)
class Scene:
    """A full scene description: the objects and the noise seed of the background.

    Examples
    --------
    >>> scene = Scene((SceneObject("circle", "red", 0, 1, 12),), noise_seed=0)
    >>> scene.object_at(0, 1).name, scene.object_at(2, 2)
    ('red circle', None)
    >>> scene.describe()
    'red circle at (0, 1)'
    """

    objects: tuple[SceneObject, ...]
    noise_seed: int = 0

    def object_at(self, row: int, col: int) -> SceneObject | None:
        """The object in a cell, or ``None`` for an empty cell."""
        for obj in self.objects:
            if obj.row == row and obj.col == col:
                return obj
        return None

    def find(self, shape: str | None = None, color: str | None = None) -> tuple[SceneObject, ...]:
        """Objects matching a shape and/or a colour, in row-major cell order."""
        hits = [o for o in self.objects if (shape is None or o.shape == shape) and (color is None or o.color == color)]
        return tuple(sorted(hits, key=lambda o: (o.row, o.col)))

    def describe(self) -> str:
        """One line per object, row-major: ``"red circle at (0, 1)"``."""
        return "; ".join(f"{o.name} at ({o.row}, {o.col})" for o in sorted(self.objects, key=lambda o: (o.row, o.col)))


@dataclass(frozen=True)
class Question:
    """A question about a scene, its answer and the cells and words that cause the answer.

    Attributes
    ----------
    kind : str
        One of :data:`KINDS`.
    question : str
        Lower-case, space-separated, ending in ``" ?"``.
    answer : str
        One word.
    cause_cells : tuple of (int, int)
        World cells whose content determines the answer.
    key_words : tuple of str
        Question words that determine the answer.
    """

    kind: str
    question: str
    answer: str
    cause_cells: tuple[tuple[int, int], ...]
    key_words: tuple[str, ...]

    @property
    def absent(self) -> bool:
        """True when the answer reports a missing object (``no``, ``none``, ``zero``)."""
        return self.answer in ("no", "none", "zero")


@dataclass(frozen=True)
class Sample:
    """One image, question and answer with the answer's ground-truth cause.

    Attributes
    ----------
    seed : int
        The sample's absolute seed; it fixes the split (:func:`split_of_seed`).
    split : str
        ``"train"``, ``"val"`` or ``"test"``.
    kind : str
        One of :data:`KINDS`.
    question : str
        Lower-case, space-separated question ending in ``" ?"``.
    answer : str
        One word.
    image : PIL.Image.Image
        RGB, ``config.image_size`` square.
    scene : Scene
        The objects drawn.
    cause_patches : tuple of (int, int)
        (row, col) of the patches, in the model's patch grid, that determine the answer.
    cause_patch_indices : tuple of int
        The same patches as flat row-major indices (``row * patch_grid + col``), i.e.
        the order of the image tokens.
    cause_words : tuple of int
        Indices into :attr:`words` of the prompt words that determine the answer.
    absent : bool
        True for answers that report a missing object (``no``, ``none``, ``zero``);
        blanking their cause patches is not expected to change them.
    config : WorldConfig
        The world parameters used.
    """

    seed: int
    split: str
    kind: str
    question: str
    answer: str
    image: Image.Image = field(repr=False)
    scene: Scene = field(repr=False)
    cause_patches: tuple[tuple[int, int], ...]
    cause_patch_indices: tuple[int, ...]
    cause_words: tuple[int, ...]
    absent: bool
    config: WorldConfig = field(repr=False, default_factory=WorldConfig)

    @property
    def prompt(self) -> str:
        """The model prompt, ``"{question} <image> answer :"`` (:data:`PROMPT_TEMPLATE`)."""
        return PROMPT_TEMPLATE.format(question=self.question)

    @property
    def words(self) -> list[str]:
        """``prompt.split()``; :attr:`cause_words` index this list."""
        return self.prompt.split()

    @property
    def pixels(self) -> np.ndarray:
        """The image as a writable ``(H, W, 3)`` uint8 array (a copy)."""
        return np.array(self.image, dtype=np.uint8)

    @property
    def cause_word_strings(self) -> tuple[str, ...]:
        """The cause words themselves, e.g. ``("red", "square")``."""
        words = self.words
        return tuple(words[i] for i in self.cause_words)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (no image): ids, text, answer, causes and scene."""
        return {
            "seed": self.seed,
            "split": self.split,
            "kind": self.kind,
            "prompt": self.prompt,
            "question": self.question,
            "answer": self.answer,
            "absent": self.absent,
            "cause_patches": [list(p) for p in self.cause_patches],
            "cause_patch_indices": list(self.cause_patch_indices),
            "cause_words": list(self.cause_words),
            "scene": self.scene.describe(),
        }


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


def answer_vocabulary(config: WorldConfig | None = None) -> list[str]:
    """Every answer word of the world, in a fixed order.

    Examples
    --------
    >>> answer_vocabulary()[:5]
    ['red', 'green', 'blue', 'yellow', 'none']
    """
    config = config or WorldConfig()
    return list(COLORS) + ["none", "yes", "no"] + list(COUNT_WORDS[: config.max_count + 1]) + list(SHAPES)


def vocabulary(config: WorldConfig | None = None) -> list[str]:
    """Every word that can occur in a prompt or an answer, without duplicates, in a fixed order.

    Examples
    --------
    >>> words = vocabulary()
    >>> "circle" in words and "triangles" in words and len(words) == len(set(words))
    True
    """
    words = ["what", "color", "is", "the", "?", "there", "a", "how", "many", "shape", "of", "answer", ":"]
    words += list(RELATIONS) + list(PLURALS.values()) + answer_vocabulary(config)
    seen: dict[str, None] = {}
    for w in words:
        seen.setdefault(w, None)
    return list(seen)


# ----------------------------------------------------------------------------- rendering


@functools.lru_cache(maxsize=8)
def _cell_coordinates(cell_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates ``(yy, xx)`` of a cell (cached; treat as read-only)."""
    yy, xx = np.mgrid[0:cell_size, 0:cell_size].astype(np.float64) + 0.5
    return yy, xx


def _shape_mask(obj: SceneObject, cell_size: int) -> np.ndarray:
    """Boolean ``(cell_size, cell_size)`` mask of an object inside its cell."""
    yy, xx = _cell_coordinates(cell_size)
    cy = cell_size / 2 + obj.dy
    cx = cell_size / 2 + obj.dx
    s = float(obj.size)
    dy, dx = yy - cy, xx - cx
    if obj.shape == "circle":
        return dy**2 + dx**2 <= (s / 2) ** 2
    if obj.shape == "square":
        half = 0.42 * s
        return (np.abs(dy) <= half) & (np.abs(dx) <= half)
    if obj.shape == "triangle":  # apex up, height s, base s
        top = cy - s / 2
        return (yy >= top) & (yy <= cy + s / 2) & (np.abs(dx) <= (yy - top) / 2)
    if obj.shape == "cross":
        arm = 0.16 * s
        return ((np.abs(dx) <= arm) & (np.abs(dy) <= s / 2)) | ((np.abs(dy) <= arm) & (np.abs(dx) <= s / 2))
    raise InvalidParameterError(f"shape={obj.shape!r} is unknown; expected one of {list(SHAPES)}")


def render_scene(scene: Scene, config: WorldConfig | None = None) -> Image.Image:
    """Draw a scene: noisy grey background, one flat-coloured shape per occupied cell.

    Parameters
    ----------
    scene : Scene
        Objects and background noise seed.
    config : WorldConfig, optional
        Geometry and background; the default world when omitted.

    Returns
    -------
    PIL.Image.Image
        RGB image of side ``config.image_size``.

    Examples
    --------
    >>> img = render_scene(Scene((SceneObject("square", "blue", 1, 1, 12, rgb=(40, 80, 230)),)))
    >>> img.size, img.getpixel((24, 24))
    ((96, 96), (40, 80, 230))
    """
    config = config or WorldConfig()
    side, c = config.image_size, config.cell_size
    rng = np.random.default_rng(scene.noise_seed)
    noise = rng.integers(-config.background_noise, config.background_noise + 1, size=(side, side, 3), dtype=np.int16)
    noise += np.asarray(config.background, dtype=np.int16)
    pixels = np.clip(noise, 0, 255, out=noise).astype(np.uint8)
    for obj in scene.objects:
        if not (0 <= obj.row < config.grid_size and 0 <= obj.col < config.grid_size):
            raise InvalidParameterError(
                f"object {obj.name} at cell ({obj.row}, {obj.col}) is outside the {config.grid_size}x{config.grid_size} grid"
            )
        mask = _shape_mask(obj, c)
        block = pixels[obj.row * c : (obj.row + 1) * c, obj.col * c : (obj.col + 1) * c]
        block[mask] = np.asarray(obj.rgb, dtype=np.uint8)
    return Image.fromarray(pixels)


def blank_patches(
    image: Image.Image | np.ndarray,
    patches: Iterable[tuple[int, int]],
    config: WorldConfig | None = None,
) -> Image.Image:
    """Paint patches flat background colour: the world's "remove these patches" intervention.

    Parameters
    ----------
    image : PIL.Image.Image or numpy.ndarray
        RGB image (``(H, W, 3)`` uint8 when an array) of side ``config.image_size``.
    patches : iterable of (int, int)
        (row, col) patches in the model's patch grid.
    config : WorldConfig, optional
        Geometry and background colour.

    Returns
    -------
    PIL.Image.Image
        A new image; the input is not modified.

    Examples
    --------
    >>> sample = generate("test", 1)[0]
    >>> blanked = blank_patches(sample.image, sample.cause_patches)
    >>> r, c = sample.cause_patches[0]
    >>> blanked.getpixel((c * 16 + 8, r * 16 + 8))
    (128, 128, 128)
    """
    config = config or WorldConfig()
    pixels = np.array(image, dtype=np.uint8)
    side = config.image_size
    if pixels.shape != (side, side, 3):
        raise InvalidParameterError(
            f"image of shape {pixels.shape} does not match the world; expected ({side}, {side}, 3) RGB"
        )
    p = config.patch_size
    for row, col in patches:
        if not (0 <= row < config.patch_grid and 0 <= col < config.patch_grid):
            raise InvalidParameterError(
                f"patch ({row}, {col}) is outside the {config.patch_grid}x{config.patch_grid} patch grid"
            )
        pixels[row * p : (row + 1) * p, col * p : (col + 1) * p] = np.asarray(config.background, dtype=np.uint8)
    return Image.fromarray(pixels)


# ----------------------------------------------------------------------------- sampling


class _Builder:
    """Places objects on free cells with one random generator."""

    def __init__(self, rng: np.random.Generator, config: WorldConfig) -> None:
        self.rng = rng
        self.config = config
        self.objects: dict[tuple[int, int], SceneObject] = {}
        self.reserved: set[tuple[int, int]] = set()

    def choice(self, options: Sequence[str]) -> str:
        return options[int(self.rng.integers(len(options)))]

    def free_cells(self) -> list[tuple[int, int]]:
        g = self.config.grid_size
        return [(r, c) for r in range(g) for c in range(g) if (r, c) not in self.objects and (r, c) not in self.reserved]

    def random_free_cell(self) -> tuple[int, int]:
        cells = self.free_cells()
        return cells[int(self.rng.integers(len(cells)))]

    def add(self, shape: str, color: str, cell: tuple[int, int] | None = None) -> SceneObject:
        cell = cell if cell is not None else self.random_free_cell()
        c = self.config.cell_size
        size = int(self.rng.integers(round(0.56 * c), round(0.75 * c) + 1))
        shift = max(1, c // 16)
        dy, dx = (int(v) for v in self.rng.integers(-shift, shift + 1, size=2))
        jitter = self.rng.integers(-self.config.color_jitter, self.config.color_jitter + 1, size=3)
        rgb = tuple(min(255, max(0, base + int(j))) for base, j in zip(COLORS[color], jitter))
        obj = SceneObject(shape, color, cell[0], cell[1], size, dy, dx, rgb)  # type: ignore[arg-type]
        self.objects[cell] = obj
        return obj

    def add_distractors(self, n: int, allowed: Any) -> None:
        """Add up to ``n`` objects whose (shape, color) satisfies ``allowed``."""
        combos = [(s, col) for s in SHAPES for col in COLORS if allowed(s, col)]
        for _ in range(n):
            if not self.free_cells():
                return
            shape, color = combos[int(self.rng.integers(len(combos)))]
            self.add(shape, color)

    def n_total(self, required: int) -> int:
        lo, hi = self.config.min_objects, self.config.max_objects
        return max(int(self.rng.integers(lo, hi + 1)), required)

    def scene(self) -> Scene:
        objs = tuple(sorted(self.objects.values(), key=lambda o: (o.row, o.col)))
        return Scene(objs, noise_seed=int(self.rng.integers(2**31)))


def _patches_of(objects: Iterable[tuple[int, int]], config: WorldConfig) -> tuple[tuple[int, int], ...]:
    patches: list[tuple[int, int]] = []
    for row, col in objects:
        patches.extend(config.cell_patches(row, col))
    return tuple(sorted(set(patches)))


def make_sample(seed: int, kind: str, config: WorldConfig | None = None) -> Sample:
    """Build one sample from its absolute seed and kind.

    Parameters
    ----------
    seed : int
        Absolute seed inside one of :data:`SPLIT_SEED_RANGES`.
    kind : str
        One of :data:`KINDS`.
    config : WorldConfig, optional
        World parameters; the default world when omitted.

    Returns
    -------
    Sample

    Examples
    --------
    >>> s = make_sample(7, "count")
    >>> s.question.startswith("how many"), s.split
    (True, 'train')
    >>> make_sample(7, "count").pixels.tobytes() == s.pixels.tobytes()
    True
    """
    config = config or WorldConfig()
    split = split_of_seed(seed)
    if kind not in KINDS:
        raise InvalidParameterError(f"kind={kind!r} is unknown; expected one of {list(KINDS)}")
    rng = np.random.default_rng([seed, KINDS.index(kind)])
    b = _Builder(rng, config)
    absent = bool(rng.random() < config.absent_rate)
    colors = list(COLORS)
    cause_cells: list[tuple[int, int]] = []

    if kind == "color":
        shape = b.choice(SHAPES)
        question = f"what color is the {shape} ?"
        if absent:
            answer = ABSENT_ANSWERS[kind]
        else:
            target = b.add(shape, b.choice(colors))
            answer = target.color
            cause_cells.append(target.cell)
        b.add_distractors(b.n_total(len(b.objects) + 1) - len(b.objects), lambda s, c: s != shape)
        key_words = [shape]
    elif kind == "exists":
        shape, color = b.choice(SHAPES), b.choice(colors)
        absent = bool(rng.random() < 0.5)
        question = f"is there a {color} {shape} ?"
        if absent:
            answer = "no"
        else:
            target = b.add(shape, color)
            answer = "yes"
            cause_cells.append(target.cell)
        if rng.random() < 0.75:  # near miss: same colour, another shape
            b.add(b.choice([s for s in SHAPES if s != shape]), color)
        if rng.random() < 0.75:  # near miss: same shape, another colour
            b.add(shape, b.choice([c for c in colors if c != color]))
        b.add_distractors(
            b.n_total(len(b.objects)) - len(b.objects), lambda s, c: not (s == shape and c == color)
        )
        key_words = [color, shape]
    elif kind == "count":
        shape = b.choice(SHAPES)
        count = 0 if absent else int(rng.integers(1, config.max_count + 1))
        question = f"how many {PLURALS[shape]} ?"
        answer = COUNT_WORDS[count]
        for _ in range(count):
            cause_cells.append(b.add(shape, b.choice(colors)).cell)
        b.add_distractors(b.n_total(count + 1) - count, lambda s, c: s != shape)
        key_words = [PLURALS[shape]]
    else:  # relation
        relation = b.choice(list(RELATIONS))
        shape, color = b.choice(SHAPES), b.choice(colors)
        dr, dc = RELATIONS[relation]
        g = config.grid_size
        anchors = [(r, c) for r in range(g) for c in range(g) if 0 <= r + dr < g and 0 <= c + dc < g]
        anchor = b.add(shape, color, anchors[int(rng.integers(len(anchors)))])
        neighbour_cell = (anchor.row + dr, anchor.col + dc)
        other = lambda s, c: not (s == shape and c == color)  # noqa: E731 - keeps the anchor unique
        if absent:
            b.reserved.add(neighbour_cell)
            answer = ABSENT_ANSWERS[kind]
        else:
            combos = [(s, c) for s in SHAPES for c in colors if other(s, c)]
            s_n, c_n = combos[int(rng.integers(len(combos)))]
            answer = b.add(s_n, c_n, neighbour_cell).shape
        if rng.random() < 0.7:  # fill other neighbours so the relation word matters
            others = [
                (anchor.row + r2, anchor.col + c2)
                for r2, c2 in RELATIONS.values()
                if (r2, c2) != (dr, dc) and 0 <= anchor.row + r2 < g and 0 <= anchor.col + c2 < g
            ]
            rng.shuffle(others)
            n_fill = int(rng.integers(1, len(others) + 1))
            combos = [(s, c) for s in SHAPES for c in colors if other(s, c)]
            for cell in others[:n_fill]:
                s_n, c_n = combos[int(rng.integers(len(combos)))]
                b.add(s_n, c_n, tuple(cell))  # type: ignore[arg-type]
        b.add_distractors(b.n_total(len(b.objects)) - len(b.objects), other)
        cause_cells = [anchor.cell, neighbour_cell]
        if relation in ("left", "right"):
            question = f"what shape is {relation} of the {color} {shape} ?"
        else:
            question = f"what shape is {relation} the {color} {shape} ?"
        key_words = [relation, color, shape]

    scene = b.scene()
    primary = Question(kind, question, answer, tuple(cause_cells), tuple(key_words))
    return ask(primary, scene, render_scene(scene, config), seed, config)


def ask(question: Question, scene: Scene, image: Image.Image, seed: int, config: WorldConfig | None = None) -> Sample:
    """Attach a question to a rendered scene, mapping its cause to patches and prompt words.

    Parameters
    ----------
    question : Question
        E.g. one of :func:`questions_about`.
    scene : Scene
        The scene the question is about.
    image : PIL.Image.Image
        ``render_scene(scene, config)``.
    seed : int
        The scene's seed (fixes the split).
    config : WorldConfig, optional

    Returns
    -------
    Sample

    Examples
    --------
    >>> s = make_sample(11, "color")
    >>> other = questions_about(s.scene)[0]
    >>> ask(other, s.scene, s.image, s.seed).image is s.image
    True
    """
    config = config or WorldConfig()
    patches = _patches_of(question.cause_cells, config)
    words = PROMPT_TEMPLATE.format(question=question.question).split()
    missing = [w for w in question.key_words if w not in words]
    if missing:
        raise InvalidParameterError(f"key words {missing} do not occur in the question {question.question!r}")
    return Sample(
        seed=seed,
        split=split_of_seed(seed),
        kind=question.kind,
        question=question.question,
        answer=question.answer,
        image=image,
        scene=scene,
        cause_patches=patches,
        cause_patch_indices=tuple(r * config.patch_grid + c for r, c in patches),
        cause_words=tuple(sorted(words.index(w) for w in question.key_words)),
        absent=question.absent,
        config=config,
    )


def questions_about(scene: Scene, config: WorldConfig | None = None) -> list[Question]:
    """Every unambiguous question the world can ask about a scene, with answers and causes.

    The same rules as :func:`make_sample`: ``color`` for shapes present at
    most once, ``exists`` for colour-and-shape pairs present at most once,
    ``count`` for shapes present at most ``max_count`` times, and ``relation``
    for every object whose colour-and-shape is unique and every direction whose
    neighbour cell is inside the grid. The order is fixed (kind, then names).

    Examples
    --------
    >>> s = make_sample(3, "relation")
    >>> primary = next(q for q in questions_about(s.scene) if q.question == s.question)
    >>> primary.answer == s.answer
    True
    """
    config = config or WorldConfig()
    out: list[Question] = []
    for shape in SHAPES:
        hits = scene.find(shape=shape)
        if len(hits) <= 1:
            answer = hits[0].color if hits else ABSENT_ANSWERS["color"]
            out.append(Question("color", f"what color is the {shape} ?", answer, tuple(h.cell for h in hits), (shape,)))
    for color in COLORS:
        for shape in SHAPES:
            hits = scene.find(shape=shape, color=color)
            if len(hits) <= 1:
                out.append(Question("exists", f"is there a {color} {shape} ?", "yes" if hits else "no",
                                    tuple(h.cell for h in hits), (color, shape)))
    for shape in SHAPES:
        hits = scene.find(shape=shape)
        if len(hits) <= config.max_count:
            out.append(Question("count", f"how many {PLURALS[shape]} ?", COUNT_WORDS[len(hits)],
                                tuple(h.cell for h in hits), (PLURALS[shape],)))
    g = config.grid_size
    for anchor in sorted(scene.objects, key=lambda o: (o.row, o.col)):
        if len(scene.find(shape=anchor.shape, color=anchor.color)) != 1:
            continue
        for relation, (dr, dc) in RELATIONS.items():
            cell = (anchor.row + dr, anchor.col + dc)
            if not (0 <= cell[0] < g and 0 <= cell[1] < g):
                continue
            neighbour = scene.object_at(*cell)
            of = " of" if relation in ("left", "right") else ""
            out.append(Question("relation", f"what shape is {relation}{of} the {anchor.name} ?",
                                neighbour.shape if neighbour else ABSENT_ANSWERS["relation"],
                                (anchor.cell, cell), (relation, anchor.color, anchor.shape)))
    return out


def generate(
    split: str,
    n: int,
    seed: int = 0,
    kinds: Sequence[str] | None = None,
    config: WorldConfig | None = None,
) -> list[Sample]:
    """Generate ``n`` samples of one split, kinds round-robin.

    Parameters
    ----------
    split : {"train", "val", "test"}
        Which seed range to draw from.
    n : int
        Number of samples.
    seed : int, default 0
        Offset of the first sample inside the split's seed range; sample ``i``
        has absolute seed ``SPLIT_SEED_RANGES[split].start + seed + i``.
    kinds : sequence of str, optional
        Kinds to cycle through (default :data:`KINDS`): sample ``i`` gets
        ``kinds[(seed + i) % len(kinds)]``.
    config : WorldConfig, optional
        World parameters.

    Returns
    -------
    list of Sample

    Examples
    --------
    >>> [s.kind for s in generate("val", 5)]
    ['color', 'exists', 'count', 'relation', 'color']
    >>> [s.kind for s in generate("val", 2, kinds=["count"])]
    ['count', 'count']
    """
    if split not in SPLIT_SEED_RANGES:
        raise InvalidParameterError(f"split={split!r} is unknown; expected one of {list(SPLIT_SEED_RANGES)}")
    seeds = SPLIT_SEED_RANGES[split]
    if n < 0 or seed < 0 or seed + n > len(seeds):
        raise InvalidParameterError(
            f"n={n}, seed={seed} leave the {split} seed range of {len(seeds)} seeds; expected 0 <= seed and "
            f"seed + n <= {len(seeds)}"
        )
    kinds = list(kinds) if kinds is not None else list(KINDS)
    bad = [k for k in kinds if k not in KINDS]
    if not kinds or bad:
        raise InvalidParameterError(f"kinds={kinds!r} is empty or has unknown kinds {bad}; expected a subset of {list(KINDS)}")
    return [make_sample(seeds.start + seed + i, kinds[(seed + i) % len(kinds)], config) for i in range(n)]
