"""Crash-safe file writes: a file holds its old content or its new content, never a torn mix.

Every file whytoken writes (graphs, explanations, traces, reports, experiment outputs) goes
through this module. The new content is written to a temporary file in the *same directory*
(so that the final rename never crosses a file system), flushed and ``fsync``-ed, then renamed
over the target with :func:`os.replace`, which is atomic; finally the directory itself is
``fsync``-ed so that the rename survives a power cut. If anything fails on the way -- a full
disk, a file-size limit, a read-only directory, an exception in the caller's writer, Ctrl-C --
the temporary file is removed and the target is left exactly as it was.

Failures of the operating system (:class:`OSError`) are raised as
:class:`~whytoken.errors.OutputError` naming the path, the system's reason and the fix (free
space, pick a writable directory, pass a file name instead of a directory, ...).

=============================  ==============================================================
:func:`atomic_write_text`      write a string
:func:`atomic_write_bytes`     write bytes
:func:`atomic_open`            a file object for writers that stream (``csv``, ``json.dump``)
:func:`atomic_path`            a temporary *path* for writers that need a file name
                               (``safetensors.save_file``, ``np.savez``, ``Image.save``,
                               ``Figure.savefig``); it keeps the target's suffix
:func:`atomic_directory`       a temporary directory moved into place when complete
:func:`ensure_directory`       create an output directory, or say why it cannot be one
:func:`append_text`            durable all-or-nothing append to a log file
:func:`output_error`           turn an ``OSError`` into an ``OutputError`` with the fix
=============================  ==============================================================

This module imports nothing but the standard library and :mod:`whytoken.errors`, so every
layer may use it.

Examples
--------
>>> import pathlib, tempfile
>>> from whytoken.files import atomic_write_text, atomic_open, atomic_path
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> atomic_write_text(d / "a.txt", "hello\\n").read_text()
'hello\\n'
>>> with atomic_open(d / "b.csv", "w", newline="") as fh:
...     _ = fh.write("x,y\\n1,2\\n")
>>> (d / "b.csv").read_text()
'x,y\\n1,2\\n'
>>> with atomic_path(d / "c.bin") as tmp:          # a writer that wants a file name
...     _ = tmp.write_bytes(b"\\x00\\x01")
>>> (d / "c.bin").read_bytes(), tmp.exists()
(b'\\x00\\x01', False)

A writer that fails leaves the previous content in place and no temporary file:

>>> try:
...     with atomic_open(d / "a.txt", "w") as fh:
...         _ = fh.write("half")
...         raise RuntimeError("writer crashed")
... except RuntimeError:
...     pass
>>> (d / "a.txt").read_text(), sorted(p.name for p in d.iterdir())
('hello\\n', ['a.txt', 'b.csv', 'c.bin'])

A directory where a file is expected is a package error with the fix:

>>> atomic_write_text(d, "x")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
whytoken.errors.OutputError: cannot write file '...': it is a directory; pass a file name inside it, \
such as '.../output'
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import secrets
import shutil
import stat
from pathlib import Path
from typing import IO, Iterator

from whytoken.errors import InvalidParameterError, OutputError, WhytokenError

__all__ = [
    "PathLike",
    "atomic_write_text",
    "atomic_write_bytes",
    "atomic_open",
    "atomic_path",
    "atomic_directory",
    "ensure_directory",
    "append_text",
    "output_error",
]

logger = logging.getLogger(__name__)

#: What the functions taking a path accept.
PathLike = str | os.PathLike

_FULL = {errno.ENOSPC, errno.EFBIG, getattr(errno, "EDQUOT", errno.ENOSPC)}
_DENIED = {errno.EACCES, errno.EPERM}


def output_error(err: OSError, path: PathLike, what: str = "file") -> OutputError:
    """The :class:`~whytoken.errors.OutputError` for a failed write of ``path``.

    Parameters
    ----------
    err : OSError
        What the operating system raised.
    path : str or os.PathLike
        The file or directory being written (the target, not a temporary name).
    what : str
        What the file is, for the message ("graph JSON file", "trace", "output directory").

    Returns
    -------
    OutputError
        With the path, the system's reason and the fix; raise it ``from err``.

    Examples
    --------
    >>> import errno
    >>> print(output_error(OSError(errno.ENOSPC, "No space left on device"), "/data/g.json", "graph"))
    cannot write graph '/data/g.json': No space left on device; free disk space or write to another \
