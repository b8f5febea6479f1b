"""Datasets of experiment samples: the synthetic world, user JSONL files and text prompts.

A dataset turns the ``dataset`` section of an experiment configuration into a
list of :class:`ExperimentSample` -- a prompt, an optional image (as a
``uint8`` array, so samples pickle cheaply to worker processes and Ray
tasks), an optional expected answer and, where known, the ground-truth
causes. Kinds register with :func:`register_dataset`; :func:`list_datasets`
names them:

``world``
    The synthetic shapes world (:mod:`whytoken.experiments.world`), with
    ground-truth cause patches and words. Options: ``split`` (train, val,
    test; default test), ``n`` (default 200), ``seed`` (offset inside the
    split, default 0), ``kinds`` (question kinds), ``world`` (WorldConfig
    parameters).
``jsonl``
    One JSON object per line: ``{"prompt": ..., "image": path or null, "id":
    ..., "answer": ..., "target": ...}``; image paths are relative to the
    JSONL file. Options: ``path`` (required), ``n`` (first n rows).
``prompts``
    Text prompts for decoder LMs, one per line (``#`` comments; an optional
    tab-separated expected answer). Options: ``path`` or ``name`` (a packaged
    list; ``smollm2_50``: 50 factual completions), ``n``.

Ground truth is expressed in the sample's own terms (patch cells, prompt
word indices) and mapped onto a trace's positions by
:func:`ground_truth_positions`.

Examples
--------
>>> samples = load_dataset({"kind": "prompts", "name": "smollm2_50", "n": 2})
>>> [(s.sample_id, s.prompt, s.answer) for s in samples]
[('smollm2_50/0', 'The capital of France is', 'Paris'), ('smollm2_50/1', 'The capital of Germany is', 'Berlin')]
>>> load_dataset({"kind": "world", "split": "test", "n": 1})[0].cause_words
(4,)
"""

from __future__ import annotations

import json
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
    "packaged_prompt_lists",
    "ground_truth_positions",
    "align_words",
]

logger = logging.getLogger(__name__)

_PROMPT_DIR = Path(__file__).resolve().parent / "prompts"


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
    ['jsonl', 'prompts', 'world']
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


# ----------------------------------------------------------------------------- world
def _check_world(options: Mapping[str, Any]) -> None:
    from whytoken.experiments.world import KINDS, SPLIT_SEED_RANGES, WorldConfig

    if options["split"] not in SPLIT_SEED_RANGES:
        raise ConfigError(f"dataset.split = {options['split']!r} is invalid: expected one of "
                          f"{list(SPLIT_SEED_RANGES)}; fix: use split: test for held-out samples")
    seed = options["seed"]
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"dataset.seed = {seed!r} is invalid: expected a non-negative integer offset into the "
                          "split; fix: set dataset.seed: 0")
    kinds = options["kinds"]
    if kinds is not None and (not isinstance(kinds, (list, tuple)) or not kinds or set(kinds) - set(KINDS)):
        raise ConfigError(f"dataset.kinds = {kinds!r} is invalid: expected a non-empty subset of {list(KINDS)}; "
                          "fix: remove the key to cycle through every kind")
    if options["world"] is not None:
        if not isinstance(options["world"], Mapping):
            raise ConfigError(f"dataset.world = {options['world']!r} is invalid: expected a mapping of "
                              "WorldConfig parameters; fix: remove it to use the demo model's world")
        WorldConfig.from_dict(dict(options["world"]))


@register_dataset("world", defaults={"split": "test", "n": 200, "seed": 0, "kinds": None, "world": None},
                  check=_check_world)
def _load_world(options: Mapping[str, Any], base_dir: Path | None) -> list[ExperimentSample]:
    """The synthetic shapes world with ground-truth causes."""
    from whytoken.experiments.world import WorldConfig, generate

    config = WorldConfig.from_dict(dict(options["world"])) if options["world"] is not None else None
    samples = generate(options["split"], int(options["n"]), seed=int(options["seed"]),
                       kinds=list(options["kinds"]) if options["kinds"] is not None else None, config=config)
    out = []
    for s in samples:
        out.append(ExperimentSample(
            sample_id=f"world/{s.split}/{s.seed}",
            prompt=s.prompt,
            image=s.pixels,
            answer=s.answer,
            target=None,
            cause_patches=tuple(tuple(p) for p in s.cause_patches),
            cause_words=tuple(s.cause_words),
            meta={"kind": s.kind, "split": s.split, "seed": s.seed, "absent": s.absent,
                  "question": s.question, "scene": s.scene.describe()},
        ))
    return out


