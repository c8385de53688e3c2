"""Benchmark batched posterior fits (``fit_many``): fits/s, per-fit min ESS and R-hat, device.

The job: N fits of the gadre law to data simulated on the Gadre design (32 runs: 4 sizes x 8
token multipliers), with parameters drawn from the prior predictive region around the RedPajama
fit, 4 chains x (500 warm-up + 500 draws) each, all in one compiled program.

Usage::

    .venv/bin/python benchmarks/bench_batch.py --n-fits 1000            # default device
    JAX_PLATFORMS=cpu .venv/bin/python benchmarks/bench_batch.py --n-fits 1000 --cpu-devices 16

The first call compiles; the figure reported is the second (warm) call on fresh data of the same
shape, plus the cold time separately.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np


def make_tables(n_fits: int, seed: int):
    from bayes_scaling.evaluate.simulate import gadre_design, simulate_runs

    rng = np.random.default_rng(seed)
    design = gadre_design()
    tables = []
    for _i in range(n_fits):
        truth = {"E": rng.uniform(1.4, 2.0), "A": rng.uniform(60, 160),
                 "B": rng.uniform(120, 320), "eta": rng.uniform(0.2, 0.3)}
        tables.append(simulate_runs("gadre", truth, design, sigma=0.01, loss="loss_sim",
                                    seed=int(rng.integers(2**31))))
    return tables


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-fits", type=int, default=1000)
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--warmup", type=int, default=500)
    ap.add_argument("--draws", type=int, default=500)
    ap.add_argument("--cpu-devices", type=int, default=0,
                    help="expose k CPU devices (shards the fit axis over k host devices)")
    args = ap.parse_args()
    import bayes_scaling as bs

    if args.cpu_devices:
        bs.set_cpu_devices(args.cpu_devices)
    import jax
    import numpyro

    from bayes_scaling.estimators.batch import fit_many

    dev = jax.devices()[0]
    print(f"# bench_batch  python {platform.python_version()}  jax {jax.__version__}  "
          f"numpyro {numpyro.__version__}  bayes_scaling {bs.__version__}")
    print(f"# device {dev.platform}:{getattr(dev, 'device_kind', '')} x{jax.local_device_count()}"
          f"  host cpus {os.cpu_count()}  fits {args.n_fits}  chains {args.chains}  "
          f"warmup {args.warmup}  draws {args.draws}")
    law = bs.LossLaw("gadre", loss="loss_sim", sampler=dict(
        num_warmup=args.warmup, num_samples=args.draws, num_chains=args.chains))
    t = time.perf_counter()
    fit_many(law, make_tables(args.n_fits, seed=0), seed=0, backend="batched", warn=False)
    cold = time.perf_counter() - t
    tables = make_tables(args.n_fits, seed=1)
    t = time.perf_counter()
    fits = fit_many(law, tables, seed=1, backend="batched", warn=False)
    warm = time.perf_counter() - t
    diags = [f.diagnostics(warn=False) for f in fits]
    rhat = np.array([d.max_rhat for d in diags])
    ess = np.array([d.min_ess_bulk for d in diags])
    div = np.array([d.divergences for d in diags])
    print("| device | fits | cold s | warm s | fits/s (warm) | R-hat <= 1.01 | median min ESS bulk "
          "| fits with divergences |")
    print("|---|---|---|---|---|---|---|---|")
    print(f"| {dev.platform} x{jax.local_device_count()} | {args.n_fits} | {cold:.1f} | "
          f"{warm:.1f} | {args.n_fits / warm:.2f} | {100 * np.mean(rhat <= 1.01):.1f}% | "
          f"{np.median(ess):.0f} | {int(np.sum(div > 0))} |")


if __name__ == "__main__":
    main()
