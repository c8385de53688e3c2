"""Downstream-error predictions for Gadre et al.'s held-out runs, as reported in docs/downstream.md.

For each corpus (C4, RedPajama, RefinedWeb):

1. loss law ``LossLaw("gadre", loss="loss_c4_val")`` fitted on all runs of the corpus with
   N < 1e9 (the 32 or 31 small runs, every M);
2. error laws ``ErrorLaw("exponential", error=...)`` fitted on the paper's 6 runs (0.011B,
   0.079B, 0.154B, 0.411B at M=20, 0.011B at M=320, 1.4B at M=20) for ``err_avg17``,
   ``err_avg46`` and each of the 46 tasks (plus the sigmoid law for the two averages);
3. predictions for the 1.4B run at the corpus's largest M and the 6.9B M=20 run, through
   :class:`~bayes_scaling.predict.predictor.ScalingPredictor` (full propagation) and the plug-in.

Usage::

    BAYES_SCALING_DATA_DIR=../shared/data .venv/bin/python benchmarks/downstream_results.py \\
        --out benchmarks/downstream_results.json

Prints Markdown tables; ``--out`` also writes every number as JSON. ``--quick`` uses small
samplers and the two averages only (a smoke test, ~1 min).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

import bayes_scaling as bs
from bayes_scaling.data import GADRE2024_TASKS_46
from bayes_scaling.estimators.error_law import ErrorLaw, gadre2024_tasks, paper_error_runs
from bayes_scaling.predict.predictor import ScalingPredictor

DATASETS = {"c4_original": "C4", "rpj": "RedPajama", "rw_original": "RefinedWeb"}
LARGEST_M = {"c4_original": 80, "rpj": 640, "rw_original": 320}
#: Gadre et al. (2024), relative error of their 17-task prediction (1.4B largest M, 6.9B M=20)
PAPER_REL_ERR_17 = {"c4_original": (9.6, 0.14), "rpj": (3.64, 0.05), "rw_original": (5.6, 2.94)}
CI = 0.9


def _targets(runs: pd.DataFrame, ds: str) -> pd.DataFrame:
    r = runs[runs.dataset == ds]
    m = np.rint(r.tokens_per_param)
    big = r[((r.n_params > 1e9) & (r.n_params < 2e9) & (m == LARGEST_M[ds]))
            | ((r.n_params > 6e9) & (m == 20))]
    assert len(big) == 2, big
    return big.reset_index(drop=True)


def _rel(pred: float, truth: float) -> float:
    return 100.0 * abs(pred - truth) / truth


def _diag(law) -> dict:
    d = law.diagnostics(warn=False)
    return {"ok": d.ok, "max_rhat": d.max_rhat, "min_ess_bulk": d.min_ess_bulk,
            "min_ess_tail": d.min_ess_tail, "divergences": d.divergences}


def _least_squares(six: pd.DataFrame, targets: pd.DataFrame, col: str, chance: float,
                   loss_pred: np.ndarray) -> dict:
    """Gadre et al.'s point fit (scipy curve_fit of eps - k exp(-gamma L), default start as in
    their ``curve_fit_decay_ours``), unbounded and with eps <= chance, evaluated at the targets'
    true losses and at this package's median predicted loss."""
    from scipy.optimize import curve_fit

    def f(x, k, gamma, eps):
        return eps - k * np.exp(-gamma * x)

    x, y = six["loss_c4_val"].to_numpy(), six[col].to_numpy()
    free, _ = curve_fit(f, x, y, maxfev=10000)
    bounded, _ = curve_fit(f, x, y, p0=[1.0, 1.0, 0.5 * chance],
                           bounds=([0, 0, 0], [np.inf, np.inf, chance]), maxfev=10000)
    truth = targets[col].to_numpy()
    out = {}
    for name, p in (("unbounded", free), ("eps<=chance", bounded)):
        at_true = f(targets["loss_c4_val"].to_numpy(), *p)
        at_pred = f(loss_pred, *p)
        out[name] = {"k": p[0], "gamma": p[1], "eps": p[2],
                     "at_true_loss": at_true.tolist(), "at_pred_loss": at_pred.tolist(),
                     "rel_err_true_loss": [_rel(a, t) for a, t in zip(at_true, truth, strict=True)],
                     "rel_err_pred_loss": [_rel(a, t) for a, t in zip(at_pred, truth, strict=True)]}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data-dir", default=os.environ.get("BAYES_SCALING_DATA_DIR"))
    ap.add_argument("--out", type=Path)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    sampler = {"num_warmup": 300, "num_samples": 300, "num_chains": 2} if args.quick else None
    runs = bs.load_dataset("gadre2024", data_dir=args.data_dir)
    tasks = gadre2024_tasks(data_dir=args.data_dir)
    errors = ["err_avg17", "err_avg46"]
    task_cols = [] if args.quick else [f"err_{t}" for t in GADRE2024_TASKS_46]
    t_start = time.time()
    results: dict = {"sampler": sampler or "default (4 chains x 1000 warm-up + 1000 draws)",
                     "ci_prob": CI, "seed": args.seed, "version": bs.__version__,
                     "datasets": {}}

    for ds, label in DATASETS.items():
        r = runs[runs.dataset == ds]
        small = r[r.n_params < 1e9]
        six = paper_error_runs(runs, ds)
        targets = _targets(runs, ds)
        t_xy = targets[["n_params", "n_tokens"]]
        loss_law = bs.LossLaw("gadre", loss="loss_c4_val", sampler=sampler).fit(
            small, seed=args.seed, warn=False)
        out = {"n_loss_runs": len(small), "loss_noise": loss_law.noise,
               "loss_diag": _diag(loss_law), "targets": targets.run_id.tolist()}
        lp = ScalingPredictor(loss_law).predict(t_xy, target="loss", ci_prob=CI,
                                               kind="new_run", seed=args.seed)
        out["loss"] = [{"run_id": rid, "truth": float(tr), "median": float(m),
                        "lower": float(lo), "upper": float(hi), "rel_err": _rel(m, tr)}
                       for rid, tr, m, lo, hi in zip(targets.run_id, targets.loss_c4_val,
                                                     lp["median"], lp["lower"], lp["upper"],
                                                     strict=True)]
        out["errors"] = {}
        for col in errors + task_cols:
            laws = ["exponential", "sigmoid"] if col in errors else ["exponential"]
            for law_name in laws:
                el = ErrorLaw(law_name, error=col, loss="loss_c4_val", sampler=sampler,
                              data_dir=args.data_dir).fit(six, seed=args.seed + 1, warn=False)
                pred = ScalingPredictor(loss_law, el)
                rows = []
                for kind in ("new_run", "law_mean"):
                    full = pred.predict(t_xy, target="error", ci_prob=CI, kind=kind,
                                        seed=args.seed)
                    plug = pred.plugin_predict(t_xy, ci_prob=CI, kind=kind, seed=args.seed)
                    for i, rid in enumerate(targets.run_id):
                        truth = float(targets[col].iloc[i])
                        rows.append({
                            "run_id": rid, "kind": kind, "truth": truth,
                            "median": float(full["median"].iloc[i]),
                            "lower": float(full["lower"].iloc[i]),
                            "upper": float(full["upper"].iloc[i]),
                            "covered": bool(full["lower"].iloc[i] <= truth
                                            <= full["upper"].iloc[i]),
                            "rel_err": _rel(full["median"].iloc[i], truth),
                            "plugin_loss": float(plug["loss_plugin"].iloc[i]),
                            "plugin_median": float(plug["median"].iloc[i]),
                            "plugin_lower": float(plug["lower"].iloc[i]),
                            "plugin_upper": float(plug["upper"].iloc[i]),
                            "plugin_covered": bool(plug["lower"].iloc[i] <= truth
                                                   <= plug["upper"].iloc[i]),
                        })
                if col in errors and law_name == "exponential":
                    out.setdefault("least_squares", {})[col] = _least_squares(
                        six, targets, col, el.chance_error, lp["median"].to_numpy())
                out["errors"][f"{col}/{law_name}"] = {
                    "chance": el.chance_error, "n_items": float(el.idata.attrs["n_items"]),
                    "diag": _diag(el), "summary": el.summary(ci_prob=CI).round(5).to_dict(),
                    "rows": rows,
                }
        results["datasets"][ds] = out
        print(f"{label}: done at {time.time() - t_start:.0f} s", flush=True)
    results["seconds"] = time.time() - t_start
    results["backend"] = json.loads(loss_law.idata.attrs["backend"])
    _report(results, tasks)
    if args.out:
        args.out.write_text(json.dumps(results, indent=1, default=float))


