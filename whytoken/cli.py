"""The ``whytoken`` command line.

Commands
--------
``whytoken demo [--out DIR]``
    Explain the embedded synthetic LLaVA's answer to a built-in scene and
    question; writes ``explanation.json``, ``graph.json``, ``graph.graphml``
    and ``report.html`` into DIR.
``whytoken explain --model M (--prompt TEXT [--image PATH] | --trace PATH) --out DIR``
    The same for any supported checkpoint directory or short name
    (``smollm2-135m-instruct``, ``whytoken-demo``), or for a saved trace.
``whytoken trace --model M --prompt TEXT [--image PATH] --out DIR``
    Save a trace (tokens, generated text, attention) to explain later.
``whytoken graph export FILE --format json|graphml|dot``
    Convert a saved graph (or the graph of a saved explanation).
``whytoken learners``
    List the registries: learners, criteria, graph formats, interventions, models.
``whytoken experiment ...``
    Faithfulness experiments against attribution baselines (see
    :mod:`whytoken.experiments.cli`).

Errors raised by whytoken print as one red line with the fix and exit with
code 2; ``--debug`` shows the traceback.

Examples
--------
>>> from typer.testing import CliRunner
>>> result = CliRunner().invoke(app, ["learners"])
>>> result.exit_code, "ordered-icd" in result.output or "fci" in result.output
(0, True)
"""

from __future__ import annotations

import contextlib
import enum
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any, Iterator, Optional

import typer
from rich.console import Console
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from whytoken.causal import list_learners
from whytoken.errors import CheckpointError, InvalidParameterError, WhytokenError
from whytoken.experiments.cli import app as experiment_app
from whytoken.graphs import list_formats
from whytoken.query import (
    DEFAULT_ALPHA,
    DEFAULT_MAX_CANDIDATES,
    DEFAULT_MAX_COND_SIZE,
    DEFAULT_MAX_RANGE,
    DEFAULT_MAX_SET_SIZE,
    TARGET_ROWS,
    Explanation,
    list_criteria,
)

__all__ = ["app", "main", "DEMO_SEED", "DEMO_KIND", "write_outputs"]

logger = logging.getLogger(__name__)

#: The built-in demo scene: the first ``test`` sample of the synthetic world with this question kind.
DEMO_KIND = "color"
#: Offset of the demo sample within the world's test split.
DEMO_SEED = 0
#: Query settings of the demo, chosen on the world's *validation* split (80 samples, last layer):
#: the demo model's heads are 16 wide, too few samples for Fisher's z over ~45 tokens (N = 16
#: explained 19-23 of 80 answers); N = the 64-wide hidden state and the predicting position's row
#: explained 69, 66 of them with a subset of the ground-truth causes (benchmarks/RESULTS.md).
DEMO_EXPLAIN = {"layer": -1, "n_samples": "hidden_size", "target_row": "predicting"}

app = typer.Typer(
    name="whytoken",
    help="Why was this token generated? Minimal, verified explanations from attention-based causal graphs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
graph_app = typer.Typer(help="Read and convert graph files.", no_args_is_help=True)
app.add_typer(graph_app, name="graph")
app.add_typer(experiment_app, name="experiment")

_state: dict[str, Any] = {"debug": False}
out_console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks and debug logging."),
    threads: Optional[int] = typer.Option(None, "--threads", min=1,
                                          help="Torch CPU threads (default: torch's own choice)."),
) -> None:
    _state["debug"] = debug
    _state["threads"] = threads
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")


@contextlib.contextmanager
def _errors() -> Iterator[None]:
    """Turn WhytokenError into one red line and exit code 2 (the traceback only with --debug)."""
    try:
        yield
    except WhytokenError as err:
        if _state.get("debug"):
            err_console.print_exception()
        # soft_wrap: the message stays one line however narrow the terminal is
        err_console.print(f"[bold red]error:[/] [red]{_escape(str(err))}[/]", soft_wrap=True)
        err_console.print(f"[dim]({type(err).__name__}; run with --debug for the traceback)[/]", soft_wrap=True)
        raise typer.Exit(code=2) from None


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def _progress() -> Progress:
    return Progress(SpinnerColumn(), TextColumn("[progress.description]{task.description}"), BarColumn(),
                    MofNCompleteColumn(), TimeElapsedColumn(), console=err_console, transient=False)


