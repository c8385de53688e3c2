"""Where a ``bayes-scaling`` subcommand writes: output-location checks, staged writes, tables.

Owns the checks of every output location, made before any work (:func:`check_output_file`,
:func:`check_output_dir`, :func:`check_distinct`), the staged multi-file writes that leave the
destinations untouched on any error (:func:`staged_outputs`), and writing or printing a result
table (:func:`write_csv`, :func:`print_table`).

Nothing here imports pandas at import time.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from bayes_scaling.cli.common import PROG, CliInputError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = [
    "check_distinct",
    "check_output_dir",
    "check_output_file",
    "print_table",
    "staged_outputs",
    "write_csv",
]


# ------------------------------------------------------------------------------- path checks


def _check_parent(p: Path, argument: str, value: object) -> None:
    parent = p.parent
    if not parent.exists():
        raise CliInputError(argument, value, f"folder {str(parent)!r} does not exist",
                            "create it first, or write elsewhere")
    if not parent.is_dir():
        raise CliInputError(argument, value, f"{str(parent)!r} is not a folder",
                            "give a path inside an existing folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise CliInputError(argument, value, f"folder {str(parent)!r} is not writable",
                            "write to a folder you can write to")


def check_output_file(path: str | os.PathLike[str], argument: str,
                      suffixes: Sequence[str] = ()) -> Path:
    """A file location that can be written: parent exists and is writable, not a folder.

    Parameters
    ----------
    path : str or path-like
    argument : str
        The option, for the message (``"--out"``).
    suffixes : sequence of str
        Allowed suffixes (lower case, with the dot); empty: any.

    Examples
    --------
    >>> import tempfile
    >>> d = tempfile.mkdtemp()
    >>> check_output_file(d, "--out")
    Traceback (most recent call last):
    ...
    bayes_scaling.cli.common.CliInputError: --out ...: is a folder. Fix: give a file name ...
    """
    p = Path(path)
    if p.is_dir():
        raise CliInputError(argument, path, "is a folder",
                            "give a file name" + (f" ending in {suffixes[0]}" if suffixes
                                                  else "") + " inside it")
    if suffixes and p.suffix.lower() not in suffixes:
        raise CliInputError(argument, path, f"does not end in {' or '.join(suffixes)}",
                            f"give a file name like out{suffixes[0]}")
    _check_parent(p, argument, path)
    if p.exists() and not os.access(p, os.W_OK):
        raise CliInputError(argument, path, "exists and is not writable",
                            "remove it or write elsewhere")
    return p


def check_output_dir(path: str | os.PathLike[str], argument: str) -> Path:
    """A folder location: an existing writable folder, or a new one in an existing folder."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise CliInputError(argument, path, "is an existing file, not a folder",
                            "give a folder name (it is created if needed)")
    if p.is_dir():
        if not os.access(p, os.W_OK | os.X_OK):
            raise CliInputError(argument, path, "folder is not writable",
                                "write to a folder you can write to")
        return p
    _check_parent(p, argument, path)
    return p


def check_distinct(pairs: Sequence[tuple[str, str | None]]) -> None:
    """No two outputs may be the same file (``--out`` and ``--error-out``, ...)."""
    seen: dict[Path, str] = {}
    for argument, value in pairs:
        if value is None:
            continue
        key = Path(value).resolve()
        if key in seen:
            raise CliInputError(argument, value, f"is also given as {seen[key]}",
                                "give each output its own file")
        seen[key] = argument


# ------------------------------------------------------------------------- staged outputs


class _Stage:
    """Destinations mapped to same-named paths in staging folders beside them."""

    def __init__(self) -> None:
        self._dirs: dict[Path, Path] = {}  # destination parent -> staging folder

    def path(self, dest: str | os.PathLike[str]) -> Path:
        """Where to write ``dest`` (file or folder) for now; moved into place on success."""
        d = Path(dest)
        parent = d.parent.resolve()
        if parent not in self._dirs:
            self._dirs[parent] = Path(tempfile.mkdtemp(prefix=f".{PROG}-", suffix=".staging",
                                                       dir=parent))
        return self._dirs[parent] / d.name

    def commit(self) -> None:
        for parent, staging in self._dirs.items():
            for entry in sorted(staging.iterdir()):
                _move_into(entry, parent / entry.name)

    def cleanup(self) -> None:
        for staging in self._dirs.values():
            shutil.rmtree(staging, ignore_errors=True)


def _move_into(src: Path, dest: Path) -> None:
    if src.is_dir() and dest.is_dir():
        for child in sorted(src.iterdir()):  # merge into an existing folder, file by file
            _move_into(child, dest / child.name)
    else:
        os.replace(src, dest)


@contextmanager
def staged_outputs() -> Iterator[_Stage]:
    """Write outputs to staging folders next to their destinations; move them into place only
    if the block succeeds (same file system, so each move is one rename). On any error the
    destinations are untouched.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> with staged_outputs() as stage:
    ...     _ = stage.path(d / "a.txt").write_text("a")
    ...     (d / "a.txt").exists()
    False
    >>> sorted(p.name for p in d.iterdir())
    ['a.txt']
    """
    stage = _Stage()
    try:
        yield stage
        stage.commit()
    finally:
        stage.cleanup()


# ------------------------------------------------------------------------------------ tables


def print_table(df: pd.DataFrame, title: str | None = None) -> None:
    from bayes_scaling.report.render import display_table

    t = display_table(df)
    widths = [max(len(h), *(len(r[i]) for r in t["rows"])) if t["rows"] else len(h)
              for i, h in enumerate(t["headers"])]
    if title:
        print(title)
    print("  ".join(h.rjust(w) for h, w in zip(t["headers"], widths, strict=True)))
    for row in t["rows"]:
        print("  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)))


def write_csv(df: pd.DataFrame, out: str | None) -> None:
    """Write a table where ``--out`` says (checked before any work), atomically."""
    if out:
        with staged_outputs() as stage:
            df.to_csv(stage.path(out), index=False)
        print(f"wrote {out}", file=sys.stderr)
