"""Error laws of loss, their priors and the ErrorLaw estimator.

Fast tests use posteriors built by hand (:meth:`ErrorLaw.from_draws`); one test runs a small NUTS
fit on the 6 runs of Gadre et al.'s downstream fit (skipped without the reference data).
"""

import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

from bayes_scaling.estimators.error_law import (
    ErrorLaw,
    chance_level,
    effective_items,
    gadre2024_tasks,
    paper_error_runs,
)
from bayes_scaling.estimators.io import FitFileError
from bayes_scaling.estimators.loss_law import NotFittedError
from bayes_scaling.laws import forms as laws
from bayes_scaling.laws.priors import default_error_priors
from bayes_scaling.testing import FAST_SAMPLER

CHANCE17 = 1 - np.mean([25, 0, 0, 25, 0, 0, 50, 25, 50, 0, 25, 25, 0, 50, 0, 0, 50]) / 100


def _prior_draws(law: str, n: int, seed: int) -> dict[str, np.ndarray]:
    """Draws of the sampled parameters from the default priors (numpy, no NumPyro)."""
    rng = np.random.default_rng(seed)
    out = {}
    for name in laws.get_error_law(law).sampled:
        p = default_error_priors(law)[name].kwargs
        if "concentration1" in p:
            out[name] = rng.beta(p["concentration1"], p["concentration0"], n)
        else:
            out[name] = rng.lognormal(p["loc"], p["scale"], n)
    return out


def _fake_law(*, n_chains=2, n_draws=200, chance=0.8, sigma=0.01, n_items=0.0, seed=0,
              **kw) -> ErrorLaw:
    rng = np.random.default_rng(seed)
    shape = (n_chains, n_draws)
    params = {"eps": np.full(shape, chance * 0.98),
              "k": 4.0 * np.exp(0.05 * rng.standard_normal(shape)),
              "gamma": 1.0 * np.exp(0.05 * rng.standard_normal(shape)),
              "sigma": np.full(shape, sigma)}
    return ErrorLaw.from_draws(params, chance=chance, n_items=n_items, seed=seed, **kw)


# ------------------------------------------------------------------------------ laws and priors


@pytest.mark.parametrize("law", sorted(laws.ERROR_LAWS))
def test_mean_error_stays_between_zero_and_chance_for_prior_draws(law):
    spec = laws.get_error_law(law)
    p = {k: jnp.asarray(v[:, None]) for k, v in _prior_draws(law, 4000, seed=1).items()}
    loss = jnp.linspace(0.01, 12.0, 60)[None, :]
    for chance in (0.5, 0.809, 1.0):
        nat = spec.from_sampled(p, chance, 3.4)
        err = np.asarray(spec.error(nat, loss, chance))
        assert np.all(np.isfinite(err))
        assert err.min() >= 0.0 and err.max() <= chance + 1e-12
        if law == "exponential":
            assert np.all(np.asarray(nat["eps"]) <= chance + 1e-12)


@pytest.mark.parametrize("law", sorted(laws.ERROR_LAWS))
def test_centred_form_hits_reference_error_and_falls_with_loss(law):
    spec = laws.get_error_law(law)
    p = {k: jnp.asarray(v) for k, v in _prior_draws(law, 500, seed=2).items()}
    chance, loss_ref = 0.75, 3.2
    nat = spec.from_sampled(p, chance, loss_ref)
    at_ref = np.asarray(spec.error(nat, loss_ref, chance))
    np.testing.assert_allclose(at_ref, chance * np.asarray(p["err_ref_frac"]), rtol=1e-9)
    lo = np.asarray(spec.error(nat, loss_ref - 0.3, chance))
    assert np.all(lo <= at_ref + 1e-15)  # lower loss, lower (or clipped-at-0) error


