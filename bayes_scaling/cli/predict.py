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
    probability_arg,
)
from bayes_scaling.cli.inputs import (
    load_model,
    read_targets,
)
from bayes_scaling.cli.outputs import (
    check_output_file,
    print_table,
    write_csv,
)

__all__ = ["add_parser"]


def _cmd_predict(args: argparse.Namespace) -> int:
    if args.out:
        check_output_file(args.out, "--out", (".csv",))
    targets = read_targets(args)
    model, code = load_model(args)
    import numpy as np
    import pandas as pd

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
    print_table(out, f"predictions ({args.kind}):")
    write_csv(out, args.out)
    return code


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
                        help="interval probability, repeatable (default 0.9)")
    add_kind_option(parser)
    add_seed_option(parser, "seed of the predictive draws")
    add_csv_out(parser)
    parser.set_defaults(handler=_cmd_predict)
