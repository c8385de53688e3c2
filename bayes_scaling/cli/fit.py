"""``bayes-scaling fit``: fit a loss law (and optionally an error law) and save the posterior.

Every input and output location is checked before sampling; the loss fit and the error fit are
written to a staging folder beside their destinations and moved into place only when both
succeeded.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from bayes_scaling.cli.common import (
    EXIT_CODES_EPILOG,
    PROG,
    CliInputError,
    add_error_law_option,
    add_law_options,
    add_source_options,
    check_diagnostics,
    prepare_sampling,
    probability_arg,
    sampler_overrides,
    wrap,
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

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["add_parser", "select_fit_runs"]

_NC = (".nc",)


def select_fit_runs(args: argparse.Namespace
                    ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, str]:
    """Load the source and apply ``--query``, ``--dataset-filter``, ``--max-params`` (with the
    dataset's preset defaults when none of them is given)."""
    from bayes_scaling.report.presets import preset_for, select_runs

    preset = preset_for(args.source)
    runs = load_source_runs(args)
    kept = filter_runs(runs, args.query)
    dataset_filter = args.dataset_filter
    max_params = getattr(args, "max_params", None)
    if dataset_filter is None and max_params is None and preset.description:
        dataset_filter, max_params = preset.dataset_filter, preset.max_params
        print(f"{PROG}: {preset.description}", file=sys.stderr)
    fit, held, desc = select_runs(kept, dataset_filter=dataset_filter, max_params=max_params)
    if args.query:
        desc = f"({args.query}) and {desc}"
    return runs, fit, held, desc


def _cmd_fit(args: argparse.Namespace) -> int:
    from bayes_scaling.report.presets import preset_for

    # --- every check before the first sample
    check_output_file(args.out, "--out", _NC)
    if args.error is not None:
        if not args.error_out:
            raise CliInputError("--error", args.error, "needs --error-out FILE.nc for the "
                                "error-law fit", "add --error-out err.nc")
        check_output_file(args.error_out, "--error-out", _NC)
        check_distinct([("--out", args.out), ("--error-out", args.error_out)])
    elif args.error_out:
        raise CliInputError("--error-out", args.error_out, "is given without --error",
                            "add --error COLUMN (e.g. err_avg17), or drop --error-out")
    inputs = [("DATASET_OR_FILE", args.source)]
    check_not_inputs([("--out", args.out), ("--error-out", args.error_out)], inputs)
    preset = preset_for(args.source)
    _, fit_runs, _, desc = select_fit_runs(args)
    loss = loss_column(fit_runs, args, default=preset.loss)
    check_error_column(fit_runs, args.error)

    # --- sampling
    prepare_sampling(args)
    from bayes_scaling.estimators.loss_law import LossLaw

    kw: dict[str, Any] = {"loss": loss, "sampler": sampler_overrides(args)}
    if args.noise:
        kw["noise"] = args.noise
    law = LossLaw(args.law or preset.law, **kw)
    named = loss if args.loss in (None, loss) else f"the file's {args.loss} (read as {loss})"
    print(f"fitting the {law.law} law to {named} on {desc}", file=sys.stderr)
    law.fit(fit_runs, seed=args.seed, progress=not args.no_progress, warn=False)
    err = None
    if args.error is not None:
        from bayes_scaling.estimators.error_law import ErrorLaw
        from bayes_scaling.inference.config import derive_seed

        err_runs = fit_runs[fit_runs[args.error].notna()]
        err_kw: dict[str, Any] = {"error": args.error, "loss": loss,
                                  "sampler": sampler_overrides(args), "data_dir": args.data_dir}
        if args.error_chance is not None:
            err_kw["chance"] = args.error_chance
        err = ErrorLaw(preset.error_law_for(args.error, args.error_law), **err_kw).fit(
            err_runs, seed=derive_seed(args.seed, 1), progress=not args.no_progress, warn=False)

    # --- outputs: both files or neither
    with staged_outputs() as stage:
        stage.protect(inputs)
        law.save(stage.path(args.out))
        if err is not None:
            err.save(stage.path(args.error_out))
    print(f"wrote {args.out}" + (f" and {args.error_out}" if err is not None else ""),
          file=sys.stderr)
    print_table(law.summary(ci_prob=0.9).reset_index(), "posterior (90% intervals):")
    diag = law.diagnostics(warn=False)
    if diag.ok:
        print(wrap(f"diagnostics: {diag}"))
    code = check_diagnostics("loss-law", diag, args)
    err_diag = err.diagnostics(warn=False) if err is not None else None
    if err is not None:
        print_table(err.summary(ci_prob=0.9).reset_index(), "error law (90% intervals):")
        code = max(code, check_diagnostics("error-law", err_diag, args))
    # dropped leave-future-out refits: a warning, not a failure (their evidence was left out)
    for label, d in (("loss law", diag), ("error law", err_diag)):
        for note in (d.notes if d is not None else ()):
            say(f"{PROG}: warning: {label}: {note}")
    return code


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "fit", help="fit a loss law (and optionally an error law) and save the posterior",
        description="Fit a Bayesian loss law by NUTS to a dataset or runs file and save the "
                    "posterior as netCDF (LossLaw.save). gadre2024 defaults to the RedPajama "
                    "runs under 1e9 parameters. The same --seed gives the same draws as "
                    "LossLaw(...).fit(runs, seed=...).",
        epilog=EXIT_CODES_EPILOG)
    add_source_options(parser)
    add_law_options(parser)
    parser.add_argument("--out", required=True, metavar="FILE.nc", help="posterior file")
    err = parser.add_argument_group("downstream error law")
    err.add_argument("--error", metavar="COLUMN", help="also fit an error law on this column "
                     "(e.g. err_avg17); needs --error-out")
    err.add_argument("--error-out", metavar="FILE.nc", help="error-law posterior file")
    err.add_argument("--error-chance", type=probability_arg,
                     help="chance-level error of a column that is not Gadre et al.'s")
    add_error_law_option(err)
    parser.set_defaults(handler=_cmd_fit)
