"""Partial pooling: model shapes, long format, fabricated pooled posteriors; one slow real fit."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

import bayes_scaling as bs
from bayes_scaling.estimators.io import FitFileError
from bayes_scaling.estimators.pooled import (
    POPULATION,
    PooledLossLaw,
    default_pooled_priors,
    long_format,
)
from bayes_scaling.evaluate.simulate import gadre_design, simulate_runs
from bayes_scaling.laws.forms import get_law
from bayes_scaling.models.core import make_pooled_loss_model, pooled_site_names

TRUTHS = {
    "d0": {"E": 1.60, "A": 110.0, "B": 200.0, "eta": 0.24},
    "d1": {"E": 1.75, "A": 130.0, "B": 220.0, "eta": 0.26},
    "d2": {"E": 1.70, "A": 120.0, "B": 210.0, "eta": 0.25},
}


def _runs(truths=TRUTHS, design=None) -> pd.DataFrame:
    design = gadre_design() if design is None else design
    return pd.concat([simulate_runs("gadre", t, design, sigma=0.01, seed=i, dataset=g)
                      for i, (g, t) in enumerate(truths.items())], ignore_index=True)


def fabricated_pooled_law(runs: pd.DataFrame, truths: dict, *, spread: float = 0.01,
                          noise: str = "student_t", group_noise: bool = False,
                          sigmas: tuple[float, ...] | None = None,
                          seed: int = 0) -> PooledLossLaw:
    """A PooledLossLaw whose posterior scatters around per-group natural-unit ``truths``
    (run-to-run scatter 0.01, or ``sigmas`` per group with ``group_noise``)."""
    from jax.scipy.special import logit

    obj = PooledLossLaw("gadre", loss="loss_sim", group="dataset", noise=noise,
                        group_noise=group_noise)
    kw, meta = obj._prepare(runs)
    groups = meta["groups"]
    rng = np.random.default_rng(seed)
    shape = (4, 250)
    t = {k: np.asarray([truths[g][k] for g in groups]) for k in ("E", "A", "B", "eta")}
    u = {  # unbounded per-group values, as the model parameterises them
        "eta": np.asarray(logit(t["eta"])),
        "E": np.asarray(logit(t["E"] / kw["e_upper"])),
        "a": np.log(t["A"]) - t["eta"] * meta["log_n0"],
        "b": np.log(t["B"]) - t["eta"] * meta["log_d0"],
    }
    post = {}
    for k, v in u.items():
        draws = v + spread * rng.standard_normal((*shape, len(groups)))
        loc, scale = float(v.mean()), max(float(v.std()), 0.05)
        post[f"{k}_loc"] = np.full(shape, loc)
        post[f"{k}_scale"] = np.full(shape, scale)
        post[f"{k}_z"] = (draws - loc) / scale
        post[k] = (kw["e_upper"] / (1 + np.exp(-draws)) if k == "E"
                   else 1 / (1 + np.exp(-draws)) if k == "eta" else draws)
    if group_noise:
        sig = np.asarray(sigmas if sigmas is not None else [0.01] * len(groups))
        post["sigma"] = np.abs(sig * (1 + 0.1 * rng.standard_normal((*shape, len(groups)))))
    else:
        post["sigma"] = np.abs(0.01 * (1 + 0.1 * rng.standard_normal(shape)))
    if noise == "student_t":
        post["nu"] = 30.0 * np.exp(0.1 * rng.standard_normal(shape))
    stats = {"diverging": np.zeros(shape, bool), "n_steps": np.full(shape, 7),
             "tree_depth": np.full(shape, 3), "lp": rng.standard_normal(shape),
             "energy": 2.0 * rng.standard_normal(shape),
             "acceptance_rate": np.full(shape, 0.9), "step_size": np.full(shape, 0.3)}
    obj.idata = obj._build_datatree(post, stats, kw, meta, seed=seed,
                                    facts={"chain_method": "fabricated"})
    return obj


@pytest.fixture(scope="module")
def sim3():
    return _runs()


@pytest.fixture(scope="module")
def fab(sim3):
    return fabricated_pooled_law(sim3, TRUTHS)


TARGETS = pd.DataFrame({"dataset": ["d0", "d1", "d2"], "n_params": [1.4e9, 6.9e9, 1.4e9],
                        "n_tokens": [1.4e9 * 640, 6.9e9 * 20, 1.4e9 * 20]})


# ------------------------------------------------------------------------------- model / priors


def test_default_pooled_priors_cover_every_site():
    for law in ("gadre", "chinchilla"):
        spec = get_law(law)
        pri = default_pooled_priors(law)
        mixture = {"outlier_prob", "outlier_scale"}
        assert set(pooled_site_names(spec, "mixture")) == set(pri) - {"nu"}
        assert set(pooled_site_names(spec, "student_t")) == set(pri) - mixture
        assert set(pooled_site_names(spec, "normal")) == set(pri) - {"nu"} - mixture
    with pytest.raises(ValueError, match="unknown parameter"):
        PooledLossLaw("gadre", priors={"eta": {"dist": "beta", "a": 2, "b": 4}})


@pytest.mark.parametrize("law, group_noise", [("gadre", False), ("chinchilla", True)])
def test_pooled_model_shapes_and_bounds(law, group_noise):
    """Prior draws: one value per group for every law parameter, E below each group's bound."""
    import jax.numpy as jnp
    from jax import random
    from numpyro.infer import Predictive

    spec = get_law(law)
    model = make_pooled_loss_model(spec, default_pooled_priors(law), "student_t", group_noise)
    n, g = 10, 3
    kw = {"x_n": jnp.linspace(-2, 2, n), "x_d": jnp.linspace(-3, 3, n),
          "meas_sd": jnp.full(n, 0.002), "group": jnp.arange(n) % g,
          "e_upper": jnp.asarray([2.5, 3.0, 1.2])}
    draws = Predictive(model, num_samples=200)(random.PRNGKey(0), **kw)
    for p in spec.params:
        assert draws[p].shape == (200, g)
        assert draws[f"{p}_z"].shape == (200, g)
        assert draws[f"{p}_loc"].shape == draws[f"{p}_scale"].shape == (200,)
    assert draws["log_loss"].shape == (200, n)
    assert draws["sigma"].shape == ((200, g) if group_noise else (200,))
    assert np.all(np.asarray(draws["E"]) < np.asarray(kw["e_upper"])[None, :])
    for k in spec.exponents:
        assert np.all((np.asarray(draws[k]) > 0) & (np.asarray(draws[k]) < 1))
    with pytest.raises(ValueError, match="missing priors"):
        make_pooled_loss_model(spec, {}, "normal")


