"""Writing output files so that they never harm the user's files (a leaf: imports nothing of the
package; pandas only inside :func:`neutralize_csv_cells`).

- :func:`atomic_write_bytes`, :func:`atomic_write_text`: a temporary file in the destination's
  folder, then one ``os.replace``: a failure leaves no half-written file, and a destination that
  is a symbolic link is replaced as a link, never written through.
- :func:`write_csv`: a table written atomically with its text cells neutralised against formula
  injection (:func:`neutralize_csv_cells`).
- :func:`move_into_place`: a folder written fresh (in a staging folder beside it) is renamed into
  place, or merged file by file into an existing real folder; a destination folder that is a
  symbolic link is refused (:func:`check_not_linked_folder`), so nothing is written where it
  points.
- :func:`check_regular_file`: an input path that is a named pipe, a device or a socket is refused
  before it is opened (opening a pipe blocks; a device may never end).
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = [
    "CSV_FORMULA_PREFIXES",
    "atomic_write_bytes",
    "atomic_write_text",
    "check_not_linked_folder",
    "check_regular_file",
    "fresh_folder",
    "move_into_place",
    "neutralize_csv_cells",
    "write_csv",
]

#: First characters that make a spreadsheet read a cell as a formula (OWASP "CSV injection").
CSV_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def check_regular_file(path: str | os.PathLike[str]) -> Path:
    """``path`` if it is a regular file (links followed), else an OSError saying what it is.

    Uses ``os.stat``, which never opens the file: a named pipe would block ``open`` until a
    writer appears, and ``/dev/zero`` never ends.

    Raises
    ------
    FileNotFoundError, IsADirectoryError, OSError
        Missing; a folder; a named pipe, device or socket (``errno`` unset, the message names it).

    Examples
    --------
    >>> import tempfile
    >>> check_regular_file(tempfile.mkdtemp())
    Traceback (most recent call last):
    ...
    IsADirectoryError: ...is a folder, not a file
    """
    p = Path(path)
    try:
        mode = os.stat(p).st_mode
    except FileNotFoundError:
        raise FileNotFoundError(2, "no such file", str(p)) from None
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(f"{p} is a folder, not a file")
    if not stat.S_ISREG(mode):
        what = ("a named pipe (FIFO)" if stat.S_ISFIFO(mode) else
                "a character device" if stat.S_ISCHR(mode) else
                "a block device" if stat.S_ISBLK(mode) else
                "a socket" if stat.S_ISSOCK(mode) else "not a regular file")
        raise OSError(f"{p} is {what}, not a regular file; give the path of a file saved on "
                      "disk (copy a stream to a file first)")
    return p


def _temp_beside(path: Path) -> Path:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    return Path(tmp)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file beside it and one ``os.replace``."""
    path = Path(path)
    tmp = _temp_beside(path)
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | os.PathLike[str], text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_write_bytes`)."""
    return atomic_write_bytes(path, text.encode(encoding))


def neutralize_csv_cells(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` whose *text* cells and column names that begin with ``=``, ``+``, ``-``,
    ``@``, a tab or a carriage return are prefixed with a single quote (the OWASP rule against
    CSV formula injection), so that a spreadsheet shows them as text instead of running them.

    Only strings are changed: numeric cells (``-0.5`` in a float column, or a float inside an
    object column) are numbers, not formulas, and are written as they are, so the table's
    numbers read back unchanged. A text cell that merely looks like a number (the run name
    ``"-1"``) is text and is quoted.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"run_id": ["=1+1", "@sum", "ok", "-x"], "loss": [-0.5, 2.0, 3.0, 1.0]})
    >>> neutralize_csv_cells(t).to_dict("list")
    {'run_id': ["'=1+1", "'@sum", 'ok', "'-x"], 'loss': [-0.5, 2.0, 3.0, 1.0]}
    """
    import pandas as pd

    def fix(v: object) -> object:
        if isinstance(v, str) and v[:1] in CSV_FORMULA_PREFIXES:
            return "'" + v
        return v

    out = df.copy()
    for i in range(out.shape[1]):
        series = out.iloc[:, i]
        if isinstance(series.dtype, pd.CategoricalDtype):
            series = series.astype(object)
        if series.dtype == object or pd.api.types.is_string_dtype(series.dtype):
            out.isetitem(i, series.map(fix))
    out.columns = [fix(c) for c in out.columns]
    return out


def write_csv(df: pd.DataFrame, path: str | os.PathLike[str], **to_csv_kw) -> Path:
    """Write ``df`` as CSV at ``path``: text cells neutralised (:func:`neutralize_csv_cells`),
    written atomically (:func:`atomic_write_text`); ``index=False`` unless given."""
    to_csv_kw.setdefault("index", False)
    return atomic_write_text(path, neutralize_csv_cells(df).to_csv(**to_csv_kw))


def check_not_linked_folder(path: str | os.PathLike[str], what: str = "folder") -> None:
    """Raise OSError if ``path`` is a symbolic link (writing into it would write where it
    points) or an existing non-folder."""
    p = Path(path)
    if p.is_symlink():
        raise OSError(f"{what} {p} is a symbolic link (to {os.readlink(p)}); outputs are never "
                      "written through a link. Give a real folder, or remove the link")
    if p.exists() and not p.is_dir():
        raise OSError(f"{what} {p} is an existing file, not a folder; remove it or give "
                      "another name")


def _check_merge(src: Path, dest: Path) -> None:
    """Everything ``move_into_place(src, dest)`` would do can be done: checked before a move."""
    if src.is_dir():
        check_not_linked_folder(dest)
        if dest.is_dir():
            for child in src.iterdir():
                _check_merge(child, dest / child.name)
    elif dest.is_dir() and not dest.is_symlink():
        raise IsADirectoryError(f"{dest} is a folder; the output file {dest.name} cannot "
                                "replace it. Remove the folder or write elsewhere")


def move_into_place(src: str | os.PathLike[str], dest: str | os.PathLike[str]) -> None:
    """Move the freshly written file or folder ``src`` to ``dest`` (same file system).

    A file replaces ``dest`` in one ``os.replace`` (a link at ``dest`` is replaced, not
    followed). A folder is renamed into place when ``dest`` does not exist, or else merged into
    the existing real folder file by file (other files there are kept). A destination folder
    that is a symbolic link is refused before anything moves.
    """
    src, dest = Path(src), Path(dest)
    _check_merge(src, dest)
    _move(src, dest)


def _move(src: Path, dest: Path) -> None:
    if src.is_dir() and dest.is_dir():
        for child in sorted(src.iterdir()):
            _move(child, dest / child.name)
    else:
        os.replace(src, dest)


@contextmanager
def fresh_folder(dest: str | os.PathLike[str]) -> Iterator[Path]:
    """A new empty folder beside ``dest`` to write into; moved into place
    (:func:`move_into_place`) when the block succeeds, removed when it fails.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp()) / "tables"
    >>> with fresh_folder(d) as tmp:
    ...     _ = (tmp / "a.csv").write_text("x\\n1\\n")
    >>> sorted(p.name for p in d.iterdir())
    ['a.csv']
    """
    import shutil

    dest = Path(dest)
    check_not_linked_folder(dest)
    if not dest.parent.is_dir():
        raise FileNotFoundError(2, "folder does not exist; create it first", str(dest.parent))
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".staging", dir=dest.parent))
    try:
        yield tmp
        move_into_place(tmp, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
