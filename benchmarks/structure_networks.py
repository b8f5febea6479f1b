"""Oracle speed and exactness on real network structures: icd (and fci) with the d-separation oracle on bnlearn DAGs.

For each packaged bnlearn network (``whytoken.causal.networks``) and each
latent share (0, 10, 20 % of the nodes hidden, seed 0, preferring nodes with
two or more children), runs the learner with
:class:`~whytoken.causal.DSeparationOracle` in a child process with a time
budget and checks the result against ``whytoken.causal.reference.true_pag``.
Single-threaded BLAS.

Run from the repository root::

    python benchmarks/structure_networks.py                   # icd, 60 s budget
    python benchmarks/structure_networks.py --method fci --budget 120 --networks asia,sachs,child
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import multiprocessing as mp  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

from whytoken.causal import DSeparationOracle, learn_pag  # noqa: E402
from whytoken.causal.networks import NETWORKS, latent_network  # noqa: E402
from whytoken.causal.reference import true_pag  # noqa: E402


def _one(conn, method: str, name: str, fraction: float) -> None:
    dag, observed = latent_network(name, fraction, seed=0)
    oracle = DSeparationOracle(dag, observed)
    start = time.perf_counter()
    result = learn_pag(oracle, observed, method=method)
    seconds = time.perf_counter() - start
    conn.send((seconds, result.n_tests, result.pag == true_pag(dag, observed), len(observed)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--method", default="icd", help="learner (default icd)")
    parser.add_argument("--budget", type=float, default=60.0, help="seconds per run before it is stopped (60)")
    parser.add_argument("--networks", default=",".join(NETWORKS), help="comma-separated networks (default: all)")
    args = parser.parse_args(argv)
    print(f"# {time.strftime('%Y-%m-%d %H:%M:%S')}; load average {', '.join(f'{x:.2f}' for x in os.getloadavg())}; "
          f"command: python {' '.join([sys.argv[0], *(argv if argv is not None else sys.argv[1:])])}")
    print("| network | latent share | observed | seconds | CI tests | exact |\n|---|---|---|---|---|---|")
    ctx = mp.get_context("fork")
    for name in args.networks.split(","):
        for fraction in (0.0, 0.1, 0.2):
            parent, child = ctx.Pipe(duplex=False)
            proc = ctx.Process(target=_one, args=(child, args.method, name, fraction), daemon=True)
            proc.start()
            child.close()
            if parent.poll(args.budget):
                seconds, tests, exact, n_obs = parent.recv()
                proc.join()
                print(f"| {name} | {fraction:.0%} | {n_obs} | {seconds:.2f} | {tests} | {'yes' if exact else 'NO'} |",
                      flush=True)
            else:
                proc.kill()  # started here, ended by its own handle
                proc.join()
                print(f"| {name} | {fraction:.0%} | - | > {args.budget:g} (stopped) | - | - |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
