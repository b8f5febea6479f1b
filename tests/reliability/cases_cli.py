"""Bad inputs on the command line: every one is one ``error:`` line naming the value, the right exit code."""

from __future__ import annotations

import numpy as np

from tests.reliability.harness import Kit, bad_input
from whytoken.errors import (
    CheckpointError,
    InternalError,
    InvalidImageError,
    InvalidParameterError,
    OutputError,
    SchemaError,
    UnknownModelError,
)


def saved_trace_dir(kit: Kit):
    """A folder holding a saved fake trace (no model needed to explain it with --no-verify)."""

    def build():
        from tests.query import fakes

        folder = kit.path("cli-trace/x").parent
        fakes.make_trace([{3: 0.5, 7: 0.4, 0: 0.1}, {5: 0.9, 0: 0.1}], with_image=True).save(
            folder / "trace.safetensors")
        return folder

    return kit.cached("cli-trace", build)


def explain_trace(kit: Kit, *args: str):
    return kit.cli("explain", "--trace", saved_trace_dir(kit), "--no-verify", "--layer", "1",
                   "--out", kit.tmp / "cli-out", *args)


def graph_file(kit: Kit):
    def build():
        from whytoken.graphs import PAG, Mark

        g = PAG([0, 1, 2])
        g.add_edge(0, 1, Mark.TAIL, Mark.ARROW)
        return g.save(kit.path("cli-graph/graph.json"))

    return kit.cached("cli-graph", build)


@bad_input("cli", InvalidParameterError, "--heads 'x'")
def case_cli_heads_not_numbers(kit: Kit):
    """--heads x."""
    return explain_trace(kit, "--heads", "x")


@bad_input("cli", InvalidParameterError, "--layers 'top'")
def case_cli_layers_not_numbers(kit: Kit):
    """whytoken trace --layers top."""
    return kit.cli("trace", "--model", "whytoken-demo", "--prompt", "hi", "--layers", "top", "--out", kit.tmp / "t")


@bad_input("cli", InvalidParameterError, "--n-samples 'wide'")
def case_cli_n_samples_word(kit: Kit):
    """--n-samples wide."""
    return explain_trace(kit, "--n-samples", "wide")


@bad_input("cli", InvalidParameterError, "--fraction 0.3", "--criterion prob-drop")
def case_cli_fraction_without_prob_drop(kit: Kit):
    """--fraction with the default criterion."""
    return explain_trace(kit, "--fraction", "0.3")


@bad_input("cli", InvalidParameterError, "exactly one of --prompt", "--trace")
def case_cli_prompt_and_trace(kit: Kit):
    """--prompt and --trace together."""
    return explain_trace(kit, "--prompt", "hello")


@bad_input("cli", OutputError, "occupied", "a file is in the way")
def case_cli_out_is_an_existing_file(kit: Kit):
    """--out naming an existing file (FileExistsError before)."""
    taken = kit.path("occupied")
    taken.write_text("keep")
    return kit.cli("explain", "--trace", saved_trace_dir(kit), "--no-verify", "--layer", "1", "--out", taken)


@bad_input("cli", CheckpointError, "no-trace-here", "does not exist")
def case_cli_trace_missing(kit: Kit):
    """--trace naming nothing."""
    return kit.cli("explain", "--trace", kit.tmp / "no-trace-here", "--no-verify", "--out", kit.tmp / "o")


@bad_input("cli", UnknownModelError, "no-such-model", "smollm2-135m-instruct")
def case_cli_unknown_model(kit: Kit):
    """--model naming neither a packaged model nor a directory."""
    return kit.cli("explain", "--model", "no-such-model", "--prompt", "hi", "--out", kit.tmp / "o")


@bad_input("cli", InvalidImageError, "deep.tif", "mode")
def case_cli_image_of_unknown_range(kit: Kit):
    """--image of a 32-bit float TIFF."""
    from PIL import Image

    path = kit.path("cli-images/deep.tif")
    Image.fromarray(np.zeros((16, 16), dtype=np.float32), mode="F").save(path)
    return kit.cli("trace", "--model", "whytoken-demo", "--prompt", "what is it", "--image", path,
                   "--out", kit.tmp / "t")


@bad_input("cli", InvalidImageError, "missing.jpg", "does not exist")
def case_cli_image_missing(kit: Kit):
    """--image naming no file."""
    return kit.cli("trace", "--model", "whytoken-demo", "--prompt", "what is it", "--image", kit.tmp / "missing.jpg",
                   "--out", kit.tmp / "t")


@bad_input("cli", CheckpointError, "absent.graphml", "does not exist")
def case_cli_graph_export_missing(kit: Kit):
    """graph export of a file that does not exist."""
    return kit.cli("graph", "export", kit.tmp / "absent.graphml", "--format", "dot")


@bad_input("cli", InvalidParameterError, "--head applies to an explanation.json")
def case_cli_graph_export_head_of_a_plain_graph(kit: Kit):
    """graph export --head on a plain graph."""
    return kit.cli("graph", "export", graph_file(kit), "--format", "dot", "--head", "1")


@bad_input("cli", InvalidParameterError, "would overwrite the input")
def case_cli_graph_export_onto_itself(kit: Kit):
    """graph export --out the input file."""
    path = graph_file(kit)
    return kit.cli("graph", "export", path, "--format", "json", "--out", path)


@bad_input("cli", SchemaError, "mangled.json")
def case_cli_graph_export_of_a_damaged_explanation(kit: Kit):
    """graph export of an explanation.json with a wrong field type."""
    path = kit.path("cli-exp/mangled.json")
    path.write_text('{"schema": "whytoken.explanation/1", "heads": 5}')
    return kit.cli("graph", "export", path, "--format", "dot")


@bad_input("cli", InternalError, "internal error while explaining the target", "ZeroDivisionError")
def case_cli_bug_inside_a_dependency(kit: Kit):
    """A foreign exception inside a step: exit 1, one line naming the step (a traceback before)."""
    import whytoken.query

    original = whytoken.query.explain

    def broken(*args, **kwargs):
        return 1 / 0

    whytoken.query.explain = broken
    try:
        return explain_trace(kit)
    finally:
        whytoken.query.explain = original
