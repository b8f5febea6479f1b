"""Parsing and checking of command-line values shared by several commands.

Each parser raises :class:`~whytoken.errors.InvalidParameterError` naming the flag, the value
and an example of a valid one.

Examples
--------
>>> parse_heads("0, 3,5"), parse_layers("all")
([0, 3, 5], 'all')
"""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Any, Optional

from whytoken.causal import list_learners
from whytoken.errors import CheckpointError, InvalidParameterError
from whytoken.graphs import list_formats
from whytoken.query import POOLS, TARGET_ROWS, list_criteria, list_policies

__all__ = ["parse_heads", "parse_layers", "parse_n_samples", "resolve_target", "load_image", "trace_file",
           "registry_enum", "value", "LearnerName", "CriterionName", "FormatName", "TargetRow", "PolicyName",
           "PoolName"]


def parse_heads(heads: str) -> str | list[int]:
    """``--heads``: ``'all'`` or comma-separated head indices."""
    text = heads.strip().lower()
    if text == "all":
        return "all"
    try:
        return [int(h) for h in text.replace(" ", ",").split(",") if h]
    except ValueError:
        raise InvalidParameterError(f"cannot read --heads {heads!r}; pass 'all' or comma-separated indices "
                                    "such as 0,3,5") from None


def parse_layers(layers: str) -> tuple[int, ...] | str:
    """``--layers``: ``'all'`` or comma-separated layer indices."""
    text = layers.strip().lower()
    if text == "all":
        return "all"
    try:
        return tuple(int(x) for x in text.replace(" ", ",").split(",") if x)
    except ValueError:
        raise InvalidParameterError(f"cannot read --layers {layers!r}; pass 'all' or comma-separated layer "
                                    "indices such as -1 or 0,5,-1") from None


def parse_n_samples(value: Optional[str]) -> int | str | None:
    """``--n-samples``: a positive int or the name of a feature dimension."""
    from whytoken.query import N_SAMPLES_BASES

    if value is None or value in N_SAMPLES_BASES:
        return value
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise InvalidParameterError(f"--n-samples {value!r} is invalid; expected a positive int or one of "
                                    f"{', '.join(N_SAMPLES_BASES)} (e.g. --n-samples 64)")
    return number


def resolve_target(target: Optional[str], target_text: Optional[str], trace: Any) -> int | str | None:
    """The target from ``--target`` (a position, a negative index or ``all``) / ``--target-text``.

    None (neither given) lets the query pick the first token of the answer.
    """
    if target is not None and target_text is not None:
        raise InvalidParameterError("pass either --target or --target-text, not both")
    if not trace.generated:
        from whytoken.errors import TargetError

        raise TargetError("the model generated no tokens, so there is nothing to explain; raise --max-new-tokens")
    if target_text is not None:
        return target_text
    if target is None:
        return None
    if str(target).strip().lower() == "all":
        return "all"
    try:
        return int(target)
    except ValueError:
        raise InvalidParameterError(f"--target {target!r} is not a position; pass an int (negative counts from "
                                    "the end of the generated tokens), 'all', or --target-text TEXT") from None


def load_image(path: Optional[Path]) -> Any:
    """``--image``: the file read by the library's one image loader (``None`` without one).

    See :func:`whytoken.adapters.images.load_image` (16-bit images rescaled, transparency
    on white, EXIF orientation, size limit).
    """
    if path is None:
        return None
    from whytoken.adapters.images import load_image as read

    return read(path)


def trace_file(path: Path) -> Path:
    """``--trace``: a trace file, or the first one in a directory."""
    if path.is_dir():
        candidates = sorted(path.glob("*.safetensors")) + sorted(path.glob("*.npz"))
        if not candidates:
            raise CheckpointError(f"no trace file (*.safetensors or *.npz) in {str(path)!r}; "
                                  "create one with `whytoken trace ... --out DIR`")
        return candidates[0]
    if not path.exists():
        raise CheckpointError(f"trace {str(path)!r} does not exist; create one with `whytoken trace ... --out DIR`")
    return path


def registry_enum(name: str, names: list[str]) -> type[enum.Enum]:
    """A str Enum of a registry's names: typer turns it into a choice list for --help and validation."""
    return enum.Enum(name, {n: n for n in names}, type=str)  # type: ignore[return-value]


LearnerName = registry_enum("LearnerName", list_learners())
CriterionName = registry_enum("CriterionName", list_criteria())
FormatName = registry_enum("FormatName", list_formats())
TargetRow = registry_enum("TargetRow", list(TARGET_ROWS))
PolicyName = registry_enum("PolicyName", list_policies())
PoolName = registry_enum("PoolName", list(POOLS))


def value(choice: Any) -> Any:
    """The plain value of a choice Enum member (anything else unchanged)."""
    return choice.value if isinstance(choice, enum.Enum) else choice
