"""Where a ``bayes-scaling`` subcommand writes: output-location checks, staged writes, tables.

Owns the checks of every output location, made before any work (:func:`check_output_file`,
:func:`check_output_dir`, :func:`check_markdown_output`, :func:`check_distinct`,
:func:`check_not_inputs`: an output that is an input after resolving links is refused), the
staged multi-file writes that leave the destinations untouched on any error
(:func:`staged_outputs`: folders are written fresh and moved into place, never through a
symbolic link), and writing or printing a result table (:func:`write_csv`, which quotes text
cells a spreadsheet would run as formulas; :func:`print_table`, which fits 100 columns).

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

from bayes_scaling.cli.common import PROG, WIDTH, CliInputError, wrap

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = [
    "check_distinct",
    "check_markdown_output",
    "check_not_inputs",
    "check_output_dir",
    "check_output_file",
    "print_table",
    "say",
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
    """A folder location: an existing writable folder, or a new one in an existing folder;
    never a symbolic link (writing into it would overwrite the files where it points)."""
    p = Path(path)
    if p.is_symlink():
        raise CliInputError(argument, path, f"is a symbolic link (to {os.readlink(p)}); "
                            "outputs are never written through a link",
                            "give the real folder, or a new folder name")
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


def check_markdown_output(path: str | os.PathLike[str], argument: str = "--markdown") -> Path:
    """A Markdown report location and its figure folder ``<stem>_figures`` beside it (an
    existing real folder or a new one; not a file, not a symbolic link)."""
    md = check_output_file(path, argument, (".md",))
    figures = md.parent / f"{md.stem}_figures"
    if figures.is_symlink():
        raise CliInputError(argument, path, f"its figure folder {figures} is a symbolic link "
                            f"(to {os.readlink(figures)}); figures are never written through "
                            "a link", "remove the link, or pick another Markdown name")
    if figures.exists() and not figures.is_dir():
        raise CliInputError(argument, path, f"its figure folder {figures} is an existing file",
                            "remove that file or pick another name")
    return md


def _same_file(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """True when two paths name one file after resolving links (or are hard links of it)."""
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist yet
        return False


def check_not_inputs(outputs: Sequence[tuple[str, str | None]],
                     inputs: Sequence[tuple[str, str | None]]) -> None:
    """No output may be one of the inputs (after resolving links): writing it would replace
    the input. Outputs that are folders are checked for inputs directly inside them at the
    commit of :func:`staged_outputs` (see :meth:`_Stage.protect`).

    Examples
    --------
    >>> check_not_inputs([("--out", "t.csv")], [("--targets-csv", "./t.csv")])
    Traceback (most recent call last):
    ...
    bayes_scaling.cli.common.CliInputError: --out 't.csv': is the input given as --targets-csv ...
    """
    for out_arg, out in outputs:
        if out is None:
            continue
        for in_arg, src in inputs:
            if src is not None and _same_file(out, src):
                raise CliInputError(out_arg, out, f"is the input given as {in_arg} "
                                    f"({src}); writing it would replace the input",
                                    f"give {out_arg} another file name")


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
        self._protected: list[tuple[str, str]] = []

    def path(self, dest: str | os.PathLike[str]) -> Path:
        """Where to write ``dest`` (file or folder) for now; moved into place on success."""
        d = Path(dest)
        parent = d.parent.resolve()
        if parent not in self._dirs:
            self._dirs[parent] = Path(tempfile.mkdtemp(prefix=f".{PROG}-", suffix=".staging",
                                                       dir=parent))
        return self._dirs[parent] / d.name

    def protect(self, inputs: Sequence[tuple[str, str | None]]) -> None:
        """Inputs (argument, path) that no file moved into place may replace."""
        self._protected += [(a, str(p)) for a, p in inputs if p is not None]

    def _destinations(self, src: Path, dest: Path) -> Iterator[tuple[Path, Path]]:
        if src.is_dir() and dest.is_dir() and not dest.is_symlink():
            for child in src.iterdir():
                yield from self._destinations(child, dest / child.name)
        else:
            yield src, dest

    def commit(self) -> None:
        from bayes_scaling._files import move_into_place

        moves = [(entry, parent / entry.name) for parent, staging in self._dirs.items()
                 for entry in sorted(staging.iterdir())]
        # every check before the first move: all of them or none
        for entry, dest in moves:
            if entry.is_dir() and dest.is_symlink():
                raise CliInputError("output folder", str(dest), "is a symbolic link; outputs "
                                    "are never written through a link",
                                    "remove the link or write elsewhere")
            for _, final in self._destinations(entry, dest):
                for argument, src in self._protected:
                    if _same_file(final, src):
                        raise CliInputError(argument, src, f"would be replaced by the output "
                                            f"{final}", "move the input, or write the outputs "
                                            "to another folder")
        for entry, dest in moves:
            move_into_place(entry, dest)

    def cleanup(self) -> None:
        for staging in self._dirs.values():
            shutil.rmtree(staging, ignore_errors=True)


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


def say(message: str, *, file=None) -> None:
    """Print a message wrapped to :data:`WIDTH` columns (continuation lines indented), to
    stderr unless ``file`` is given."""
    print(wrap(message), file=sys.stderr if file is None else file)



def _blocks(widths: Sequence[int], keep: int) -> list[list[int]]:
    """Column blocks that each fit :data:`WIDTH` with the first ``keep`` columns repeated."""
    head = list(range(min(keep, len(widths))))
    used = sum(widths[i] + 2 for i in head)
    blocks: list[list[int]] = []
    current: list[int] = []
    width = used
    for i in range(len(head), len(widths)):
        if current and width + widths[i] > WIDTH:
            blocks.append(head + current)
            current, width = [], used
        current.append(i)
        width += widths[i] + 2
    if current or not blocks:
        blocks.append(head + current)
    return blocks


def print_table(df: pd.DataFrame, title: str | None = None, *, keep: int = 1) -> None:
    """Print a table within :data:`WIDTH` columns: a wider one is split into blocks of columns,
    each repeating the first ``keep`` columns (the row's key), like pandas does."""
    from bayes_scaling.report.render import display_table

    t = display_table(df)
    widths = [max(len(h), *(len(r[i]) for r in t["rows"])) if t["rows"] else len(h)
              for i, h in enumerate(t["headers"])]
    if title:
        print(wrap(title))
    blocks = _blocks(widths, keep)
    for b, cols in enumerate(blocks):
        if b:
            print()
        print("  ".join(t["headers"][i].rjust(widths[i]) for i in cols).rstrip())
        for row in t["rows"]:
            print("  ".join(row[i].rjust(widths[i]) for i in cols).rstrip())


def write_csv(df: pd.DataFrame, out: str | None,
              inputs: Sequence[tuple[str, str | None]] = ()) -> None:
    """Write a table where ``--out`` says (checked before any work), atomically, its text
    cells neutralised against formula injection (:func:`bayes_scaling._files.write_csv`);
    ``inputs`` are never replaced."""
    from bayes_scaling._files import write_csv as write_safe_csv

    if out:
        with staged_outputs() as stage:
            stage.protect(inputs)
            write_safe_csv(df, stage.path(out))
        say(f"wrote {out}")
