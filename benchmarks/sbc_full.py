"""Full simulation-based calibration of the loss laws (results print; see also docs/calibration.md).

Usage::

    .venv/bin/python benchmarks/sbc_full.py [--num-simulations 300] [--out out/sbc] [--seed 0]
        [--cases gadre/grid32 gadre/paper5 chinchilla/grid32]

Cases (law/design):

``gadre/grid32``
    Gadre et al.'s small-run grid: 4 sizes (0.011B-0.411B) x 8 token multipliers (M = 5..640).
``gadre/paper5``
    The paper protocol's 5 fitting runs (the four small models at M = 20, 0.011B at M = 320):
    4 law parameters plus noise from 5 runs, where the prior matters most.
``chinchilla/grid32``
    The 5-parameter Chinchilla law on the grid.

Default priors, Student-t noise and the default sampler (4 chains x 1000 + 1000, dense mass) for
every fit: the configuration the backtests use. Ranks among 99 thinned draws; chi-square on 10 bins
and KS on jittered normalised ranks (see :func:`bayes_scaling.evaluate.sbc.sbc_uniformity`). Writes the
ranks (CSV), the uniformity tables and a JSON summary under ``--out`` and prints Markdown.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd

import bayes_scaling as bs

bs.set_cpu_devices(4)  # before JAX computes anything: 4 chains in parallel

from bayes_scaling.evaluate.sbc import sbc  # noqa: E402
from bayes_scaling.evaluate.simulate import GADRE_SMALL_SIZES, gadre_design  # noqa: E402


def design_of(name: str) -> pd.DataFrame:
    if name == "grid32":
        return gadre_design()
    if name == "paper5":
        n = np.array(list(GADRE_SMALL_SIZES) + [GADRE_SMALL_SIZES[0]], dtype=float)
        m = np.array([20, 20, 20, 20, 320], dtype=float)
        return pd.DataFrame({"n_params": n.astype(np.int64), "n_tokens": n * m})
    raise ValueError(f"unknown design {name!r}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--num-simulations", type=int, default=300)
    ap.add_argument("--num-ranks", type=int, default=99)
    ap.add_argument("--bins", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="out/sbc")
    ap.add_argument("--cases", nargs="+",
                    default=["gadre/grid32", "gadre/paper5", "chinchilla/grid32"])
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    summary = {"meta": {"machine": platform.platform(), "version": bs.__version__,
                        "sampler": bs.SamplerConfig().to_dict(), "seed": args.seed,
                        "num_ranks": args.num_ranks, "bins": args.bins}}
    for case in args.cases:
        law, design = case.split("/")
        t0 = time.perf_counter()
        res = sbc(law, design=design_of(design), num_simulations=args.num_simulations,
                  num_ranks=args.num_ranks, seed=args.seed, progress=True)
        secs = time.perf_counter() - t0
        tag = case.replace("/", "_")
        res.ranks.to_csv(out / f"ranks_{tag}.csv", index=False)
        u = res.uniformity(bins=args.bins)
        u_ok = res.uniformity(bins=args.bins, only_ok=True)
        u.to_csv(out / f"uniformity_{tag}.csv", index=False)
        ok = float(res.ranks.fit_ok.mean())
        summary[case] = {"seconds": round(secs, 1), "accepted": len(res.ranks),
                         "attempts": res.n_attempts, "rejected": res.n_rejected,
                         "fits_ok": ok, "divergent_fits": int((res.ranks.divergences > 0).sum()),
                         "uniformity": u.to_dict("records"),
                         "uniformity_ok_fits": u_ok.to_dict("records")}
        print(f"\n### SBC {case}: {len(res.ranks)} simulations ({res.n_attempts} prior draws; "
              f"rejected {res.n_rejected}), {secs:.0f} s; fits passing diagnostics {100 * ok:.0f}%"
              f", with divergences {(res.ranks.divergences > 0).sum()}\n")
        print(u.assign(**{"chi2_p (ok fits)": u_ok.chi2_p, "ks_p (ok fits)": u_ok.ks_p})
              .round(3).to_string(index=False), flush=True)
    (out / "sbc_full.json").write_text(json.dumps(summary, indent=1, default=str))
    print(f"written to {out}/")


if __name__ == "__main__":
    main()
