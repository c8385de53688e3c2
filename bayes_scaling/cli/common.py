"""Pieces every ``bayes-scaling`` subcommand shares: exit codes, argument types and groups,
input and output-location checks, staged multi-file writes, the run filter.

Nothing here imports JAX, NumPyro, ArviZ, matplotlib or pandas at import time: ``--help`` and
argument errors must answer in well under a second. Handlers import what they need.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = [
    "EXIT_DIAGNOSTICS",
    "EXIT_INPUT",
    "EXIT_INTERNAL",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "CliInputError",
    "LAW_CHOICES",
    "NOISE_CHOICES",
    "PROG",
    "PROTOCOL_CHOICES",
    "check_input_file",
    "check_output_dir",
    "check_output_file",
    "filter_runs",
    "parse_count",
    "parse_target",
    "staged_outputs",
]

PROG = "bayes-scaling"

#: Exit codes (also in the ``--help`` epilog and :mod:`bayes_scaling.cli`).
EXIT_OK = 0
#: Bad input: data, dataset, targets, saved fit, a path that cannot be read or written.
EXIT_INPUT = 1
#: Bad command line (argparse's convention).
EXIT_USAGE = 2
#: Sampler diagnostics failed and ``--allow-warnings`` was not given (outputs are written).
EXIT_DIAGNOSTICS = 3
#: An internal error: a bug in bayes_scaling (set ``BAYES_SCALING_DEBUG=1`` for the traceback).
EXIT_INTERNAL = 4
#: Interrupted (Ctrl-C); nothing partial is left at the destinations.
EXIT_INTERRUPTED = 130

EXIT_CODES_EPILOG = (
    "exit codes: 0 success; 1 bad input (data, targets, saved fit, paths: the message names "
    "the argument, the value and the fix; nothing is written); 2 bad command line; 3 sampler "
    "diagnostics failed (outputs written; --allow-warnings accepts them); 4 internal error "
    "(a bug: BAYES_SCALING_DEBUG=1 shows the traceback); 130 interrupted."
)

# Choices spelled out here so that building the parser imports no JAX; a test checks that they
# equal the library's (laws.forms.LOSS_LAWS, models.core.NOISE_MODELS, evaluate.splits.PROTOCOLS).
LAW_CHOICES: tuple[str, ...] = ("chinchilla", "gadre")
NOISE_CHOICES: tuple[str, ...] = ("mixture", "student_t", "normal")
PROTOCOL_CHOICES: tuple[str, ...] = (
    "paper", "paper_all_below", "compute_cutoff", "leave_largest_out")
KIND_CHOICES: tuple[str, ...] = ("new_run", "law_mean")
CHAIN_METHODS: tuple[str, ...] = ("vectorized", "parallel")

#: Largest seed: JAX's PRNGKey takes a 32-bit unsigned seed without folding.
MAX_SEED = 2**32 - 1


class CliInputError(ValueError):
    """A command-line value that parses but cannot be used (exit code 1).

    Parameters
    ----------
    argument : str
        The option or positional argument (``"--out"``, ``"FIT.nc"``).
    value : object
        What the user gave.
    problem : str
        What is wrong.
    fix : str
        What to do instead.

    Examples
    --------
    >>> print(CliInputError("--out", "runs/", "is a folder", "give a file name, e.g. fit.nc"))
    --out 'runs/': is a folder. Fix: give a file name, e.g. fit.nc
    """

    def __init__(self, argument: str, value: object, problem: str, fix: str) -> None:
        self.argument, self.value, self.problem, self.fix = argument, value, problem, fix
        shown = "" if value is None else f" {str(value)!r}"
        super().__init__(f"{argument}{shown}: {problem}. Fix: {fix}")


# ------------------------------------------------------------------------------ argument types

_SUFFIXES = {"k": 1e3, "m": 1e6, "b": 1e9, "g": 1e9, "t": 1e12, "p": 1e15}


def parse_count(text: str) -> float:
    """A positive count, optionally with a K/M/B/T suffix: ``"1.4B"`` -> 1.4e9.

    Examples
    --------
    >>> parse_count("1.4B"), parse_count("2.9e10"), parse_count("300M")
    (1400000000.0, 29000000000.0, 300000000.0)
    """
    s = text.strip().replace("_", "")
    mult = 1.0
    if s and s[-1].lower() in _SUFFIXES:
        mult = _SUFFIXES[s[-1].lower()]
        s = s[:-1]
    try:
        value = float(s) * mult
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a number (use e.g. 1.4e9 or 1.4B)") from None
    if not (value > 0 and value < float("inf")):
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive finite number")
    return value


def parse_target(text: str) -> tuple[float, float]:
    """``"N:D"`` (parameters : training tokens) -> ``(n_params, n_tokens)``.

    Examples
    --------
    >>> parse_target("1.4B:28B")
    (1400000000.0, 28000000000.0)
    """
    parts = text.split(":")
    if len(parts) != 2:
        raise argparse.ArgumentTypeError(
            f"target {text!r} must be N:D, parameters:tokens (e.g. 1.4e9:2.9e10 or 1.4B:29B)")
    return parse_count(parts[0]), parse_count(parts[1])


def probability_arg(text: str) -> float:
    """A probability strictly between 0 and 1 (``--ci-prob``, ``--target-accept``)."""
    try:
        p = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number (e.g. 0.9)") from None
    if not 0.0 < p < 1.0:
        raise argparse.ArgumentTypeError(f"{text!r} must lie strictly between 0 and 1, e.g. 0.9")
    return p


def float_arg(text: str) -> float:
    """A finite number."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise argparse.ArgumentTypeError(f"{text!r} must be a finite number")
    return value


