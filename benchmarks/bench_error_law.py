"""Benchmark error-law fits on 30, 200 and 1,000 simulated runs: warm wall time and ESS.

Runs are simulated by :func:`bayes_scaling.evaluate.simulate.simulate_error_runs` (a sigmoid
between chance 0.75 and a floor of 0.2, 1,000 test items, scatter 0.01, loss measurement sd
0.005 nats). Each case fits ``ErrorLaw(law, loss_error=...)`` with the default sampler (4 chains
x (1000 warm-up + 1000 draws), dense mass, target acceptance 0.99). "Warm" is the median over
``--repeats`` fits after a first fit of the same shapes in the same process (the compiled sampler
is cached; each repeat uses new data and a new seed).

Usage::

    .venv/bin/python benchmarks/bench_error_law.py [--repeats 3] [--sizes 30 200 1000]
        [--latent-max 200] [--out bench_error_law.json]

``--latent-max``: the latent-loss model (one parameter per run) is timed only up to this size.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time

import numpy as np


def _case(law_name: str, n: int, loss_error: str, repeats: int) -> dict:
    from bayes_scaling.estimators.error_law import ErrorLaw
    from bayes_scaling.evaluate.simulate import simulate_error_runs

    def fit(seed: int):
        runs = simulate_error_runs(n, seed=seed)
        law = ErrorLaw(law_name, error="err_sim", loss="loss_sim", chance=0.75, n_items=1000,
                       loss_error=loss_error)
        t = time.perf_counter()
        law.fit(runs, seed=seed, warn=False)
        return time.perf_counter() - t, law

    first, _ = fit(0)
    times, ess, div, rhat = [], [], [], []
    for r in range(1, repeats + 1):
        t, law = fit(r)
        d = law.diagnostics(warn=False)
        times.append(t)
        ess.append(d.min_ess_bulk)
        div.append(d.divergences)
        rhat.append(d.max_rhat)
    med = statistics.median(times)
    return {"law": law_name, "n_runs": n, "loss_error": loss_error, "first_s": first,
            "warm_s": times, "warm_median_s": med, "min_ess_bulk": ess, "divergences": div,
            "max_rhat": rhat, "ess_per_s": float(np.median(ess)) / med}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--sizes", type=int, nargs="+", default=[30, 200, 1000])
    ap.add_argument("--laws", nargs="+", default=["sigmoid"])
    ap.add_argument("--latent-max", type=int, default=200)
    ap.add_argument("--out")
    args = ap.parse_args()
    import jax

    rows = []
    for law_name in args.laws:
        for n in args.sizes:
            modes = ["linearised"] + (["latent"] if n <= args.latent_max else [])
            for mode in modes:
                r = _case(law_name, n, mode, args.repeats)
                rows.append(r)
                print(f"{law_name:12s} n={n:5d} {mode:10s} first {r['first_s']:6.1f} s  warm "
                      f"median {r['warm_median_s']:6.2f} s  (all {[round(t, 2) for t in r['warm_s']]})"
                      f"  min ESS bulk {min(r['min_ess_bulk']):.0f}  divergences "
                      f"{sum(r['divergences'])}  max R-hat {max(r['max_rhat']):.3f}", flush=True)
    info = {"cpu_count": os.cpu_count(), "platform": platform.platform(),
            "jax": jax.__version__, "devices": [str(d) for d in jax.devices()]}
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"info": info, "rows": rows}, f, indent=1)
    print(json.dumps(info))


if __name__ == "__main__":
    main()
