"""Outputs that never harm (issue 26): an output that is an input is refused, CSV text cells
are neutralised, folders are written fresh and never through a link, non-regular inputs are
refused without hanging, saved fits carry a checksum, and suspect units are warned about."""

from __future__ import annotations

import contextlib
import os
import signal
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from bayes_scaling._files import (
    check_regular_file,
    fresh_folder,
    move_into_place,
    neutralize_csv_cells,
    write_csv,
)
from bayes_scaling.cli import main
from bayes_scaling.data import registry
from bayes_scaling.testing import TRUE_GADRE, fabricated_loss_law


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(registry.CACHE_DIR_ENV, str(tmp_path / "cache"))

    def refuse(url: str, timeout: float) -> bytes:
        raise AssertionError(f"test tried to download {url}")

    monkeypatch.setattr(registry, "_fetch", refuse)


@pytest.fixture
def law(sim_runs):
    return fabricated_loss_law(sim_runs, TRUE_GADRE, loss="loss_sim", seed=0)


@pytest.fixture
def saved(law, tmp_path) -> Path:
    path = tmp_path / "fit.nc"
    law.save(path)
    return path


@contextlib.contextmanager
def no_hang(seconds: int = 20):
    """Fail instead of hanging (a FIFO opened for reading blocks until a writer comes)."""
    def alarm(signum, frame):
        raise AssertionError(f"hung for {seconds} s")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


# ------------------------------------------------------------------ an output that is an input
def test_output_naming_an_input_is_refused_and_the_input_kept(saved, tmp_path, capsys):
    tcsv = tmp_path / "t.csv"
    tcsv.write_text("n_params,n_tokens\n1e9,2e10\n")
    before = tcsv.read_bytes()
    link = tmp_path / "alias.csv"
    link.symlink_to(tcsv)
    for out in (tcsv, link, tmp_path / "." / "t.csv"):
        assert main(["predict", str(saved), "--targets-csv", str(tcsv), "--out", str(out)]) == 1
        assert "is the input given as --targets-csv" in capsys.readouterr().err
        assert tcsv.read_bytes() == before
    cands = tmp_path / "c.csv"
    cands.write_text("n_params,n_tokens\n1e7,2e8\n1e8,2e9\n")
    assert main(["plan", str(saved), "--target", "1B:20B", "--candidates-csv", str(cands),
                 "--out", str(cands)]) == 1
    assert "--candidates-csv" in capsys.readouterr().err
    runs = tmp_path / "runs.csv"
    runs.write_text("n_params,n_tokens,loss\n1e7,2e8,3.9\n")
    before = runs.read_bytes()
    assert main(["backtest", str(runs), "--out", str(runs)]) == 1
    assert "is the input given as DATASET_OR_FILE" in capsys.readouterr().err
    assert runs.read_bytes() == before


def test_staged_commit_never_replaces_a_protected_input(tmp_path):
    from bayes_scaling.cli.common import CliInputError
    from bayes_scaling.cli.outputs import staged_outputs

    tables = tmp_path / "tables"
    tables.mkdir()
    precious = tables / "fit_runs.csv"
    precious.write_text("mine\n")
    with pytest.raises(CliInputError, match="would be replaced"):
        with staged_outputs() as stage:
            stage.protect([("DATASET_OR_FILE", str(precious))])
            folder = stage.path(tables)
            folder.mkdir()
            (folder / "fit_runs.csv").write_text("report\n")
            (folder / "other.csv").write_text("x\n")
    assert precious.read_text() == "mine\n" and not (tables / "other.csv").exists()


# --------------------------------------------------------------------------- CSV injection
def test_text_cells_are_neutralised_and_numbers_kept(tmp_path):
    df = pd.DataFrame({"run_id": ["=HYPERLINK(1)", "+1", "-cmd", "@SUM(A1)", "\tx", "ok",
                                  "-0.5"],
                       "loss": [-0.5, 1.0, 2.0, 3.0, 4.0, 6.0, 7.0],
                       "mixed": [-1.5, "=x", 2, None, "a", "c", "d"]})
    path = write_csv(df, tmp_path / "t.csv")
    back = pd.read_csv(path, keep_default_na=False)
    assert back["run_id"].tolist() == ["'=HYPERLINK(1)", "'+1", "'-cmd", "'@SUM(A1)", "'\tx",
                                       "ok", "'-0.5"]
    assert neutralize_csv_cells(pd.DataFrame({"a": ["\rx"]}))["a"].tolist() == ["'\rx"]
    assert back["loss"].tolist() == df["loss"].tolist()  # numeric cells are numbers
    assert back["mixed"].tolist()[:2] == ["-1.5", "'=x"]  # a float in a text column stays
    assert neutralize_csv_cells(pd.DataFrame({"=h": [1]})).columns.tolist() == ["'=h"]