# ----------------------------------------------------------------------------- jsonl
def _check_jsonl(options: Mapping[str, Any]) -> None:
    if not isinstance(options.get("path"), str):
        raise ConfigError(f"dataset.path = {options.get('path')!r} is invalid: expected the path of a JSONL file; "
                          "fix: set dataset.path: data/samples.jsonl")


@register_dataset("jsonl", defaults={"n": None}, required=("path",), check=_check_jsonl)
def _load_jsonl(options: Mapping[str, Any], base_dir: Path | None) -> list[ExperimentSample]:
    """A user's JSONL of {prompt, image, id, answer, target, cause_patches, cause_words}."""
    path = _resolve(options["path"], base_dir)
    if not path.is_file():
        raise ConfigError(f"dataset.path = {options['path']!r} does not exist (looked at {str(path)!r}); "
                          "expected a JSONL file; fix: give a path relative to the config file or absolute")
    known = {"prompt", "image", "id", "answer", "target", "cause_patches", "cause_words", "meta"}
    out: list[ExperimentSample] = []
    for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise ConfigError(f"{path}:{line_no} is not valid JSON ({err}); fix: one JSON object per line") from err
        if not isinstance(row, dict) or not isinstance(row.get("prompt"), str):
            raise ConfigError(f"{path}:{line_no} = {line[:80]!r} is invalid: expected an object with a 'prompt' "
                              "string; fix: add \"prompt\": \"...\"")
        unknown = sorted(set(row) - known)
        if unknown:
            raise ConfigError(f"{path}:{line_no} has unknown field(s) {unknown}; expected a subset of {sorted(known)}")
        image = None
        if row.get("image") is not None:
            image_path = _resolve(str(row["image"]), path.parent)
            try:
                from PIL import Image

                with Image.open(image_path) as im:
                    image = np.array(im.convert("RGB"), dtype=np.uint8)
            except OSError as err:
                raise ConfigError(f"{path}:{line_no}: image {row['image']!r} cannot be read ({err}); fix: give a "
                                  "path relative to the JSONL file") from err
        patches = row.get("cause_patches")
        words = row.get("cause_words")
        out.append(ExperimentSample(
            sample_id=str(row.get("id", f"{path.stem}/{len(out)}")),
            prompt=row["prompt"],
            image=image,
            answer=row.get("answer"),
            target=row.get("target"),
            cause_patches=None if patches is None else tuple(tuple(int(v) for v in p) for p in patches),
            cause_words=None if words is None else tuple(int(w) for w in words),
            meta=dict(row.get("meta", {})),
        ))
        if options["n"] is not None and len(out) >= options["n"]:
            break
    return out


# ----------------------------------------------------------------------------- prompts
def packaged_prompt_lists() -> list[str]:
    """Names of the prompt lists shipped with whytoken.

    Examples
    --------
    >>> packaged_prompt_lists()
    ['smollm2_50']
    """
    return sorted(p.stem for p in _PROMPT_DIR.glob("*.txt"))


def _check_prompts(options: Mapping[str, Any]) -> None:
    if (options.get("path") is None) == (options.get("name") is None):
        raise ConfigError(f"dataset (kind prompts) has path = {options.get('path')!r} and name = "
                          f"{options.get('name')!r}: expected exactly one of them; fix: set name: smollm2_50 or "
                          "path: prompts.txt")
    if options.get("name") is not None and options["name"] not in packaged_prompt_lists():
        raise ConfigError(f"dataset.name = {options['name']!r} is invalid: expected one of the packaged prompt "
                          f"lists {packaged_prompt_lists()}; fix: use one of those or give path: <file>")


@register_dataset("prompts", defaults={"n": None, "path": None, "name": None}, check=_check_prompts)
def _load_prompts(options: Mapping[str, Any], base_dir: Path | None) -> list[ExperimentSample]:
    """Text prompts, one per line (optional tab-separated expected answer)."""
    if options.get("name") is not None:
        path, stem = _PROMPT_DIR / f"{options['name']}.txt", str(options["name"])
    else:
        path = _resolve(str(options["path"]), base_dir)
        stem = path.stem
    if not path.is_file():
        raise ConfigError(f"dataset.path = {str(path)!r} does not exist; expected a text file with one prompt per "
                          "line; fix: correct the path (relative to the config file)")
    out: list[ExperimentSample] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        prompt, _, answer = line.partition("\t")
        out.append(ExperimentSample(sample_id=f"{stem}/{len(out)}", prompt=prompt.rstrip(),
                                    answer=answer.strip() or None))
        if options["n"] is not None and len(out) >= options["n"]:
            break
    return out


# ----------------------------------------------------------------------------- ground truth
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
