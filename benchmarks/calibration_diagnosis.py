"""Where the width and the misses of the default loss model's intervals come from.

Usage::

    BAYES_SCALING_DATA_DIR=../shared/data .venv/bin/python benchmarks/calibration_diagnosis.py \\
        [--evals loss_c4_val ...] [--epoch-cuts 1e20 3e20 1e21] [--seed 0] \\
        [--doc docs/calibration_diagnosis.md]

Companion of ``benchmarks/calibration_suites.py`` (which scores the suites): for the same
splits (Gadre et al.'s compute-cutoff suite, per corpus and eval loss; Epoch's Chinchilla
points cut at given FLOPs), one default fit each (``LossLaw(law)``, mixture noise,
leave-future-out discrepancy), and per fit

1. **the width budget** of the 90% interval, mean over the targets, in % of the median:
   the law's mean alone (parameter uncertainty), plus the regular run-to-run scatter (the
   new-run predictive without the discrepancy), and the default new-run predictive (plus the
   extrapolation discrepancy), each with its 90% coverage; and the discrepancy with the trend
   of ``kappa`` switched off (``Discrepancy.from_evidence(..., trend=False)`` on the same
   leave-future-out evidence);
2. **misses by distance**: the held-out targets' root-mean-square z-score under the new-run
   predictive (1 when calibrated) by extrapolation distance, beside the fit's own
   leave-future-out evidence in the same bins (rms residual over the refits' predictive sd,
   no discrepancy). Where the targets miss and the evidence does not, the fitting runs hold no
   sign of the miss: no discrepancy learned from them can cover it.

The in-memory fit's discrepancy is swapped for the variants (``idata.attrs["discrepancy"]``)
and restored; nothing is saved.
"""

from __future__ import annotations

import argparse
import contextlib
import platform
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import bayes_scaling as bs

bs.set_cpu_devices(4)  # before JAX computes anything: 4 chains in parallel

from _md import md  # noqa: E402  (benchmarks/: run as scripts)

from bayes_scaling.estimators.discrepancy import Discrepancy  # noqa: E402
from bayes_scaling.evaluate.splits import protocol_splits  # noqa: E402

BINS = (0.0, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0)
IN_DOMAIN = ("loss_c4_val", "loss_paloma_c4_en", "loss_paloma_falcon_refinedweb")


@contextlib.contextmanager
def swapped(law, disc: Discrepancy):
    """``law`` with ``disc`` as its discrepancy inside the block."""
    saved = law.idata.attrs["discrepancy"]
    law.idata.attrs["discrepancy"] = disc.to_json()
    try:
        yield law
    finally:
        law.idata.attrs["discrepancy"] = saved


