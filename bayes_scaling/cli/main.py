"""The ``bayes-scaling`` command.

Each subcommand is one ``_add_<name>(subparsers)`` function that declares its arguments and sets
``handler``; :func:`main` parses, dispatches and turns known input errors into exit codes:

- 0: success;
- 1: bad data, dataset, targets or saved fit (:class:`~bayes_scaling.data.RunsError`,
  :class:`~bayes_scaling.data.DatasetError`, :class:`~bayes_scaling.estimators.io.FitFileError`, missing
  file, ...), message on stderr;
- 2: bad command line (argparse's convention);
- 3: sampler diagnostics failed (R-hat, ESS, divergences, BFMI) and ``--allow-warnings`` was not
  given; the outputs are written anyway (a report carries a warning banner).

Subcommands: ``datasets``, ``fit``, ``predict``, ``query {probability, compute-to-target,
optimal-allocation}``, ``report`` (``backtest`` comes with issue 7).

Examples
--------
>>> main(["datasets"])  # doctest: +SKIP
0
>>> main(["fit", "gadre2024", "--out", "fit.nc"])  # doctest: +SKIP
0
>>> main(["query", "probability", "fit.nc", "--target", "1.4B:29B",  # doctest: +SKIP
...       "--below", "2.8"])
0
>>> main(["report", "gadre2024", "--out", "report.html"])  # doctest: +SKIP
0
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bayes_scaling.data import (
    DatasetError,
    RunsError,
    data_hash,
    dataset_info,
    error_columns,
    list_datasets,
    load_dataset,
    load_runs,
    loss_columns,
)
from bayes_scaling.data.targets import TargetError
from bayes_scaling.estimators.io import FitFileError
from bayes_scaling.estimators.loss_law import NotFittedError
from bayes_scaling.inference.nuts import Diagnostics
from bayes_scaling.laws.forms import LOSS_LAWS
from bayes_scaling.models.core import NOISE_MODELS

__all__ = ["build_parser", "main"]

PROG = "bayes-scaling"

Handler = Callable[[argparse.Namespace], int]


def _range(values: pd.Series, fmt: str) -> str:
    lo, hi = values.min(), values.max()
    return format(lo, fmt) if lo == hi else f"{lo:{fmt}} .. {hi:{fmt}}"


def summarize_runs(runs: pd.DataFrame, title: str) -> str:
    """Plain-text summary of a runs table: runs per dataset, size and token-ratio ranges, columns.

    Parameters
    ----------
    runs : pandas.DataFrame
        A validated runs table.
    title : str
        First word of the first line (dataset name or file).

    Returns
    -------
    str

    Examples
    --------
    >>> import pandas as pd
    >>> from bayes_scaling.data import load_runs
    >>> runs = load_runs(pd.DataFrame({"N": [1e8, 4e8], "D": [2e9, 8e9], "loss": [3.1, 2.8]}),
    ...                  params="N", tokens="D", loss="loss")
    >>> print(summarize_runs(runs, "demo").splitlines()[0])
    demo: 2 runs in 1 dataset
    """
    groups = runs.groupby("dataset", sort=True)
    rows = [
        (
            str(name),
            str(len(group)),
            str(group["n_params"].nunique()),
            _range(group["n_params"], ".3g"),
            _range(group["tokens_per_param"], ".3g"),
            _range(group["compute_flops"], ".2e"),
        )
        for name, group in groups
    ]
    header = ("dataset", "runs", "sizes", "n_params", "tokens_per_param", "compute_flops")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        padded = [
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(padded).rstrip()

    n_sets = runs["dataset"].nunique()
    out = [f"{title}: {len(runs)} runs in {n_sets} dataset{'s' if n_sets != 1 else ''}"]
    out += ["  " + line(header)] + ["  " + line(r) for r in rows]
    losses = loss_columns(runs.columns)
    out.append(f"loss columns ({len(losses)}): {', '.join(losses) if losses else 'none'}")
    errors = error_columns(runs.columns)
    averages = [c for c in errors if c.startswith("err_avg")]
    tasks = len(errors) - len(averages)
    if errors:
        out.append(
            f"error columns: {tasks} per-task err_<task>"
            + (f"; averages: {', '.join(averages)}" if averages else "")
        )
    else:
        out.append("error columns: none")
    out.append(f"data hash: {data_hash(runs)}")
    return "\n".join(out)


def _cmd_datasets(args: argparse.Namespace) -> int:
    if args.summary is None:
        names = list_datasets()
        width = max(len(n) for n in names)
        for name in names:
            info = dataset_info(name)
            print(f"{name.ljust(width)}  {info.description}")
            print(f"{''.ljust(width)}  source: github.com/{info.repository} @ {info.commit[:7]}")
        return 0
    target = args.summary
    if target in list_datasets():
        runs = load_dataset(target, data_dir=args.data_dir, download=not args.offline)
    elif Path(target).suffix:
        mapping = {
            key: value
            for key, value in (
                ("params", args.params),
                ("tokens", args.tokens),
                ("compute", args.compute),
                ("loss", args.loss),
            )
            if value is not None
        }
        runs = load_runs(target, **mapping)
    else:
        raise DatasetError(
            f"unknown dataset {target!r}. Registered: {', '.join(list_datasets())}; "
            "or give a .csv/.tsv/.parquet file of runs."
        )
    print(summarize_runs(runs, target))
    return 0


def _add_datasets(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "datasets",
        help="list registered datasets or summarize one",
        description=(
            "List the registered datasets, or with --summary print a runs summary of a dataset "
            "(downloaded once into the cache if needed) or of a runs file."
        ),
    )
    parser.add_argument(
        "--summary",
        metavar="NAME_OR_FILE",
        help="registered dataset name, or a .csv/.tsv/.parquet runs file",
    )
    parser.add_argument("--data-dir", help="folder holding <name>/ (searched first)")
    parser.add_argument(
        "--offline", action="store_true", help="never download; fail if the data is not local"
    )
    mapping = parser.add_argument_group("column mapping for a runs file (see load_runs)")
    mapping.add_argument("--params", help="column with parameter counts (default n_params)")
    mapping.add_argument("--tokens", help="column with training tokens")
    mapping.add_argument("--compute", help="column with training FLOPs")
    mapping.add_argument("--loss", help="loss column")
    parser.set_defaults(handler=_cmd_datasets)


# ---------------------------------------------------------------------------------------------
# Shared pieces of the fitting, prediction and report subcommands
# ---------------------------------------------------------------------------------------------

#: Exit code when sampler diagnostics fail (and ``--allow-warnings`` was not given).
EXIT_DIAGNOSTICS = 3

_SUFFIXES = {"k": 1e3, "m": 1e6, "b": 1e9, "g": 1e9, "t": 1e12, "p": 1e15}


class CliInputError(ValueError):
    """A command-line value that parses but makes no sense (reported with exit code 1)."""


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


def _probability_arg(text: str) -> float:
    try:
        p = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 < p < 1.0:
        raise argparse.ArgumentTypeError(f"{text!r} must lie in (0, 1), e.g. 0.9")
    return p


def _float_arg(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None


def _add_source_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", metavar="DATASET_OR_CSV",
                        help="registered dataset name (see `datasets`) or a runs file")
    parser.add_argument("--data-dir", help="folder holding <name>/ (searched first)")
    parser.add_argument("--offline", action="store_true",
                        help="never download; fail if the data is not local")
    mapping = parser.add_argument_group("column mapping for a runs file (see load_runs)")
    mapping.add_argument("--params", help="column with parameter counts (default n_params)")
    mapping.add_argument("--tokens", help="column with training tokens")
    mapping.add_argument("--compute", help="column with training FLOPs")
    mapping.add_argument("--loss-column", help="the file's loss column (mapped to loss_<name>)")
    select = parser.add_argument_group("run selection")
    select.add_argument("--dataset-filter", metavar="NAME",
                        help="fit one training corpus (value of the dataset column)")
    select.add_argument("--max-params", type=parse_count, metavar="N",
                        help="fit on runs with n_params < N; larger runs are held out")
    select.add_argument("--query", metavar="EXPR",
                        help="extra pandas query on the runs, e.g. \"tokens_per_param <= 80\"")


def _add_law_options(parser: argparse.ArgumentParser) -> None:
    law = parser.add_argument_group("law and sampler")
    law.add_argument("--law", choices=sorted(LOSS_LAWS), help="loss law (default gadre)")
    law.add_argument("--loss", metavar="COLUMN",
                     help="loss column to model (default loss_c4_val or the only loss column)")
    law.add_argument("--noise", choices=list(NOISE_MODELS), help="noise model on log loss")
    law.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    law.add_argument("--chains", type=int, help="NUTS chains (default 4)")
    law.add_argument("--warmup", type=int, help="warm-up iterations per chain (default 1000)")
    law.add_argument("--draws", type=int, help="kept draws per chain (default 1000)")
    law.add_argument("--target-accept", type=_probability_arg,
                     help="NUTS target acceptance probability (default 0.95)")
    law.add_argument("--no-progress", action="store_true", help="no progress bar")
    law.add_argument("--allow-warnings", action="store_true",
                     help="exit 0 even when sampler diagnostics fail (outputs are written "
                          "either way)")
    parser.set_defaults(samples=True)


def _use_cpu_devices(args: argparse.Namespace) -> None:
    """Run chains in parallel on CPU (one XLA device per chain) and keep compiled samplers in
    JAX's persistent cache.

    Measured on 2 busy cores: the error law's fit takes 9 s instead of 17 s cold, 1.6 s instead
    of 4.7 s warm. It only works before JAX's first computation, hence the silence when it is
    too late.
    """
    import warnings

    from bayes_scaling.inference.nuts import enable_compilation_cache, set_cpu_devices

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        set_cpu_devices(max(4, args.chains or 4))
    # compiled samplers persist on disk ($BAYES_SCALING_CACHE_DIR or ~/.cache/bayes_scaling):
    # a second run of the command skips most of the compile time
    enable_compilation_cache()


def _sampler(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, key in (("chains", "num_chains"), ("warmup", "num_warmup"),
                      ("draws", "num_samples"), ("target_accept", "target_accept_prob")):
        value = getattr(args, name, None)
        if value is not None:
            out[key] = value
    return out


def _mapping(args: argparse.Namespace) -> dict[str, str]:
    pairs = (("params", args.params), ("tokens", args.tokens), ("compute", args.compute),
             ("loss", args.loss_column))
    return {k: v for k, v in pairs if v is not None}


def _select(args: argparse.Namespace) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, str]:
    """Load the source and apply the selection (with the dataset's preset defaults)."""
    from bayes_scaling.report.presets import load_source, preset_for, select_runs

    preset = preset_for(args.source)
    runs = load_source(args.source, data_dir=args.data_dir, offline=args.offline,
                       mapping=_mapping(args))
    dataset_filter = args.dataset_filter
    max_params = args.max_params
    if dataset_filter is None and max_params is None and preset.description:
        dataset_filter, max_params = preset.dataset_filter, preset.max_params
        print(f"{PROG}: {preset.description}", file=sys.stderr)
    fit, held, desc = select_runs(runs, dataset_filter=dataset_filter, max_params=max_params,
                                  query=args.query)
    return runs, fit, held, desc


def _targets(args: argparse.Namespace, *, required: bool = True) -> pd.DataFrame | None:
    """Targets from repeated ``--target N:D`` and/or ``--targets-csv``."""
    from bayes_scaling.data.targets import resolve_targets

    frames = []
    if args.target:
        frames.append(pd.DataFrame(args.target, columns=["n_params", "n_tokens"]))
    if getattr(args, "targets_csv", None):
        path = Path(args.targets_csv)
        if not path.exists():
            raise FileNotFoundError(f"no targets file at {path}")
        frames.append(pd.read_csv(path))
    if not frames:
        if required:
            raise CliInputError("no targets: give --target N:D (repeatable) or --targets-csv "
                                "FILE with n_params,n_tokens (or compute_flops,tokens_per_param)")
        return None
    # each source is resolved on its own: one may give sizes, the other compute and ratio
    return pd.concat([resolve_targets(f) for f in frames], ignore_index=True)


def _add_target_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--target", type=parse_target, action="append", metavar="N:D",
                        help="a planned run, parameters:tokens (e.g. 1.4B:29B); repeatable")
    parser.add_argument("--targets-csv", metavar="FILE",
                        help="CSV of targets: n_params,n_tokens or compute_flops,"
                             "tokens_per_param")


