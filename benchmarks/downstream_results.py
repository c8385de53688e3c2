"""Downstream-error suite: leave-future-out by compute, regenerating docs/downstream.md.

Two suites, each scored per task for absolute error of the median, coverage of the 50% and 90%
new-run intervals, 90% width and log score, against plug-in least-squares baselines:

``gadre``
    Gadre et al.'s (2024) runs, per corpus (C4, RedPajama, RefinedWeb): error laws fitted on the
    runs with compute below ``--cutoff`` FLOPs, predicting every run above it at its measured
    C4-eval loss, for the 46 tasks and the 17- and 46-task averages (48 columns x 3 corpora).
``simulated``
    Tasks whose error is a sigmoid in loss between chance and a ceiling, with emergence-like
    cases (a midpoint at or below the fitted losses: flat at chance, then a take-off), a ladder
    of 36 runs from 4.6 to 2.2 nats, fitted on runs with loss above 2.75 and scored below.

Each column is fitted with every law in ``--laws`` (``ErrorLaw(law)`` with its defaults but a
smaller sampler: 2 chains x (500 warm-up + 500 draws), enough for 5%/95% quantiles; the
defaults are 4 x 1000). Baselines: scipy ``curve_fit`` of the sigmoid (chance fixed, floor in
[0, chance]) and of Gadre et al.'s exponential, each with a normal interval of the residual sd
(the "plug-in" practice). The log score is the log density of the truth under a Gaussian kernel
density estimate of the predictive draws (baselines: their normal predictive).

Usage::

    BAYES_SCALING_DATA_DIR=../shared/data .venv/bin/python benchmarks/downstream_results.py \\
        [--out benchmarks/downstream_results.json] [--doc docs/downstream.md]

``--quick`` fits the two averages and 6 simulated tasks only (smoke test). ``--pooled`` adds
``pooled_sigmoid`` rows: one :class:`~bayes_scaling.estimators.pooled_error.PooledErrorLaw` per
corpus over the 17 tasks of ``err_avg17`` (the sigmoid's rate pooled across them), scored at the
same held-out runs. ``--pooled-only`` runs just that comparison (those 17 tasks, the unpooled
``sigmoid`` and the plug-in baselines, no simulated suite) and ``--doc docs/downstream_pooling.md``
writes its page::

    BAYES_SCALING_DATA_DIR=../shared/data .venv/bin/python benchmarks/downstream_results.py \\
        --pooled-only --out /tmp/downstream_pooling.json --doc docs/downstream_pooling.md
"""

from __future__ import annotations

import argparse
import json
import os
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import bayes_scaling as bs
from bayes_scaling.data import GADRE2024_TASKS_17, GADRE2024_TASKS_46
from bayes_scaling.estimators.error_law import ErrorLaw
from bayes_scaling.estimators.tasks import chance_level, effective_items, gadre2024_tasks
from bayes_scaling.evaluate.simulate import simulate_error_runs

DATASETS = {"c4_original": "C4", "rpj": "RedPajama", "rw_original": "RefinedWeb"}
SAMPLER = {"num_warmup": 500, "num_samples": 500, "num_chains": 2}
LOSS = "loss_c4_val"
SIM_CUT = 2.75


# ---------------------------------------------------------------------------------------------
# scores
# ---------------------------------------------------------------------------------------------


def _kde_logpdf(draws: np.ndarray, x: float) -> float:
    d = np.asarray(draws, float)
    bw = 1.06 * max(d.std(), 1e-4) * len(d) ** -0.2  # Silverman
    z = (x - d) / bw
    return float(np.log(np.mean(np.exp(-0.5 * z * z)) / (bw * np.sqrt(2 * np.pi)) + 1e-300))


def _score_draws(draws: np.ndarray, truth: float) -> dict:
    q = np.quantile(draws, [0.05, 0.25, 0.5, 0.75, 0.95])
    return {"median": float(q[2]), "abs_err": abs(float(q[2]) - truth),
            "signed_err": float(q[2]) - truth,
            "cov50": bool(q[1] <= truth <= q[3]), "cov90": bool(q[0] <= truth <= q[4]),
            "width90": float(q[4] - q[0]), "log_score": _kde_logpdf(draws, truth)}


