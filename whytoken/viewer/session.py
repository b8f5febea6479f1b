"""What one ``whytoken serve`` process holds: the model (loaded once), its traces, the results and the job runner.

:class:`ViewerSession` does the model work the page asks for -- generate a
trace from a prompt and an image, explain a generated token at a layer,
compute baseline maps (rollout, relevancy) for comparison -- as background jobs
(:class:`~whytoken.viewer.jobs.JobRunner`). Without a model (``--open DIR``) it
only serves saved results.
"""

from __future__ import annotations

import base64
import io
import logging
import tempfile
import threading
from pathlib import Path
from typing import Any, Mapping

from whytoken.errors import InvalidImageError, InvalidParameterError, InvalidPromptError
from whytoken.viewer.jobs import JobRunner
from whytoken.viewer.store import ResultStore, find_saved, read_saved_image

__all__ = ["ViewerSession", "BASELINE_MAPS", "decode_image", "explain_settings"]

logger = logging.getLogger(__name__)

#: Baseline maps computed next to each explanation (when the model and trace allow).
BASELINE_MAPS = ("rollout", "relevancy")
_MAX_IMAGE_BYTES = 20 * 1024 * 1024


def explain_settings() -> dict[str, Any]:
    """The query settings the viewer uses: the CLI demo's tuned ones while they exist, else the library defaults."""
    try:
        from whytoken.cli import DEMO_EXPLAIN
    except ImportError:
        return {}
    return {k: v for k, v in dict(DEMO_EXPLAIN).items() if k != "layer"}


def decode_image(data_uri: str | None) -> Any | None:
    """A PIL image from a ``data:image/...;base64,`` URI sent by the page (None stays None).

    Examples
    --------
    >>> decode_image("data:text/plain;base64,aGk=")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    whytoken.errors.InvalidImageError: the uploaded file is not an image (type 'text/plain'); ...
    """
    if not data_uri:
        return None
    from PIL import Image, UnidentifiedImageError

    head, _, body = str(data_uri).partition(",")
    kind = head[5:].split(";")[0] if head.startswith("data:") else "?"
    if not kind.startswith("image/"):
        raise InvalidImageError(f"the uploaded file is not an image (type {kind!r}); upload a PNG or JPEG")
    if len(body) * 3 // 4 > _MAX_IMAGE_BYTES:
        raise InvalidImageError(f"the uploaded image is larger than {_MAX_IMAGE_BYTES // 2 ** 20} MB; "
                                "upload a smaller PNG or JPEG")
    try:
        with Image.open(io.BytesIO(base64.b64decode(body, validate=False))) as im:
            return im.convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError) as err:
        raise InvalidImageError(f"cannot read the uploaded image ({err}); upload a PNG or JPEG") from None


