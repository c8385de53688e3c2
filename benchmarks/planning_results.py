"""Check the run planner against reality on the Gadre et al. (2024) runs: ``docs/planning.md``.

For each training corpus (C4-eval loss), start from the paper's 5-run fitting set
(``protocol_splits(runs, "paper")``), let :func:`bayes_scaling.predict.planning.plan_runs` rank
the remaining small runs (N < 1e9) for the 1.4B and 6.9B targets, then add runs **with their real
losses**, refit and measure the realised 90% new-run width at both targets:

- every candidate alone (the planner's expected width against the realised one: Spearman rank
  correlation over the candidates);
- the planner's greedy top-3 batch (ranked for the 6.9B target) against cost-matched random
  batches (runs drawn at random, one at a time, among those that fit the remaining budget of the
  top-3's total FLOPs), median over ``--n-random`` draws; compared as width reduction per FLOP.

All refits of all corpora run as one :func:`~bayes_scaling.fit_many` batch (4 chains x (500 +
500): a 90% width needs its quantiles, 2000 draws put their Monte Carlo error near 1-2% of the
width). Realised widths carry the same extrapolation discrepancy as the planner's (the starting
fit's ``kappa`` draws times the target's distance from the enlarged design), so the comparison is
of like with like.

Usage::

    .venv/bin/python benchmarks/planning_results.py            # writes docs/planning.md
    .venv/bin/python benchmarks/planning_results.py --quick    # 2 corpora, 5 random draws
"""

from __future__ import annotations

import argparse
import platform
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import bayes_scaling as bs
from bayes_scaling.data.design import DesignBounds
from bayes_scaling.evaluate.splits import protocol_splits
from bayes_scaling.predict.planning import FITTED_DATASET, fit_runs_table, plan_runs

LOSS = "loss_c4_val"
MAIN_SAMPLER = {"num_warmup": 1000, "num_samples": 1000, "num_chains": 4}
REFIT_SAMPLER = {"num_warmup": 500, "num_samples": 500, "num_chains": 4}
CI = 0.9


def realised_widths(fit: bs.LossLaw, base: bs.LossLaw, targets: pd.DataFrame, seed: int) -> np.ndarray:
    """90% new-run width at ``targets`` from a refit, with ``base``'s discrepancy draws."""
    log_mu, scale, _ = fit._regular_predictive(targets)
    rng = np.random.default_rng(seed)
    n = log_mu.shape[0]
    kappa = base.discrepancy_.kappa_draws(n, seed)
    c = fit.idata.constant_data
    dist = DesignBounds.from_sizes(c["n_params"].values, c["n_tokens"].values).distance(
        targets["n_params"], targets["n_tokens"])
    draws = np.exp(log_mu + scale * rng.standard_normal(log_mu.shape)
                   + kappa[:, None] * dist[None, :] * rng.standard_normal(log_mu.shape))
    lo, hi = np.quantile(draws, [(1 - CI) / 2, (1 + CI) / 2], axis=0)
    return hi - lo


def random_batch(cost: np.ndarray, budget: float, rng: np.random.Generator) -> list[int]:
    """Runs drawn at random, one at a time, among those within the remaining budget."""
    chosen: list[int] = []
    left = budget
    while True:
        ok = [i for i in range(len(cost)) if i not in chosen and cost[i] <= left]
        if not ok:
            break
        i = int(rng.choice(ok))
        chosen.append(i)
        left -= cost[i]
    if not chosen:  # the budget is below every run: the cheapest one
        chosen = [int(np.argmin(cost))]
    return chosen


