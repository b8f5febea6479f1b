"""The result panel the explaining commands print: fits the terminal, speaks in CLI flags.

The panel is a two-column grid (a bold label, then the text) inside a rich
``Panel`` sized to the terminal, so long lines wrap under their own column
rather than under the label, and number groups such as ``p = 0.77`` are bound
with non-breaking spaces so they never split across lines. Advice in the
query's messages is written for Python (``n_samples='hidden_size'``); the
panel rewrites it into the flags of ``whytoken explain`` (``--n-samples
hidden_size``), renders structured hints (``Explanation.hints``, where the
query records them) the same way, and drops advice to switch to a setting
that is already in use.

Examples
--------
>>> cli_spelling("try n_samples='hidden_size' (N = 64); or raise max_set_size or include_special=True")
'try --n-samples hidden_size (N = 64); or raise --max-set-size or --include-special'
>>> cli_spelling("raise max_set_size, try criterion='prob-drop' or include_special=True", {"criterion": "prob-drop"})
'raise --max-set-size or --include-special'
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Mapping

from rich.panel import Panel
from rich.table import Table

from whytoken.cli.boundary import escape, out_console
from whytoken.query import Explanation

__all__ = ["print_explanation", "cli_spelling", "hint_flag", "EXPLAIN_PARAMETERS"]

#: Keyword arguments of ``explain()`` that ``whytoken explain`` offers as flags of the same name.
EXPLAIN_PARAMETERS = ("max_set_size", "max_range", "max_candidates", "max_cond_size", "max_nodes", "max_passes",
                      "n_samples", "criterion", "include_special", "target_row", "alpha", "heads", "layer",
                      "method", "intervention", "fraction", "verify")
_NBSP = "\u00a0"


def _flag(name: str, value: str | None = None) -> str:
    flag = "--" + name.replace("_", "-")
    if value is None or value == "True":
        return flag
    if value == "False":
        return "--no-" + name.replace("_", "-")
    return f"{flag} {value.strip(chr(39)).strip(chr(34))}"


def hint_flag(hint: Any) -> str:
    """A structured hint (``parameter``, ``value``) as a CLI flag: ``--n-samples 64``, ``--include-special``."""
    value = getattr(hint, "value", None)
    return _flag(str(getattr(hint, "parameter", "")), None if value is None else str(value))


def cli_spelling(text: str, settings: Mapping[str, Any] | None = None) -> str:
    """Rewrite Python keyword advice in ``text`` as CLI flags; drop "try X=v" when X is already v."""
    settings = dict(settings or {})
    names = "|".join(sorted(EXPLAIN_PARAMETERS, key=len, reverse=True))

    def already(match: re.Match) -> bool:
        name, value = match.group(1), match.group(2)
        return value is not None and name in settings and str(settings[name]) == value.strip("'\"")

    # advice to use a setting that is in use: "try criterion='prob-drop'" with the criterion already prob-drop
    for match in list(re.finditer(rf"(?:,\s*)?(?:try\s+)?\b({names})=('[^']*'|\"[^\"]*\"|[\w.-]+)", text)):
        if already(match):
            text = text.replace(match.group(0), "", 1)
    text = re.sub(r",\s+or\b", " or", text)
    text = re.sub(rf"\b({names})=('[^']*'|\"[^\"]*\"|[\w.-]+)", lambda m: _flag(m.group(1), m.group(2)), text)
    text = re.sub(rf"(?<![-\w])({names})\b(?!=)", lambda m: _flag(m.group(1)), text)
    return re.sub(r"\s{2,}", " ", text).replace(" ,", ",")


def _bind(text: str) -> str:
    """Keep ``p = 0.77`` and ``(N = 64)`` on one line."""
    return re.sub(r"(\w) = ", rf"\1{_NBSP}={_NBSP}", text)


def _quoted(label: str, kind: str) -> str:
    """Text tokens in quotes (‘of’ reads as a token, not as a word of the sentence); patches as they are."""
    return label if kind == "image_patch" else f"‘{label}’"


def _prob(p: float | None) -> str:
    from whytoken.report.labels import format_prob

    return format_prob(p)


def print_explanation(e: Explanation, paths: dict[str, Path] | None = None, truth: str | None = None) -> None:
    """Print the answer, the explaining set(s) with their effects, the cost and the written files."""
    from whytoken.report.labels import token_label
    from whytoken.report.sets import set_views

    width = max(40, min(out_console.width, 110))
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    color = {"explained": "green", "not-explained": "yellow", "unverified": "cyan"}.get(e.status, "cyan")
    settings = dict(e.provenance)
    if e.prompt:
        grid.add_row("Prompt", escape(e.prompt))
    answer = e.generated_text.strip().replace("\n", " ⏎ ")
    answer = answer if len(answer) <= width - 14 else answer[: width - 15] + "…"
    grid.add_row("Answer", escape(answer))
    target = (f"{e.target.text!r} at position {e.target.position}, "
              f"p{_NBSP}={_NBSP}{_prob(e.target.prob)}")
    reason = getattr(e, "target_reason", None)
    grid.add_row("Target", escape(target) + (f" [dim]({escape(_bind(reason))})[/]" if reason else ""))
    groups = set_views(e)
    if groups.explaining is not None:
        s = groups.explaining
        members = " + ".join(f"[bold red]{escape(_quoted(label, kind))}[/]" if not label.startswith("+ ")
                             else escape(label) for label, kind in zip(s.short_labels(), s.kinds + ("",)))
        grid.add_row("Why", f"removing {members} changes it to [bold]{escape(repr(s.new_token))}[/] "
                     f"[dim](effect{_NBSP}{s.effect_text}, p{_NBSP}={_NBSP}{_prob(s.target_prob_after)} after)[/] "
                     f"[{color}]{escape(s.claim)} on the model[/]")
        if groups.verified:
            others = "; ".join(f"{' + '.join(_quoted(lb, k) for lb, k in zip(v.labels, v.kinds))} ({v.effect_text})"
                               for v in groups.verified[:5])
            more = " …" if len(groups.verified) > 5 else ""
            grid.add_row("Also", f"{len(groups.verified)} other verified set(s): {escape(others)}{more}")
        m = e.modality
        grid.add_row("Kinds", f"{m['image_patch']} image patch(es), {m['prompt_text']} prompt word(s), "
                     f"{m['generated']} generated token(s)")
    elif groups.candidates:
        best = groups.candidates[0]
        members = " + ".join(f"[bold]{escape(_quoted(label, kind))}[/]" for label, kind in zip(best.labels, best.kinds))
        grid.add_row("Why", f"best graph candidate {members} [{color}](not verified on the model; "
                     f"{len(groups.candidates)} candidate set(s))[/]")
    if e.status != "explained":
        grid.add_row("Result", f"[{color}]{escape(_bind(cli_spelling(e.message, settings)))}[/]")
    hints = getattr(e, "hints", None) or ()
    for hint in hints:
        reason = getattr(hint, "reason", "")
        note = f" [dim]({escape(_bind(reason))})[/]" if reason else ""
        grid.add_row("Try", f"[bold]{escape(hint_flag(hint))}[/]{note}")
    if truth:
        grid.add_row("Truth", escape(truth))
    search = e.search
    budget = getattr(search, "max_passes", None)
    grid.add_row("Cost", f"{search.n_interventions}{f' of {budget}' if budget else ''} forward passes in "
                 f"{search.n_model_calls} batch(es) (exhaustive search: {search.exhaustive_interventions}); "
                 f"{sum(h.n_ci_tests for h in e.heads)} CI tests over {len(e.heads)} head(s)")
    out_console.print(Panel(grid, title=f"whytoken · {escape(str(e.provenance.get('model') or ''))}",
                            border_style=color, expand=False, width=width if out_console.width < 110 else None))
    if paths:
        for name, path in paths.items():
            out_console.print(f"  wrote {name:<12} {path}", soft_wrap=True)
