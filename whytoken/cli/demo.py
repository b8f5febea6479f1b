"""``whytoken demo``: explain the embedded demo model's answer to a built-in scene."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from whytoken.cli.boundary import errors, out_console, progress, set_threads
from whytoken.cli.panel import print_explanation
from whytoken.cli.pipeline import explain_step, load_model_step, trace_step, write_outputs
from whytoken.errors import InvalidParameterError

__all__ = ["DEMO_KIND", "DEMO_SEED", "DEMO_EXPLAIN", "demo"]

#: The built-in demo scene: the first ``test`` sample of the synthetic world with this question kind.
DEMO_KIND = "color"
#: Offset of the demo sample within the world's test split.
DEMO_SEED = 0
#: Query settings of the demo beyond the library defaults: none. The demo's former settings (N = the
#: hidden size, the predicting position's row) became the defaults of ``explain`` in whytoken 0.2;
#: the name stays for callers that pass ``**DEMO_EXPLAIN``.
DEMO_EXPLAIN: dict = {}


def demo(
    out: Path = typer.Option(Path("whytoken-demo"), "--out", help="Folder for the outputs."),
    seed: int = typer.Option(DEMO_SEED, help="Which test-split scene of the synthetic world to use."),
    kind: str = typer.Option(DEMO_KIND, help="Question kind: color, exists, count or relation."),
) -> None:
    """Explain the embedded demo model's answer to a built-in scene and question."""
    with errors():
        from whytoken.experiments.worlds.demo import KINDS, generate

        if kind not in KINDS:
            raise InvalidParameterError(f"unknown question kind {kind!r}; choose one of {', '.join(KINDS)}")
        set_threads()
        t0 = time.perf_counter()
        sample = generate("test", 1, seed=seed, kinds=(kind,))[0]
        with progress() as bar:
            adapter = load_model_step("whytoken-demo", bar)
            # the world's prompt is already in the model's format ("<image> question answer :")
            trace = trace_step(adapter, bar, sample.prompt, sample.image, max_new_tokens=1, layers=(-1,),
                               chat_template=False)
            result = explain_step(trace, None, bar, **DEMO_EXPLAIN)  # the answer's first token
        truth = (f"the world says {sample.answer!r} is caused by patch(es) "
                 f"{'; '.join(f'{r},{c}' for r, c in sample.cause_patches) or 'none'} and word(s) "
                 f"{', '.join(sample.cause_word_strings)}")
        notes = {"scene": f"synthetic world, test sample {seed} ({kind} question)",
                 "correct answer": sample.answer, "ground truth": truth.split(" is caused by ", 1)[1]}
        paths = write_outputs(result, out, image=sample.image, notes=notes)
        print_explanation(result, paths, truth=truth)
        out_console.print(f"[dim]demo done in {time.perf_counter() - t0:.1f} s (model load, trace, graphs, "
                          "verification and outputs; Python and library imports not included)[/]")
