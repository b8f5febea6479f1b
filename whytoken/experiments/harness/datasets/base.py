"""Experiment samples and the registry of dataset kinds.

An :class:`ExperimentSample` is one input of an experiment: a prompt, an
optional image (a ``uint8`` array, so samples pickle cheaply to worker
processes and Ray tasks), an optional expected answer and, where known, the
ground-truth causes. A dataset kind is a loader registered with
:func:`register_dataset` together with its options, their defaults and a
check; :func:`load_dataset` validates a configuration's ``dataset`` section
(:func:`validate_dataset_spec`) and calls the loader.

Examples
--------
>>> get_dataset_kind("world").defaults["split"]
'test'
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from whytoken.errors import ConfigError, UnknownDatasetError
from whytoken.registry import Registry

__all__ = [
    "ExperimentSample",
    "DatasetKind",
    "register_dataset",
    "list_datasets",
    "get_dataset_kind",
    "validate_dataset_spec",
    "load_dataset",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExperimentSample:
    """One input of an experiment.

    Attributes
    ----------
    sample_id : str
        Unique within the dataset and stable across runs (part of every row id).
    prompt : str
        The prompt text (for world samples it contains the ``<image>`` placeholder).
    image : ndarray or None
        ``uint8 (height, width, 3)`` image, or None for text-only prompts.
    answer : str or None
        The expected answer, when known (reported as ``answer_correct``).
    target : int or str or None
        Which generated token to explain when the run's ``targets`` is ``answer``
        (a generated-token index or text); None: the first generated token.
    cause_patches : tuple of (int, int) or None
        Ground-truth cause patches as ``(row, col)`` cells of the model's patch grid.
    cause_words : tuple of int or None
        Ground-truth cause words as indices into ``prompt.split()``.
    meta : mapping
        JSON-able extras (world kind, split, seed, absent, ...).
    """

    sample_id: str
    prompt: str
    image: np.ndarray | None = field(default=None, repr=False, compare=False)
    answer: str | None = None
    target: int | str | None = None
    cause_patches: tuple[tuple[int, int], ...] | None = None
    cause_words: tuple[int, ...] | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)

    @property
    def has_ground_truth(self) -> bool:
        """Whether ground-truth causes are known."""
        return self.cause_patches is not None or self.cause_words is not None

    @property
    def words(self) -> list[str]:
        """``prompt.split()``, the list :attr:`cause_words` indexes."""
        return self.prompt.split()

    def pil_image(self) -> Any:
        """The image as a ``PIL.Image.Image`` (None without an image)."""
        if self.image is None:
            return None
        from PIL import Image

        return Image.fromarray(np.asarray(self.image, dtype=np.uint8))

    def describe(self) -> dict[str, Any]:
        """JSON-ready provenance of the sample (no pixels)."""
        return {
            "sample_id": self.sample_id,
            "prompt": self.prompt,
            "has_image": self.image is not None,
            "answer": self.answer,
            "cause_patches": None if self.cause_patches is None else [list(p) for p in self.cause_patches],
            "cause_words": None if self.cause_words is None else list(self.cause_words),
            **{k: v for k, v in self.meta.items()},
        }


@dataclass(frozen=True)
class DatasetKind:
    """A registered dataset kind: its options with defaults, required options and loader."""

    name: str
    defaults: Mapping[str, Any]
    required: tuple[str, ...]
    loader: Callable[[Mapping[str, Any], Path | None], list[ExperimentSample]]
    check: Callable[[Mapping[str, Any]], None] | None = None
    doc: str = ""


_DATASETS: Registry[DatasetKind] = Registry(
    "dataset kind", error=UnknownDatasetError, fix="Register a new one with @register_dataset(name)."
)


def register_dataset(
    name: str,
    *,
    defaults: Mapping[str, Any] | None = None,
    required: Sequence[str] = (),
    check: Callable[[Mapping[str, Any]], None] | None = None,
    overwrite: bool = False,
) -> Callable[[Callable], Callable]:
    """Decorator: register ``loader(options, base_dir) -> list[ExperimentSample]`` as dataset kind ``name``.

    ``defaults`` lists every option (unknown options are rejected), ``required``
    the options without default, ``check`` validates option values (raising
    :class:`ConfigError`) without loading anything.

    Raises
    ------
    DuplicateRegistrationError
        If ``name`` is taken by another kind and ``overwrite`` is false.
    """

    def decorator(loader: Callable) -> Callable:
        doc = (loader.__doc__ or "").strip().splitlines()[0] if loader.__doc__ else ""
        _DATASETS.register(name, DatasetKind(name, dict(defaults or {}), tuple(required), loader, check, doc),
                           overwrite=overwrite)
        return loader

    return decorator


def list_datasets() -> list[str]:
    """Names of the registered dataset kinds, sorted.

    Examples
    --------
    >>> list_datasets()
    ['easyvqa', 'jsonl', 'prompts', 'world', 'world576']
    """
    return _DATASETS.names()


def get_dataset_kind(name: str) -> DatasetKind:
    """The registered kind ``name``.

    Raises
    ------
    UnknownDatasetError
        Listing the known kinds.
    """
    return _DATASETS.get(name)


def validate_dataset_spec(spec: Mapping[str, Any]) -> dict[str, Any]:
    """Check a ``{kind: ..., options}`` mapping; return the options with defaults filled in.

    Raises
    ------
    UnknownDatasetError
        For an unknown kind.
    ConfigError
        For unknown or missing options and bad values.

    Examples
    --------
    >>> validate_dataset_spec({"kind": "world", "n": 10})["split"]
    'test'
    >>> validate_dataset_spec({"kind": "world", "n": -1})
    Traceback (most recent call last):
    ...
    whytoken.errors.ConfigError: dataset.n = -1 is invalid: expected an integer >= 1; fix: set dataset.n to the \
