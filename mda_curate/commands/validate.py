"""``mda-curate validate``: run an intervention experiment from a spec and report formation speed-ups."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "validate",
        help="retrain arms (targeted/random removal and augmentation, classifier, synthetic and its random control) from a spec and report",
        description=(
            "Run the experiment of SPEC.toml (see mda_curate/validation/spec.py): every arm branches from each seed's "
            "base run at the formation window's start and retrains the identical data order with one intervention; "
            "every checkpoint is scored. Writes DIR/results.parquet, summary.json (formation step and speed-up per arm "
            "with t-intervals over seeds), scores.png, formation.png and report.md. Rerunning resumes: finished "
            "arm-runs are skipped, a partial one continues from its last checkpoint."
        ),
    )
    parser.add_argument("spec", metavar="SPEC.toml", help="the experiment spec")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder (arm-runs, results, report)")
    parser.add_argument("--workers", type=int, default=1, metavar="N", help="arm-runs trained in parallel processes (default 1)")
    parser.add_argument("--arms", metavar="a,b,...", help="run only these arms (the baseline always runs); default: the spec's")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mda_curate.validation.runner import run_experiment
    from mda_curate.validation.spec import load_spec, parse_arms

    arms = parse_arms(args.arms) if args.arms else None
    run_experiment(load_spec(args.spec), args.out, arms, args.workers)
    return 0