location (any previous file there is unchanged)
    """
    target = Path(os.fspath(path))
    code = err.errno
    reason = err.strerror or str(err)
    if code in _FULL:
        fix = "free disk space or write to another location (any previous file there is unchanged)"
    elif code in _DENIED:
        fix = f"write to a directory you can write to, or change the permissions of {str(target.parent)!r}"
    elif code == errno.EROFS:
        fix = "the file system is read-only; write to another location"
    elif code == errno.EISDIR:
        reason = "it is a directory"
        fix = f"pass a file name inside it, such as {str(target / 'output')!r}"
    elif code in {errno.ENOTDIR, errno.EEXIST}:
        reason = "a file is in the way where a directory is needed"
        fix = (f"pass a directory path (not an existing file), or remove the file; "
               f"{str(target)!r} or one of its parents is a file")
    elif code == errno.ENOENT:
        reason = f"the directory {str(target.parent)!r} does not exist"
        fix = "create it first, or pass a path in an existing directory"
    elif code == errno.ENAMETOOLONG:
        fix = "use a shorter file name"
    else:
        fix = "check that the path is writable and the disk is healthy"
    return OutputError(f"cannot write {what} {str(target)!r}: {reason}; {fix}")


def _target(path: PathLike) -> Path:
    target = Path(os.fspath(path))
    # Write through a symlink to its target, not over the link.
    return Path(os.path.realpath(target)) if target.is_symlink() else target


def _temporary_name(target: Path) -> Path:
    # Hidden, unique, in the same directory; keeps the suffix for writers that infer the format
    # from it (np.savez appends .npz to any other name, savefig picks the format by suffix).
    return target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp{target.suffix}")


def _fsync_directory(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:  # e.g. Windows: directories cannot be opened; the rename is still atomic
        return
    try:
        os.fsync(fd)
    except OSError as err:  # some file systems do not support it; the data itself is synced
        logger.debug("fsync of directory %s failed: %s", directory, err)
    finally:
        os.close(fd)


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDWR if os.access(path, os.W_OK) else os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _create_temporary(tmp: Path, target: Path) -> None:
    if target.is_dir():
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(target))
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))  # 0o666 minus the umask
    if target.exists():  # keep the permissions of the file being replaced
        with contextlib.suppress(OSError):
            os.chmod(tmp, stat.S_IMODE(target.stat().st_mode))


def _discard(tmp: Path | None) -> None:
    if tmp is not None:
        with contextlib.suppress(OSError):
            if tmp.is_dir() and not tmp.is_symlink():
                shutil.rmtree(tmp)
            else:
                tmp.unlink()


@contextlib.contextmanager
def atomic_path(path: PathLike, *, what: str = "file") -> Iterator[Path]:
    """A temporary path that replaces ``path`` when the block ends without an exception.

    For writers that need a file name rather than a file object. The temporary file lies in
    the same directory, already exists (empty) and ends with the same suffix as ``path``.

    Parameters
    ----------
    path : str or os.PathLike
        The file to write. Its directory must exist.
    what : str
        What the file is, for error messages.

    Yields
    ------
    pathlib.Path
        Where the writer must write.

    Raises
    ------
    OutputError
        When the temporary file cannot be created, synced or renamed (the target is unchanged).

    Examples
    --------
    >>> import pathlib, tempfile
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "arrays.npz"
    >>> with atomic_path(target, what="arrays") as tmp:
    ...     tmp.suffix
    '.npz'
    """
    target = _target(path)
    # named before it is created, so that an interruption at any point leaves nothing behind
    tmp: Path | None = _temporary_name(target)
    try:
        _create_temporary(tmp, target)
        yield tmp
        _fsync_file(tmp)
        os.replace(tmp, target)
        tmp = None
        _fsync_directory(target.parent)
    except WhytokenError:  # already explained (OutputError and CheckpointError are OSErrors too)
        raise
    except OSError as err:
        raise output_error(err, target, what) from err
    finally:
        _discard(tmp)


@contextlib.contextmanager
def atomic_open(path: PathLike, mode: str = "w", *, what: str = "file", encoding: str | None = "utf-8",
                newline: str | None = None) -> Iterator[IO]:
    """A file object whose content replaces ``path`` when the block ends without an exception.

    Parameters
    ----------
    path : str or os.PathLike
        The file to write. Its directory must exist.
    mode : {"w", "wb"}
        Text or binary.
    what : str
        What the file is, for error messages.
    encoding, newline : str or None
        As for :func:`open` in text mode (UTF-8 by default).

    Examples
    --------
    >>> import json, pathlib, tempfile
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "x.json"
    >>> with atomic_open(target) as fh:
    ...     json.dump({"a": 1}, fh)
    >>> target.read_text()
    '{"a": 1}'
    """
    if mode not in {"w", "wb"}:
        raise InvalidParameterError(f"atomic_open mode must be 'w' or 'wb', got {mode!r}; "
                                    "use append_text to append")
    with atomic_path(path, what=what) as tmp:
        try:
            kwargs = {} if mode == "wb" else {"encoding": encoding, "newline": newline}
            with open(tmp, mode, **kwargs) as handle:
                yield handle
                handle.flush()
        except WhytokenError:
            raise
        except OSError as err:
            raise output_error(err, path, what) from err


def atomic_write_text(path: PathLike, text: str, *, what: str = "file", encoding: str = "utf-8",
                      newline: str | None = "") -> Path:
    """Write ``text`` to ``path`` atomically; returns the path.

    ``newline=""`` (the default) writes the string as given, with no newline translation.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> atomic_write_text(pathlib.Path(tempfile.mkdtemp()) / "n.txt", "one\\ntwo\\n").read_text()
    'one\\ntwo\\n'
    """
    with atomic_open(path, "w", what=what, encoding=encoding, newline=newline) as handle:
        handle.write(text)
    return Path(os.fspath(path))


def atomic_write_bytes(path: PathLike, data: bytes, *, what: str = "file") -> Path:
    """Write ``data`` to ``path`` atomically; returns the path.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> atomic_write_bytes(pathlib.Path(tempfile.mkdtemp()) / "b", b"\\x89PNG").read_bytes()
    b'\\x89PNG'
    """
    with atomic_open(path, "wb", what=what) as handle:
        handle.write(data)
    return Path(os.fspath(path))


def ensure_directory(path: PathLike, *, what: str = "output directory") -> Path:
    """Create ``path`` (and its parents) as a directory, or raise why it cannot be one.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> ensure_directory(d / "run" / "1").is_dir()
    True
    >>> _ = (d / "file").write_text("x")
    >>> ensure_directory(d / "file")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    whytoken.errors.OutputError: cannot write output directory '.../file': a file is in the way where a \
