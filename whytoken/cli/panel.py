"""The result panel the explaining commands print."""

from __future__ import annotations

from pathlib import Path

from rich.panel import Panel

from whytoken.cli.boundary import escape, out_console
from whytoken.query import Explanation

__all__ = ["print_explanation"]


def print_explanation(e: Explanation, paths: dict[str, Path] | None = None, truth: str | None = None) -> None:
    """Print the answer, the explaining set(s), the cost and the written files."""
    from whytoken.report import token_label

    lines = []
    if e.prompt:
        lines.append(f"[bold]Prompt[/]  {escape(e.prompt)}")
    answer = e.generated_text.strip().replace("\n", " ⏎ ")
    answer = answer if len(answer) <= 60 else answer[:59] + "…"
    lines.append(f"[bold]Answer[/]  {escape(answer)}   "
                 f"[dim](explaining {e.target.text!r} at position {e.target.position}, p = {e.target.prob:.2f})[/]")
    color = {"explained": "green", "not-explained": "yellow", "unverified": "cyan"}[e.status]
    if e.explaining_set is not None:
        members = " + ".join(f"[bold red]{escape(token_label(m.text, m.patch))}[/]" for m in e.explaining_set.members)
        if e.status == "explained":
            outcome = e.explaining_set.outcome
            lines.append(f"[bold]Why[/]     removing {members} changes it to [bold]{escape(outcome.top_token_text)!r}[/]"
                         f" [{color}](verified on the model)[/]")
        else:
            lines.append(f"[bold]Why[/]     best graph candidate {members} [{color}](not verified)[/]")
        if len(e.minimal_sets) > 1:
            others = "; ".join(" + ".join(token_label(m.text, m.patch) for m in s.members)
                               for s in e.minimal_sets[1:6])
            more = " ..." if len(e.minimal_sets) > 6 else ""
            lines.append(f"[bold]Also[/]    {len(e.minimal_sets) - 1} other minimal set(s): {escape(others)}{more}")
        m = e.modality
        lines.append(f"[bold]Kinds[/]   {m['image_patch']} image patch(es), {m['prompt_text']} prompt word(s), "
                     f"{m['generated']} generated token(s)")
    else:
        lines.append(f"[{color}]{escape(e.message)}[/]")
    if truth:
        lines.append(f"[bold]Truth[/]   {escape(truth)}")
    s = e.search
    lines.append(f"[bold]Cost[/]    {s.n_interventions} forward passes in {s.n_model_calls} batch(es) "
                 f"(exhaustive search: {s.exhaustive_interventions}); "
                 f"{sum(h.n_ci_tests for h in e.heads)} CI tests over {len(e.heads)} head(s)")
    out_console.print(Panel("\n".join(lines), title=f"whytoken · {escape(str(e.provenance.get('model') or ''))}",
                            border_style=color, expand=False))
    if paths:
        for name, path in paths.items():
            out_console.print(f"  wrote {name:<12} {path}")
