"""The viewer without a browser: payload, jobs, store and session errors, the CLI command's messages."""

from __future__ import annotations

import importlib.util

import pytest

from tests.query import fakes
from whytoken.errors import CheckpointError, InvalidImageError, InvalidParameterError
from whytoken.query import explain


@pytest.fixture(scope="module")
def image_explanation():
    trace = fakes.make_trace([{2: 0.5, 7: 0.4, 0: 0.1}, {3: 0.5, 7: 0.4, 0: 0.1}], with_image=True)
    return explain(trace, fakes.TARGET, layer=1, model=fakes.FakeModel(fakes.intersects({2, 7})))


def test_payload_has_a_graph_per_head_with_grid_positions(image_explanation):
    from whytoken.viewer.payload import CELL, explanation_payload

    payload = explanation_payload(image_explanation)
    assert payload["status"] == "explained" and payload["answer"]["role"] == "explaining"
    assert set(payload["graphs"]) == {str(h.head) for h in image_explanation.heads}
    for head in image_explanation.heads:
        graph = payload["graphs"][str(head.head)]
        assert len(graph["nodes"]) == head.n_nodes and len(graph["edges"]) == head.n_edges
        patch_nodes = {n["data"]["patch"] and tuple(n["data"]["patch"]): n["position"] for n in graph["nodes"]
                       if n["data"]["patch"]}
        for (r, c), xy in patch_nodes.items():  # patches sit on their grid cells
            assert (xy["x"], xy["y"]) == (c * CELL, r * CELL)
    assert set(payload["maps"]) >= {"attention", "attention:0", "distance:0"}
    assert all(s["effect_text"].startswith(("−", "+")) for s in payload["sets"] if s["verified"])


def test_jobs_report_errors_in_the_package_words():
    from whytoken.viewer.jobs import JobRunner

    runner = JobRunner()
    try:
        def fail(progress):
            raise InvalidParameterError("bad value 3; pass 4")

        job = runner.wait(runner.submit("x", fail).id, timeout=5)
        assert job.state == "error" and job.error == "bad value 3; pass 4"
        job = runner.wait(runner.submit("x", lambda progress: 1 / 0).id, timeout=5)
        assert job.state == "error" and "ZeroDivisionError" in job.error
        with pytest.raises(InvalidParameterError, match="unknown job 'j9'"):
            runner.get("j9")
    finally:
        runner.shutdown()


def test_store_writes_downloads_and_rejects_unknown_names(image_explanation, tmp_path):
    from whytoken.viewer.store import ResultStore

    store = ResultStore(tmp_path)
    result = store.add(image_explanation, "why")
    for name in ("explanation.json", "graph.json", "graph.graphml", "report.html"):
        assert store.file(result.id, name).stat().st_size > 100
    with pytest.raises(InvalidParameterError, match="unknown download 'x.csv'"):
        store.file(result.id, "x.csv")
    with pytest.raises(InvalidParameterError, match="unknown result 'r7'"):
        store.get("r7")


def test_open_needs_saved_results(tmp_path):
    from whytoken.viewer.session import ViewerSession

    with pytest.raises(CheckpointError, match="no explanation.json"):
        ViewerSession(open_dir=tmp_path)
    with pytest.raises(CheckpointError, match="is not a folder"):
        ViewerSession(open_dir=tmp_path / "missing")


def test_session_without_a_model_says_how_to_get_one(image_explanation, tmp_path):
    from whytoken.viewer.session import ViewerSession

    image_explanation.save(tmp_path / "saved" / "explanation.json")
    session = ViewerSession(open_dir=tmp_path)
    assert len(session.store.list()) == 1
    with pytest.raises(InvalidParameterError, match="whytoken serve --model"):
        session.generate("hello")


def test_uploaded_files_must_be_images():
    from whytoken.viewer.session import decode_image

    with pytest.raises(InvalidImageError, match="not an image"):
        decode_image("data:application/pdf;base64,JVBERi0=")
    with pytest.raises(InvalidImageError, match="cannot read the uploaded image"):
        decode_image("data:image/png;base64,bm90IGEgcG5n")
    assert decode_image(None) is None


def test_serve_without_the_viewer_extra_says_what_to_install(monkeypatch):
    from typer.testing import CliRunner

    from whytoken.cli import app

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "uvicorn" else real(name, *a))
    result = CliRunner().invoke(app, ["serve", "--port", "0"])
    assert result.exit_code == 2
    assert "pip install 'whytoken[viewer]'" in result.output and "uvicorn" in result.output


def test_serve_refuses_a_busy_port():
    import socket

    from typer.testing import CliRunner

    from whytoken.cli import app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        result = CliRunner().invoke(app, ["serve", "--port", str(port), "--open", "."])
    assert result.exit_code == 2 and f"--port {port} is already in use" in result.output
