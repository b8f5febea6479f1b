"""The steps the explaining commands share: load, trace, explain (with progress), write outputs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.progress import Progress

from whytoken.cli.boundary import doing
from whytoken.errors import InvalidParameterError
from whytoken.files import ensure_directory
from whytoken.query import AnswerExplanation, Explanation

__all__ = ["load_model_step", "trace_step", "explain_step", "explain_options", "write_outputs",
           "write_answer_outputs"]


def load_model_step(model: str, progress: Progress) -> Any:
    """``load_model(model)`` with a progress line."""
    from whytoken.adapters import load_model

    task = progress.add_task(f"Loading {model}", total=1)
    with doing(f"loading the model {model!r}"):
        adapter = load_model(model)
    progress.update(task, completed=1)
    return adapter


def trace_step(adapter: Any, progress: Progress, prompt: str, image: Any, max_new_tokens: int,
               layers: tuple[int, ...] | str, chat_template: bool | None = None) -> Any:
    """``adapter.trace(...)`` with a progress line."""
    task = progress.add_task("Generating and tracing attention", total=1)
    with doing("generating and tracing attention"):
        trace = adapter.trace(image=image, prompt=prompt, max_new_tokens=max_new_tokens, layers=layers,
                              chat_template=chat_template)
    progress.update(task, completed=1)
    return trace


def explain_step(trace: Any, target: Any, progress: Progress, model: Any = None,
                 **kwargs: Any) -> Explanation | AnswerExplanation:
    """``whytoken.query.explain(...)`` with progress bars for learning, verification and (``all``) targets."""
    from whytoken.query import explain

    learn = progress.add_task("Learning a graph per head", total=None)
    verify = progress.add_task("Verifying removals on the model (of the budget)", total=None, start=False,
                               visible=kwargs.get("verify", True))
    tasks = {"learn": learn, "verify": verify}
    if target == "all":
        tasks["target"] = progress.add_task("Explaining the answer's tokens", total=None, start=False)

    started: set[str] = set()

    def report(stage: str, done: int, total: int) -> None:
        task = tasks.get(stage)
        if task is None:
            return
        if stage not in started:
            started.add(stage)
            progress.start_task(task)
        progress.update(task, completed=done, total=total)

    with doing("explaining the target"):
        result = explain(trace, target, model=model, progress=report, **kwargs)
    last = result.explanations[-1] if isinstance(result, AnswerExplanation) else result
    progress.update(verify, total=max(last.search.passes_used, 1), completed=max(last.search.passes_used, 1))
    return result


def explain_options(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The explain options with ``criterion``/``fraction`` turned into a criterion and ``heads`` parsed."""
    from whytoken.cli.options import parse_heads
    from whytoken.query import get_criterion

    criterion = kwargs.pop("criterion")
    fraction = kwargs.pop("fraction")
    if fraction is not None and criterion != "prob-drop":
        raise InvalidParameterError(f"--fraction {fraction} only applies to --criterion prob-drop, "
                                    f"not {criterion!r}; drop it or pass --criterion prob-drop")
    kwargs["criterion"] = get_criterion(criterion, **({"fraction": fraction} if fraction is not None else {}))
    kwargs["heads"] = parse_heads(kwargs["heads"])
    return kwargs


def write_outputs(explanation: Explanation, out: Path, image: Any | None = None,
                  notes: dict[str, str] | None = None, answer: AnswerExplanation | None = None) -> dict[str, Path]:
    """Write ``explanation.json``, ``graph.json``, ``graph.graphml`` and ``report.html`` into ``out``.

    ``image``, ``notes`` and ``answer`` (the whole answer this token belongs to, for the report's
    step-through strip) go to the report (see :func:`whytoken.report.render_report`).
    Returns the written paths by name. ``out`` is created if needed; an existing file there
    raises :class:`~whytoken.errors.OutputError`. Each file is written atomically.
    """
    from whytoken.graphs import write_pag
    from whytoken.report import write_report

    with doing(f"writing the outputs to {str(out)!r}"):
        ensure_directory(out, what="--out directory")
        paths = {"explanation": explanation.save(out / "explanation.json")}
        if explanation.pag is not None:
            paths["graph"] = write_pag(explanation.pag, out / "graph.json", format="json")
            paths["graphml"] = write_pag(explanation.pag, out / "graph.graphml", format="graphml")
        paths["report"] = write_report(explanation, out / "report.html", image=image, notes=notes, answer=answer)
    return paths


def write_answer_outputs(answer: AnswerExplanation, out: Path, image: Any | None = None) -> dict[int, dict[str, Path]]:
    """Write ``answer.json`` into ``out`` and one folder of :func:`write_outputs` per explained token
    (``token-<position>``); return the written paths per target position."""
    from whytoken.files import ensure_directory

    with doing(f"writing the outputs to {str(out)!r}"):
        ensure_directory(out, what="--out directory")
        answer.save(out / "answer.json")
    return {e.target.position: write_outputs(e, out / f"token-{e.target.position}", image=image, answer=answer)
            for e in answer.explanations}
