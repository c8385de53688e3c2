"""Benchmark single posterior fits: fresh-process wall time (no cache, empty cache, warm cache),
warm in-process time, ESS, leapfrog steps per ESS.

For both laws (gadre, chinchilla) on one Gadre dataset (RedPajama runs with N < 1e9, C4-eval loss,
the table shipped in the package) and on Epoch's 240 Chinchilla points (raw files:
``BAYES_SCALING_DATA_DIR`` or a download); 4 chains x (1000 warm-up + 1000 draws) by default.

Usage::

    .venv/bin/python benchmarks/bench_fit.py [--repeats 5] [--cold-repeats 3]
        [--cases "gadre/rpj<1e9"] [--chain-method auto|parallel|vectorized] [--cpu-devices 4]

A "process" column is a fresh Python process that imports the package, loads the data, fits once
and exits, timed around the whole subprocess:

- "no cache": ``BAYES_SCALING_COMPILATION_CACHE=0`` (every program compiled from scratch);
- "empty cache": the default persistent compilation cache, in a new empty folder (what a user's
  very first fit costs: compiling and writing the cache);
- "warm cache": later processes with the same folder (every later fresh process).

``--new-ladders 37 89 143`` times instead the default ``LossLaw`` (leave-future-out refits
included) on simulated ladders of run counts the package has never seen (7 sizes x 25 token
ratios, a random subset of that many runs, the gadre law plus 1% noise), each in fresh
processes: "cold" with a new empty ``BAYES_SCALING_CACHE_DIR``, "warm" the next process with
the same folder, and "same length" a process fitting one run fewer (the same padded length:
its programs are already in the cache). Wall and CPU seconds and the load average (1 min,
before and after) are printed beside each figure.

"Warm" is the median over repeats of a second and later fit of the same shapes in one process
(the compiled sampler is kept in memory).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

CASES = {
    "gadre/rpj<1e9": ("gadre2024", "gadre", "loss_c4_val", "dataset == 'rpj' and n_params < 1e9"),
    "chinchilla/rpj<1e9": ("gadre2024", "chinchilla", "loss_c4_val",
                           "dataset == 'rpj' and n_params < 1e9"),
    "gadre/epoch240": ("chinchilla_epoch", "gadre", "loss_chinchilla", "in_main_fit"),
    "chinchilla/epoch240": ("chinchilla_epoch", "chinchilla", "loss_chinchilla", "in_main_fit"),
}


def _one_fit_code(case: str, args) -> str:
    ds, law, loss, query = CASES[case]
    pre = f"import bayes_scaling as bs; bs.set_cpu_devices({args.cpu_devices})\n" if \
        args.cpu_devices else "import bayes_scaling as bs\n"
    return pre + (
        f"runs = bs.load_dataset({ds!r}).query({query!r})\n"
        f"law = bs.LossLaw({law!r}, loss={loss!r}, "
        f"sampler=dict(chain_method={args.chain_method!r}, num_chains={args.chains}))\n"
        "law.fit(runs, seed=0, warn=False)\n"
    )


def cold(case: str, args, env: dict[str, str]) -> float:
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", _one_fit_code(case, args)], check=True,
                   env={**os.environ, **env})
    return time.perf_counter() - t


def cold_processes(case: str, args) -> tuple[float, float, float]:
    """Median fresh-process seconds: no cache, empty cache (one process), warm cache."""
    no_cache = statistics.median(
        cold(case, args, {"BAYES_SCALING_COMPILATION_CACHE": "0"})
        for _ in range(args.cold_repeats))
    with tempfile.TemporaryDirectory(prefix="bench_fit_cache_") as folder:
        env = {"BAYES_SCALING_CACHE_DIR": folder, "BAYES_SCALING_COMPILATION_CACHE": "1"}
        empty = cold(case, args, env)
        warm_cache = statistics.median(cold(case, args, env) for _ in range(args.cold_repeats))
    return no_cache, empty, warm_cache


_LADDER_CODE = """
import os, sys, time
t0 = time.perf_counter()
import numpy as np, pandas as pd
import bayes_scaling as bs
from bayes_scaling.evaluate.simulate import simulate_runs
from bayes_scaling.testing import TRUE_GADRE
n = int(sys.argv[1])
rng = np.random.default_rng(n)
nn, mm = np.meshgrid(np.geomspace(1e7, 8e8, 7), np.geomspace(5, 640, 25), indexing="ij")
idx = np.sort(rng.choice(nn.size, n, replace=False))
design = pd.DataFrame({"n_params": nn.ravel()[idx].astype(np.int64),
                       "n_tokens": (nn * mm).ravel()[idx]})