def test_exponential_matches_paper_formula_inside_bounds():
    loss = np.array([2.5, 3.0, 4.0])
    got = np.asarray(laws.exponential_error(loss, eps=0.8, k=4.0, gamma=1.1, chance=0.81))
    np.testing.assert_allclose(got, 0.8 - 4.0 * np.exp(-1.1 * loss), rtol=1e-12)
    # far below the data the paper's form goes negative; the law clips at 0
    assert float(laws.exponential_error(0.1, eps=0.8, k=4.0, gamma=1.1)) == 0.0
    # eps above chance is clipped at chance
    assert float(laws.exponential_error(50.0, eps=0.9, k=4.0, gamma=1.1, chance=0.8)) == 0.8


def test_default_error_priors_cover_the_sampled_parameters():
    for law in laws.ERROR_LAWS:
        spec = laws.get_error_law(law)
        assert set(default_error_priors(law)) == {*spec.sampled, "sigma", "nu", "inv_sqrt_items"}


# ------------------------------------------------------------------------------ chance levels

TASKS = pd.DataFrame(
    {"chance_error": [0.75, 0.5, 1.0], "n_items": [2376, 100, 10570]},
    index=pd.Index(["arc_easy", "copa", "squad"], name="task"),
)


def test_chance_level_and_items_of_a_task():
    assert chance_level("err_copa", TASKS) == 0.5
    assert chance_level("err_squad", TASKS) == 1.0
    assert effective_items("err_copa", TASKS) == 100.0


def test_chance_level_of_unknown_column_asks_for_chance():
    with pytest.raises(ValueError, match="chance="):
        chance_level("err_my_task", TASKS)
    law = ErrorLaw(error="err_my_task")
    runs = pd.DataFrame({"run_id": [f"r{i}" for i in range(5)], "dataset": "x",
                         "n_params": [10**8] * 5, "n_tokens": [2e9 * (i + 1) for i in range(5)],
                         "loss_c4_val": [4.0, 3.6, 3.3, 3.1, 3.0],
                         "err_my_task": [0.7, 0.65, 0.6, 0.55, 0.52]})
    runs["tokens_per_param"] = runs.n_tokens / runs.n_params
    runs["compute_flops"] = 6 * runs.n_params * runs.n_tokens
    with pytest.raises(ValueError, match="pass chance="):
        law.fit(runs, seed=0)


def test_gadre_task_metadata(data_dir):
    tasks = gadre2024_tasks(data_dir=data_dir, download=False)
    assert len(tasks) == 46
    assert chance_level("err_avg17", tasks) == pytest.approx(CHANCE17, abs=1e-12)
    assert chance_level("err_avg46", tasks) == pytest.approx(0.75, abs=1e-12)
    assert chance_level("err_copa", tasks) == 0.5 and tasks.loc["copa", "n_items"] == 100
    # a 17-task average measures like one task of ~5237 items
    assert effective_items("err_avg17", tasks) == pytest.approx(5237, abs=1)


# ------------------------------------------------------------------------------ estimator


def test_constructor_rejects_bad_arguments():
    with pytest.raises(ValueError, match="registered"):
        ErrorLaw("linear")
    with pytest.raises(ValueError, match="noise"):
        ErrorLaw(noise="cauchy")
    with pytest.raises(ValueError, match="chance"):
        ErrorLaw(chance=1.5)
    with pytest.raises(ValueError, match="unknown parameter"):
        ErrorLaw(priors={"eps_frac": {"dist": "beta", "a": 1, "b": 1}})
    with pytest.raises(NotFittedError):
        ErrorLaw().predict([2.5])
    with pytest.raises(ValueError, match="needs discrepancy='lfo'"):
        ErrorLaw("auto", discrepancy=None)
    with pytest.raises(ValueError, match="takes no priors"):
        ErrorLaw("auto", priors={"sigma": {"dist": "halfnormal", "scale": 0.1}})


