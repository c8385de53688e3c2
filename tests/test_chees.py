"""Batched ChEES-HMC (``fit_many(kernel="chees")``): glue, diagnostics and agreement with NUTS."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import bayes_scaling as bs
from bayes_scaling.estimators.batch import fit_many
from bayes_scaling.evaluate.simulate import gadre_design, simulate_runs
from bayes_scaling.inference.chees import ChEESConfig, lockstep_efficiency, nested_rhat
from bayes_scaling.testing import TRUE_GADRE

# small enough to compile and run in a test; 16 chains x 100 draws
SMALL = {"num_chains": 16, "num_superchains": 8, "num_warmup": 150, "num_samples": 100,
         "cov_iters": 20}


def test_lockstep_efficiency_counts_waiting_lanes():
    # two lanes, two iterations: (3 + 1) + (2 + 2) useful of 2 x (3 + 2) possible
    assert lockstep_efficiency(np.array([[3, 2], [1, 2]])) == pytest.approx(8 / 10)
    assert lockstep_efficiency(np.full((5, 7), 4)) == 1.0


def test_nested_rhat_flags_a_stuck_superchain():
    """Well mixed chains give ~1; one superchain offset by 3 sd gives far more than 1.01.

    Tolerance: 8 superchains x 4 chains x 100 iid draws: the between-superchain variance of
    means is ~1/400 of the within variance, so R-hat - 1 is ~1e-3; 1.01 is far above that."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 100))
    assert nested_rhat(x, 8) < 1.01
    x[:4] += 3.0
    assert nested_rhat(x, 8) > 1.1
    with pytest.raises(ValueError, match="superchains"):
        nested_rhat(x, 5)


def test_chees_config_refuses_bad_settings():
    with pytest.raises(ValueError, match="divide"):
        ChEESConfig(num_chains=30, num_superchains=8)
    with pytest.raises(ValueError, match="unknown ChEES setting"):
        ChEESConfig.coerce({"num_chain": 8})
    with pytest.raises(ValueError, match="target_accept_prob"):
        ChEESConfig(target_accept_prob=1.5)
    with pytest.raises(ValueError, match="kernel"):
        fit_many(bs.LossLaw("gadre", loss="loss_sim"), [object()], seed=0, kernel="mala")


def test_batch_kernel_context_sets_the_auto_kernel():
    from bayes_scaling.estimators import batch

    assert batch._KERNEL.get() is None
    with bs.batch_kernel("chees"):
        assert batch._KERNEL.get() == "chees"
        with bs.batch_kernel("auto"):
            assert batch._KERNEL.get() is None
    assert batch._KERNEL.get() is None
    with pytest.raises(ValueError, match="kernel"):
        with bs.batch_kernel("hmc"):
            pass


@pytest.fixture(scope="module")
def tables():
    t = [simulate_runs("gadre", TRUE_GADRE, gadre_design(), sigma=0.01, seed=s, loss="loss_sim")
         for s in range(3)]
    t[2] = t[2].iloc[:26]  # unequal lengths exercise the padding mask
    return t


@pytest.mark.slow  # minutes of NUTS/ChEES on 2 cores: CI's slow run (issue 12)
def test_chees_batch_agrees_with_nuts_and_steps_in_lock(tables):
    """ChEES and NUTS sample the same posterior; every sampling lane takes the same steps.

    Tolerance: posterior means may differ by Monte Carlo error only; with ESS >= 200 for each
    fit the standard error of a mean is <= 0.07 sd, so 0.35 sd is > 3.5 combined standard
    errors (a wrong transform or mask moves a mean by more than one sd)."""
    law = bs.LossLaw("gadre", loss="loss_sim", discrepancy=None,
                     sampler={"num_warmup": 300, "num_samples": 300, "num_chains": 2})
    chees = fit_many(law, tables, seed=0, kernel="chees", chees=SMALL, warn=False)
    nuts = fit_many(law, tables, seed=0, kernel="nuts", warn=False)
    facts = json.loads(chees[0].idata.attrs["backend"])
    assert facts["chain_method"] == "chees"
    assert facts["lockstep"]["sampling"] == 1.0
    for c, n in zip(chees, nuts, strict=True):
        assert c.idata.posterior.sizes["chain"] == 16
        assert c.idata.posterior.sizes["draw"] == 100
        d = c.diagnostics(warn=False)
        assert d.divergences <= 2 and d.max_rhat < 1.05 and d.min_ess_bulk >= 200, d
        assert "split_rhat" in next(iter(d.per_parameter.values()))
        for k in ("eta", "E", "sigma", "A"):
            dc, dn = c.draws()[k], n.draws()[k]
            assert abs(dc.mean() - dn.mean()) < 0.35 * dn.std(), k
    assert chees[2].idata.observed_data.sizes["run"] == 26
    assert json.loads(chees[0].idata.attrs["kernel"])["num_chains"] == 16


