"""``bayes-scaling plan``: which candidate runs would most narrow the targets' intervals, per FLOP.

Every input (saved fit, targets, candidates, settings, output location) is checked before any
work; the ranking is :func:`bayes_scaling.predict.planning.plan_runs`.
"""

from __future__ import annotations

import argparse
import time

from bayes_scaling.cli.common import (
    EXIT_CODES_EPILOG,
    CliInputError,
    add_csv_out,
    add_fit_argument,
    add_seed_option,
    add_target_options,
    check_ci_probs,
    ci_label,
    parse_target,
    positive_int_arg,
    probability_arg,
)
from bayes_scaling.cli.inputs import (
    load_model,
    n_posterior_draws,
    read_mapped_table,
    read_targets,
    resolve_mapped,
)
from bayes_scaling.cli.outputs import (
    check_not_inputs,
    check_output_file,
    print_table,
    say,
    write_csv,
)

__all__ = ["add_parser"]

def _read_candidates(args: argparse.Namespace):
    import pandas as pd

    frames = []
    if args.candidate:
        frames.append(resolve_mapped(pd.DataFrame(args.candidate,
                                                  columns=["n_params", "n_tokens"]),
                                     "--candidate", None))
    if args.candidates_csv:
        table = read_mapped_table(args.candidates_csv, "--candidates-csv", args,
                                  numeric=("n_params", "n_tokens", "compute_flops",
                                           "tokens_per_param", "cost"),
                                  example="n_params,n_tokens[,cost][,run_id]")
        for column in ("n_params", "n_tokens", "compute_flops", "tokens_per_param", "cost"):
            if column in table.columns:
                numbers = pd.to_numeric(table[column], errors="coerce")
                bad = table.loc[numbers.isna() | ~(numbers > 0), column]
                if len(bad):
                    raise CliInputError(
                        "--candidates-csv", args.candidates_csv,
                        f"column {column!r} holds {str(bad.iloc[0])!r} (row {bad.index[0]}), "
                        "not a positive number",
                        "write plain positive numbers such as 1.4e9 (no K/M/B suffixes)")
                table[column] = numbers
        frames.append(resolve_mapped(table, "--candidates-csv", args.candidates_csv))
    if not frames:
        return None
    return pd.concat(frames, ignore_index=True)


def _inputs(args: argparse.Namespace) -> list[tuple[str, str | None]]:
    return [("FIT.nc", args.fit), ("--targets-csv", args.targets_csv),
            ("--candidates-csv", args.candidates_csv)]