def test_fabricated_predictions_bounded_and_kinds():
    law = _fake_law(chance=0.8, sigma=0.02, n_items=500.0)
    loss = np.linspace(1.0, 8.0, 30)
    mean = law.error_draws(loss, kind="law_mean")
    obs = law.error_draws(loss, kind="new_run", seed=1)
    assert mean.shape == obs.shape == (law.n_draws, 30)
    assert mean.min() >= 0 and mean.max() <= 0.8
    assert obs.min() >= 0 and obs.max() <= 1
    # the observed predictive adds noise: wider at every loss where the law is off its bounds
    pm, po = law.predict([2.5, 3.0], kind="law_mean"), law.predict([2.5, 3.0], kind="new_run")
    assert np.all(po.upper - po.lower > pm.upper - pm.lower)
    assert pm.attrs["ci_prob"] == 0.9 and pm.attrs["target"] == "error"


def test_error_draws_pairs_rows_with_given_draws():
    law = _fake_law()
    d = law.draws()
    idx = np.array([5, 0, 399, 5])
    loss = np.array([[2.5, 3.0], [2.6, 3.1], [2.7, 3.2], [2.8, 3.3]])
    got = law.error_draws(loss, kind="law_mean", draw_index=idx)
    want = d["eps"][idx, None] - d["k"][idx, None] * np.exp(-d["gamma"][idx, None] * loss)
    np.testing.assert_allclose(got, want, rtol=1e-12)
    with pytest.raises(ValueError, match="draw_index"):
        law.error_draws(loss)  # 4 rows, 400 draws, no pairing given
    with pytest.raises(ValueError, match=r"\[0, 400\)"):
        law.error_draws(loss, draw_index=np.array([0, 1, 2, 400]))


def test_observed_noise_matches_sigma_and_sampling_error():
    # sigma 0.02 and 400 items at error ~0.5: sd sqrt(0.02^2 + 0.25/403) = 0.0320. With 40000
    # draws the sample sd has relative sd ~0.4%; 3% tolerance leaves room for the k/gamma spread.
    law = _fake_law(n_chains=4, n_draws=10000, chance=1.0, sigma=0.02, n_items=400.0)
    loss = np.array([np.log(4.0 / 0.48) / 1.0])  # eps 0.98 - 4 e^-L = 0.5
    noise = law.error_draws(loss, kind="new_run", seed=3) - law.error_draws(loss, kind="law_mean")
    assert noise.std() == pytest.approx(np.sqrt(0.02**2 + 0.25 / 403), rel=0.03)


def test_save_load_roundtrip_and_kind_check(tmp_path, sim_runs):
    law = _fake_law(n_items=5237.0)
    path = tmp_path / "err.nc"
    law.save(path)
    back = ErrorLaw.load(path)
    pd.testing.assert_frame_equal(law.predict([2.4, 2.9], kind="new_run", seed=4),
                                  back.predict([2.4, 2.9], kind="new_run", seed=4))
    assert back.priors == law.priors and back.chance_error == law.chance_error
    with pytest.raises(FitFileError, match="sigmoid"):
        ErrorLaw.load(path, law="sigmoid")
    from bayes_scaling.testing import TRUE_GADRE, fabricated_loss_law

    loss_path = tmp_path / "loss.nc"
    fabricated_loss_law(sim_runs, TRUE_GADRE, loss="loss_sim").save(loss_path)
    with pytest.raises(FitFileError, match="LossLaw"):
        ErrorLaw.load(loss_path)


def test_from_draws_checks_parameters():
    with pytest.raises(ValueError, match="lack"):
        ErrorLaw.from_draws({"eps": [0.8]}, chance=0.8)
    with pytest.raises(ValueError, match="shape"):
        ErrorLaw.from_draws({"eps": [0.8, 0.8], "k": [1.0], "gamma": [1.0], "sigma": [0.01]},
                            chance=0.8)


# ------------------------------------------------------------------------------ real NUTS fit