def seed_arg(text: str) -> int:
    """An integer seed in ``[0, 2**32 - 1]``."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer seed (e.g. 0)") from None
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"seed {text} must lie in [0, {MAX_SEED}]")
    return value


def positive_int_arg(text: str) -> int:
    """A positive integer (chains, draws)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive integer") from None
    if value < 1 or value > 10**7:
        raise argparse.ArgumentTypeError(f"{text} must be a positive integer up to 1e7")
    return value


def nonneg_int_arg(text: str) -> int:
    """A non-negative integer (warm-up iterations)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 0 or value > 10**7:
        raise argparse.ArgumentTypeError(f"{text} must be an integer in [0, 1e7]")
    return value


# ----------------------------------------------------------------------------- argument groups


def add_data_options(parser: argparse.ArgumentParser) -> None:
    """``--data-dir``, ``--offline`` and the column mapping of a runs file (``--loss`` etc.)."""
    parser.add_argument("--data-dir", metavar="DIR",
                        help="folder holding <name>/ raw files (searched first; gadre2024 is "
                             "also shipped in the package)")
    parser.add_argument("--offline", action="store_true",
                        help="never download; fail if the data is not local")
    mapping = parser.add_argument_group(
        "columns of a runs file (default: the canonical names n_params, n_tokens, "
        "compute_flops, loss or loss_<eval>)")
    mapping.add_argument("--params", metavar="COLUMN", help="parameter counts N")
    mapping.add_argument("--tokens", metavar="COLUMN", help="training tokens D")
    mapping.add_argument("--compute", metavar="COLUMN", help="training FLOPs C (C = 6ND)")
    mapping.add_argument("--loss", metavar="COLUMN",
                         help="the loss column to model, as named in the file or dataset "
                              "(default loss_c4_val, else the only loss column)")


def add_source_options(parser: argparse.ArgumentParser, *, selection: bool = True) -> None:
    """The runs source, data options and run selection."""
    parser.add_argument("source", metavar="DATASET_OR_FILE",
                        help="registered dataset name (see `datasets`) or a .csv/.tsv runs file")
    add_data_options(parser)
    select = parser.add_argument_group("run selection")
    select.add_argument("--dataset-filter", metavar="NAME",
                        help="keep one training corpus (value of the dataset column)")
    if selection:
        select.add_argument("--max-params", type=parse_count, metavar="N",
                            help="fit on runs with n_params < N; larger runs are held out")
    select.add_argument("--query", metavar="EXPR",
                        help="keep the runs matching EXPR, e.g. \"tokens_per_param <= 80\"")


def add_law_options(parser: argparse.ArgumentParser) -> None:
    """Law, noise model, seed and sampler settings."""
    law = parser.add_argument_group("law and sampler")
    law.add_argument("--law", choices=LAW_CHOICES, help="loss law (default gadre)")
    law.add_argument("--noise", choices=NOISE_CHOICES, help="noise model on log loss")
    add_seed_option(law)
    law.add_argument("--chains", type=positive_int_arg, help="NUTS chains (default 4)")
    law.add_argument("--warmup", type=nonneg_int_arg,
                     help="warm-up iterations per chain (default 1000)")
    law.add_argument("--draws", type=positive_int_arg, help="kept draws per chain (default 1000)")
    law.add_argument("--target-accept", type=probability_arg,
                     help="NUTS target acceptance probability (default 0.95)")
    law.add_argument("--chain-method", choices=CHAIN_METHODS, default="vectorized",
                     help="'vectorized' (default): chains side by side on one device, the "
                          "same draws as LossLaw.fit(seed=...); 'parallel': one CPU device "
                          "per chain (faster on several cores; rounds differently, so draws "
                          "differ in the last digits and then along the chain)")
    law.add_argument("--no-progress", action="store_true", help="no progress bar")
    law.add_argument("--allow-warnings", action="store_true",
                     help="exit 0 even when sampler diagnostics fail (outputs are written "
                          "either way)")
    parser.set_defaults(samples=True)


def add_seed_option(parser: argparse.ArgumentParser | argparse._ArgumentGroup,
                    what: str = "random seed") -> None:
    parser.add_argument("--seed", type=seed_arg, default=0, help=f"{what} (default 0)")


def add_target_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--target", type=parse_target, action="append", metavar="N:D",
                        help="a planned run, parameters:tokens (e.g. 1.4B:29B); repeatable")
    parser.add_argument("--targets-csv", metavar="FILE",
                        help="CSV of targets: n_params,n_tokens or compute_flops,"
                             "tokens_per_param")


def add_kind_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kind", choices=KIND_CHOICES, default="new_run",
                        help="'new_run' (default): what a new run at the target would measure "
                             "(parameter uncertainty, run-to-run scatter, measurement error); "
                             "'law_mean': the band of the law's mean")


def add_fit_argument(parser: argparse.ArgumentParser, *, error: bool = True) -> None:
    parser.add_argument("fit", metavar="FIT.nc", help="posterior saved by `fit`")
    if error:
        parser.add_argument("--error-fit", metavar="ERR.nc",
                            help="error-law posterior saved by `fit --error-out`")
    parser.add_argument("--allow-warnings", action="store_true",
                        help="exit 0 even when the saved fit's diagnostics failed")


def add_csv_out(parser: argparse.ArgumentParser, what: str = "the table") -> None:
    parser.add_argument("--out", metavar="FILE.csv", help=f"also write {what} as CSV")


# ------------------------------------------------------------------------------- path checks


def check_input_file(path: str | os.PathLike[str], argument: str) -> Path:
    """An existing, readable file (not a folder); raises :class:`CliInputError` otherwise."""
    p = Path(path)
    if p.is_dir():
        raise CliInputError(argument, path, "is a folder, not a file", "give the file's path")
    if not p.exists():
        raise CliInputError(argument, path, "no such file", "check the path")
    try:
        with p.open("rb") as f:
            f.read(1)
    except OSError as err:
        raise CliInputError(argument, path, f"cannot be read ({err.strerror or err})",
                            "check the file's permissions") from err
    return p


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


# ------------------------------------------------------------------------------ runs helpers


def filter_runs(runs: pd.DataFrame, expr: str | None, argument: str = "--query") -> pd.DataFrame:
    """The runs matching a user's filter expression; every ``--query`` goes through here.

    The expression is parsed by the package's filter grammar
    (:mod:`bayes_scaling.data.filters`: columns, comparisons, numbers, quoted strings,
    ``and``/``or``/``not``, parentheses, ``in [...]``) and applied by boolean indexing; it is
    never evaluated as code.

    Raises
    ------
    CliInputError
        A malformed expression, or one that keeps no run.
    """
    from bayes_scaling.data.filters import FilterError
    from bayes_scaling.data.filters import filter_runs as apply_filter

    if expr is None:
        return runs
    if not expr.strip():
        raise CliInputError(argument, expr, "is empty", 'give an expression such as '
                            '"tokens_per_param <= 80", or leave the option out')
    try:
        kept = apply_filter(runs, expr)
    except FilterError as err:
        # the grammar's message spans lines (position, example); the CLI says it on one
        raise CliInputError(argument, expr, f"is not a valid filter ({' '.join(str(err).split())})",
                            "compare columns with numbers or quoted strings, e.g. "
                            "\"dataset == 'rpj' and n_params < 1e9\"") from err
    if len(kept) == 0:
        raise CliInputError(argument, expr, f"keeps none of the {len(runs)} runs",
                            "loosen the expression")
    return kept


def column_mapping(args: argparse.Namespace) -> dict[str, str]:
    """``load_runs`` keyword arguments from ``--params/--tokens/--compute/--loss``."""
    pairs = (("params", args.params), ("tokens", args.tokens), ("compute", args.compute),
             ("loss", args.loss))
    return {k: v for k, v in pairs if v is not None}


def load_source_runs(args: argparse.Namespace) -> pd.DataFrame:
    """The runs of ``args.source``: a registered dataset or a runs file, checked first."""
    from bayes_scaling.data import list_datasets
    from bayes_scaling.report.presets import load_source

    source = args.source
    if source not in list_datasets():
        if not Path(source).suffix and not Path(source).exists():
            raise CliInputError("DATASET_OR_FILE", source, "unknown dataset, and no such file",
                                f"give a registered dataset ({', '.join(list_datasets())}) or "
                                "the path of a .csv/.tsv runs file")
        check_input_file(source, "DATASET_OR_FILE")
    mapping = column_mapping(args)
    if source in list_datasets():
        mapping = {}  # registered datasets have canonical columns; --loss picks one below
    return load_source(source, data_dir=args.data_dir, offline=args.offline, mapping=mapping)


def loss_column(runs: pd.DataFrame, args: argparse.Namespace, default: str | None = None) -> str:
    """The loss column to model: ``--loss`` (its name after loading), else ``default``, else
    ``loss_c4_val`` or the only loss column."""
    from bayes_scaling.data import loss_columns

    have = loss_columns(runs.columns)
    wanted = args.loss
    if wanted is not None:
        if wanted in runs.columns:
            return wanted
        # a file column mapped by load_runs: 'val_loss' -> 'loss_val'
        from bayes_scaling.data.tables import _loss_column_name

        mapped = _loss_column_name(wanted)
        if mapped in runs.columns:
            return mapped
        raise CliInputError("--loss", wanted, "is not a column of the runs",
                            f"give one of {', '.join(have) or '(none: add a loss column)'}")
    if default is not None and default in runs.columns:
        return default
    if "loss_c4_val" in have:
        return "loss_c4_val"
    if len(have) == 1:
        return have[0]
    if not have:
        raise CliInputError("--loss", None, "the runs have no loss column",
                            "name the file's loss column with --loss COLUMN")
    raise CliInputError("--loss", None, f"the runs have {len(have)} loss columns",
                        f"choose one with --loss, e.g. --loss {have[0]}")


def check_error_column(runs: pd.DataFrame, column: str | None, argument: str = "--error") -> None:
    if column is None:
        return
    from bayes_scaling.data import error_columns

    if column not in runs.columns:
        have = error_columns(runs.columns)
        raise CliInputError(argument, column, "is not a column of the runs",
                            "give one of " + (", ".join(have[:6]) + (" ..." if len(have) > 6
                                                                     else "")
                                              if have else "(none: the runs have no err_ "
                                              "column)"))
    if runs[column].notna().sum() < 3:
        raise CliInputError(argument, column, "has fewer than 3 values in the selected runs",
                            "select more runs or another error column")


def sampler_overrides(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, key in (("chains", "num_chains"), ("warmup", "num_warmup"),
                      ("draws", "num_samples"), ("target_accept", "target_accept_prob"),
                      ("chain_method", "chain_method")):
        value = getattr(args, name, None)
        if value is not None:
            out[key] = value
    return out


def read_targets(args: argparse.Namespace, *, required: bool = True) -> pd.DataFrame | None:
    """Targets from repeated ``--target N:D`` and/or ``--targets-csv``."""
    import pandas as pd

    from bayes_scaling.data.targets import resolve_targets

    frames = []
    if getattr(args, "target", None):
        frames.append(pd.DataFrame(args.target, columns=["n_params", "n_tokens"]))
    if getattr(args, "targets_csv", None):
        path = check_input_file(args.targets_csv, "--targets-csv")
        try:
            table = pd.read_csv(path)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
            raise CliInputError("--targets-csv", args.targets_csv, f"cannot be parsed ({err})",
                                "give a CSV with columns n_params,n_tokens") from err
        for column in ("n_params", "n_tokens", "compute_flops", "tokens_per_param"):
            if column in table.columns and not pd.api.types.is_numeric_dtype(table[column]):
                numbers = pd.to_numeric(table[column], errors="coerce")
                bad = table.loc[numbers.isna() & table[column].notna(), column]
                if len(bad):
                    raise CliInputError(
                        "--targets-csv", args.targets_csv,
                        f"column {column!r} holds {str(bad.iloc[0])!r} (row {bad.index[0]}), "
                        "not a number", "write plain numbers such as 1.4e9 (no K/M/B suffixes)")
        frames.append(table)
    if not frames:
        if required:
            raise CliInputError("--target", None, "no targets given",
                                "give --target N:D (repeatable) or --targets-csv FILE with "
                                "n_params,n_tokens (or compute_flops,tokens_per_param)")
        return None
    # each source is resolved on its own: one may give sizes, the other compute and ratio
    return pd.concat([resolve_targets(f) for f in frames], ignore_index=True)


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


def check_diagnostics(label: str, diag: Any, args: argparse.Namespace) -> int:
    """Print failed checks; the exit code they earn."""
    if diag.ok:
        return EXIT_OK
    print(f"{PROG}: warning: {label} sampler diagnostics failed:\n{diag}", file=sys.stderr)
    if args.allow_warnings:
        return EXIT_OK
    print(f"{PROG}: error: failed diagnostics (exit {EXIT_DIAGNOSTICS}); sample longer "
          "(--warmup/--draws), raise --target-accept, or pass --allow-warnings to accept",
          file=sys.stderr)
    return EXIT_DIAGNOSTICS


def load_model(args: argparse.Namespace) -> tuple[Any, int]:
    """The saved loss law (with the error law when ``--error-fit``) and the diagnostics' exit
    code."""
    check_input_file(args.fit, "FIT.nc")
    if getattr(args, "error_fit", None):
        check_input_file(args.error_fit, "--error-fit")
    from bayes_scaling.estimators.loss_law import LossLaw

    law = LossLaw.load(args.fit)
    code = check_diagnostics("loss-law", law.diagnostics(warn=False), args)
    if getattr(args, "error_fit", None):
        from bayes_scaling.estimators.error_law import ErrorLaw
        from bayes_scaling.predict.predictor import ScalingPredictor

        err = ErrorLaw.load(args.error_fit)
        code = max(code, check_diagnostics("error-law", err.diagnostics(warn=False), args))
        return ScalingPredictor(law, err), code
    return law, code


def prepare_sampling(args: argparse.Namespace) -> None:
    """Before the first JAX computation: CPU devices for ``--chain-method parallel``, and say
    which chain method runs (never chosen silently)."""
    chains = args.chains or 4
    if args.chain_method == "parallel":
        import warnings

        import jax

        from bayes_scaling.inference.config import set_cpu_devices

        with warnings.catch_warnings():  # too late inside a program that already used JAX:
            warnings.simplefilter("ignore")  # checked just below instead
            set_cpu_devices(max(4, chains))
        if jax.local_device_count() < chains:
            raise CliInputError("--chain-method", "parallel",
                                f"needs {chains} devices, JAX has {jax.local_device_count()} "
                                "(it was started before this command could add CPU devices)",
                                "use --chain-method vectorized, or run the command in a fresh "
                                "process")
    print(f"{PROG}: {chains} chains, chain method {args.chain_method!r}", file=sys.stderr)
