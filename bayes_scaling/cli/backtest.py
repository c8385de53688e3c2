"""``bayes-scaling backtest``: fit on small runs, predict the held-out larger ones, score."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from bayes_scaling.cli.common import (
    EXIT_CODES_EPILOG,
    EXIT_DIAGNOSTICS,
    PROG,
    PROTOCOL_CHOICES,
    CliInputError,
    add_law_options,
    add_source_options,
    parse_count,
    prepare_sampling,
    sampler_overrides,
)
from bayes_scaling.cli.inputs import (
    check_error_column,
    filter_runs,
    load_source_runs,
    loss_column,
)
from bayes_scaling.cli.outputs import (
    check_distinct,
    check_not_inputs,
    check_output_file,
    print_table,
    say,
    staged_outputs,
)

__all__ = ["add_parser"]


def _cmd_backtest(args: argparse.Namespace) -> int:
    # --- every check before the first fit
    for argument, value in (("--out", args.out), ("--coverage-out", args.coverage_out)):
        if value:
            check_output_file(value, argument, (".csv",))
    check_distinct([("--out", args.out), ("--coverage-out", args.coverage_out)])
    inputs = [("DATASET_OR_FILE", args.source)]
    check_not_inputs([("--out", args.out), ("--coverage-out", args.coverage_out)], inputs)
    if args.cutoff_flops is not None and args.protocol != "compute_cutoff":
        raise CliInputError("--cutoff-flops", args.cutoff_flops,
                            f"applies to --protocol compute_cutoff, not {args.protocol}",
                            "drop --cutoff-flops or use --protocol compute_cutoff")
    runs = load_source_runs(args)
    if args.dataset_filter:
        corpora = sorted(map(str, runs["dataset"].unique()))
        if args.dataset_filter not in corpora:
            raise CliInputError("--dataset-filter", args.dataset_filter, "matches no run",
                                f"give one of {', '.join(corpora)}")
        runs = runs[runs["dataset"] == args.dataset_filter]
    runs = filter_runs(runs, args.query)
    loss = loss_column(runs, args)
    check_error_column(runs, args.error)

    prepare_sampling(args)
    import warnings

    from bayes_scaling.evaluate.backtest import backtest
    from bayes_scaling.evaluate.scoring import coverage
    from bayes_scaling.inference.diagnostics import DiagnosticsWarning

    options: dict[str, Any] = {}
    if args.cutoff_flops is not None:
        options["cutoff_flops"] = args.cutoff_flops
    kw: dict[str, Any] = {"loss": loss, "law": args.law or "gadre", "seed": args.seed,
                          "sampler": sampler_overrides(args), "error": args.error}
    if args.noise:
        kw["noise"] = args.noise
    print(f"backtest {args.protocol!r} of the {kw['law']} law on {loss}", file=sys.stderr)
    with warnings.catch_warnings():  # failed fits are counted below, with the exit code
        warnings.simplefilter("ignore", DiagnosticsWarning)
        bt = backtest(runs, args.protocol, **kw, **options)
    from bayes_scaling._files import write_csv as write_safe_csv

    cols = [c for c in ("dataset", "target", "column", "n_params", "tokens_per_param", "truth",
                        "median", "rel_error", "lower_90", "upper_90", "covered_90", "fit_ok")
            if c in bt.columns]
    cov = coverage(bt)
    # the files first: a closed pipe cannot lose them
    with staged_outputs() as stage:
        stage.protect(inputs)
        if args.out:
            write_safe_csv(bt, stage.path(args.out))
        if args.coverage_out:
            write_safe_csv(cov, stage.path(args.coverage_out))
    for value in (args.out, args.coverage_out):
        if value:
            say(f"wrote {value}")
    print_table(bt[cols], "held-out predictions (90% intervals):")
    print_table(cov, "coverage (nominal vs empirical):")
    failed = int((~bt["fit_ok"].astype(bool)).sum()) if "fit_ok" in bt.columns else 0
    if failed and not args.allow_warnings:
        print(f"{PROG}: {failed} held-out rows come from fits whose sampler diagnostics failed; "
              "rerun with more draws, or pass --allow-warnings", file=sys.stderr)
        return EXIT_DIAGNOSTICS
    return 0


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "backtest", help="fit on small runs, predict held-out larger ones, score calibration",
        description="Backtest a loss law (and optionally an error law): fit on the runs a "
                    "protocol allows, predict the held-out runs, and report coverage of the "
                    "50/80/90/95% new-run intervals, relative error, CRPS and log score.",
        epilog=EXIT_CODES_EPILOG)
    add_source_options(parser, selection=False)
    parser.add_argument("--protocol", choices=PROTOCOL_CHOICES, default="compute_cutoff")
    parser.add_argument("--cutoff-flops", type=parse_count, metavar="C",
                        help="compute_cutoff: fit on runs below C FLOPs (default: per-dataset "
                             "80%% quantile)")
    parser.add_argument("--error", metavar="COLUMN", help="also backtest an error law")
    add_law_options(parser)
    parser.add_argument("--out", metavar="FILE.csv", help="per-target rows as CSV")
    parser.add_argument("--coverage-out", metavar="FILE.csv", help="coverage table as CSV")
    parser.set_defaults(handler=_cmd_backtest)
