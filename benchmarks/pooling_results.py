"""Issue-8 results: partial pooling across corpora and eval sets, PSIS-LOO, stacking, backtests.

Usage::

    BAYES_SCALING_DATA_DIR=/work/shared/data .venv/bin/python benchmarks/pooling_results.py \\
        --out scratch/pooling > scratch/pooling/results.md

``--quick`` runs tiny samplers (a smoke test; its numbers mean nothing). Fits are cached as
netCDF under ``<out>/fits`` (delete them to refit); score rows go to ``<out>/scores.csv``.

Sections (Gadre et al. 2024 data, C4-eval loss unless stated; every fit 4 chains x (1000 warm-up
+ 1000 draws; pooled fits 2000 draws), seed 0, on CPU):

1. The pooled fit of the three corpora on runs with N < 1e9: diagnostics, per-group parameters
   beside the separate fits, population hyperparameters.
2. PSIS-LOO per corpus for gadre/chinchilla x normal/student_t (and the pooled fit's LOO on the
   same runs), with Pareto-k counts and stacking weights.
3. Backtests, every prediction the *observed* predictive (the loss a new run would measure),
   scored against the held-out run: coverage of 50/80/90/95% intervals, mean 90% width (% of
   the median), median |relative error| of the median (%), mean CRPS of log loss (x100, ~%):
   (a) ``paper``: fit on N < 1e9, predict 1.4B at the largest M and 6.9B at M = 20;
   (b) ``cutoff``: per corpus, fit on the runs at or below the 80% quantile of compute and
       predict the rest (``splits.protocol_splits(..., "compute_cutoff")``).
   Methods: each single law x noise fitted per corpus, their stack (weights from LOO stacking on
   the fitting runs), the pooled gadre and chinchilla laws (Student-t), and the stack of the two
   pooled laws.
4. Pooling across the 8 eval sets within each corpus (long format, one group per eval set):
   diagnostics and the paper-target backtest against separate per-eval fits.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import bayes_scaling as bs
from bayes_scaling.estimators.pooled import PooledLossLaw, long_format
from bayes_scaling.evaluate.compare import StackedPredictor, compare_models, loo_table
from bayes_scaling.evaluate.scoring import CI_PROBS, score_draws
from bayes_scaling.evaluate.splits import protocol_splits
from bayes_scaling.inference.config import backend_info

LOSS = "loss_c4_val"
DATASETS = ("c4_original", "rpj", "rw_original")
COMBOS = [("gadre", "normal"), ("gadre", "student_t"), ("chinchilla", "normal"),
          ("chinchilla", "student_t")]
SEED = 0


def _quiet():
    warnings.simplefilter("ignore", bs.DiagnosticsWarning)
    warnings.filterwarnings("ignore", message=".*Pareto.*")


class Cache:
    """Fits cached as netCDF, so a crashed run resumes where it stopped."""

    def __init__(self, root: Path, sampler: dict, pooled_sampler: dict | None):
        self.root = root / "fits"
        self.root.mkdir(parents=True, exist_ok=True)
        self.sampler = sampler
        self.pooled_sampler = pooled_sampler
        self.timings: dict[str, float] = {}

    def law(self, key: str, runs: pd.DataFrame, law: str, noise: str,
            loss: str = LOSS) -> bs.LossLaw:
        path = self.root / f"{key}.nc"
        if path.exists():
            return bs.LossLaw.load(path)
        t0 = time.perf_counter()
        m = bs.LossLaw(law, loss=loss, noise=noise, sampler=self.sampler)
        m.fit(runs, seed=SEED, warn=False)
        self.timings[key] = time.perf_counter() - t0
        m.save(path)
        return m

    def pooled(self, key: str, runs: pd.DataFrame, law: str, noise: str = "student_t",
               loss: str = LOSS, group: str = "dataset", group_noise: bool = False,
               seed: int = SEED) -> PooledLossLaw:
        path = self.root / f"{key}.nc"
        if path.exists():
            return PooledLossLaw.load(path)
        t0 = time.perf_counter()
        m = PooledLossLaw(law, loss=loss, group=group, noise=noise,
                          sampler=self.pooled_sampler, group_noise=group_noise)
        m.fit(runs, seed=seed, warn=False)
        self.timings[key] = time.perf_counter() - t0
        m.save(path)
        return m


def _diag_cells(m) -> str:
    d = m.diagnostics(warn=False)
    steps = float(m.idata.sample_stats["n_steps"].mean())
    return (f"{d.divergences} | {d.max_rhat:.4f} | {d.min_ess_bulk:.0f} | {d.min_ess_tail:.0f} | "
            f"{steps:.0f}")


def _fmt_ci(s: pd.DataFrame, idx) -> str:
    r = s.loc[idx]
    return f"{r['median']:.4g} [{r['lower']:.4g}, {r['upper']:.4g}]"


# --------------------------------------------------------------------------------------------
# splits
# --------------------------------------------------------------------------------------------


def paper_splits(runs: pd.DataFrame) -> dict[str, tuple[pd.DataFrame, pd.DataFrame]]:
    """Per corpus: (runs with N < 1e9, the 1.4B largest-M and 6.9B M=20 runs)."""
    out = {}
    for sp in protocol_splits(runs, "paper"):
        g = runs[runs.dataset == sp.dataset]
        out[sp.dataset] = (g[g.n_params < 1e9], runs.loc[sp.targets])
    return out


def cutoff_splits(runs: pd.DataFrame) -> dict[str, tuple[pd.DataFrame, pd.DataFrame]]:
    return {sp.dataset: (runs.loc[sp.fit], runs.loc[sp.targets])
            for sp in protocol_splits(runs, "compute_cutoff", cutoff_quantile=0.8)}


# --------------------------------------------------------------------------------------------
# scoring
# --------------------------------------------------------------------------------------------


def score(method: str, protocol: str, dataset: str, log_draws: np.ndarray,
          targets: pd.DataFrame, loss: str = LOSS) -> pd.DataFrame:
    s = score_draws(log_draws, targets[loss].to_numpy(float), ci_probs=CI_PROBS, scale="log")
    s.insert(0, "method", method)
    s.insert(1, "protocol", protocol)
    s.insert(2, "dataset", dataset)
    s.insert(3, "run_id", targets["run_id"].to_numpy())
    s.insert(4, "n_params", targets["n_params"].to_numpy())
    s.insert(5, "tokens_per_param", targets["tokens_per_param"].to_numpy())
    return s


def summarise(rows: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    def agg(g: pd.DataFrame) -> pd.Series:
        out = {"n": len(g)}
        for p in CI_PROBS:
            out[f"cov{int(100 * p)}"] = g[f"covered_{100 * p:g}"].mean()
        out["width90_pct"] = 100 * g["rel_width_90"].mean()
        out["med_abs_err_pct"] = 100 * np.median(np.abs(g["rel_error"]))
        out["crps_x100"] = 100 * g["crps"].mean()
        return pd.Series(out)

    return rows.groupby(by, sort=False).apply(agg, include_groups=False).reset_index()


def md_table(df: pd.DataFrame, floatfmt: dict | None = None) -> str:
    floatfmt = floatfmt or {}
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, r in df.iterrows():
        cells = []
        for c in cols:
            v = r[c]
            if isinstance(v, float | np.floating):
                f = floatfmt.get(c, ".2f")
                cells.append(format(v, f) if np.isfinite(v) else "")
            else:
                cells.append(str(v))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


COV_FMT = {"cov50": ".2f", "cov80": ".2f", "cov90": ".2f", "cov95": ".2f", "width90_pct": ".1f",
           "med_abs_err_pct": ".2f", "crps_x100": ".2f", "n": ".0f"}


# --------------------------------------------------------------------------------------------
# a protocol: separate fits, stacks, pooled fits, scores
# --------------------------------------------------------------------------------------------


def run_protocol(name: str, splits: dict, cache: Cache, *, loo_out: list | None = None,
                 pooled_out: dict | None = None) -> pd.DataFrame:
    rows = []
    weights = {}
    for ds, (fit, targets) in splits.items():
        fits = {f"{law}/{noise}": cache.law(f"{name}_{ds}_{law}_{noise}", fit, law, noise)
                for law, noise in COMBOS}
        table = compare_models(fits, warn=False)
        weights[ds] = table["weight"].to_dict()
        if loo_out is not None:
            lt = loo_table(fits, warn=False)
            for k, m in fits.items():
                d = m.diagnostics(warn=False)
                loo_out.append({"dataset": ds, "model": k, "n_runs": int(lt.loc[k, "n_obs"]),
                                "elpd_loo": lt.loc[k, "elpd_loo"], "se": lt.loc[k, "se"],
                                "p_loo": lt.loc[k, "p_loo"], "k>0.7": int(lt.loc[k, "n_high_k"]),
                                "max_k": lt.loc[k, "max_pareto_k"],
                                "weight": float(table.loc[k, "weight"]),
                                "div": d.divergences, "rhat": d.max_rhat})
        for i, (k, m) in enumerate(fits.items()):
            rows.append(score(k, name, ds, m.log_loss_draws(targets, kind="new_run",
                                                            seed=SEED + i), targets))
        stacked = StackedPredictor(fits, table.loc[list(fits), "weight"])
        rows.append(score("stacked (4 laws)", name, ds,
                          stacked.log_loss_draws(targets, kind="new_run", seed=SEED), targets))
    fit_all = pd.concat([f for f, _ in splits.values()])
    pooled = {law: cache.pooled(f"{name}_pooled_{law}", fit_all, law)
              for law in ("gadre", "chinchilla")}
    ptable = compare_models({f"pooled {k}/student_t": m for k, m in pooled.items()}, warn=False)
    pstack = StackedPredictor({f"pooled {k}/student_t": m for k, m in pooled.items()},
                              ptable["weight"])
    if pooled_out is not None:
        pooled_out.update(pooled)
        pooled_out["_weights"] = ptable["weight"].to_dict()
    for ds, (_, targets) in splits.items():
        for law, m in pooled.items():
            rows.append(score(f"pooled {law}/student_t", name, ds,
                              m.log_loss_draws(targets, kind="new_run", seed=SEED), targets))
        rows.append(score("stacked pooled (2 laws)", name, ds,
                          pstack.log_loss_draws(targets, kind="new_run", seed=SEED), targets))
    out = pd.concat(rows, ignore_index=True)
    out.attrs["weights"] = weights
    return out


# --------------------------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="scratch/pooling")
    ap.add_argument("--quick", action="store_true", help="tiny samplers (smoke test)")
    ap.add_argument("--skip-evals", action="store_true", help="skip section 4")
    args = ap.parse_args()
    _quiet()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    sampler = (dict(num_warmup=150, num_samples=150, num_chains=2) if args.quick
               else bs.SamplerConfig().to_dict())
    # pooled fits: PooledLossLaw's default (2000 draws per chain), see POOLED_SAMPLER
    cache = Cache(out, sampler, sampler if args.quick else None)
    runs = bs.load_dataset("gadre2024")
    t_start = time.perf_counter()
    print("# Partial pooling, LOO and stacking: measured results\n")
    print(f"Sampler: {json.dumps(sampler)} (pooled fits: 2000 draws per chain); seed {SEED}; "
          f"loss {LOSS}; backend {backend_info()['platform']}.\n")

    # -------------------------------------------------------------- (a) paper + sections 1, 2
    loo_rows: list[dict] = []
    pooled_paper: dict = {}
    paper = run_protocol("paper", paper_splits(runs), cache, loo_out=loo_rows,
                         pooled_out=pooled_paper)
    pg = pooled_paper["gadre"]
    print("## 1. Pooled fit of the three corpora (gadre law, Student-t, N < 1e9)\n")
    print("| model | runs | divergences | R-hat max | ESS bulk min | ESS tail min | "
          "leapfrog steps / draw | fit time (s) |")
    print("|---|---|---|---|---|---|---|---|")
    for law in ("gadre", "chinchilla"):
        m = pooled_paper[law]
        t = cache.timings.get(f"paper_pooled_{law}", float("nan"))
        print(f"| pooled {law}/student_t | {m.idata.observed_data.sizes['run']} | "
              f"{_diag_cells(m)} | {t:.0f} |")
    for ds in DATASETS:
        m = bs.LossLaw.load(cache.root / f"paper_{ds}_gadre_student_t.nc")
        t = cache.timings.get(f"paper_{ds}_gadre_student_t", float("nan"))
        print(f"| separate gadre/student_t, {ds} | {m.idata.observed_data.sizes['run']} | "
              f"{_diag_cells(m)} | {t:.0f} |")
    print("\nPer-corpus parameters, posterior median [90% interval]: pooled vs separate "
          "(gadre/student_t).\n")
    s_pool = pg.summary(0.9)
    print("| corpus | fit | E | A | B | eta |")
    print("|---|---|---|---|---|---|")
    for ds in DATASETS:
        sep = bs.LossLaw.load(cache.root / f"paper_{ds}_gadre_student_t.nc").summary(0.9)
        print(f"| {ds} | pooled | " + " | ".join(_fmt_ci(s_pool, (ds, k))
                                                 for k in ("E", "A", "B", "eta")) + " |")
        print(f"| {ds} | separate | " + " | ".join(_fmt_ci(sep, k)
                                                   for k in ("E", "A", "B", "eta")) + " |")
    print("\nPopulation (pooled gadre): " + ", ".join(
        f"{k} {_fmt_ci(s_pool, ('(population)', k))}"
        for k in ("eta_loc", "eta_scale", "E_loc", "E_scale", "a_scale", "b_scale", "sigma",
                  "nu")) + "\n")
    print("Convergence of the pooled gadre fit over seeds (paper: N < 1e9; cutoff: the "
          "compute-cutoff fitting runs of section 3b):\n")
    print("| split | seed | divergences | R-hat max | ESS bulk min | ESS tail min | "
          "leapfrog steps / draw | fit time (s) |")
    print("|---|---|---|---|---|---|---|---|")
    for split, sp in (("paper", paper_splits(runs)), ("cutoff", cutoff_splits(runs))):
        fit_all = pd.concat([f for f, _ in sp.values()])
        for seed in (0, 1, 2):
            key = f"{split}_pooled_gadre" + ("" if seed == SEED else f"_seed{seed}")
            m = cache.pooled(key, fit_all, "gadre", seed=seed)
            t = cache.timings.get(key, float("nan"))
            print(f"| {split} | {seed} | {_diag_cells(m)} | {t:.0f} |")
    print()

    print("## 2. PSIS-LOO per corpus (fit on N < 1e9), with Pareto k and stacking weights\n")
    # the pooled fit's pointwise LOO, summed over each corpus's runs (same observations)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import arviz_stats as azs

        for law in ("gadre", "chinchilla"):
            res = azs.loo(pooled_paper[law].idata, pointwise=True, var_name="log_loss")
            grp = pooled_paper[law].idata.constant_data["run_group"].values.astype(str)
            elpd_i = np.asarray(res.elpd_i.values)
            pk = np.asarray(res.pareto_k.values)
            for ds in DATASETS:
                sel = grp == ds
                loo_rows.append({"dataset": ds, "model": f"pooled {law}/student_t",
                                 "n_runs": int(sel.sum()), "elpd_loo": float(elpd_i[sel].sum()),
                                 "se": float(np.sqrt(sel.sum() * np.var(elpd_i[sel]))),
                                 "p_loo": np.nan, "k>0.7": int(np.sum(pk[sel] > 0.7)),
                                 "max_k": float(pk[sel].max()), "weight": np.nan,
                                 "div": pooled_paper[law].diagnostics(warn=False).divergences,
                                 "rhat": pooled_paper[law].diagnostics(warn=False).max_rhat})
    loo_df = pd.DataFrame(loo_rows).sort_values(["dataset", "elpd_loo"],
                                                ascending=[True, False], kind="stable")
    loo_df.to_csv(out / "loo.csv", index=False)
    print(md_table(loo_df, {"elpd_loo": ".1f", "se": ".1f", "p_loo": ".1f", "max_k": ".2f",
                            "weight": ".3f", "rhat": ".4f"}))
    print("\n(elpd_loo: sum over the corpus's runs of the LOO log density of log loss; the "
          "pooled rows sum the pooled fit's pointwise values over that corpus's runs, its se "
          "from their spread; weight: stacking weight among the four separate fits.)\n")

    # -------------------------------------------------------------- (b) cutoff
    pooled_cut: dict = {}
    cut = run_protocol("cutoff", cutoff_splits(runs), cache, pooled_out=pooled_cut)
    scores = pd.concat([paper, cut], ignore_index=True)
    scores.to_csv(out / "scores.csv", index=False)

    print("## 3. Backtests: observed predictive against the held-out runs\n")
    print("Pooled fits' diagnostics: " + "; ".join(
        f"{proto} {law}: {str(d[law].diagnostics(warn=False)).splitlines()[0]}"
        for proto, d in (("paper", pooled_paper), ("cutoff", pooled_cut))
        for law in ("gadre", "chinchilla")) + "\n")
    for proto, bt in (("paper", paper), ("cutoff", cut)):
        print(f"Stacking weights ({proto}): " + "; ".join(
            f"{ds}: " + ", ".join(f"{k} {w:.2f}" for k, w in ws.items())
            for ds, ws in bt.attrs["weights"].items()))
        pw = (pooled_paper if proto == "paper" else pooled_cut)["_weights"]
        print(f"Pooled stacking weights ({proto}): " + ", ".join(
            f"{k} {w:.2f}" for k, w in pw.items()) + "\n")
    for proto, title in (("paper", "(a) paper targets: fit N < 1e9, predict 1.4B largest M and "
                                   "6.9B M=20"),
                         ("cutoff", "(b) compute cutoff: fit C <= 80% quantile per corpus, "
                                    "predict the rest")):
        sub = scores[scores.protocol == proto]
        print(f"### {title}\n")
        print("Overall (all corpora):\n")
        print(md_table(summarise(sub, ["method"]), COV_FMT))
        print("\nPer corpus:\n")
        print(md_table(summarise(sub, ["dataset", "method"]), COV_FMT))
        print()
    print("### Both protocols together\n")
    print(md_table(summarise(scores, ["method"]), COV_FMT))
    print()

    # -------------------------------------------------------------- 4. eval-set pooling
    if not args.skip_evals:
        eval_section(runs, cache, out)
    print(f"\nTotal wall time {time.perf_counter() - t_start:.0f} s "
          f"(fits cached under {cache.root}).")


def eval_section(runs: pd.DataFrame, cache: Cache, out: Path) -> None:
    from bayes_scaling.data import loss_columns

    evals = loss_columns(runs.columns)
    print(f"## 4. Pooling across the {len(evals)} eval sets within each corpus (gadre, "
          "Student-t, N < 1e9)\n")
    rows = []
    diag_lines = []
    for ds, (fit, targets) in paper_splits(runs).items():
        lf_fit = long_format(fit, evals)
        lf_t = long_format(targets, evals)
        for gn, label in ((False, "pooled over evals, shared sigma"),
                          (True, "pooled over evals, sigma per eval")):
            key = f"evals_{ds}_pooled_gadre" + ("_gn" if gn else "")
            pooled = cache.pooled(key, lf_fit, "gadre", loss="loss_eval", group="eval_set",
                                  group_noise=gn)
            t = cache.timings.get(key, float("nan"))
            diag_lines.append(f"| {ds}, {label} | {len(lf_fit)} | {_diag_cells(pooled)} | "
                              f"{t:.0f} |")
            rows.append(score(label, "paper", ds,
                              pooled.log_loss_draws(lf_t, kind="new_run", seed=SEED), lf_t,
                              loss="loss_eval").assign(eval_set=lf_t["eval_set"].to_numpy()))
        s = pooled.summary(0.9)
        for ev in sorted(lf_fit.eval_set.unique()):
            f = lf_fit[lf_fit.eval_set == ev]
            tt = lf_t[lf_t.eval_set == ev]
            m = cache.law(f"evals_{ds}_{ev}_gadre_student_t", f, "gadre", "student_t",
                          loss="loss_eval")
            rows.append(score("separate per eval", "paper", ds,
                              m.log_loss_draws(tt, kind="new_run", seed=SEED), tt,
                              loss="loss_eval").assign(eval_set=ev))
        eta = ", ".join(f"{ev} {s.loc[(ev, 'eta'), 'median']:.3f}" for ev in pooled.groups)
        sig = ", ".join(f"{ev} {s.loc[(ev, 'sigma'), 'median']:.4f}" for ev in pooled.groups)
        diag_lines.append(f"|  | sigma-per-eval fit: eta by eval: {eta}; sigma by eval: {sig} "
                          "| | | | | | |")
    print("| corpus, model | rows | divergences | R-hat max | ESS bulk min | ESS tail min | "
          "leapfrog steps / draw | fit time (s) |")
    print("|---|---|---|---|---|---|---|---|")
    print("\n".join(diag_lines))
    ev = pd.concat(rows, ignore_index=True)
    ev.to_csv(out / "scores_evals.csv", index=False)
    print("\nPaper targets (1.4B largest M, 6.9B M=20) on every eval set, observed predictive:\n")
    print(md_table(summarise(ev, ["method"]), COV_FMT))
    print()
    print(md_table(summarise(ev, ["dataset", "method"]), COV_FMT))
    print()
    print(md_table(summarise(ev, ["eval_set", "method"]), COV_FMT))


if __name__ == "__main__":
    main()
