"""``whytoken explain``: explain one generated token of any supported model, or of a saved trace."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from whytoken.cli.boundary import errors, progress, set_threads
from whytoken.cli.options import (
    CriterionName,
    LearnerName,
    PolicyName,
    PoolName,
    TargetRow,
    load_image,
    parse_n_samples,
    resolve_target,
    trace_file,
    value,
)
from whytoken.cli.panel import print_explanation
from whytoken.cli.pipeline import (
    explain_options,
    explain_step,
    load_model_step,
    trace_step,
    write_answer_outputs,
    write_outputs,
)
from whytoken.errors import InvalidParameterError
from whytoken.query import (
    DEFAULT_ALPHA,
    DEFAULT_MAX_COND_SIZE,
    DEFAULT_MAX_PASSES,
    DEFAULT_MAX_RANGE,
    DEFAULT_POLICY,
    AnswerExplanation,
)

__all__ = ["explain_command"]


def explain_command(
    model: Optional[str] = typer.Option(None, "--model", help="Checkpoint directory or short name (e.g. "
                                        "smollm2-135m-instruct); needed unless --trace with --no-verify."),
    prompt: Optional[str] = typer.Option(None, "--prompt", help="The prompt (omit with --trace)."),
    image: Optional[Path] = typer.Option(None, "--image", help="Input image for vision-language models."),
    trace_path: Optional[Path] = typer.Option(None, "--trace", help="Explain a trace saved by `whytoken trace`."),
    out: Path = typer.Option(..., "--out", help="Folder for explanation.json, graph.* and report.html."),
    target: Optional[str] = typer.Option(None, "--target", help="Position of the generated token to explain "
                                         "(negative: from the end of the generated tokens), or 'all' for every "
                                         "token of the answer; default: the first token of the answer (an echo "
                                         "of the prompt is skipped)."),
    target_text: Optional[str] = typer.Option(None, "--target-text", help="Text of the generated token to explain."),
    layer: int = typer.Option(-1, "--layer", help="Layer whose attention is read (negative from the last)."),
    heads: str = typer.Option("all", "--heads", help="'all' or comma-separated head indices."),
    alpha: float = typer.Option(DEFAULT_ALPHA, "--alpha", help="CI-test significance level."),
    n_samples: Optional[str] = typer.Option(None, "--n-samples", help="Effective sample size N: an int, "
                                            "'hidden_size' (the default) or 'head_dim'."),
    method: Optional[LearnerName] = typer.Option(None, "--method",
                                         help="Structure learner (default: ordered-icd for decoders, icd for encoders)."),
    criterion: CriterionName = typer.Option("top-token", "--criterion",
                                  help="When does a removal change the target?"),
    fraction: Optional[float] = typer.Option(None, "--fraction", help="prob-drop: the fraction of the original "
                                             "probability below which the target counts as changed (default 0.5)."),
    intervention: str = typer.Option("mask", "--intervention", help="How tokens are removed (see `whytoken learners`)."),
    max_new_tokens: int = typer.Option(8, "--max-new-tokens", min=1, help="Tokens to generate."),
    chat_template: Optional[bool] = typer.Option(None, "--chat-template/--no-chat-template",
                                                 help="Wrap the prompt in the model's chat template "
                                                 "(default: when the model has one)."),
    max_passes: int = typer.Option(DEFAULT_MAX_PASSES, "--max-passes", min=1, help="Budget: most removal sets "
                                   "sent to the model (forward passes), never exceeded."),
    policy: PolicyName = typer.Option(DEFAULT_POLICY, "--policy", help="Search policy."),
    pool: PoolName = typer.Option("all", "--pool", help="Which tokens may be removed: all, image or text."),
    max_set_size: Optional[int] = typer.Option(None, "--max-set-size", min=1, help="Largest explaining set "
                                               "reported (default: no limit but the budget)."),
    max_range: int = typer.Option(DEFAULT_MAX_RANGE, "--max-range", help="Deepest PDS-tree level counted as "
                                  "graph support."),
    max_cond_size: Optional[int] = typer.Option(DEFAULT_MAX_COND_SIZE, "--max-cond-size", min=0,
                                                help="Largest conditioning set of the learner."),
    max_nodes: Optional[int] = typer.Option(None, "--max-nodes", help="Prune each graph to the target and the N "
                                            "tokens the predicting position attends to most (default: no pruning)."),
    include_special: bool = typer.Option(False, "--include-special", help="Allow the first token and special "
                                         "tokens in explaining sets."),
    verify: bool = typer.Option(True, "--verify/--no-verify", help="Check candidate sets on the model."),
    target_row: TargetRow = typer.Option("auto", "--target-row", help="Attention row standing for the target: "
                                         "auto (the predicting position for decoders), predicting or generated."),
    seed: int = typer.Option(0, "--seed", help="Recorded seed for stochastic interventions."),
) -> None:
    """Explain one generated token of any supported model (or of a saved trace)."""
    with errors():
        if (prompt is None) == (trace_path is None):
            raise InvalidParameterError("pass exactly one of --prompt (trace now) or --trace (a saved trace)")
        if trace_path is not None and image is not None:
            raise InvalidParameterError("--image applies when tracing with --prompt; a saved --trace keeps its image")
        if model is None and (verify or trace_path is None):
            raise InvalidParameterError("--model is required to trace a prompt or to verify candidate sets; pass "
                                        "--model DIR|SHORTNAME (see `whytoken learners`), or --trace with --no-verify")
        options = explain_options(dict(
            layer=layer, heads=heads, alpha=alpha, n_samples=parse_n_samples(n_samples), method=value(method),
            criterion=value(criterion), max_cond_size=max_cond_size,
            fraction=fraction, intervention=intervention, max_set_size=max_set_size, max_range=max_range,
            max_passes=max_passes, policy=value(policy), pool=value(pool), max_nodes=max_nodes,
            include_special=include_special, verify=verify, seed=seed, target_row=value(target_row)))
        pil_image = load_image(image)
        set_threads()
        with progress() as bar:
            adapter = load_model_step(model, bar) if model is not None else None
            if trace_path is not None:
                from whytoken.adapters.trace import Trace

                trace = Trace.load(trace_file(trace_path))
            else:
                trace = trace_step(adapter, bar, prompt, pil_image, max_new_tokens, (layer,), chat_template)
            chosen = resolve_target(target, target_text, trace)
            result = explain_step(trace, chosen, bar, model=adapter, **options)
        picture = trace.images[0] if getattr(trace, "images", ()) else pil_image
        if isinstance(result, AnswerExplanation):
            paths = write_answer_outputs(result, out, image=picture)
            for e in result.explanations:
                print_explanation(e, paths.get(e.target.position))
        else:
            print_explanation(result, write_outputs(result, out, image=picture))
