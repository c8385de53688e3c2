import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import bayes_scaling as bs
from bayes_scaling.estimators.batch import fit_many
from bayes_scaling.evaluate.simulate import gadre_design, simulate_runs
from bayes_scaling.testing import TRUE_GADRE

SAMPLER = {"num_warmup": 300, "num_samples": 300, "num_chains": 2}


@pytest.fixture(scope="module")
def tables():
    t = [simulate_runs("gadre", TRUE_GADRE, gadre_design(), sigma=0.01, seed=s, loss="loss_sim")
         for s in range(3)]
    t[2] = t[2].iloc[:26]  # unequal lengths exercise the padding mask
    return t


@pytest.mark.slow  # minutes of NUTS/ChEES on 2 cores: CI's slow run (issue 12)
def test_batched_agrees_with_single_fits_in_distribution(tables):
    """Batched and single fits sample the same posterior.

    Tolerance: posterior means may differ by Monte Carlo error only. With ESS >= 200 per fit the
    standard error of a mean is <= sd / sqrt(200) = 0.07 sd per fit, so 0.35 sd is > 3.5
    combined standard errors; the padded third table checks the mask (a bug there moves the
    mean by more than one sd).
    """
    law = bs.LossLaw("gadre", loss="loss_sim", sampler=SAMPLER)
    batched = fit_many(law, tables, seed=0, backend="batched", warn=False)
    single = fit_many(law, tables, seed=0, backend="sequential", warn=False)
    for b, s in zip(batched, single, strict=True):
        # 2 x 300 draws is too few for the strict R-hat <= 1.01 check; converged is enough here
        for f in (b, s):
            d = f.diagnostics(warn=False)
            # at most 3 of 600 transitions divergent: not 0, which a new JAX can flip by one
            assert d.divergences <= 3 and d.max_rhat < 1.05, d
        assert b.idata.posterior.sizes["chain"] == 2
        assert b.idata.attrs["data_hash"] == s.idata.attrs["data_hash"]
        for k in ("eta", "E", "sigma"):
            db, ds = b.draws()[k], s.draws()[k]
            assert abs(db.mean() - ds.mean()) < 0.35 * ds.std(), k
    assert batched[2].idata.observed_data.sizes["run"] == 26  # padding not in the result
    assert law.idata is None  # the template is untouched


def test_fit_many_rejects_bad_input(tables):
    law = bs.LossLaw("gadre", loss="loss_sim", sampler=SAMPLER)
    with pytest.raises(ValueError, match="empty"):
        fit_many(law, [], seed=0)
    with pytest.raises(ValueError, match="backend"):
        fit_many(law, tables, seed=0, backend="gpu")
    bad = tables[0].copy()
    bad.loc[bad.index[3], "loss_sim"] = np.nan
    with pytest.raises(bs.RunsError):
        fit_many(law, [tables[1], bad], seed=0)


@pytest.mark.slow  # minutes of NUTS/ChEES on 2 cores: CI's slow run (issue 12)
def test_batch_axis_sharded_over_host_devices(tmp_path):
    """Four CPU devices: the fit axis is sharded over them (checked in a fresh process, since
    the device count is fixed at JAX start-up)."""
    code = textwrap.dedent("""
        import bayes_scaling as bs
        bs.set_cpu_devices(4)
        import json, jax
        from bayes_scaling.estimators.batch import fit_many
        from bayes_scaling.evaluate.simulate import gadre_design, simulate_runs
        from bayes_scaling.testing import TRUE_GADRE
        t = [simulate_runs("gadre", TRUE_GADRE, gadre_design(), sigma=0.01, seed=s,
                           loss="loss_sim") for s in range(3)]
        law = bs.LossLaw("gadre", loss="loss_sim",
                         sampler=dict(num_warmup=100, num_samples=100, num_chains=2))
        fits = fit_many(law, t, seed=0, warn=False)
        facts = json.loads(fits[0].idata.attrs["backend"])
        print(json.dumps({"devices": jax.local_device_count(), "used": facts["devices_used"],
                          "n": len(fits), "draws": fits[2].idata.posterior.sizes["draw"]}))
    """)
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    import json

    facts = json.loads(out.stdout.strip().splitlines()[-1])
    assert facts == {"devices": 4, "used": 4, "n": 3, "draws": 100}
