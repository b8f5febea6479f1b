"""``whytoken serve``: a local interactive viewer of explanations.

The viewer loads a model once and lets a researcher enter a prompt, upload an
image, generate, and click any generated token to explain it (progress shown
while the graphs are learned and the sets verified); switch layer and head;
explore the PAG around the target (pan, zoom, search, hover for token, patch
and edge marks; thousands of edges stay responsive); compare the image under
the explaining set, raw attention, attention rollout and relevancy heatmaps;
read the per-head table; and download ``explanation.json``, ``graph.json``,
``graph.graphml`` and ``report.html``. ``--open DIR`` shows saved results
without a model.

Stack: a small Starlette (ASGI) app served by uvicorn on localhost, and a
single static page drawing the graph with Cytoscape.js, bundled in
``whytoken/viewer/static/vendor`` (MIT). Nothing is fetched from the network.
Install with ``pip install 'whytoken[viewer]'`` (``scripts/setup_env.py --dev``
does it).

Examples
--------
>>> from whytoken.viewer import viewer_available
>>> isinstance(viewer_available(), bool)
True
"""

from __future__ import annotations

import importlib.util
import logging
import socket
from pathlib import Path
from typing import Any

from whytoken.errors import WhytokenError

__all__ = ["serve", "viewer_available", "require_viewer", "ViewerDependencyError", "free_port", "INSTALL_HINT"]

logger = logging.getLogger(__name__)

#: What to install when the viewer's dependencies are missing.
INSTALL_HINT = "pip install 'whytoken[viewer]'  (or: pip install starlette uvicorn)"
_PACKAGES = ("starlette", "uvicorn")


class ViewerDependencyError(WhytokenError, ImportError):
    """The viewer's optional dependencies (starlette, uvicorn) are not installed."""


def viewer_available() -> bool:
    """Whether starlette and uvicorn can be imported."""
    return all(importlib.util.find_spec(name) is not None for name in _PACKAGES)


def require_viewer() -> None:
    """Raise :class:`ViewerDependencyError` naming what to install when the viewer cannot run."""
    missing = [name for name in _PACKAGES if importlib.util.find_spec(name) is None]
    if missing:
        raise ViewerDependencyError(f"`whytoken serve` needs {', '.join(missing)} (the viewer extra), which "
                                    f"{'is' if len(missing) == 1 else 'are'} not installed; install it with: "
                                    f"{INSTALL_HINT}")


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def serve(model: str | None = None, port: int = 0, open_dir: str | Path | None = None, host: str = "127.0.0.1",
          adapter: Any | None = None, ready: Any | None = None) -> None:
    """Run the viewer until interrupted.

    Parameters
    ----------
    model : str, optional
        A name or checkpoint directory for :func:`whytoken.load_model`; without it and without
        ``open_dir`` the embedded demo model is loaded.
    port : int
        0 picks a free port.
    open_dir : path, optional
        A folder of saved results (``explanation.json`` files) to show; with no ``model`` none is loaded.
    host : str
        Only localhost addresses are accepted: the viewer runs code on the model for whoever can reach it.
    adapter : optional
        An adapter already loaded (instead of ``model``).
    ready : callable, optional
        Called with the URL once the server listens.
    """
    require_viewer()
    import uvicorn

    from whytoken.errors import InvalidParameterError
    from whytoken.viewer.app import create_app
    from whytoken.viewer.session import ViewerSession

    if host not in ("127.0.0.1", "localhost", "::1"):
        raise InvalidParameterError(f"--host {host!r} is not a localhost address; the viewer only listens on "
                                    "127.0.0.1 (use an SSH tunnel to reach it from elsewhere)")
    if adapter is None and (model is not None or open_dir is None):
        from whytoken.adapters import load_model

        name = model or "whytoken-demo"
        adapter = load_model(name)
        model = name
    session = ViewerSession(adapter, model_name=model or "", open_dir=Path(open_dir) if open_dir else None)
    port = port or free_port(host)
    config = uvicorn.Config(create_app(session), host=host, port=port, log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    url = f"http://{host}:{port}/"
    if ready is not None:
        original = server.startup

        async def startup(*args: Any, **kwargs: Any) -> None:
            await original(*args, **kwargs)
            ready(url)

        server.startup = startup  # type: ignore[method-assign]
    logger.info("whytoken viewer on %s", url)
    server.run()