def _set_threads() -> None:
    if _state.get("threads"):
        import torch

        torch.set_num_threads(int(_state["threads"]))


# ---------------------------------------------------------------------- shared pipeline
def _parse_heads(heads: str) -> str | list[int]:
    text = heads.strip().lower()
    if text == "all":
        return "all"
    try:
        return [int(h) for h in text.replace(" ", ",").split(",") if h]
    except ValueError:
        raise InvalidParameterError(f"cannot read --heads {heads!r}; pass 'all' or comma-separated indices "
                                    "such as 0,3,5") from None


def _parse_layers(layers: str) -> tuple[int, ...] | str:
    text = layers.strip().lower()
    if text == "all":
        return "all"
    try:
        return tuple(int(x) for x in text.replace(" ", ",").split(",") if x)
    except ValueError:
        raise InvalidParameterError(f"cannot read --layers {layers!r}; pass 'all' or comma-separated layer "
                                    "indices such as -1 or 0,5,-1") from None


def _load_model(model: str, progress: Progress) -> Any:
    from whytoken.adapters import load_model

    task = progress.add_task(f"Loading {model}", total=1)
    adapter = load_model(model)
    progress.update(task, completed=1)
    return adapter


def _trace(adapter: Any, progress: Progress, prompt: str, image: Any, max_new_tokens: int,
           layers: tuple[int, ...] | str, chat_template: bool | None = None) -> Any:
    task = progress.add_task("Generating and tracing attention", total=1)
    trace = adapter.trace(image=image, prompt=prompt, max_new_tokens=max_new_tokens, layers=layers,
                          chat_template=chat_template)
    progress.update(task, completed=1)
    return trace


def _explain(trace: Any, target: Any, progress: Progress, model: Any = None, **kwargs: Any) -> Explanation:
    from whytoken.query import explain

    learn = progress.add_task("Learning a graph per head", total=None)
    verify = progress.add_task("Verifying candidate sets on the model", total=None, start=False,
                               visible=kwargs.get("verify", True))

    started: set[str] = set()

    def report(stage: str, done: int, total: int) -> None:
        task = learn if stage == "learn" else verify
        if stage not in started:
            started.add(stage)
            progress.start_task(task)
        progress.update(task, completed=done, total=total)

    result = explain(trace, target, model=model, progress=report, **kwargs)
    progress.update(verify, total=max(result.search.n_interventions, 1), completed=max(result.search.n_interventions, 1))
    return result


def write_outputs(explanation: Explanation, out: Path, image: Any | None = None,
                  notes: dict[str, str] | None = None) -> dict[str, Path]:
    """Write ``explanation.json``, ``graph.json``, ``graph.graphml`` and ``report.html`` into ``out``.

    ``image`` and ``notes`` go to the report (see :func:`whytoken.report.render_report`).
    Returns the written paths by name.
    """
    from whytoken.graphs import write_pag
    from whytoken.report import write_report

    out.mkdir(parents=True, exist_ok=True)
    paths = {"explanation": explanation.save(out / "explanation.json")}
    if explanation.pag is not None:
        paths["graph"] = write_pag(explanation.pag, out / "graph.json", format="json")
        paths["graphml"] = write_pag(explanation.pag, out / "graph.graphml", format="graphml")
    paths["report"] = write_report(explanation, out / "report.html", image=image, notes=notes)
    return paths