# ------------------------------------------------------------------------------- long format


def test_long_format_one_row_per_run_and_eval():
    runs = _runs({"d0": TRUTHS["d0"]})
    runs["loss_other"] = runs["loss_sim"] * 1.3
    runs["loss_sim_ci"] = 0.01
    lf = long_format(runs)
    assert len(lf) == 2 * len(runs)
    assert lf["run_id"].is_unique
    assert set(lf["eval_set"]) == {"sim", "other"}
    # the eval without a CI column gets measurement error 0, the one with it keeps it
    assert (lf.loc[lf.eval_set == "other", "loss_eval_ci"] == 0).all()
    assert (lf.loc[lf.eval_set == "sim", "loss_eval_ci"] == 0.01).all()
    np.testing.assert_allclose(lf.loc[lf.eval_set == "other", "loss_eval"].to_numpy(),
                               runs["loss_other"].to_numpy())
    assert (lf["source_run_id"].str.len() > 0).all()
    with pytest.raises(ValueError, match="start with 'loss_'"):
        long_format(runs, column="value")
    with pytest.raises(ValueError, match="not in the runs table"):
        long_format(runs, ["loss_nope"])


def test_prepare_long_format_validates_per_group(sim3):
    runs = sim3.copy()
    runs["loss_other"] = runs["loss_sim"] * 1.2
    lf = long_format(runs, ["loss_sim", "loss_other"])
    kw, meta = PooledLossLaw("gadre", loss="loss_eval", group="eval_set")._prepare(lf)
    assert meta["groups"] == ["other", "sim"]
    assert kw["e_upper"].shape == (2,)
    np.testing.assert_allclose(kw["e_upper"][0], lf.loc[lf.eval_set == "other",
                                                        "loss_eval"].min())
    # one shared design centre for all groups
    np.testing.assert_allclose(meta["log_n0"], np.mean(np.log(lf["n_params"])))