@pytest.fixture(scope="module")
def paper_fit(gadre_runs, data_dir):
    six = paper_error_runs(gadre_runs, "rpj")
    law = ErrorLaw("exponential", error="err_avg17", sampler=FAST_SAMPLER, data_dir=data_dir)
    return six, law.fit(six, seed=1, warn=False)


def test_small_nuts_fit_on_the_paper_runs(paper_fit, gadre_runs):
    six, law = paper_fit
    dt = law.idata
    for group in ("posterior", "sample_stats", "log_likelihood", "observed_data",
                  "constant_data"):
        assert group in dt.children
    for key in ("law", "priors", "sampler", "seed", "bayes_scaling_version", "data_hash",
                "backend", "chance", "n_items", "loss_ref", "loss_unit", "metric"):
        assert key in dt.attrs
    assert dt.attrs["chance"] == pytest.approx(CHANCE17)
    d = law.diagnostics(warn=False)
    # 2 chains x 300 draws: R-hat under 1.05 and at most 3 of 600 transitions divergent (not 0,
    # which a new JAX can flip by one) is what a healthy small run shows (the default 4 x 1000
    # run reaches R-hat <= 1.01; see docs/downstream.md)
    assert d.divergences <= 3 and d.max_rhat < 1.05
    post = law.draws()
    assert np.all(post["eps"] <= CHANCE17 + 1e-12)
    # the loss's measurement error is marginalised (no per-run parameter); metadata recorded
    assert dt.attrs["loss_error"] == "linearised" and "loss_true" not in dt.posterior
    assert dt.attrs["task_source"] == "gadre2024 metadata" and dt.attrs["loss_unit"] == "nats/token"
    assert dt.attrs["n_items"] == pytest.approx(5237, abs=1) and dt.attrs["items_learned"] == 0
    # the 1.4B M=20 run is in the fit: its 90% observed interval covers its own error, and the
    # median misses it by less than 3 points of error (paper's least-squares residual: ~0.2)
    row = six[six.n_params > 1e9]
    p = law.predict(row["loss_c4_val"].to_numpy(), kind="new_run", ci_prob=0.9, seed=0)
    truth = float(row["err_avg17"].iloc[0])
    assert p["lower"].iloc[0] < truth < p["upper"].iloc[0]
    assert abs(p["median"].iloc[0] - truth) < 0.03


def test_summary_reports_natural_parameters(paper_fit):
    s = paper_fit[1].summary(ci_prob=0.9)
    assert list(s.index) == ["eps", "k", "gamma", "sigma"]
    assert np.all(s["lower"] <= s["median"]) and np.all(s["median"] <= s["upper"])
    assert s.loc["gamma", "rhat"] < 1.05


# ------------------------------------------------------------------------------ task metadata

from bayes_scaling.estimators.tasks import TaskMetadataWarning, task_metadata  # noqa: E402


def _other_lab_runs(n=6, col="err_hellaswag", **extra) -> pd.DataFrame:
    runs = pd.DataFrame({"run_id": [f"r{i}" for i in range(n)], "dataset": "other_lab",
                         col: np.linspace(0.7, 0.4, n), **extra})
    return runs


def test_gadre_named_column_in_other_data_never_borrows_gadre_metadata():
    # err_hellaswag is a Gadre et al. task, but these runs are not theirs: no lookup (which
    # would need the gadre2024 files), and no chance level -> an error naming the fixes
    with pytest.raises(ValueError, match=r"chance=.*tasks=.*err_hellaswag_chance"):
        task_metadata("err_hellaswag", _other_lab_runs())