def _check_diagnostics(label: str, diag: Diagnostics, args: argparse.Namespace) -> int:
    """Print failed checks; the exit code they earn."""
    if diag.ok:
        return 0
    print(f"{PROG}: warning: {label} sampler diagnostics failed:\n{diag}", file=sys.stderr)
    if args.allow_warnings:
        return 0
    print(f"{PROG}: error: failed diagnostics (exit {EXIT_DIAGNOSTICS}); sample longer "
          "(--warmup/--draws), raise --target-accept, or pass --allow-warnings to accept",
          file=sys.stderr)
    return EXIT_DIAGNOSTICS


def _load_model(args: argparse.Namespace) -> tuple[Any, int]:
    """The saved loss law (with the error law when ``--error-fit``) and the diagnostics' exit
    code."""
    from bayes_scaling.estimators.loss_law import LossLaw

    law = LossLaw.load(args.fit)
    code = _check_diagnostics("loss-law", law.diagnostics(warn=False), args)
    if getattr(args, "error_fit", None):
        from bayes_scaling.estimators.error_law import ErrorLaw
        from bayes_scaling.predict.predictor import ScalingPredictor

        err = ErrorLaw.load(args.error_fit)
        code = max(code, _check_diagnostics("error-law", err.diagnostics(warn=False), args))
        return ScalingPredictor(law, err), code
    return law, code