def test_prepare_errors(sim3):
    with pytest.raises(ValueError, match="no group column"):
        PooledLossLaw("gadre", loss="loss_sim", group="corpus")._prepare(sim3)
    with pytest.raises(ValueError, match="no column 'loss_x'"):
        PooledLossLaw("gadre", loss="loss_x")._prepare(sim3)
    bad = sim3.copy()
    bad.loc[bad.index[3], "dataset"] = None
    with pytest.raises(ValueError, match="group column 'dataset' is empty"):
        PooledLossLaw("gadre", loss="loss_sim")._prepare(bad)


# ------------------------------------------------------------------------------- fabricated fit


def test_datatree_groups_and_dims(fab, sim3):
    dt = fab.idata
    for group in ("posterior", "sample_stats", "log_likelihood", "observed_data",
                  "constant_data"):
        assert group in dt.children
    assert fab.groups == ("d0", "d1", "d2")
    assert dt.posterior["eta"].dims == ("chain", "draw", "group")
    assert dt.posterior["eta_loc"].dims == ("chain", "draw")
    assert dt.log_likelihood["log_loss"].shape == (4, 250, len(sim3))
    for key in ("law", "priors", "sampler", "seed", "data_hash", "group_column", "log_n0"):
        assert key in dt.attrs
    assert dt.attrs["bayes_scaling_kind"] == "PooledLossLaw"


def test_predict_per_group_matches_truth(fab):
    pred = fab.predict(TARGETS, ci_prob=0.9, kind="law_mean")
    truth = [bs.laws.gadre(r.n_params, r.n_tokens, **TRUTHS[r.dataset])
             for r in TARGETS.itertuples()]
    np.testing.assert_allclose(pred["median"], np.asarray(truth, float), rtol=0.01)
    assert (pred["lower"] < pred["median"]).all() and (pred["median"] < pred["upper"]).all()
    assert pred.attrs["ci_prob"] == 0.9 and pred.attrs["kind"] == "law_mean"
    obs = fab.predict(TARGETS, ci_prob=0.9, kind="new_run", seed=1)
    assert np.all(obs["upper"] - obs["lower"] > pred["upper"] - pred["lower"])
    # the group matters: the same size in two groups gets that group's law
    two = fab.predict(pd.DataFrame({"dataset": ["d0", "d1"], "n_params": [1e9] * 2,
                                    "n_tokens": [2e10] * 2}))
    assert two["median"].iloc[0] != pytest.approx(two["median"].iloc[1], rel=1e-3)
    assert fab.loss_draws(TARGETS).shape == (1000, 3)


def test_predict_needs_known_groups(fab):
    with pytest.raises(ValueError, match="need a 'dataset' column"):
        fab.predict(TARGETS.drop(columns="dataset"))
    with pytest.raises(ValueError, match=r"not seen.*d0"):
        fab.predict(TARGETS.assign(dataset=["d9", "d0", "d1"]))
    with pytest.raises(ValueError, match="kind"):
        fab.predict(TARGETS, kind="posterior")


def test_summary_and_diagnostics(fab):
    d = fab.diagnostics(warn=False)
    assert d.divergences == 0
    s = fab.summary(ci_prob=0.9)
    assert s.index.names == ["group", "parameter"]
    for g, t in TRUTHS.items():
        assert s.loc[(g, "eta"), "lower"] < t["eta"] < s.loc[(g, "eta"), "upper"]
        assert s.loc[(g, "A"), "median"] == pytest.approx(t["A"], rel=0.05)
    for k in ("eta_loc", "eta_scale", "E_loc", "sigma", "nu"):
        assert (POPULATION, k) in s.index


