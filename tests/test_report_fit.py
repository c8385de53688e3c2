"""`report --fit` reuses a saved fit only for the data and options it was fitted with: edited
losses, contradicting flags and a mislabelled error law are refused before any work (exit 1,
the flag and the fix named, nothing written). Fabricated fits, no NUTS."""

from __future__ import annotations

import numpy as np
import pytest

from bayes_scaling.cli import main
from bayes_scaling.estimators.error_law import ErrorLaw
from bayes_scaling.report import make_report
from bayes_scaling.report.presets import error_fit_data_mismatch, fit_data_mismatch
from bayes_scaling.testing import TRUE_GADRE, fabricated_loss_law


@pytest.fixture(scope="module")
def runs(sim_runs):
    return sim_runs.assign(err_avg17=np.clip(0.8 - 4.0 * np.exp(-sim_runs["loss_sim"]), 0, 1),
                           err_copa=0.3)


@pytest.fixture(scope="module")
def saved(runs, tmp_path_factory):
    folder = tmp_path_factory.mktemp("fits")
    law = fabricated_loss_law(runs, TRUE_GADRE, loss="loss_sim", seed=0)
    law.save(folder / "fit.nc")
    n = 400
    err = ErrorLaw.from_draws({"eps": np.full(n, 0.8), "k": np.linspace(3.8, 4.2, n),
                               "gamma": np.full(n, 1.0), "sigma": np.full(n, 0.01)},
                              chance=0.81, loss="loss_sim", error="err_avg17")
    err.save(folder / "err.nc")
    runs.to_csv(folder / "runs.csv", index=False)
    return folder, law


def _refused(argv, capsys, *needles):
    out = argv[argv.index("--out") + 1]
    assert main(argv) == 1
    err = capsys.readouterr().err
    for needle in needles:
        assert needle in err, (needle, err)
    assert "Fix:" in err and "Traceback" not in err
    import os

    assert not os.path.exists(out)
    return err


def _argv(folder, tmp_path, *extra, runs_csv=None):
    return ["report", str(runs_csv or folder / "runs.csv"), "--fit", str(folder / "fit.nc"),
            "--target", "1.4B:922B", "--out", str(tmp_path / "r.html"), "--no-progress",
            *extra]


def test_edited_losses_are_refused_though_the_run_ids_match(saved, runs, tmp_path, capsys):
    folder, _ = saved
    edited = tmp_path / "edited.csv"
    runs.assign(loss_sim=runs["loss_sim"] + 0.3).to_csv(edited, index=False)
    err = _refused(_argv(folder, tmp_path, "--no-error", runs_csv=edited), capsys,
                   "--fit", "was not fitted on the runs this report selects",
                   "the loss of 32 of 32 runs (mean change +0.3 nats/token",
                   "drop --fit to refit")
    assert "e.g. run sim-" in err


def test_the_same_runs_are_accepted(saved, tmp_path, capsys):
    folder, _ = saved
    argv = _argv(folder, tmp_path, "--no-error", "--allow-warnings")
    assert main(argv) == 0, capsys.readouterr().err
    assert (tmp_path / "r.html").exists()


@pytest.mark.parametrize(("flags", "needles"), [
    (["--law", "chinchilla"], ["--law 'chinchilla': contradicts --fit", "fitted with --law gadre",
                               "drop --law"]),
    (["--noise", "student_t"], ["--noise 'student_t': contradicts --fit",
                                "fitted with --noise mixture"]),
    (["--loss", "loss_other"], ["--loss 'loss_other': contradicts --fit",
                                "fitted with --loss loss_sim"]),
    (["--chains", "2"], ["--chains '2': contradicts --fit", "fitted with --chains 4"]),
])
def test_flags_that_contradict_the_saved_fit_are_refused(saved, runs, tmp_path, capsys, flags,
                                                         needles):
    folder, _ = saved
    csv = tmp_path / "runs.csv"
    runs.assign(loss_other=runs["loss_sim"]).to_csv(csv, index=False)
    _refused(_argv(folder, tmp_path, "--no-error", *flags, runs_csv=csv), capsys, *needles)


def test_a_mislabelled_error_law_is_refused(saved, tmp_path, capsys):
    folder, _ = saved
    err_fit = ["--error-fit", str(folder / "err.nc")]
    _refused(_argv(folder, tmp_path, *err_fit, "--error", "err_copa"), capsys,
             "--error 'err_copa': contradicts --error-fit", "an error law of err_avg17",
             "would be labelled err_copa", "drop --error")
    _refused(_argv(folder, tmp_path, *err_fit, "--no-error"), capsys,
             "--no-error: contradicts --error-fit")
    _refused(_argv(folder, tmp_path, *err_fit, "--error-law", "sigmoid"), capsys,
             "--error-law 'sigmoid': contradicts --error-fit", "fitted with --error-law "
             "exponential")


def test_python_make_report_refuses_the_same(saved, runs):
    folder, law = saved
    csv = str(folder / "runs.csv")
    with pytest.raises(ValueError, match="law='chinchilla' contradicts the saved fit"):
        make_report(csv, fit=law, law="chinchilla", error=None, targets=runs.iloc[:1],
                    figures=False)
    err = ErrorLaw.load(folder / "err.nc")
    with pytest.raises(ValueError, match="error='err_copa' contradicts the saved error-law fit"):
        make_report(csv, fit=law, error="err_copa", error_fit=err, targets=runs.iloc[:1],
                    figures=False)


def test_fit_data_mismatch_names_what_changed(saved, runs):
    _, law = saved
    assert fit_data_mismatch(law, runs) is None
    assert fit_data_mismatch(law, runs.iloc[::-1]) is None  # row order does not matter
    longer = runs.copy()
    longer.loc[3, ["n_tokens", "tokens_per_param", "compute_flops"]] *= 1.1
    assert "the token count of 1 of 32 runs" in fit_data_mismatch(law, longer)
    assert "loss measurement error of 32 of 32 runs" in fit_data_mismatch(
        law, runs.assign(loss_sim_ci=0.01))
    assert "fitted on 32 runs, the report selects 31" in fit_data_mismatch(law, runs.iloc[1:])


def _error_law_with_data(runs) -> ErrorLaw:
    """An error law whose posterior is given natural draws but whose data are ``runs``."""
    err = ErrorLaw("exponential", error="err_avg17", loss="loss_sim", chance=0.81, n_items=0.0)
    kw, meta = err._prepare(runs)
    n = 100
    post = {"eps": np.full((1, n), 0.8), "k": np.full((1, n), 4.0), "gamma": np.ones((1, n)),
            "sigma": np.full((1, n), 0.01)}
    stats = {"diverging": np.zeros((1, n), bool), "energy": np.zeros((1, n))}
    err.idata = err._build_datatree(post, stats, kw, meta, seed=0, facts={})
    return err


def test_error_fit_data_mismatch(runs):
    err = _error_law_with_data(runs)
    assert error_fit_data_mismatch(err, runs) is None
    assert "the error of 32 of 32 runs" in error_fit_data_mismatch(
        err, runs.assign(err_avg17=runs["err_avg17"] + 0.01))
