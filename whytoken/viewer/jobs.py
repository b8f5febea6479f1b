"""Background jobs of the viewer: generation and explanation run one at a time, their progress polled.

Model work (a trace, an explanation, baseline maps) runs on one worker thread,
so torch sees one caller and the page stays responsive; the page polls
``/api/jobs/{id}`` for the stage and counts that :func:`whytoken.query.explain`
reports through its ``progress`` callback.

Examples
--------
>>> runner = JobRunner()
>>> job = runner.submit("add", lambda progress: (progress("sum", 1, 1), 1 + 1)[1])
>>> runner.wait(job.id, timeout=5).state, runner.get(job.id).result
('done', 2)
>>> runner.shutdown()
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable

from whytoken.errors import InvalidParameterError, WhytokenError

__all__ = ["Job", "JobRunner", "STATES"]

logger = logging.getLogger(__name__)

#: A job's life: queued -> running -> done | error.
STATES = ("queued", "running", "done", "error")


@dataclass
class Job:
    """One unit of model work and what the page may know about it."""

    id: str
    kind: str
    state: str = "queued"
    stage: str = ""
    done: int = 0
    total: int = 0
    started: float = field(default_factory=time.time)
    finished: float | None = None
    result: Any = None
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        end = self.finished if self.finished is not None else time.time()
        return {"id": self.id, "kind": self.kind, "state": self.state, "stage": self.stage, "done": self.done,
                "total": self.total, "seconds": round(end - self.started, 2), "error": self.error,
                "result": self.result if isinstance(self.result, (str, int, float, dict, list, type(None))) else None}


class JobRunner:
    """A single worker thread running submitted callables in order."""

    def __init__(self) -> None:
        self._jobs: dict[str, Job] = {}
        self._queue: queue.Queue = queue.Queue()
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._work, name="whytoken-viewer-jobs", daemon=True)
        self._thread.start()

    def submit(self, kind: str, work: Callable[[Callable[[str, int, int], None]], Any]) -> Job:
        """Queue ``work(progress)``; ``progress(stage, done, total)`` updates the job; returns the job."""
        with self._lock:
            job = Job(id=f"j{next(self._ids)}", kind=kind)
            self._jobs[job.id] = job
        self._queue.put((job, work))
        return job

    def get(self, job_id: str) -> Job:
        """The job with ``job_id``; an unknown id raises :class:`~whytoken.errors.InvalidParameterError`."""
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            raise InvalidParameterError(f"unknown job {job_id!r}; jobs of this viewer: "
                                        f"{', '.join(sorted(self._jobs)) or 'none'}")
        return job

    def wait(self, job_id: str, timeout: float = 60.0) -> Job:
        """Block until the job ends or ``timeout`` seconds pass (for tests and scripts)."""
        deadline = time.time() + timeout
        job = self.get(job_id)
        while job.state in ("queued", "running") and time.time() < deadline:
            time.sleep(0.02)
        return job

    def shutdown(self) -> None:
        self._queue.put(None)

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            job, work = item
            job.state, job.started = "running", time.time()

            def progress(stage: str, done: int, total: int, job: Job = job) -> None:
                job.stage, job.done, job.total = str(stage), int(done), int(total or 0)

            try:
                job.result = work(progress)
                job.state = "done"
            except WhytokenError as err:
                job.error, job.state = str(err), "error"
            except Exception as err:  # noqa: BLE001 - the page must hear about every failure
                logger.error("viewer job %s failed:\n%s", job.id, traceback.format_exc())
                job.error, job.state = f"internal error ({type(err).__name__}: {err}); see the server log", "error"
            job.finished = time.time()
