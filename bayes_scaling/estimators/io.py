"""Save and load fits: netCDF DataTree with JSON attrs, written atomically; never pickle.

A file records ``bayes_scaling_kind`` (``LossLaw``, ``ErrorLaw``...), ``file_format``, the
package version and ``draws_sha256``, a SHA-256 checksum of every array it holds (the draws,
sample stats, observed data, coordinates; :func:`draws_checksum`). Loading refuses another
kind, an unknown file format, a file that is not a readable netCDF DataTree, or one whose
arrays no longer match their checksum (flipped bytes, an edited file), with a
:class:`FitFileError` that says what to do. A file written before the checksum existed
(bayes_scaling 0.1 without it) is loaded with a :class:`FitFileWarning`: it cannot be checked,
and saving it again adds the checksum.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["FitFileError", "FitFileWarning", "save_datatree", "load_datatree",
           "check_fit_contents", "draws_checksum", "REQUIRED_ATTRS", "FILE_FORMAT",
           "CHECKSUM_ATTR"]

FILE_FORMAT = 1
#: Root attribute holding :func:`draws_checksum` of the saved tree.
CHECKSUM_ATTR = "draws_sha256"


class FitFileError(ValueError):
    """A saved fit that cannot be loaded (corrupt, another kind, incompatible format)."""


class FitFileWarning(UserWarning):
    """A saved fit that loads but cannot be fully checked (written before checksums)."""


def draws_checksum(dt) -> str:
    """SHA-256 over every variable and coordinate of every group of a DataTree: its path,
    name, dtype kind, shape and values (numbers as little-endian float64/int64 bytes, text as
    UTF-8), so the same tree gives the same checksum before saving and after loading.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> dt = xr.DataTree.from_dict({"posterior": xr.Dataset({"E": (("chain", "draw"),
    ...                                                            np.ones((1, 3)))})})
    >>> a = draws_checksum(dt)
    >>> dt["posterior"]["E"].values[0, 1] = np.inf
    >>> a == draws_checksum(dt)
    False
    """
    import hashlib

    import numpy as np

    h = hashlib.sha256()
    for node in sorted(dt.subtree, key=lambda n: n.path):
        ds = node.to_dataset(inherit=False)
        for name in sorted(map(str, ds.variables)):
            values = np.asarray(ds[name].values)
            kind = values.dtype.kind
            if kind == "b":
                data = values.astype(np.uint8).tobytes()
            elif kind in "iu":
                data = values.astype("<i8").tobytes()
            elif kind == "f":
                data = values.astype("<f8").tobytes()
            elif kind == "c":
                data = values.astype("<c16").tobytes()
            elif kind in "mM":
                data = values.astype("<i8").tobytes()
            else:  # text and objects: their str, NUL-separated
                data = "\0".join(map(str, values.ravel().tolist())).encode("utf-8")
                kind = "U"
            h.update(f"{node.path}/{name}:{kind}:{values.shape}\n".encode())
            h.update(data)
    return h.hexdigest()


def save_datatree(dt, path) -> Path:
    """Write ``dt`` to ``path`` via a temporary file in the same folder and ``os.replace``, so a
    failure never leaves a half-written file."""
    path = Path(path)
    if not path.parent.exists():
        raise FileNotFoundError(f"folder {path.parent} does not exist; create it first")
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder: give a file name such as {path / 'fit.nc'}")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    dt = dt.copy(deep=False)  # the checksum goes into the file, not into the caller's tree
    dt.attrs = {**dt.attrs, CHECKSUM_ATTR: draws_checksum(dt)}
    try:
        dt.to_netcdf(tmp, engine="h5netcdf")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_datatree(path, *, kind: str):
    """Open a fit written by :func:`save_datatree` and check its kind and format."""
    import xarray as xr

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no saved fit at {path}")
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder, not a saved fit: give the .nc file")
    from bayes_scaling._files import check_regular_file

    check_regular_file(path)  # a named pipe or a device: refused before opening (no hang)
    try:
        dt = xr.open_datatree(path, engine="h5netcdf").load()
    except Exception as err:  # h5py/netCDF raise many types for a damaged file
        raise FitFileError(
            f"{path} is not a readable netCDF fit ({type(err).__name__}: {err}); it may be "
            "truncated or corrupt: refit and save again"
        ) from err
    got = dt.attrs.get("bayes_scaling_kind")
    if got is None:
        raise FitFileError(f"{path} was not written by bayes_scaling (no 'bayes_scaling_kind' "
                           "attribute)")
    if got != kind:
        raise FitFileError(f"{path} holds a {got}, not a {kind}; load it with {got}.load()")
    try:
        fmt = int(dt.attrs.get("file_format", -1))
    except (TypeError, ValueError):
        fmt = -1
    if fmt != FILE_FORMAT:
        raise FitFileError(
            f"{path} has file format {fmt} (bayes_scaling {dt.attrs.get('bayes_scaling_version')}),"
            f" this version reads format {FILE_FORMAT}: refit with this version, or install the "
            "version that wrote it"
        )
    check_fit_contents(dt, path=path, kind=kind)
    _check_checksum(dt, path)
    return dt


def _check_checksum(dt, path) -> None:
    import warnings

    recorded = dt.attrs.pop(CHECKSUM_ATTR, None)
    if recorded is None:
        warnings.warn(f"{path} has no checksum of its draws (saved before bayes_scaling "
                      "recorded one), so damage to the file cannot be detected; load it and "
                      "save it again to add one, or refit", FitFileWarning, stacklevel=4)
        return
    if draws_checksum(dt) != str(recorded):
        raise FitFileError(f"{path}: its draws do not match the checksum recorded when it was "
                           "saved: the file is damaged or was edited. Fix: refit and save "
                           "again, or restore the file from a copy")


#: Root attributes each kind of saved fit needs to be loaded and used.
REQUIRED_ATTRS: dict[str, tuple[str, ...]] = {
    "LossLaw": ("law", "loss", "noise", "priors", "sampler", "log_n0", "log_d0"),
    "ErrorLaw": ("law", "error", "loss", "noise", "priors", "sampler", "chance", "n_items"),
    "PooledLossLaw": ("law", "loss", "group_column", "noise", "priors", "sampler", "log_n0",
                      "log_d0"),
    "PooledErrorLaw": ("law", "errors", "loss", "noise", "priors", "sampler", "loss_ref"),
}
_NUMERIC_ATTRS = ("log_n0", "log_d0", "chance", "n_items", "loss_ref")
_REFIT = "refit and save again (the file was edited or written by something else)"


def check_fit_contents(dt, *, path, kind: str) -> None:
    """Check that a loaded DataTree has what a ``kind`` fit needs, else :class:`FitFileError`.

    Checked: the attributes of :data:`REQUIRED_ATTRS` exist (numbers where numbers are
    expected); ``priors`` and ``sampler`` are valid JSON for :class:`~bayes_scaling.Prior` and
    :class:`~bayes_scaling.SamplerConfig`; a non-empty ``posterior`` group with ``chain`` and
    ``draw`` dimensions, and a ``sample_stats`` group with ``diverging`` and ``energy``.

    Raises
    ------
    FitFileError
        Naming the file and what is missing or malformed, never KeyError/AttributeError.
    """
    import json

    from bayes_scaling.inference.config import SamplerConfig
    from bayes_scaling.laws.priors import priors_from_json

    attrs = dt.attrs
    missing = [a for a in REQUIRED_ATTRS.get(kind, ()) if a not in attrs]
    if missing:
        raise FitFileError(f"{path} lacks the attribute(s) {missing} that a {kind} fit records;"
                           f" it cannot be used: {_REFIT}")
    for name in _NUMERIC_ATTRS:
        if name in REQUIRED_ATTRS.get(kind, ()):
            try:
                float(attrs[name])
            except (TypeError, ValueError):
                raise FitFileError(f"{path}: attribute {name!r} should be a number, got "
                                   f"{attrs[name]!r:.60}: {_REFIT}") from None
    for name, parse in (("priors", priors_from_json),
                        ("sampler", lambda t: SamplerConfig(**json.loads(t)))):
        if name not in attrs:
            continue
        try:
            parse(attrs[name])
        except (TypeError, ValueError, AttributeError) as err:
            raise FitFileError(f"{path}: attribute {name!r} is not a valid record of the fit's "
                               f"{name} ({type(err).__name__}: {err}): {_REFIT}") from None
    children = getattr(dt, "children", {})
    if "posterior" not in children:
        raise FitFileError(f"{path} has no 'posterior' group, so there are no draws to predict "
                           f"from: {_REFIT}")
    post = dt["posterior"]
    if not post.data_vars or not {"chain", "draw"} <= set(post.dims):
        raise FitFileError(f"{path}: the 'posterior' group holds no (chain, draw) variables: "
                           f"{_REFIT}")
    if "sample_stats" not in children or not {"diverging", "energy"} <= set(
            dt["sample_stats"].data_vars):
        raise FitFileError(f"{path} has no 'sample_stats' group with 'diverging' and 'energy', "
                           f"needed for the sampler diagnostics: {_REFIT}")