def test_save_load_roundtrip(fab, tmp_path):
    path = tmp_path / "pooled.nc"
    fab.save(path)
    back = PooledLossLaw.load(path)
    pd.testing.assert_frame_equal(fab.predict(TARGETS, kind="new_run", seed=2),
                                  back.predict(TARGETS, kind="new_run", seed=2))
    assert back.group == "dataset" and back.priors == fab.priors and back.groups == fab.groups
    with pytest.raises(FitFileError, match="PooledLossLaw"):
        bs.LossLaw.load(path)
    with pytest.raises(FitFileError, match="not 'chinchilla'"):
        PooledLossLaw.load(path, law="chinchilla")


def test_for_group_view_is_a_loss_law(fab, sim3):
    view = fab.for_group("d1")
    assert isinstance(view, bs.LossLaw)
    t = TARGETS[TARGETS.dataset == "d1"]
    np.testing.assert_allclose(view.predict(t.drop(columns="dataset"))["median"],
                               fab.predict(t)["median"], rtol=1e-12)
    n1 = int((sim3.dataset == "d1").sum())
    assert view.idata.log_likelihood["log_loss"].shape[-1] == n1
    with pytest.raises(ValueError, match="unknown group"):
        fab.for_group("zz")


def test_group_noise_gives_each_group_its_scatter(sim3, tmp_path):
    fab = fabricated_pooled_law(sim3, TRUTHS, group_noise=True, sigmas=(0.005, 0.01, 0.04))
    assert fab.idata.posterior["sigma"].dims == ("chain", "draw", "group")
    obs = fab.predict(TARGETS, ci_prob=0.9, kind="new_run", seed=0)
    width = (obs["upper"] - obs["lower"]) / obs["median"]
    assert width.iloc[0] < width.iloc[1] < width.iloc[2]  # d0, d1, d2 in order of sigma
    s = fab.summary()
    assert ("d2", "sigma") in s.index and (POPULATION, "sigma") not in s.index
    assert s.loc[("d2", "sigma"), "median"] == pytest.approx(0.04, rel=0.05)
    view = fab.for_group("d0")
    assert view.idata.posterior["sigma"].dims == ("chain", "draw")
    fab.save(tmp_path / "g.nc")
    back = PooledLossLaw.load(tmp_path / "g.nc")
    assert back.group_noise
    pd.testing.assert_frame_equal(back.predict(TARGETS, kind="new_run", seed=0), obs)


def test_not_fitted():
    with pytest.raises(bs.NotFittedError):
        PooledLossLaw().predict(TARGETS)


# ------------------------------------------------------------------------------- slow: real NUTS


@pytest.mark.slow
def test_pooled_fit_converges_on_gadre_datasets(gadre_runs):
    """The three corpora, C4-eval loss, runs with N < 1e9: the default sampler (4 x 2000) gives
    no divergences and R-hat <= 1.01 at seed 0. Measured 2026-12-02 with the default mixture
    noise: seed 0 R-hat 1.0070, seed 2 1.0028, but seed 1 fails (R-hat 1.026, tail ESS 34, one
    chain's E_z for rpj apart from the others: issue 11)."""
    runs = gadre_runs[gadre_runs.n_params < 1e9]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.DiagnosticsWarning)
        pooled = PooledLossLaw("gadre", loss="loss_c4_val", group="dataset").fit(runs, seed=0)
    d = pooled.diagnostics(warn=False)
    assert d.divergences == 0, d
    assert d.max_rhat <= 1.01, d
    s = pooled.summary(0.9)
    for g in ("c4_original", "rpj", "rw_original"):
        assert 0.2 < s.loc[(g, "eta"), "median"] < 0.3
    # a target in each group: intervals cover the held-out 6.9B runs' neighbourhood (sanity)
    t = gadre_runs[gadre_runs.n_params > 5e9]
    pred = pooled.predict(t, ci_prob=0.9, kind="new_run")
    assert np.all(np.abs(pred["median"] / t["loss_c4_val"].to_numpy() - 1) < 0.1)
    # each group learned its discrepancy from the masked refits, every refit recorded
    for g, disc in pooled.discrepancy_.items():
        assert len(disc.refits) == 3, (g, disc.refits)
        assert disc.method == "lfo" and disc.points, (g, disc.refits)
        assert {p["run_id"] for p in disc.points} <= set(runs.loc[runs.dataset == g, "run_id"])


