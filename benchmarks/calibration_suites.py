"""Calibration suites of the default loss model, one command, regenerating docs/calibration.md.

Usage::

    BAYES_SCALING_DATA_DIR=../shared/data .venv/bin/python benchmarks/calibration_suites.py \\
        [--out out/calibration] [--seed 0] [--sims 8] [--quick]

Every fit uses the package defaults through the public API (``LossLaw("gadre")``: mixture noise,
leave-future-out discrepancy, 4 chains x 1000 + 1000 NUTS draws) unless a row says otherwise.
Suites (each scored on the *new-run* predictive, the package default):

1. ``compute_cutoff``: Gadre et al.'s 3 corpora x 8 eval losses, fit on each corpus's runs at or
   below its 80% compute quantile, predict the rest.
2. ``paper`` and ``paper_all_below``: Gadre et al.'s 5-run fitting sets (and every run up to their
   compute), C4 eval, targets 1.4B at the largest M and 6.9B at M = 20.
3. Epoch's 240 Chinchilla points, fit below 1e20, 3e20 and 1e21 FLOPs, predict above.
4. Simulated misspecification: the 32-run Gadre design drawn from laws *not* in the model (an
   under-training bump at small M, a bend in the exponent, a data-repetition penalty), 1% noise,
   ``--sims`` seeds each; targets 1.4B and 6.9B at M = 20 and 1.4B at M = 640.

Reported per suite: coverage at 50/80/90/95%, mean 90% width (% of the loss), mean |error| of the
median, mean CRPS of log loss, and MSCE: the mean squared gap between empirical and nominal
coverage over the levels 50, 60, 70, 80, 90, 95, 99%.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import bayes_scaling as bs

bs.set_cpu_devices(4)  # before JAX computes anything: 4 chains in parallel

from _md import md  # noqa: E402  (benchmarks/: run as scripts)

from bayes_scaling.data import loss_columns  # noqa: E402
from bayes_scaling.evaluate.backtest import backtest  # noqa: E402
from bayes_scaling.evaluate.scoring import coverage, score_loss  # noqa: E402
from bayes_scaling.evaluate.simulate import gadre_design  # noqa: E402
from bayes_scaling.testing import TRUE_GADRE  # noqa: E402

LEVELS = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99)
IN_DOMAIN = ("loss_c4_val", "loss_paloma_c4_en", "loss_paloma_falcon_refinedweb")


def summarise(bt: pd.DataFrame) -> dict:
    c = coverage(bt).set_index("ci_prob")
    msce = float(np.mean([(c.loc[p, "coverage"] - p) ** 2 for p in LEVELS]))
    return {"n": int(len(bt)), **{f"cov{int(100 * p)}": float(c.loc[p, "coverage"])
                                  for p in (0.5, 0.8, 0.9, 0.95)},
            "width90": float(bt.rel_width_90.mean()),
            "abs_err": float(bt.rel_error.abs().mean()), "crps": float(bt.crps.mean()),
            "msce": msce, "fits_ok": float(bt.fit_ok.mean()) if "fit_ok" in bt else np.nan}


def row(name: str, s: dict) -> dict:
    return {"suite": name, "n": s["n"], "cov 50%": 100 * s["cov50"], "cov 80%": 100 * s["cov80"],
            "cov 90%": 100 * s["cov90"], "cov 95%": 100 * s["cov95"],
            "90% width %": 100 * s["width90"], "mean abs err %": 100 * s["abs_err"],
            "CRPS (log)": s["crps"], "MSCE": s["msce"], "fits ok": s["fits_ok"]}


def quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.DiagnosticsWarning)
        warnings.simplefilter("ignore", bs.ExtrapolationWarning)
        return fn(*args, **kwargs)


# ----------------------------------------------------------------------- misspecified truths
def _gadre_mu(n, d, p=TRUE_GADRE):
    return p["E"] + p["A"] * n ** -p["eta"] + p["B"] * d ** -p["eta"]


def truth_bump(n, d):
    """Under-training bump: runs at small M lose extra, 6% at M = 5, decaying as 1/M."""
    return _gadre_mu(n, d) * (1 + 0.06 * 5 / (d / n))


def truth_bend(n, d):
    """The exponent bends: the data term flattens beyond 1e10 tokens (eta 0.245 -> 0.2)."""
    p = TRUE_GADRE
    d0 = 1e10
    data = np.where(d < d0, p["B"] * d ** -p["eta"],
                    p["B"] * d0 ** -p["eta"] * (d / d0) ** -0.2)
    return p["E"] + p["A"] * n ** -p["eta"] + data


def truth_repeat(n, d):
    """Data repetition (Muennighoff et al. 2023's form): unique data of 40 tokens per parameter
    at the 411M size's scale (16.5B tokens); repeated tokens are worth less (R* = 5 epochs)."""
    u = 16.5e9
    r = np.maximum(d / u - 1.0, 0.0)
    d_eff = np.where(d <= u, d, u + u * 5.0 * (1 - np.exp(-r / 5.0)))
    return _gadre_mu(n, d_eff)


TRUTHS = {"under-training bump": truth_bump, "exponent bend": truth_bend,
          "data repetition": truth_repeat}
SIM_TARGETS = pd.DataFrame({"n_params": [1.44e9, 1.44e9, 6.89e9],
                            "n_tokens": [1.44e9 * 20, 1.44e9 * 640, 6.89e9 * 20]})


def misspec_suites(seed, n_sims, only: str | None = None) -> tuple[dict[str, pd.DataFrame], dict]:
    design = gadre_design()
    n, d = design.n_params.to_numpy(float), design.n_tokens.to_numpy(float)
    tn, td = SIM_TARGETS.n_params.to_numpy(), SIM_TARGETS.n_tokens.to_numpy()
    out, secs = {}, {}
    for name, fn in TRUTHS.items():
        if only is not None and name != only:
            continue
        t0 = time.perf_counter()
        tables, targets = [], []
        for s in range(n_sims):
            rng = np.random.default_rng([seed, s, len(name)])
            y = fn(n, d) * np.exp(0.01 * rng.standard_normal(len(n)))
            tables.append(pd.DataFrame({"run_id": [f"sim-{i}" for i in range(len(n))],
                                        "dataset": "sim", "n_params": n.astype(np.int64),
                                        "n_tokens": d, "tokens_per_param": d / n,
                                        "compute_flops": 6.0 * n * d, "loss_sim": y}))
            ty = fn(tn, td) * np.exp(0.01 * rng.standard_normal(len(tn)))
            targets.append(SIM_TARGETS.assign(loss_sim=ty, run_id=["1.4B M=20", "1.4B M=640",
                                                                    "6.9B M=20"]))
        fits = quiet(bs.fit_many, bs.LossLaw("gadre", loss="loss_sim"), tables, seed=seed)
        rows = []
        for s, (f, t) in enumerate(zip(fits, targets, strict=True)):
            sc = score_loss(f, t, ci_probs=LEVELS, seed=seed + s)
            sc["target"] = t.run_id.to_numpy()
            sc["fit_ok"] = f.diagnostics(warn=False).ok
            rows.append(sc)
        out[name] = pd.concat(rows, ignore_index=True)
        secs[name] = time.perf_counter() - t0
    return out, secs


def per_eval_table(bt: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for col, g in bt.groupby("column"):
        s = summarise(g)
        rows.append({"eval": col.removeprefix("loss_"), "n": s["n"], "cov 50%": 100 * s["cov50"],
                     "cov 90%": 100 * s["cov90"], "90% width %": 100 * s["width90"],
                     "mean abs err %": 100 * s["abs_err"]})
    return pd.DataFrame(rows)


def jobs(runs, seed, quick, n_sims):
    """(name, thunk) per suite, most informative first; each thunk returns a backtest table."""
    evals = ["loss_c4_val"] if quick else (list(IN_DOMAIN) + [
        c for c in loss_columns(runs.columns) if c not in IN_DOMAIN])
    out = []
    for loss in evals:
        out.append((f"compute_cutoff/{loss}", lambda loss=loss: quiet(
            backtest, runs, protocol="compute_cutoff", loss=loss, ci_probs=LEVELS, seed=seed)))
    for proto in ("paper_all_below", "paper"):
        out.append((proto, lambda proto=proto: quiet(backtest, runs, protocol=proto,
                                                     loss="loss_c4_val", ci_probs=LEVELS,
                                                     seed=seed)))
    cuts = (1e21,) if quick else (1e21, 3e20, 1e20)
    for cut in cuts:
        out.append((f"epoch_{cut:.0e}", lambda cut=cut: _epoch(cut, seed)))
    for name in TRUTHS:
        out.append((name, lambda name=name: misspec_suites(seed, n_sims, only=name)[0][name]))
    return out


def _epoch(cut: float, seed: int) -> pd.DataFrame:
    ch = bs.load_dataset("chinchilla_epoch")
    main = ch[ch.in_main_fit]
    return quiet(backtest, main, protocol="compute_cutoff", loss="loss_chinchilla",
                 law="chinchilla", cutoff_flops=cut, ci_probs=LEVELS, seed=seed)


def write_doc(suites: dict[str, pd.DataFrame], secs: dict, args, env: str) -> str:
    summary = {k: summarise(bt) for k, bt in suites.items()}
    cc = suites.get("compute_cutoff")
    if cc is not None:
        in_dom = cc[cc.column.isin(IN_DOMAIN)]
        if len(in_dom):
            summary["compute_cutoff (in-domain evals)"] = summarise(in_dom)
    tab = pd.DataFrame([row(k, v) for k, v in summary.items()])
    checks = {
        "every suite: 90% coverage in [83, 97]%": lambda: all(
            0.83 <= v["cov90"] <= 0.97 for k, v in summary.items() if "in-domain" not in k),
        "every suite: 50% coverage in [43, 57]%": lambda: all(
            0.43 <= v["cov50"] <= 0.57 for k, v in summary.items() if "in-domain" not in k),
        "every suite: MSCE <= 0.005": lambda: all(v["msce"] <= 0.005 for v in summary.values()),
        "compute-cutoff in-domain 90% width <= 5%": lambda: summary[
            "compute_cutoff (in-domain evals)"]["width90"] <= 0.05,
        "compute-cutoff all evals 90% width <= 10%": lambda: summary[
            "compute_cutoff"]["width90"] <= 0.10,
        "paper_all_below 90% width <= 8%, >= 11/12 covered": lambda: (
            summary["paper_all_below"]["width90"] <= 0.08
            and suites["paper_all_below"].covered_90.sum() >= 11 * len(
                suites["paper_all_below"]) / 12),
        "Epoch cut at 1e21: 90% coverage >= 83%": lambda: summary["epoch_1e+21"]["cov90"] >= 0.83,
    }
    goals = {}
    for k, f in checks.items():
        try:
            goals[k] = "met" if f() else "**not met**"
        except KeyError:
            goals[k] = "not run"
    doc = [
        "# Calibration of the default loss model",
        "",
        "Regenerate: `BAYES_SCALING_DATA_DIR=../shared/data .venv/bin/python "
        "benchmarks/calibration_suites.py`" + (" --quick" if args.quick else "")
        + f" ({env}).",
        "",
        "Every number is the default model through the public API: `LossLaw(\"gadre\")` "
        "(`\"chinchilla\"` for Epoch's points), mixture noise, leave-future-out extrapolation "
        "discrepancy, 4 chains x 1000 + 1000 NUTS draws, scored on the **new-run** predictive "
        "(what a new run at the target would measure). Widths are (upper - lower) / median of the "
        "90% interval; errors are of the median; CRPS is of log loss (0.01 ~ 1%); MSCE is the mean "
        "squared gap between empirical and nominal coverage over 50, 60, 70, 80, 90, 95, 99%. "
        "Predictions from one fit are correlated: read coverage of a suite with few fits "
        "(paper: 6 predictions) as a screen, not a test.",
        "",
        md(tab, ".3g"),
        "",
        "Goals of issue 11:",
        "",
        *[f"- {k}: {v}" for k, v in goals.items()],
        "",
    ]
    if cc is not None:
        doc += ["Compute-cutoff suite per eval loss:", "", md(per_eval_table(cc), ".3g"), ""]
    doc += [
        "Seconds per suite: " + ", ".join(f"{k} {v:.0f}" for k, v in secs.items()),
        "",
        "## What the suites are",
        "",
        __doc__.split("Suites (each")[1].split("Reported per suite")[0].split(":", 1)[1].strip(),
        "",
        "## Where it fails, and why (read with the table above)",
        "",
        "- **Epoch's points**: the held-out residuals trend with tokens per parameter (runs at "
        "M = 1-5 above the law, runs at M = 50-70 below it), a misfit of the Chinchilla form. "
        "Two parts of the leave-future-out discrepancy see it where the fitting runs show it: the "
        "held-out runs of one refit are correlated by nearness in (log N, log M) rather than one "
        "shared draw, and `kappa` may trend with the cut's compute. Below 1e21 the per-cut "
        "`kappa` grows from 0.0026 (cut at 5.9e19) to 0.0063 (2.9e20), and the fit carries that "
        "trend to its largest run (`kappa` median 0.008; coverage 43% before these two parts, on "
        "the same data). Below 1e20 the refits extrapolate the law well (held-out residual sd "
        "0.004-0.005, the size of the run-to-run scatter), so `kappa` stays at ~0.0006 and the "
        "misfit that appears beyond 1e20 is not in the intervals: the fitting runs hold no "
        "evidence of it (adding cuts at the 20% and 35% compute quantiles did not change this: "
        "`kappa` 0.0004).",
        "- **Where the width comes from** (`benchmarks/calibration_diagnosis.py` -> "
        "`docs/calibration_diagnosis.md`, one fit per split, seed 0): on the in-domain evals the "
        "band of the law's mean alone is 3.6-6.5% wide, with the run-to-run scatter 5.0-8.1% "
        "(mean 6.6%, coverage 86-100%) before any discrepancy, and the discrepancy adds 2.7-3.5 "
        "points (its trend with compute changes that by -1.2 to +2.5). The 5% goal needs a "
        "narrower band of the law's mean (more runs, or priors more informative than these), "
        "not another noise or discrepancy model. On Epoch's points cut at 1e20 the held-out "
        "runs miss by 1.6-2.3 predictive sds in every distance bin, even within 0.5 log units "
        "of the design, while the fit's own leave-future-out residuals are 1.00-1.11 of their "
        "refits' sds.",
        "- **In-domain widths**: the regular run-to-run scatter alone (sigma 0.9-1.5% on C4-like "
        "evals) makes a 90% interval 3.1-4.9% wide before any parameter or extrapolation "
        "uncertainty, so the 5% goal leaves nothing for the law's own uncertainty at 2-5 log "
        "units beyond the fitted compute.",
        "- **paper_all_below**: 23 runs up to 2e19 FLOPs, targets 285x beyond: the band of the "
        "law's mean alone is 7.5-15.4% wide (E is weakly identified; "
        "`LossLaw(discrepancy=None)`, seed 0), before any discrepancy.",
        "- **fits ok < 1**: 20 of the 24 compute-cutoff fits pass their diagnostics, and all of "
        "paper_all_below; of the four, one has R-hat 1.011 (c4_original, "
        "paloma_dolma_100_programing_languages), one 1 divergence (rw_original, paloma_ptb), and "
        "two fall short on ESS alone (R-hat <= 1.007). The paper protocol's 5-run fits reach "
        "R-hat 1.011-1.013: five runs barely identify a four-parameter law with its noise. "
        "Before the sampler's sheared coordinates (`bayes_scaling/models/coordinates.py`: the "
        "same posterior, its E ridge straightened) 19 of 24 compute-cutoff fits passed and none "
        "of paper_all_below; every coverage on this page moved by at most one prediction and "
        "every width by at most 1.3 points (paper_all_below 20.1 -> 21.4%). A fit that fails "
        "warns (`DiagnosticsWarning`), never silently.",
        "",
        "## Why this model",
        "",
        "- **Mixture noise** (a learned share of outlying runs with a broader scale; new runs "
        "predicted as regular runs): with Student-t noise the three M = 5 runs per Gadre corpus, "
        "which sit 4-16% above any law, pull the degrees of freedom to 1.6-2.9 and make every "
        "new-run interval about twice as wide as a normal would be. The mixture assigns those runs "
        "outlier probabilities near 1 (`LossLaw.outlier_probability`) and keeps the regular "
        "scatter near 1%.",
        "- **Leave-future-out discrepancy**: intervals grow with the target's distance outside the "
        "fitted design at a rate learned from the fitting runs' own extrapolation errors (refits "
        "below compute cut-offs), not from the suites here. The held-out runs of one refit are "
        "scored jointly: they share its parameter error and a discrepancy correlated by nearness "
        "in (log N, log M) (length marginalised over 0.5-4 log units and a fully shared draw); "
        "scored as independent points, the 100+ held-out runs of three refits pinned `kappa` as "
        "if they were 100+ separate extrapolations. `kappa` may trend with the cut's compute "
        "(`gamma ~ N(0, 0.5)`), and the fit uses it at its own largest run.",
        "",
    ]
    text = "\n".join(doc)
    args.doc.write_text(text)
    (args.out / "summary.json").write_text(json.dumps(
        {"summary": summary, "goals": goals, "seconds": secs, "env": env}, indent=1))
    return text


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=Path("out/calibration"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sims", type=int, default=8, help="simulations per misspecified truth")
    ap.add_argument("--quick", action="store_true", help="C4 eval only, one Epoch cut, 2 sims")
    ap.add_argument("--doc", type=Path, default=Path("docs/calibration.md"))
    ap.add_argument("--only", default=None,
                    help="comma-separated suite names to run (e.g. 'paper,epoch_1e+21')")
    ap.add_argument("--combine", type=Path, nargs="+", default=None, metavar="DIR",
                    help="no fitting: rebuild the page from the CSVs and seconds.json of earlier "
                         "runs' --out folders (to split the suites over several processes)")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    t_all = time.perf_counter()
    parts: dict[str, list[pd.DataFrame]] = {}
    secs: dict[str, float] = {}
    env = (f"Python {platform.python_version()}, bayes_scaling {bs.__version__}, "
           f"{os.cpu_count()} CPUs ({platform.machine()}), seed {args.seed}")
    if args.combine:
        for d in args.combine:
            done = json.loads((d / "seconds.json").read_text())
            for name, sec in done.items():
                group = name.split("/")[0]
                f = d / f"{name.replace('/', '_').replace(' ', '_')}.csv"
                parts.setdefault(group, []).append(pd.read_csv(f))
                secs[group] = secs.get(group, 0.0) + sec
        suites = {k: pd.concat(v, ignore_index=True) for k, v in parts.items()}
        print(write_doc(suites, secs, args, env + f"; {sum(secs.values()):.0f} s of fitting"))
        return
    runs = bs.load_dataset("gadre2024")
    only = None if args.only is None else set(args.only.split(","))
    done: dict[str, float] = {}
    text = ""
    for name, thunk in jobs(runs, args.seed, args.quick, 2 if args.quick else args.sims):
        if only is not None and name not in only and name.split("/")[0] not in only:
            continue
        t0 = time.perf_counter()
        bt = thunk()
        group = name.split("/")[0]
        parts.setdefault(group, []).append(bt)
        done[name] = time.perf_counter() - t0
        secs[group] = secs.get(group, 0.0) + done[name]
        bt.to_csv(args.out / f"{name.replace('/', '_').replace(' ', '_')}.csv", index=False)
        (args.out / "seconds.json").write_text(json.dumps(done))
        suites = {k: pd.concat(v, ignore_index=True) for k, v in parts.items()}
        text = write_doc(suites, secs, args, env + f"; {time.perf_counter() - t_all:.0f} s")
        print(f"[{time.perf_counter() - t_all:.0f} s] {name} done", flush=True)
    print(text)


if __name__ == "__main__":
    main()