def _score_normal(mu: float, sd: float, truth: float) -> dict:
    from scipy.stats import norm

    sd = max(sd, 1e-4)
    return {"median": mu, "abs_err": abs(mu - truth), "signed_err": mu - truth,
            "cov50": bool(abs(truth - mu) <= norm.ppf(0.75) * sd),
            "cov90": bool(abs(truth - mu) <= norm.ppf(0.95) * sd),
            "width90": float(2 * norm.ppf(0.95) * sd),
            "log_score": float(norm.logpdf(truth, mu, sd))}


def _ls_baselines(x: np.ndarray, y: np.ndarray, x_new: np.ndarray, chance: float) -> dict:
    """Plug-in least-squares sigmoid and exponential: point fit, normal residual interval."""
    from scipy.optimize import curve_fit

    def sig(v, f, s, m):
        return f + (chance - f) / (1.0 + np.exp(-s * (v - m)))

    def expo(v, k, g, e):
        return e - k * np.exp(-g * v)

    out = {}
    for name, fn, p0, bounds in (
            ("ls_sigmoid", sig, [0.5 * y.min(), 2.0, float(np.median(x))],
             ([0.0, 1e-3, 0.0], [chance, 100.0, 20.0])),
            ("ls_exponential", expo, [1.0, 1.0, min(0.99 * chance, max(y.max(), 1e-3))],
             ([0.0, 0.0, 0.0], [np.inf, 50.0, chance]))):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                p, _ = curve_fit(fn, x, y, p0=p0, bounds=bounds, maxfev=20000)
            pred = np.clip(fn(x_new, *p), 0.0, 1.0)
            sd = float(np.sqrt(np.sum((y - fn(x, *p)) ** 2) / max(len(y) - 3, 1)))
        except (RuntimeError, ValueError):  # no convergence: predict the last value
            pred, sd = np.full(len(x_new), y[np.argmin(x)]), float(np.std(y))
        out[name] = (pred, sd)
    return out


def _fit_and_score(runs_fit, runs_new, *, error, loss, laws, chance, n_items, seed,
                   truth_loss=None) -> dict:
    x_new = runs_new[loss].to_numpy(float) if truth_loss is None else truth_loss
    truth = runs_new[error].to_numpy(float)
    rows: dict = {}
    diags = {}
    fitted_chance = chance
    elpd = {}
    for law_name in laws:
        el = ErrorLaw(law_name, error=error, loss=loss, chance=chance, n_items=n_items,
                      sampler=SAMPLER).fit(runs_fit, seed=seed, warn=False)
        d = el.diagnostics(warn=False)
        diags[law_name] = {"ok": d.ok, "max_rhat": d.max_rhat, "divergences": d.divergences}
        draws = el.error_draws(x_new, kind="new_run", seed=seed)
        rows[law_name] = [_score_draws(draws[:, j], truth[j]) for j in range(len(truth))]
        fitted_chance = el.chance_error  # the metadata the law resolved
        pts = el.discrepancy_.lfo_log_density()
        elpd[law_name] = float(pts.sum()) if len(pts) else np.nan
    if len(elpd) > 1 and all(np.isfinite(v) for v in elpd.values()):
        # "lfo_choice": per column, the law whose leave-future-out refits (inside the fitting
        # runs) predicted the held-out lower-loss runs best
        best = max(elpd, key=elpd.get)
        rows["lfo_choice"] = rows[best]
        choice = best
    else:
        choice = None
    base = _ls_baselines(runs_fit[loss].to_numpy(float), runs_fit[error].to_numpy(float),
                         x_new, fitted_chance)
    for name, (pred, sd) in base.items():
        rows[name] = [_score_normal(float(pred[j]), sd, truth[j]) for j in range(len(truth))]
    return {"rows": rows, "diag": diags, "lfo_choice": choice}


# ---------------------------------------------------------------------------------------------
# suites
# ---------------------------------------------------------------------------------------------


