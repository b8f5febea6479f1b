"""``whytoken demo``: explain a packaged model's answer to a built-in scene of its world.

``--model`` picks one of the packaged vision-language models (:data:`DEMO_MODELS`): the embedded
36-patch demo LLaVA (default, fast), the 576-patch world model, or the model trained on easy-VQA.
Each comes with a world that knows the ground truth, which the result panel and the report show
next to the explanation.
"""

from __future__ import annotations

import importlib
import time
from pathlib import Path
from typing import Any

import typer

from whytoken.cli.boundary import errors, out_console, progress, set_threads
from whytoken.cli.panel import print_explanation
from whytoken.cli.pipeline import explain_step, load_model_step, trace_step, write_outputs
from whytoken.errors import InvalidParameterError

__all__ = ["DEMO_KIND", "DEMO_SEED", "DEMO_EXPLAIN", "DEMO_MODELS", "demo", "demo_sample"]

#: The built-in demo scene of the embedded model: the first ``test`` sample with this question kind.
DEMO_KIND = "color"
#: Offset of that sample within the world's test split.
DEMO_SEED = 0
#: Query settings of the demo beyond the library defaults: none. The demo's former settings (N = the
#: hidden size, the predicting position's row) became the defaults of ``explain`` in whytoken 0.2;
#: the name stays for callers that pass ``**DEMO_EXPLAIN``.
DEMO_EXPLAIN: dict = {}
#: Packaged model -> ``module:function`` returning its world's demo sample (``--seed``/``--kind`` apply to
#: the embedded model only).
DEMO_MODELS = {
    "whytoken-demo": "",
    "whytoken-world576": "whytoken.experiments.worlds.world576:demo_sample",
    "whytoken-easyvqa": "whytoken.experiments.worlds.easyvqa:demo_sample",
}


def demo_sample(model: str, seed: int = DEMO_SEED, kind: str = DEMO_KIND) -> Any:
    """The scene, question and ground truth ``whytoken demo --model MODEL`` explains.

    Raises
    ------
    InvalidParameterError
        For a model without a demo world, or an unknown question kind.
    """
    if model not in DEMO_MODELS:
        raise InvalidParameterError(f"no demo world for model {model!r}; choose one of {', '.join(DEMO_MODELS)} "
                                    "(any other model: whytoken explain --model ...)")
    if not DEMO_MODELS[model]:
        from whytoken.experiments.worlds.demo import KINDS, generate

        if kind not in KINDS:
            raise InvalidParameterError(f"unknown question kind {kind!r}; choose one of {', '.join(KINDS)}")
        return generate("test", 1, seed=seed, kinds=(kind,))[0]
    module, function = DEMO_MODELS[model].split(":")
    return getattr(importlib.import_module(module), function)()


def _truth(sample: Any) -> str:
    """``'green' is caused by patch(es) 1,2 and word(s) cross`` (long patch lists summarised)."""
    patches = [f"{r},{c}" for r, c in getattr(sample, "cause_patches", ())]
    if len(patches) > 8:
        rows = [r for r, _ in sample.cause_patches]
        cols = [c for _, c in sample.cause_patches]
        where = (f"{len(patches)} patches in rows {min(rows)}-{max(rows)}, columns {min(cols)}-{max(cols)}")
    else:
        where = "; ".join(patches) or "none"
    words = ", ".join(sample.cause_word_strings) or "none"
    return f"the world says {sample.answer!r} is caused by patch(es) {where} and word(s) {words}"


def demo(
    out: Path = typer.Option(Path("whytoken-demo"), "--out", help="Folder for the outputs."),
    model: str = typer.Option("whytoken-demo", "--model",
                              help="Packaged model with a demo world: whytoken-demo (embedded, fast), "
                                   "whytoken-easyvqa, whytoken-world576 (576 image tokens, slow on CPU)."),
    seed: int = typer.Option(DEMO_SEED, help="Which test-split scene of the embedded model's world to use."),
    kind: str = typer.Option(DEMO_KIND, help="Question kind of the embedded model's world: color, exists, count "
                                             "or relation."),
) -> None:
    """Explain a packaged model's answer to a built-in scene and question (default: the fast embedded one)."""
    with errors():
        sample = demo_sample(model, seed, kind)
        set_threads()
        t0 = time.perf_counter()
        with progress() as bar:
            adapter = load_model_step(model, bar)
            # the world's prompt is already in the model's format
            trace = trace_step(adapter, bar, sample.prompt, sample.image, max_new_tokens=1, layers=(-1,),
                               chat_template=False)
            result = explain_step(trace, None, bar, **DEMO_EXPLAIN)  # the answer's first token
        truth = _truth(sample)
        scene = (f"synthetic world, test sample {seed} ({kind} question)" if not DEMO_MODELS[model]
                 else f"{model}'s world, test sample {getattr(sample, 'sample_id', getattr(sample, 'seed', ''))}")
        notes = {"scene": scene, "correct answer": sample.answer, "ground truth": truth.split(" is caused by ", 1)[1]}
        paths = write_outputs(result, out, image=sample.image, notes=notes)
        print_explanation(result, paths, truth=truth)
        out_console.print(f"[dim]demo done in {time.perf_counter() - t0:.1f} s (model load, trace, graphs, "
                          "verification and outputs; Python and library imports not included)[/]")
