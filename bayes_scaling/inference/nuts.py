"""NUTS through NumPyro, compiled once and kept warm, returning an ArviZ DataTree.

Why not ``numpyro.infer.MCMC``
------------------------------
``MCMC.run`` rebuilds (and so recompiles) its sampling function on every call when the progress
bar is off, and the host device count must be set before JAX first computes. Fits here are small
and repeated (backtests, benchmarks, notebooks), so compile time dominates. This module drives
NumPyro's own functional NUTS kernel (:func:`numpyro.infer.hmc.hmc`, with the model's potential
built by :func:`numpyro.infer.util.initialize_model` with ``dynamic_args=True``) inside one jitted
program whose data are *arguments*: the second fit of a model with the same number of runs reuses
the compiled program.

Chains
------
``chain_method="auto"`` (the default) means ``"vectorized"``: chains side by side (``vmap``) on
the default device, whatever the device count, so the same seed gives the same draws in every
process (the ``bayes-scaling`` command and the Python API alike). With a dense mass matrix these
posteriors need ~5-10 leapfrog steps per draw, so lanes that wait for the deepest tree cost
little. ``"parallel"`` (``pmap``, one device per chain; on CPU call
:func:`~bayes_scaling.inference.config.set_cpu_devices` before anything computes with JAX) must
be asked for: batched and unbatched XLA kernels round differently, so its draws differ from the
vectorised ones in the last digits, and NUTS trajectories then drift apart (0.33 in E over 1000
draws was measured). The method used is recorded in every fit (``idata.attrs["backend"]``).

Programs on disk
----------------
Every runner but ``"parallel"`` chains (and batches sharded over several devices) runs
*exported* programs (:mod:`jax.export`): ``init``, one ``step`` per chunk length and
``finish``, stored next to the persistent compilation cache by
:mod:`bayes_scaling.inference.exported`, so that a fresh process loads and compiles them (a
compilation cache hit) instead of tracing the vectorised NUTS program again. The same exported
programs run whether just traced or loaded: a seed gives the same draws in every process. A
missing, damaged or stale entry means tracing, as before.

Float64
-------
Fits run in float64: :func:`~bayes_scaling.inference.config.enable_x64` is called by the fitting
functions (never on import).

Where the rest lives
--------------------
:class:`~bayes_scaling.inference.config.SamplerConfig`, seeds, devices, float64, the
compilation cache and the chain-method choice are in :mod:`bayes_scaling.inference.config`;
R-hat, ESS, divergences and BFMI in :mod:`bayes_scaling.inference.diagnostics`. This module owns
the compiled runners and their cache (``_RUNNERS``, shared with
:mod:`bayes_scaling.inference.chees`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from bayes_scaling.inference.config import (
    SamplerConfig,
    backend_info,
    check_seed,
    default_compilation_cache,
    enable_x64,
    resolve_chain_method,
)

__all__ = ["padded_length", "sample_nuts", "sample_nuts_batch"]


# ---------------------------------------------------------------------------------------------
# Compiled runners, cached by (model key, sampler config, data shapes)
# ---------------------------------------------------------------------------------------------

_RUNNERS: dict[Any, _Runner] = {}
_CHUNK = 250  # iterations per compiled call: progress updates without recompiling


@dataclass
class _Runner:
    init: Callable
    step: Callable
    finish: Callable


def _dtype_name(v: Any) -> str:
    # ``v.dtype`` first: a jax.Array sharded over another process's devices cannot be fetched
    dtype = getattr(v, "dtype", None)
    return str(dtype if dtype is not None else np.asarray(v).dtype)


def _shape_key(model_kwargs: Mapping[str, Any]) -> tuple:
    return tuple(sorted((k, np.shape(v), _dtype_name(v)) for k, v in model_kwargs.items()))


def padded_length(n: int) -> int:
    """The number of rows a table of ``n`` runs is padded to before sampling: the smallest of
    8, 12, 16, 24, 32, 48, 64, ... (``2**k`` and ``1.5 * 2**k``) that holds ``n``.

    The compiled sampler is specialised to its arrays' shapes, so every new number of runs used
    to trace and compile the fit and its leave-future-out refits again (77 s on 2 cores for a
    first fit of 89 runs, issue 26). Padded to these lengths, with a mask that drops the padding
    from the likelihood, the programs of one length serve every ladder up to it: at most 1.5x the
    rows, which costs little next to the per-step overhead of NUTS at these sizes.
    """
    n = int(n)
    if n < 1:
        raise ValueError(f"a table to pad needs at least one run, got {n}")
    size = 8
    while size < n:
        size = size * 3 // 2 if size & (size - 1) == 0 else size * 4 // 3
    return size


def init_strategy(model: Callable, radius: float) -> Callable:
    """NumPyro init strategy: uniform in ``(-radius, radius)`` on the unconstrained scale, except
    for the sites the model names in its ``init_sites`` attribute (``{name: (centre,
    half_width)}`` on the unconstrained scale; see :data:`bayes_scaling.models.noise.INIT_SITES`).
    """
    from functools import partial

    import numpyro.distributions as dist
    from numpyro.distributions.transforms import biject_to
    from numpyro.infer import init_to_uniform

    sites = dict(getattr(model, "init_sites", None) or {})
    if not sites:
        return init_to_uniform(radius=radius)

    def init(site=None):
        if site is None:  # NumPyro reads the strategy's ``.func``: it must be a partial
            return partial(init)
        name = site["name"]
        if site["type"] != "sample" or site["is_observed"] or name not in sites:
            return init_to_uniform(site, radius=radius)
        centre, half = sites[name]
        transform = biject_to(site["fn"].support)
        shape = (tuple(site["kwargs"].get("sample_shape") or ())
                 + tuple(transform.inverse_shape(site["fn"].shape())))
        u = dist.Uniform(centre - half, centre + half)(rng_key=site["kwargs"].get("rng_key"),
                                                       sample_shape=shape)
        return transform(u)

    return init


def _kernels(model: Callable, example: Mapping[str, Any], config: SamplerConfig):
    """``init_one(key, kw)``, ``steps_one(state, kw, length)`` and ``finish_one(z, kw)`` of one
    chain (NumPyro's NUTS kernel on the model's potential; ``example``: one fit's arrays)."""
    import jax
    from jax import lax, random
    from numpyro.infer.hmc import hmc
    from numpyro.infer.util import find_valid_initial_params, initialize_model

    info = initialize_model(random.PRNGKey(0), model, model_kwargs=example, dynamic_args=True)
    prototype = info.param_info.z
    init_kernel, sample_kernel = hmc(potential_fn_gen=info.potential_fn, algo="NUTS")
    postprocess_gen = info.postprocess_fn

    def init_one(key, kw):
        k_init, k_kernel = random.split(key)
        (z, _, _), _ = find_valid_initial_params(
            k_init, model, init_strategy=init_strategy(model, config.init_radius),
            model_kwargs=kw, prototype_params=prototype,
        )
        return init_kernel(
            z, config.num_warmup, target_accept_prob=config.target_accept_prob,
            max_tree_depth=config.max_tree_depth, dense_mass=config.dense_mass,
            model_kwargs=kw, rng_key=k_kernel,
        )

    def steps_one(state, kw, length):
        def body(s, _):
            s = sample_kernel(s, model_kwargs=kw)
            return s, (s.z, s.diverging, s.num_steps, s.potential_energy, s.energy,
                       s.mean_accept_prob, s.adapt_state.step_size)

        return lax.scan(body, state, None, length=length)

    def finish_one(z, kw):
        return jax.vmap(postprocess_gen(**kw))(z)

    return init_one, steps_one, finish_one


def _mapper(method: str) -> Callable:
    """How chains (or lanes) are mapped: ``vmap``, or ``lax.map`` for ``"sequential"``."""
    import jax
    from jax import lax

    if method in ("vectorized", "batch"):
        return jax.vmap
    return lambda f, in_axes: lambda *a: lax.map(lambda x: f(x, *a[1:]), a[0])


def _build_runner(model: Callable, model_kwargs: Mapping[str, Any], config: SamplerConfig,
                  method: str, batched: bool = False) -> _Runner:
    """Traced (not exported) init / step / finish for ``num_chains`` chains (and, when
    ``batched``, a leading axis of independent fits: every lane of the (fit, chain) grid has its
    own adaptation). Used for ``"parallel"`` chains and for batches sharded over devices; every
    other runner is :func:`_exported_runner`."""
    import jax

    example = ({k: v[0] for k, v in model_kwargs.items()} if batched else dict(model_kwargs))
    init_one, steps_one, finish_one = _kernels(model, example, config)
    if batched:
        # one flat axis of (fit x chain) lanes, each with its own copy of its fit's data: a
        # single vmap compiles like a single vectorised fit (a nested vmap took minutes)
        init = jax.jit(jax.vmap(init_one, in_axes=(0, 0)))
        step = jax.jit(lambda s, kw, n: jax.vmap(
            lambda st, k: steps_one(st, k, n), in_axes=(0, 0))(s, kw), static_argnums=2)
        finish = jax.jit(jax.vmap(finish_one, in_axes=(0, 0)))
    elif method == "parallel":
        init = jax.pmap(init_one, in_axes=(0, None))
        step = jax.pmap(steps_one, in_axes=(0, None, None), static_broadcasted_argnums=2)
        finish = jax.pmap(finish_one, in_axes=(0, None))
    else:
        mapper = _mapper(method)
        init = jax.jit(mapper(init_one, in_axes=(0, None)))
        step = jax.jit(lambda s, kw, n: mapper(
            lambda st, k: steps_one(st, k, n), in_axes=(0, None))(s, kw), static_argnums=2)
        finish = jax.jit(mapper(finish_one, in_axes=(0, None)))
    return _Runner(init=init, step=step, finish=finish)


def _chunk_plan(config: SamplerConfig) -> list[int]:
    """Iterations per compiled call, in order: chunks of at most ``_CHUNK`` that never straddle
    the warm-up/sampling boundary."""
    plan, done, total = [], 0, config.num_warmup + config.num_samples
    while done < total:
        boundary = config.num_warmup if done < config.num_warmup else total
        n = min(_CHUNK, boundary - done)
        plan.append(n)
        done += n
    return plan


def _export_programs(model: Callable, kw: Mapping[str, Any], keys, config: SamplerConfig,
                     method: str, lengths: list[int]) -> dict[str, Any]:
    """Trace and export the runner's programs (:mod:`jax.export`): ``init(keys, kw) -> state``,
    ``step<n>(state, kw) -> (state, traces)`` per chunk length and ``finish(z, kw)``. The
    sampler state crosses the program boundary as a flat list of arrays, so that no NumPyro
    type needs to be serialised."""
    import jax
    from jax import export

    batched = method == "batch"
    example = {k: v[0] for k, v in kw.items()} if batched else dict(kw)
    init_one, steps_one, finish_one = _kernels(model, example, config)
    mapper, kw_axis = _mapper(method), (0 if batched else None)
    treedef = []

    def init_flat(keys, kw):
        leaves, tree = jax.tree_util.tree_flatten(mapper(init_one, in_axes=(0, kw_axis))(keys, kw))
        treedef.append(tree)
        return leaves

    programs = {"init": export.export(jax.jit(init_flat))(keys, kw)}
    state = [jax.ShapeDtypeStruct(a.shape, a.dtype) for a in programs["init"].out_avals]
    for n in lengths:
        def step_flat(leaves, kw, n=n):
            s = jax.tree_util.tree_unflatten(treedef[0], leaves)
            s, traces = mapper(lambda st, k: steps_one(st, k, n), in_axes=(0, kw_axis))(s, kw)
            return jax.tree_util.tree_leaves(s), traces

        programs[f"step{n}"] = export.export(jax.jit(step_flat))(state, kw)
    programs["finish"] = export.export(jax.jit(mapper(finish_one, in_axes=(0, kw_axis))))(
        _draws_spec(programs[f"step{lengths[0]}"], config.num_samples), kw)
    return programs


def _draws_spec(step, num_samples: int) -> dict[str, Any]:
    """Shapes of the kept draws ``z`` (``(lanes, num_samples, ...)``) from a step program's
    traces (``(lanes, n, ...)``)."""
    import jax

    _, (z, *_) = jax.tree_util.tree_unflatten(step.out_tree, step.out_avals)
    return {k: jax.ShapeDtypeStruct((a.shape[0], num_samples, *a.shape[2:]), a.dtype)
            for k, a in z.items()}


def _compile_programs(programs: Mapping[str, Any], keys, kw: Mapping[str, Any],
                      config: SamplerConfig, lengths: list[int]) -> _Runner:
    """Compile exported programs for these arguments (a persistent compilation cache hit after
    the first process); raises if they do not take them."""
    import jax

    init = jax.jit(programs["init"].call).lower(keys, kw).compile()
    state = [jax.ShapeDtypeStruct(a.shape, a.dtype) for a in programs["init"].out_avals]
    steps = {n: jax.jit(programs[f"step{n}"].call).lower(state, kw).compile() for n in lengths}
    finish = jax.jit(programs["finish"].call).lower(
        _draws_spec(programs[f"step{lengths[0]}"], config.num_samples), kw).compile()
    return _Runner(init=init, step=lambda s, kw, n: steps[n](s, kw), finish=finish)


def _exported_runner(model: Callable, model_key: Any, kw: Mapping[str, Any], keys,
                     config: SamplerConfig, method: str) -> _Runner:
    """A runner whose programs are exported (:mod:`jax.export`) and stored on disk
    (:mod:`bayes_scaling.inference.exported`), so a fresh process loads them instead of tracing.

    The same exported programs run whether they were just traced or loaded, so a seed gives
    the same draws in the process that traced them and in every later one. A stored bundle that
    is absent, damaged, stale or does not take these arguments is ignored: the programs are
    traced again and the bundle rewritten.
    """
    from bayes_scaling.inference import exported

    lengths = sorted(set(_chunk_plan(config)))
    names = ["init", *(f"step{n}" for n in lengths), "finish"]
    folder = exported.store_dir()
    key = None
    if folder is not None:
        shapes = (_shape_key(kw), tuple(keys.shape), _dtype_name(keys))
        key = exported.bundle_key(model, model_key, config.to_dict(), method, shapes, names)
    if key is not None:
        programs = exported.load_bundle(folder, key)
        if programs is not None and sorted(programs) == sorted(names):
            try:
                return _compile_programs(programs, keys, kw, config, lengths)
            except Exception:  # noqa: BLE001 - a stored program that does not fit: retrace
                pass
    programs = _export_programs(model, kw, keys, config, method, lengths)
    runner = _compile_programs(programs, keys, kw, config, lengths)
    if key is not None:
        exported.save_bundle(folder, key, programs)
    return runner


def _run_chunks(runner: _Runner, state, kw, config: SamplerConfig, progress: bool, axis: int):
    """Advance ``state`` through warm-up and sampling in compiled chunks; keep sampling traces.

    ``axis`` is the iteration axis of the traces (1 for (chain or lane, iter)).
    """
    import jax

    total = config.num_warmup + config.num_samples
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, desc="NUTS", unit="it", leave=False)
    traces = []
    warm_steps = []
    done = 0
    # chunks never straddle the warm-up/sampling boundary: warm-up traces are dropped (but for
    # their leapfrog counts: the lock-step efficiency of warm-up)
    for n in _chunk_plan(config):
        state, tr = runner.step(state, kw, n)
        if done >= config.num_warmup:
            traces.append(jax.device_get(tr))
        else:
            warm_steps.append(np.asarray(jax.device_get(tr[2])))
        done += n
        if bar is not None:
            bar.update(n)
    if bar is not None:
        bar.close()
    # traces: (z, diverging, num_steps, potential, energy, accept, step)
    z = {k: np.concatenate([t[0][k] for t in traces], axis=axis) for k in traces[0][0]}
    div, nsteps, pe, energy, acc, step = (
        np.concatenate([t[i] for t in traces], axis=axis) for i in range(1, 7)
    )
    stats = {
        "diverging": np.asarray(div, dtype=bool),
        "n_steps": np.asarray(nsteps),
        "tree_depth": np.floor(np.log2(np.asarray(nsteps) + 1)).astype(int),
        "lp": -np.asarray(pe),
        "energy": np.asarray(energy),
        "acceptance_rate": np.asarray(acc),
        "step_size": np.asarray(step),
    }
    warm = (np.concatenate(warm_steps, axis=axis) if warm_steps
            else np.zeros(stats["n_steps"].shape[:axis] + (0,), dtype=int))
    return z, stats, warm