def _report(res: dict, tasks: pd.DataFrame) -> None:
    print(f"\nsampler: {res['sampler']}; {res['seconds']:.0f} s; backend "
          f"{res['backend']['platform']}")
    print("\n### Loss (C4 eval), 90% observed-run intervals\n")
    print("| corpus | run | truth | median [90%] | rel. err | covered |")
    print("|---|---|---|---|---|---|")
    for ds, out in res["datasets"].items():
        for row in out["loss"]:
            cov = row["lower"] <= row["truth"] <= row["upper"]
            print(f"| {DATASETS[ds]} | {row['run_id']} | {row['truth']:.4f} | "
                  f"{row['median']:.4f} [{row['lower']:.4f}, {row['upper']:.4f}] | "
                  f"{row['rel_err']:.2f}% | {'yes' if cov else 'no'} |")
        d = out["loss_diag"]
        print(f"<!-- {ds}: {out['n_loss_runs']} runs, noise {out['loss_noise']}, R-hat "
              f"{d['max_rhat']:.4f}, ESS {d['min_ess_bulk']:.0f}, div {d['divergences']} -->")
    for col in ("err_avg17", "err_avg46"):
        for law in ("exponential", "sigmoid"):
            print(f"\n### {col}, {law} law: full propagation, 90% intervals\n")
            print("| corpus | run | truth | observed: median [90%] | covered | mean-law [90%] | "
                  "rel. err | paper rel. err | plug-in observed [90%] |")
            print("|---|---|---|---|---|---|---|---|---|")
            for ds, out in res["datasets"].items():
                e = out["errors"].get(f"{col}/{law}")
                if e is None:
                    continue
                obs = [r for r in e["rows"] if r["kind"] == "new_run"]
                mean = [r for r in e["rows"] if r["kind"] == "law_mean"]
                for j, (o, m) in enumerate(zip(obs, mean, strict=True)):
                    paper = (f"{PAPER_REL_ERR_17[ds][j]}%" if col == "err_avg17" else "-")
                    print(f"| {DATASETS[ds]} | {o['run_id']} | {o['truth']:.4f} | "
                          f"{o['median']:.4f} [{o['lower']:.4f}, {o['upper']:.4f}] | "
                          f"{'yes' if o['covered'] else 'no'} | "
                          f"[{m['lower']:.4f}, {m['upper']:.4f}] | {o['rel_err']:.2f}% | "
                          f"{paper} | {o['plugin_median']:.4f} [{o['plugin_lower']:.4f}, "
                          f"{o['plugin_upper']:.4f}] |")
                d = e["diag"]
                print(f"<!-- {ds} {col} {law}: R-hat {d['max_rhat']:.4f}, ESS "
                      f"{d['min_ess_bulk']:.0f}/{d['min_ess_tail']:.0f}, div "
                      f"{d['divergences']} -->")
    print("\n### Point fits (scipy curve_fit, paper's method) on the 6 runs\n")
    print("| corpus | column | fit | eps | gamma | run | at true loss (rel. err) | "
          "at our median loss (rel. err) |")
    print("|---|---|---|---|---|---|---|---|")
    for ds, out in res["datasets"].items():
        for col, fits in out.get("least_squares", {}).items():
            for name, fit in fits.items():
                for j, run in enumerate(out["targets"]):
                    print(f"| {DATASETS[ds]} | {col} | {name} | {fit['eps']:.3f} | "
                          f"{fit['gamma']:.3f} | {run} | {fit['at_true_loss'][j]:.4f} "
                          f"({fit['rel_err_true_loss'][j]:.2f}%) | {fit['at_pred_loss'][j]:.4f} "
                          f"({fit['rel_err_pred_loss'][j]:.2f}%) |")
    print("\n### Interval width, full propagation / plug-in (90%)\n")
    print("| corpus | column | run | observed: full | plug-in | ratio | mean-law: full | plug-in "
          "| ratio |")
    print("|---|---|---|---|---|---|---|---|---|")
    for ds, out in res["datasets"].items():
        for col in ("err_avg17", "err_avg46"):
            e = out["errors"][f"{col}/exponential"]
            for run in out["targets"]:
                w = {}
                for r in e["rows"]:
                    if r["run_id"] == run:
                        w[r["kind"]] = (r["upper"] - r["lower"],
                                        r["plugin_upper"] - r["plugin_lower"])
                o, m = w["observed"], w["mean"]
                print(f"| {DATASETS[ds]} | {col} | {run} | {o[0]:.4f} | {o[1]:.4f} | "
                      f"{o[0] / o[1]:.2f} | {m[0]:.4f} | {m[1]:.4f} | {m[0] / m[1]:.2f} |")
    per_task = {ds: {k: v for k, v in out["errors"].items()
                     if not k.startswith(("err_avg17", "err_avg46"))}
                for ds, out in res["datasets"].items()}
    if any(per_task.values()):
        print("\n### Per-task (46 tasks), exponential law, share of 90% intervals covering\n")
        print("| corpus | run | observed: covered | mean-law: covered | median abs. error | "
              "fits with diagnostics ok | divergent fits |")
        print("|---|---|---|---|---|---|---|")
        for ds, fits in per_task.items():
            for run in res["datasets"][ds]["targets"]:
                obs = [r for f in fits.values() for r in f["rows"]
                       if r["run_id"] == run and r["kind"] == "new_run"]
                mean = [r for f in fits.values() for r in f["rows"]
                        if r["run_id"] == run and r["kind"] == "law_mean"]
                ok = sum(f["diag"]["ok"] for f in fits.values())
                div = sum(f["diag"]["divergences"] > 0 for f in fits.values())
                mae = np.median([abs(r["median"] - r["truth"]) for r in obs])
                print(f"| {DATASETS[ds]} | {run} | {sum(r['covered'] for r in obs)}/{len(obs)} "
                      f"| {sum(r['covered'] for r in mean)}/{len(mean)} | {mae:.4f} | "
                      f"{ok}/{len(fits)} | {div} |")
        allobs = [r for fits in per_task.values() for f in fits.values() for r in f["rows"]
                  if r["kind"] == "new_run"]
        print(f"\nall: {sum(r['covered'] for r in allobs)}/{len(allobs)} observed intervals "
              f"cover ({100 * np.mean([r['covered'] for r in allobs]):.1f}%)")
        missed = sorted({k.split("/")[0] for fits in per_task.values()
                         for k, f in fits.items()
                         for r in f["rows"] if r["kind"] == "new_run" and not r["covered"]})
        print("tasks with a miss:", ", ".join(m.removeprefix("err_") for m in missed))
        bad = sorted({f"{ds}:{k.split('/')[0]}" for ds, fits in per_task.items()
                      for k, f in fits.items() if not f["diag"]["ok"]})
        print("fits failing diagnostics:", ", ".join(bad) or "none")
    del tasks


if __name__ == "__main__":
    main()
