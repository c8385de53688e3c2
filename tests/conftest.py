"""Shared fixtures: CPU-only JAX, reference data location, small sampler settings."""

from __future__ import annotations

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")  # tests never use an accelerator

from pathlib import Path  # noqa: E402

import jax  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_enable_x64", True)  # as every fit does; laws are then exact to 1e-12

# One persistent compilation cache folder for the whole session (fits turn the cache on by
# default; pinning it here keeps it out of the per-test cache folders that tests monkeypatch
# into $BAYES_SCALING_CACHE_DIR, which pytest deletes). A second run of the suite reuses it.
from bayes_scaling.inference.config import enable_compilation_cache  # noqa: E402

if os.environ.get("BAYES_SCALING_COMPILATION_CACHE", "").lower() not in ("0", "off", "false", "no"):
    enable_compilation_cache()

from bayes_scaling.testing import FAST_SAMPLER, TRUE_GADRE  # noqa: E402


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The raw reference files (``$BAYES_SCALING_DATA_DIR``), or skip saying why."""
    d = os.environ.get("BAYES_SCALING_DATA_DIR")
    if not d:
        pytest.skip("raw reference data not available: BAYES_SCALING_DATA_DIR is not set "
                    "(point it at a folder holding gadre2024/ and chinchilla_epoch/)")
    if not Path(d, "gadre2024").is_dir():
        pytest.skip(f"raw reference data not available: BAYES_SCALING_DATA_DIR={d} has no "
                    "gadre2024/ folder")
    return Path(d).resolve()  # absolute: notebook kernels run in another working directory


@pytest.fixture(scope="session")
def gadre_runs():
    """The 104 Gadre et al. runs: the table shipped in the package (equal to the raw parse)."""
    from bayes_scaling.data.bundle import load_bundled

    return load_bundled("gadre2024")


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