def _cmd_plan(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    # --- every check before any work
    if args.out:
        check_output_file(args.out, "--out", (".csv",))
        check_not_inputs([("--out", args.out)], _inputs(args))
    if args.n_sims < 2:
        raise CliInputError("--n-sims", args.n_sims, "is below 2",
                            "give at least 2 simulated outcomes, e.g. --n-sims 64")
    targets = read_targets(args)
    candidates = _read_candidates(args)
    if candidates is not None and args.k > len(candidates):
        raise CliInputError("--k", args.k, f"exceeds the {len(candidates)} candidates",
                            f"give --k at most {len(candidates)}, or more candidates")
    if args.rank_by is not None and not 1 <= args.rank_by <= len(targets):
        raise CliInputError("--rank-by", args.rank_by, f"is not a target number (1 to "
                            f"{len(targets)})", "give the position of a --target, e.g. "
                            "--rank-by 2 for the second")
    model, code = load_model(args)
    check_ci_probs([args.ci_prob], n_posterior_draws(model))
    law = getattr(model, "loss_law", model)
    if candidates is None:
        from bayes_scaling.predict.planning import GRID_M, candidate_grid

        candidates = candidate_grid(law)
        say(f"no --candidate given: a grid of {len(candidates)} runs (4 fitted sizes x "
            f"M = {', '.join(f'{m:g}' for m in GRID_M)})")
    if args.k > len(candidates):
        raise CliInputError("--k", args.k, f"exceeds the {len(candidates)} candidates",
                            f"give --k at most {len(candidates)}")
    from bayes_scaling.predict.planning import plan_runs
    from bayes_scaling.report.tables import si

    # a target's label names its columns: its run_id (name) where given, else N:D
    labels = [f"{si(n)}:{si(d)}" for n, d in
              zip(targets["n_params"], targets["n_tokens"], strict=True)]
    if "run_id" in targets.columns:
        labels = targets["run_id"].astype(str).tolist()
    targets = targets.assign(label=labels)
    if targets["label"].duplicated().any():
        raise CliInputError("--target", None, "the same target is given twice",
                            "give each target once")
    rank_by = None if args.rank_by is None else str(targets["label"].iloc[args.rank_by - 1])
    plan = plan_runs(law, targets, candidates, ci_prob=args.ci_prob, n_sims=args.n_sims,
                     k=args.k, seed=args.seed, rank_by=rank_by)
    c = plan.candidates
    write_csv(c, args.out, _inputs(args))  # the file first: a closed pipe cannot lose it
    named = ["run_id"] if "run_id" in c.columns else []
    keep = ["rank", *named, "n_params", "n_tokens", "cost_flops", "method", "ess_frac"]
    for lab in targets["label"]:
        keep += [f"width_now_{lab}", f"width_after_{lab}", f"reduction_{lab}"]
    keep += ["reduction_per_flop"]
    print_table(c[keep].head(args.show),
                f"expected {ci_label(args.ci_prob)} new-run width after each candidate run "
                f"(best {min(args.show, len(c))} of {len(c)}, by width reduction per FLOP; "
                f"{args.n_sims} simulated outcomes each):", keep=1 + len(named))
    # the batch names its runs by the ranks shown above (its 'candidate' is a row label)
    batch = plan.batch.copy()
    batch.insert(0, "rank", c.loc[batch.pop("candidate"), "rank"].to_numpy())
    if named:
        batch.insert(1, "run_id", c.loc[plan.batch["candidate"], "run_id"].to_numpy())
    print_table(batch, f"greedy batch of {args.k} run(s), in the order chosen (rank: as "
                       "above):", keep=1 + len(named))
    if len(c) >= 3:
        first = str(targets["label"].iloc[0] if rank_by is None else rank_by)
        rc = plan.attainable_rank_correlation(first, n_rep=500, seed=args.seed)
        say(f"how firm the ranking is ({first}): one real run per candidate would rank them "
            f"with Spearman {rc['median']:.2f} [{rc['q05']:.2f}, {rc['q95']:.2f}] (5-95%) "
            "against the expected widths, if the fitted model is right; near 1 the order is "
            "decided, near 0 the outcomes decide it")
    say(f"planned in {time.perf_counter() - start:.1f} s")
    return code


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "plan", help="rank candidate runs by how much they would narrow the targets' intervals",
        description="Preposterior analysis on a saved fit: for each candidate run, simulate its "
                    "result from the posterior predictive, update the posterior (importance "
                    "reweighting, or refits where the weights' ESS is too small) and report the "
                    "expected new-run interval width at each target after adding it, ranked by "
                    "relative width reduction per FLOP (cost 6ND, or a 'cost' column).",
        epilog=EXIT_CODES_EPILOG)
    add_fit_argument(parser, error=False)
    add_target_options(parser)
    parser.add_argument("--candidate", type=parse_target, action="append", metavar="N:D",
                        help="a candidate run, parameters:tokens (e.g. 400M:8B); repeatable "
                             "(default: a grid over the fitted sizes)")
    parser.add_argument("--candidates-csv", metavar="FILE",
                        help="CSV of candidates: n_params,n_tokens[,cost][,run_id]; other "
                             "column names map with --params/--tokens/--compute/--name, as "
                             "for --targets-csv")
    parser.add_argument("--k", type=positive_int_arg, default=3,
                        help="size of the greedy batch (default 3)")
    parser.add_argument("--n-sims", type=positive_int_arg, default=64,
                        help="simulated outcomes per candidate (default 64)")
    parser.add_argument("--ci-prob", type=probability_arg, default=0.9, metavar="P",
                        help="interval whose width is planned for (default 0.9)")
    parser.add_argument("--rank-by", type=positive_int_arg, metavar="I",
                        help="rank by the I-th target alone (default: mean over targets)")
    parser.add_argument("--show", type=positive_int_arg, default=10,
                        help="candidates to print (default 10; --out writes all)")
    add_seed_option(parser, "seed of the simulated outcomes")
    add_csv_out(parser, "every candidate's row")
    parser.set_defaults(handler=_cmd_plan)
