"""``whytoken learners``: what the registries offer."""

from __future__ import annotations

from rich.table import Table

from whytoken.causal import list_learners
from whytoken.cli.boundary import errors, escape, out_console
from whytoken.graphs import list_formats
from whytoken.query import list_criteria

__all__ = ["learners_command"]


def learners_command() -> None:
    """List what the registries offer: learners, criteria, graph formats, interventions, models."""
    with errors():
        table = Table(title="whytoken registries")
        table.add_column("registry")
        table.add_column("names")
        table.add_row("learners (--method)", ", ".join(list_learners()))
        table.add_row("criteria (--criterion)", ", ".join(list_criteria()))
        table.add_row("graph formats (--format)", ", ".join(list_formats()))
        try:
            from whytoken.adapters import list_interventions, list_models

            table.add_row("interventions (--intervention)", ", ".join(list_interventions()))
            table.add_row("model short names (--model)", ", ".join(list_models()))
        except ImportError as err:  # adapters need torch/transformers
            table.add_row("interventions, models", f"[dim]unavailable: {escape(str(err))}[/]")
        out_console.print(table)
