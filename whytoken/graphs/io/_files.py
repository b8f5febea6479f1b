"""Reading and writing format files, with errors that name the path.

An unreadable file raises :class:`~whytoken.errors.CheckpointError`; text that
is not UTF-8, or a :class:`~whytoken.errors.SchemaError` raised while parsing a
file, is re-raised as a ``SchemaError`` prefixed with the path. Files are written
atomically (:mod:`whytoken.files`): a failed write raises
:class:`~whytoken.errors.OutputError` and leaves any previous file unchanged.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from whytoken.errors import CheckpointError, SchemaError
from whytoken.files import atomic_write_text
from whytoken.graphs.pag import PAG

__all__ = ["PathLike", "as_path", "read_bytes", "read_text", "write_text", "with_path"]

#: What the functions taking a path accept.
PathLike = str | os.PathLike


def as_path(path: PathLike) -> Path:
    return Path(os.fspath(path))


def read_bytes(path: Path, fmt: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as err:
        raise CheckpointError(
            f"cannot read {fmt} file {str(path)!r}: {err.strerror or err}; expected an existing, readable "
            f"file written by PAG.save / whytoken graph export"
        ) from err


def read_text(path: Path, fmt: str) -> str:
    raw = read_bytes(path, fmt)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise SchemaError(f"{str(path)!r} is not UTF-8 text ({err}); expected a UTF-8 {fmt} file") from err


def write_text(path: Path, text: str, fmt: str) -> None:
    atomic_write_text(path, text, what=f"{fmt} file")


def with_path(path: Path, parse: Callable[[], PAG]) -> PAG:
    try:
        return parse()
    except SchemaError as err:
        raise SchemaError(f"{str(path)!r}: {err}") from err