def _print_explanation(e: Explanation, paths: dict[str, Path] | None = None, truth: str | None = None) -> None:
    from whytoken.report import token_label

    lines = []
    if e.prompt:
        lines.append(f"[bold]Prompt[/]  {_escape(e.prompt)}")
    answer = e.generated_text.strip().replace("\n", " ⏎ ")
    answer = answer if len(answer) <= 60 else answer[:59] + "…"
    lines.append(f"[bold]Answer[/]  {_escape(answer)}   "
                 f"[dim](explaining {e.target.text!r} at position {e.target.position}, p = {e.target.prob:.2f})[/]")
    color = {"explained": "green", "not-explained": "yellow", "unverified": "cyan"}[e.status]
    if e.explaining_set is not None:
        members = " + ".join(f"[bold red]{_escape(token_label(m.text, m.patch))}[/]" for m in e.explaining_set.members)
        if e.status == "explained":
            outcome = e.explaining_set.outcome
            lines.append(f"[bold]Why[/]     removing {members} changes it to [bold]{_escape(outcome.top_token_text)!r}[/]"
                         f" [{color}](verified on the model)[/]")
        else:
            lines.append(f"[bold]Why[/]     best graph candidate {members} [{color}](not verified)[/]")
        if len(e.minimal_sets) > 1:
            others = "; ".join(" + ".join(token_label(m.text, m.patch) for m in s.members)
                               for s in e.minimal_sets[1:6])
            more = " ..." if len(e.minimal_sets) > 6 else ""
            lines.append(f"[bold]Also[/]    {len(e.minimal_sets) - 1} other minimal set(s): {_escape(others)}{more}")
        m = e.modality
        lines.append(f"[bold]Kinds[/]   {m['image_patch']} image patch(es), {m['prompt_text']} prompt word(s), "
                     f"{m['generated']} generated token(s)")
    else:
        lines.append(f"[{color}]{_escape(e.message)}[/]")
    if truth:
        lines.append(f"[bold]Truth[/]   {_escape(truth)}")
    s = e.search
    lines.append(f"[bold]Cost[/]    {s.n_interventions} forward passes in {s.n_model_calls} batch(es) "
                 f"(exhaustive search: {s.exhaustive_interventions}); "
                 f"{sum(h.n_ci_tests for h in e.heads)} CI tests over {len(e.heads)} head(s)")
    out_console.print(Panel("\n".join(lines), title=f"whytoken · {_escape(str(e.provenance.get('model') or ''))}",
                            border_style=color, expand=False))
    if paths:
        for name, path in paths.items():
            out_console.print(f"  wrote {name:<12} {path}")


def _common_explain_options(kwargs: dict[str, Any]) -> dict[str, Any]:
    from whytoken.query import get_criterion

    criterion = kwargs.pop("criterion")
    fraction = kwargs.pop("fraction")
    if fraction is not None and criterion != "prob-drop":
        raise InvalidParameterError(f"--fraction {fraction} only applies to --criterion prob-drop, "
                                    f"not {criterion!r}; drop it or pass --criterion prob-drop")
    kwargs["criterion"] = get_criterion(criterion, **({"fraction": fraction} if fraction is not None else {}))
    kwargs["heads"] = _parse_heads(kwargs["heads"])
    return kwargs


def _parse_n_samples(value: Optional[str]) -> int | str | None:
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


def _resolve_target(target: Optional[int], target_text: Optional[str], trace: Any) -> int | str:
    if target is not None and target_text is not None:
        raise InvalidParameterError("pass either --target or --target-text, not both")
    if target_text is not None:
        return target_text
    if target is not None:
        return target
    if not trace.generated:
        from whytoken.errors import TargetError

        raise TargetError("the model generated no tokens, so there is nothing to explain; raise --max-new-tokens")
    return int(trace.generated[0].position)


def _load_image(path: Optional[Path]) -> Any:
    if path is None:
        return None
    from PIL import Image, UnidentifiedImageError

    from whytoken.errors import InvalidImageError

    try:
        with Image.open(path) as im:
            return im.convert("RGB")
    except FileNotFoundError:
        raise InvalidImageError(f"image file {str(path)!r} does not exist; pass a PNG or JPEG path") from None
    except (UnidentifiedImageError, OSError) as err:
        raise InvalidImageError(f"cannot read image {str(path)!r} ({err}); pass a PNG or JPEG file") from None