def interval(draws: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(mean 90% width in % of the median, 90% coverage in %) of log-loss draws at truths y."""
    lo, med, hi = np.quantile(draws, [0.05, 0.5, 0.95], axis=0)
    width = 100 * np.mean((np.exp(hi) - np.exp(lo)) / np.exp(med))
    return float(width), float(100 * np.mean((y >= lo) & (y <= hi)))


def budget(name: str, law, targets: pd.DataFrame, draws: np.ndarray, seed: int) -> dict:
    """``draws``: the default new-run log-loss draws at ``targets`` (seed ``seed``)."""
    y = np.log(targets[law.loss].to_numpy(float))
    disc = law.discrepancy_
    row = {"fit": name, "n": len(y), "fit runs": int(law.idata.observed_data["log_loss"].size)}
    row["law mean"], row["cov law mean"] = interval(law.log_loss_draws(targets, kind="law_mean"), y)
    with swapped(law, Discrepancy.none()):
        row["+ scatter"], row["cov + scatter"] = interval(law.log_loss_draws(targets, seed=seed), y)
    row["new run"], row["cov new run"] = interval(draws, y)
    flat = Discrepancy.from_evidence(disc.points, disc.cutoffs, trend=False) if disc.points else disc
    with swapped(law, flat):
        row["no trend"], row["cov no trend"] = interval(law.log_loss_draws(targets, seed=seed), y)
    q = disc.quantiles((0.05, 0.5, 0.95))
    row["kappa q05/50/95"] = "/".join(f"{v:.4f}" for v in q)
    row["gamma q05/50/95"] = "/".join(f"{v:.2f}" for v in disc.trend((0.05, 0.5, 0.95)))
    row["sigma"] = float(np.median(law.idata.posterior["sigma"].values))
    row["max R-hat"] = float(law.summary().rhat.max())
    return row


def by_distance(name: str, law, targets: pd.DataFrame, draws: np.ndarray) -> pd.DataFrame:
    y = np.log(targets[law.loss].to_numpy(float))
    z = (y - draws.mean(axis=0)) / draws.std(axis=0)
    d = law.design_bounds.distance(targets["n_params"], targets["n_tokens"])
    held = pd.DataFrame({"bin": pd.cut(d, BINS), "z": z})
    ev = law.discrepancy_.evidence()
    out = held.groupby("bin", observed=True).agg(
        **{"targets": ("z", "size"), "target rms z": ("z", lambda v: np.sqrt(np.mean(v**2)))})
    if len(ev):
        ev["bin"] = pd.cut(ev["distance"], BINS)
        ev["ratio"] = ev["residual"] / ev["pred_sd"]
        lfo = ev.groupby("bin", observed=True).agg(
            **{"LFO points": ("ratio", "size"),
               "LFO rms r/sd": ("ratio", lambda v: np.sqrt(np.mean(v**2)))})
        out = out.join(lfo, how="outer")
    out.insert(0, "fit", name)
    return out.reset_index().rename(columns={"bin": "distance"})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--evals", nargs="+", default=list(IN_DOMAIN),
                    help="Gadre eval losses of the compute-cutoff fits (default: in-domain)")
    ap.add_argument("--epoch-cuts", nargs="*", type=float, default=[1e20, 3e20, 1e21])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--doc", type=Path, default=None, help="write the tables as markdown here")
    args = ap.parse_args()
    warnings.simplefilter("ignore")  # diagnostics are reported in the table, not as warnings
    t0 = time.time()
    cases = []
    gadre = bs.load_dataset("gadre2024")
    for loss in args.evals:
        for s in protocol_splits(gadre, "compute_cutoff"):
            cases.append((f"{s.dataset} {loss.removeprefix('loss_')}", "gadre", loss,
                          gadre.loc[s.fit], gadre.loc[s.targets]))
    if args.epoch_cuts:
        ch = bs.load_dataset("chinchilla_epoch")
        main_fit = ch[ch.in_main_fit]
        for cut in args.epoch_cuts:
            s = protocol_splits(main_fit, "compute_cutoff", cutoff_flops=cut)[0]
            cases.append((f"epoch < {cut:.0e}", "chinchilla", "loss_chinchilla",
                          main_fit.loc[s.fit], main_fit.loc[s.targets]))
    rows, dist = [], []
    for name, form, loss, fit, targets in cases:
        t = time.time()
        law = bs.LossLaw(form, loss=loss).fit(fit, seed=args.seed)
        draws = law.log_loss_draws(targets, seed=args.seed)
        rows.append(budget(name, law, targets, draws, args.seed) | {"s": round(time.time() - t, 1)})
        dist.append(by_distance(name, law, targets, draws))
        print(pd.DataFrame([rows[-1]]).to_string(index=False), flush=True)
    table = pd.DataFrame(rows)
    distances = pd.concat(dist, ignore_index=True)
    env = (f"Python {platform.python_version()}, bayes_scaling {bs.__version__}, seed "
           f"{args.seed}; {time.time() - t0:.0f} s")
    pd.set_option("display.width", 250)
    print(table.to_string(index=False))
    print(distances.to_string(index=False))
    print(env)
    if args.doc:
        cmd = ("BAYES_SCALING_DATA_DIR=../shared/data .venv/bin/python "
               "benchmarks/calibration_diagnosis.py --doc " + str(args.doc))
        text = (f"# Where the intervals' width and misses come from\n\nRegenerate: `{cmd}` ({env}).\n\n"
                + __doc__[__doc__.index("Companion"):__doc__.index("The in-memory")]
                + "\n## Width budget (90% intervals; widths in % of the median, coverage in %)\n\n"
                + md(table) + "\n\n## Misses by extrapolation distance\n\n" + md(distances) + "\n")
        args.doc.write_text(text)
        print(f"wrote {args.doc}")


if __name__ == "__main__":
    main()