def test_task_metadata_sources_and_precedence():
    tasks = pd.DataFrame({"task": ["hellaswag"], "random_baseline": [25.0], "n_items": [10042],
                          "metric": ["top1_error"]})
    info = task_metadata("err_hellaswag", _other_lab_runs(), tasks=tasks)
    assert (info.chance, info.n_items, info.source) == (0.75, 10042.0, "tasks table")
    # arguments win over the table, field by field
    info = task_metadata("err_hellaswag", _other_lab_runs(), tasks=tasks, chance=2 / 3)
    assert info.chance == pytest.approx(2 / 3) and info.n_items == 10042.0
    assert info.source == "arguments"
    # runs-table columns
    runs = _other_lab_runs(err_hellaswag_chance=0.5, err_hellaswag_n_items=800.0)
    info = task_metadata("err_hellaswag", runs)
    assert (info.chance, info.n_items, info.source) == (0.5, 800.0, "runs columns")
    with pytest.raises(ValueError, match="constant"):
        task_metadata("err_hellaswag", _other_lab_runs(err_hellaswag_chance=[0.5, 0.75] * 3))


def test_missing_item_count_warns_and_bad_metadata_is_an_error():
    with pytest.warns(TaskMetadataWarning, match="learned"):
        info = task_metadata("err_x", _other_lab_runs(col="err_x"), chance=0.75)
    assert info.n_items is None
    assert task_metadata("err_x", _other_lab_runs(col="err_x"), chance=0.75,
                         n_items=0).n_items == 0.0  # explicitly off: no warning
    bad = pd.DataFrame({"chance_error": [75.0], "n_items": [100]}, index=["x"])
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        task_metadata("err_x", _other_lab_runs(col="err_x"), tasks=bad)
    acc = pd.DataFrame({"chance_error": [0.75], "n_items": [100], "metric": ["accuracy"]},
                       index=["x"])
    with pytest.raises(ValueError, match="1 - accuracy"):
        task_metadata("err_x", _other_lab_runs(col="err_x"), tasks=acc)


# ------------------------------------------------------------------------------ model pieces


@pytest.mark.parametrize("law", sorted(laws.ERROR_LAWS))
def test_rates_are_unit_free(law):
    # the same sampled parameters describe the same curve whatever the loss unit: rescaling
    # losses (nats -> bits: x 1/ln 2) and the reference loss together leaves Err unchanged
    spec = laws.get_error_law(law)
    p = {k: jnp.asarray(v) for k, v in _prior_draws(law, 200, seed=4).items()}
    loss = np.linspace(2.0, 5.0, 7)[:, None]
    nats = spec.error(spec.from_sampled(p, 0.75, 3.3), loss, 0.75)
    c = 1 / np.log(2.0)
    bits = spec.error(spec.from_sampled(p, 0.75, 3.3 * c), loss * c, 0.75)
    np.testing.assert_allclose(np.asarray(bits), np.asarray(nats), rtol=1e-10, atol=1e-12)


def test_linearised_likelihood_adds_the_loss_error_through_the_slope():
    import numpyro
    from numpyro.infer.util import log_likelihood

    from bayes_scaling.models.core import make_error_model

    spec = laws.get_error_law("sigmoid")
    priors = default_error_priors("sigmoid")
    model = make_error_model(spec, priors, "normal")
    kw = {"loss_obs": jnp.array([2.8, 3.0, 3.4]), "loss_sd": jnp.array([0.0, 0.05, 0.1]),
          "err_sd": jnp.array([0.01, 0.01, 0.02]), "err_unit": jnp.zeros(3),
          "chance": jnp.asarray(0.75), "loss_ref": jnp.asarray(3.0),
          "error": jnp.array([0.3, 0.45, 0.6])}
    params = {"err_ref_frac": jnp.array([0.6]), "floor_frac": jnp.array([0.3]),
              "slope_rel": jnp.array([6.0]), "sigma": jnp.array([0.02])}
    got = np.asarray(log_likelihood(model, params, **kw)["error"])[0]
    nat = spec.from_sampled({k: v[0] for k, v in params.items()}, 0.75, 3.0)
    f = lambda x: float(spec.error(nat, x, 0.75))  # noqa: E731
    want = []
    for x, sd_l, sd_e, y in zip(kw["loss_obs"], kw["loss_sd"], kw["err_sd"], kw["error"],
                                strict=True):
        x = float(x)
        slope = (f(x + 1e-6) - f(x - 1e-6)) / 2e-6  # finite difference, 1e-6 nats
        sd = np.sqrt(float(sd_e) ** 2 + 0.02**2 + (slope * float(sd_l)) ** 2)
        want.append(-0.5 * ((float(y) - f(x)) / sd) ** 2 - np.log(sd * np.sqrt(2 * np.pi)))
    np.testing.assert_allclose(got, want, rtol=1e-6)
    assert numpyro  # imported for the handlers log_likelihood uses