runs = simulate_runs("gadre", TRUE_GADRE, design, sigma=0.01, seed=n, loss="loss_c4_val")
law = bs.LossLaw("gadre", loss="loss_c4_val").fit(runs, seed=0, warn=False)
d = law.diagnostics(warn=False)
print("RESULT", time.perf_counter() - t0, d.max_rhat, d.divergences)
"""


def ladder_process(n: int, folder: str) -> tuple[float, float, float, float, float]:
    """(wall s, CPU s of the child, load before, load after, worst R-hat) of one fresh
    process fitting a simulated ladder of ``n`` runs with cache folder ``folder``."""
    load0 = os.getloadavg()[0]
    r0 = os.times()
    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", _LADDER_CODE, str(n)], check=True,
                         capture_output=True, text=True,
                         env={**os.environ, "BAYES_SCALING_CACHE_DIR": folder,
                              "BAYES_SCALING_COMPILATION_CACHE": "1"})
    wall = time.perf_counter() - t
    r1 = os.times()
    cpu = (r1.children_user - r0.children_user) + (r1.children_system - r0.children_system)
    rhat = float(next(ln for ln in out.stdout.splitlines() if ln.startswith("RESULT")).split()[2])
    return wall, cpu, load0, os.getloadavg()[0], rhat


def new_ladders(counts: list[int]) -> None:
    print("| runs | padded | process | wall s | CPU s | load before / after | worst R-hat |")
    print("|---|---|---|---|---|---|---|")
    from bayes_scaling.inference.nuts import padded_length

    for n in counts:
        with tempfile.TemporaryDirectory(prefix="bench_fit_cache_") as folder:
            for label, m in (("cold (empty cache)", n), ("warm (same cache)", n),
                             (f"same length ({n - 1} runs)", n - 1)):
                wall, cpu, l0, l1, rhat = ladder_process(m, folder)
                print(f"| {m} | {padded_length(m)} | {label} | {wall:.1f} | {cpu:.1f} | "
                      f"{l0:.1f} / {l1:.1f} | {rhat:.4f} |", flush=True)


def warm(case: str, args) -> dict:
    import numpy as np

    import bayes_scaling as bs

    ds, law_name, loss, query = CASES[case]
    runs = bs.load_dataset(ds).query(query)
    law = bs.LossLaw(law_name, loss=loss,
                     sampler=dict(chain_method=args.chain_method, num_chains=args.chains))
    law.fit(runs, seed=0, warn=False)  # compile
    times, ess, steps_per_ess, rhat, div = [], [], [], [], []
    for r in range(args.repeats):
        t = time.perf_counter()
        law.fit(runs, seed=r + 1, warn=False)
        times.append(time.perf_counter() - t)
        d = law.diagnostics(warn=False)
        n_steps = float(law.idata.sample_stats["n_steps"].values.sum())
        ess.append(d.min_ess_bulk)
        steps_per_ess.append(n_steps / d.min_ess_bulk)
        rhat.append(d.max_rhat)
        div.append(d.divergences)
    return {
        "runs": len(runs),
        "warm_s_median": statistics.median(times),
        "min_ess_bulk_median": statistics.median(ess),
        "leapfrog_per_ess_median": statistics.median(steps_per_ess),
        "max_rhat_worst": max(rhat),
        "divergences_total": int(np.sum(div)),
        "chain_method": json.loads(law.idata.attrs["backend"])["chain_method"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--cold-repeats", type=int, default=3)
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--chain-method", default="auto")
    ap.add_argument("--cpu-devices", type=int, default=0,
                    help="call bs.set_cpu_devices(k) first (k >= chains for parallel chains)")
    ap.add_argument("--cases", nargs="*", default=list(CASES))
    ap.add_argument("--new-ladders", nargs="*", type=int, default=None,
                    help="time first fits of simulated ladders of these run counts instead")
    args = ap.parse_args()
    if args.cpu_devices:
        import bayes_scaling as bs

        bs.set_cpu_devices(args.cpu_devices)
    import jax
    import numpyro

    import bayes_scaling as bs

    print(f"# bench_fit  python {platform.python_version()}  jax {jax.__version__}  "
          f"numpyro {numpyro.__version__}  bayes_scaling {bs.__version__}")
    print(f"# machine {platform.machine()}  cpus {os.cpu_count()}  load {os.getloadavg()[0]:.1f}  "
          f"device {jax.devices()[0]}  chains {args.chains}  chain_method {args.chain_method}  "
          f"cpu_devices {args.cpu_devices}")
    if args.new_ladders:
        new_ladders(args.new_ladders)
        return
    print("| case | runs | process s, no cache | process s, empty cache | process s, warm cache "
          "| warm s (in process) | min ESS bulk | leapfrog / ESS | worst R-hat | divergences "
          "| chains run |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for case in args.cases:
        no_cache, empty, warm_cache = cold_processes(case, args)
        w = warm(case, args)
        print(f"| {case} | {w['runs']} | {no_cache:.1f} | {empty:.1f} | {warm_cache:.1f} | "
              f"{w['warm_s_median']:.2f} | {w['min_ess_bulk_median']:.0f} | "
              f"{w['leapfrog_per_ess_median']:.1f} | {w['max_rhat_worst']:.4f} | "
              f"{w['divergences_total']} | {w['chain_method']} |", flush=True)


if __name__ == "__main__":
    main()