directory is needed; ...
    """
    target = Path(os.fspath(path))
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise output_error(err, target, what) from err
    return target


@contextlib.contextmanager
def atomic_directory(path: PathLike, *, what: str = "directory") -> Iterator[Path]:
    """A temporary directory moved to ``path`` when the block ends without an exception.

    For outputs made of several files that are only usable together (a converted checkpoint).
    An existing directory at ``path`` is replaced as a whole; it is moved aside first, so at
    every moment ``path`` is either the complete old or the complete new directory (or, for an
    instant between two renames, absent -- never half-written).

    Examples
    --------
    >>> import pathlib, tempfile
    >>> d = pathlib.Path(tempfile.mkdtemp()) / "ckpt"
    >>> with atomic_directory(d) as tmp:
    ...     _ = (tmp / "config.json").write_text("{}")
    >>> sorted(p.name for p in d.iterdir())
    ['config.json']
    """
    target = _target(path)
    tmp: Path | None = None
    old: Path | None = None
    try:
        if target.exists() and not target.is_dir():
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(target))
        tmp = _temporary_name(target)
        tmp.mkdir()
        yield tmp
        for child in tmp.rglob("*"):
            if child.is_file():
                _fsync_file(child)
        if target.exists():
            old = target.with_name(f".{target.name}.{secrets.token_hex(4)}.old")
            os.replace(target, old)
        os.replace(tmp, target)
        tmp = None
        _fsync_directory(target.parent)
    except WhytokenError:
        raise
    except OSError as err:
        if old is not None and not target.exists():
            with contextlib.suppress(OSError):
                os.replace(old, target)
                old = None
        raise output_error(err, target, what) from err
    finally:
        _discard(tmp)
        _discard(old)


def append_text(path: PathLike, text: str, *, what: str = "log file", encoding: str = "utf-8") -> None:
    """Append ``text`` to ``path`` and ``fsync`` it; all or nothing.

    If the write fails part-way (disk full, file-size limit) the file is truncated back to its
    previous length before :class:`~whytoken.errors.OutputError` is raised, so a log never gains
    a torn line from a failed write. (A process killed *during* the write can still leave one:
    readers of append-only logs must drop an unterminated last line.)

    Examples
    --------
    >>> import pathlib, tempfile
    >>> log = pathlib.Path(tempfile.mkdtemp()) / "rows.jsonl"
    >>> append_text(log, '{"i": 0}\\n'); append_text(log, '{"i": 1}\\n')
    >>> log.read_text().splitlines()
    ['{"i": 0}', '{"i": 1}']
    """
    target = Path(os.fspath(path))
    data = text.encode(encoding)
    try:
        fd = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    except OSError as err:
        raise output_error(err, target, what) from err
    try:
        start = os.fstat(fd).st_size
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        except BaseException as err:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, start)
                os.fsync(fd)
            if isinstance(err, OSError):
                raise output_error(err, target, what) from err
            raise
    finally:
        os.close(fd)