def test_learned_item_noise_in_new_run_draws():
    # items unknown: the new-run noise is sqrt(sigma^2 + p (1 - p) t^2) with t = inv_sqrt_items;
    # at p = 0.5, sigma 0.02, t 0.05 that is 0.0320. 40000 draws: relative sd of the sample sd
    # ~0.4%, 3% tolerance as in the known-items test above
    shape = (4, 10000)
    law = ErrorLaw.from_draws({"eps": np.full(shape, 0.98), "k": np.full(shape, 4.0),
                               "gamma": np.full(shape, 1.0), "sigma": np.full(shape, 0.02),
                               "inv_sqrt_items": np.full(shape, 0.05)},
                              chance=1.0, n_items=None, loss_unit="bits/byte")
    loss = np.array([np.log(4.0 / 0.48)])
    noise = law.error_draws(loss, kind="new_run", seed=3) - law.error_draws(loss, kind="law_mean")
    assert noise.std() == pytest.approx(np.sqrt(0.02**2 + 0.25 * 0.05**2), rel=0.03)
    assert law.idata.attrs["loss_unit"] == "bits/byte" and law.idata.attrs["items_learned"] == 1


def test_small_fit_with_unknown_items_and_a_stated_unit(tmp_path):
    from bayes_scaling.evaluate.simulate import simulate_error_runs

    runs = simulate_error_runs(30, chance=0.75, floor=0.2, n_items=1000, seed=0)
    runs["loss_bpb"] = runs["loss_sim"] / np.log(2.0) / 4.0  # a bits/byte-like rescaling
    runs = runs.drop(columns=["loss_sim_ci"])
    law = ErrorLaw("sigmoid", error="err_sim", loss="loss_bpb", chance=0.75,
                   loss_unit="bits/byte", sampler=FAST_SAMPLER)
    with pytest.warns(TaskMetadataWarning):
        law.fit(runs, seed=0, warn=False)
    dt = law.idata
    assert dt.attrs["items_learned"] == 1 and np.isnan(dt.attrs["n_items"])
    assert dt.attrs["loss_unit"] == "bits/byte" and "inv_sqrt_items" in dt.posterior
    assert law.diagnostics(warn=False).divergences <= 3  # of 600 transitions; see above
    # the floor (best reachable error) is learned: truth 0.2; 90% interval of a 2 x 300 fit
    s = law.summary(ci_prob=0.9)
    assert s.loc["floor", "lower"] < 0.2 < s.loc["floor", "upper"]
    # the learned sampling scale is of the order of 1/sqrt(1000) = 0.032 (sigma takes a share)
    t = dt.posterior["inv_sqrt_items"].values
    assert 0.005 < np.median(t) < 0.06
    law.save(tmp_path / "e.nc")
    back = ErrorLaw.load(tmp_path / "e.nc")
    assert back.loss_unit == "bits/byte" and back.n_items is None
    pd.testing.assert_frame_equal(back.predict([0.9], seed=1), law.predict([0.9], seed=1))


# ------------------------------------------------------------------ extrapolation discrepancy