# ------------------------------------------------------------------ leave-future-out discrepancy
def test_pooled_lfo_cuts_keep_every_group_fitted(sim3):
    from bayes_scaling.estimators.extrapolation import pooled_lfo_cuts

    kw, meta = PooledLossLaw("gadre", loss="loss_sim")._prepare(sim3)
    c = 6 * meta["n_params"] * meta["n_tokens"]
    cuts = pooled_lfo_cuts(kw, meta, 7)
    assert len(cuts) == 3
    for cut, fit in cuts:
        assert np.all(c[fit] <= cut) and np.all(c[~fit] > cut) and (~fit).any()
        assert np.bincount(kw["group"][fit]).min() >= 7
    # a group left with too few runs below a cut: that cut is not made (d2 keeps only its 9
    # largest-compute runs, so it has fewer than 7 below every cut)
    comp = sim3.n_params * sim3.n_tokens
    top = comp[sim3.dataset == "d2"].nlargest(9).index
    few = sim3[(sim3.dataset != "d2") | sim3.index.isin(top)]
    kw, meta = PooledLossLaw("gadre", loss="loss_sim")._prepare(few)
    assert pooled_lfo_cuts(kw, meta, 7) == []
    assert len(pooled_lfo_cuts(kw, meta, 1)) >= 1


def test_pooled_new_run_adds_each_groups_discrepancy(sim3, tmp_path):
    """A discrepancy of kappa 0.05 per unit distance on d0 only: d0's far target widens, the
    other groups' and every law-mean interval stay as they were; the view and a saved file
    carry it."""
    from bayes_scaling.estimators.discrepancy import Discrepancy

    law = fabricated_pooled_law(sim3, TRUTHS)
    before = law.predict(TARGETS, ci_prob=0.9, seed=3)
    wide = Discrepancy("lfo", kappa_grid=(0.05,), weights=(1.0,))
    law.idata.attrs["discrepancy"] = json.dumps(
        {"d0": wide.to_json(), "d1": Discrepancy.none().to_json(),
         "d2": Discrepancy.none().to_json()})
    assert law.discrepancy_["d0"] == wide and law.discrepancy_["d1"].method == "none"
    d = law.design_bounds("d0").distance(TARGETS.n_params[:1], TARGETS.n_tokens[:1])[0]
    assert d > 1
    sd = law.discrepancy_sd(TARGETS)
    np.testing.assert_allclose(sd[:, 0], 0.05 * d, rtol=1e-12)
    assert np.all(sd[:, 1:] == 0)
    after = law.predict(TARGETS, ci_prob=0.9, seed=3)
    w0, w1 = [(p["upper"] - p["lower"]) / p["median"] for p in (before, after)]
    # log-scale 90% half-width grows from ~1.645 * sigma to ~1.645 * sqrt(sigma^2 + (0.05 d)^2)
    assert w1.iloc[0] > 2 * w0.iloc[0]
    np.testing.assert_allclose(w1.iloc[1:], w0.iloc[1:], rtol=0.1)
    pd.testing.assert_frame_equal(law.predict(TARGETS, kind="law_mean"),
                                  fabricated_pooled_law(sim3, TRUTHS).predict(
                                      TARGETS, kind="law_mean"))
    view = law.for_group("d0")
    assert view.discrepancy == "lfo" and view.discrepancy_ == wide
    assert law.for_group("d1").discrepancy is None
    law.save(tmp_path / "p.nc")
    back = PooledLossLaw.load(tmp_path / "p.nc")
    assert back.discrepancy == "lfo" and back.discrepancy_ == law.discrepancy_
    pd.testing.assert_frame_equal(back.predict(TARGETS, seed=3), after)


def test_pooled_discrepancy_argument_is_checked():
    with pytest.raises(ValueError, match="discrepancy must be 'lfo' or None"):
        PooledLossLaw(discrepancy="loo")
    assert "discrepancy=None" in repr(PooledLossLaw(discrepancy=None))
