"""Benchmark single posterior fits: cold-process and warm wall time, ESS, leapfrog steps per ESS.

For both laws (gadre, chinchilla) on one Gadre dataset (RedPajama runs with N < 1e9, C4-eval loss)
and on Epoch's 240 Chinchilla points; 4 chains x (1000 warm-up + 1000 draws) by default.

Usage::

    BAYES_SCALING_DATA_DIR=../shared/data .venv/bin/python benchmarks/bench_fit.py [--repeats 5]
        [--chain-method auto|parallel|vectorized] [--cpu-devices 4]

"Cold" is a fresh Python process that imports the package, loads the data, fits once and exits
(measured around the whole subprocess). "Warm" is the median over repeats of a second and later
fit of the same shapes in one process (the compiled sampler is cached).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
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
    if args.compilation_cache:
        pre += f"bs.enable_compilation_cache({args.compilation_cache!r})\n"
    return pre + (
        f"runs = bs.load_dataset({ds!r}).query({query!r})\n"
        f"law = bs.LossLaw({law!r}, loss={loss!r}, "
        f"sampler=dict(chain_method={args.chain_method!r}, num_chains={args.chains}))\n"
        "law.fit(runs, seed=0, warn=False)\n"
    )


def cold(case: str, args) -> float:
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", _one_fit_code(case, args)], check=True)
    return time.perf_counter() - t


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
    ap.add_argument("--compilation-cache", default="",
                    help="folder for JAX's persistent compilation cache in the cold processes "
                         "(the first cold run fills it; the median is over the later ones)")
    args = ap.parse_args()
    if args.cpu_devices:
        import bayes_scaling as bs

        bs.set_cpu_devices(args.cpu_devices)
    import jax
    import numpyro

    import bayes_scaling as bs

    print(f"# bench_fit  python {platform.python_version()}  jax {jax.__version__}  "
          f"numpyro {numpyro.__version__}  bayes_scaling {bs.__version__}")
    print(f"# machine {platform.machine()}  cpus {os.cpu_count()}  device {jax.devices()[0]}  "
          f"chains {args.chains}  chain_method {args.chain_method}  cpu_devices {args.cpu_devices}"
          f"  compilation_cache {args.compilation_cache or 'off'}")
    print("| case | runs | cold process s (median) | warm s (median) | min ESS bulk | "
          "leapfrog / ESS | worst R-hat | divergences | chains run |")
    print("|---|---|---|---|---|---|---|---|---|")
    for case in args.cases:
        colds = [cold(case, args) for _ in range(args.cold_repeats + bool(args.compilation_cache))]
        c = statistics.median(colds[1:] if args.compilation_cache else colds)
        w = warm(case, args)
        print(f"| {case} | {w['runs']} | {c:.2f} | {w['warm_s_median']:.2f} | "
              f"{w['min_ess_bulk_median']:.0f} | {w['leapfrog_per_ess_median']:.1f} | "
              f"{w['max_rhat_worst']:.4f} | {w['divergences_total']} | {w['chain_method']} |",
              flush=True)


if __name__ == "__main__":
    main()
