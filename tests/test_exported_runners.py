"""Sampler programs stored on disk (inference/exported.py): a fresh process loads them instead of
tracing; a damaged, stale or foreign entry falls back to tracing, with the same draws."""

from __future__ import annotations

import functools
import os

import numpy as np
import pytest

import bayes_scaling as bs
from bayes_scaling.inference import exported, nuts
from bayes_scaling.laws.priors import Prior

# chunk plan [60, 40]: two step programs, neither the default 250
SAMPLER = {"num_warmup": 60, "num_samples": 40, "num_chains": 2}
_REAL_STORE_DIR = exported.store_dir


@pytest.fixture
def store(tmp_path, monkeypatch):
    """A private store folder and an empty in-memory runner cache (a 'fresh process')."""
    folder = tmp_path / "runners"
    monkeypatch.setattr(exported, "store_dir", lambda: str(folder))
    monkeypatch.setattr(nuts, "_RUNNERS", {})
    return folder


def _draws(runs, seed=0) -> dict[str, np.ndarray]:
    law = bs.LossLaw("gadre", loss="loss_sim", sampler=SAMPLER, discrepancy=None)
    law.fit(runs, seed=seed, warn=False)
    assert law.diagnostics(warn=False).max_rhat < 1.5  # diagnostics still computed
    return {k: law.idata.posterior[k].values for k in law.idata.posterior.data_vars}


