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
little. ``"parallel"`` (``pmap``, one device per chain; on CPU call :func:`set_cpu_devices` before
anything computes with JAX) must be asked for: batched and unbatched XLA kernels round
differently, so its draws differ from the vectorised ones in the last digits, and NUTS
trajectories then drift apart (0.33 in E over 1000 draws was measured). The method used is
recorded in every fit (``idata.attrs["backend"]``).

Float64
-------
Fits run in float64: :func:`enable_x64` is called by the fitting functions (never on import).
"""

from __future__ import annotations

import difflib
import math
import numbers
import os
import warnings
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np

__all__ = [
    "SamplerConfig",
    "MAX_SEED",
    "check_seed",
    "Diagnostics",
    "DiagnosticsWarning",
    "sample_nuts",
    "sample_nuts_batch",
    "diagnostics",
    "set_cpu_devices",
    "enable_compilation_cache",
    "default_compilation_cache",
    "enable_x64",
    "backend_info",
]


#: Largest seed accepted: JAX's PRNGKey takes a signed 64-bit integer.
MAX_SEED = 2**63 - 1
_MAX_TREE_DEPTH = 20
_DEFAULT_EXAMPLE = {"num_warmup": 1000, "num_samples": 1000, "num_chains": 4,
                    "max_tree_depth": 10, "target_accept_prob": 0.95, "init_radius": 2.0}


def check_seed(seed: Any, *, name: str = "seed") -> int:
    """Return ``seed`` as a Python int if it is a whole number in ``[0, 2**63 - 1]``.

    Every function that takes ``seed=`` goes through this, so ``seed=1.7`` is refused rather
    than silently truncated to 1, and ``seed=2**64`` gets a message rather than an
    OverflowError from inside JAX.

    Parameters
    ----------
    seed : int
        The seed (Python or NumPy integer; not bool, float or str).
    name : str, default "seed"
        The argument's name, used in the message.

    Returns
    -------
    int

    Raises
    ------
    TypeError
        ``seed`` is not an integer.
    ValueError
        ``seed`` is negative or above :data:`MAX_SEED`.

    Examples
    --------
    >>> check_seed(7)
    7
    >>> check_seed(1.7)
    Traceback (most recent call last):
    ...
    TypeError: seed must be a whole number such as 0 or 12345, got 1.7 (float). Fix: pass an int.
    """
    if isinstance(seed, bool | np.bool_) or not isinstance(seed, int | np.integer):
        raise TypeError(f"{name} must be a whole number such as 0 or 12345, got {seed!r:.60} "
                        f"({type(seed).__name__}). Fix: pass an int.")
    value = int(seed)
    if not 0 <= value <= MAX_SEED:
        raise ValueError(f"{name} must lie in [0, 2**63 - 1], got {value}. Fix: pass a smaller "
                         "non-negative int.")
    return value


class DiagnosticsWarning(UserWarning):
    """Sampler diagnostics failed a check (R-hat, ESS, divergences or BFMI)."""


def enable_x64() -> None:
    """Switch JAX to float64 (idempotent). Fits call this; importing the package does not."""
    import jax

    if not jax.config.read("jax_enable_x64"):
        jax.config.update("jax_enable_x64", True)


#: Set to ``0`` (or ``off``, ``false``, ``no``) to keep fits from turning on the persistent
#: compilation cache.
COMPILATION_CACHE_ENV = "BAYES_SCALING_COMPILATION_CACHE"
_cache_checked = False


def default_compilation_cache() -> str | None:
    """Turn on the persistent compilation cache once per process, unless opted out.

    Called by every fit before it compiles. Does nothing when ``$BAYES_SCALING_COMPILATION_CACHE``
    is ``0``/``off``/``false``/``no``, or when the caller already chose a JAX cache folder
    (``jax_compilation_cache_dir``); otherwise :func:`enable_compilation_cache` with its default
    folder. Returns the folder in use, or None.
    """
    global _cache_checked
    import jax

    current = jax.config.jax_compilation_cache_dir
    if _cache_checked:
        return current or None
    _cache_checked = True
    if os.environ.get(COMPILATION_CACHE_ENV, "").strip().lower() in ("0", "off", "false", "no"):
        return None
    if current:
        return current
    try:
        return enable_compilation_cache()
    except OSError as err:  # an unwritable home or cache folder must not stop a fit
        warnings.warn(f"persistent compilation cache off: cannot create its folder ({err}); "
                      f"set $BAYES_SCALING_CACHE_DIR to a writable folder, or "
                      f"${COMPILATION_CACHE_ENV}=0 to silence this", stacklevel=3)
        return None


def enable_compilation_cache(path: str | os.PathLike | None = None) -> str:
    """Keep compiled samplers on disk so that a fresh process skips most of the compile time.

    JAX's persistent compilation cache, under ``path`` (default: ``$BAYES_SCALING_CACHE_DIR`` or
    ``~/.cache/bayes_scaling``, sub-folder ``jax``). Every fit turns it on with the default
    folder (:func:`default_compilation_cache`; opt out with
    ``BAYES_SCALING_COMPILATION_CACHE=0``); call this first to put it elsewhere. Measured in
    ``benchmarks/RESULTS.md`` (cold and warm cache).

    Returns the cache folder.
    """
    import jax

    if path is None:
        root = os.environ.get("BAYES_SCALING_CACHE_DIR") or os.path.join(
            os.path.expanduser("~"), ".cache", "bayes_scaling")
        path = os.path.join(root, "jax")
    path = os.fspath(path)
    os.makedirs(path, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return path


def set_cpu_devices(n: int = 4) -> None:
    """Expose ``n`` CPU devices to JAX so that ``n`` chains run in parallel.

    Must run before JAX's first computation in the process (XLA reads the flag once); later calls
    warn and do nothing. Equivalent to ``numpyro.set_host_device_count(n)``.
    """
    import jax

    try:
        initialised = jax._src.xla_bridge.backends_are_initialized()  # noqa: SLF001
    except AttributeError:  # pragma: no cover - private API moved
        initialised = False
    if initialised:
        if jax.local_device_count() < n:
            warnings.warn(
                f"set_cpu_devices({n}) came after JAX's first computation and has no effect "
                f"({jax.local_device_count()} device(s)); call it at the top of your script",
                stacklevel=2,
            )
        return
    import numpyro

    numpyro.set_host_device_count(n)


@dataclass(frozen=True)
class SamplerConfig:
    """NUTS settings (frozen; recorded in every saved fit).

    Parameters
    ----------
    num_warmup, num_samples, num_chains : int
        Warm-up iterations (step size and dense mass matrix adaptation), kept draws per chain,
        number of chains.
    target_accept_prob : float
        Dual-averaging target. 0.95 by default: at 0.8 the gadre law on the Gadre data
        diverged 10-110 times per fit in the low-E tail; at 0.95, 0-2 times, for ~2x the steps.
    max_tree_depth : int
        NUTS tree-depth cap (2**depth - 1 leapfrog steps at most per draw).
    dense_mass : bool
        Dense mass matrix. The amplitude, exponent and E of a scaling law are strongly correlated;
        dense adaptation cuts leapfrog steps per draw ~10x on these models.
    chain_method : {"auto", "parallel", "vectorized", "sequential"}
        ``"auto"`` is ``"vectorized"`` (see the module docstring: same seed, same draws in
        every process); ``"parallel"`` runs one chain per device and must be asked for.
    init_radius : float
        Chains start uniformly in ``(-r, r)`` in the unconstrained space.
    """

    num_warmup: int = 1000
    num_samples: int = 1000
    num_chains: int = 4
    target_accept_prob: float = 0.95
    max_tree_depth: int = 10
    dense_mass: bool = True
    chain_method: str = "auto"
    init_radius: float = 2.0

    def __post_init__(self):
        for name in ("num_warmup", "num_samples", "num_chains", "max_tree_depth"):
            v = getattr(self, name)
            low = 0 if name == "num_warmup" else 1
            if isinstance(v, bool | np.bool_) or not isinstance(v, int | np.integer):
                raise TypeError(f"SamplerConfig.{name} must be a whole number (int), got {v!r} "
                                f"({type(v).__name__}). Fix: e.g. {name}={_DEFAULT_EXAMPLE[name]}")
            if v < low:
                raise ValueError(f"SamplerConfig.{name} must be >= {low}, got {v!r}. "
                                 f"Fix: e.g. {name}={_DEFAULT_EXAMPLE[name]}")
        if self.max_tree_depth > _MAX_TREE_DEPTH:
            raise ValueError(f"SamplerConfig.max_tree_depth must be <= {_MAX_TREE_DEPTH} "
                             f"(2**depth leapfrog steps per draw), got {self.max_tree_depth}. "
                             "Fix: e.g. max_tree_depth=10")
        for name in ("target_accept_prob", "init_radius"):
            v = getattr(self, name)
            if isinstance(v, bool | np.bool_) or not isinstance(v, numbers.Real):
                raise TypeError(f"SamplerConfig.{name} must be a number, got {v!r} "
                                f"({type(v).__name__}). Fix: e.g. {name}={_DEFAULT_EXAMPLE[name]}")
            if not math.isfinite(v):
                raise ValueError(f"SamplerConfig.{name} must be finite, got {v!r}")
        if not 0.0 < self.target_accept_prob < 1.0:
            raise ValueError("SamplerConfig.target_accept_prob must lie in (0, 1), got "
                             f"{self.target_accept_prob!r}. Fix: e.g. target_accept_prob=0.95")
        if not self.init_radius > 0:
            raise ValueError(f"SamplerConfig.init_radius must be > 0, got {self.init_radius!r}. "
                             "Fix: e.g. init_radius=2.0")
        if not isinstance(self.dense_mass, bool | np.bool_):
            raise TypeError(f"SamplerConfig.dense_mass must be True or False, got "
                            f"{self.dense_mass!r}")
        if not isinstance(self.chain_method, str) or self.chain_method not in (
                "auto", "parallel", "vectorized", "sequential"):
            raise ValueError(
                "SamplerConfig.chain_method must be 'auto', 'parallel', 'vectorized' or "
                f"'sequential', got {self.chain_method!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def coerce(cls, sampler: SamplerConfig | Mapping[str, Any] | None,
               defaults: Mapping[str, Any] | None = None) -> SamplerConfig:
        """A config from what an estimator was given: a SamplerConfig as is, else a dict of
        overrides merged over the estimator's ``defaults`` (and the class defaults)."""
        if isinstance(sampler, SamplerConfig):
            return sampler
        if sampler is not None and not isinstance(sampler, Mapping):
            raise TypeError(f"sampler must be a SamplerConfig or a dict of its settings, got "
                            f"{type(sampler).__name__} ({sampler!r:.60}). Fix: e.g. "
                            "sampler={'num_samples': 500, 'num_chains': 4}")
        merged = dict(defaults or {}) | dict(sampler or {})
        known = [f.name for f in fields(cls)]
        unknown = [k for k in merged if k not in known]
        if unknown:
            close = difflib.get_close_matches(str(unknown[0]), known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(f"unknown sampler setting {unknown[0]!r}{hint}; the settings are "
                             f"{known}")
        return cls(**merged)


def backend_info() -> dict[str, Any]:
    """Backend facts recorded with every fit: platform, device kind and count, versions."""
    import jax
    import numpyro

    dev = jax.devices()[0]
    return {
        "platform": dev.platform,
        "device_kind": getattr(dev, "device_kind", dev.platform),
        "device_count": jax.local_device_count(),
        "jax_version": jax.__version__,
        "numpyro_version": numpyro.__version__,
        "x64": bool(jax.config.read("jax_enable_x64")),
    }


def resolve_chain_method(config: SamplerConfig) -> str:
    import jax

    if config.chain_method != "auto":
        if config.chain_method == "parallel" and jax.local_device_count() < config.num_chains:
            raise ValueError(
                f"chain_method='parallel' needs {config.num_chains} devices, JAX has "
                f"{jax.local_device_count()}; call bayes_scaling.set_cpu_devices({config.num_chains}) "
                "before any JAX computation, or use chain_method='vectorized'"
            )
        return config.chain_method
    # never chosen from the device count: that would make the draws depend on the process
    return "vectorized"


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
        if site is None:
            return partial(init)
        name = site["name"]
        if site["type"] != "sample" or site["is_observed"] or name not in sites:
            return init_to_uniform(site, radius=radius)
        centre, half = sites[name]
        transform = biject_to(site["fn"].support)
        shape = (site["kwargs"].get("sample_shape") or ())
        shape = tuple(shape) + tuple(transform.inverse_shape(site["fn"].shape()))
        u = dist.Uniform(centre - half, centre + half)(rng_key=site["kwargs"].get("rng_key"),
                                                       sample_shape=shape)
        return transform(u)

    return init


def _build_runner(model: Callable, model_kwargs: Mapping[str, Any], config: SamplerConfig,
                  method: str, batched: bool = False) -> _Runner:
    """Compile init / step / finish for ``num_chains`` chains (and, when ``batched``, a leading
    axis of independent fits: every lane of the (fit, chain) grid has its own adaptation)."""
    import jax
    from jax import lax, random
    from numpyro.infer.hmc import hmc
    from numpyro.infer.util import find_valid_initial_params, initialize_model

    example = ({k: v[0] for k, v in model_kwargs.items()} if batched else dict(model_kwargs))
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
        mapper = jax.vmap if method == "vectorized" else (
            lambda f, in_axes: lambda *a: lax.map(lambda x: f(x, *a[1:]), a[0]))
        init = jax.jit(mapper(init_one, in_axes=(0, None)))
        step = jax.jit(lambda s, kw, n: mapper(
            lambda st, k: steps_one(st, k, n), in_axes=(0, None))(s, kw), static_argnums=2)
        finish = jax.jit(mapper(finish_one, in_axes=(0, None)))
    return _Runner(init=init, step=step, finish=finish)


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
    while done < total:
        # chunks never straddle the warm-up/sampling boundary: warm-up traces are dropped
        # (but for their leapfrog counts: the lock-step efficiency of warm-up)
        boundary = config.num_warmup if done < config.num_warmup else total
        n = min(_CHUNK, boundary - done)
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
    key = (model_key, config, method, _shape_key(kw))
    runner = _RUNNERS.get(key)
    if runner is None:
        runner = _RUNNERS[key] = _build_runner(model, kw, config, method)

    keys = random.split(random.PRNGKey(check_seed(seed)), config.num_chains)
    state = runner.init(keys, kw)
    z, stats, _ = _run_chunks(runner, state, kw, config, progress, axis=1)
    posterior = {k: np.asarray(v) for k, v in jax.device_get(runner.finish(z, kw)).items()}
    facts = {"chain_method": method, **backend_info()}
    return posterior, stats, facts


# ---------------------------------------------------------------------------------------------
# Diagnostics
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Diagnostics:
    """Convergence diagnostics of a fit.

    Attributes
    ----------
    max_rhat : float
        Largest rank-normalised split R-hat over parameters (target <= ``rhat_max``).
    min_ess_bulk, min_ess_tail : float
        Smallest bulk and tail effective sample sizes (target >= ``ess_min``).
    divergences : int
        Post-warm-up divergent transitions (target 0).
    min_bfmi : float
        Smallest per-chain Bayesian fraction of missing information (target >= 0.3).
    per_parameter : dict
        ``{name: {"rhat", "ess_bulk", "ess_tail"}}``.
    problems : tuple of str
        One line per failed check, each with what to try.
    """

    max_rhat: float
    min_ess_bulk: float
    min_ess_tail: float
    divergences: int
    min_bfmi: float
    n_draws: int
    per_parameter: dict = field(default_factory=dict)
    problems: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["ok"] = self.ok
        d["problems"] = list(self.problems)
        return d

    def __str__(self) -> str:
        head = (f"R-hat max {self.max_rhat:.4f}, ESS bulk min {self.min_ess_bulk:.0f}, "
                f"ESS tail min {self.min_ess_tail:.0f}, divergences {self.divergences}, "
                f"BFMI min {self.min_bfmi:.2f}: {'ok' if self.ok else 'FAILED'}")
        return "\n".join([head, *("  - " + p for p in self.problems)])


def diagnostics(
    posterior: Mapping[str, np.ndarray],
    sample_stats: Mapping[str, np.ndarray],
    *,
    rhat_max: float = 1.01,
    ess_min: float | None = None,
    bfmi_min: float = 0.3,
    warn: bool = True,
    superchains: int | None = None,
) -> Diagnostics:
    """R-hat, bulk/tail ESS, divergences and BFMI, with a loud warning when a check fails.

    ``posterior`` values have leading ``(chain, draw)`` dims; vector parameters are checked
    element-wise. ``ess_min`` defaults to 100 per chain (Vehtari et al. 2021): 400 for 4 chains.
    ``superchains``: many short chains in groups sharing a start (batched ChEES-HMC); R-hat is
    then the nested R-hat (:func:`bayes_scaling.inference.chees.nested_rhat`; the split R-hat
    is kept as ``split_rhat`` per parameter) and ``ess_min`` defaults to 400 (what 4 NUTS
    chains need), not 100 per chain.
    """
    from arviz_stats.base import array_stats

    if superchains:
        from bayes_scaling.inference.chees import nested_rhat

    per: dict[str, dict[str, float]] = {}
    for name, v in posterior.items():
        v = np.asarray(v, dtype=float)
        flat = v.reshape(v.shape[0], v.shape[1], -1)
        for j in range(flat.shape[-1]):
            x = flat[..., j]
            label = name if flat.shape[-1] == 1 else f"{name}[{j}]"
            if np.ptp(x) == 0:  # fixed (delta prior) parameter: nothing to diagnose
                continue
            split = float(array_stats.rhat(x, chain_axis=0, draw_axis=1))
            per[label] = {
                "rhat": nested_rhat(x, superchains) if superchains else split,
                "ess_bulk": float(array_stats.ess(x, chain_axis=0, draw_axis=1, method="bulk")),
                "ess_tail": float(array_stats.ess(x, chain_axis=0, draw_axis=1, method="tail",
                                                  prob=(0.05, 0.95))),
            }
            if superchains:
                per[label]["split_rhat"] = split
    n_chains, n_draws = next(iter(posterior.values())).shape[:2]
    if ess_min is None:
        ess_min = 400.0 if superchains else 100.0 * n_chains
    max_rhat = max((p["rhat"] for p in per.values()), default=1.0)
    min_bulk = min((p["ess_bulk"] for p in per.values()), default=math.inf)
    min_tail = min((p["ess_tail"] for p in per.values()), default=math.inf)
    div = int(np.sum(sample_stats["diverging"]))
    energy = np.asarray(sample_stats["energy"], dtype=float)
    min_bfmi = float(np.min(array_stats.bfmi(energy, chain_axis=0, draw_axis=1)))
    problems = []
    if n_chains > 1 and not max_rhat <= rhat_max:
        worst = max(per, key=lambda k: per[k]["rhat"])
        problems.append(f"R-hat {max_rhat:.3f} > {rhat_max} ({worst}): chains disagree; run "
                        "more warm-up/draws, or check the design identifies the law")
    if not min(min_bulk, min_tail) >= ess_min:
        worst = min(per, key=lambda k: min(per[k]["ess_bulk"], per[k]["ess_tail"]))
        problems.append(f"ESS {min(min_bulk, min_tail):.0f} < {ess_min:.0f} ({worst}): draw "
                        "more samples (num_samples) or more chains")
    if div:
        problems.append(f"{div} divergent transitions: raise target_accept_prob (e.g. 0.95) or "
                        "use tighter priors; the posterior may be biased")
    if n_draws > 10 and not min_bfmi >= bfmi_min:
        problems.append(f"BFMI {min_bfmi:.2f} < {bfmi_min}: poor energy exploration; "
                        "reparameterise or use longer warm-up")
    d = Diagnostics(max_rhat=max_rhat, min_ess_bulk=min_bulk, min_ess_tail=min_tail,
                    divergences=div, min_bfmi=min_bfmi, n_draws=n_chains * n_draws,
                    per_parameter=per, problems=tuple(problems))
    if warn and problems:
        warnings.warn("sampler diagnostics failed:\n" + str(d), DiagnosticsWarning, stacklevel=3)
    return d


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
        runner = _RUNNERS[key] = _build_runner(model, kw, config, "batch", batched=True)
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
