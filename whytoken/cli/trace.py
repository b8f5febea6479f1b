"""``whytoken trace``: generate, record attention, save the trace to explain later."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from whytoken.cli.boundary import doing, errors, out_console, progress, set_threads
from whytoken.cli.options import load_image, parse_layers
from whytoken.cli.pipeline import load_model_step, trace_step
from whytoken.files import ensure_directory

__all__ = ["trace_command"]


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
    with errors():
        parsed = parse_layers(layers)
        pil_image = load_image(image)
        set_threads()
        with progress() as bar:
            adapter = load_model_step(model, bar)
            trace = trace_step(adapter, bar, prompt, pil_image, max_new_tokens, parsed, chat_template)
        with doing(f"saving the trace to {str(out)!r}"):
            if out.suffix.lower() in (".safetensors", ".npz"):  # a file name rather than a folder
                ensure_directory(out.parent, what="directory of --out")
                path = trace.save(out)
            else:
                ensure_directory(out, what="--out directory")
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
