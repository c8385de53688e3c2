"""``bayes-scaling query``: P(loss < x), compute to reach a loss, compute-optimal allocation."""

from __future__ import annotations

import argparse

from bayes_scaling.cli.common import (
    EXIT_CODES_EPILOG,
    CliInputError,
    add_csv_out,
    add_fit_argument,
    add_kind_option,
    add_seed_option,
    add_target_options,
    check_ci_probs,
    ci_label,
    float_arg,
    parse_count,
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


def _inputs(args: argparse.Namespace) -> list[tuple[str, str | None]]:
    return [("FIT.nc", args.fit), ("--error-fit", getattr(args, "error_fit", None)),
            ("--targets-csv", getattr(args, "targets_csv", None))]


def _check_out(args: argparse.Namespace) -> None:
    if args.out:
        check_output_file(args.out, "--out", (".csv",))
        check_not_inputs([("--out", args.out)], _inputs(args))


def _cmd_probability(args: argparse.Namespace) -> int:
    from bayes_scaling.predict.queries import probability

    if args.below is None and args.above is None:
        raise CliInputError("--below", None, "no threshold given",
                            "give --below X and/or --above X")
    if args.quantity == "error" and not args.error_fit:
        raise CliInputError("--quantity", "error", "needs the error-law fit",
                            "add --error-fit ERR.nc (saved by `fit --error-out`)")
    _check_out(args)
    targets = read_targets(args)
    model, code = load_model(args)
    out = probability(model, targets, below=args.below, above=args.above,
                      target=args.quantity, kind=args.kind, seed=args.seed)
    bounds = " and ".join(f"{s} {v:g}" for s, v in (("<", args.below), (">", args.above))
                          if v is not None)
    write_csv(out, args.out, _inputs(args))
    print_table(out, f"P({args.quantity} {bounds}) ({args.kind}):")
    return code


def _cmd_compute(args: argparse.Namespace) -> int:
    from bayes_scaling.predict.queries import compute_to_target

    bad = [x for x in args.reach if not x > 0]
    if bad:
        raise CliInputError("--reach", bad[0], "is not a positive loss",
                            "give a loss in nats per token, e.g. --reach 2.5")
    _check_out(args)
    model, code = load_model(args)
    check_ci_probs([args.ci_prob], n_posterior_draws(model))
    kw = {} if args.tokens_per_param is None else {"tokens_per_param": args.tokens_per_param}
    out = compute_to_target(model, loss=args.reach, ci_prob=args.ci_prob, **kw)
    write_csv(out, args.out, _inputs(args))
    print_table(out, f"compute to reach the loss ({ci_label(args.ci_prob)} intervals; outside "
                     "fitted range: the answer's size, compute or tokens per parameter lies "
                     "beyond the fitted runs'):")
    return code


def _cmd_allocation(args: argparse.Namespace) -> int:
    from bayes_scaling.predict.queries import optimal_allocation

    _check_out(args)
    model, code = load_model(args)
    check_ci_probs([args.ci_prob], n_posterior_draws(model))
    out = optimal_allocation(model, compute_flops=args.compute_flops,
                             max_params=args.max_params,
                             min_tokens_per_param=args.min_tokens_per_param,
                             ci_prob=args.ci_prob)
    write_csv(out, args.out, _inputs(args))
    print_table(out, f"loss-optimal allocation ({ci_label(args.ci_prob)} intervals):")
    return code


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "query", help="decision queries on a saved fit",
        description="P(loss < x) at planned runs, compute needed to reach a loss, and the "
                    "compute-optimal (or over-trained) allocation of a budget.",
        epilog=EXIT_CODES_EPILOG)
    queries = parser.add_subparsers(dest="query", metavar="QUERY", required=True)

    prob = queries.add_parser("probability", help="P(loss < below) / P(loss > above)",
                              epilog=EXIT_CODES_EPILOG)
    add_fit_argument(prob)
    add_target_options(prob)
    prob.add_argument("--below", type=float_arg, metavar="X", help="P(quantity < X)")
    prob.add_argument("--above", type=float_arg, metavar="X", help="P(quantity > X)")
    prob.add_argument("--quantity", choices=["loss", "error"], default="loss")
    add_kind_option(prob)
    add_seed_option(prob, "seed of the predictive draws")
    add_csv_out(prob)
    prob.set_defaults(handler=_cmd_probability)

    comp = queries.add_parser("compute-to-target",
                              help="compute needed to reach a mean loss at fixed M = D/N",
                              epilog=EXIT_CODES_EPILOG)
    add_fit_argument(comp, error=False)
    comp.add_argument("--reach", type=float_arg, action="append", required=True,
                      metavar="X", help="the law's mean loss to reach (nats/token); repeatable")
    comp.add_argument("--tokens-per-param", type=parse_count, action="append", metavar="M",
                      help="token multiplier M = D/N; repeatable (default 20)")
    comp.add_argument("--ci-prob", type=probability_arg, default=0.9, metavar="P",
                      help="interval probability (default 0.9)")
    add_csv_out(comp)
    comp.set_defaults(handler=_cmd_compute)

    alloc = queries.add_parser("optimal-allocation",
                               help="loss-minimising N and D for a compute budget",
                               epilog=EXIT_CODES_EPILOG)
    add_fit_argument(alloc, error=False)
    alloc.add_argument("--compute-flops", type=parse_count, action="append", required=True,
                       metavar="C", help="budget in FLOPs (C = 6ND); repeatable")
    alloc.add_argument("--max-params", type=parse_count, metavar="N",
                       help="largest model to serve (over-training when it binds)")
    alloc.add_argument("--min-tokens-per-param", type=parse_count, metavar="M",
                       help="train at least M tokens per parameter")
    alloc.add_argument("--ci-prob", type=probability_arg, default=0.9, metavar="P",
                       help="interval probability (default 0.9)")
    add_csv_out(alloc)
    alloc.set_defaults(handler=_cmd_allocation)