def _trace_file(path: Path) -> Path:
    if path.is_dir():
        candidates = sorted(path.glob("*.safetensors")) + sorted(path.glob("*.npz"))
        if not candidates:
            raise CheckpointError(f"no trace file (*.safetensors or *.npz) in {str(path)!r}; "
                                  "create one with `whytoken trace ... --out DIR`")
        return candidates[0]
    if not path.exists():
        raise CheckpointError(f"trace {str(path)!r} does not exist; create one with `whytoken trace ... --out DIR`")
    return path


# ---------------------------------------------------------------------- commands
def _registry_enum(name: str, names: list[str]) -> type[enum.Enum]:
    """A str Enum of a registry's names: typer turns it into a choice list for --help and validation."""
    return enum.Enum(name, {n: n for n in names}, type=str)  # type: ignore[return-value]


LearnerName = _registry_enum("LearnerName", list_learners())
CriterionName = _registry_enum("CriterionName", list_criteria())
FormatName = _registry_enum("FormatName", list_formats())
TargetRow = _registry_enum("TargetRow", list(TARGET_ROWS))


def _value(choice: Any) -> Any:
    return choice.value if isinstance(choice, enum.Enum) else choice


@app.command()
def demo(
    out: Path = typer.Option(Path("whytoken-demo"), "--out", help="Folder for the outputs."),
    seed: int = typer.Option(DEMO_SEED, help="Which test-split scene of the synthetic world to use."),
    kind: str = typer.Option(DEMO_KIND, help="Question kind: color, exists, count or relation."),
) -> None:
    """Explain the embedded demo model's answer to a built-in scene and question."""
    with _errors():
        from whytoken.experiments.world import KINDS, generate

        if kind not in KINDS:
            raise InvalidParameterError(f"unknown question kind {kind!r}; choose one of {', '.join(KINDS)}")
        _set_threads()
        t0 = time.perf_counter()
        sample = generate("test", 1, seed=seed, kinds=(kind,))[0]
        with _progress() as progress:
            adapter = _load_model("whytoken-demo", progress)
            # the world's prompt is already in the model's format ("<image> question answer :")
            trace = _trace(adapter, progress, sample.prompt, sample.image, max_new_tokens=1, layers=(-1,),
                           chat_template=False)
            target = int(trace.generated[0].position)
            result = _explain(trace, target, progress, **DEMO_EXPLAIN)
        truth = (f"the world says {sample.answer!r} is caused by patch(es) "
                 f"{'; '.join(f'{r},{c}' for r, c in sample.cause_patches) or 'none'} and word(s) "
                 f"{', '.join(sample.cause_word_strings)}")
        notes = {"scene": f"synthetic world, test sample {seed} ({kind} question)",
                 "correct answer": sample.answer, "ground truth": truth.split(" is caused by ", 1)[1]}
        paths = write_outputs(result, out, image=sample.image, notes=notes)
        _print_explanation(result, paths, truth=truth)
        out_console.print(f"[dim]demo done in {time.perf_counter() - t0:.1f} s (model load, trace, graphs, "
                          "verification and outputs; Python and library imports not included)[/]")