def _print_table(df: pd.DataFrame, title: str | None = None) -> None:
    from bayes_scaling.report.render import display_table

    t = display_table(df)
    widths = [max(len(h), *(len(r[i]) for r in t["rows"])) if t["rows"] else len(h)
              for i, h in enumerate(t["headers"])]
    if title:
        print(title)
    print("  ".join(h.rjust(w) for h, w in zip(t["headers"], widths, strict=True)))
    for row in t["rows"]:
        print("  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)))


def _write_csv(df: pd.DataFrame, out: str | None) -> None:
    if out:
        path = Path(out)
        if not path.parent.exists():
            raise FileNotFoundError(f"folder {path.parent} does not exist; create it first")
        df.to_csv(path, index=False)
        print(f"wrote {path}", file=sys.stderr)


# ---------------------------------------------------------------------------------------------
# fit
# ---------------------------------------------------------------------------------------------


def _cmd_fit(args: argparse.Namespace) -> int:
    from bayes_scaling.estimators.loss_law import LossLaw
    from bayes_scaling.report.presets import preset_for, resolve_loss

    preset = preset_for(args.source)
    _, fit_runs, _, desc = _select(args)
    loss = resolve_loss(fit_runs, args.loss or preset.loss)
    kw: dict[str, Any] = {"loss": loss, "sampler": _sampler(args)}
    if args.noise:
        kw["noise"] = args.noise
    law = LossLaw(args.law or preset.law, **kw)
    print(f"fitting the {law.law} law to {desc}", file=sys.stderr)
    law.fit(fit_runs, seed=args.seed, progress=not args.no_progress, warn=False)
    law.save(args.out)
    print(f"wrote {args.out}", file=sys.stderr)
    _print_table(law.summary(ci_prob=0.9).reset_index(), "posterior (90% intervals):")
    if law.diagnostics(warn=False).ok:
        print(f"diagnostics: {law.diagnostics(warn=False)}")
    code = _check_diagnostics("loss-law", law.diagnostics(warn=False), args)
    if args.error is not None:
        from bayes_scaling.estimators.error_law import ErrorLaw

        if not args.error_out:
            raise CliInputError("--error needs --error-out FILE for the error-law fit")
        if args.error not in fit_runs.columns:
            raise CliInputError(f"runs have no error column {args.error!r}")
        err_runs = fit_runs[fit_runs[args.error].notna()]
        err_kw: dict[str, Any] = {"error": args.error, "loss": loss, "sampler": _sampler(args),
                                  "data_dir": args.data_dir}
        if args.error_chance is not None:
            err_kw["chance"] = args.error_chance
        err = ErrorLaw("exponential", **err_kw).fit(err_runs, seed=args.seed + 1,
                                                     progress=not args.no_progress, warn=False)
        err.save(args.error_out)
        print(f"wrote {args.error_out}", file=sys.stderr)
        _print_table(err.summary(ci_prob=0.9).reset_index(), "error law (90% intervals):")
        code = max(code, _check_diagnostics("error-law", err.diagnostics(warn=False), args))
    return code


def _add_fit(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "fit", help="fit a loss law (and optionally an error law) and save the posterior",
        description="Fit a Bayesian loss law by NUTS to a dataset or runs file and save the "
                    "posterior as netCDF (LossLaw.save). gadre2024 defaults to the RedPajama "
                    "runs under 1e9 parameters.")
    _add_source_options(parser)
    _add_law_options(parser)
    parser.add_argument("--out", required=True, metavar="FILE.nc", help="posterior file")
    err = parser.add_argument_group("downstream error law")
    err.add_argument("--error", metavar="COLUMN", help="also fit an error law on this column "
                     "(e.g. err_avg17)")
    err.add_argument("--error-out", metavar="FILE.nc", help="error-law posterior file")
    err.add_argument("--error-chance", type=_probability_arg,
                     help="chance-level error of a column that is not Gadre et al.'s")
    parser.set_defaults(handler=_cmd_fit)


# ---------------------------------------------------------------------------------------------
# predict
# ---------------------------------------------------------------------------------------------


def _cmd_predict(args: argparse.Namespace) -> int:
    model, code = _load_model(args)
    targets = _targets(args)
    from bayes_scaling.predict.queries import predictive_draws

    quantities = ["loss"] + (["error"] if args.error_fit else [])
    frames = []
    for q in quantities:
        draws = predictive_draws(model, targets, target=q, kind=args.kind, seed=args.seed)
        table = targets[["n_params", "n_tokens", "tokens_per_param", "compute_flops"]].copy()
        table.insert(0, "quantity", q)
        table["median"] = np.median(draws, axis=0)
        for p in sorted(set(args.ci_prob or [0.9])):
            table[f"lower_{p:.0%}"] = np.quantile(draws, (1 - p) / 2, axis=0)
            table[f"upper_{p:.0%}"] = np.quantile(draws, (1 + p) / 2, axis=0)
        frames.append(table)
    out = pd.concat(frames, ignore_index=True)
    _print_table(out, f"predictions ({args.kind}):")
    _write_csv(out, args.out)
    return code


def _add_fit_argument(parser: argparse.ArgumentParser, *, error: bool = True) -> None:
    parser.add_argument("fit", metavar="FIT.nc", help="posterior saved by `fit`")
    if error:
        parser.add_argument("--error-fit", metavar="ERR.nc",
                            help="error-law posterior saved by `fit --error-out`")
    parser.add_argument("--allow-warnings", action="store_true",
                        help="exit 0 even when the saved fit's diagnostics failed")


def _add_predict(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "predict", help="predict loss (and error) at targets from a saved fit",
        description="Posterior predictive medians and intervals at planned runs.")
    _add_fit_argument(parser)
    _add_target_options(parser)
    parser.add_argument("--ci-prob", type=_probability_arg, action="append",
                        help="interval probability, repeatable (default 0.9)")
    parser.add_argument("--kind", choices=["new_run", "law_mean"], default="new_run",
                        help="'new_run': what a new run at the target would measure (default); "
                             "'law_mean': the band of the law's mean")
    parser.add_argument("--seed", type=int, default=0, help="seed of the noise draws")
    parser.add_argument("--out", metavar="FILE.csv", help="also write the table as CSV")
    parser.set_defaults(handler=_cmd_predict)


# ---------------------------------------------------------------------------------------------
# query
# ---------------------------------------------------------------------------------------------


def _cmd_query_probability(args: argparse.Namespace) -> int:
    from bayes_scaling.predict.queries import probability

    if args.below is None and args.above is None:
        raise CliInputError("give --below X and/or --above X")
    model, code = _load_model(args)
    if args.quantity == "error" and not args.error_fit:
        raise CliInputError("--quantity error needs --error-fit ERR.nc")
    out = probability(model, _targets(args), below=args.below, above=args.above,
                      target=args.quantity, kind=args.kind, seed=args.seed)
    _print_table(out, f"P({args.quantity} "
                      + " and ".join(f"{s} {v:g}" for s, v in (("<", args.below),
                                                              (">", args.above))
                                     if v is not None) + f") ({args.kind}):")
    _write_csv(out, args.out)
    return code


def _cmd_query_compute(args: argparse.Namespace) -> int:
    from bayes_scaling.predict.queries import compute_to_target

    model, code = _load_model(args)
    out = compute_to_target(model, loss=args.loss, tokens_per_param=args.tokens_per_param,
                            ci_prob=args.ci_prob)
    _print_table(out, f"compute to reach the loss ({args.ci_prob:.0%} intervals):")
    _write_csv(out, args.out)
    return code


def _cmd_query_allocation(args: argparse.Namespace) -> int:
    from bayes_scaling.predict.queries import optimal_allocation

    model, code = _load_model(args)
    out = optimal_allocation(model, compute_flops=args.compute_flops,
                             max_params=args.max_params,
                             min_tokens_per_param=args.min_tokens_per_param,
                             ci_prob=args.ci_prob)
    _print_table(out, f"loss-optimal allocation ({args.ci_prob:.0%} intervals):")
    _write_csv(out, args.out)
    return code


def _add_query(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "query", help="decision queries on a saved fit",
        description="P(loss < x) at planned runs, compute needed to reach a loss, and the "
                    "compute-optimal (or over-trained) allocation of a budget.")
    queries = parser.add_subparsers(dest="query", metavar="QUERY", required=True)

    prob = queries.add_parser("probability", help="P(loss < below) / P(loss > above)")
    _add_fit_argument(prob)
    _add_target_options(prob)
    prob.add_argument("--below", type=_float_arg, metavar="X", help="P(quantity < X)")
    prob.add_argument("--above", type=_float_arg, metavar="X", help="P(quantity > X)")
    prob.add_argument("--quantity", choices=["loss", "error"], default="loss")
    prob.add_argument("--kind", choices=["new_run", "law_mean"], default="new_run",
                      help="'new_run': what a new run at the target would measure (default); "
                           "'law_mean': the band of the law's mean")
    prob.add_argument("--seed", type=int, default=0)
    prob.add_argument("--out", metavar="FILE.csv")
    prob.set_defaults(handler=_cmd_query_probability)

    comp = queries.add_parser("compute-to-target",
                              help="compute needed to reach a mean loss at fixed M = D/N")
    _add_fit_argument(comp, error=False)
    comp.add_argument("--loss", type=parse_count, action="append", required=True,
                      metavar="X", help="target mean loss (nats/token); repeatable")
    comp.add_argument("--tokens-per-param", type=parse_count, action="append", metavar="M",
                      help="token multiplier; repeatable (default 20)")
    comp.add_argument("--ci-prob", type=_probability_arg, default=0.9)
    comp.add_argument("--out", metavar="FILE.csv")
    comp.set_defaults(handler=_cmd_query_compute, tokens_per_param=None)

    alloc = queries.add_parser("optimal-allocation",
                               help="loss-minimising N and D for a compute budget")
    _add_fit_argument(alloc, error=False)
    alloc.add_argument("--compute-flops", type=parse_count, action="append", required=True,
                       metavar="C", help="budget in FLOPs (C = 6ND); repeatable")
    alloc.add_argument("--max-params", type=parse_count, metavar="N",
                       help="largest model to serve (over-training when it binds)")
    alloc.add_argument("--min-tokens-per-param", type=parse_count, metavar="M",
                       help="train at least M tokens per parameter")
    alloc.add_argument("--ci-prob", type=_probability_arg, default=0.9)
    alloc.add_argument("--out", metavar="FILE.csv")
    alloc.set_defaults(handler=_cmd_query_allocation)


# ---------------------------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------------------------


def _cmd_report(args: argparse.Namespace) -> int:
    import time

    from bayes_scaling.report import make_report, write_report

    start = time.perf_counter()
    if not (args.out or args.markdown or args.csv_dir):
        raise CliInputError("nothing to write: give --out report.html, --markdown and/or "
                            "--csv-dir")
    for p in (args.out, args.markdown):
        if p and not Path(p).parent.exists():
            raise FileNotFoundError(f"folder {Path(p).parent} does not exist; create it first")
    backtest = None
    if args.backtest_csv:
        path = Path(args.backtest_csv)
        if not path.exists():
            raise FileNotFoundError(f"no backtest table at {path}")
        backtest = pd.read_csv(path)
    constraints = {k: v for k, v in (("max_params", args.alloc_max_params),
                                     ("min_tokens_per_param", args.alloc_min_tokens_per_param))
                   if v is not None}
    data = make_report(
        args.source, targets=_targets(args, required=False), thresholds=args.threshold or (),
        dataset_filter=args.dataset_filter, max_params=args.max_params, query=args.query,
        law=args.law, loss=args.loss, error=None if args.no_error else (args.error or "auto"),
        error_chance=args.error_chance, noise=args.noise, seed=args.seed,
        sampler=_sampler(args), budgets=args.budget, allocation_constraints=constraints,
        backtest=backtest, data_dir=args.data_dir, offline=args.offline,
        mapping=_mapping(args), progress=not args.no_progress, title=args.title,
        extra_provenance={"command": " ".join([PROG, *sys.argv[1:]])
                          if args.command_line is None else args.command_line},
    )
    for path in write_report(data, html=args.out, markdown=args.markdown, csv_dir=args.csv_dir):
        if path.suffix != ".png":
            print(f"wrote {path}", file=sys.stderr)
    print(f"report built in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    if data.warnings:
        for w in data.warnings:
            print(f"{PROG}: warning: {w}", file=sys.stderr)
        if not args.allow_warnings:
            print(f"{PROG}: error: failed diagnostics (exit {EXIT_DIAGNOSTICS}); the report "
                  "carries a warning banner. Pass --allow-warnings to accept.", file=sys.stderr)
            return EXIT_DIAGNOSTICS
    return 0


def _add_report(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "report", help="fit and write a self-contained risk report (HTML, Markdown, CSV)",
        description="Fit the loss law (and the downstream error law where the runs have "
                    "err_avg17 or --error), then write a report: data, posterior, diagnostics, "
                    "predictions with 50%% and 90%% intervals at the targets, P(loss < x), "
                    "compute-optimal allocation, provenance. `report gadre2024 --out "
                    "report.html` needs nothing else.")
    _add_source_options(parser)
    _add_law_options(parser)
    _add_target_options(parser)
    out = parser.add_argument_group("outputs")
    out.add_argument("--out", metavar="FILE.html", help="self-contained HTML report")
    out.add_argument("--markdown", metavar="FILE.md",
                     help="Markdown report (figures in FILE_figures/)")
    out.add_argument("--csv-dir", metavar="DIR", help="write every table as CSV here")
    out.add_argument("--title", help="report title")
    q = parser.add_argument_group("questions")
    q.add_argument("--threshold", type=_float_arg, action="append", metavar="X",
                   help="report P(loss < X) at each target and the compute to reach X; "
                        "repeatable")
    q.add_argument("--budget", type=parse_count, action="append", metavar="C",
                   help="compute budget (FLOPs) for the optimal allocation; repeatable "
                        "(default: the targets' compute)")
    q.add_argument("--alloc-max-params", type=parse_count, metavar="N",
                   help="cap model size in the allocation (over-training)")
    q.add_argument("--alloc-min-tokens-per-param", type=parse_count, metavar="M",
                   help="minimum tokens per parameter in the allocation (over-training)")
    q.add_argument("--backtest-csv", metavar="FILE",
                   help="backtest calibration table (columns ci_prob, coverage[, n, target])")
    err = parser.add_argument_group("downstream error law")
    err.add_argument("--error", metavar="COLUMN",
                     help="error column (default err_avg17 when the runs have it)")
    err.add_argument("--no-error", action="store_true", help="no downstream error law")
    err.add_argument("--error-chance", type=_probability_arg,
                     help="chance-level error of a column that is not Gadre et al.'s")
    parser.set_defaults(handler=_cmd_report, command_line=None)


# ---------------------------------------------------------------------------------------------
# backtest
# ---------------------------------------------------------------------------------------------


def _cmd_backtest(args: argparse.Namespace) -> int:
    from bayes_scaling.evaluate.backtest import backtest, coverage
    from bayes_scaling.report.presets import load_source, resolve_loss

    runs = load_source(args.source, data_dir=args.data_dir, offline=args.offline,
                       mapping=_mapping(args))
    if args.dataset_filter:
        runs = runs[runs["dataset"] == args.dataset_filter]
        if runs.empty:
            raise ValueError(f"no runs with dataset == {args.dataset_filter!r}")
    if args.query:
        runs = runs.query(args.query)
    loss = resolve_loss(runs, args.loss)
    options: dict[str, Any] = {}
    if args.cutoff_flops is not None:
        options["cutoff_flops"] = args.cutoff_flops
    kw: dict[str, Any] = {"loss": loss, "law": args.law or "gadre", "seed": args.seed,
                          "sampler": _sampler(args), "error": args.error}
    if args.noise:
        kw["noise"] = args.noise
    print(f"backtest {args.protocol!r} of the {kw['law']} law on {loss}", file=sys.stderr)
    import warnings

    from bayes_scaling.inference.nuts import DiagnosticsWarning

    with warnings.catch_warnings():  # failed fits are counted below, with the exit code
        warnings.simplefilter("ignore", DiagnosticsWarning)
        bt = backtest(runs, args.protocol, **kw, **options)
    cols = [c for c in ("dataset", "target", "column", "n_params", "tokens_per_param", "truth",
                        "median", "rel_error", "lower_90", "upper_90", "covered_90", "fit_ok")
            if c in bt.columns]
    _print_table(bt[cols], "held-out predictions (90% intervals):")
    cov = coverage(bt)
    _print_table(cov, "coverage (nominal vs empirical):")
    _write_csv(bt, args.out)
    if args.coverage_out:
        _write_csv(cov, args.coverage_out)
    failed = int((~bt["fit_ok"].astype(bool)).sum()) if "fit_ok" in bt.columns else 0
    if failed and not args.allow_warnings:
        print(f"{PROG}: {failed} held-out rows come from fits whose sampler diagnostics failed; "
              "rerun with more draws, or pass --allow-warnings", file=sys.stderr)
        return 3
    return 0


def _add_backtest(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from bayes_scaling.evaluate.backtest import PROTOCOLS

    parser = subparsers.add_parser(
        "backtest", help="fit on small runs, predict held-out larger ones, score calibration",
        description="Backtest a loss law (and optionally an error law): fit on the runs a "
                    "protocol allows, predict the held-out runs, and report coverage of the "
                    "50/80/90/95%% intervals, relative error, CRPS and log score.")
    parser.add_argument("source", metavar="DATASET_OR_CSV",
                        help="registered dataset name (see `datasets`) or a runs file")
    parser.add_argument("--data-dir", help="folder holding <name>/ (searched first)")
    parser.add_argument("--offline", action="store_true", help="never download")
    mapping = parser.add_argument_group("column mapping for a runs file (see load_runs)")
    mapping.add_argument("--params")
    mapping.add_argument("--tokens")
    mapping.add_argument("--compute")
    mapping.add_argument("--loss-column")
    parser.add_argument("--protocol", choices=list(PROTOCOLS), default="compute_cutoff")
    parser.add_argument("--cutoff-flops", type=parse_count, metavar="C",
                        help="compute_cutoff: fit on runs below C FLOPs (default: per-dataset "
                             "80%% quantile)")
    parser.add_argument("--dataset-filter", metavar="NAME", help="one value of `dataset`")
    parser.add_argument("--query", metavar="EXPR", help="extra pandas query on the runs")
    parser.add_argument("--error", metavar="COLUMN", help="also backtest an error law")
    _add_law_options(parser)
    parser.add_argument("--out", metavar="FILE.csv", help="per-target rows as CSV")
    parser.add_argument("--coverage-out", metavar="FILE.csv", help="coverage table as CSV")
    parser.set_defaults(handler=_cmd_backtest)


# Later subcommands (fit, predict, query, backtest, report) add one entry each.
_SUBCOMMANDS: tuple[Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None], ...] = (
    _add_datasets,
    _add_fit,
    _add_predict,
    _add_query,
    _add_backtest,
    _add_report,
)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand.

    Returns
    -------
    argparse.ArgumentParser

    Examples
    --------
    >>> build_parser().parse_args(["datasets", "--summary", "gadre2024"]).summary
    'gadre2024'
    """
    parser = argparse.ArgumentParser(
        prog=PROG, description="Bayesian scaling laws for language models."
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add in _SUBCOMMANDS:
        add(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code instead of exiting.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments without the program name; default ``sys.argv[1:]``.

    Returns
    -------
    int
        0 on success, 1 on bad data, 2 on a bad command line.

    Examples
    --------
    >>> main(["datasets", "--summary", "no_such_dataset"])  # doctest: +SKIP
    1
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits on --help (0) and on usage errors (2)
        return exc.code if isinstance(exc.code, int) else 2
    handler: Handler = args.handler
    if argv is None and getattr(args, "samples", False):
        # only as the process entry point: inside another program (tests, notebooks) the
        # device count is the caller's choice and may already be fixed
        _use_cpu_devices(args)
    try:
        return handler(args)
    except (RunsError, DatasetError, FileNotFoundError, FitFileError, TargetError,
            NotFittedError, CliInputError, ValueError) as err:
        # ValueError: the library's input checks (columns, selections, thresholds) all raise
        # it with a message that names the fix; a traceback would only hide that message
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