@pytest.mark.slow  # minutes of NUTS/ChEES on 2 cores: CI's slow run (issue 12)
def test_chees_batch_sharded_over_host_devices():
    """Four CPU devices: the fit axis is sharded over them (fresh process: the device count
    is fixed at JAX start-up); three fits are padded to four and the padding dropped."""
    code = textwrap.dedent(f"""
        import bayes_scaling as bs
        bs.set_cpu_devices(4)
        import json, jax
        from bayes_scaling.estimators.batch import fit_many
        from bayes_scaling.evaluate.simulate import gadre_design, simulate_runs
        from bayes_scaling.testing import TRUE_GADRE
        t = [simulate_runs("gadre", TRUE_GADRE, gadre_design(), sigma=0.01, seed=s,
                           loss="loss_sim") for s in range(3)]
        law = bs.LossLaw("gadre", loss="loss_sim", discrepancy=None)
        fits = fit_many(law, t, seed=0, kernel="chees", chees={SMALL!r}, warn=False)
        facts = json.loads(fits[0].idata.attrs["backend"])
        print(json.dumps({{"devices": jax.local_device_count(), "used": facts["devices_used"],
                          "n": len(fits), "draws": fits[2].idata.posterior.sizes["draw"]}}))
    """)
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         timeout=900)
    assert out.returncode == 0, out.stderr[-2000:]
    facts = json.loads(out.stdout.strip().splitlines()[-1])
    assert facts == {"devices": 4, "used": 4, "n": 3, "draws": 100}


_MULTIHOST = """
import sys
import jax
jax.config.update("jax_cpu_collectives_implementation", "gloo")
jax.distributed.initialize(coordinator_address=sys.argv[1], num_processes=2,
                           process_id=int(sys.argv[2]))
import json
import bayes_scaling as bs
from bayes_scaling.estimators.batch import fit_many
from bayes_scaling.evaluate.simulate import gadre_design, simulate_runs
from bayes_scaling.testing import TRUE_GADRE
t = [simulate_runs("gadre", TRUE_GADRE, gadre_design(), sigma=0.01, seed=s, loss="loss_sim")
     for s in range(3)]
fits = fit_many(bs.LossLaw("gadre", loss="loss_sim", discrepancy=None), t, seed=0,
                kernel="chees", chees=json.loads(sys.argv[3]), warn=False)
facts = json.loads(fits[0].idata.attrs["backend"])
print(json.dumps({"processes": facts["processes"], "devices": facts["devices_used"],
                  "n": len(fits), "E": [float(f.draws()["E"].mean()) for f in fits]}))
"""


@pytest.mark.slow
def test_chees_batch_over_two_processes(tmp_path):
    """Two processes (jax.distributed on localhost, 2 CPU devices each): the fit axis is sharded
    over all 4 devices and both processes get every fit, the same draws."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    script = tmp_path / "job.py"
    script.write_text(_MULTIHOST)
    env = dict(os.environ, JAX_PLATFORMS="cpu",
               XLA_FLAGS="--xla_force_host_platform_device_count=2")
    procs = [subprocess.Popen([sys.executable, str(script), f"127.0.0.1:{port}", str(i),
                               json.dumps(SMALL)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env) for i in range(2)]
    outs = [p.communicate(timeout=1500) for p in procs]
    for p, (_, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err[-2000:]
    res = [json.loads(o.strip().splitlines()[-1]) for o, _ in outs]
    assert res[0] == res[1]
    assert res[0]["processes"] == 2 and res[0]["devices"] == 4 and res[0]["n"] == 3