def test_every_cli_csv_neutralises_names(saved, tmp_path):
    tcsv = tmp_path / "t.csv"
    pd.DataFrame({"n_params": [1e9], "n_tokens": [2e10], "run_id": ["=1+2"]}).to_csv(
        tcsv, index=False)
    out = tmp_path / "p.csv"
    assert main(["predict", str(saved), "--targets-csv", str(tcsv), "--out", str(out)]) == 0
    assert pd.read_csv(out)["run_id"].tolist() == ["'=1+2"]
    out = tmp_path / "q.csv"
    assert main(["query", "probability", str(saved), "--targets-csv", str(tcsv), "--below",
                 "3", "--out", str(out)]) == 0
    assert pd.read_csv(out)["run_id"].tolist() == ["'=1+2"]


def test_report_tables_are_neutralised_and_written_fresh(tmp_path):
    from bayes_scaling.report.render import write_tables

    data = SimpleNamespace(tables=lambda: {"fit_runs": pd.DataFrame({"run_id": ["@x", "y"],
                                                                      "loss": [-1.0, 2.0]})})
    paths = write_tables(data, tmp_path / "tables")
    assert [p.name for p in paths] == ["fit_runs.csv"]
    assert pd.read_csv(paths[0])["run_id"].tolist() == ["'@x", "y"]
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".staging")]
    # an existing folder keeps the user's other files
    (tmp_path / "tables" / "notes.txt").write_text("mine")
    write_tables(data, tmp_path / "tables")
    assert (tmp_path / "tables" / "notes.txt").read_text() == "mine"


# ------------------------------------------------------------------------ symlinked folders
def test_folders_that_are_links_are_never_written_through(tmp_path, capsys):
    from bayes_scaling.report.render import write_report, write_tables

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "fit_runs.csv").write_text("precious\n")
    (elsewhere / "loss.png").write_bytes(b"precious")
    link = tmp_path / "tables"
    link.symlink_to(elsewhere)
    data = SimpleNamespace(tables=lambda: {"fit_runs": pd.DataFrame({"a": [1]})}, figures=[
        SimpleNamespace(key="loss", png_bytes=b"new")])
    with pytest.raises(OSError, match="symbolic link"):
        write_tables(data, link)
    (tmp_path / "report_figures").symlink_to(elsewhere)
    with pytest.raises(OSError, match="symbolic link"):
        write_report(data, markdown=tmp_path / "report.md")
    assert not (tmp_path / "report.md").exists()
    assert (elsewhere / "fit_runs.csv").read_text() == "precious\n"
    assert (elsewhere / "loss.png").read_bytes() == b"precious"
    # the command line refuses them before any work
    from bayes_scaling.cli.common import CliInputError
    from bayes_scaling.cli.outputs import check_markdown_output, check_output_dir

    with pytest.raises(CliInputError, match="symbolic link"):
        check_output_dir(link, "--csv-dir")
    with pytest.raises(CliInputError, match="figure folder .* symbolic link"):
        check_markdown_output(tmp_path / "report.md")
    staged = tmp_path / "staged"
    staged.mkdir()
    (staged / "fit_runs.csv").write_text("new\n")
    with pytest.raises(OSError, match="symbolic link"):
        move_into_place(staged, link)  # a folder moved onto a link
    with pytest.raises(OSError, match="symbolic link"):
        with fresh_folder(link):
            pass


def test_a_file_output_that_is_a_link_is_replaced_not_followed(tmp_path):
    from bayes_scaling._files import atomic_write_text

    target = tmp_path / "precious.txt"
    target.write_text("precious")
    link = tmp_path / "out.html"
    link.symlink_to(target)
    atomic_write_text(link, "report")
    assert target.read_text() == "precious" and not link.is_symlink()
    assert link.read_text() == "report"


# ---------------------------------------------------------------------- non-regular inputs
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes on this system")
def test_named_pipes_and_devices_are_refused_without_hanging(saved, tmp_path, capsys):
    import bayes_scaling as bs

    fifo = tmp_path / "t.csv"
    os.mkfifo(fifo)
    fifo_nc = tmp_path / "fit_pipe.nc"
    os.mkfifo(fifo_nc)
    with no_hang():
        assert main(["predict", str(saved), "--targets-csv", str(fifo)]) == 1
        assert "named pipe (FIFO), not a regular file" in capsys.readouterr().err
        assert main(["predict", str(fifo_nc), "--target", "1B:20B"]) == 1
        assert "named pipe" in capsys.readouterr().err
        assert main(["fit", str(fifo), "--out", str(tmp_path / "f.nc")]) == 1
        assert "named pipe" in capsys.readouterr().err
        with pytest.raises(OSError, match="named pipe"):
            bs.load_runs(fifo)
        with pytest.raises(OSError, match="named pipe"):
            bs.LossLaw.load(fifo_nc)
    if Path("/dev/zero").exists():
        with no_hang():
            assert main(["predict", str(saved), "--targets-csv", "/dev/zero"]) == 1
            assert "character device" in capsys.readouterr().err
            with pytest.raises(OSError, match="character device"):
                check_regular_file("/dev/zero")


