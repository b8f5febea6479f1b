"""The viewer's HTTP API and page: a small Starlette app over a :class:`~whytoken.viewer.session.ViewerSession`.

Routes
------
``GET /``                         the page (``static/index.html``)
``GET /static/...``               its script, style and the bundled Cytoscape.js
``GET /api/state``                model name, mode (``model`` or ``open``), results so far, settings
``POST /api/generate``            ``{"prompt", "image" (data URI or null), "max_new_tokens"}`` -> a job
``POST /api/explain``             ``{"trace", "position", "layer"}`` -> a job
``POST /api/explain-all``         ``{"trace", "layer"}`` -> a job explaining every generated token (chains too)
``GET /api/jobs/{id}``            the job's state, stage and counts; ``result`` when done
``GET /api/results/{id}``         the page's JSON of one explanation (:mod:`whytoken.viewer.payload`)
``GET /api/results/{id}/{file}``  downloads: explanation.json, graph.json, graph.graphml, report.html

Bad requests answer 400 with ``{"error": message}`` (the message of the
:class:`~whytoken.errors.WhytokenError`: the bad value and the fix).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from whytoken.errors import InvalidParameterError, WhytokenError
from whytoken.viewer.session import ViewerSession
from whytoken.viewer.store import DOWNLOADS

__all__ = ["create_app", "STATIC_DIR"]

logger = logging.getLogger(__name__)

#: The page's files, all bundled (nothing is fetched from the network).
STATIC_DIR = Path(__file__).resolve().parent / "static"


def create_app(session: ViewerSession) -> Any:
    """The ASGI app serving ``session``."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import FileResponse, JSONResponse, Response
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles

    from whytoken.report.svg import png_data_uri
    from whytoken.viewer.payload import explanation_payload

    payload_cache: dict[str, dict] = {}

    async def body(request: Request) -> dict[str, Any]:
        try:
            data = json.loads(await request.body() or b"{}")
        except ValueError as err:
            raise InvalidParameterError(f"the request body is not JSON ({err}); send a JSON object") from None
        if not isinstance(data, dict):
            raise InvalidParameterError("the request body must be a JSON object")
        return data

    def guarded(handler: Any) -> Any:
        async def run(request: Request) -> Response:
            try:
                return await handler(request)
            except WhytokenError as err:
                return JSONResponse({"error": str(err), "type": type(err).__name__}, status_code=400)
        return run

    async def index(request: Request) -> Response:
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html")

    async def favicon(request: Request) -> Response:
        return FileResponse(STATIC_DIR / "favicon.svg", media_type="image/svg+xml")

    async def state(request: Request) -> Response:
        return JSONResponse({"model": session.model_name, "mode": "model" if session.adapter is not None else "open",
                             "results": session.store.list(),
                             "settings": {k: str(v) for k, v in session.settings.items()}})

    async def generate(request: Request) -> Response:
        data = await body(request)
        template = data.get("chat_template")
        job = session.generate(str(data.get("prompt", "")), data.get("image"), int(data.get("max_new_tokens", 8)),
                               None if template is None else bool(template))
        return JSONResponse(job.to_json())

    async def explain(request: Request) -> Response:
        data = await body(request)
        try:
            position = int(data["position"])
        except (KeyError, TypeError, ValueError):
            raise InvalidParameterError(f"explain needs an integer 'position' of a generated token, got "
                                        f"{data.get('position')!r}") from None
        layer = data.get("layer")
        job = session.explain(str(data.get("trace", "")), position, None if layer in (None, "") else int(layer))
        return JSONResponse(job.to_json())

    async def explain_all(request: Request) -> Response:
        data = await body(request)
        layer = data.get("layer")
        job = session.explain_all(str(data.get("trace", "")), None if layer in (None, "") else int(layer))
        return JSONResponse(job.to_json())

    async def job(request: Request) -> Response:
        return JSONResponse(session.jobs.get(request.path_params["job_id"]).to_json())

    async def result(request: Request) -> Response:
        rid = request.path_params["result_id"]
        if rid not in payload_cache:
            r = session.store.get(rid)
            uri = png_data_uri(r.image, max_side=672) if r.image is not None else None
            payload_cache[rid] = {"id": rid, "title": r.title, "trace": r.trace_id,
                                  **explanation_payload(r.explanation, uri, r.baselines, r.layers)}
        return JSONResponse(payload_cache[rid])

    async def download(request: Request) -> Response:
        rid, name = request.path_params["result_id"], request.path_params["name"]
        path = session.store.file(rid, name)
        return FileResponse(path, media_type=DOWNLOADS[name], filename=name)

    routes = [
        Route("/", index),
        Route("/favicon.ico", favicon),
        Route("/api/state", guarded(state)),
        Route("/api/generate", guarded(generate), methods=["POST"]),
        Route("/api/explain", guarded(explain), methods=["POST"]),
        Route("/api/explain-all", guarded(explain_all), methods=["POST"]),
        Route("/api/jobs/{job_id}", guarded(job)),
        Route("/api/results/{result_id}", guarded(result)),
        Route("/api/results/{result_id}/{name}", guarded(download)),
        Mount("/static", app=StaticFiles(directory=str(STATIC_DIR)), name="static"),
    ]
    return Starlette(routes=routes)