def _assert_same(a, b):
    assert sorted(a) == sorted(b)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def _no_tracing(monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("traced although the programs were stored")

    monkeypatch.setattr(nuts, "_export_programs", refuse)
    monkeypatch.setattr(nuts, "_kernels", refuse)


def _fresh_process():
    nuts._RUNNERS.clear()


def test_stored_programs_load_without_tracing_and_give_the_same_draws(sim_runs, store,
                                                                      monkeypatch):
    first = _draws(sim_runs)
    files = list(store.glob("*.runner"))
    assert len(files) == 1
    _fresh_process()
    with monkeypatch.context() as m:
        _no_tracing(m)
        _assert_same(_draws(sim_runs), first)
        # another seed reuses the same programs (the seed is an argument, not traced)
        other = _draws(sim_runs, seed=1)
    assert not np.array_equal(other["eta"], first["eta"])
    assert list(store.glob("*.runner")) == files  # nothing new written

    # a damaged file (one byte flipped inside a program) is ignored: traced again, same
    # draws, and the file rewritten intact
    data = bytearray(files[0].read_bytes())
    data[len(data) // 2] ^= 0xFF
    files[0].write_bytes(bytes(data))
    key = files[0].stem
    assert exported.load_bundle(str(store), key) is None
    _fresh_process()
    _assert_same(_draws(sim_runs), first)
    assert exported.load_bundle(str(store), key) is not None

    # a stale entry: intact, under this fit's key, but programs for another number of runs
    # (they do not take this fit's arrays): traced again, same draws
    _draws(sim_runs.iloc[:24])
    (other_key,) = {f.stem for f in store.glob("*.runner")} - {key}
    foreign = exported.load_bundle(str(store), other_key)
    assert exported.save_bundle(str(store), key, foreign)
    _fresh_process()
    _assert_same(_draws(sim_runs), first)


def test_opt_out_stores_nothing_and_gives_the_same_draws(sim_runs, store, monkeypatch):
    first = _draws(sim_runs)
    _fresh_process()
    monkeypatch.setattr(exported, "store_dir", _REAL_STORE_DIR)
    monkeypatch.setenv("BAYES_SCALING_COMPILATION_CACHE", "0")
    assert exported.store_dir() is None

    def refuse(*a, **k):
        raise AssertionError("stored although the cache is off")

    monkeypatch.setattr(exported, "save_bundle", refuse)
    monkeypatch.setattr(exported, "load_bundle", refuse)
    _assert_same(_draws(sim_runs), first)  # traced again: the same exported programs run


def test_batched_fits_are_stored_too(sim_runs, store, monkeypatch):
    law = bs.LossLaw("gadre", loss="loss_sim", sampler=SAMPLER, discrepancy=None)
    tables = [sim_runs, sim_runs.iloc[:24]]
    first = bs.fit_many(law, tables, seed=0, warn=False)
    assert len(list(store.glob("*.runner"))) == 1
    _fresh_process()
    _no_tracing(monkeypatch)
    again = bs.fit_many(law, tables, seed=0, warn=False)
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a.idata.posterior["eta"].values,
                                      b.idata.posterior["eta"].values)


class _Blob:
    def __init__(self, data: bytes):
        self.data = data

    def serialize(self):
        return bytearray(self.data)


@pytest.mark.parametrize("damage", ["missing", "empty", "garbage", "truncated", "no_magic",
                                    "not_a_program", "other_key"])
def test_load_bundle_never_raises_on_damage(tmp_path, damage):
    folder, key = str(tmp_path), "k" * 64
    path = os.path.join(folder, f"{key}.runner")
    if damage != "missing":
        assert exported.save_bundle(folder, key if damage != "other_key" else "x" * 64,
                                    {"init": _Blob(b"not a flatbuffer at all" * 10)})
        if damage == "other_key":
            os.replace(os.path.join(folder, f"{'x' * 64}.runner"), path)
        with open(path, "rb") as f:
            data = f.read()
        data = {"empty": b"", "garbage": os.urandom(300), "truncated": data[:-7],
                "no_magic": data[5:]}.get(damage, data)
        with open(path, "wb") as f:
            f.write(data)
    assert exported.load_bundle(folder, key) is None


def test_unwritable_store_does_not_stop_saving(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the folder should be")
    assert exported.save_bundle(str(blocker / "runners"), "k", {"init": _Blob(b"x")}) is False


def test_keys_follow_the_model_and_refuse_foreign_code():
    law = bs.LossLaw("gadre", loss="loss_sim")
    key = functools.partial(exported.bundle_key, model_key=law._model_key(), config={},
                            method="vectorized", shapes=(), names=["init"])
    k1 = key(law._model())
    assert k1 == key(law._model())  # the same model built again: the same key
    assert len(k1) == 64
    assert key(bs.LossLaw("chinchilla", loss="loss_sim")._model()) != k1
    assert key(bs.LossLaw("gadre", loss="loss_sim", noise="normal")._model()) != k1
    other_prior = dict(law.priors, eta=Prior("uniform", low=0.0, high=1.0))
    assert key(bs.LossLaw("gadre", loss="loss_sim", priors=other_prior)._model()) != k1
    assert exported.bundle_key(law._model(), law._model_key(), {}, "batch", (), ["init"]) != k1

    def user_model(x):  # code outside the package: its edits would not change the key
        return x

    assert exported.model_fingerprint(user_model) is None
    assert exported.model_fingerprint(functools.partial(law._model(), x=1)) is not None
    assert key(user_model) is None
    assert exported.bundle_key(law._model(), (object(),), {}, "vectorized", (), []) is None


def test_without_flatbuffers_nothing_is_stored(tmp_path):
    class NoSerialiser:
        def serialize(self):
            raise ImportError("Please install 'flatbuffers' in order to use Exported serialization")

    assert exported.save_bundle(str(tmp_path), "k", {"init": NoSerialiser()}) is False
    assert list(tmp_path.iterdir()) == []


def test_writing_a_bundle_prunes_the_store_to_its_limit(sim_runs, store, monkeypatch):
    _draws(sim_runs)
    (first,) = store.glob("*.runner")
    programs = exported.load_bundle(str(store), first.stem)
    old = first.stat().st_mtime - 60
    os.utime(first, (old, old))
    monkeypatch.setenv("BAYES_SCALING_CACHE_MAX_MB", "0.001")  # ~1 KB: less than one bundle
    assert exported.save_bundle(str(store), "k" * 64, programs)
    # the older bundle is gone, the one just written stays although it alone is over the limit
    assert [f.stem for f in store.glob("*.runner")] == ["k" * 64]