class ViewerSession:
    """The state behind the viewer's API.

    Parameters
    ----------
    adapter : optional
        A :func:`whytoken.load_model` adapter; None for a viewer of saved results only.
    model_name : str
        Shown in the page header.
    open_dir : Path, optional
        A folder of saved results to list (``--open``).
    workdir : Path, optional
        Where downloads are written (default: a fresh temporary folder).
    """

    def __init__(self, adapter: Any | None = None, model_name: str = "", open_dir: Path | None = None,
                 workdir: Path | None = None) -> None:
        self.adapter = adapter
        self.model_name = model_name or (getattr(adapter, "name", "") if adapter is not None else "")
        self.store = ResultStore(Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="whytoken-serve-")))
        self.jobs = JobRunner()
        self._traces: dict[str, Any] = {}
        self._trace_images: dict[str, Any] = {}
        self._lock = threading.Lock()
        self.settings = explain_settings()
        if open_dir is not None:
            self.open(Path(open_dir))

    # ---------------------------------------------------------------- saved results
    def open(self, directory: Path) -> list[str]:
        """Add every saved result under ``directory``; returns their ids."""
        import json

        from whytoken.query import Explanation

        ids = []
        for folder in find_saved(directory):
            explanation = Explanation.load(folder / "explanation.json")
            baselines = {}
            if (folder / "baselines.json").is_file():
                raw = json.loads((folder / "baselines.json").read_text(encoding="utf-8"))
                baselines = {name: {int(p): float(v) for p, v in scores.items()} for name, scores in raw.items()}
            title = f"{folder.name}: why {explanation.target.text!r}"
            ids.append(self.store.add(explanation, title, image=read_saved_image(folder), baselines=baselines,
                                      folder=folder).id)
        return ids

    # ---------------------------------------------------------------- model work
    def _need_model(self) -> Any:
        if self.adapter is None:
            raise InvalidParameterError("this viewer has no model (it was started with --open only); restart it "
                                        "with `whytoken serve --model NAME` to generate and explain")
        return self.adapter

    def trace(self, trace_id: str) -> Any:
        with self._lock:
            trace = self._traces.get(trace_id)
        if trace is None:
            raise InvalidParameterError(f"unknown trace {trace_id!r}; generate first")
        return trace

    def generate(self, prompt: str, image_uri: str | None = None, max_new_tokens: int = 8,
                 chat_template: bool | None = None) -> Any:
        """Queue a generation job; its result is ``{"trace": id, "generated": [...], ...}``.

        ``chat_template``: wrap the prompt in the model's chat template (None: when it has one).
        """
        adapter = self._need_model()
        if not str(prompt or "").strip():
            raise InvalidPromptError("the prompt is empty; type a question or a sentence to continue")
        if not 1 <= int(max_new_tokens) <= 256:
            raise InvalidParameterError(f"max new tokens {max_new_tokens} is outside 1-256; pick e.g. 8")
        image = decode_image(image_uri)

        def work(progress: Any) -> dict[str, Any]:
            progress("generating and tracing attention (every layer)", 0, 1)
            trace = adapter.trace(image=image, prompt=prompt, max_new_tokens=int(max_new_tokens), layers="all",
                                  chat_template=chat_template)
            with self._lock:
                trace_id = f"t{len(self._traces) + 1}"
                self._traces[trace_id] = trace
                self._trace_images[trace_id] = trace.images[0] if getattr(trace, "images", ()) else image
            return {"trace": trace_id, "layers": sorted(int(x) for x in trace.layers),
                    "generated": [{"position": int(g.position), "text": g.text, "prob": float(g.prob)}
                                  for g in trace.generated],
                    "prompt_tokens": [{"position": int(p.index), "text": p.text, "kind": _kind(p)}
                                      for p in trace.positions if _kind(p) != "image_patch"][:400],
                    "n_patches": sum(1 for p in trace.positions if _kind(p) == "image_patch")}

        return self.jobs.submit("generate", work)

    def explain(self, trace_id: str, position: int, layer: int | None = None,
                settings: Mapping[str, Any] | None = None) -> Any:
        """Queue an explanation of the generated token at ``position``; its result is a result id."""
        adapter = self._need_model()
        trace = self.trace(trace_id)
        if int(position) not in {int(g.position) for g in trace.generated}:
            raise InvalidParameterError(f"position {position} is not a generated token of trace {trace_id}; "
                                        f"generated positions: {[int(g.position) for g in trace.generated]}")
        chosen = int(layer) if layer is not None else max(int(x) for x in trace.layers)
        options = {**self.settings, **dict(settings or {})}

        def work(progress: Any) -> str:
            from whytoken.experiments.baselines import baseline_views
            from whytoken.query import explain

            def report(stage: str, done: int, total: int) -> None:
                names = {"learn": "learning a graph per head", "verify": "verifying candidate sets on the model"}
                progress(names.get(stage, stage), done, total)

            progress("learning a graph per head", 0, 0)
            result = explain(trace, int(position), layer=chosen, model=adapter, progress=report, **options)
            progress("baseline maps (rollout, relevancy)", 0, len(BASELINE_MAPS))
            views = baseline_views(trace, int(position), methods=BASELINE_MAPS, model=adapter)
            baselines = {name: dict(zip(a.candidates, a.scores)) for name, a in views.items()}
            title = f"why {result.target.text!r} (position {position}, layer {result.provenance.get('layer')})"
            return self.store.add(result, title, image=self._trace_images.get(trace_id), baselines=baselines,
                                  layers=tuple(sorted(int(x) for x in trace.layers)), trace_id=trace_id).id

        return self.jobs.submit("explain", work)

    def explain_all(self, trace_id: str, layer: int | None = None) -> Any:
        """Queue ``explain(trace, "all")``: every generated token, the chains between them.

        The job's result is ``{"tokens": [{"position", "text", "status", "result"}], "chains": [[source,
        target], ...], "skipped": [[position, why], ...]}``; each token's result is in the store, so the
        page steps through them without recomputing.
        """
        adapter = self._need_model()
        trace = self.trace(trace_id)
        chosen = int(layer) if layer is not None else max(int(x) for x in trace.layers)

        def work(progress: Any) -> dict[str, Any]:
            from whytoken.query import explain

            def report(stage: str, done: int, total: int) -> None:
                progress(f"every token: {stage}", done, total)

            answer = explain(trace, "all", layer=chosen, model=adapter, progress=report, **self.settings)
            explanations = getattr(answer, "explanations", (answer,))
            tokens = []
            for e in explanations:
                title = f"why {e.target.text!r} (position {e.target.position}, layer {e.provenance.get('layer')})"
                rid = self.store.add(e, title, image=self._trace_images.get(trace_id),
                                     layers=tuple(sorted(int(x) for x in trace.layers)), trace_id=trace_id).id
                tokens.append({"position": e.target.position, "text": e.target.text, "status": e.status,
                               "result": rid})
            return {"tokens": tokens, "chains": [list(c) for c in getattr(answer, "chains", ())],
                    "skipped": [[int(p), str(why)] for p, why in getattr(answer, "skipped", ())]}

        return self.jobs.submit("explain-all", work)


def _kind(position: Any) -> str:
    kind = getattr(position, "kind", "")
    return str(getattr(kind, "value", kind)).lower()