@app.command("explain")
def explain_command(
    model: Optional[str] = typer.Option(None, "--model", help="Checkpoint directory or short name (e.g. "
                                        "smollm2-135m-instruct); needed unless --trace with --no-verify."),
    prompt: Optional[str] = typer.Option(None, "--prompt", help="The prompt (omit with --trace)."),
    image: Optional[Path] = typer.Option(None, "--image", help="Input image for vision-language models."),
    trace_path: Optional[Path] = typer.Option(None, "--trace", help="Explain a trace saved by `whytoken trace`."),
    out: Path = typer.Option(..., "--out", help="Folder for explanation.json, graph.* and report.html."),
    target: Optional[int] = typer.Option(None, "--target", help="Position of the generated token to explain "
                                         "(negative: from the end of the generated tokens; default: the first)."),
    target_text: Optional[str] = typer.Option(None, "--target-text", help="Text of the generated token to explain."),
    layer: int = typer.Option(-1, "--layer", help="Layer whose attention is read (negative from the last)."),
    heads: str = typer.Option("all", "--heads", help="'all' or comma-separated head indices."),
    alpha: float = typer.Option(DEFAULT_ALPHA, "--alpha", help="CI-test significance level."),
    n_samples: Optional[str] = typer.Option(None, "--n-samples", help="Effective sample size N: an int, 'head_dim' "
                                            "(the default) or 'hidden_size'."),
    method: Optional[LearnerName] = typer.Option(None, "--method",
                                         help="Structure learner (default: ordered-icd for decoders, icd for encoders)."),
    criterion: CriterionName = typer.Option("top-token", "--criterion",
                                  help="When does a removal change the target?"),
    fraction: Optional[float] = typer.Option(None, "--fraction", help="prob-drop: the fraction of the original "
                                             "probability below which the target counts as changed (default 0.5)."),
    intervention: str = typer.Option("mask", "--intervention", help="How tokens are removed (see `whytoken learners`)."),
    max_new_tokens: int = typer.Option(8, "--max-new-tokens", min=1, help="Tokens to generate."),
    chat_template: Optional[bool] = typer.Option(None, "--chat-template/--no-chat-template",
                                                 help="Wrap the prompt in the model's chat template "
                                                 "(default: when the model has one)."),
    max_set_size: int = typer.Option(DEFAULT_MAX_SET_SIZE, "--max-set-size", help="Largest explaining set tried."),
    max_range: int = typer.Option(DEFAULT_MAX_RANGE, "--max-range", help="Deepest PDS-tree level searched."),
    max_candidates: int = typer.Option(DEFAULT_MAX_CANDIDATES, "--max-candidates", help="Sets verified per size."),
    max_cond_size: Optional[int] = typer.Option(DEFAULT_MAX_COND_SIZE, "--max-cond-size", min=0,
                                                help="Largest conditioning set of the learner."),
    max_nodes: Optional[int] = typer.Option(None, "--max-nodes", help="Prune each graph to the target and the N "
                                            "tokens the predicting position attends to most (default: no pruning)."),
    include_special: bool = typer.Option(False, "--include-special", help="Allow the first token and special "
                                         "tokens in explaining sets."),
    verify: bool = typer.Option(True, "--verify/--no-verify", help="Check candidate sets on the model."),
    target_row: TargetRow = typer.Option("generated", "--target-row", help="Attention row standing for the target: "
                                         "the generated token's own, or the predicting position's."),
    seed: int = typer.Option(0, "--seed", help="Recorded seed for stochastic interventions."),
) -> None:
    """Explain one generated token of any supported model (or of a saved trace)."""
    with _errors():
        if (prompt is None) == (trace_path is None):
            raise InvalidParameterError("pass exactly one of --prompt (trace now) or --trace (a saved trace)")
        if trace_path is not None and image is not None:
            raise InvalidParameterError("--image applies when tracing with --prompt; a saved --trace keeps its image")
        if model is None and (verify or trace_path is None):
            raise InvalidParameterError("--model is required to trace a prompt or to verify candidate sets; pass "
                                        "--model DIR|SHORTNAME (see `whytoken learners`), or --trace with --no-verify")
        options = _common_explain_options(dict(
            layer=layer, heads=heads, alpha=alpha, n_samples=_parse_n_samples(n_samples), method=_value(method),
            criterion=_value(criterion), max_cond_size=max_cond_size,
            fraction=fraction, intervention=intervention, max_set_size=max_set_size, max_range=max_range,
            max_candidates=max_candidates, max_nodes=max_nodes, include_special=include_special, verify=verify,
            seed=seed,
            target_row=_value(target_row)))
        pil_image = _load_image(image)
        _set_threads()
        with _progress() as progress:
            adapter = _load_model(model, progress) if model is not None else None
            if trace_path is not None:
                from whytoken.adapters.trace import Trace

                trace = Trace.load(_trace_file(trace_path))
            else:
                trace = _trace(adapter, progress, prompt, pil_image, max_new_tokens, (layer,), chat_template)
            chosen = _resolve_target(target, target_text, trace)
            result = _explain(trace, chosen, progress, model=adapter, **options)
        picture = trace.images[0] if getattr(trace, "images", ()) else pil_image
        paths = write_outputs(result, out, image=picture)
        _print_explanation(result, paths)