def _att(a: dict) -> str:
    return f"{a['median']:.2f} [{a['q05']:.2f}, {a['q95']:.2f}]"


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    ra = pd.Series(a).rank().to_numpy()
    rb = pd.Series(b).rank().to_numpy()
    return float(np.corrcoef(ra, rb)[0, 1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="docs/planning.md")
    ap.add_argument("--n-random", type=int, default=20)
    ap.add_argument("--n-sims", type=int, default=48)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    t_start = time.perf_counter()
    runs = bs.load_dataset("gadre2024")
    corpora = ["c4_original", "rpj", "rw_original"][: 2 if args.quick else 3]
    n_random = 5 if args.quick else args.n_random
    setups = []
    for ds in corpora:
        r = runs[runs["dataset"] == ds]
        split = protocol_splits(r, "paper")[0]
        fit = r.loc[split.fit]
        tg = r.loc[split.targets]
        big = tg[tg["n_params"] > 1e9].sort_values("n_params")
        targets = pd.DataFrame({"label": ["1.4B", "6.9B"],
                                "n_params": big["n_params"].to_numpy()[[0, -1]],
                                "n_tokens": big["n_tokens"].to_numpy()[[0, -1]]})
        cand = r[(r["n_params"] < 1e9) & ~r.index.isin(split.fit)].reset_index(drop=True)
        setups.append((ds, fit, targets, cand))

    # --- starting fits (one batch)
    t0 = time.perf_counter()
    template = bs.LossLaw("gadre", loss=LOSS, sampler=MAIN_SAMPLER)
    bases = bs.fit_many(template, [s[1] for s in setups], seed=args.seed, warn=False)
    t_base = time.perf_counter() - t0

    # --- plans
    t0 = time.perf_counter()
    plans = [plan_runs(b, s[2], s[3][["run_id", "n_params", "n_tokens"]], ci_prob=CI,
                       n_sims=args.n_sims, k=3, rank_by="6.9B", seed=args.seed)
             for b, s in zip(bases, setups, strict=True)]
    t_plan = time.perf_counter() - t0

    # --- realised refits: every candidate alone, the top-3 batch, random batches (one batch)
    rng = np.random.default_rng(args.seed + 1)
    tables, jobs = [], []
    for ci, (_ds, _fit, _targets, cand) in enumerate(setups):
        base_runs = fit_runs_table(bases[ci])
        real = cand[["run_id", "n_params", "n_tokens", "tokens_per_param", "compute_flops", LOSS,
                     f"{LOSS}_ci"]].assign(dataset=FITTED_DATASET)
        plan = plans[ci]
        for i in range(len(cand)):
            tables.append(pd.concat([base_runs, real.iloc[[i]]], ignore_index=True))
            jobs.append((ci, "single", [i]))
        top = plan.batch["candidate"].tolist()
        tables.append(pd.concat([base_runs, real.iloc[top]], ignore_index=True))
        jobs.append((ci, "top3", top))
        budget = float(plan.batch["cum_cost_flops"].iloc[-1])
        cost = cand["n_params"].to_numpy(float) * cand["n_tokens"].to_numpy(float) * 6.0
        for _ in range(n_random):
            pick = random_batch(cost, budget, rng)
            tables.append(pd.concat([base_runs, real.iloc[pick]], ignore_index=True))
            jobs.append((ci, "random", pick))
    # --- the model's own expectation for the same top-3 and random batches
    t0 = time.perf_counter()
    expected_ratio = []
    for ci, (_ds, _fit, targets, cand) in enumerate(setups):
        mine = [pick for (cj, kind, pick) in jobs if cj == ci and kind in ("top3", "random")]
        ev = plan_runs(bases[ci], targets, cand[["run_id", "n_params", "n_tokens"]], ci_prob=CI,
                       n_sims=args.n_sims, seed=args.seed, refit=False, evaluate=mine).evaluated
        now = plans[ci].targets["width_now"].iloc[1]
        per_flop = (1 - ev["width_after_6.9B"] / now) / ev["cost_flops"]
        expected_ratio.append(float(per_flop.iloc[0] / np.median(per_flop.iloc[1:])))
    t_plan += time.perf_counter() - t0
    t0 = time.perf_counter()
    refit_template = bs.LossLaw("gadre", loss=LOSS, discrepancy=None, sampler=REFIT_SAMPLER)
    refits = bs.fit_many(refit_template, tables, seed=args.seed + 2, warn=False)
    t_refit = time.perf_counter() - t0
    print(f"starting fits {t_base:.0f} s, plans {t_plan:.0f} s, refits {t_refit:.0f} s",
          flush=True)
    n_bad = sum(not f.diagnostics(warn=False).ok for f in refits)

    # --- compare
    lines, summary = [], []
    for ci, (ds, fit, targets, cand) in enumerate(setups):
        base, plan = bases[ci], plans[ci]
        w_now = realised_widths(base, base, targets, args.seed)
        cost = 6.0 * cand["n_params"].to_numpy(float) * cand["n_tokens"].to_numpy(float)
        single = np.zeros((len(cand), 2))
        top_w, top_cost, rand = None, None, []
        for (cj, kind, pick), f in zip(jobs, refits, strict=True):
            if cj != ci:
                continue
            w = realised_widths(f, base, targets, args.seed)
            if kind == "single":
                single[pick[0]] = w
            elif kind == "top3":
                top_w, top_cost = w, cost[pick].sum()
            else:
                rand.append(((w_now - w) / w_now / cost[pick].sum(), cost[pick].sum(), len(pick)))
        pc = plan.candidates.sort_index()  # candidate order
        rho = {lab: spearman(pc[f"width_after_{lab}"].to_numpy(), single[:, j])
               for j, lab in enumerate(["1.4B", "6.9B"])}
        top_red = (w_now - top_w) / w_now / top_cost
        rand_red = np.median([r[0] for r in rand], axis=0)
        ratio = top_red[1] / rand_red[1] if rand_red[1] > 0 else np.inf
        chosen = ", ".join(cand["run_id"].iloc[plan.batch["candidate"]].tolist())
        exp_top = plan.batch[[f"width_after_{lab}" for lab in ("1.4B", "6.9B")]].iloc[-1].to_numpy()
        att = {lab: plan.attainable_rank_correlation(lab, seed=args.seed)
               for lab in ("1.4B", "6.9B")}
        summary.append({"corpus": ds, "rho_1.4B": rho["1.4B"], "rho_6.9B": rho["6.9B"],
                        "att_1.4B": att["1.4B"], "att_6.9B": att["6.9B"], "ratio_6.9B": ratio,
                        "expected_ratio": expected_ratio[ci]})
        methods = pc["method"].value_counts().to_dict()
        lines += [
            f"### {ds}",
            "",
            f"Starting fit: {len(fit)} runs; current 90% width 1.4B {w_now[0]:.3f}, 6.9B "
            f"{w_now[1]:.3f} nats (planner's own estimate {plan.targets['width_now'].iloc[0]:.3f}, "
            f"{plan.targets['width_now'].iloc[1]:.3f}). Candidates: {len(cand)} "
            f"(update method: {methods}; median ESS/draws "
            f"{pc['ess_frac'].median():.2f}).",
            "",
            f"- Spearman rank correlation, planner's expected width vs realised width after adding "
            f"each candidate alone: **1.4B {rho['1.4B']:.2f}, 6.9B {rho['6.9B']:.2f}**. Attainable "
            f"if the starting fit's model were true (`RunPlan.attainable_rank_correlation`: one "
            f"simulated outcome per candidate, median [5%, 95%] of 2000 draws): 1.4B "
            f"{_att(att['1.4B'])}, 6.9B {_att(att['6.9B'])}.",
            f"- Top-3 batch (greedy, for 6.9B): {chosen}; {top_cost:.3g} FLOPs. Expected width "
            f"after: 1.4B {exp_top[0]:.3f}, 6.9B {exp_top[1]:.3f}; realised: 1.4B {top_w[0]:.3f}, "
            f"6.9B {top_w[1]:.3f}.",
            f"- Relative width reduction per FLOP at 6.9B: top-3 {top_red[1]:.3g}, cost-matched "
            f"random batches (median of {len(rand)}; median {np.median([r[2] for r in rand]):.0f} "
            f"runs, median cost {np.median([r[1] for r in rand]):.3g} FLOPs) {rand_red[1]:.3g}: "
            f"**ratio {ratio:.2f}x** (1.4B: {top_red[0]:.3g} vs {rand_red[0]:.3g}). The "
            f"planner's own expectation for the same batches: {expected_ratio[ci]:.2f}x.",
            "",
        ]
    total = time.perf_counter() - t_start
    s = pd.DataFrame(summary)
    met_rho = bool((s[["rho_1.4B", "rho_6.9B"]] >= 0.6).all().all())
    met_ratio = bool((s["ratio_6.9B"] >= 2).all())
    head = [
        "# The run planner against reality (Gadre et al. 2024, C4-eval loss)",
        "",
        "Generated by `.venv/bin/python benchmarks/planning_results.py"
        + (" --quick" if args.quick else "") + "` (do not edit by hand).",
        "",
        f"Machine: {platform.machine()}, {platform.python_version()}, 2 shared CPU cores "
        f"(other engineers' jobs ran at the same time). Time: total {total:.0f} s; starting fits "
        f"{t_base:.0f} s (4 x (1000 + 1000)), plans {t_plan:.0f} s ({args.n_sims} simulated "
        f"outcomes per candidate), {len(tables)} refits {t_refit:.0f} s (one `fit_many` batch, "
        f"4 x (500 + 500); {n_bad} failed their diagnostics on these 6-8-run designs).",
        "",
        "Protocol: for each corpus, fit the paper's 5 runs, plan with `plan_runs(law, targets, "
        "candidates, k=3, rank_by='6.9B')` over the other runs below 1e9 parameters, then add "
        "the real runs and refit. Widths are of the 90% new-run interval in nats, with the "
        "starting fit's extrapolation discrepancy applied at the enlarged design's distance.",
        "",
        "| corpus | Spearman 1.4B (attainable) | Spearman 6.9B (attainable) | top-3 vs random, "
        "per FLOP at 6.9B: realised (expected) |",
        "|---|---|---|---|",
        *[f"| {r['corpus']} | {r['rho_1.4B']:.2f} ({_att(r['att_1.4B'])}) | {r['rho_6.9B']:.2f} "
          f"({_att(r['att_6.9B'])}) | {r['ratio_6.9B']:.2f}x ({r['expected_ratio']:.2f}x) |"
          for r in summary],
        "",
        "\"Attainable\" is the rank correlation between the planner's expected widths and the "
        "widths after one outcome per candidate drawn from the starting fit's own posterior "
        "predictive: what a perfect check of this plan against one real run per candidate "
        "would score if the model were true. A realised correlation near it means the ranking is "
        "as good as the unknown outcomes allow; the target of 0.6 cannot be met where the "
        "attainable range itself lies below it. \"Expected\" top-3 vs random is the same "
        "ratio from the planner's expected widths of the same batches (`plan_runs(..., "
        "evaluate=...)`): what the planner itself promises against these random draws.",
        "",
        f"Targets of issue 14: rank correlation >= 0.6 over the candidates: "
        f"**{'met' if met_rho else 'not met'}**; top-3 >= 2x per FLOP against cost-matched "
        f"random runs: **{'met' if met_ratio else 'not met'}**.",
        "",
    ]
    Path(args.out).write_text("\n".join(head + lines))
    print("\n".join(head + lines))


if __name__ == "__main__":
    main()
