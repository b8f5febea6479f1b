"""The registry of PAG file formats, and :func:`write_pag`/:func:`read_pag`, which pick one by name or suffix.

Three formats are built in: ``json`` (``.json``), ``graphml`` (``.graphml``,
``.xml``) and ``dot`` (``.dot``, ``.gv``). :func:`register_format` adds one;
the command line's ``--format`` choices come from :func:`list_formats`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from whytoken.errors import DuplicateRegistrationError, OutputError, UnknownFormatError
from whytoken.files import atomic_path, output_error
from whytoken.graphs.io._files import PathLike, as_path, read_text, with_path, write_text
from whytoken.graphs.io._schema import PAG_SCHEMA
from whytoken.graphs.io.dot import pag_from_dot, pag_to_dot
from whytoken.graphs.io.graphml import pag_from_graphml, pag_to_graphml
from whytoken.graphs.io.pag_json import pag_from_json, pag_to_json_string
from whytoken.graphs.pag import PAG
from whytoken.registry import Registry

__all__ = ["PagFormat", "register_format", "get_format", "list_formats", "write_pag", "read_pag"]


@dataclass(frozen=True)
class PagFormat:
    """A file format for PAGs: its name, file suffixes, and functions that write and read a file.

    Attributes
    ----------
    name : str
        Registry name, as given to ``--format``.
    suffixes : tuple of str
        File suffixes (with the dot, lower case) that select the format when none is given.
    writer : callable
        ``writer(pag, path)`` writes the file.
    reader : callable
        ``reader(path) -> PAG`` reads it.
    description : str
        One line for help texts.
    """

    name: str
    suffixes: tuple[str, ...]
    writer: Callable[[PAG, Path], None]
    reader: Callable[[Path], PAG]
    description: str = ""


_FORMATS: Registry[PagFormat] = Registry(
    "graph format", plural="formats", error=UnknownFormatError, case_sensitive=False,
    fix="Register a new one with whytoken.graphs.register_format(name, suffixes=..., writer=..., reader=...).",
)


def register_format(
    name: str,
    *,
    suffixes: tuple[str, ...] | list[str],
    writer: Callable[[PAG, Path], None],
    reader: Callable[[Path], PAG],
    description: str = "",
    overwrite: bool = False,
) -> PagFormat:
    """Register a PAG file format under ``name`` (lower case).

    Raises
    ------
    DuplicateRegistrationError
        ``name`` or one of ``suffixes`` already belongs to a format and ``overwrite`` is false.

    Examples
    --------
    >>> fmt = register_format("json-compact", suffixes=[".pagjson"],
    ...                       writer=lambda pag, path: path.write_text(pag_to_json_string(pag, indent=None)),
    ...                       reader=lambda path: pag_from_json(path.read_text()))
    >>> "json-compact" in list_formats()
    True
    >>> _ = _FORMATS.unregister("json-compact")   # keep the registry as shipped
    """
    norm_suffixes = tuple(s.lower() if s.startswith(".") else f".{s.lower()}" for s in suffixes)
    fmt = PagFormat(name.lower(), norm_suffixes, writer, reader, description)
    if not overwrite:
        for other in _registered_formats():
            clash = set(norm_suffixes) & set(other.suffixes)
            if clash and other.name != fmt.name:
                raise DuplicateRegistrationError(
                    f"suffix(es) {sorted(clash)} already select format {other.name!r}; choose other suffixes "
                    "or pass overwrite=True"
                )
    return _FORMATS.register(fmt.name, fmt, overwrite=overwrite)


def _registered_formats() -> list[PagFormat]:
    return [_FORMATS.get(name) for name in _FORMATS]


def list_formats() -> list[str]:
    """The names of the registered formats, sorted.

    Examples
    --------
    >>> list_formats()
    ['dot', 'graphml', 'json']
    """
    return _FORMATS.names()


def get_format(name: str) -> PagFormat:
    """The format registered under ``name`` (case-insensitive).

    Raises
    ------
    UnknownFormatError
        No such format; the message lists the known ones.

    Examples
    --------
    >>> get_format("GraphML").suffixes
    ('.graphml', '.xml')
    """
    return _FORMATS.get(name)


def _format_for(path: Path, format: str | None) -> PagFormat:
    if format is not None:
        return get_format(format)
    suffix = path.suffix.lower()
    for fmt in _registered_formats():
        if suffix in fmt.suffixes:
            return fmt
    known = ", ".join(f"{s} ({f.name})" for f in _registered_formats() for s in f.suffixes)
    raise UnknownFormatError(
        f"cannot tell the graph format of {str(path)!r} from its suffix {suffix!r}; known suffixes: {known}. "
        f"Pass format= one of {', '.join(list_formats())}"
    )


def write_pag(pag: PAG, path: PathLike, format: str | None = None) -> Path:
    """Write ``pag`` to ``path`` in ``format`` (default: from the suffix); returns the path.

    Raises
    ------
    UnknownFormatError
        Unknown ``format`` or suffix.
    OutputError
        The file cannot be written (the message has the path and the fix); a previous file
        at ``path`` is left unchanged, whatever the format's writer does: it writes to a
        temporary file that replaces ``path`` only when complete.
    SchemaError
        The graph holds a node id or value the format cannot store.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from whytoken.graphs import PAG, Mark
    >>> g = PAG(); g.add_edge(0, 1, Mark.CIRCLE, Mark.CIRCLE)
    >>> path = write_pag(g, pathlib.Path(tempfile.mkdtemp()) / "pag.dot")
    >>> read_pag(path) == g
    True
    """
    p = as_path(path)
    fmt = _format_for(p, format)
    what = f"{fmt.name} graph file"
    with atomic_path(p, what=what) as tmp:
        try:
            fmt.writer(pag, tmp)
        except OutputError as err:  # the writer's own write failed: name the user's path, not the temporary one
            if isinstance(err.__cause__, OSError):
                raise output_error(err.__cause__, p, what) from err.__cause__
            raise
    return p


def read_pag(path: PathLike, format: str | None = None) -> PAG:
    """Read a PAG from ``path`` in ``format`` (default: from the suffix).

    Raises
    ------
    UnknownFormatError
        Unknown ``format`` or suffix.
    CheckpointError
        The file does not exist or cannot be read (the message has the path).
    SchemaError
        The content is corrupt or has the wrong schema (the message has the path).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from whytoken.graphs import PAG
    >>> path = write_pag(PAG([0, 1]), pathlib.Path(tempfile.mkdtemp()) / "pag.json")
    >>> read_pag(path).nodes
    [0, 1]
    """
    p = as_path(path)
    return _format_for(p, format).reader(p)


def _write_json(pag: PAG, path: Path) -> None:
    write_text(path, pag_to_json_string(pag) + "\n", "JSON")


def _read_json(path: Path) -> PAG:
    text = read_text(path, "JSON")
    return with_path(path, lambda: pag_from_json(text))


def _write_graphml(pag: PAG, path: Path) -> None:
    pag_to_graphml(pag, path)


def _write_dot(pag: PAG, path: Path) -> None:
    pag_to_dot(pag, path)


register_format("json", suffixes=(".json",), writer=_write_json, reader=_read_json,
                description=f"{PAG_SCHEMA} JSON (exact; the format other whytoken tools read)")
register_format("graphml", suffixes=(".graphml", ".xml"), writer=_write_graphml, reader=pag_from_graphml,
                description="GraphML with mark_u/mark_v edge data (yEd, Gephi, Cytoscape)")
register_format("dot", suffixes=(".dot", ".gv"), writer=_write_dot, reader=pag_from_dot,
                description="Graphviz DOT with PAG arrowheads (dot -Tpng)")