number of samples, e.g. 200
    """
    spec = dict(spec)
    kind = get_dataset_kind(str(spec.pop("kind")))
    unknown = sorted(set(spec) - set(kind.defaults) - set(kind.required))
    if unknown:
        raise ConfigError(f"dataset option(s) {unknown} are unknown for kind {kind.name!r}; expected a subset of "
                          f"{sorted(set(kind.defaults) | set(kind.required))}; fix: remove or rename them")
    missing = [k for k in kind.required if k not in spec]
    if missing and not (kind.name == "prompts" and "name" in spec):
        raise ConfigError(f"dataset option(s) {missing} are required for kind {kind.name!r}; fix: add e.g. "
                          f"{missing[0]}: ...")
    options = {**kind.defaults, **spec}
    n = options.get("n")
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise ConfigError(f"dataset.n = {n!r} is invalid: expected an integer >= 1; fix: set dataset.n to the "
                          "number of samples, e.g. 200")
    if kind.check is not None:
        kind.check(options)
    return options


def load_dataset(spec: Mapping[str, Any], base_dir: str | os.PathLike[str] | None = None) -> list[ExperimentSample]:
    """Load the samples a ``dataset`` configuration section describes.

    Parameters
    ----------
    spec : mapping
        ``{"kind": ..., options}``.
    base_dir : path, optional
        Folder that relative paths in the options are resolved against
        (the configuration file's folder).
    """
    options = validate_dataset_spec(spec)
    kind = get_dataset_kind(str(spec["kind"]))
    samples = kind.loader(options, Path(base_dir) if base_dir is not None else None)
    ids = [s.sample_id for s in samples]
    if len(set(ids)) != len(ids):
        dupes = sorted({i for i in ids if ids.count(i) > 1})[:5]
        raise ConfigError(f"dataset {kind.name!r} has repeated sample ids {dupes}; fix: give every row a unique id")
    logger.info("loaded %d samples of dataset kind %s", len(samples), kind.name)
    return samples


def _resolve(path: str, base_dir: Path | None) -> Path:
    p = Path(os.path.expanduser(path))
    return p if p.is_absolute() or base_dir is None else base_dir / p
