"""Probe the library with bad inputs and classify what happens to each.

Usage::

    PYTHONPATH=. python scripts/probe_bad_inputs.py            # counts per surface and class
    PYTHONPATH=. python scripts/probe_bad_inputs.py --verbose  # plus one line per case
    PYTHONPATH=. python scripts/probe_bad_inputs.py --surface filters

Each case runs in its own temporary folder (the working directory during the case) with a marker
path ``MARKER`` that hostile strings try to create. Outcomes:

``clear``
    A ValueError / TypeError / OSError (the package's own errors are subclasses) raised by the
    package with a message, or an OSError that names its file.
``warned``
    No exception, but the package warned (a UserWarning subclass) -- the input was flagged.
``raw``
    Any other exception, or a ValueError/TypeError raised from inside numpy, JAX, pandas,
    xarray... (traceback-worthy: KeyError, AttributeError, IndexError, ZeroDivisionError, ...).
``accepted``
    No exception and no warning: the bad input passed silently. A fit that reaches the NUTS
    sampler counts as accepted (the sampler is replaced by a stub, so nothing samples).
``partial``
    An exception, but files were left in the case's folder.
``executed``
    The marker file exists: a string ran as code.

Extension point: append :class:`Case` objects to :data:`CASES` (or call :func:`register` from
another script, e.g. the CLI's cases, then :func:`main`). A case is a surface name, a short
description and a function of the case's folder; ``writes`` lists files the case may create.
Exit status 1 when any case falls in a bad class (raw, accepted, partial, executed).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import sys
import tempfile
import traceback
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

os.environ.setdefault("JAX_PLATFORMS", "cpu")

BAD_CLASSES = ("raw", "accepted", "partial", "executed")


@dataclass(frozen=True)
class Case:
    """One bad input: ``run(folder)`` exercises it inside ``folder``."""

    surface: str
    name: str
    run: Callable[[Path], object]
    writes: tuple[str, ...] = ()


CASES: list[Case] = []


def register(surface: str, name: str, writes: tuple[str, ...] = ()):
    """Decorator: add the function as a case."""
    def deco(fn: Callable[[Path], object]) -> Callable[[Path], object]:
        CASES.append(Case(surface, name, fn, writes))
        return fn
    return deco


def add(surface: str, name: str, fn: Callable[[Path], object]) -> None:
    CASES.append(Case(surface, name, fn))


class ReachedSampler(Exception):
    """Raised by the stub sampler: the fit got past every check."""


class Inert(Exception):
    """Raised by a case that checks an output itself and found it safe (counts as clear)."""


class Harmful(Exception):
    """Raised by a case that checks an outcome itself and found it wrong (counts as accepted)."""


# ------------------------------------------------------------------------------------ fixtures
_CACHE: dict[str, object] = {}


def good_table() -> pd.DataFrame:
    n = np.array([1e7, 4e7, 1e8, 4e8, 1e9, 1e8, 4e7])
    m = np.array([20, 20, 20, 20, 20, 80, 320])
    return pd.DataFrame({"N": n, "D": n * m, "loss": [3.9, 3.5, 3.2, 2.9, 2.7, 3.0, 3.2]})


def sim_runs() -> pd.DataFrame:
    if "sim" not in _CACHE:
        from bayes_scaling.evaluate.simulate import gadre_design, simulate_runs
        from bayes_scaling.testing import TRUE_GADRE

        _CACHE["sim"] = simulate_runs("gadre", TRUE_GADRE, gadre_design(), sigma=0.01, seed=0)
    return _CACHE["sim"].copy()  # type: ignore[union-attr]


def fab_law():
    if "fab" not in _CACHE:
        from bayes_scaling.testing import TRUE_GADRE, fabricated_loss_law

        _CACHE["fab"] = fabricated_loss_law(sim_runs(), TRUE_GADRE, loss="loss_sim",
                                            num_chains=2, num_draws=50)
    return _CACHE["fab"]


def saved_fit(folder: Path) -> Path:
    if "saved" not in _CACHE:
        keep = Path(tempfile.mkdtemp(prefix="probe_fit_"))
        fab_law().save(keep / "fit.nc")
        _CACHE["saved"] = keep / "fit.nc"
    return _CACHE["saved"]  # type: ignore[return-value]


def edited_fit(folder: Path, edit: Callable) -> Path:
    import xarray as xr

    dt = xr.open_datatree(saved_fit(folder), engine="h5netcdf").load()
    dt = edit(dt) or dt
    out = folder / "edited.nc"
    dt.to_netcdf(out, engine="h5netcdf")
    return out


# ------------------------------------------------------------------------------------ cases
def _loaders() -> None:
    import bayes_scaling as bs

    def csv(text: str, name: str = "runs.csv") -> Callable[[Path], object]:
        def run(folder: Path) -> object:
            p = folder / name
            p.write_text(text)
            try:
                return bs.load_runs(p, params="N", tokens="D", loss="loss")
            finally:
                p.unlink()
        return run

    good = "N,D,loss\n10000000,200000000,3.9\n40000000,800000000,3.5\n"
    add("loaders", "semicolon csv", csv(good.replace(",", ";")))
    add("loaders", "tab in .csv", csv(good.replace(",", "\t")))
    add("loaders", "empty file", csv(""))
    add("loaders", "header only", csv("N,D,loss\n"))
    add("loaders", "binary garbage", csv("\x00\x01\x02\xff"))
    add("loaders", "missing column", csv("N,loss\n1e7,3.9\n"))
    add("loaders", "'1.4B' sizes", csv("N,D,loss\n1.4B,29B,2.5\n"))
    add("loaders", "ragged rows", csv("N,D,loss\n1e7,2e8\n4e7,8e8,3.5,9\n"))
    add("loaders", "unsupported suffix", lambda f: bs.load_runs(f / "runs.xlsx"))
    add("loaders", "missing file", lambda f: bs.load_runs(f / "nope.csv"))
    CASES.append(Case("loaders", "folder as file",
                      lambda f: (f / "d.csv").mkdir() or bs.load_runs(f / "d.csv"), ("d.csv",)))
    CASES.append(Case("loaders", "parquet (no pyarrow?)",
                      lambda f: (f / "r.parquet").write_bytes(b"PAR1") and bs.load_runs(
                          f / "r.parquet"), ("r.parquet",)))
    add("loaders", "not a path or frame", lambda f: bs.load_runs(42))  # type: ignore[arg-type]
    add("loaders", "list of dicts", lambda f: bs.load_runs([{"N": 1}]))  # type: ignore[arg-type]

    def unreadable(folder: Path) -> object:
        p = folder / "locked.csv"
        p.write_text(good)
        p.chmod(0)
        try:
            if os.access(p, os.R_OK):  # root reads anything: say so rather than pass silently
                raise PermissionError(13, "probe runs as root; cannot test", str(p))
            return bs.load_runs(p, params="N", tokens="D", loss="loss")
        finally:
            p.chmod(0o600)
            p.unlink()
    add("loaders", "unreadable file", unreadable)

    def table(**over):
        def run(folder: Path) -> object:
            t = good_table()
            for k, v in over.items():
                t[k] = v
            return bs.load_runs(t, params="N", tokens="D", loss="loss")
        return run

    bad_columns = {
        "loss 25 nats": {"loss": 25.0}, "loss 1e30": {"loss": 1e30}, "loss 0": {"loss": 0.0},
        "loss negative": {"loss": -3.0}, "loss nan": {"loss": np.nan}, "loss inf": {"loss": np.inf},
        "loss percent": {"loss": 35.0}, "loss tiny": {"loss": 1e-5},
        "loss strings": {"loss": "high"}, "loss bool": {"loss": True},
        "n_params 1e30": {"N": 1e30}, "n_params in thousands": {"N": 4e4},
        "n_params in billions": {"N": 1.4}, "n_params negative": {"N": -1e8},
        "n_params zero": {"N": 0.0}, "n_params nan": {"N": np.nan}, "n_params inf": {"N": np.inf},
        "n_params strings": {"N": "1.4B"}, "n_params complex": {"N": 1e8 + 1j},
        "n_params dates": {"N": pd.Timestamp("2024-01-01")},
        "n_params timedelta": {"N": pd.Timedelta("1s")},
        "n_params object lists": {"N": [[1]] * 7},
        "tokens 1e30": {"D": 1e30}, "tokens in billions": {"D": 28.0}, "tokens nan": {"D": np.nan},
        "tokens negative": {"D": -1e9}, "tokens strings": {"D": "lots"},
        "tokens dates": {"D": pd.Timestamp("2024-01-01")},
        "tokens bool": {"D": False},
    }
    for name, over in bad_columns.items():
        add("loaders", name, table(**over))

    def compute_100x(folder: Path) -> object:
        t = good_table()
        t["C"] = 100 * 6 * t["N"] * t["D"]
        return bs.load_runs(t, params="N", tokens="D", compute="C", loss="loss")
    add("loaders", "compute 100x 6ND", compute_100x)

    def dup_ids(folder: Path) -> object:
        t = good_table().assign(id=["a"] * 7)
        return bs.load_runs(t, params="N", tokens="D", loss="loss", run_id="id")
    add("loaders", "duplicate run ids", dup_ids)
    add("loaders", "mapped twice", lambda f: bs.load_runs(good_table(), params="N", tokens="N",
                                                          loss="loss"))
    add("loaders", "bad loss_range", lambda f: bs.load_runs(good_table(), params="N", tokens="D",
                                                            loss="loss", loss_range=(5, 1)))
    add("loaders", "validate non-frame", lambda f: bs.validate_runs({"a": 1}))  # type: ignore
    add("loaders", "validate empty", lambda f: bs.validate_runs(sim_runs().iloc[:0]))
    add("loaders", "unknown dataset", lambda f: bs.load_dataset("nope"))


def _priors() -> None:
    from bayes_scaling.laws.priors import Prior, merge_priors

    cases = {
        "normal scale -1": ("normal", {"loc": 0, "scale": -1}),
        "normal scale 0": ("normal", {"loc": 0, "scale": 0}),
        "normal loc nan": ("normal", {"loc": math.nan, "scale": 1}),
        "normal loc inf": ("normal", {"loc": math.inf, "scale": 1}),
        "normal loc str": ("normal", {"loc": "zero", "scale": 1}),
        "normal loc bool": ("normal", {"loc": True, "scale": 1}),
        "normal loc list": ("normal", {"loc": [0], "scale": 1}),
        "normal missing": ("normal", {"scale": 1}),
        "normal extra": ("normal", {"loc": 0, "scale": 1, "sd": 2}),
        "lognormal scale -0.5": ("lognormal", {"loc": 0, "scale": -0.5}),
        "halfnormal scale nan": ("halfnormal", {"scale": math.nan}),
        "uniform low>high": ("uniform", {"low": 3, "high": 1}),
        "uniform low=high": ("uniform", {"low": 1, "high": 1}),
        "truncnorm low>high": ("truncated_normal", {"loc": 0, "scale": 1, "low": 2, "high": 1}),
        "truncnorm low -inf": ("truncated_normal", {"loc": 0, "scale": 1, "low": -math.inf}),
        "beta a=0": ("beta", {"a": 0, "b": 4}),
        "beta b<0": ("beta", {"a": 2, "b": -1}),
        "gamma rate 0": ("gamma", {"concentration": 2, "rate": 0}),
        "gamma conc -1": ("gamma", {"concentration": -1, "rate": 1}),
        "exponential rate -1": ("exponential", {"rate": -1}),
        "delta nan": ("delta", {"v": math.nan}),
        "unknown dist": ("cauchy", {"loc": 0, "scale": 1}),
    }
    for name, (dist, kw) in cases.items():
        add("priors", name, lambda f, d=dist, k=kw: Prior(d, **k))
    add("priors", "from_dict int", lambda f: Prior.from_dict(5))  # type: ignore[arg-type]
    add("priors", "from_dict no dist", lambda f: Prior.from_dict({"loc": 0}))
    add("priors", "merge unknown name",
        lambda f: merge_priors({"E": Prior("normal", loc=0, scale=1)}, {"X": {"dist": "normal"}}))
    add("priors", "merge number", lambda f: merge_priors({"E": Prior("normal", loc=0, scale=1)},
                                                          {"E": 0.3}))
    add("priors", "resolve missing symbol",
        lambda f: Prior("truncated_normal", loc=0, scale=1, high="min_observed_loss").resolve({}))

    def law_bad_prior(folder: Path) -> object:
        import bayes_scaling as bs

        return bs.LossLaw("gadre", priors={"eta": {"dist": "beta", "a": 0, "b": 1}})
    add("priors", "LossLaw bad prior dict", law_bad_prior)


def _sampler() -> None:
    import bayes_scaling as bs
    from bayes_scaling.inference.config import SamplerConfig, check_seed

    bad = {
        "num_chains True": {"num_chains": True}, "num_samples 10.0": {"num_samples": 10.0},
        "num_samples '100'": {"num_samples": "100"}, "num_warmup -1": {"num_warmup": -1},
        "num_samples 0": {"num_samples": 0}, "num_chains 0": {"num_chains": 0},
        "tree depth 0": {"max_tree_depth": 0}, "tree depth 64": {"max_tree_depth": 64},
        "target_accept 1": {"target_accept_prob": 1.0}, "target_accept 0": {
            "target_accept_prob": 0.0}, "target_accept 95": {"target_accept_prob": 95},
        "target_accept nan": {"target_accept_prob": math.nan},
        "target_accept str": {"target_accept_prob": "high"},
        "init_radius 0": {"init_radius": 0.0}, "init_radius inf": {"init_radius": math.inf},
        "dense_mass 'yes'": {"dense_mass": "yes"}, "chain_method pmap": {"chain_method": "pmap"},
    }
    for name, kw in bad.items():
        add("sampler", name, lambda f, k=kw: SamplerConfig(**k))
    add("sampler", "coerce unknown key", lambda f: SamplerConfig.coerce({"num_sample": 3}))
    add("sampler", "coerce int", lambda f: SamplerConfig.coerce(5))  # type: ignore[arg-type]
    add("sampler", "LossLaw sampler str", lambda f: bs.LossLaw(sampler="fast"))  # type: ignore
    for seed in (1.7, 2**64, 99999999999999999999999, -1, "0", None, True, math.nan):
        add("sampler", f"check_seed {seed!r}", lambda f, s=seed: check_seed(s))
        add("fit", f"fit seed={seed!r}",
            lambda f, s=seed: bs.LossLaw("gadre", loss="loss_sim").fit(sim_runs(), seed=s))


def _fit() -> None:
    import bayes_scaling as bs

    def fit(runs_fn, loss="loss_sim", **kw):
        return lambda f: bs.LossLaw("gadre", loss=loss, **kw).fit(runs_fn(), seed=0)

    def mixed():
        r = sim_runs()
        return pd.concat([r, r.assign(dataset="other", run_id=r.run_id + "x")])

    add("fit", "two corpora", fit(mixed))
    add("fit", "loss=n_tokens", fit(sim_runs, loss="n_tokens"))
    add("fit", "loss=compute_flops", fit(sim_runs, loss="compute_flops"))
    add("fit", "loss=tokens_per_param", fit(sim_runs, loss="tokens_per_param"))
    add("fit", "loss=err column", fit(lambda: sim_runs().assign(err_avg17=0.5), loss="err_avg17"))
    add("fit", "loss=ci column", fit(lambda: sim_runs().assign(loss_sim_ci=0.01),
                                     loss="loss_sim_ci"))
    add("fit", "loss missing", fit(sim_runs, loss="loss_c4_val"))
    add("fit", "loss 25 nats", fit(lambda: sim_runs().assign(loss_sim=25.0)))
    add("fit", "loss perplexity", fit(lambda: sim_runs().assign(
        loss_sim=lambda d: np.exp(d.loss_sim))))
    add("fit", "loss nan row", fit(lambda: sim_runs().assign(
        loss_sim=lambda d: d.loss_sim.where(d.index != 0))))
    add("fit", "n_params 1e30", fit(lambda: sim_runs().assign(
        n_params=lambda d: d.n_params.astype(float).where(d.index != 0, 1e30))))
    add("fit", "runs is list", lambda f: bs.LossLaw("gadre", loss="loss_sim").fit([1], seed=0))
    add("fit", "runs is dict", lambda f: bs.LossLaw("gadre", loss="loss_sim").fit({}, seed=0))
    add("fit", "two runs only", fit(lambda: sim_runs().iloc[:2]))
    add("fit", "one size only", fit(lambda: sim_runs().assign(
        n_params=10**8, n_tokens=lambda d: 10**8 * d.tokens_per_param,
        compute_flops=lambda d: 6e8 * d.n_tokens,
        run_id=lambda d: d.run_id)))
    add("fit", "unknown law", lambda f: bs.LossLaw("kaplan"))
    add("fit", "unknown noise", lambda f: bs.LossLaw("gadre", noise="laplace"))
    add("fit", "fit_many empty", lambda f: bs.fit_many(bs.LossLaw("gadre"), [], seed=0))
    add("fit", "fit_many seed 0.5", lambda f: bs.fit_many(bs.LossLaw("gadre", loss="loss_sim"),
                                                          [sim_runs()], seed=0.5))
    add("fit", "ErrorLaw unknown law", lambda f: bs.ErrorLaw("cubic"))
    add("fit", "ErrorLaw error missing", lambda f: bs.ErrorLaw(
        "exponential", error="err_avg17", loss="loss_sim").fit(sim_runs(), seed=0))
    add("fit", "ErrorLaw error > 1", lambda f: bs.ErrorLaw(
        "exponential", error="err_avg17", loss="loss_sim").fit(sim_runs().assign(err_avg17=40.0),
                                                               seed=0))


def _predict() -> None:
    import bayes_scaling as bs

    def pred(targets, **kw):
        return lambda f: fab_law().predict(targets() if callable(targets) else targets, **kw)

    ok = pd.DataFrame({"n_params": [1.4e9], "n_tokens": [2.9e10]})
    add("predict", "'1.4B' strings", pred(pd.DataFrame({"n_params": ["1.4B"], "n_tokens": [2.9e10]})))
    add("predict", "nan size", pred(pd.DataFrame({"n_params": [np.nan], "n_tokens": [2.9e10]})))
    add("predict", "negative size", pred(pd.DataFrame({"n_params": [-1.0], "n_tokens": [2.9e10]})))
    add("predict", "size 1e300", pred(pd.DataFrame({"n_params": [1e300], "n_tokens": [1e300]})))
    add("predict", "size 1e-300", pred(pd.DataFrame({"n_params": [1e-300], "n_tokens": [1e10]})))
    add("predict", "bool sizes", pred(pd.DataFrame({"n_params": [True], "n_tokens": [2.9e10]})))
    add("predict", "date sizes", pred(pd.DataFrame({"n_params": pd.to_datetime(["2024-01-01"]),
                                                    "n_tokens": [2.9e10]})))
    add("predict", "missing columns", pred(pd.DataFrame({"n_params": [1.4e9]})))
    add("predict", "targets list", pred([1.4e9, 2.9e10]))
    add("predict", "targets scalar dict", pred({"n_params": 1.4e9, "n_tokens": 2.9e10}))
    add("predict", "ci_prob 1.5", pred(ok, ci_prob=1.5))
    add("predict", "ci_prob 0", pred(ok, ci_prob=0.0))
    add("predict", "ci_prob str", pred(ok, ci_prob="90%"))
    add("predict", "kind observed", pred(ok, kind="observed"))
    add("predict", "kind mean", pred(ok, kind="mean"))
    add("predict", "seed 1.7", pred(ok, seed=1.7))
    add("predict", "seed 2**64", pred(ok, seed=2**64))
    add("predict", "seed -1", pred(ok, seed=-1))
    add("predict", "unfitted predict", lambda f: bs.LossLaw("gadre").predict(ok))
    add("queries", "probability no threshold", lambda f: bs.probability(fab_law(), ok))
    add("queries", "probability below str", lambda f: bs.probability(fab_law(), ok, below="2.5"))
    add("queries", "probability below nan", lambda f: bs.probability(fab_law(), ok, below=np.nan))
    add("queries", "probability target err", lambda f: bs.probability(fab_law(), ok, below=2.5,
                                                                      target="error"))
    add("queries", "compute_to_target loss 0", lambda f: bs.compute_to_target(fab_law(), loss=0.0))
    add("queries", "compute_to_target loss str",
        lambda f: bs.compute_to_target(fab_law(), loss="2.5"))
    add("queries", "compute_to_target M=-1",
        lambda f: bs.compute_to_target(fab_law(), loss=2.5, tokens_per_param=-1.0))
    add("queries", "compute_to_target M=None",
        lambda f: bs.compute_to_target(fab_law(), loss=2.5, tokens_per_param=None))
    add("queries", "compute_to_target ci 2", lambda f: bs.compute_to_target(fab_law(), loss=2.5,
                                                                            ci_prob=2.0))
    add("queries", "allocation flops -1", lambda f: bs.optimal_allocation(fab_law(),
                                                                          compute_flops=-1.0))
    add("queries", "allocation flops nan", lambda f: bs.optimal_allocation(fab_law(),
                                                                           compute_flops=np.nan))
    add("queries", "allocation flops str", lambda f: bs.optimal_allocation(fab_law(),
                                                                           compute_flops="1e22"))
    add("queries", "allocation max_params 0", lambda f: bs.optimal_allocation(
        fab_law(), compute_flops=1e22, max_params=0.0))


def _saved() -> None:
    import xarray as xr

    import bayes_scaling as bs

    def drop_attr(name):
        def edit(dt):
            del dt.attrs[name]
        return lambda f: bs.LossLaw.load(edited_fit(f, edit))

    def set_attr(name, value):
        def edit(dt):
            dt.attrs[name] = value
        return lambda f: bs.LossLaw.load(edited_fit(f, edit))

    def drop_group(name):
        def edit(dt):
            return xr.DataTree.from_dict({k: dt[k].to_dataset() for k in dt.children if k != name}
                                         | {"/": xr.Dataset(attrs=dt.attrs)})
        return lambda f: bs.LossLaw.load(edited_fit(f, edit))

    for attr in ("priors", "law", "loss", "noise", "sampler", "log_n0", "log_d0",
                 "bayes_scaling_kind", "file_format"):
        add("saved", f"attr {attr} removed", drop_attr(attr))
    for attr, value in (("priors", "{bad json"), ("priors", json.dumps({"E": 5})),
                        ("priors", json.dumps({"E": {"dist": "normal", "loc": 0, "scale": -1}})),
                        ("sampler", json.dumps({"num_chains": 0})), ("sampler", "[]"),
                        ("log_n0", "x"), ("file_format", "x"), ("file_format", "99"),
                        ("law", "kaplan"), ("noise", "laplace"), ("bayes_scaling_kind", "Nope")):
        add("saved", f"attr {attr}={value[:20]}", set_attr(attr, value))
    for group in ("posterior", "sample_stats"):
        add("saved", f"group {group} removed", drop_group(group))

    def raw_bytes(content: bytes):
        def run(folder: Path) -> object:
            p = folder / "bad.nc"
            p.write_bytes(content)
            try:
                return bs.LossLaw.load(p)
            finally:
                p.unlink()
        return run

    for name, content in (("empty", b""), ("garbage", b"x" * 1000),
                          ("hdf5 header only", b"\x89HDF\r\n\x1a\n" + b"\0" * 64),
                          ("netcdf3 header", b"CDF\x01" + b"\0" * 40),
                          ("pickle", b"\x80\x04\x95" + b"\0" * 20 + b"cos\nsystem\n")):
        add("saved", f"bytes: {name}", raw_bytes(content))

    def truncated(folder: Path) -> object:
        src = saved_fit(folder)
        p = folder / "t.nc"
        p.write_bytes(src.read_bytes()[: src.stat().st_size // 2])
        try:
            return bs.LossLaw.load(p)
        finally:
            p.unlink()
    add("saved", "truncated", truncated)
    add("saved", "missing file", lambda f: bs.LossLaw.load(f / "nope.nc"))
    add("saved", "folder", lambda f: bs.LossLaw.load(f))
    add("saved", "ErrorLaw loads LossLaw", lambda f: bs.ErrorLaw.load(saved_fit(f)))
    add("saved", "wrong law", lambda f: bs.LossLaw.load(saved_fit(f), law="chinchilla"))
    add("saved", "save into folder", lambda f: fab_law().save(f))
    add("saved", "save missing parent", lambda f: fab_law().save(f / "no" / "fit.nc"))


HOSTILE = [
    "@pd.io.common.os.system('touch MARKER') > 0",
    "@os.system('touch MARKER')",
    "__import__('os').system('touch MARKER')",
    "n_params.__class__.__mro__",
    "`n_params` > 0 or __import__('os').system('touch MARKER') == 0",
    "(lambda: open('MARKER', 'w'))() == 0",
    "open('MARKER', 'w')",
    "exec(\"open('MARKER','w')\")",
    "dataset == 'rpj'; import os",
    "n_params > 0 if True else 0",
    "[x for x in ()]",
    "n_params + 1 > 0",
    "n_params ** 2 > 0",
    "dataset.str.contains('r')",
    "~(n_params > 0)",
    "n_params > 0 & n_params < 1",
    "dataset == f'{open(\"MARKER\",\"w\")}'",
    "$(touch MARKER)",
    "n_params > 0 \\\n and 1",
    "globals()",
    "index > 0",
    "(" * 5000 + "n_params > 0" + ")" * 5000,
    "not " * 5000 + "n_params > 0",
    "n_params > 0 and " * 2000 + "n_params > 0",
    "n_params >> 1",
    "n_params = 1",
    "n_params < 1.4B",
    "dataset == 'unterminated",
    "",
    "1 < 2",
    "n_param < 1e9",
    "dataset < 'rpj'",
    "dataset == 1",
    "n_params in ['a']",
    "n_params < 1e999",
]


def _filters() -> None:
    import bayes_scaling as bs
    from bayes_scaling.report import select_runs

    for expr in HOSTILE:
        add("filters", f"filter_runs {expr[:40]!r}", lambda f, e=expr: bs.filter_runs(sim_runs(), e))
    for expr in HOSTILE[:8]:
        add("filters", f"select_runs {expr[:30]!r}",
            lambda f, e=expr: select_runs(sim_runs(), query=e))
        add("filters", f"backtest fit_filter {expr[:30]!r}",
            lambda f, e=expr: bs.backtest(sim_runs(), protocol="paper", loss="loss_sim",
                                          fit_filter=e, seed=0))
    add("filters", "filter not a string", lambda f: bs.filter_runs(sim_runs(), 5))  # type: ignore
    add("filters", "filter on a list", lambda f: bs.filter_runs([1], "a < 1"))  # type: ignore


def _report() -> None:
    from bayes_scaling.report import build_report_data, render_markdown
    from bayes_scaling.report.render import md_escape

    evil = "<script>alert(1)</script>|`x`[y](javascript:alert(1))"

    def md(folder: Path) -> object:
        law = fab_law()
        runs = sim_runs()
        data = build_report_data(law, runs, runs.iloc[:1].assign(run_id=evil), source=evil,
                                 selection=evil, title=evil, figures=False,
                                 extra_provenance={evil: evil})
        text = render_markdown(data)
        if "<script" in text or "](javascript" in text.replace("\\](", ""):
            return "UNESCAPED"
        raise Inert("escaped")
    add("report", "markdown with hostile strings", md)
    for s in ("<script>", "| a |", "`x`", "[x](javascript:1)", "# h", "\n\n<hr>"):
        def esc(folder: Path, s=s) -> object:
            out = md_escape(s)
            if "<" in out or "\n" in out or out == s:
                return "UNESCAPED"
            raise Inert("escaped")
        add("report", f"md_escape {s!r}", esc)


# ------------------------------------------------------------------------ command line (#26)
def run_cli(argv: list[str]) -> tuple[int, str, str]:
    """``bayes-scaling ARGV`` in this process: (exit code, stdout, stderr)."""
    from bayes_scaling.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


def expect(ok: bool, what: str, detail: str = "") -> None:
    """Raise Inert (handled) when ``ok``, else Harmful naming what went wrong."""
    if ok:
        raise Inert(what)
    raise Harmful(f"{what}: {' '.join(detail.split())[:160]}")


def foreign_csv(folder: Path, *, reruns: bool = True) -> Path:
    r = sim_runs()
    t = pd.DataFrame({"params": r["n_params"], "tokens": r["n_tokens"],
                      "val_loss": r["loss_sim"].round(5),
                      "name": ["=HYPERLINK(1)"] + [f"run{i}" for i in range(1, len(r))]})
    if reruns:
        t = pd.concat([t, t.iloc[[3, 5]].assign(val_loss=lambda d: d.val_loss + 0.01,
                                                 name=["rerun-a", "rerun-b"])],
                      ignore_index=True)
    path = folder / "runs.csv"
    t.to_csv(path, index=False)
    return path


@contextlib.contextmanager
def no_hang(seconds: int = 20):
    import signal

    def alarm(signum, frame):
        raise Harmful(f"hung for {seconds} s")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def clean_fit(folder: Path) -> Path:
    """A fabricated fit whose diagnostics pass (4 chains x 250 draws), for the CLI cases."""
    if "clean" not in _CACHE:
        from bayes_scaling.testing import TRUE_GADRE, fabricated_loss_law

        keep = Path(tempfile.mkdtemp(prefix="probe_fit_"))
        fabricated_loss_law(sim_runs(), TRUE_GADRE, loss="loss_sim", seed=0).save(
            keep / "fit.nc")
        _CACHE["clean"] = keep / "fit.nc"
    return _CACHE["clean"]  # type: ignore[return-value]


def _cli() -> None:
    W = 100
    fit = clean_fit

    def flags_in_messages(f: Path) -> None:
        code, _, err = run_cli(["fit", foreign_csv(f), "--out", f / "x.nc"])
        expect(code == 1 and "--tokens" in err and "load_runs" not in err
               and "tokens=" not in err, "names --tokens, not load_runs(tokens=)", err)
    add("cli", "message names CLI flags (no tokens column)", flags_in_messages)

    def flags_unknown_column(f: Path) -> None:
        code, _, err = run_cli(["fit", foreign_csv(f), "--params", "params", "--tokens", "nope",
                                "--loss", "val_loss", "--out", f / "x.nc"])
        expect(code == 1 and "--tokens" in err and "load_runs" not in err, "--tokens named", err)
    add("cli", "message names CLI flags (unknown column)", flags_unknown_column)

    def targets_mapping(f: Path) -> None:
        t = f / "t.csv"
        pd.DataFrame({"params": [1.4e9], "tokens": [2.9e10], "name": ["big"]}).to_csv(
            t, index=False)
        code, _, err = run_cli(["predict", fit(f), "--targets-csv", t, "--params", "params",
                                "--tokens", "tokens", "--name", "name", "--out", f / "p.csv"])
        ok = code == 0 and pd.read_csv(f / "p.csv")["run_id"].tolist() == ["big"]
        expect(ok, "--targets-csv mapped, name carried to predictions", err)
    CASES.append(Case("cli", "--targets-csv takes --params/--tokens/--name", targets_mapping,
                      ("t.csv", "p.csv")))

    def candidates_mapping(f: Path) -> None:
        c = f / "c.csv"
        pd.DataFrame({"p": [1e7, 1e8], "t": [2e8, 2e9], "name": ["small", "mid"]}).to_csv(
            c, index=False)
        code, out, err = run_cli(["plan", fit(f), "--target", "1.4B:28B", "--candidates-csv", c,
                                  "--params", "p", "--tokens", "t", "--name", "name", "--k", "2",
                                  "--n-sims", "4", "--out", f / "plan.csv"])
        table = pd.read_csv(f / "plan.csv") if code == 0 else None
        ranks = {} if table is None else dict(zip(table.run_id, table["rank"], strict=True))
        batch = out.split("greedy batch")[-1].splitlines()[2:4]
        consistent = all(ranks.get(line.split()[1]) == int(line.split()[0]) for line in batch)
        wide = [line for line in (out + err).splitlines() if len(line) > W]
        expect(code == 0 and set(ranks) == {"small", "mid"} and consistent and not wide,
               "--candidates-csv mapped; batch ranks match; <= 100 columns", err + str(wide[:1]))
    CASES.append(Case("cli", "--candidates-csv mapped, plan fits 100 columns",
                      candidates_mapping, ("c.csv", "plan.csv")))

    def python_run_names(f: Path) -> None:
        import bayes_scaling as bs

        runs = bs.load_runs(foreign_csv(f), params="params", tokens="tokens", loss="val_loss",
                            run_id="name")
        expect(runs["run_id"].iloc[-1] == "rerun-b", "load_runs(run_id='name') keeps names")
    add("cli", "run names via load_runs(run_id=)", python_run_names)

    def replicates(f: Path) -> None:
        code, _, err = run_cli(["datasets", "--summary", foreign_csv(f), "--params", "params",
                                "--tokens", "tokens", "--loss", "val_loss", "--name", "name"])
        expect(code == 0 and "replicates" in err and "seed" in err,
               "reruns accepted with a notice naming the seed column", err)
    add("cli", "reruns at the same (N, D)", replicates)

    def lookalike_loss(f: Path) -> None:
        p = f / "c4.csv"
        pd.read_csv(foreign_csv(f, reruns=False)).rename(
            columns={"val_loss": "c4_val_loss"}).to_csv(p, index=False)
        code, out, err = run_cli(["datasets", "--summary", p, "--params", "params", "--tokens",
                                  "tokens"])
        expect(code == 1 and "c4_val_loss" in out and "--loss c4_val_loss" in err
               and "(0): none" not in out, "names c4_val_loss and --loss", out + err)
    CASES.append(Case("cli", "datasets --summary with c4_val_loss", lookalike_loss,
                      ("c4.csv",)))

    def warns(argv_fn, what):
        def run(f: Path) -> None:
            code, _, err = run_cli(argv_fn(f))
            expect(code == 0 and "bayes-scaling: warning:" in err and "largest fitted" in err
                   and ".py:" not in err and "Warning:" not in err, what, err)
        return run

    def at_202x(f: Path) -> list:
        import bayes_scaling as bs

        b = bs.LossLaw.load(fit(f)).design_bounds
        n = float(np.exp(b.log_n_max))
        d = 202 * float(np.exp(b.log_c_max)) / (6 * n)
        return ["predict", fit(f), "--target", f"{n:.6g}:{d:.6g}"]
    add("cli", "predict at 202x the fitted compute warns", warns(at_202x, "CLI warning"))
    add("cli", "predict at N=1e15 warns", warns(
        lambda f: ["predict", fit(f), "--target", "1e15:2e16"], "CLI warning"))
    add("cli", "query at N=1e15 warns (no path/line)", warns(
        lambda f: ["query", "probability", fit(f), "--target", "1e15:2e16", "--below", "2"],
        "CLI warning"))

    def compute_outside(f: Path) -> None:
        from bayes_scaling.predict.queries import compute_to_target

        law = fab_law()
        out = compute_to_target(law, loss=2.3)
        ratio = float(out["n_params_median"].iloc[0] / np.exp(law.design_bounds.log_n_max))
        expect(ratio > 18 and bool(out["outside_fitted_range"].iloc[0]),
               f"{ratio:.0f}x the largest size is outside the fitted range")
    add("cli", "compute-to-target far beyond the largest size", compute_outside)

    def closed_pipe(f: Path) -> None:
        import subprocess

        t = f / "t.csv"
        n = np.geomspace(1e8, 4e8, 1500)
        pd.DataFrame({"n_params": n, "n_tokens": 20 * n}).to_csv(t, index=False)
        proc = subprocess.Popen([sys.executable, "-m", "bayes_scaling.cli", "predict",
                                 str(fit(f)), "--targets-csv", str(t)], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        proc.stdout.readline()
        proc.stdout.close()
        err = proc.stderr.read().decode()
        proc.stderr.close()
        code = proc.wait(timeout=300)
        expect(code == 141 and not err.strip(), "ends quietly, exit 141", f"{code} {err}")
    CASES.append(Case("cli", "predict ... | head", closed_pipe, ("t.csv",)))

    def ci_labels(f: Path) -> None:
        code, out, err = run_cli(["predict", fit(f), "--target", "1B:20B", "--ci-prob", "0.899",
                                  "--ci-prob", "0.9"])
        expect(code == 0 and "89.9% interval" in out and "90% interval" in out,
               "each level its own label", out + err)
    add("cli", "--ci-prob 0.899 --ci-prob 0.9", ci_labels)

    def ci_unsupported(f: Path) -> None:
        code, _, err = run_cli(["predict", saved_fit(f), "--target", "1B:20B", "--ci-prob",
                                "0.9999", "--allow-warnings"])
        expect(code == 1 and "--ci-prob" in err and "--draws" in err,
               "refused, naming the fix", err)
    add("cli", "--ci-prob 0.9999 from few draws", ci_unsupported)

    def out_is_input(argv_fn, name):
        def run(f: Path) -> None:
            argv, victim = argv_fn(f)
            before = victim.read_bytes()
            code, _, err = run_cli(argv)
            expect(code == 1 and victim.read_bytes() == before and "input" in err,
                   f"{name}: refused, input kept", err)
        return run

    def predict_same(f: Path):
        t = f / "t.csv"
        t.write_text("n_params,n_tokens\n1e9,2e10\n")
        return ["predict", fit(f), "--targets-csv", t, "--out", t], t

    def predict_link(f: Path):
        t = f / "t.csv"
        t.write_text("n_params,n_tokens\n1e9,2e10\n")
        (f / "alias.csv").symlink_to(t)
        return ["predict", fit(f), "--targets-csv", t, "--out", f / "alias.csv"], t

    def plan_same(f: Path):
        c = f / "c.csv"
        c.write_text("n_params,n_tokens\n1e7,2e8\n1e8,2e9\n")
        return ["plan", fit(f), "--target", "1B:20B", "--candidates-csv", c, "--out", c], c

    def backtest_same(f: Path):
        r = foreign_csv(f)
        return ["backtest", r, "--params", "params", "--tokens", "tokens", "--loss",
                "val_loss", "--out", r], r
    CASES.append(Case("cli", "predict --out = --targets-csv", out_is_input(
        predict_same, "predict"), ("t.csv",)))
    CASES.append(Case("cli", "predict --out = link to --targets-csv", out_is_input(
        predict_link, "predict"), ("t.csv", "alias.csv")))
    CASES.append(Case("cli", "plan --out = --candidates-csv", out_is_input(
        plan_same, "plan"), ("c.csv",)))
    CASES.append(Case("cli", "backtest runs.csv --out runs.csv", out_is_input(
        backtest_same, "backtest"), ()))

    def injection(f: Path) -> None:
        t = f / "t.csv"
        pd.DataFrame({"n_params": [1e9, 2e9], "n_tokens": [2e10, 4e10],
                      "run_id": ["=1+2", "@SUM(A1)"]}).to_csv(t, index=False)
        code, _, err = run_cli(["predict", fit(f), "--targets-csv", t, "--out", f / "p.csv"])
        cells = pd.read_csv(f / "p.csv")["run_id"].tolist() if code == 0 else []
        expect(cells == ["'=1+2", "'@SUM(A1)"], "text cells quoted", str(cells) + err)
    CASES.append(Case("cli", "CSV cells =, @ neutralised (predict)", injection,
                      ("t.csv", "p.csv")))

    def injection_numbers(f: Path) -> None:
        from bayes_scaling._files import write_csv

        write_csv(pd.DataFrame({"run_id": ["-cmd", "+x", "\tx"], "v": [-0.5, 1.0, 2.0]}),
                  f / "o.csv")
        back = pd.read_csv(f / "o.csv")
        expect(back["v"].tolist() == [-0.5, 1.0, 2.0] and back["run_id"].tolist()[:2] == [
            "'-cmd", "'+x"], "numbers numeric, text quoted", str(back.to_dict("list")))
    CASES.append(Case("cli", "CSV -, +, tab neutralised; -0.5 numeric", injection_numbers,
                      ("o.csv",)))

    def linked_folder(f: Path) -> None:
        from types import SimpleNamespace

        from bayes_scaling.report.render import write_report

        where = f / "elsewhere"
        where.mkdir()
        (where / "loss.png").write_bytes(b"precious")
        (f / "r_figures").symlink_to(where)
        (f / "tables").symlink_to(where)
        data = SimpleNamespace(figures=[SimpleNamespace(key="loss", png_bytes=b"x")],
                               tables=lambda: {"loss": pd.DataFrame({"a": [1]})})
        refused = 0
        for kw in ({"markdown": f / "r.md"}, {"csv_dir": f / "tables"}):
            try:
                write_report(data, **kw)
            except OSError:
                refused += 1
        expect(refused == 2 and (where / "loss.png").read_bytes() == b"precious"
               and not (f / "r.md").exists(), "symlinked folders refused, nothing written")
    CASES.append(Case("cli", "figure/table folder is a symlink", linked_folder,
                      ("elsewhere", "r_figures", "tables")))

    def fifo(f: Path) -> None:
        p = f / "t.csv"
        os.mkfifo(p)
        with no_hang():
            code, _, err = run_cli(["predict", fit(f), "--targets-csv", p])
        expect(code == 1 and "named pipe" in err, "refused without hanging", err)
    CASES.append(Case("cli", "--targets-csv is a named pipe", fifo, ("t.csv",)))

    def device(f: Path) -> None:
        with no_hang():
            code, _, err = run_cli(["predict", fit(f), "--targets-csv", "/dev/zero"])
        expect(code == 1 and "device" in err, "refused without hanging", err)
    add("cli", "--targets-csv /dev/zero", device)

    def fifo_fit(f: Path) -> None:
        import bayes_scaling as bs

        p = f / "fit.nc"
        os.mkfifo(p)
        with no_hang():
            bs.LossLaw.load(p)
    CASES.append(Case("saved", "saved fit is a named pipe", fifo_fit, ("fit.nc",)))

    def flipped(f: Path) -> None:
        import bayes_scaling as bs

        raw = bytearray(saved_fit(f).read_bytes())
        post = fab_law().idata.posterior["E"].values.astype("<f8").tobytes()
        at = bytes(raw).find(post[:64])
        for i in range(at + 8, at + 40):
            raw[i] ^= 0xFF
        p = f / "flipped.nc"
        p.write_bytes(bytes(raw))
        try:
            bs.LossLaw.load(p)
        finally:
            p.unlink()
    add("saved", "32 flipped bytes in the draws", flipped)

    def units(column, values, **extra):
        def run(f: Path) -> object:
            import bayes_scaling as bs

            n = np.repeat([1e7, 4e7, 1e8, 4e8], 2)
            t = pd.DataFrame({"N": n, "D": n * np.tile([20.0, 80.0], 4), column: values,
                              **extra})
            return bs.load_runs(t, params="N", tokens="D", loss=column)
        return run

    good = np.array([4.2, 4.0, 3.7, 3.5, 3.3, 3.1, 3.0, 2.8])
    add("loaders", "loss in perplexity (values)", units("val_loss", good + 4))
    add("loaders", "loss in perplexity (name)", units("val_ppl", np.exp(good) / 20))
    add("loaders", "loss in bits (name)", units("loss_bits", good / np.log(2) / 1.5))
    add("loaders", "loss in log10 (values)", units("val_loss", good / 4))
    add("loaders", "error column is accuracy (rises)", units(
        "val_loss", good, err_avg=np.linspace(0.3, 0.6, 8)))


# ------------------------------------------------------------------------------------ running
_PACKAGE = str(Path(__file__).resolve().parents[1] / "bayes_scaling")


def _raised_in_package(err: BaseException) -> bool:
    tb = err.__traceback__
    last = None
    while tb is not None:
        last = tb.tb_frame.f_code.co_filename
        tb = tb.tb_next
    return last is not None and ("bayes_scaling" in last) and "site-packages" not in last


def classify(case: Case) -> tuple[str, str]:
    """Run ``case`` in a fresh folder; return (class, detail)."""
    import bayes_scaling.estimators.base as base

    folder = Path(tempfile.mkdtemp(prefix="probe_"))
    old_cwd = os.getcwd()
    old_sampler = base.sample_nuts

    def stub(*a, **k):
        raise ReachedSampler("reached the sampler")

    base.sample_nuts = stub
    os.chdir(folder)
    err: BaseException | None = None
    try:
        with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stdout(
                io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("always")
            try:
                case.run(folder)
            except Exception as e:  # noqa: BLE001 - classifying is the point
                err = e
    finally:
        os.chdir(old_cwd)
        base.sample_nuts = old_sampler
    left = sorted(p.name for p in folder.iterdir() if p.name not in case.writes
                  and p.name != "edited.nc")
    if (folder / "MARKER").exists():
        return "executed", "marker file created"
    if err is None:
        flagged = [w for w in caught if issubclass(w.category, UserWarning)
                   and not issubclass(w.category, DeprecationWarning)]
        if flagged:
            return "warned", f"{flagged[0].category.__name__}: {str(flagged[0].message)[:100]}"
        return "accepted", "no error, no warning"
    if isinstance(err, ReachedSampler):
        return "accepted", "reached the sampler"
    if isinstance(err, Inert):
        return "clear", f"checked by the case: {err}"
    if isinstance(err, Harmful):
        return "accepted", f"checked by the case: {err}"
    if left:
        return "partial", f"left {left} after {type(err).__name__}"
    msg = str(err).strip()
    name = type(err).__name__
    named_os = isinstance(err, OSError) and (err.filename is not None or msg)
    if isinstance(err, (ValueError, TypeError, OSError)) and msg and (
            _raised_in_package(err) or named_os):
        return "clear", f"{name}: {msg.splitlines()[0][:110]}"
    where = traceback.extract_tb(err.__traceback__)[-1]
    return "raw", f"{name}: {msg[:90]} (from {Path(where.filename).name}:{where.lineno})"


def build_cases() -> list[Case]:
    if not CASES:
        for fn in (_loaders, _priors, _sampler, _fit, _predict, _saved, _filters, _report,
                   _cli):
            fn()
    return CASES


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--verbose", action="store_true", help="one line per case")
    parser.add_argument("--surface", help="only this surface")
    args = parser.parse_args(argv)
    import jax

    jax.config.update("jax_enable_x64", True)
    cases = [c for c in build_cases() if args.surface in (None, c.surface)]
    counts: dict[str, Counter] = {}
    bad: list[str] = []
    for case in cases:
        cls, detail = classify(case)
        counts.setdefault(case.surface, Counter())[cls] += 1
        line = f"{cls:9s} {case.surface:8s} {case.name[:50]:50s} {detail}"
        if args.verbose:
            print(line)
        if cls in BAD_CLASSES:
            bad.append(line)
    classes = ("clear", "warned") + BAD_CLASSES
    print(f"\n{len(cases)} bad inputs")
    print(f"{'surface':10s}" + "".join(f"{c:>10s}" for c in classes))
    total: Counter = Counter()
    for surface, c in counts.items():
        total.update(c)
        print(f"{surface:10s}" + "".join(f"{c[k]:10d}" for k in classes))
    print(f"{'total':10s}" + "".join(f"{total[k]:10d}" for k in classes))
    if bad:
        print("\nbad outcomes:")
        print("\n".join(bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
