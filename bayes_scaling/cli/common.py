"""The command line itself, shared by every ``bayes-scaling`` subcommand: exit codes, the
input-error type, option choices, argument types and groups, and what the sampler options mean.

Owns :class:`CliInputError` (exit code 1), the exit codes, the choices of ``--law``, ``--noise``,
``--protocol``, ``--kind`` and ``--chain-method``, the argument types (:func:`parse_count`,
:func:`parse_target`, ...) and the argument groups the subcommands add (``add_*``), and the
sampler side of the options: :func:`sampler_overrides`, :func:`prepare_sampling` and
:func:`check_diagnostics`. Reading inputs (runs, targets, saved fits, the run filter) is in
:mod:`bayes_scaling.cli.inputs`; output-location checks and staged writes in
:mod:`bayes_scaling.cli.outputs`.

Nothing here imports JAX, NumPyro, ArviZ, matplotlib or pandas at import time: ``--help`` and
argument errors must answer in well under a second. Handlers import what they need.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

__all__ = [
    "EXIT_DIAGNOSTICS",
    "EXIT_INPUT",
    "EXIT_INTERNAL",
    "EXIT_BROKEN_PIPE",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "CliInputError",
    "LAW_CHOICES",
    "NOISE_CHOICES",
    "PROG",
    "PROTOCOL_CHOICES",
    "WIDTH",
    "parse_count",
    "parse_target",
    "wrap",
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
#: The reader of standard output went away (``... | head``): 128 + SIGPIPE, as standard tools
#: end; nothing more is printed.
EXIT_BROKEN_PIPE = 141

EXIT_CODES_EPILOG = (
    "exit codes: 0 success; 1 bad input (data, targets, saved fit, paths: the message names "
    "the argument, the value and the fix; nothing is written); 2 bad command line; 3 sampler "
    "diagnostics failed (outputs written; --allow-warnings accepts them); 4 internal error "
    "(a bug: BAYES_SCALING_DEBUG=1 shows the traceback); 130 interrupted; 141 standard "
    "output closed early (e.g. | head)."
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
    add_mapping_options(parser, loss=True)


#: The column-mapping flags and the canonical column each names.
MAPPING_FLAGS: tuple[tuple[str, str], ...] = (
    ("params", "n_params"), ("tokens", "n_tokens"), ("compute", "compute_flops"),
    ("name", "run_id"))


def add_mapping_options(parser: argparse.ArgumentParser, *, loss: bool = False) -> None:
    """``--params``, ``--tokens``, ``--compute``, ``--name`` (and ``--loss``): the columns of a
    runs file, of ``--targets-csv`` and of ``--candidates-csv`` (one vocabulary for every
    table); added once per parser."""
    if "--params" in parser._option_string_actions:
        return
    mapping = parser.add_argument_group(
        "columns of a runs, targets or candidates file (default: the canonical names "
        "n_params, n_tokens, compute_flops, run_id, loss or loss_<eval>; a flag applies to "
        "each file that has the column)")
    mapping.add_argument("--params", metavar="COLUMN", help="parameter counts N")
    mapping.add_argument("--tokens", metavar="COLUMN", help="training tokens D")
    mapping.add_argument("--compute", metavar="COLUMN", help="training FLOPs C (C = 6ND)")
    mapping.add_argument("--name", metavar="COLUMN",
                         help="run names (unique), carried as run_id to every output")
    if loss:
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
                             "tokens_per_param, optional run_id (names); other column names "
                             "map with --params/--tokens/--compute/--name")
    add_mapping_options(parser)


def ci_label(p: float) -> str:
    """The label of an interval level, exact enough to tell levels apart: 0.9 -> '90%',
    0.899 -> '89.9%', 0.975 -> '97.5%'.

    Examples
    --------
    >>> ci_label(0.9), ci_label(0.899), ci_label(0.5), ci_label(0.9999)
    ('90%', '89.9%', '50%', '99.99%')
    """
    return f"{round(p * 100, 8):g}%"


#: Fewest posterior draws beyond each end of an equal-tailed interval for its bound to be
#: estimated at all (a quantile with fewer draws past it is one draw's value).
MIN_TAIL_DRAWS = 5


def check_ci_probs(probs: list[float], n_draws: int, argument: str = "--ci-prob") -> list[float]:
    """The distinct levels in order; refuses a level whose tails hold fewer than
    :data:`MIN_TAIL_DRAWS` of ``n_draws`` draws, naming the largest level the draws support.

    Examples
    --------
    >>> check_ci_probs([0.9, 0.5, 0.9], 400)
    [0.5, 0.9]
    >>> check_ci_probs([0.9999], 400)
    Traceback (most recent call last):
    ...
    bayes_scaling.cli.common.CliInputError: --ci-prob '0.9999': a 99.99% interval needs at ...
    """
    levels = sorted(set(probs))
    largest = 1.0 - 2.0 * MIN_TAIL_DRAWS / n_draws
    for p in levels:
        if n_draws * (1.0 - p) / 2.0 < MIN_TAIL_DRAWS:
            needed = int(2 * MIN_TAIL_DRAWS / (1.0 - p)) + 1
            fix = (f"give {argument} at most {largest:.4g}" if largest > 0 else
                   "refit with more draws")
            raise CliInputError(
                argument, f"{p:g}", f"a {ci_label(p)} interval needs at least "
                f"{MIN_TAIL_DRAWS} posterior draws beyond each end, about {needed} draws in "
                f"all; the fit has {n_draws}", f"{fix}, or refit with more draws (`fit "
                f"--draws`: about {needed} over all chains)")
    return levels


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


# ----------------------------------------------------------------------------- sampler options


def sampler_overrides(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, key in (("chains", "num_chains"), ("warmup", "num_warmup"),
                      ("draws", "num_samples"), ("target_accept", "target_accept_prob"),
                      ("chain_method", "chain_method")):
        value = getattr(args, name, None)
        if value is not None:
            out[key] = value
    return out


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


#: Terminal width every printed line fits (tables are split into column blocks, prose wrapped).
WIDTH = 100


def wrap(message: str) -> str:
    """``message`` wrapped to :data:`WIDTH` columns; words (paths, flags) are never split."""
    import textwrap

    return "\n".join(textwrap.fill(line, WIDTH, subsequent_indent="  ", break_long_words=False,
                                    break_on_hyphens=False) for line in message.split("\n"))


def check_diagnostics(label: str, diag: Any, args: argparse.Namespace) -> int:
    """Print failed checks; the exit code they earn."""
    if diag.ok:
        return EXIT_OK
    print(wrap(f"{PROG}: warning: {label} sampler diagnostics failed:\n{diag}"), file=sys.stderr)
    if args.allow_warnings:
        return EXIT_OK
    print(f"{PROG}: error: failed diagnostics (exit {EXIT_DIAGNOSTICS}); sample longer "
          "(--warmup/--draws), raise --target-accept, or pass --allow-warnings to accept",
          file=sys.stderr)
    return EXIT_DIAGNOSTICS


def add_error_law_option(group) -> None:
    """``--error-law``: the error law's form (fit and report)."""
    group.add_argument("--error-law", choices=("sigmoid", "exponential", "auto"), default=None,
                       help="error law's form (default: exponential for gadre2024's err_avg17, "
                            "which it extrapolated best; sigmoid otherwise; auto: chosen per "
                            "fit by leave-future-out)")
