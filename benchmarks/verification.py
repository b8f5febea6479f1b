"""Verification cost: ``predict_batch``'s cached path against the uncached one, interleaved, one thread.

One intervention (one removal set re-run on the model) is what every explanation pays for over
and over (issue 16, "Verification dominates explain"). This times it on two models:

* ``smollm2``: SmolLM2-135M-Instruct (packaged weights), prompted with a real English text --
  CPython's ``LICENSE.txt``, which ships with every Python -- cut to ``--n`` tokens (600), no chat
  template, one greedy token as the target.
* ``llava576``: a random LLaVA-1.5-shaped model built from a config, 336 px images in 14 px patches
  (24 x 24 = 576 image tokens): a small CLIP tower (hidden 256, 8 layers, 6 M parameters) and a
  LLaMA text model (hidden 512, 12 layers, 38 M), so that, as in LLaVA-1.5, the language model
  dominates a pass (there: 0.3 B vision, 7 B language); a word-level tokenizer; ``--llava-model NAME_OR_DIR`` uses a
  real checkpoint instead (e.g. ``whytoken-world576`` once it is packaged).

Workloads (seeded removal sets; positions exclude the first token, as ``explain`` does): single
tokens with the position uniform over the prompt ("uniform": one drawn from each of ``--sets``
equal strata, so that a few sets represent the whole range), in its first, middle or last tenth
("early", "middle", "late"), uniform pairs; for LLaVA also single patches, a patch with a word,
and ``pixel`` sets (re-encoded images) and ``mean`` on patches. ``--explain-candidates K`` adds, on
SmolLM2, a sample of the single-token sets ``whytoken.explain`` itself sends (K candidates).

Methods, all on the same sets, interleaved round by round (the order rotates every round):

* ``uncached b=8``: the path before the cache (every row re-runs every position and re-encodes its
  images), at the old default ``batch_size=8``;
* ``uncached b=1``: the same, one set per pass (the cheapest uncached setting on this CPU);
* ``image once`` (VLMs): embeddings captured once, no prefix reuse, default batching;
* ``cached``: the default -- prefix reuse, images once, rows packed by the device's pass rule.

Printed per workload and method: CPU seconds per set of this single-threaded process, median over
rounds (on a shared, loaded machine CPU time moves far less than wall time, which is printed too);
the ratio to both uncached settings; tokens re-run per set; the one-off cache build (one forward
pass per trace) with amortised ratios at 10 and 100 sets; and the largest probability difference
from the uncached path with the count of differing top tokens (must be 0). ``--calibrate`` times passes of b rows x q
re-run positions on the cached path and fits a per-pass overhead and a per-token cost (the basis of
``verification.PASS_OVERHEAD`` and ``TOKEN_BUDGETS``).

Run from the repository root (about 10 min for both models on the 2-core VM)::

    python benchmarks/verification.py                       # both models, text report
    python benchmarks/verification.py --markdown            # tables for RESULTS.md
    python benchmarks/verification.py --models smollm2 --rounds 1 --n 200   # quick look
    python benchmarks/verification.py --models smollm2 --calibrate --no-compare --rounds 3
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = "1"
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import argparse  # noqa: E402
import datetime  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sysconfig  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, Callable  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from whytoken.adapters import TokenKind, load_model  # noqa: E402
from whytoken.adapters.verification import VerificationSettings, pass_overhead, token_budget  # noqa: E402
from whytoken.adapters.verification_cache import trace_state  # noqa: E402

UNCACHED = VerificationSettings(reuse_prefix=False, encode_images_once=False)
METHODS: dict[str, tuple[VerificationSettings, int | None]] = {
    "uncached b=8": (UNCACHED, 8),
    "uncached b=1": (UNCACHED, 1),
    "image once": (VerificationSettings(reuse_prefix=False), None),
    "cached": (VerificationSettings(), None),
}


@dataclass
class Workload:
    name: str
    sets: list[tuple[int, ...]]
    kind: str = "mask"
    seconds: dict[str, list[float]] = field(default_factory=dict)  # method -> per-set CPU seconds per round
    wall: dict[str, list[float]] = field(default_factory=dict)  # method -> per-set wall seconds per round
    tokens: dict[str, int] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)
    max_dp: float = 0.0
    top_mismatch: int = 0


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return "uptime unavailable"


# ----------------------------------------------------------------------------------------- models
def smollm2(n: int) -> tuple[Any, Any]:
    adapter = load_model("smollm2-135m-instruct")
    text = Path(sysconfig.get_paths()["stdlib"], "LICENSE.txt").read_text(encoding="utf-8")
    ids = adapter.tokenizer(" ".join(text.split()), add_special_tokens=False)["input_ids"][:n - 1]
    prompt = adapter.tokenizer.decode(ids)
    trace = adapter.trace(prompt=prompt, max_new_tokens=1, chat_template=False, stop_at_eos=False)
    return adapter, trace


def random_llava576(seed: int = 0) -> tuple[Any, Any]:
    from transformers import (CLIPVisionConfig, LlamaConfig, LlavaConfig, LlavaForConditionalGeneration,
                              LlavaProcessor)
    from transformers.models.llava.image_processing_pil_llava import LlavaImageProcessorPil

    from whytoken.adapters.toy import LM_SPECIALS, word_tokenizer

    tokenizer = word_tokenizer(LM_SPECIALS, extra_special={"image_token": "<image>"}, bos=True)
    image_processor = LlavaImageProcessorPil(size={"shortest_edge": 336}, crop_size={"height": 336, "width": 336})
    processor = LlavaProcessor(image_processor=image_processor, tokenizer=tokenizer, patch_size=14,
                               vision_feature_select_strategy="default", num_additional_image_tokens=1)
    vision = CLIPVisionConfig(hidden_size=256, intermediate_size=1024, num_hidden_layers=8, num_attention_heads=4,
                              image_size=336, patch_size=14)
    text = LlamaConfig(hidden_size=512, intermediate_size=1376, num_hidden_layers=12, num_attention_heads=8,
                       num_key_value_heads=8, vocab_size=len(tokenizer), max_position_embeddings=1024,
                       bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                       pad_token_id=tokenizer.pad_token_id, initializer_range=0.05)
    config = LlavaConfig(vision_config=vision, text_config=text, image_token_id=tokenizer.image_token_id,
                         vision_feature_select_strategy="default", vision_feature_layer=-1)
    config._attn_implementation = "eager"
    torch.manual_seed(seed)
    return LlavaForConditionalGeneration(config).eval(), processor


def llava576(model: str | None) -> tuple[Any, Any]:
    from whytoken.adapters.toy import toy_image

    if model:
        adapter = load_model(model)
    else:
        adapter = load_model(*random_llava576(), name="random-llava-576")
    image = toy_image(336, 336, seed=1)
    trace = adapter.trace(image, "what color is the cat on the mat", max_new_tokens=1, chat_template=False,
                          stop_at_eos=False)
    return adapter, trace


# -------------------------------------------------------------------------------------- workloads
def text_workloads(trace: Any, t: int, rng: np.random.Generator, count: int) -> list[Workload]:
    pool = np.arange(1, t)
    tenth = max(1, len(pool) // 10)

    def singles(values: np.ndarray, k: int) -> list[tuple[int, ...]]:
        return [(int(p),) for p in rng.choice(values, size=min(k, len(values)), replace=False)]

    strata = np.array_split(pool, count)  # one position per equal stratum: a low-variance uniform sample
    return [
        Workload("uniform", [(int(rng.choice(stratum)),) for stratum in strata]),
        Workload("early", singles(pool[:tenth], max(2, count // 2))),
        Workload("middle", singles(pool[len(pool) // 2 - tenth // 2:][:tenth], max(2, count // 2))),
        Workload("late", singles(pool[-tenth:], max(2, count // 2))),
        Workload("pairs", [tuple(sorted(int(p) for p in rng.choice(pool, size=2, replace=False)))
                           for _ in range(max(2, count // 2))]),
    ]


def image_workloads(trace: Any, t: int, rng: np.random.Generator, count: int) -> list[Workload]:
    patches = np.asarray(trace.positions_of(TokenKind.IMAGE_PATCH))
    words = np.asarray([p.index for p in trace.positions if p.kind is TokenKind.PROMPT_TEXT and p.index < t])
    pick = lambda values, k: [int(v) for v in rng.choice(values, size=min(k, len(values)), replace=False)]  # noqa: E731
    half = max(2, count // 2)
    return [
        Workload("patch", [(int(rng.choice(stratum)),) for stratum in np.array_split(patches, count)]),
        Workload("word", [(p,) for p in pick(words, min(half, len(words)))]),
        Workload("patch+word", [tuple(sorted((a, b))) for a, b in zip(pick(patches, half), pick(words, half))]),
        Workload("patch, mean", [(p,) for p in pick(patches, half)], kind="mean"),
        Workload("patch, pixel", [(p,) for p in pick(patches, half)], kind="pixel"),
    ]


def explain_workload(adapter: Any, trace: Any, t: int, rng: np.random.Generator, count: int,
                     candidates: int) -> Workload | None:
    """The sets ``whytoken.explain`` sends for this target (size 1, at most ``candidates``), ``count`` sampled."""
    from types import SimpleNamespace

    import whytoken as wt

    sent: list[tuple[int, ...]] = []

    def predict_batch(trace_: Any, target: Any, sets: Any, kind: str = "mask") -> Any:
        sets = [tuple(s) for s in sets]
        sent.extend(sets)
        return adapter.predict_batch(trace_, target, sets, kind=kind)

    import inspect

    budget = ({"max_passes": candidates} if "max_passes" in inspect.signature(wt.explain).parameters
              else {"max_candidates": candidates})
    try:
        wt.explain(trace, t, model=SimpleNamespace(predict_batch=predict_batch), max_set_size=1, **budget)
    except Exception as err:  # noqa: BLE001 -- the query is being rewritten; report and go on
        print(f"  explain workload skipped: {type(err).__name__}: {err}", flush=True)
        return None
    sets = sorted({s for s in sent if s})
    if not sets:
        print("  explain workload skipped: explain sent no non-empty removal set", flush=True)
        return None
    chosen = [sets[i] for i in sorted(rng.choice(len(sets), size=min(count, len(sets)), replace=False))]
    return Workload(f"explain ({len(sets)})", chosen)


# ----------------------------------------------------------------------------------------- timing
def run(adapter: Any, trace: Any, t: int, work: Workload, method: str) -> list[Any]:
    settings, batch_size = METHODS[method]
    adapter.verification = settings
    trace_state(adapter, trace) if settings.enabled else None  # built once per trace, timed separately
    before = adapter.forward_count
    cpu, wall = time.process_time(), time.perf_counter()
    predictions = adapter.predict_batch(trace, t, work.sets, kind=work.kind, batch_size=batch_size)
    work.seconds.setdefault(method, []).append((time.process_time() - cpu) / len(work.sets))
    work.wall.setdefault(method, []).append((time.perf_counter() - wall) / len(work.sets))
    spent = adapter.forward_count - before
    work.tokens[method] = spent.tokens // len(work.sets)
    work.calls[method] = spent.model_calls
    return predictions


def measure(adapter: Any, trace: Any, workloads: list[Workload], methods: list[str], rounds: int,
            log: Callable[[str], None]) -> float:
    t = trace.generated[-1].position
    adapter.verification = VerificationSettings()
    adapter.clear_verification_cache()
    start = time.process_time()
    trace_state(adapter, trace)
    build = time.process_time() - start
    for r in range(rounds):
        order = methods[r % len(methods):] + methods[:r % len(methods)]
        for work in workloads:
            results = {}
            for method in order:
                results[method] = run(adapter, trace, t, work, method)
            reference = results.get("uncached b=1") or results[order[0]]
            for method, predictions in results.items():
                for a, b in zip(reference, predictions):
                    work.top_mismatch += int(a.top_token_id != b.top_token_id)
                    work.max_dp = max(work.max_dp, abs(a.original_token_prob_after - b.original_token_prob_after),
                                      abs(a.top_prob - b.top_prob))
            log(f"  round {r + 1} {work.name:<13} " + "  ".join(
                f"{m} {statistics.median(work.seconds[m]):.3f}s" for m in methods))
    adapter.verification = VerificationSettings()
    return build


def calibrate(adapter: Any, trace: Any, rows: list[int], suffixes: list[int], rounds: int) -> dict:
    """CPU seconds per pass of ``b`` rows re-run from ``length - q`` (cached path), for every (b, q)."""
    t = trace.generated[-1].position
    trace_state(adapter, trace)
    grid = [(b, q) for b in rows for q in suffixes if q < t]
    out: dict[tuple[int, int], list[float]] = {}
    for r in range(rounds):
        for b, q in grid[r % len(grid):] + grid[:r % len(grid)]:
            start = time.process_time()
            adapter.predict_batch(trace, t, [(t - q,)] * b, batch_size=b)
            out.setdefault((b, q), []).append(time.process_time() - start)
    return {key: statistics.median(v) for key, v in sorted(out.items())}


def fit_pass_cost(grid: dict, cap: int) -> tuple[float, float, float]:
    """Least-squares ``seconds = per_pass + per_row * b + per_token * b * q`` over passes of <= ``cap`` tokens."""
    points = [(b, q, seconds) for (b, q), seconds in grid.items() if b * q <= cap]
    design = np.array([[1.0, b, b * q] for b, q, _ in points])
    (per_pass, per_row, per_token), *_ = np.linalg.lstsq(design, np.array([s for *_, s in points]), rcond=None)
    return float(per_pass), float(per_row), float(per_token)


# ---------------------------------------------------------------------------------------- reports
def report(name: str, trace: Any, workloads: list[Workload], methods: list[str], build: float,
           markdown: bool) -> list[str]:
    lines = []
    t = trace.generated[-1].position
    total = {m: sum(statistics.median(w.seconds[m]) * len(w.sets) for w in workloads) for m in methods}
    n_sets = sum(len(w.sets) for w in workloads)
    header = ["workload", "kind", "sets"] + [f"{m} s/set" for m in methods] + [
        "cached / uncached b=1", "cached / uncached b=8", "tokens/set uncached", "tokens/set cached", "max abs dp",
        "top differs"]
    rows = []
    for w in workloads + [None]:
        if w is None:
            sec = {m: total[m] / n_sets for m in methods}
            cells = ["all", "", str(n_sets)]
            tok_u = tok_c = ""
            dp = max(x.max_dp for x in workloads)
            mism = sum(x.top_mismatch for x in workloads)
        else:
            sec = {m: statistics.median(w.seconds[m]) for m in methods}
            cells = [w.name, w.kind, str(len(w.sets))]
            tok_u, tok_c = str(w.tokens["uncached b=1"]), str(w.tokens["cached"])
            dp, mism = w.max_dp, w.top_mismatch
        cells += [f"{sec[m]:.3f}" for m in methods]
        cells += [f"{sec['cached'] / sec['uncached b=1']:.2f}", f"{sec['cached'] / sec['uncached b=8']:.2f}",
                  tok_u, tok_c, f"{dp:.1e}", str(mism)]
        rows.append(cells)
    per_set = total["cached"] / n_sets
    base = total["uncached b=1"] / n_sets
    amortised = {k: (build + k * per_set) / (k * base) for k in (10, 100)}
    lines.append(f"### {name}: n = {trace.n_positions} positions, target position {t}")
    lines.append("")
    if markdown:
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "---|" * len(header))
        lines.extend("| " + " | ".join(r) + " |" for r in rows)
    else:
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
        lines.append("  ".join(h.rjust(wd) for h, wd in zip(header, widths)))
        lines.extend("  ".join(c.rjust(wd) for c, wd in zip(r, widths)) for r in rows)
    lines.append("")
    wall = {m: sum(statistics.median(w.wall[m]) * len(w.sets) for w in workloads) / n_sets for m in methods}
    lines.append("Wall-clock s/set over all workloads (loaded machine): "
                 + ", ".join(f"{m} {wall[m]:.3f}" for m in methods)
                 + f"; cached / uncached b=1 {wall['cached'] / wall['uncached b=1']:.2f}, "
                 f"cached / uncached b=8 {wall['cached'] / wall['uncached b=8']:.2f}.")
    lines.append(f"Cache build (once per trace: one forward pass with the cache on, image encoded once): "
                 f"{build:.2f} s CPU; amortised cached / uncached b=1 over all workloads at 10 sets "
                 f"{amortised[10]:.2f}, at 100 sets {amortised[100]:.2f}.")
    lines.append("")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="smollm2,llava576", help="comma-separated: smollm2, llava576")
    parser.add_argument("--n", type=int, default=600, help="SmolLM2 sequence length (tokens)")
    parser.add_argument("--llava-model", default=None, help="a checkpoint to use instead of the random LLaVA")
    parser.add_argument("--sets", type=int, default=8, help="sets in the 'uniform'/'patch' workloads")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds (median reported)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--calibrate", action="store_true",
                        help="time passes of b rows x q re-run positions on the cached path (b in --grid-rows, q in "
                             "--grid-suffixes) and fit a per-pass overhead and a per-token cost")
    parser.add_argument("--grid-rows", default="1,2,4,8,16")
    parser.add_argument("--grid-suffixes", default="1,4,16,64,256")
    parser.add_argument("--no-compare", action="store_true", help="skip the method comparison (calibrate only)")
    parser.add_argument("--explain-candidates", type=int, default=0,
                        help="SmolLM2: also time a sample of the single-token sets whytoken.explain sends "
                             "(max_set_size=1, this many candidates); 0: off")
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    log = lambda msg: print(msg, flush=True)  # noqa: E731
    out = [f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch "
           f"{torch.__version__}, {args.threads} thread(s); started {datetime.datetime.now():%Y-%m-%d %H:%M}; "
           f"load before: {uptime()}", ""]
    for name in [m.strip() for m in args.models.split(",") if m.strip()]:
        rng = np.random.default_rng(args.seed)
        if name == "smollm2":
            adapter, trace = smollm2(args.n)
            t = trace.generated[-1].position
            workloads = text_workloads(trace, t, rng, args.sets)
            if args.explain_candidates:
                extra = explain_workload(adapter, trace, t, rng, args.sets, args.explain_candidates)
                workloads += [extra] if extra is not None else []
            methods = ["uncached b=8", "uncached b=1", "cached"]
        elif name == "llava576":
            adapter, trace = llava576(args.llava_model)
            t = trace.generated[-1].position
            workloads = image_workloads(trace, t, rng, args.sets)
            methods = ["uncached b=8", "uncached b=1", "image once", "cached"]
        else:
            parser.error(f"unknown model {name!r}; choose smollm2 or llava576")
        log(f"{name}: {adapter.name}, n = {trace.n_positions}; token budget {token_budget(adapter.device)}, "
            f"pass overhead {pass_overhead(adapter.device)}")
        if not args.no_compare:
            build = measure(adapter, trace, workloads, methods, args.rounds, log)
            out += report(f"{name} ({adapter.name})", trace, workloads, methods, build, args.markdown)
        if args.calibrate:
            rows = [int(b) for b in args.grid_rows.split(",")]
            suffixes = [int(q) for q in args.grid_suffixes.split(",")]
            grid = calibrate(adapter, trace, rows, suffixes, args.rounds)
            per_pass, per_row, per_token = fit_pass_cost(grid, token_budget(adapter.device))
            out.append(f"Pass cost calibration, {name}, cached path (CPU ms per row; rows b x re-run positions q):")
            out.append("")
            out.append("| b \\ q | " + " | ".join(str(q) for q in suffixes) + " |")
            out.append("|" + "---|" * (len(suffixes) + 1))
            for b in rows:
                out.append(f"| {b} | " + " | ".join(f"{1000 * grid[(b, q)] / b:.1f}" if (b, q) in grid else "-"
                                                      for q in suffixes) + " |")
            out.append("")
            out.append(f"Fit over passes of <= {token_budget(adapter.device)} tokens: one pass = "
                       f"{1000 * per_pass:.0f} ms + {1000 * per_row:.0f} ms per row + {1000 * per_token:.2f} ms "
                       f"per token (the pass overhead is {per_pass / per_token:.0f} tokens' worth).")
            out.append("")
    out.append(f"load after: {uptime()}")
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
