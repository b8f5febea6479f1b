"""``whytoken serve``: the interactive viewer on localhost (see :mod:`whytoken.viewer`)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from whytoken.cli.boundary import doing, errors, out_console

__all__ = ["serve_command", "DEFAULT_PORT"]

#: The port model demos of this field use by convention (Gradio's); ``--port 0`` picks a free one.
DEFAULT_PORT = 7860


def serve_command(
    model: Optional[str] = typer.Option(None, "--model", help="Checkpoint directory or short name to load once "
                                        "(default: the embedded demo model; none with --open alone)."),
    port: int = typer.Option(DEFAULT_PORT, "--port", min=0, max=65535, help="Port on 127.0.0.1 (0: a free one)."),
    open_dir: Optional[Path] = typer.Option(None, "--open", help="A folder of saved results (the --out of "
                                            "`whytoken explain` / `whytoken demo`) to show, without a model."),
) -> None:
    """Open the interactive viewer: generate, click a token to explain it, explore heads, graph and maps."""
    with errors():
        import socket

        from whytoken.errors import InvalidParameterError
        from whytoken.viewer import require_viewer, serve

        require_viewer()
        if port:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    raise InvalidParameterError(f"--port {port} is already in use on 127.0.0.1; pass another "
                                                "--port, or --port 0 for a free one")
        with doing(f"starting the viewer ({'model ' + model if model else 'saved results' if open_dir else 'demo'})"):
            serve(model=model, port=port, open_dir=open_dir,
                  ready=lambda url: out_console.print(f"whytoken viewer on [bold]{url}[/] (Ctrl-C to stop)",
                                                      soft_wrap=True))
