"""Sampler settings and the process environment of a fit: seeds, float64, devices, compile cache.

Owns :class:`SamplerConfig` (the NUTS settings recorded in every fit) and :func:`check_seed`,
and everything a fit sets or reads about the JAX process before it samples: float64
(:func:`enable_x64`, called by the fitting functions, never on import), the CPU device count
(:func:`set_cpu_devices`), the persistent compilation cache (:func:`enable_compilation_cache`,
:func:`default_compilation_cache`, opt-out ``$BAYES_SCALING_COMPILATION_CACHE``), the chain
method actually used (:func:`resolve_chain_method`) and the backend facts recorded with every fit
(:func:`backend_info`). The samplers themselves are in :mod:`bayes_scaling.inference.nuts` and
:mod:`bayes_scaling.inference.chees`.
"""

from __future__ import annotations

import difflib
import math
import numbers
import os
import warnings
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

__all__ = [
    "SamplerConfig",
    "MAX_SEED",
    "check_seed",
    "derive_seed",
    "set_cpu_devices",
    "enable_compilation_cache",
    "default_compilation_cache",
    "cache_limit_bytes",
    "prune_files",
    "enable_x64",
    "backend_info",
    "resolve_chain_method",
    "COMPILATION_CACHE_ENV",
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


def derive_seed(seed: int, offset: int) -> int:
    """The seed of a sub-task (a refit, the error law of a fit): ``seed + offset``, wrapped into
    ``[0, MAX_SEED]`` so that any valid seed gives valid sub-seeds (``MAX_SEED + 1`` is ``0``)."""
    return (check_seed(seed) + int(offset)) % (MAX_SEED + 1)


def enable_x64() -> None:
    """Switch JAX to float64 (idempotent). Fits call this; importing the package does not."""
    import jax

    if not jax.config.read("jax_enable_x64"):
        jax.config.update("jax_enable_x64", True)


#: Set to ``0`` (or ``off``, ``false``, ``no``) to keep fits from turning on the persistent
#: compilation cache.
COMPILATION_CACHE_ENV = "BAYES_SCALING_COMPILATION_CACHE"
#: Most megabytes each of the two on-disk caches (JAX's compiled programs; the stored sampler
#: programs of :mod:`bayes_scaling.inference.exported`) may hold; the oldest entries go first
#: (by modification time: a stored program's load touches it, a compiled program's does not).
#: Every package version (and JAX version) keys new entries, so without a limit the folders
#: only grow.
CACHE_LIMIT_ENV = "BAYES_SCALING_CACHE_MAX_MB"
DEFAULT_CACHE_LIMIT_MB = 1024


def cache_limit_bytes() -> int:
    """The size limit of each on-disk cache in bytes: ``$BAYES_SCALING_CACHE_MAX_MB`` megabytes
    (default 1024), or -1 (no limit) for ``-1``. Raises ValueError naming the fix otherwise."""
    raw = os.environ.get(CACHE_LIMIT_ENV, "").strip()
    if not raw:
        return DEFAULT_CACHE_LIMIT_MB * 2**20
    try:
        mb = float(raw)
    except ValueError:
        mb = math.nan
    if mb == -1:
        return -1
    if not (math.isfinite(mb) and mb > 0):
        raise ValueError(f"${CACHE_LIMIT_ENV}={raw!r} is not a size: give megabytes > 0 (e.g. "
                         f"{CACHE_LIMIT_ENV}=512), or -1 for no limit")
    return int(mb * 2**20)


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


_TMP_MAX_AGE_S = 3600.0


def prune_files(folder: str, *, suffix: str, limit: int, keep: str | None = None,
                tmp_prefix: str | None = None) -> list[str]:
    """Delete the files of ``folder`` named ``*<suffix>``, oldest (modification time) first,
    until the rest fit in ``limit`` bytes (-1: no limit), never ``keep``; and files named
    ``<tmp_prefix>*`` older than an hour. Returns the deleted paths; files that vanish or cannot
    be removed are skipped (the caches are an optimisation: pruning never raises)."""
    import time

    entries, removed = [], []
    try:
        it = list(os.scandir(folder))
    except OSError:
        return removed
    now = time.time()
    for e in it:
        try:
            if not e.is_file():
                continue
            st = e.stat()
        except OSError:
            continue
        if tmp_prefix and e.name.startswith(tmp_prefix):
            if now - st.st_mtime > _TMP_MAX_AGE_S and _unlink(e.path):
                removed.append(e.path)
        elif e.name.endswith(suffix):
            entries.append((st.st_mtime, st.st_size, e.path))
    if limit < 0:
        return removed
    total = sum(size for _, size, _ in entries)
    for _, size, path in sorted(entries):  # oldest first
        if total <= limit:
            break
        if path != keep and _unlink(path):
            total -= size
            removed.append(path)
    return removed


def _unlink(path: str) -> bool:
    try:
        os.unlink(path)
        return True
    except OSError:
        return False


def enable_compilation_cache(path: str | os.PathLike | None = None) -> str:
    """Keep compiled samplers on disk so that a fresh process skips most of the compile time.

    JAX's persistent compilation cache, under ``path`` (default: ``$BAYES_SCALING_CACHE_DIR`` or
    ``~/.cache/bayes_scaling``, sub-folder ``jax``). Every fit turns it on with the default
    folder (:func:`default_compilation_cache`; opt out with
    ``BAYES_SCALING_COMPILATION_CACHE=0``); call this first to put it elsewhere. Measured in
    ``benchmarks/RESULTS.md`` (cold and warm cache).

    Each of the two caches is kept under ``$BAYES_SCALING_CACHE_MAX_MB`` megabytes (default
    1024; :func:`cache_limit_bytes`): here, once per process, the oldest compiled programs are
    deleted until the rest fit (a process may add more before the next one prunes).

    Returns the cache folder.
    """
    import jax

    if path is None:
        root = os.environ.get("BAYES_SCALING_CACHE_DIR") or os.path.join(
            os.path.expanduser("~"), ".cache", "bayes_scaling")
        path = os.path.join(root, "jax")
    path = os.fspath(path)
    limit = cache_limit_bytes()
    os.makedirs(path, exist_ok=True)
    # pruned here, once per process: JAX's own limit (jax_compilation_cache_max_size) lists the
    # whole folder under a file lock at every write, which made the cold test suite 5m16s -> 7m30s
    prune_files(path, suffix="-cache", limit=limit)
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
        ``"auto"`` is ``"vectorized"`` (see the :mod:`bayes_scaling.inference.nuts` docstring:
        same seed, same draws in every process); ``"parallel"`` runs one chain per device and
        must be asked for.
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