def _pooled_rows(fit, new, out, *, cols, tasks, seed) -> dict:
    """Fit ``PooledErrorLaw`` (default: the sigmoid's rate pooled) jointly on ``cols`` and add
    its per-column scores as ``pooled_sigmoid`` rows of the matching entries of ``out``."""
    from bayes_scaling.estimators.pooled_error import PooledErrorLaw

    t0 = time.time()
    pe = PooledErrorLaw("sigmoid", errors=cols, loss=LOSS,
                        chance={c: chance_level(c, tasks) for c in cols},
                        n_items={c: effective_items(c, tasks) for c in cols},
                        sampler=SAMPLER).fit(fit, seed=seed, warn=False)
    x_new, by_task = new[LOSS].to_numpy(float), {r["task"]: r for r in out}
    for col in cols:
        truth = new[col].to_numpy(float)
        draws = pe.error_draws(x_new, error=col, kind="new_run", seed=seed)
        by_task[col]["rows"]["pooled_sigmoid"] = [_score_draws(draws[:, j], truth[j])
                                                  for j in range(len(truth))]
    d = pe.diagnostics(warn=False)
    pop = pe.summary().loc["(population)"]["median"].to_dict()
    return {"ok": d.ok, "max_rhat": d.max_rhat, "divergences": d.divergences,
            "seconds": time.time() - t0, "population_median": pop}


def gadre_suite(runs: pd.DataFrame, tasks: pd.DataFrame, *, cutoff: float, laws, quick: bool,
                seed: int, pooled: bool = False, pooled_only: bool = False) -> list[dict]:
    pool_cols = [f"err_{t}" for t in GADRE2024_TASKS_17]
    cols = (pool_cols if pooled_only else ["err_avg17", "err_avg46"] + (
        [] if quick else [f"err_{t}" for t in GADRE2024_TASKS_46]))
    out = []
    for ds in DATASETS:
        r = runs[runs.dataset == ds]
        fit, new = r[r.compute_flops < cutoff], r[r.compute_flops >= cutoff]
        part = []
        for col in cols:
            # Gadre et al.'s metadata (these are their runs), resolved once per column rather
            # than by every fit (the look-up verifies the dataset's files)
            res = _fit_and_score(fit, new, error=col, loss=LOSS, laws=laws,
                                 chance=chance_level(col, tasks),
                                 n_items=effective_items(col, tasks), seed=seed)
            part.append({"suite": "gadre", "group": ds, "task": col, "n_fit": len(fit),
                         "n_new": len(new), **res})
        if pooled and set(pool_cols) <= set(cols):
            diag = _pooled_rows(fit, new, part, cols=pool_cols, tasks=tasks, seed=seed)
            for p in part:
                if p["task"] in pool_cols:
                    p["pooled_diag"] = diag
            print(f"gadre {ds}: pooled fit of {len(pool_cols)} tasks {diag}", flush=True)
        out += part
        print(f"gadre {ds}: {len(cols)} columns done", flush=True)
    return out


def sim_tasks(n: int, seed: int) -> list[dict]:
    """Ground truths of the simulated tasks: ceilings, slopes, midpoints, chance levels.

    A third are emergence-like (midpoint 2.35-2.75 nats: at chance over most fitted runs), the
    rest have midpoints 2.8-3.8 nats; floors (best reachable error) 0.02-0.5 of chance.
    """
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        chance = float(rng.choice([0.5, 0.75, 0.75, 1.0]))
        emergent = i % 3 == 0
        out.append({"task": f"sim{i:02d}{'_emergent' if emergent else ''}", "chance": chance,
                    "floor": float(chance * rng.uniform(0.02, 0.5)),
                    "slope": float(rng.uniform(2.0, 6.0) if emergent else rng.uniform(1.0, 3.5)),
                    "midpoint": float(rng.uniform(2.35, 2.75) if emergent
                                      else rng.uniform(2.8, 3.8)),
                    "n_items": float(rng.choice([500, 1000, 3000])),
                    "sigma": float(rng.uniform(0.003, 0.015))})
    return out


