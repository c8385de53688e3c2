"""Validate batched ChEES-HMC against single NUTS fits, and by SBC; time the many-fit jobs.

Checks (issue 15):

1. ``agree``: posterior means and 90% interval ends (5% and 95% quantiles) of every scalar
   parameter, batched ChEES vs single NUTS fits (package defaults, 4 chains x 1000 + 1000), on
   Gadre et al.'s corpora (``bs.load_dataset("gadre2024")``, C4 eval, N < 1e9, one fit per
   corpus, gadre law) and Epoch's 240 points (``chinchilla_epoch``, chinchilla law; needs
   ``$BAYES_SCALING_DATA_DIR``). The gap is in units of its Monte Carlo standard error
   (``sqrt(mcse_nuts^2 + mcse_chees^2)``, arviz-stats ``mcse``); a check passes at |z| < 3.
2. ``sbc``: :func:`bayes_scaling.evaluate.sbc.sbc` of the default model (gadre, mixture noise),
   ``--sims`` simulations in one ChEES batch; chi-square p per quantity; seconds.
3. ``backtest``: the compute-cutoff backtest suite (:func:`~bayes_scaling.evaluate.backtest
   .backtest` per eval loss of the Gadre table, default model with its leave-future-out
   discrepancy); seconds, with the kernel given.

Usage::

    BAYES_SCALING_DATA_DIR=/work/shared/data python benchmarks/validate_chees.py agree
    python benchmarks/validate_chees.py sbc --sims 250
    python benchmarks/validate_chees.py backtest --kernel chees
"""

from __future__ import annotations

import argparse
import json
import os
import time
import warnings

import numpy as np


def _mcse(x, method, prob=None):
    from arviz_stats.base import array_stats

    kw = {"prob": prob} if prob is not None else {}
    return float(array_stats.mcse(x, chain_axis=0, draw_axis=1, method=method, **kw))


def compare(a, b, label):
    """Rows of z-scores, NUTS fit ``a`` vs ChEES fit ``b``, per scalar parameter."""
    rows = []
    pa, pb = a.idata.posterior, b.idata.posterior
    for k in a._diagnostic_names():
        if k not in pa or pa[k].ndim != 2 or np.ptp(pa[k].values) == 0:
            continue
        xa, xb = pa[k].values, pb[k].values
        for stat, fn, method, prob in (("mean", np.mean, "mean", None),
                                       ("q05", lambda v: np.quantile(v, 0.05), "quantile", 0.05),
                                       ("q95", lambda v: np.quantile(v, 0.95), "quantile", 0.95)):
            se = np.hypot(_mcse(xa, method, prob), _mcse(xb, method, prob))
            z = (fn(xb) - fn(xa)) / se
            rows.append({"fit": label, "param": k, "stat": stat, "nuts": float(fn(xa)),
                         "chees": float(fn(xb)), "z": float(z)})
    return rows


def agree(args):
    import bayes_scaling as bs
    from bayes_scaling.estimators.batch import fit_many

    chees = json.loads(args.chees) if args.chees else None
    runs = bs.load_dataset("gadre2024")
    subs, labels = [], []
    for corpus in sorted(runs["dataset"].unique()):
        sub = runs[(runs["dataset"] == corpus) & (runs["n_params"] < 1e9)]
        subs.append(sub[sub["loss_c4_val"].notna()])
        labels.append(f"gadre/{corpus}<1e9")
    jobs = [("gadre", "loss_c4_val", subs, labels)]
    if os.environ.get("BAYES_SCALING_DATA_DIR"):
        ch = bs.load_dataset("chinchilla_epoch")
        jobs.append(("chinchilla", "loss_chinchilla", [ch[ch.in_main_fit]], ["epoch240"]))
    rows, secs = [], {}
    for law_name, loss, tables, labs in jobs:
        law = bs.LossLaw(law_name, loss=loss, discrepancy=None)
        t = time.perf_counter()
        b = fit_many(law, tables, seed=1, backend="batched", kernel="chees", chees=chees,
                     warn=False)
        secs[f"chees {law_name} ({len(tables)} fits, incl. compile)"] = time.perf_counter() - t
        for tab, lab, fb in zip(tables, labs, b, strict=True):
            fa = bs.LossLaw(law_name, loss=loss, discrepancy=None).fit(tab, seed=0, warn=False)
            rows += compare(fa, fb, lab)
            print(f"# {lab}: NUTS {fa.diagnostics(warn=False)}\n#   ChEES "
                  f"{fb.diagnostics(warn=False)}", flush=True)
    z = np.array([r["z"] for r in rows])
    print("| fit | parameter | statistic | NUTS | ChEES | z |\n|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['fit']} | {r['param']} | {r['stat']} | {r['nuts']:.4g} | "
              f"{r['chees']:.4g} | {r['z']:+.2f} |")
    print(f"# {np.sum(np.abs(z) < 3)}/{len(z)} within 3 MCSE; max |z| {np.max(np.abs(z)):.2f}")
    print("# seconds:", json.dumps({k: round(v, 1) for k, v in secs.items()}))


def sbc_check(args):
    from bayes_scaling.evaluate.sbc import sbc

    chees = json.loads(args.chees) if args.chees else None
    t = time.perf_counter()
    res = sbc("gadre", num_simulations=args.sims, num_ranks=99, seed=args.seed,
              kernel=args.kernel, chees=chees)
    secs = time.perf_counter() - t
    u = res.uniformity(bins=10)
    print(u.to_string())
    r = res.ranks
    print(f"# SBC {args.sims} simulations, kernel {args.kernel}: {secs:.1f} s (compile "
          f"included); fits ok {r['fit_ok'].mean():.1%} (R-hat > 1.01: "
          f"{(r['max_rhat'] > 1.01).mean():.1%}, > 1.1: {(r['max_rhat'] > 1.1).mean():.1%}; "
          f"min ESS < 400: {(r['min_ess'] < 400).mean():.1%}; with divergences: "
          f"{(r['divergences'] > 0).mean():.1%}); min chi2 p {u['chi2_p'].min():.3f}")


def backtest_suite(args):
    import bayes_scaling as bs
    from bayes_scaling.data import loss_columns
    from bayes_scaling.evaluate.backtest import backtest

    runs = bs.load_dataset("gadre2024")
    losses = loss_columns(runs.columns) if not args.quick else ["loss_c4_val"]
    for rep in ("first (compile)", "second"):
        t = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            bts = [backtest(runs, protocol="compute_cutoff", loss=loss, seed=args.seed,
                            kernel=args.kernel) for loss in losses]
        print(f"# compute-cutoff suite ({len(losses)} losses x {len(bts[0]['dataset'].unique())}"
              f" corpora), kernel {args.kernel}, {rep}: {time.perf_counter() - t:.1f} s")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("check", choices=["agree", "sbc", "backtest"])
    ap.add_argument("--chees", help="ChEESConfig overrides as JSON")
    ap.add_argument("--sims", type=int, default=250)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--kernel", default="chees", choices=["chees", "nuts", "auto"])
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    print(f"# load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cpus", flush=True)
    {"agree": agree, "sbc": sbc_check, "backtest": backtest_suite}[args.check](args)


if __name__ == "__main__":
    main()
