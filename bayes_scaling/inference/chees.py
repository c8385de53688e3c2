"""Batched ChEES-HMC: many fits in one program, every lane taking the same leapfrog steps.

Why not batched NUTS
--------------------
In a vectorised NUTS program (:func:`~bayes_scaling.inference.nuts.sample_nuts_batch`) every
lane waits, at every iteration, for the deepest tree of the batch: a batch costs lanes x the
slowest lane's steps. ``benchmarks/bench_batch.py`` measures that waste as the *lock-step
efficiency* (useful leapfrog steps / (lanes x the slowest lane's steps, per iteration)).

What this module runs
---------------------
ChEES-HMC (Hoffman, Radul & Sountsov 2021), BlackJAX's kernel and adaptation
(:func:`blackjax.chees_adaptation`, :mod:`blackjax.mcmc.dynamic_hmc`); this module is glue:

1. the NumPyro model's potential in unconstrained space
   (:func:`numpyro.infer.util.initialize_model`, ``dynamic_args=True``), flattened to a vector;
2. per fit, ``num_superchains`` starting points drawn uniformly in ``(-r, r)``
   (``init_radius``), moved by ``opt_steps`` Adam steps towards the mode (the same number of
   gradient evaluations in every lane); the Hessian at the best of them gives a Laplace
   covariance, the first dense preconditioner; each superchain then starts at its optimum plus
   one overdispersed Laplace draw, shared by its ``num_chains / num_superchains`` chains (the
   nested R-hat groups of Margossian et al. 2022);
3. stage 1: on the density whitened by the Laplace covariance, ChEES adaptation (step size
   by dual averaging on the chains' harmonic-mean acceptance, trajectory length by the ChEES
   criterion, diagonal metric from the ensemble),
   then a short pass that accumulates the ensemble mean ``m`` and covariance ``S = L L^T``;
4. stage 2: the same on the density whitened by that ensemble covariance, ``u -> log p(m +
   L u)``: a dense linear preconditioner, which these strongly correlated posteriors
   (amplitude, exponent and E) need (both stages are one traced body, ``lax.scan``);
5. sampling: jittered HMC (Halton jitter, as ChEES) with each fit's own step size and metric
   but one number of leapfrog steps per iteration for the *whole batch* (the largest adapted
   ``trajectory length / step size`` of the batch, capped at ``max_leapfrog_steps``): every
   lane does the same work in every sampling iteration, so the sampling lock-step efficiency is
   1 by construction. During warm-up fits differ in their adapted step counts; that efficiency
   is measured and returned (``facts["lockstep"]``).

Draws are mapped back (``x = m + L u``) and through the model's transforms
(``postprocess_fn``), into the same ``(fit, chain, draw)`` dicts that
:func:`~bayes_scaling.inference.nuts.sample_nuts_batch` returns.

Past one machine
----------------
The fit axis is sharded over ``jax.devices()``: every local device in one process and, under
JAX's multi-process runtime, every device of every process. Each process passes the *same*
runs list and seed, supplies the shards of its own devices
(:func:`jax.make_array_from_callback`) and gets every fit back
(:func:`jax.experimental.multihost_utils.process_allgather`). On each of ``P`` hosts, first
thing in the script (``job.py``)::

    import jax
    jax.distributed.initialize(coordinator_address="HOST0:1234", num_processes=P,
                               process_id=I)   # I = 0 .. P-1; no arguments under SLURM
    ...
    fits = bs.fit_many(law, runs_list, seed=0, kernel="chees")

launched as ``python job.py`` on every host (``srun -N P python job.py`` under SLURM, where
``initialize()`` reads the job's layout itself). CPU-only hosts also need
``jax.config.update("jax_cpu_collectives_implementation", "gloo")`` before ``initialize``
(``tests/test_chees.py`` runs two such processes on one machine).

Many short chains: R-hat
------------------------
With 16 chains of 250 draws the ordinary split R-hat is noisy; :func:`nested_rhat` (Margossian
et al. 2022, "Nested R-hat") groups chains by their shared starting point.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from bayes_scaling.inference.config import (
    SamplerConfig,
    backend_info,
    check_seed,
    default_compilation_cache,
    enable_x64,
)
from bayes_scaling.inference.nuts import _RUNNERS, _shape_key, init_strategy

__all__ = ["ChEESConfig", "sample_chees_batch", "nested_rhat", "lockstep_efficiency"]


@dataclass(frozen=True)
class ChEESConfig:
    """Settings of batched ChEES-HMC (frozen; recorded in every fit it makes).

    Parameters
    ----------
    num_chains : int
        Chains per fit (many short chains: the adaptation pools them).
    num_superchains : int
        Groups of chains sharing a starting point (nested R-hat); divides ``num_chains``.
    num_warmup : int
        Warm-up iterations in all: two stages, each ``(num_warmup - 2 cov_iters) / 2``
        adaptation iterations then ``cov_iters`` covariance iterations.
    num_samples : int
        Kept draws per chain.
    cov_iters : int
        Iterations of the covariance pass after each stage.
    target_accept_prob : float
        Harmonic-mean acceptance targeted by dual averaging (ChEES's default is 0.651; 0.8
        here, fewer divergences in the low-E tail).
    learning_rate : float
        Adam learning rate of the trajectory-length optimiser (Hoffman et al. use 0.025; 0.05
        here: both stages are short, and start from a whitened density).
    max_leapfrog_steps : int
        Cap on leapfrog steps per iteration.
    init_radius : float
        Superchain starts uniform in ``(-r, r)`` in the unconstrained space, before the
        optimisation.
    opt_steps, opt_learning_rate : int, float
        Adam steps from every superchain's start towards the mode (the Laplace start).

    The defaults ``num_samples=250`` and ``opt_steps=800`` (were 100 and 200) come from SBC of
    the default model (2026-12-02, ``benchmarks/validate_chees.py sbc``): with the old values
    47.6% of 250 simulated fits passed the package diagnostics (nested R-hat <= 1.01, ESS >= 400);
    on 64 simulations 250 draws gave 70%, and 800 Adam steps on top 72%, with the fits whose
    nested R-hat exceeds 1.1 (superchains stuck apart) down from 5 to 1.
    init_dispersion : float
        Chains start at their superchain's optimum plus this many Laplace standard deviations
        of normal noise (one draw per superchain: dispersed superchains for nested R-hat).
    """

    num_chains: int = 16
    num_superchains: int = 8
    num_warmup: int = 160
    num_samples: int = 250
    cov_iters: int = 20
    target_accept_prob: float = 0.8
    learning_rate: float = 0.05
    max_leapfrog_steps: int = 64
    init_radius: float = 2.0
    opt_steps: int = 800
    opt_learning_rate: float = 0.05
    init_dispersion: float = 1.0

    def __post_init__(self):
        for name in ("num_chains", "num_superchains", "num_warmup", "num_samples", "cov_iters",
                     "max_leapfrog_steps", "opt_steps"):
            v = getattr(self, name)
            if isinstance(v, bool | np.bool_) or not isinstance(v, int | np.integer) or v < 1:
                raise ValueError(f"ChEESConfig.{name} must be a whole number >= 1, got {v!r}")
        if self.num_chains % self.num_superchains:
            raise ValueError(f"ChEESConfig.num_superchains ({self.num_superchains}) must divide "
                             f"num_chains ({self.num_chains}). Fix: e.g. num_chains=32, "
                             "num_superchains=8")
        if self.num_warmup < 2 * self.cov_iters + 40:
            raise ValueError(f"ChEESConfig.num_warmup ({self.num_warmup}) must be at least 2 x "
                             f"cov_iters + 40 ({2 * self.cov_iters + 40}). Fix: e.g. "
                             "num_warmup=160")
        for name in ("target_accept_prob", "learning_rate", "init_radius", "opt_learning_rate",
                     "init_dispersion"):
            v = getattr(self, name)
            if not isinstance(v, numbers.Real) or not math.isfinite(v) or v <= 0:
                raise ValueError(f"ChEESConfig.{name} must be a positive number, got {v!r}")
        if not self.target_accept_prob < 1:
            raise ValueError("ChEESConfig.target_accept_prob must lie in (0, 1), got "
                             f"{self.target_accept_prob!r}")

    @property
    def stage_iters(self) -> int:
        """Adaptation iterations of each of the two stages."""
        return (self.num_warmup - 2 * self.cov_iters) // 2

    def to_dict(self) -> dict[str, Any]:
        return {"kernel": "chees", **asdict(self)}

    @classmethod
    def coerce(cls, value: ChEESConfig | Mapping[str, Any] | SamplerConfig | None) -> ChEESConfig:
        """A config from a ChEESConfig, a dict of overrides, or a NUTS SamplerConfig.

        From a SamplerConfig only ``init_radius`` carries over: NUTS's chain and draw counts do
        not translate (16 short chains here; see ``benchmarks/RESULTS.md`` for the ESS each
        gives).
        """
        if isinstance(value, ChEESConfig):
            return value
        if value is None:
            return cls()
        if isinstance(value, SamplerConfig):
            return cls(init_radius=value.init_radius)
        if isinstance(value, Mapping):
            known = set(cls.__dataclass_fields__)
            unknown = sorted(set(value) - known)
            if unknown:
                raise ValueError(f"unknown ChEES setting {unknown[0]!r}; the settings are "
                                 f"{sorted(known)}")
            return cls(**value)
        raise TypeError(f"chees config must be a ChEESConfig or a dict, got {type(value).__name__}")


def lockstep_efficiency(n_steps: np.ndarray, iter_axis: int = -1) -> float:
    """Useful leapfrog steps / (lanes x the slowest lane's steps), summed over iterations.

    ``n_steps`` holds every lane's leapfrog steps per iteration (any leading lane axes, the
    iteration axis ``iter_axis``). 1 means no lane ever waited.
    """
    a = np.moveaxis(np.asarray(n_steps, dtype=float), iter_axis, -1)
    a = a.reshape(-1, a.shape[-1])
    denom = a.shape[0] * a.max(axis=0).sum()
    return float(a.sum() / denom) if denom > 0 else 1.0


def nested_rhat(x: np.ndarray, num_superchains: int) -> float:
    """Nested R-hat (Margossian et al. 2022) of draws ``x`` with shape ``(chain, draw)``.

    Chains ``k * M .. (k + 1) * M - 1`` form superchain ``k`` (``M = chains / K``, the chains
    that started from one point). Rank-normalised, through :func:`arviz_stats` (its
    ``rhat_nested``). Values near 1 (below ~1.01 with 8+ superchains) mean the superchains
    agree.
    """
    from arviz_stats.base import array_stats

    x = np.asarray(x, dtype=float)
    n_chain = x.shape[0]
    k = int(num_superchains)
    if k < 2 or n_chain % k:
        raise ValueError(f"nested_rhat needs >= 2 superchains dividing {n_chain} chains, got {k}")
    ids = np.repeat(np.arange(k), n_chain // k)
    return float(array_stats.rhat_nested(x, superchain_ids=ids, chain_axis=0, draw_axis=1))


# ---------------------------------------------------------------------------------------------
# Compiled programs: warm-up (per fit) and sampling (one step count for the batch)
# ---------------------------------------------------------------------------------------------


@dataclass
class _ChEESRunner:
    warmup: Callable
    sample: Callable
    finish: Callable


def _build(model: Callable, example_kw: Mapping[str, Any], config: ChEESConfig) -> _ChEESRunner:
    import blackjax
    import jax
    import jax.numpy as jnp
    import optax
    from blackjax.adaptation.base import get_filter_adapt_info_fn
    from blackjax.mcmc import dynamic_hmc
    from jax import lax, random
    from jax.flatten_util import ravel_pytree
    from numpyro.infer.util import find_valid_initial_params, initialize_model

    info = initialize_model(random.PRNGKey(0), model, model_kwargs=dict(example_kw),
                            dynamic_args=True)
    prototype = info.param_info.z
    _, unravel = ravel_pytree(prototype)
    potential_gen, postprocess_gen = info.potential_fn, info.postprocess_fn
    c, k = config.num_chains, config.num_superchains
    total = config.num_warmup + config.num_samples
    max_bits = int(np.ceil(np.log2(total + 1)))
    info_fn = get_filter_adapt_info_fn(info_keys={"num_integration_steps", "is_divergent"})

    def logdensity_of(kw):
        pot = potential_gen(**kw)
        return lambda x: -pot(unravel(x))

    def steps_fn(arg, n):  # ChEES's Halton jitter of the step count, as blackjax does it
        u = dynamic_hmc.halton_sequence(arg, max_bits)
        return jnp.clip(jnp.ceil(u * n), 1, config.max_leapfrog_steps).astype(int)

    kernel = dynamic_hmc.build_kernel(next_random_arg_fn=lambda i: i + 1,
                                      integration_steps_fn=steps_fn)

    def adapt(key, logdensity, x0, n_iter, step0):
        warm = blackjax.chees_adaptation(
            logdensity, c, target_acceptance_rate=config.target_accept_prob,
            max_leapfrog_steps=config.max_leapfrog_steps, mass_matrix_estimation="diagonal",
            adaptation_info_fn=info_fn)
        (state, params), inf = warm.run(key, x0, step0, optax.adam(config.learning_rate),
                                        n_iter, max_sampling_steps=total)
        return state, params, inf.info.num_integration_steps, inf.info.is_divergent

    def warmup_one(key, kw):
        k_init, k_stages = random.split(key)
        (z, _, _), _ = find_valid_initial_params(
            random.split(k_init, k), model,
            init_strategy=init_strategy(model, config.init_radius),
            model_kwargs=kw, prototype_params=prototype)
        starts = jax.vmap(lambda zz: ravel_pytree(zz)[0])(z)  # (superchain, d)
        d = starts.shape[1]
        logdensity = logdensity_of(kw)
        # Laplace start: Adam from every superchain's start (a fixed number of gradient steps:
        # lock-step), the Hessian at the best point gives the first dense preconditioner
        neg = lambda x: -logdensity(x)  # noqa: E731
        opt = optax.adam(config.opt_learning_rate)

        def opt_body(carry, _):
            x, st = carry
            g = jax.vmap(jax.grad(neg))(x)
            g = jnp.where(jnp.isfinite(g), g, 0.0)
            upd, st = opt.update(g, st)
            return (optax.apply_updates(x, upd), st), None

        (xs, _), _ = lax.scan(opt_body, (starts, opt.init(starts)), None,
                              length=config.opt_steps)
        lds = jax.vmap(logdensity)(xs)
        lds = jnp.where(jnp.isfinite(lds), lds, -jnp.inf)
        mode = xs[jnp.argmax(lds)]
        hess = jax.hessian(neg)(mode)
        evals, evecs = jnp.linalg.eigh(0.5 * (hess + hess.T))
        # curvature floor 0.01 (sd <= 10 unconstrained units): off the mode a Hessian may have
        # flat or negative directions; stage 2 re-estimates the covariance from the chains
        evals = jnp.clip(jnp.where(jnp.isfinite(evals), evals, 1.0), 1e-2, None)
        chol0 = jnp.linalg.cholesky((evecs / evals) @ evecs.T
                                    + 1e-12 * jnp.eye(d))  # Laplace covariance, regularised
        chol0 = jnp.where(jnp.all(jnp.isfinite(chol0)), chol0, jnp.eye(d))
        # each superchain starts at its own optimum plus an overdispersed Laplace draw
        kick = random.normal(k_stages, starts.shape) * config.init_dispersion
        x0 = jnp.where(jnp.isfinite(lds)[:, None], xs, mode) + kick @ chol0.T
        x0 = jnp.repeat(x0, c // k, axis=0)  # chain = superchain * M + m
        k_stages = random.fold_in(k_stages, 1)

        def stage(carry, key):
            # adapt on u -> log p(m + L u), then estimate the covariance of x for the next
            # stage; both stages are one traced body (half the compile time of two)
            x, mean, chol = carry[:3]
            k1, k_cov = random.split(key)
            logdensity_u = lambda u: logdensity(mean + chol @ u)  # noqa: E731
            u0 = jax.scipy.linalg.solve_triangular(chol, (x - mean).T, lower=True).T
            state, params, n1, _ = adapt(k1, logdensity_u, u0, config.stage_iters, 0.5)
            n_cov = jnp.ceil(params["integration_steps_params"][0]).astype(int)
            step_size, imm = params["step_size"], params["inverse_mass_matrix"]

            def cov_body(cv, key):
                st, s1, s2 = cv
                st, inf = jax.vmap(lambda kk, ss: kernel(
                    kk, ss, logdensity_u, step_size, imm, (n_cov,)))(random.split(key, c), st)
                xx = mean + st.position @ chol.T
                return (st, s1 + xx.sum(0), s2 + xx.T @ xx), inf.num_integration_steps

            (state, s1, s2), n_c = lax.scan(cov_body, (state, jnp.zeros(d), jnp.zeros((d, d))),
                                            random.split(k_cov, config.cov_iters))
            n_pts = c * config.cov_iters
            new_mean = s1 / n_pts
            cov = (s2 - n_pts * jnp.outer(new_mean, new_mean)) / (n_pts - 1)
            cov = cov + 1e-10 * jnp.eye(d) * jnp.trace(cov) / d
            new_chol = jnp.linalg.cholesky(cov)
            x_last = mean + state.position @ chol.T
            out = (x_last, new_mean, new_chol,
                   state, step_size, imm, params["integration_steps_params"][0], mean, chol)
            return out, jnp.concatenate([n1, n_c], axis=0)

        dummy_state = jax.vmap(lambda p: dynamic_hmc.init(p, logdensity, 0))(x0)
        init = (x0, mode, chol0, dummy_state, jnp.asarray(1.0), jnp.ones(d),
                jnp.asarray(1.0), jnp.zeros(d), jnp.eye(d))
        carry, n_warm = lax.scan(stage, init, random.split(k_stages, 2))
        # sampling continues the last stage's chains, in the coordinates it adapted in
        _, _, _, state_u, step_size, imm, n_adapted, mean, chol = carry
        n_warm = n_warm.reshape(-1, c)  # (iteration, chain)
        return state_u, step_size, imm, n_adapted, mean, chol, n_warm

    def sample_one(key, kw, state, step_size, inv_mass, mean, chol, n_steps):
        logdensity_u = lambda u: logdensity_of(kw)(mean + chol @ u)  # noqa: E731
        # the Halton argument continues from warm-up in every lane alike
        def body(st, key):
            keys = random.split(key, c)
            st, inf = jax.vmap(lambda kk, ss: kernel(kk, ss, logdensity_u, step_size,
                                                     inv_mass, (n_steps,)))(keys, st)
            x = mean + st.position @ chol.T
            return st, (x, inf.is_divergent, inf.num_integration_steps, -st.logdensity,
                        inf.energy, inf.acceptance_rate)

        _, tr = lax.scan(body, state, random.split(key, config.num_samples))
        return tr

    def finish_one(x, kw):  # x: (draw, chain, d) -> constrained dict (chain, draw, ...)
        post = postprocess_gen(**kw)
        flat = x.reshape(-1, x.shape[-1])
        out = jax.vmap(lambda v: post(unravel(v)))(flat)
        return {name: jnp.swapaxes(v.reshape(x.shape[0], x.shape[1], *v.shape[1:]), 0, 1)
                for name, v in out.items()}

    warmup = jax.jit(jax.vmap(warmup_one))
    sample = jax.jit(jax.vmap(sample_one, in_axes=(0, 0, 0, 0, 0, 0, 0, None)))
    finish = jax.jit(jax.vmap(finish_one))
    return _ChEESRunner(warmup=warmup, sample=sample, finish=finish)


def sample_chees_batch(
    model: Callable,
    model_kwargs: Mapping[str, Any],
    *,
    config: ChEESConfig,
    seed: int,
    model_key: Any,
    shard: bool = True,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, Any]]:
    """Run independent ChEES-HMC fits in one compiled program: data have a leading fit axis.

    Parameters
    ----------
    model : callable
        A NumPyro model taking ``model_kwargs`` (each with a leading fit axis) as keywords.
    model_kwargs : mapping
        Data arrays stacked over fits.
    config : ChEESConfig
    seed : int
        Fit ``i``'s keys are split from it: same list, same seed, same draws on one backend.
    model_key : hashable
        The model's structure; compiled programs are cached by it, the config and the shapes.
    shard : bool
        Shard the fit axis over all local devices (``jax.sharding``; fits are padded to a
        multiple of the device count, the padding dropped from the results).

    Returns
    -------
    posterior : dict of str to ndarray
        Constrained draws with leading ``(fit, chain, draw)`` dims.
    sample_stats : dict of str to ndarray
        ``diverging, n_steps, tree_depth, lp, energy, acceptance_rate, step_size``.
    facts : dict
        ``chain_method="chees"``, ``lockstep`` (warm-up and sampling efficiency),
        ``n_leapfrog`` (the batch's sampling steps per iteration before jitter),
        ``num_superchains``, backend info.
    """
    import jax
    import jax.numpy as jnp
    from jax import random

    enable_x64()
    default_compilation_cache()
    kw = {k: np.asarray(v) for k, v in model_kwargs.items()}
    n_fits = next(iter(kw.values())).shape[0]
    # all processes' devices: one process, its local devices; under jax.distributed, every
    # host's (each process passes the same full batch and supplies its own shards)
    devices = jax.devices() if shard else jax.local_devices()[:1]
    n_dev = len(devices)
    pad = (-n_fits) % n_dev
    if pad:
        kw = {k: np.concatenate([v, np.repeat(v[-1:], pad, axis=0)]) for k, v in kw.items()}
    keys = np.asarray(random.split(random.PRNGKey(check_seed(seed)), 2 * (n_fits + pad)))
    k_warm, k_samp = keys[: n_fits + pad], keys[n_fits + pad:]
    multi = jax.process_count() > 1 and shard
    if n_dev > 1:
        from jax.sharding import Mesh, NamedSharding, PartitionSpec

        sharding = NamedSharding(Mesh(np.asarray(devices), ("fits",)), PartitionSpec("fits"))
        put = lambda v: jax.make_array_from_callback(  # noqa: E731
            v.shape, sharding, lambda idx: v[idx])
    else:
        put = jnp.asarray
    if multi:
        from jax.experimental import multihost_utils

        get = lambda v: np.asarray(multihost_utils.process_allgather(v, tiled=True))  # noqa: E731
    else:
        get = lambda v: np.asarray(jax.device_get(v))  # noqa: E731
    kw = {k: put(v) for k, v in kw.items()}
    k_warm, k_samp = put(k_warm), put(k_samp)
    key = (model_key, config, "chees", n_dev, _shape_key(kw))
    runner = _RUNNERS.get(key)
    if runner is None:
        example = {k: np.asarray(v[0]) for k, v in model_kwargs.items()}
        runner = _RUNNERS[key] = _build(model, example, config)
    state, step, inv_mass, n_adapted, mean, chol, n_warm = runner.warmup(k_warm, kw)
    n_adapted = get(n_adapted)[:n_fits]
    finite = n_adapted[np.isfinite(n_adapted)]
    # one step count for the batch: the largest a fit adapted (a fit with a shorter adapted
    # trajectory moves further per draw, never less)
    n_leap = int(np.clip(np.ceil(finite.max()) if finite.size else 1, 1,
                         config.max_leapfrog_steps))
    x, div, nsteps, pe, energy, acc = runner.sample(k_samp, kw, state, step, inv_mass, mean,
                                                    chol, jnp.asarray(n_leap))
    posterior = {k: get(v)[:n_fits] for k, v in runner.finish(x, kw).items()}
    # traces are (fit, draw, chain): to (fit, chain, draw)
    tr = {name: np.swapaxes(get(v), 1, 2)[:n_fits]
          for name, v in (("diverging", div), ("n_steps", nsteps), ("pe", pe),
                          ("energy", energy), ("acceptance_rate", acc))}
    step = get(step)[:n_fits]
    stats = {
        "diverging": tr["diverging"].astype(bool),
        "n_steps": tr["n_steps"],
        "tree_depth": np.floor(np.log2(tr["n_steps"] + 1)).astype(int),
        "lp": -tr["pe"],
        "energy": tr["energy"],
        "acceptance_rate": tr["acceptance_rate"],
        "step_size": np.broadcast_to(step[:, None, None], tr["n_steps"].shape).copy(),
    }
    n_warm = get(n_warm)[:n_fits]  # (fit, iteration, chain)
    facts = {"chain_method": "chees", "n_fits": n_fits, "devices_used": n_dev,
             "processes": jax.process_count(),
             "num_superchains": config.num_superchains, "n_leapfrog": n_leap,
             "lockstep": {"warmup": lockstep_efficiency(np.moveaxis(n_warm, 1, -1)),
                          "sampling": lockstep_efficiency(stats["n_steps"])},
             "leapfrog_total": int(n_warm.sum() + stats["n_steps"].sum()),
             **backend_info()}
    return posterior, stats, facts
