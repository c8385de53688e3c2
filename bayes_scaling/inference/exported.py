"""Sampler programs kept on disk as :mod:`jax.export` artefacts, so a fresh process skips tracing.

Why
---
JAX's persistent compilation cache (:func:`~bayes_scaling.inference.config.enable_compilation_cache`)
keeps *compiled* programs, but every fresh process still traces the vectorised NUTS program
(``vmap`` of NumPyro's ``while_loop``/``scan``) before it can look the compiled one up: that
tracing was most of a warm-cache first fit (``benchmarks/RESULTS.md``). A runner's programs
(``init``, one ``step`` per chunk length, ``finish``) are therefore exported
(:func:`jax.export.export`: StableHLO plus the argument and result types) and written here, next
to the compilation cache; a fresh process reads them back, compiles them (a compilation cache
hit) and samples, without tracing the model or the sampler.

What a stored program is keyed by
---------------------------------
:func:`bundle_key` hashes everything the traced program depends on: the model's key, a
fingerprint of the model function itself (:func:`model_fingerprint`: its closure, walked; code
outside this package disables the store for that model), the sampler settings, the chain
method, the argument shapes and dtypes, the program names, the JAX / jaxlib / NumPyro versions,
the JAX settings that change a trace (float64, PRNG implementation, matmul precision), the
device platform, and a hash of this package's source files (:func:`code_fingerprint`: any edit
of the package invalidates every stored program). A file whose header, key or checksums do not
match, or whose programs do not take the arguments of the fit, is ignored and rewritten after
tracing (:func:`load_bundle` never raises).

No pickle: a bundle is a JSON header and the programs' own serialisation
(:meth:`jax.export.Exported.serialize`). Files are written atomically (a temporary file, then
:func:`os.replace`), so concurrent processes see a whole file or none.

The folder is ``<jax compilation cache folder>/bayes_scaling_runners``; there is no store when the
compilation cache is off (``BAYES_SCALING_COMPILATION_CACHE=0``, or no folder chosen).

Size
----
Every edit of the package, and every JAX or NumPyro version, keys new bundles (~260 KB each,
one per model, sampler setting and number of runs), so the folder would only grow. After each
write it is pruned to ``$BAYES_SCALING_CACHE_MAX_MB`` (default 1024 MB;
:func:`~bayes_scaling.inference.config.cache_limit_bytes`): the bundles least recently used
(a load touches its file) are deleted first, never the one just written; temporary files left by
a process that died mid-write are deleted after an hour.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import struct
import tempfile
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["bundle_key", "code_fingerprint", "load_bundle", "model_fingerprint", "prune",
           "save_bundle", "store_dir"]

#: Version of the bundle layout and of the programs' calling convention (bump on a change).
FORMAT = 1
_MAGIC = b"BAYES_SCALING_RUNNERS\n"
_SUBDIR = "bayes_scaling_runners"
_PACKAGE = "bayes_scaling"
# JAX settings that change what a trace produces
_JAX_FLAGS = ("jax_enable_x64", "jax_default_prng_impl", "jax_threefry_partitionable",
              "jax_default_matmul_precision", "jax_numpy_rank_promotion",
              "jax_numpy_dtype_promotion")


class _Unpersistable(Exception):
    """The model holds something whose identity cannot be fingerprinted."""


def store_dir() -> str | None:
    """The folder of stored programs, or None when the compilation cache is off."""
    import jax

    from bayes_scaling.inference.config import COMPILATION_CACHE_ENV

    if os.environ.get(COMPILATION_CACHE_ENV, "").strip().lower() in ("0", "off", "false", "no"):
        return None
    cache = jax.config.jax_compilation_cache_dir
    return os.path.join(os.fspath(cache), _SUBDIR) if cache else None


@functools.cache
def code_fingerprint() -> str:
    """sha256 of this package's ``.py`` files (paths and contents), the versions of JAX, jaxlib
    and NumPyro and the bundle format."""
    import jax
    import jaxlib
    import numpyro

    root = Path(__file__).resolve().parents[1]
    h = hashlib.sha256(json.dumps([FORMAT, jax.__version__, jaxlib.__version__,
                                   numpyro.__version__]).encode())
    for p in sorted(root.rglob("*.py")):
        h.update(p.relative_to(root).as_posix().encode() + b"\0")
        h.update(p.read_bytes() + b"\0")
    return h.hexdigest()


def _fingerprint(obj: Any, depth: int = 0) -> Any:
    """A JSON-able description of ``obj``'s identity; raises :class:`_Unpersistable`."""
    if depth > 40:
        raise _Unpersistable("too deep")
    d = depth + 1
    if obj is None or isinstance(obj, bool | int | str):
        return obj
    if isinstance(obj, float):
        return ["float", repr(obj)]
    if isinstance(obj, np.generic):
        return ["np", str(obj.dtype), repr(obj.item())]
    if isinstance(obj, np.ndarray):
        return ["ndarray", str(obj.dtype), list(obj.shape),
                hashlib.sha256(np.ascontiguousarray(obj).tobytes()).hexdigest()]
    if isinstance(obj, tuple | list | frozenset | set):
        items = [_fingerprint(v, d) for v in obj]
        if isinstance(obj, frozenset | set):
            items = sorted(items, key=json.dumps)
        return [type(obj).__name__, items]
    if isinstance(obj, Mapping):
        return ["map", sorted(([_fingerprint(k, d), _fingerprint(v, d)] for k, v in obj.items()),
                              key=json.dumps)]
    if isinstance(obj, functools.partial):
        return ["partial", _fingerprint(obj.func, d), _fingerprint(obj.args, d),
                _fingerprint(obj.keywords, d)]
    if isinstance(obj, types.FunctionType):
        module = obj.__module__ or ""
        if module != _PACKAGE and not module.startswith(_PACKAGE + "."):
            # its code is not covered by code_fingerprint()
            raise _Unpersistable(f"function {module}.{obj.__qualname__}")
        cells = [_fingerprint(c.cell_contents, d) for c in (obj.__closure__ or ())]
        return ["fn", module, obj.__qualname__, cells, _fingerprint(obj.__defaults__, d),
                _fingerprint(obj.__kwdefaults__, d), _fingerprint(dict(obj.__dict__), d)]
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        cls = type(obj)
        if not cls.__module__.startswith(_PACKAGE):
            raise _Unpersistable(f"dataclass {cls.__module__}.{cls.__qualname__}")
        return ["dc", cls.__module__, cls.__qualname__,
                [[f.name, _fingerprint(getattr(obj, f.name), d)] for f in dataclasses.fields(obj)]]
    raise _Unpersistable(f"{type(obj).__module__}.{type(obj).__qualname__}")


