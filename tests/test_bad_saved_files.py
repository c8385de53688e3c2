"""Saved fits that were edited, truncated or written by something else: FitFileError, by name."""

from __future__ import annotations

import json

import pytest
import xarray as xr

import bayes_scaling as bs
from bayes_scaling.estimators.io import REQUIRED_ATTRS, FitFileError
from bayes_scaling.testing import TRUE_GADRE, fabricated_loss_law


@pytest.fixture(scope="module")
def saved(tmp_path_factory, sim_runs):
    path = tmp_path_factory.mktemp("fits") / "fit.nc"
    fabricated_loss_law(sim_runs, TRUE_GADRE, loss="loss_sim", num_chains=2,
                        num_draws=50).save(path)
    return path


def _edited(saved, tmp_path, edit) -> str:
    dt = xr.open_datatree(saved, engine="h5netcdf").load()
    dt = edit(dt) or dt
    out = tmp_path / "edited.nc"
    dt.to_netcdf(out, engine="h5netcdf")
    return str(out)


def test_round_trip_still_loads(saved):
    law = bs.LossLaw.load(saved)
    assert law.loss == "loss_sim" and law.idata.posterior.sizes["draw"] == 50


@pytest.mark.parametrize("attr", REQUIRED_ATTRS["LossLaw"])
def test_missing_attr_named(saved, tmp_path, attr):
    def drop(dt):
        del dt.attrs[attr]

    path = _edited(saved, tmp_path, drop)
    with pytest.raises(FitFileError, match=rf"lacks the attribute\(s\) \['{attr}'\]"):
        bs.LossLaw.load(path)


@pytest.mark.parametrize(("attr", "value", "words"), [
    ("priors", "{not json", "'priors' is not a valid record"),
    ("priors", json.dumps({"E": {"dist": "normal", "loc": 0, "scale": -1}}), "'scale'"),
    ("priors", json.dumps({"E": 5}), "a prior spec is a dict"),
    ("sampler", json.dumps({"num_chains": 0}), "'sampler' is not a valid record"),
    ("sampler", "[1, 2]", "'sampler' is not a valid record"),
    ("log_n0", "nineteen", "'log_n0' should be a number"),
    ("file_format", "x", "file format -1"),
    ("bayes_scaling_kind", "ErrorLaw", "holds a ErrorLaw, not a LossLaw"),
])
def test_malformed_attr_named(saved, tmp_path, attr, value, words):
    def setattr_(dt):
        dt.attrs[attr] = value

    with pytest.raises(FitFileError, match=words.replace("(", r"\(").replace("[", r"\[")):
        bs.LossLaw.load(_edited(saved, tmp_path, setattr_))


def test_no_posterior_group(saved, tmp_path):
    def drop(dt):
        return xr.DataTree.from_dict({k: dt[k].to_dataset() for k in dt.children
                                      if k != "posterior"} | {"/": xr.Dataset(attrs=dt.attrs)})

    with pytest.raises(FitFileError, match="has no 'posterior' group"):
        bs.LossLaw.load(_edited(saved, tmp_path, drop))


def test_attrs_only_file(saved, tmp_path):
    attrs = xr.open_datatree(saved, engine="h5netcdf").attrs
    path = tmp_path / "attrs_only.nc"
    xr.DataTree(xr.Dataset(attrs=dict(attrs))).to_netcdf(path, engine="h5netcdf")
    with pytest.raises(FitFileError, match="no 'posterior' group"):
        bs.LossLaw.load(path)


def test_no_sample_stats(saved, tmp_path):
    def drop(dt):
        return xr.DataTree.from_dict({k: dt[k].to_dataset() for k in dt.children
                                      if k != "sample_stats"} | {"/": xr.Dataset(attrs=dt.attrs)})

    with pytest.raises(FitFileError, match="no 'sample_stats' group"):
        bs.LossLaw.load(_edited(saved, tmp_path, drop))


@pytest.mark.parametrize("content", [b"", b"garbage" * 100, b"\x89HDF\r\n\x1a\n" + b"\0" * 64,
                                     b"CDF\x01" + b"\0" * 40])
def test_corrupt_bytes(tmp_path, content):
    path = tmp_path / "bad.nc"
    path.write_bytes(content)
    with pytest.raises(FitFileError, match="not a readable netCDF fit"):
        bs.LossLaw.load(path)


def test_truncated(saved, tmp_path):
    path = tmp_path / "trunc.nc"
    path.write_bytes(saved.read_bytes()[: saved.stat().st_size // 2])
    with pytest.raises(FitFileError):
        bs.LossLaw.load(path)


def test_paths(tmp_path, saved):
    with pytest.raises(FileNotFoundError, match="no saved fit at"):
        bs.LossLaw.load(tmp_path / "nope.nc")
    with pytest.raises(IsADirectoryError, match="is a folder, not a saved fit"):
        bs.LossLaw.load(tmp_path)
    law = bs.LossLaw.load(saved)
    with pytest.raises(IsADirectoryError, match="is a folder: give a file name"):
        law.save(tmp_path)
    with pytest.raises(FileNotFoundError, match="does not exist; create it first"):
        law.save(tmp_path / "missing" / "fit.nc")
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_wrong_kind_and_law(saved):
    with pytest.raises(FitFileError, match="holds a LossLaw, not a ErrorLaw"):
        bs.ErrorLaw.load(saved)
    with pytest.raises(FitFileError, match="holds a 'gadre' law, not 'chinchilla'"):
        bs.LossLaw.load(saved, law="chinchilla")