def sample_nuts(
    model: Callable,
    model_kwargs: Mapping[str, Any],
    *,
    config: SamplerConfig,
    seed: int,
    model_key: Any,
    progress: bool = False,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, Any]]:
    """Run NUTS on ``model`` and return posterior draws, sample stats and run facts.

    Parameters
    ----------
    model : callable
        A NumPyro model taking ``model_kwargs`` as keyword arguments.
    model_kwargs : mapping
        Data arrays (observations included).
    config : SamplerConfig
    seed : int
        The only source of randomness: the same seed, data and config give the same draws on the
        same backend.
    model_key : hashable
        Identifies the model's structure (law, priors, noise): runners are cached by this key,
        the config and the data shapes.
    progress : bool
        Show a tqdm progress bar (updated every 250 iterations).

    Returns
    -------
    posterior : dict of str to ndarray
        Constrained draws with leading ``(chain, draw)`` dimensions.
    sample_stats : dict of str to ndarray
        ``diverging, n_steps, tree_depth, lp, energy, acceptance_rate, step_size``.
    facts : dict
        ``chain_method`` actually used, backend info.
    """
    import jax
    import jax.numpy as jnp
    from jax import random

    enable_x64()
    default_compilation_cache()
    method = resolve_chain_method(config)
    kw = {k: jnp.asarray(v) for k, v in model_kwargs.items()}
    keys = random.split(random.PRNGKey(check_seed(seed)), config.num_chains)
    key = (model_key, config, method, _shape_key(kw))
    runner = _RUNNERS.get(key)
    if runner is None:
        runner = _RUNNERS[key] = (
            _build_runner(model, kw, config, method) if method == "parallel"
            else _exported_runner(model, model_key, kw, keys, config, method))
    state = runner.init(keys, kw)
    z, stats, _ = _run_chunks(runner, state, kw, config, progress, axis=1)
    posterior = {k: np.asarray(v) for k, v in jax.device_get(runner.finish(z, kw)).items()}
    facts = {"chain_method": method, **backend_info()}
    return posterior, stats, facts




