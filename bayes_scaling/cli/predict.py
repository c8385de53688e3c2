"""``bayes-scaling predict``: predictive medians and intervals at planned runs from a saved fit."""

from __future__ import annotations

import argparse

from bayes_scaling.cli.common import (
    EXIT_CODES_EPILOG,
    add_csv_out,
    add_fit_argument,
    add_kind_option,
    add_seed_option,
    add_target_options,
    check_ci_probs,
    ci_label,
    probability_arg,
)
from bayes_scaling.cli.inputs import (
    load_model,
    n_posterior_draws,
    read_targets,
)
from bayes_scaling.cli.outputs import (
    check_not_inputs,
    check_output_file,
    print_table,
    write_csv,
)

__all__ = ["add_parser"]


def _cmd_predict(args: argparse.Namespace) -> int:
    if args.out:
        check_output_file(args.out, "--out", (".csv",))
        check_not_inputs([("--out", args.out)], _inputs(args))
    targets = read_targets(args)
    model, code = load_model(args)
    levels = check_ci_probs(args.ci_prob or [0.9], n_posterior_draws(model))
    import numpy as np
    import pandas as pd

    from bayes_scaling.data.design import warn_far_extrapolation
    from bayes_scaling.predict.queries import predictive_draws

    # the same warning, in the same words, as LossLaw.predict and the queries
    warn_far_extrapolation(getattr(model, "loss_law", model).design_bounds, targets)
    quantities = ["loss"] + (["error"] if args.error_fit else [])
    keys = (["run_id"] if "run_id" in targets.columns else []) + [
        "n_params", "n_tokens", "tokens_per_param", "compute_flops"]
    frames = []
    for q in quantities:
        draws = predictive_draws(model, targets, target=q, kind=args.kind, seed=args.seed)
        table = targets[keys].copy()
        table.insert(0, "quantity", q)
        table["median"] = np.median(draws, axis=0)
        for p in levels:
            label = ci_label(p)
            table[f"lower_{label}"] = np.quantile(draws, (1 - p) / 2, axis=0)
            table[f"upper_{label}"] = np.quantile(draws, (1 + p) / 2, axis=0)
        frames.append(table)
    out = pd.concat(frames, ignore_index=True)
    write_csv(out, args.out, _inputs(args))  # the file first: a closed pipe cannot lose it
    print_table(out, f"predictions ({args.kind}):")
    return code


def _inputs(args: argparse.Namespace) -> list[tuple[str, str | None]]:
    return [("FIT.nc", args.fit), ("--error-fit", args.error_fit),
            ("--targets-csv", args.targets_csv)]


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "predict", help="predict loss (and error) at targets from a saved fit",
        description="Predictive medians and intervals at planned runs. By default the interval "
                    "is that of the loss a new run at the target would measure (--kind "
                    "new_run); --kind law_mean gives the band of the law's mean.",
        epilog=EXIT_CODES_EPILOG)
    add_fit_argument(parser)
    add_target_options(parser)
    parser.add_argument("--ci-prob", type=probability_arg, action="append", metavar="P",
                        help="interval probability, repeatable (default 0.9); each level is "
                             "labelled exactly (0.899 -> 89.9%%), and a level the fit's draws "
                             "cannot resolve (fewer than 5 draws beyond each end) is refused")
    add_kind_option(parser)
    add_seed_option(parser, "seed of the predictive draws")
    add_csv_out(parser)
    parser.set_defaults(handler=_cmd_predict)
