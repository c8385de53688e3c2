"""Benchmark batched posterior fits (``fit_many``): fits/s, lock-step efficiency, ESS, device.

The job: N fits of the gadre law to data simulated on the Gadre design (32 runs: 4 sizes x 8
token multipliers), parameters drawn around the RedPajama fit, no extrapolation discrepancy (the
posterior fit only), with each kernel given (``--kernels nuts chees``):

- ``nuts``: batched NUTS, ``--chains`` chains x (``--warmup`` + ``--draws``) per fit;
- ``chees``: batched ChEES-HMC, the :class:`~bayes_scaling.inference.chees.ChEESConfig`
  defaults (16 chains x (160 warm-up + 100 draws)) unless ``--chees-*`` say otherwise.

Per batch it prints: cold and warm seconds, fits/s (warm), the lock-step efficiency (useful
leapfrog steps / (lanes x the slowest lane's steps per iteration); warm-up and sampling), the
leapfrog steps (gradient evaluations) per effective sample (all steps of a fit, warm-up
included, over its min ESS bulk), the median min ESS bulk, R-hat and divergences, and
"fits/s at equal ESS": fits/s x (median min ESS bulk / 1000), the throughput of fits of 1000
effective draws each.

Usage::

    python benchmarks/bench_batch.py --n-fits 50                      # default device
    python benchmarks/bench_batch.py --n-fits 1000 --both             # accelerator, then the
                                                                      # same machine's CPU cores

``--both`` runs the job on the default device, then the same job in a subprocess on all of the
machine's CPU cores (``JAX_PLATFORMS=cpu``, one host device per core), and prints fits/s for
both and their ratio. The first call of each kernel compiles (the "cold" figure); the reported
figures are the second call on fresh data of the same shapes.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
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


def run_kernel(kernel: str, args) -> dict:
    import bayes_scaling as bs
    from bayes_scaling.estimators.batch import fit_many
    from bayes_scaling.inference.chees import lockstep_efficiency

    law = bs.LossLaw("gadre", loss="loss_sim", discrepancy=None, sampler=dict(
        num_warmup=args.warmup, num_samples=args.draws, num_chains=args.chains))
    chees = {k: v for k, v in (("num_chains", args.chees_chains),
                               ("num_warmup", args.chees_warmup),
                               ("num_samples", args.chees_draws)) if v}
    t = time.perf_counter()
    fit_many(law, make_tables(args.n_fits, seed=0), seed=0, backend="batched", kernel=kernel,
             chees=chees, warn=False)
    cold = time.perf_counter() - t
    tables = make_tables(args.n_fits, seed=1)
    t = time.perf_counter()
    fits = fit_many(law, tables, seed=1, backend="batched", kernel=kernel, chees=chees,
                    warn=False)
    warm = time.perf_counter() - t
    facts = json.loads(fits[0].idata.attrs["backend"])
    diags = [f.diagnostics(warn=False) for f in fits]
    ess = np.array([d.min_ess_bulk for d in diags])
    steps = np.stack([f.idata.sample_stats["n_steps"].values for f in fits])
    n_fits = args.n_fits
    per_fit_steps = facts["leapfrog_total"] / n_fits
    return {
        "kernel": kernel, "device": f"{facts['platform']} x{facts['device_count']}",
        "fits": n_fits, "cold_s": cold, "warm_s": warm, "fits_per_s": n_fits / warm,
        "lockstep_warmup": facts["lockstep"]["warmup"],
        "lockstep_sampling": lockstep_efficiency(steps),
        "grad_per_ess": float(np.median(per_fit_steps / ess)),
        "median_min_ess": float(np.median(ess)), "min_min_ess": float(np.min(ess)),
        "rhat_ok": float(np.mean([d.max_rhat <= 1.01 for d in diags])),
        "fits_div": int(sum(d.divergences > 0 for d in diags)),
        "fits_per_s_ess1000": n_fits / warm * float(np.median(ess)) / 1000.0,
    }


def print_rows(rows) -> None:
    print("| kernel | device | fits | cold s | warm s | fits/s | lock-step eff. (warm-up / "
          "sampling) | leapfrog per ESS | median (min) min ESS bulk | R-hat <= 1.01 | fits "
          "with divergences | fits/s at 1000 ESS |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['kernel']} | {r['device']} | {r['fits']} | {r['cold_s']:.1f} | "
              f"{r['warm_s']:.1f} | {r['fits_per_s']:.2f} | {r['lockstep_warmup']:.2f} / "
              f"{r['lockstep_sampling']:.2f} | {r['grad_per_ess']:.1f} | "
              f"{r['median_min_ess']:.0f} ({r['min_min_ess']:.0f}) | {100 * r['rhat_ok']:.0f}% | "
              f"{r['fits_div']} | {r['fits_per_s_ess1000']:.2f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-fits", type=int, default=1000)
    ap.add_argument("--kernels", nargs="+", default=["nuts", "chees"], choices=["nuts", "chees"])
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--warmup", type=int, default=500)
    ap.add_argument("--draws", type=int, default=500)
    ap.add_argument("--chees-chains", type=int, default=0)
    ap.add_argument("--chees-warmup", type=int, default=0)
    ap.add_argument("--chees-draws", type=int, default=0)
    ap.add_argument("--cpu-devices", type=int, default=0,
                    help="expose k CPU devices (shards the fit axis over k host devices)")
    ap.add_argument("--both", action="store_true",
                    help="then rerun on all CPU cores of this machine and print the ratio")
    ap.add_argument("--json", help="also write the rows to this JSON file")
    args = ap.parse_args()
    import bayes_scaling as bs

    if args.cpu_devices:
        bs.set_cpu_devices(args.cpu_devices)
    import jax
    import numpyro

    dev = jax.devices()[0]
    print(f"# bench_batch  python {platform.python_version()}  jax {jax.__version__}  "
          f"numpyro {numpyro.__version__}  bayes_scaling {bs.__version__}")
    print(f"# device {dev.platform}:{getattr(dev, 'device_kind', '')} x{jax.local_device_count()}"
          f"  host cpus {os.cpu_count()}  load {os.getloadavg()[0]:.1f}  fits {args.n_fits}")
    rows = [run_kernel(k, args) for k in args.kernels]
    print_rows(rows)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)
    if args.both:
        if dev.platform == "cpu":
            print("# --both: the default device is the CPU: no accelerator to compare")
            return
        out = args.json or "bench_batch_rows.json"
        cpu_json = out.replace(".json", "") + "_cpu.json"
        cmd = [sys.executable, __file__, "--n-fits", str(args.n_fits), "--kernels",
               *args.kernels, "--cpu-devices", str(os.cpu_count()), "--json", cpu_json]
        for flag in ("chains", "warmup", "draws", "chees_chains", "chees_warmup",
                     "chees_draws"):
            cmd += [f"--{flag.replace('_', '-')}", str(getattr(args, flag))]
        subprocess.run(cmd, check=True, env={**os.environ, "JAX_PLATFORMS": "cpu"})
        with open(cpu_json) as fh:
            cpu_rows = json.load(fh)
        for acc, cpu in zip(rows, cpu_rows, strict=True):
            print(f"# {acc['kernel']}: {acc['device']} {acc['fits_per_s']:.2f} fits/s, "
                  f"{cpu['device']} {cpu['fits_per_s']:.2f} fits/s, ratio "
                  f"{acc['fits_per_s'] / cpu['fits_per_s']:.1f}x")


if __name__ == "__main__":
    main()