def model_fingerprint(model: Any) -> str | None:
    """sha256 of the model function's identity (its module, name and closure, walked), or None
    when it holds code from outside this package or objects that cannot be described."""
    try:
        desc = _fingerprint(model)
    except (_Unpersistable, TypeError, ValueError):
        return None
    return hashlib.sha256(json.dumps(desc).encode()).hexdigest()


def _plain(x: Any) -> bool:
    if x is None or isinstance(x, bool | int | float | str):
        return True
    return isinstance(x, tuple | list) and all(_plain(v) for v in x)


def bundle_key(model: Any, model_key: Any, config: Mapping[str, Any], method: str,
               shapes: Any, names: list[str]) -> str | None:
    """The store key of one runner's programs, or None when they must not be stored (a model
    key that is not plain data, a model that cannot be fingerprinted)."""
    import jax

    if not _plain(model_key):
        return None
    fp = model_fingerprint(model)
    if fp is None:
        return None
    flags = {}
    for name in _JAX_FLAGS:
        try:
            flags[name] = str(jax.config.read(name))
        except (AttributeError, KeyError, ValueError):  # pragma: no cover - flag gone
            flags[name] = None
    dev = jax.devices()[0]
    payload = [FORMAT, code_fingerprint(), fp, repr(model_key), dict(config), method,
               repr(shapes), names, flags, dev.platform, getattr(dev, "device_kind", "")]
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=repr).encode()).hexdigest()


def _path(folder: str, key: str) -> str:
    return os.path.join(folder, f"{key}.runner")


def save_bundle(folder: str, key: str, programs: Mapping[str, Any]) -> bool:
    """Write ``programs`` (name -> :class:`jax.export.Exported`) atomically; False when the
    folder is not writable (the store is an optimisation: a failure never stops a fit)."""
    try:
        blobs = {name: bytes(exp.serialize()) for name, exp in programs.items()}
    except ImportError:  # jax's serialisation needs flatbuffers (a dependency of this package)
        return False
    header = json.dumps({"format": FORMAT, "key": key,
                         "programs": [{"name": n, "size": len(b),
                                       "sha256": hashlib.sha256(b).hexdigest()}
                                      for n, b in blobs.items()]}).encode()
    tmp = None
    try:
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".runner")
        with os.fdopen(fd, "wb") as f:
            f.write(_MAGIC + struct.pack("<Q", len(header)) + header)
            for b in blobs.values():
                f.write(b)
        os.replace(tmp, _path(folder, key))
        prune(folder, keep=_path(folder, key))
        return True
    except OSError:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
        return False


def prune(folder: str, *, limit: int | None = None, keep: str | None = None) -> list[str]:
    """Delete the least recently used bundles of ``folder`` until the rest fit in ``limit``
    bytes (default :func:`~bayes_scaling.inference.config.cache_limit_bytes`; -1: no limit),
    never ``keep``; and temporary files older than an hour. Returns the deleted paths (files
    another process removed first, or that cannot be removed, are skipped)."""
    from bayes_scaling.inference.config import cache_limit_bytes, prune_files

    limit = cache_limit_bytes() if limit is None else int(limit)
    return prune_files(folder, suffix=".runner", limit=limit, keep=keep, tmp_prefix=".tmp-")


def load_bundle(folder: str, key: str) -> dict[str, Any] | None:
    """The programs stored under ``key``, or None if absent, unreadable or not intact. A
    load marks the bundle as used (its modification time), for :func:`prune`."""
    from jax import export

    try:
        with open(_path(folder, key), "rb") as f:
            data = f.read()
    except OSError:
        return None
    try:
        os.utime(_path(folder, key))
    except OSError:  # a read-only store still serves its programs
        pass
    try:
        if not data.startswith(_MAGIC):
            return None
        at = len(_MAGIC)
        (n,) = struct.unpack_from("<Q", data, at)
        at += 8
        header = json.loads(data[at:at + n])
        at += n
        if header.get("format") != FORMAT or header.get("key") != key:
            return None
        out = {}
        for entry in header["programs"]:
            blob = data[at:at + entry["size"]]
            at += entry["size"]
            if len(blob) != entry["size"] or hashlib.sha256(blob).hexdigest() != entry["sha256"]:
                return None
            out[entry["name"]] = export.deserialize(bytearray(blob))
        return out if at == len(data) else None
    except Exception:  # noqa: BLE001 - any damage means "not stored": trace instead
        return None