def test_error_lfo_splits_fit_the_high_losses_and_hold_out_the_low():
    from bayes_scaling.estimators.error_extrapolation import error_lfo_splits, loss_distance

    loss = np.linspace(4.0, 2.5, 20)
    splits = error_lfo_splits(loss, min_fit=7)
    assert [int(f.sum()) for _, f in splits] == [10, 13, 16]  # above the 50/35/20% quantiles
    for cut, fit in splits:
        assert loss[fit].min() > cut >= loss[~fit].max()
    assert [int(f.sum()) for _, f in error_lfo_splits(loss, min_fit=15)] == [16]
    np.testing.assert_allclose(loss_distance([3.0, 2.7, 2.0], 2.7), [0.0, 0.0, np.log(2.7 / 2)])


def test_lfo_discrepancy_is_larger_for_the_law_that_misses_below_the_fitted_losses(tmp_path):
    # a task with an accuracy ceiling (error floor 0.3 of chance 0.75) measured down to loss 2.4:
    # the exponential law runs towards 0 error below the fitted losses, the sigmoid saturates.
    # The leave-future-out refits see it: the exponential's kappa (median) is larger, and its
    # new-run interval at a loss below the fitted ones is wider than without the term, while
    # inside the fitted losses (distance 0) the term adds nothing
    from bayes_scaling.evaluate.simulate import simulate_error_runs

    runs = simulate_error_runs(30, chance=0.75, floor=0.3, midpoint=3.2, n_items=2000,
                               loss_range=(2.4, 4.5), seed=3)
    fits = {law: ErrorLaw(law, error="err_sim", loss="loss_sim", chance=0.75, n_items=2000,
                          sampler=FAST_SAMPLER).fit(runs, seed=0, warn=False)
            for law in ("sigmoid", "exponential")}
    k = {law: f.discrepancy_.quantiles([0.5])[0] for law, f in fits.items()}
    assert fits["exponential"].discrepancy_.method == "lfo"
    assert k["exponential"] > k["sigmoid"]
    f = fits["exponential"]
    assert len(f.discrepancy_.points) > 0 and f.idata.attrs["loss_min_fit"] == runs.loss_sim.min()
    plain = ErrorLaw.load(_save(f, tmp_path))
    plain.idata.attrs["discrepancy"] = '{"method": "none", "kappa_grid": [], "weights": [], ' \
        '"points": [], "cutoffs": []}'
    below, inside = [2.0], [3.0]
    w = {n: (lambda p: float((p.upper - p.lower).iloc[0]))(m.predict(below, seed=1))
         for n, m in (("lfo", f), ("none", plain))}
    assert w["lfo"] > w["none"]
    pd.testing.assert_frame_equal(f.predict(inside, seed=1), plain.predict(inside, seed=1))
    assert ErrorLaw.load(_save(f, tmp_path)).discrepancy_ == f.discrepancy_
    # law="auto" fits both and keeps the one whose refits predicted the lower losses best: the
    # sigmoid here (the truth has a ceiling); same seed, same draws, so the same scores
    from bayes_scaling.estimators.error_extrapolation import compare_lfo

    auto = ErrorLaw("auto", error="err_sim", loss="loss_sim", chance=0.75, n_items=2000,
                    sampler=FAST_SAMPLER)
    assert auto.law == "auto"
    auto.fit(runs, seed=0, warn=False)
    want = compare_lfo({n: m.discrepancy_ for n, m in fits.items()})
    assert auto.law == "sigmoid" and auto.law_choice["chosen"] == "sigmoid"
    assert auto.law_choice["lfo_elpd"] == pytest.approx(want, rel=1e-9)
    assert want["sigmoid"] > want["exponential"]
    back = ErrorLaw.load(_save(auto, tmp_path))
    assert back.law == "sigmoid" and back.law_choice == auto.law_choice


def _save(law, tmp_path):
    path = tmp_path / f"{law.law}.nc"
    law.save(path)
    return path
