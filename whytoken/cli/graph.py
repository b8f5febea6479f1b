"""``whytoken graph ...``: read and convert graph files."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from whytoken.cli.boundary import errors, out_console
from whytoken.cli.options import FormatName, value
from whytoken.errors import CheckpointError, InvalidParameterError, SchemaError, WhytokenError
from whytoken.query import Explanation

__all__ = ["graph_app", "graph_export"]

graph_app = typer.Typer(help="Read and convert graph files.", no_args_is_help=True)


def _read_explanation(doc: dict, file: Path) -> Explanation:
    try:
        return Explanation.from_json(doc)
    except SchemaError as err:
        raise SchemaError(f"{str(file)!r}: {err}") from err
    except WhytokenError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as err:
        raise SchemaError(f"{str(file)!r} is not a valid whytoken explanation ({type(err).__name__}: {err}); the "
                          "file is damaged or was edited: write it again with `whytoken explain`") from err


@graph_app.command("export")
def graph_export(
    file: Path = typer.Argument(..., help="A graph file (whytoken.pag/1 JSON, GraphML, DOT) or an explanation.json."),
    format: FormatName = typer.Option(..., "--format", help="Output format."),
    out: Optional[Path] = typer.Option(None, "--out", help="Output path (default: FILE with the format's suffix)."),
    head: Optional[int] = typer.Option(None, "--head", help="For an explanation: which head's graph "
                                       "(default: the head that ranked the answer best)."),
) -> None:
    """Convert a graph, or the graph inside a saved explanation, to another format."""
    with errors():
        import json

        from whytoken.graphs import get_format, read_pag, write_pag

        if not file.exists():
            raise CheckpointError(f"graph file {str(file)!r} does not exist; pass a graph.json, graph.graphml, "
                                  "graph.dot or explanation.json")
        pag = None
        if file.suffix.lower() == ".json":
            try:
                doc = json.loads(file.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                doc = None
            if isinstance(doc, dict) and str(doc.get("schema", "")).startswith("whytoken.explanation/"):
                explanation = _read_explanation(doc, file)
                if head is None:
                    pag = explanation.pag
                else:
                    chosen = [h for h in explanation.heads if h.head == head]
                    if not chosen:
                        raise InvalidParameterError(f"head {head} is not in this explanation; its heads are "
                                                    f"{[h.head for h in explanation.heads]}")
                    pag = chosen[0].pag
        if pag is None:
            if head is not None:
                raise InvalidParameterError("--head applies to an explanation.json, not to a plain graph file")
            pag = read_pag(file)
        fmt = get_format(value(format))
        target = out if out is not None else file.with_suffix(fmt.suffixes[0])
        if target.resolve() == file.resolve():
            raise InvalidParameterError(f"--out {str(target)!r} would overwrite the input; pass another --out")
        written = write_pag(pag, target, format=fmt.name)
        out_console.print(f"wrote {fmt.name} graph ({len(pag)} nodes, {pag.number_of_edges()} edges) to {written}")