def default_num_chains() -> int:
    return int(os.environ.get("BAYES_SCALING_NUM_CHAINS", "4"))


def sample_nuts_batch(
    model: Callable,
    model_kwargs: Mapping[str, Any],
    *,
    config: SamplerConfig,
    seed: int,
    model_key: Any,
    progress: bool = False,
    shard: bool = True,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, Any]]:
    """Run independent NUTS fits in one compiled program: data have a leading fit axis.

    Every (fit, chain) lane adapts its own step size and mass matrix; lanes advance in lock
    step, one NUTS transition per iteration, so a lane with a shallow tree waits for the deepest
    (bounded by ``config.max_tree_depth``). With several devices the fit axis is sharded over
    them (``jax.sharding``; fits are padded to a multiple of the device count).

    Returns arrays with leading ``(fit, chain, draw)`` dims, as :func:`sample_nuts` does with
    ``(chain, draw)``; ``facts["lockstep"]`` holds the lock-step efficiency of warm-up and
    sampling (useful leapfrog steps / (lanes x the slowest lane's steps per iteration), over
    all lanes: exact on one device, a lower bound when sharded) and ``facts["leapfrog_total"]``
    every lane's leapfrog steps.
    """
    import jax
    import jax.numpy as jnp
    from jax import random

    enable_x64()
    default_compilation_cache()
    kw = {k: np.asarray(v) for k, v in model_kwargs.items()}
    n_fits = next(iter(kw.values())).shape[0]
    n_dev = jax.local_device_count() if shard else 1
    pad = (-n_fits) % n_dev
    if pad:  # repeat the last fit; its lanes are dropped below
        kw = {k: np.concatenate([v, np.repeat(v[-1:], pad, axis=0)]) for k, v in kw.items()}
    n_chains = config.num_chains
    lanes = (n_fits + pad) * n_chains
    keys = random.split(random.PRNGKey(check_seed(seed)), lanes)
    kw = {k: np.repeat(v, n_chains, axis=0) for k, v in kw.items()}  # lane = fit * chains + c
    if n_dev > 1:
        from jax.sharding import Mesh, NamedSharding, PartitionSpec

        mesh = Mesh(np.asarray(jax.local_devices()), ("fits",))
        sharding = NamedSharding(mesh, PartitionSpec("fits"))
        kw = {k: jax.device_put(v, sharding) for k, v in kw.items()}
        keys = jax.device_put(keys, sharding)
    else:
        kw = {k: jnp.asarray(v) for k, v in kw.items()}
    key = (model_key, config, "batch", n_dev, _shape_key(kw))
    runner = _RUNNERS.get(key)
    if runner is None:
        runner = _RUNNERS[key] = (
            _build_runner(model, kw, config, "batch", batched=True) if n_dev > 1
            else _exported_runner(model, model_key, kw, keys, config, "batch"))
    state = runner.init(keys, kw)
    z, stats, warm_steps = _run_chunks(runner, state, kw, config, progress, axis=1)
    posterior = jax.device_get(runner.finish(z, kw))

    def unflatten(v):
        v = np.asarray(v)
        return v.reshape(n_fits + pad, n_chains, *v.shape[1:])[:n_fits]

    posterior = {k: unflatten(v) for k, v in posterior.items()}
    stats = {k: unflatten(v) for k, v in stats.items()}
    from bayes_scaling.inference.chees import lockstep_efficiency

    warm_steps = unflatten(warm_steps)  # every lane waits for the deepest tree on its device
    facts = {"chain_method": "batched", "n_fits": n_fits, "devices_used": n_dev,
             "lockstep": {"warmup": lockstep_efficiency(warm_steps),
                          "sampling": lockstep_efficiency(stats["n_steps"])},
             "leapfrog_total": int(warm_steps.sum() + stats["n_steps"].sum()),
             **backend_info()}
    return posterior, stats, facts
