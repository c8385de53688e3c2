"""Shared fixtures: CPU-only JAX, reference data location, small sampler settings."""

from __future__ import annotations

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")  # tests never use an accelerator

from pathlib import Path  # noqa: E402

import jax  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_enable_x64", True)  # as every fit does; laws are then exact to 1e-12

from bayes_scaling.testing import FAST_SAMPLER, TRUE_GADRE  # noqa: E402


@pytest.fixture(scope="session")
def data_dir() -> Path:
    d = os.environ.get("BAYES_SCALING_DATA_DIR")
    if not d or not Path(d, "gadre2024").is_dir():
        pytest.skip("reference data not available: set BAYES_SCALING_DATA_DIR=../shared/data")
    return Path(d).resolve()  # absolute: notebook kernels run in another working directory


@pytest.fixture(scope="session")
def gadre_runs(data_dir):
    import bayes_scaling as bs

    return bs.load_dataset("gadre2024", data_dir=data_dir)


@pytest.fixture(scope="session")
def sim_runs():
    from bayes_scaling.evaluate.simulate import gadre_design, simulate_runs

    return simulate_runs("gadre", TRUE_GADRE, gadre_design(), sigma=0.01, seed=0)


@pytest.fixture(scope="session")
def fitted_sim(sim_runs):
    """One small real NUTS fit shared by the tests that need a posterior from sampling."""
    import bayes_scaling as bs

    # 2 x 300 draws: too few for the strict R-hat <= 1.01 check, so no warning here; the
    # tests that use it assert the looser convergence they need
    return bs.LossLaw("gadre", loss="loss_sim", sampler=FAST_SAMPLER).fit(sim_runs, seed=0,
                                                                          warn=False)
