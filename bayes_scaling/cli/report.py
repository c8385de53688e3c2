"""``bayes-scaling report``: fit and write a self-contained risk report (HTML, Markdown, CSV).

All inputs and output locations are checked before the fit; the HTML file, the Markdown file
with its figure folder, and the CSV folder are written into staging folders beside their
destinations and moved into place only when all of them were written.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from bayes_scaling.cli.common import (
    EXIT_CODES_EPILOG,
    EXIT_DIAGNOSTICS,
    PROG,
    CliInputError,
    add_error_law_option,
    add_law_options,
    add_source_options,
    add_target_options,
    float_arg,
    parse_count,
    prepare_sampling,
    probability_arg,
    sampler_overrides,
)
from bayes_scaling.cli.inputs import (
    check_error_column,
    check_input_file,
    column_mapping,
    filter_runs,
    input_paths,
    load_source_runs,
    loss_column,
    read_targets,
)
from bayes_scaling.cli.outputs import (
    check_distinct,
    check_markdown_output,
    check_not_inputs,
    check_output_dir,
    check_output_file,
    say,
    staged_outputs,
)

__all__ = ["add_parser"]


def _check_outputs(args: argparse.Namespace) -> None:
    if not (args.out or args.markdown or args.csv_dir):
        raise CliInputError("--out", None, "nothing to write",
                            "give --out report.html, --markdown report.md and/or --csv-dir DIR")
    if args.out:
        check_output_file(args.out, "--out", (".html", ".htm"))
    if args.markdown:
        check_markdown_output(args.markdown, "--markdown")  # its figure folder: no file, no link
    if args.csv_dir:
        check_output_dir(args.csv_dir, "--csv-dir")
    check_distinct([("--out", args.out), ("--markdown", args.markdown),
                    ("--csv-dir", args.csv_dir)])
    check_not_inputs([("--out", args.out), ("--markdown", args.markdown)], input_paths(args))


_SAMPLER_FLAGS = (("--chains", "chains", "num_chains"), ("--warmup", "warmup", "num_warmup"),
                  ("--draws", "draws", "num_samples"),
                  ("--target-accept", "target_accept", "target_accept_prob"))


def _contradicts(flag: str, asked: object, fit_flag: str, path: str, saved: object) -> None:
    if asked is not None and asked != saved:
        raise CliInputError(
            flag, asked, f"contradicts {fit_flag} {path}, which was fitted with {flag} {saved}",
            f"drop {flag} (the saved fit's is used), or drop {fit_flag} to refit with "
            f"{flag} {asked}")


def _saved_fits(args: argparse.Namespace, fit_runs, loss: str | None, error: str | None):
    """The saved loss law (and error law), checked against the flags and the selected runs
    before any work: ``(law, err_law, loss, error)`` with the saved fits' columns filled in."""
    import json

    from bayes_scaling.estimators.loss_law import LossLaw
    from bayes_scaling.report.presets import error_fit_data_mismatch, fit_data_mismatch

    law = LossLaw.load(args.fit)
    _contradicts("--law", args.law, "--fit", args.fit, law.law)
    _contradicts("--noise", args.noise, "--fit", args.fit, law.noise)
    _contradicts("--loss", loss, "--fit", args.fit, law.loss)
    if args.error_fit or args.no_error or error is None and "err_avg17" not in fit_runs:
        # nothing is sampled: sampler flags could only contradict the saved fit
        sampler = json.loads(law.idata.attrs.get("sampler", "{}"))
        for flag, name, key in _SAMPLER_FLAGS:
            if key in sampler:
                _contradicts(flag, getattr(args, name, None), "--fit", args.fit, sampler[key])
    problem = fit_data_mismatch(law, fit_runs)
    if problem is not None:
        raise CliInputError(
            "--fit", args.fit, f"was not fitted on the runs this report selects: {problem}",
            "give the runs file and selection (--query, --max-params, --dataset-filter) the "
            "fit was made from, or drop --fit to refit on these runs")
    err_law = None
    if args.error_fit:
        from bayes_scaling.estimators.error_law import ErrorLaw

        if args.no_error:
            raise CliInputError("--no-error", None, "contradicts --error-fit",
                                "drop --no-error to use the error-law fit, or drop --error-fit")
        err_law = ErrorLaw.load(args.error_fit)
        if error is not None and error != err_law.error:
            raise CliInputError(
                "--error", error, f"contradicts --error-fit {args.error_fit}, an error law of "
                f"{err_law.error}; its predictions would be labelled {error}",
                f"drop --error (the report uses {err_law.error}), or give the error-law fit "
                f"of {error} (`fit ... --error {error} --error-out ERR.nc`)")
        if err_law.loss != law.loss:
            raise CliInputError(
                "--error-fit", args.error_fit, f"maps the loss {err_law.loss} to error, but "
                f"--fit {args.fit} models {law.loss}",
                f"give error- and loss-law fits of the same loss (`fit --loss {law.loss} "
                "--error-out ERR.nc`)")
        if args.error_law not in (None, "auto"):
            _contradicts("--error-law", args.error_law, "--error-fit", args.error_fit,
                         err_law.law)
        if args.error_chance is not None and abs(args.error_chance - err_law.chance) > 1e-12:
            _contradicts("--error-chance", args.error_chance, "--error-fit", args.error_fit,
                         err_law.chance)
        error = err_law.error
        check_error_column(fit_runs, error, "--error-fit")
        problem = error_fit_data_mismatch(err_law, fit_runs[fit_runs[error].notna()])
        if problem is not None:
            raise CliInputError(
                "--error-fit", args.error_fit,
                f"was not fitted on the runs this report selects: {problem}",
                "give the runs and selection the error law was fitted on, or drop --error-fit "
                "(and --fit) to refit")
    return law, err_law, law.loss, error


