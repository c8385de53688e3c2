"""`bayes-scaling fit | predict | query | report`: outputs, exit codes and messages."""

from __future__ import annotations

import argparse
import urllib.parse
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bayes_scaling.cli import EXIT_DIAGNOSTICS, main, parse_count, parse_target
from bayes_scaling.data import registry
from bayes_scaling.estimators.loss_law import LossLaw
from bayes_scaling.testing import FAST_SAMPLER, TRUE_GADRE, fabricated_loss_law

FAST = ["--chains", str(FAST_SAMPLER["num_chains"]), "--warmup", str(FAST_SAMPLER["num_warmup"]),
        "--draws", str(FAST_SAMPLER["num_samples"]), "--no-progress"]


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Private cache; any download attempt off this machine fails the test."""
    monkeypatch.setenv(registry.CACHE_DIR_ENV, str(tmp_path / "cache"))
    monkeypatch.delenv(registry.DATA_URL_ENV, raising=False)

    def refuse(url: str, timeout: float) -> bytes:
        raise AssertionError(f"CLI test tried to download {url} "
                             f"(host {urllib.parse.urlsplit(url).hostname})")

    monkeypatch.setattr(registry, "_fetch", refuse)


@pytest.fixture
def runs_csv(sim_runs, tmp_path) -> Path:
    path = tmp_path / "runs.csv"
    sim_runs.to_csv(path, index=False)
    return path


@pytest.fixture
def saved(sim_runs, tmp_path) -> Path:
    """A fabricated (clean) fit saved to netCDF."""
    path = tmp_path / "fit.nc"
    fabricated_loss_law(sim_runs, TRUE_GADRE, loss="loss_sim", seed=0).save(path)
    return path


@pytest.fixture
def saved_bad(sim_runs, tmp_path) -> Path:
    """A saved fit whose sample stats record divergences."""
    law = fabricated_loss_law(sim_runs, TRUE_GADRE, loss="loss_sim", seed=0)
    law.idata["sample_stats"]["diverging"].values[0, :3] = True
    path = tmp_path / "bad.nc"
    law.save(path)
    return path


# ------------------------------------------------------------------------------------ parsing
def test_parse_counts_and_targets():
    assert parse_count("1.4B") == 1.4e9 and parse_count("20k") == 2e4
    assert parse_count("6.9e9") == 6.9e9 and parse_count("1_000") == 1000
    assert parse_target("1.44B:28.8B") == (1.44e9, 28.8e9)
    for bad in ("abc", "-1", "0", "inf"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_count(bad)
    with pytest.raises(argparse.ArgumentTypeError, match="N:D"):
        parse_target("1.4B")


def test_bad_target_is_a_usage_error(saved, capsys):
    assert main(["predict", str(saved), "--target", "1B"]) == 2
    assert "must be N:D" in capsys.readouterr().err


# ------------------------------------------------------------------------------------ fit
def test_fit_writes_a_loadable_posterior(runs_csv, fitted_sim, tmp_path, capsys):
    out = tmp_path / "fit.nc"
    code = main(["fit", str(runs_csv), "--out", str(out), "--seed", "0", *FAST])
    captured = capsys.readouterr()
    assert code in (0, EXIT_DIAGNOSTICS)  # 2 x 300 draws may fall short of the ESS target
    assert "chain method 'vectorized'" in captured.err  # never chosen silently
    law = LossLaw.load(out)
    assert law.loss == "loss_sim" and law.law == "gadre"
    # the same seed gives bit-identical draws to the Python API's LossLaw.fit(seed=0)
    for name in fitted_sim.idata.posterior.data_vars:
        np.testing.assert_array_equal(law.idata.posterior[name].values,
                                      fitted_sim.idata.posterior[name].values, err_msg=name)
    assert law.idata.posterior.sizes["chain"] == FAST_SAMPLER["num_chains"]
    assert "posterior (90% intervals):" in captured.out and "eta" in captured.out
    if code == EXIT_DIAGNOSTICS:
        assert "--allow-warnings" in captured.err


def test_fit_warns_of_dropped_refits(runs_csv, tmp_path, capsys, monkeypatch):
    """A refit that fails its checks is named on stderr, and the saved fit records it."""
    from bayes_scaling.estimators import lfo

    monkeypatch.setattr(lfo, "REFIT_RHAT_MAX", 0.5)  # every refit's R-hat (~1.00) fails it
    out = tmp_path / "f.nc"
    code = main(["fit", str(runs_csv), "--out", str(out), "--seed", "0", *FAST])
    err = capsys.readouterr().err
    assert code in (0, EXIT_DIAGNOSTICS)
    assert "bayes-scaling: warning: loss law: 3 of 3 leave-future-out refits failed" in err
    assert "the discrepancy keeps its prior" in " ".join(err.split())
    # warnings and notes fit 100 columns (error messages are one line by design)
    long = [line for line in err.splitlines()
            if len(line) > 100 and not line.startswith("bayes-scaling: error:")]
    assert not long, long
    law = LossLaw.load(out)
    assert law.discrepancy_.method == "prior" and len(law.discrepancy_.dropped_refits()) == 3
    assert law.diagnostics(warn=False).notes


def test_fit_bad_input_exits_1_with_message(tmp_path, capsys):
    missing = tmp_path / "nope.csv"
    assert main(["fit", str(missing), "--out", str(tmp_path / "f.nc")]) == 1
    assert "error:" in capsys.readouterr().err
    assert main(["fit", "no_such_dataset", "--out", str(tmp_path / "f.nc")]) == 1
    assert "unknown dataset" in capsys.readouterr().err


def test_fit_needs_a_corpus_filter_for_mixed_runs(sim_runs, tmp_path, capsys):
    mixed = pd.concat([sim_runs, sim_runs.assign(dataset="b", run_id=lambda d: d.run_id + "b")])
    path = tmp_path / "mixed.csv"
    mixed.to_csv(path, index=False)
    assert main(["fit", str(path), "--out", str(tmp_path / "f.nc"), *FAST]) == 1
    assert "--dataset-filter" in capsys.readouterr().err


# ------------------------------------------------------------------------------------ predict
def test_predict_targets_from_flags_and_csv(saved, tmp_path, capsys):
    tcsv = tmp_path / "targets.csv"
    pd.DataFrame({"compute_flops": [1e21], "tokens_per_param": [20.0]}).to_csv(tcsv, index=False)
    out = tmp_path / "pred.csv"
    argv = ["predict", str(saved), "--target", "1.44B:921B", "--targets-csv", str(tcsv),
            "--ci-prob", "0.5", "--ci-prob", "0.9", "--out", str(out)]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "90% interval" in text and "1.44B" in text
    table = pd.read_csv(out)
    assert len(table) == 2 and set(table["quantity"]) == {"loss"}
    assert np.all(table["lower_90%"] < table["lower_50%"])
    assert np.all(table["lower_50%"] < table["median"])
    np.testing.assert_allclose(table.loc[1, "compute_flops"], 1e21)


def test_predict_exit_codes(saved, saved_bad, tmp_path, capsys):
    assert main(["predict", str(saved)]) == 1
    assert "no targets" in capsys.readouterr().err
    assert main(["predict", str(tmp_path / "none.nc"), "--target", "1B:20B"]) == 1
    assert "FIT.nc" in (err := capsys.readouterr().err) and "no such file" in err
    junk = tmp_path / "junk.nc"
    junk.write_text("not a netcdf file")
    assert main(["predict", str(junk), "--target", "1B:20B"]) == 1
    assert "not a readable netCDF" in capsys.readouterr().err
    assert main(["predict", str(saved_bad), "--target", "1B:20B"]) == EXIT_DIAGNOSTICS
    err = capsys.readouterr().err
    assert "3 divergent transitions" in err and "--allow-warnings" in err
    assert main(["predict", str(saved_bad), "--target", "1B:20B", "--allow-warnings"]) == 0


# ------------------------------------------------------------------------------------ query
def test_query_probability(saved, tmp_path, capsys):
    out = tmp_path / "p.csv"
    assert main(["query", "probability", str(saved), "--target", "1.44B:921B", "--below", "2.6",
                 "--out", str(out)]) == 0
    assert "P(loss < 2.6)" in capsys.readouterr().out
    table = pd.read_csv(out)
    assert 0 <= table.loc[0, "p"] <= 1 and table.loc[0, "mcse"] > 0
    assert main(["query", "probability", str(saved), "--target", "1B:20B"]) == 1
    assert "--below" in capsys.readouterr().err
    assert main(["query", "probability", str(saved), "--target", "1B:20B", "--below", "0.5",
                 "--quantity", "error"]) == 1
    assert "--error-fit" in capsys.readouterr().err


def test_query_compute_and_allocation(saved, tmp_path, capsys):
    out = tmp_path / "c.csv"
    assert main(["query", "compute-to-target", str(saved), "--reach", "2.5", "--reach", "2.3",
                 "--tokens-per-param", "20", "--out", str(out)]) == 0
    table = pd.read_csv(out)
    assert table["loss"].tolist() == [2.5, 2.3]
    assert np.all(np.diff(table["compute_flops_median"]) > 0)  # lower loss, more compute
    capsys.readouterr()
    out = tmp_path / "a.csv"
    assert main(["query", "optimal-allocation", str(saved), "--compute-flops", "1e22",
                 "--min-tokens-per-param", "200", "--out", str(out)]) == 0
    table = pd.read_csv(out)
    assert table.loc[0, "tokens_per_param_median"] == pytest.approx(200)
    assert "excess loss" in capsys.readouterr().out
    assert main(["query", "optimal-allocation", str(saved)]) == 2  # --compute-flops required


# ------------------------------------------------------------------------------------ report
def test_report_from_a_runs_file(runs_csv, tmp_path, capsys):
    html, md, tables = tmp_path / "r.html", tmp_path / "r.md", tmp_path / "tables"
    code = main(["report", str(runs_csv), "--target", "1.44B:921B", "--target", "6.9B:138B",
                 "--threshold", "2.5", "--out", str(html), "--markdown", str(md),
                 "--csv-dir", str(tables), "--allow-warnings", *FAST])
    assert code == 0
    text = html.read_text()
    assert "data:image/png;base64," in text and "Backtest: not run." in text
    assert "P(&lt; 2.5)" in text
    assert (tables / "targets_loss.csv").exists() and md.exists()
    assert "report built in" in capsys.readouterr().err


def test_report_input_errors(runs_csv, tmp_path, capsys):
    assert main(["report", str(runs_csv), "--target", "1B:20B"]) == 1
    assert "nothing to write" in capsys.readouterr().err
    assert main(["report", str(runs_csv), "--out", str(tmp_path / "r.html"), *FAST]) == 1
    assert "no targets" in capsys.readouterr().err
    assert main(["report", str(runs_csv), "--out", str(tmp_path / "nodir" / "r.html")]) == 1
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.slow
def test_report_gadre2024_defaults(tmp_path, monkeypatch, capsys):
    """`report gadre2024 --out report.html` with only sampler settings shrunk for the test; no
    data folder (the shipped table)."""
    monkeypatch.delenv("BAYES_SCALING_DATA_DIR", raising=False)
    html = tmp_path / "report.html"
    code = main(["report", "gadre2024", "--out", str(html), "--allow-warnings", *FAST])
    assert code == 0
    text = html.read_text()
    for run in ("rpj-open_lm_1b-1.0", "rpj-open_lm_1b-32.0", "rpj-open_lm_7b-1.0"):
        assert run in text
    assert "err_avg17" in text and "gadre2024 defaults" in text


def test_backtest_command_scores_and_writes_csv(runs_csv, tmp_path, capsys):
    out, cov = tmp_path / "bt.csv", tmp_path / "cov.csv"
    code = main(["backtest", str(runs_csv), "--protocol", "leave_largest_out", "--out", str(out),
                 "--coverage-out", str(cov), "--allow-warnings", *FAST])
    assert code == 0
    bt = pd.read_csv(out)
    assert len(bt) == 8 and {"truth", "median", "covered_90", "crps"} <= set(bt.columns)
    assert set(pd.read_csv(cov)["ci_prob"]) == {0.5, 0.8, 0.9, 0.95}
    assert "coverage (nominal vs empirical)" in capsys.readouterr().out


def test_backtest_command_bad_protocol_is_usage_error(runs_csv, capsys):
    assert main(["backtest", str(runs_csv), "--protocol", "random_split"]) == 2
