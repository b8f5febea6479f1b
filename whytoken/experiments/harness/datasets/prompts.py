"""The ``prompts`` dataset kind: text prompts for decoder language models, one per line.

Lines starting with ``#`` are comments; an optional tab-separated expected
answer follows the prompt. Options: ``path`` (a text file, relative to the
configuration file) or ``name`` (a packaged list, see
:func:`packaged_prompt_lists`; ``smollm2_50``: 50 factual completions; ``smollm2_long``: 10 longer ones), ``n``.
The packaged lists live in ``whytoken/experiments/prompts/``.

Examples
--------
>>> from whytoken.experiments.harness.datasets import load_dataset
>>> load_dataset({"kind": "prompts", "name": "smollm2_50", "n": 1})[0].answer
'Paris'
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from whytoken.errors import ConfigError
from whytoken.experiments.harness.datasets.base import ExperimentSample, _resolve, register_dataset

__all__ = ["packaged_prompt_lists"]

_PROMPT_DIR = Path(__file__).resolve().parents[2] / "prompts"


def packaged_prompt_lists() -> list[str]:
    """Names of the prompt lists shipped with whytoken.

    Examples
    --------
    >>> packaged_prompt_lists()
    ['smollm2_50', 'smollm2_long']
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