def _cmd_report(args: argparse.Namespace) -> int:
    import pandas as pd

    from bayes_scaling.report import make_report, write_report
    from bayes_scaling.report.presets import preset_for, select_runs

    start = time.perf_counter()
    # --- every check before the fit
    _check_outputs(args)
    backtest = None
    if args.backtest_csv:
        path = check_input_file(args.backtest_csv, "--backtest-csv")
        try:
            backtest = pd.read_csv(path)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
            raise CliInputError("--backtest-csv", args.backtest_csv, f"cannot be parsed ({err})",
                                "give the coverage CSV written by `backtest --coverage-out`"
                                ) from err
    targets = read_targets(args, required=False)
    if args.error_fit and not args.fit:
        raise CliInputError("--error-fit", args.error_fit, "needs the loss-law fit too",
                            "add --fit FIT.nc (saved by `fit --out`)")
    if args.fit:
        check_input_file(args.fit, "--fit")
    if args.error_fit:
        check_input_file(args.error_fit, "--error-fit")
    preset = preset_for(args.source)
    runs = load_source_runs(args)
    kept = filter_runs(runs, args.query)
    dataset_filter = args.dataset_filter if args.dataset_filter is not None \
        else preset.dataset_filter
    max_params = args.max_params if args.max_params is not None else preset.max_params
    fit_runs, held, _ = select_runs(kept, dataset_filter=dataset_filter, max_params=max_params)
    if targets is None and held.empty:
        raise CliInputError("--target", None, "no targets: every selected run is fitted",
                            "give --target N:D (repeatable) or --targets-csv, or --max-params "
                            "N to hold out the runs at or above N")
    saved_law = saved_err = None
    if args.fit:
        # a saved fit brings its own loss and error columns; a flag that differs is refused
        asked_loss = loss_column(fit_runs, args) if args.loss is not None else None
        asked_error = None if args.no_error else args.error
        saved_law, saved_err, loss, error = _saved_fits(args, fit_runs, asked_loss, asked_error)
        if saved_err is None and not args.no_error:
            error = args.error or preset.error or (
                "err_avg17" if "err_avg17" in fit_runs.columns else None)
            check_error_column(fit_runs, error)
    else:
        loss = loss_column(fit_runs, args, default=preset.loss)
        error = None
        if not args.no_error:
            error = args.error or preset.error or (
                "err_avg17" if "err_avg17" in fit_runs.columns else None)
            check_error_column(fit_runs, error)

    # --- fit and build
    prepare_sampling(args)
    constraints = {k: v for k, v in (("max_params", args.alloc_max_params),
                                     ("min_tokens_per_param", args.alloc_min_tokens_per_param))
                   if v is not None}
    from bayes_scaling.data import list_datasets

    mapping = {} if args.source in list_datasets() else column_mapping(args)
    data = make_report(
        args.source, targets=targets, thresholds=args.threshold or (),
        dataset_filter=args.dataset_filter, max_params=args.max_params, query=args.query,
        law=args.law, loss=loss, error=error, error_chance=args.error_chance,
        error_law=args.error_law, noise=args.noise,
        seed=args.seed, sampler=sampler_overrides(args), budgets=args.budget,
        allocation_constraints=constraints, backtest=backtest, data_dir=args.data_dir,
        offline=args.offline, mapping=mapping, progress=not args.no_progress,
        title=args.title, fit=saved_law, error_fit=saved_err,
        extra_provenance={"command": " ".join([PROG, *sys.argv[1:]])
                          if args.command_line is None else args.command_line},
    )
    # --- outputs: all of them or none
    with staged_outputs() as stage:
        stage.protect(input_paths(args))  # no output file replaces an input, in --csv-dir too
        written = write_report(
            data, html=stage.path(args.out) if args.out else None,
            markdown=stage.path(args.markdown) if args.markdown else None,
            csv_dir=stage.path(args.csv_dir) if args.csv_dir else None)
    for name in (args.out, args.markdown, args.csv_dir):
        if name:
            print(f"wrote {name}", file=sys.stderr)
    n_files = sum(1 for p in written if Path(p).suffix != ".png")
    print(f"report built in {time.perf_counter() - start:.1f} s ({n_files} files)",
          file=sys.stderr)
    if data.verdict is not None:
        import textwrap

        # the report's first line, here too, wrapped to the terminal's 100 columns
        print(textwrap.fill(f"verdict: {data.verdict.text}", width=100,
                            subsequent_indent="  "), file=sys.stderr)
    if data.warnings:
        for w in data.warnings:
            say(f"{PROG}: warning: {w}")
        # exit 3 is for failed sampler checks; misfit and extrapolation findings are results
        # the report states, not a failed computation
        sampler_failed = not data.diagnostics.get("ok", True) or any(
            f.kind == "sampler" for f in data.findings)
        if sampler_failed and not args.allow_warnings:
            print(f"{PROG}: error: failed diagnostics (exit {EXIT_DIAGNOSTICS}); the report "
                  "opens with a 'Not ready to use' verdict. Pass --allow-warnings to accept.",
                  file=sys.stderr)
            return EXIT_DIAGNOSTICS
    return 0


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "report", help="fit and write a self-contained risk report (HTML, Markdown, CSV)",
        description="Fit the loss law (and the downstream error law where the runs have "
                    "err_avg17 or --error), then write a report: data, posterior, diagnostics, "
                    "new-run predictions with 50% and 90% intervals at the targets, "
                    "P(loss < x), compute-optimal allocation, provenance. `report gadre2024 "
                    "--out report.html` needs nothing else and writes only report.html; "
                    "--markdown and --csv-dir add the other formats.",
        epilog=EXIT_CODES_EPILOG)
    add_source_options(parser)
    add_law_options(parser)
    add_target_options(parser)
    out = parser.add_argument_group("outputs")
    out.add_argument("--out", metavar="FILE.html", help="self-contained HTML report")
    out.add_argument("--markdown", metavar="FILE.md",
                     help="Markdown report (figures in FILE_figures/ beside it)")
    out.add_argument("--csv-dir", metavar="DIR", help="write every table as CSV here")
    out.add_argument("--title", help="report title")
    q = parser.add_argument_group("questions")
    q.add_argument("--threshold", type=float_arg, action="append", metavar="X",
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
    reuse = parser.add_argument_group("saved fits (skip the fitting)")
    reuse.add_argument("--fit", metavar="FIT.nc",
                       help="reuse this loss-law fit (saved by `fit --out`); it must be fitted "
                            "on the runs this selection picks")
    reuse.add_argument("--error-fit", metavar="ERR.nc",
                       help="reuse this error-law fit (saved by `fit --error-out`); needs --fit")
    err = parser.add_argument_group("downstream error law")
    err.add_argument("--error", metavar="COLUMN",
                     help="error column (default err_avg17 when the runs have it)")
    err.add_argument("--no-error", action="store_true", help="no downstream error law")
    err.add_argument("--error-chance", type=probability_arg,
                     help="chance-level error of a column that is not Gadre et al.'s")
    add_error_law_option(err)
    parser.set_defaults(handler=_cmd_report, command_line=None)
