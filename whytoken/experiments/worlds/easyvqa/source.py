"""Access to the easy-VQA data, and the train / val / test splits by image.

The data are the PyPI package ``easy-vqa`` (1.0, by Victor Zhou), read
through the package's own functions (``easy_vqa.get_train_questions()``,
``get_train_image_paths()``, the same for test). Nothing is downloaded.

Splits
------
``test`` is easy-VQA's test split, untouched and used for nothing but the
final figures. ``val`` is carved from easy-VQA's *train* split by image:
:data:`VAL_IMAGES` image ids drawn with ``numpy.random.default_rng(VAL_SEED)``
(every question about a val image is a val question); ``train`` is the rest.
Model selection, early stopping and thresholds use ``val`` only.

Examples
--------
>>> len(image_ids("train")), len(image_ids("val")), len(image_ids("test"))
(3600, 400, 1000)
>>> set(image_ids("train")) & set(image_ids("val"))
set()
>>> load_image("test", 0).size
(64, 64)
"""

from __future__ import annotations

import functools
import importlib
from typing import Any

import numpy as np
from PIL import Image

from whytoken.errors import ConfigError, InvalidParameterError

__all__ = [
    "SPLITS",
    "VAL_IMAGES",
    "VAL_SEED",
    "check_split",
    "source_questions",
    "image_ids",
    "split_of_image",
    "load_image",
]

SPLITS: tuple[str, ...] = ("train", "val", "test")
#: Train images held out as the validation split, and the seed that draws them.
VAL_IMAGES = 400
VAL_SEED = 0


def _easy_vqa() -> Any:
    try:
        return importlib.import_module("easy_vqa")
    except ImportError as err:
        raise ConfigError(
            "the easy-VQA data are not installed (module 'easy_vqa' not found); expected the PyPI package "
            "easy-vqa==1.0; fix: pip install easy-vqa==1.0 (or python scripts/setup_env.py --dev)"
        ) from err


def check_split(split: str) -> None:
    """Raise :class:`~whytoken.errors.InvalidParameterError` unless ``split`` is one of :data:`SPLITS`."""
    if split not in SPLITS:
        raise InvalidParameterError(f"split={split!r}; expected one of {list(SPLITS)}")


@functools.lru_cache(maxsize=2)
def _source(source: str) -> tuple[tuple[str, ...], tuple[str, ...], tuple[int, ...], dict[int, str]]:
    data = _easy_vqa()
    if source == "train":
        texts, answers, ids = data.get_train_questions()
        paths = data.get_train_image_paths()
    else:
        texts, answers, ids = data.get_test_questions()
        paths = data.get_test_image_paths()
    return tuple(texts), tuple(answers), tuple(int(i) for i in ids), {int(k): v for k, v in paths.items()}


def source_questions(split: str) -> tuple[tuple[str, ...], tuple[str, ...], tuple[int, ...]]:
    """easy-VQA's (texts, answers, image ids) list that a split's questions index.

    ``train`` and ``val`` both index easy-VQA's train list; ``test`` its test list.

    Examples
    --------
    >>> texts, answers, ids = source_questions("test")
    >>> len(texts), texts[0], answers[0]
    (9673, 'what is the red shape?', 'triangle')
    """
    check_split(split)
    texts, answers, ids, _ = _source("test" if split == "test" else "train")
    return texts, answers, ids


@functools.lru_cache(maxsize=1)
def _val_image_ids() -> frozenset[int]:
    ids = sorted(_source("train")[3])
    rng = np.random.default_rng(VAL_SEED)
    return frozenset(int(ids[i]) for i in rng.choice(len(ids), size=VAL_IMAGES, replace=False))


def split_of_image(source: str, image_id: int) -> str:
    """The split an image of easy-VQA's ``train`` or ``test`` list belongs to.

    Examples
    --------
    >>> split_of_image("test", 5), {split_of_image("train", i) for i in range(4000)} == {"train", "val"}
    ('test', True)
    """
    if source not in ("train", "test"):
        raise InvalidParameterError(f"source={source!r}; expected easy-VQA's 'train' or 'test' list")
    if source == "test":
        return "test"
    return "val" if image_id in _val_image_ids() else "train"


@functools.lru_cache(maxsize=3)
def image_ids(split: str) -> tuple[int, ...]:
    """The easy-VQA image ids of a split, ascending."""
    check_split(split)
    source = "test" if split == "test" else "train"
    return tuple(i for i in sorted(_source(source)[3]) if split_of_image(source, i) == split)


@functools.lru_cache(maxsize=8192)
def load_image(split: str, image_id: int) -> Image.Image:
    """An easy-VQA image as a 64 x 64 RGB ``PIL.Image`` (cached; do not modify it in place).

    Raises
    ------
    InvalidParameterError
        For an image id that is not in ``split``.
    """
    check_split(split)
    source = "test" if split == "test" else "train"
    paths = _source(source)[3]
    if image_id not in paths or split_of_image(source, image_id) != split:
        raise InvalidParameterError(
            f"image id {image_id} is not in the {split!r} split; expected one of image_ids({split!r})"
        )
    with Image.open(paths[image_id]) as handle:
        image = handle.convert("RGB")
    image.load()
    return image