@app.command("trace")
def trace_command(
    model: str = typer.Option(..., "--model", help="Checkpoint directory or short name."),
    prompt: str = typer.Option(..., "--prompt", help="The prompt."),
    out: Path = typer.Option(..., "--out", help="Folder for trace.safetensors, or a file name ending in "
                             ".safetensors or .npz."),
    image: Optional[Path] = typer.Option(None, "--image", help="Input image for vision-language models."),
    max_new_tokens: int = typer.Option(8, "--max-new-tokens", min=1, help="Tokens to generate."),
    layers: str = typer.Option("-1", "--layers", help="'all' or comma-separated layers to capture."),
    chat_template: Optional[bool] = typer.Option(None, "--chat-template/--no-chat-template",
                                                 help="Wrap the prompt in the model's chat template "
                                                 "(default: when the model has one)."),
) -> None:
    """Generate, record attention, and save the trace to explain later."""
    with _errors():
        parsed = _parse_layers(layers)
        pil_image = _load_image(image)
        _set_threads()
        with _progress() as progress:
            adapter = _load_model(model, progress)
            trace = _trace(adapter, progress, prompt, pil_image, max_new_tokens, parsed, chat_template)
        if out.suffix.lower() in (".safetensors", ".npz"):  # a file name rather than a folder
            out.parent.mkdir(parents=True, exist_ok=True)
            path = trace.save(out)
        else:
            out.mkdir(parents=True, exist_ok=True)
            path = trace.save(out / "trace.safetensors")
        table = Table(title="generated tokens", show_lines=False)
        table.add_column("position", justify="right")
        table.add_column("text")
        table.add_column("prob", justify="right")
        for g in trace.generated:
            table.add_row(str(g.position), repr(g.text), f"{g.prob:.3f}")
        out_console.print(table)
        out_console.print(f"wrote trace ({trace.n_positions} positions, layers {list(trace.layers)}) to {path}")
        out_console.print(f"[dim]explain it with: whytoken explain --trace {out} --model {model} --out DIR[/]")


@graph_app.command("export")
def graph_export(
    file: Path = typer.Argument(..., help="A graph file (whytoken.pag/1 JSON, GraphML, DOT) or an explanation.json."),
    format: FormatName = typer.Option(..., "--format", help="Output format."),
    out: Optional[Path] = typer.Option(None, "--out", help="Output path (default: FILE with the format's suffix)."),
    head: Optional[int] = typer.Option(None, "--head", help="For an explanation: which head's graph "
                                       "(default: the head that ranked the answer best)."),
) -> None:
    """Convert a graph, or the graph inside a saved explanation, to another format."""
    with _errors():
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
                explanation = Explanation.from_json(doc)
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
        fmt = get_format(_value(format))
        target = out if out is not None else file.with_suffix(fmt.suffixes[0])
        if target.resolve() == file.resolve():
            raise InvalidParameterError(f"--out {str(target)!r} would overwrite the input; pass another --out")
        written = write_pag(pag, target, format=fmt.name)
        out_console.print(f"wrote {fmt.name} graph ({len(pag)} nodes, {pag.number_of_edges()} edges) to {written}")


@app.command("learners")
def learners_command() -> None:
    """List what the registries offer: learners, criteria, graph formats, interventions, models."""
    with _errors():
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
            table.add_row("interventions, models", f"[dim]unavailable: {_escape(str(err))}[/]")
        out_console.print(table)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``whytoken`` console script; returns the exit code."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        app(args=argv, prog_name="whytoken", standalone_mode=True)
    except SystemExit as exit_:
        code = exit_.code
        return int(code) if isinstance(code, int) else (0 if code is None else 1)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