def sim_suite(*, n_tasks: int, laws, seed: int) -> list[dict]:
    out = []
    for i, t in enumerate(sim_tasks(n_tasks, seed)):
        runs = simulate_error_runs(36, chance=t["chance"], floor=t["floor"], slope=t["slope"],
                                   midpoint=t["midpoint"], n_items=t["n_items"],
                                   sigma=t["sigma"], loss_range=(2.2, 4.6), seed=1000 + i)
        fit, new = runs[runs.loss_sim > SIM_CUT], runs[runs.loss_sim <= SIM_CUT]
        res = _fit_and_score(fit, new, error="err_sim", loss="loss_sim", laws=laws,
                             chance=t["chance"], n_items=t["n_items"], seed=seed)
        out.append({"suite": "simulated", "group": "sim", "task": t["task"], "truth": t,
                    "n_fit": len(fit), "n_new": len(new), **res})
    print(f"simulated: {n_tasks} tasks done", flush=True)
    return out


# ---------------------------------------------------------------------------------------------
# tables and the page
# ---------------------------------------------------------------------------------------------


def _flat(results: list[dict]) -> pd.DataFrame:
    rows = []
    for r in results:
        for method, scores in r["rows"].items():
            for j, s in enumerate(scores):
                rows.append({"suite": r["suite"], "group": r["group"], "task": r["task"],
                             "method": method, "target": j, **s})
    return pd.DataFrame(rows)


def _summary(df: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    g = df.groupby(by)
    s = pd.DataFrame({
        "intervals": g.size(),
        "mean abs. error": g["abs_err"].mean(),
        "median abs. error": g["abs_err"].median(),
        "50% coverage": 100 * g["cov50"].mean(),
        "90% coverage": 100 * g["cov90"].mean(),
        "mean 90% width": g["width90"].mean(),
        "mean log score": g["log_score"].mean(),
    })
    if "signed_err" in df:  # runs saved before the signed error was recorded lack it
        s["median above truth %"] = 100 * g["signed_err"].apply(lambda v: float((v > 0).mean()))
    return s.reset_index()


def _md(df: pd.DataFrame, floatfmt: dict | None = None) -> str:
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, row in df.iterrows():
        cells = []
        for c in cols:
            v = row[c]
            if isinstance(v, float):
                cells.append(f"{v:.1f}" if "coverage" in c else f"{v:.4f}" if "error" in c
                             or "width" in c else f"{v:.2f}")
            else:
                cells.append(str(v))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data-dir", default=os.environ.get("BAYES_SCALING_DATA_DIR"))
    ap.add_argument("--out", type=Path)
    ap.add_argument("--doc", type=Path)
    ap.add_argument("--cutoff", type=float, default=1e20)
    ap.add_argument("--laws", nargs="+", default=["sigmoid", "exponential"])
    ap.add_argument("--sim-tasks", type=int, default=24)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--pooled", action="store_true",
                    help="add PooledErrorLaw rows (pooled_sigmoid) for the 17 tasks of err_avg17")
    ap.add_argument("--pooled-only", action="store_true",
                    help="only the pooling comparison: the 17 tasks, --laws sigmoid, pooled rows, "
                         "no simulated suite; --doc then writes the pooling page")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--from-json", type=Path, metavar="OUT.json",
                    help="no fitting: render the tables and --doc from an earlier run's --out")
    args = ap.parse_args()

    if args.from_json is not None:
        saved = json.loads(args.from_json.read_text())
        results, seconds = saved["results"], saved["meta"]["seconds"]
        args.laws, args.cutoff = saved["meta"].get("laws", ["sigmoid"]), saved["meta"]["cutoff"]
    else:
        t0 = time.time()
        if args.pooled_only:
            args.laws, args.pooled = ["sigmoid"], True
        runs = bs.load_dataset("gadre2024", data_dir=args.data_dir)
        tasks = gadre2024_tasks(data_dir=args.data_dir)
        results = gadre_suite(runs, tasks, cutoff=args.cutoff, laws=args.laws,
                              quick=args.quick, seed=args.seed, pooled=args.pooled,
                              pooled_only=args.pooled_only)
        if not args.pooled_only:
            results += sim_suite(n_tasks=6 if args.quick else args.sim_tasks, laws=args.laws,
                                 seed=args.seed)
        seconds = time.time() - t0
    if args.from_json is not None or args.pooled_only:
        args.pooled_only = all(r["suite"] == "gadre" for r in results) and any(
            "pooled_diag" in r for r in results)
    if args.pooled_only:
        return _pooling_main(results, seconds, args)
    df = _flat(results)
    df["kind"] = np.where(df.task.isin(["err_avg17", "err_avg46"]), "average", "task")
    tables = {
        "suite": _summary(df[df.kind == "task"], ["suite", "method"]),
        "averages": _summary(df[(df.suite == "gadre") & (df.kind == "average")],
                             ["task", "method"]),
        "corpus": _summary(df[(df.suite == "gadre") & (df.kind == "task")],
                           ["group", "method"]),
    }
    sim = df[df.suite == "simulated"].copy()
    sim["emergent"] = sim.task.str.endswith("_emergent")
    tables["sim_emergent"] = _summary(sim, ["emergent", "method"])
    # per-task 90% coverage of each law across that task's targets and corpora
    per_task = (df[df.kind == "task"].groupby(["suite", "task", "method"])["cov90"].mean()
                .unstack("method"))
    diag_bad = sum(1 for r in results for d in r["diag"].values() if not d["ok"])
    n_fits = sum(len(r["diag"]) for r in results)
    divergent = sum(1 for r in results for d in r["diag"].values() if d["divergences"] > 0)
    meta = {"seconds": seconds, "n_fits": n_fits, "fits_failing_diagnostics": diag_bad,
            "fits_with_divergences": divergent, "cutoff": args.cutoff, "sampler": SAMPLER,
            "version": bs.__version__, "laws": args.laws, "sim_cut": SIM_CUT,
            "n_fit_runs": {r["group"]: r["n_fit"] for r in results if r["suite"] == "gadre"},
            "n_new_runs": {r["group"]: r["n_new"] for r in results if r["suite"] == "gadre"},
            "lfo_choice_counts": {
                kind: pd.Series([r.get("lfo_choice") for r in results
                                 if (r["suite"], r["task"] in ("err_avg17", "err_avg46"))
                                 == key]).value_counts().to_dict()
                for kind, key in (("gadre tasks", ("gadre", False)),
                                  ("gadre averages", ("gadre", True)),
                                  ("simulated", ("simulated", False)))}}
    _emit(tables, meta, results, args)
    if args.doc:
        from downstream_page import render  # noqa: PLC0415 - sibling script module

        args.doc.write_text(render(tables, per_task, meta, args))