# --------------------------------------------------------------------------- fit checksum
def test_saved_fit_carries_a_checksum_and_refuses_flipped_bytes(law, saved, tmp_path):
    import xarray as xr

    import bayes_scaling as bs
    from bayes_scaling.estimators.io import CHECKSUM_ATTR, FitFileError, draws_checksum

    dt = xr.open_datatree(saved, engine="h5netcdf").load()
    assert dt.attrs[CHECKSUM_ATTR] == draws_checksum(law.idata)
    assert CHECKSUM_ATTR not in law.idata.attrs  # the caller's tree is not changed
    loaded = bs.LossLaw.load(saved)  # no warning (warnings are errors here)
    assert CHECKSUM_ATTR not in loaded.idata.attrs
    # 32 flipped bytes in the middle of the draws: refused, never infinite draws
    raw = bytearray(saved.read_bytes())
    post = law.idata.posterior["E"].values.astype("<f8").tobytes()
    at = bytes(raw).find(post[:64])
    assert at > 0, "the draws are stored uncompressed"
    for i in range(at + 8, at + 40):
        raw[i] ^= 0xFF
    flipped = tmp_path / "flipped.nc"
    flipped.write_bytes(bytes(raw))
    with pytest.raises(FitFileError, match="do not match the checksum.*refit"):
        bs.LossLaw.load(flipped)
    assert main(["predict", str(flipped), "--target", "1B:20B"]) == 1


def test_a_fit_saved_without_checksum_loads_with_a_warning(saved, tmp_path):
    import xarray as xr

    import bayes_scaling as bs
    from bayes_scaling.estimators.io import CHECKSUM_ATTR, FitFileWarning

    dt = xr.open_datatree(saved, engine="h5netcdf").load()
    del dt.attrs[CHECKSUM_ATTR]
    old = tmp_path / "old.nc"
    dt.to_netcdf(old, engine="h5netcdf")
    with pytest.warns(FitFileWarning, match="no checksum.*save it again"):
        law = bs.LossLaw.load(old)
    law.save(tmp_path / "again.nc")
    bs.LossLaw.load(tmp_path / "again.nc")  # now checked, no warning


# -------------------------------------------------------------------------- suspect units
def _ladder(loss: np.ndarray, **extra) -> pd.DataFrame:
    n = np.repeat([1e7, 4e7, 1e8, 4e8], 2)
    m = np.tile([20.0, 80.0], 4)
    return pd.DataFrame({"N": n, "D": n * m, "y": loss, **extra})


GOOD = np.array([4.2, 4.0, 3.7, 3.5, 3.3, 3.1, 3.0, 2.8])


@pytest.mark.parametrize("column,values,pattern", [
    ("val_ppl", np.exp(GOOD) / 20, "name says perplexity"),
    ("val_loss", GOOD + 4, "above 6 nats.*perplexity"),
    ("bits_per_byte", GOOD / 3, "name says bits"),
    ("val_loss", GOOD / 4, "below 1.3 nats.*log10"),
    ("loss_log10", GOOD / 2, "name says log10"),
])
def test_losses_in_other_units_are_warned_naming_the_column(column, values, pattern):
    import bayes_scaling as bs
    from bayes_scaling.data.units import SuspectUnitsWarning

    table = _ladder(values).rename(columns={"y": column})
    with pytest.warns(SuspectUnitsWarning, match=pattern) as caught:
        bs.load_runs(table, params="N", tokens="D", loss=column)
    assert f"'{column}'" in str(caught[0].message)


def test_error_columns_that_behave_like_accuracy_are_warned():
    import bayes_scaling as bs
    from bayes_scaling.data.units import SuspectUnitsWarning

    rising = np.linspace(0.3, 0.6, 8)  # rises as the loss falls
    with pytest.warns(SuspectUnitsWarning, match="err_avg.*rises as loss_y falls"):
        bs.load_runs(_ladder(GOOD, avg=rising), params="N", tokens="D", loss="y",
                     err_avg="avg")
    with pytest.warns(SuspectUnitsWarning, match="name says accuracy"):
        bs.load_runs(_ladder(GOOD, err_acc=1 - rising), params="N", tokens="D", loss="y")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        runs = bs.load_runs(_ladder(GOOD, err_avg=1 - rising), params="N", tokens="D", loss="y")
        # a range given on purpose turns the value checks of losses off
        bs.load_runs(_ladder(GOOD / 4), params="N", tokens="D", loss="y", loss_range=(0.1, 2))
    assert len(runs) == 8


def test_cli_prints_units_warnings_as_messages(tmp_path, capsys):
    path = tmp_path / "runs.csv"
    _ladder(GOOD + 4).rename(columns={"y": "val_loss"}).to_csv(path, index=False)
    assert main(["datasets", "--summary", str(path), "--params", "N", "--tokens", "D",
                 "--loss", "val_loss"]) == 0
    err = capsys.readouterr().err
    assert "bayes-scaling: warning: loss column 'loss_val' (your column 'val_loss')" in err
    assert ".py:" not in err
