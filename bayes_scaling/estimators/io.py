"""Save and load fits: netCDF DataTree with JSON attrs, written atomically; never pickle.

A file records ``bayes_scaling_kind`` (``LossLaw``, ``ErrorLaw``...), ``file_format`` and the
package version. Loading refuses another kind, an unknown file format, or a file that is not a
readable netCDF DataTree, with a :class:`FitFileError` that says what to do.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["FitFileError", "save_datatree", "load_datatree", "FILE_FORMAT"]

FILE_FORMAT = 1


class FitFileError(ValueError):
    """A saved fit that cannot be loaded (corrupt, another kind, incompatible format)."""


def save_datatree(dt, path) -> Path:
    """Write ``dt`` to ``path`` via a temporary file in the same folder and ``os.replace``, so a
    failure never leaves a half-written file."""
    path = Path(path)
    if not path.parent.exists():
        raise FileNotFoundError(f"folder {path.parent} does not exist; create it first")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
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
    fmt = int(dt.attrs.get("file_format", -1))
    if fmt != FILE_FORMAT:
        raise FitFileError(
            f"{path} has file format {fmt} (bayes_scaling {dt.attrs.get('bayes_scaling_version')}),"
            f" this version reads format {FILE_FORMAT}: refit with this version, or install the "
            "version that wrote it"
        )
    return dt