def _emit(tables: dict, meta: dict, results: list[dict], args) -> None:
    """Print the tables and the run's metadata; save the results to ``--out`` (fresh runs)."""
    for name, t in tables.items():
        print(f"\n## {name}\n\n{_md(t)}")
    print(json.dumps(meta, default=str))
    if args.out and args.from_json is None:
        args.out.write_text(json.dumps({"meta": meta, "results": results}, indent=1,
                                       default=float))


def _pooling_main(results: list[dict], seconds: float, args) -> None:
    """Tables and page of the pooling comparison (``--pooled-only``)."""
    df = _flat(results)
    pooled_tasks = {r["task"] for r in results if "pooled_diag" in r}
    df = df[df.task.isin(pooled_tasks)]
    tables = {"overall": _summary(df, ["method"]), "corpus": _summary(df, ["group", "method"])}
    per_task = df.groupby(["task", "method"])[["cov90", "abs_err", "log_score"]].mean()
    diags = {r["group"]: r["pooled_diag"] for r in results if "pooled_diag" in r}
    meta = {"seconds": seconds, "cutoff": args.cutoff, "sampler": SAMPLER,
            "version": bs.__version__, "tasks": sorted(pooled_tasks), "pooled_fits": diags,
            "single_fits": sum(len(r["diag"]) for r in results),
            "single_fits_failing": sum(1 for r in results for d in r["diag"].values()
                                       if not d["ok"])}
    _emit(tables, meta, results, args)
    if args.doc:
        from downstream_page import render_pooling  # noqa: PLC0415 - sibling script module

        args.doc.write_text(render_pooling(tables, per_task, meta))


if __name__ == "__main__":
    main()
