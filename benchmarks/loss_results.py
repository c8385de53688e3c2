"""Gadre-law fits on Gadre et al.'s data and the Chinchilla law on Epoch's points (docs/loss_laws.md).

Usage::

    BAYES_SCALING_DATA_DIR=../shared/data .venv/bin/python benchmarks/loss_results.py [--noise mixture]

Every fit is the package default (``LossLaw(law)``: mixture noise, leave-future-out discrepancy)
unless ``--noise`` names another noise model.

Prints Markdown tables: per dataset, the fit on all runs with N < 1e9 (C4-eval loss), its
diagnostics, and the median / 90% interval for the 1.4B largest-M run and the 6.9B M=20 run with
the median's relative error beside the paper's; then Epoch's 240 points, posterior median and 95%
interval beside Epoch's bootstrap.
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np

import bayes_scaling as bs

PAPER_REL = {  # Gadre et al. (2024), C4-eval loss relative error of their point prediction (%)
    ("c4_original", "1.4B"): 1.5, ("c4_original", "6.9B"): 4.3,
    ("rpj", "1.4B"): 0.71, ("rpj", "6.9B"): 0.73,
    ("rw_original", "1.4B"): 0.01, ("rw_original", "6.9B"): 1.6,
}
EPOCH = {"A": (482, 285, 744), "B": (2085, 1042, 5810), "E": (1.817, 1.769, 1.871),
         "alpha": (0.348, 0.317, 0.373), "beta": (0.366, 0.331, 0.415)}


def gadre_section(noise: str, seed: int) -> None:
    runs = bs.load_dataset("gadre2024")
    print(f"## Gadre et al. (2024): gadre law, noise={noise}, fit on all runs with N < 1e9\n")
    print("Intervals: 'law mean' = the law's mean loss (parameter uncertainty only, "
          "`kind=\"law_mean\"`); 'new run' = the loss a new run would show (the default: adds "
          "run-to-run scatter and the extrapolation discrepancy).\n")
    print("| dataset | runs | R-hat max | div. | target | truth | median | rel. err. % | paper % "
          "| 90% law mean [width %] | covered | 90% new run [width %] | covered |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for ds in ("c4_original", "rpj", "rw_original"):
        d = runs[runs.dataset == ds]
        fit_runs = d[d.n_params < 1e9]
        big = d[d.n_params > 1e9]
        t14 = big[big.n_params < 2e9]
        targets = {"1.4B": t14[t14.tokens_per_param == t14.tokens_per_param.max()],
                   "6.9B": big[big.n_params > 5e9]}
        law = bs.LossLaw("gadre", loss="loss_c4_val", noise=noise).fit(fit_runs, seed=seed,
                                                                       warn=False)
        diag = law.diagnostics(warn=False)
        for name, t in targets.items():
            truth = float(t["loss_c4_val"].iloc[0])
            cells = []
            for kind in ("law_mean", "new_run"):
                p = law.predict(t, ci_prob=0.9, kind=kind, seed=seed).iloc[0]
                width = 100 * (p["upper"] - p["lower"]) / p["median"]
                cells.append(f"[{p['lower']:.3f}, {p['upper']:.3f}] [{width:.1f}] | "
                             f"{'yes' if p['lower'] <= truth <= p['upper'] else 'no'}")
                if kind == "law_mean":
                    med = p["median"]
            rel = 100 * abs(med - truth) / truth
            label = f"{name} M={t.tokens_per_param.iloc[0]:.0f}"
            print(f"| {ds} | {len(fit_runs)} | {diag.max_rhat:.4f} | {diag.divergences} | {label} "
                  f"| {truth:.4f} | {med:.4f} | {rel:.2f} | {PAPER_REL[(ds, name)]} | "
                  f"{cells[0]} | {cells[1]} |", flush=True)
        s = law.summary(0.9)
        print(f"\n{ds} posterior medians: " + ", ".join(
            f"{k} {s.loc[k, 'median']:.4g}" for k in s.index) + "\n")


def epoch_section(noise: str, seed: int) -> None:
    runs = bs.load_dataset("chinchilla_epoch")
    fit_runs = runs[runs.in_main_fit]
    law = bs.LossLaw("chinchilla", loss="loss_chinchilla", noise=noise).fit(fit_runs, seed=seed,
                                                                            warn=False)
    diag = law.diagnostics(warn=False)
    s = law.summary(0.95)
    print(f"## Epoch's 240 Chinchilla points: chinchilla law, noise={noise}\n")
    print(f"Diagnostics: {str(diag).splitlines()[0]}\n")
    print("| parameter | ours: median [95%] | Epoch bootstrap: estimate [95%] |")
    print("|---|---|---|")
    for k, (est, lo, hi) in EPOCH.items():
        fmt = ".3f" if k in ("E", "alpha", "beta") else ".0f"
        print(f"| {k} | {s.loc[k, 'median']:{fmt}} [{s.loc[k, 'lower']:{fmt}}, "
              f"{s.loc[k, 'upper']:{fmt}}] | {est} [{lo}, {hi}] |")
    extra = ["sigma"] + {"student_t": ["nu"], "mixture": ["outlier_prob", "outlier_scale"]}.get(
        noise, [])
    print("\n" + ", ".join(f"{k} {s.loc[k, 'median']:.4g} [{s.loc[k, 'lower']:.4g}, "
                           f"{s.loc[k, 'upper']:.4g}]" for k in extra) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--noise", default="mixture", choices=["mixture", "student_t", "normal"])
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    warnings.simplefilter("default")
    np.set_printoptions(precision=4)
    gadre_section(args.noise, args.seed)
    epoch_section(args.noise, args.seed)


if __name__ == "__main__":
    main()
