"""``mda-curate validate``: run an intervention experiment from a spec and report formation speed-ups."""

from __future__ import annotations

import argparse

from mda_curate.errors import UserError


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "validate",
        help="retrain arms (targeted/random removal and augmentation, classifier, synthetic and its random "
        "control) from a spec and report",
        description=(
            "Run the experiment of SPEC.toml (see mda_curate/validation/spec.py): every arm branches from each seed's "
            "base run at the formation window's start and retrains the identical data order with one intervention; "
            "every checkpoint is scored. Writes DIR/results.parquet, summary.json (formation step and "
            "speed-up per arm "
            "with t-intervals over seeds), scores.png, formation.png and report.md. Rerunning resumes: finished "
            "arm-runs are skipped, a partial one continues from its last checkpoint. --executor ray runs each arm-run "
            "as a Ray task; --executor slurm writes one sbatch job per arm-run to DIR/slurm/ (submitted with "
            "--slurm-submit), and a rerun after the jobs collects their results and writes the report."
        ),
    )
    parser.add_argument("spec", metavar="SPEC.toml", help="the experiment spec")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder (arm-runs, results, report)")
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="arm-runs trained in parallel processes (default %(default)s)",
    )
    parser.add_argument(
        "--arms", metavar="a,b,...", help="run only these arms (the baseline always runs); default: the spec's"
    )
    parser.add_argument(
        "--seeds",
        metavar="s,s,...",
        help="run only these of the spec's seeds (a seed still training joins later); default: all",
    )
    parser.add_argument(
        "--executor",
        choices=("local", "ray", "slurm"),
        default="local",
        help="how arm-runs are dispatched: local processes (default), one Ray task each, or one Slurm job each",
    )
    parser.add_argument(
        "--ray-address",
        metavar="ADDR",
        help="--executor ray: the cluster to join (default: $RAY_ADDRESS, else a local cluster of --workers slots)",
    )
    parser.add_argument(
        "--slurm-submit",
        action="store_true",
        help="--executor slurm: submit the job scripts with sbatch (default: write them and print how to submit)",
    )
    parser.add_argument(
        "--sbatch",
        action="append",
        default=[],
        metavar="OPTION",
        help="--executor slurm: an extra #SBATCH line for every job, e.g. --sbatch=--time=04:00:00 (repeatable)",
    )
    parser.add_argument("--only", metavar="seed<S>/<arm>", help=argparse.SUPPRESS)  # a Slurm job: one planned arm-run
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mda_curate.validation.runner import run_experiment, run_one
    from mda_curate.validation.spec import load_spec, parse_arms, parse_seeds

    executor = _executor(args)
    arms = parse_arms(args.arms) if args.arms else None
    spec = load_spec(args.spec)
    if args.only:
        run_one(spec, args.out, args.only)
        return 0
    seeds = parse_seeds(args.seeds, spec) if args.seeds else None
    run_experiment(spec, args.out, arms, args.workers, executor=executor, seeds=seeds)
    return 0


def _executor(args: argparse.Namespace):
    """The executor the flags name (None: the local process pool)."""
    needs = (
        ("--ray-address", args.ray_address, "ray"),
        ("--slurm-submit", args.slurm_submit, "slurm"),
        ("--sbatch", args.sbatch, "slurm"),
    )
    for flag, value, executor in needs:
        if value and args.executor != executor:
            raise UserError(f"{flag}: only with --executor {executor}")
    if args.executor == "ray":
        from mda_curate.validation.executors import RayExecutor

        return RayExecutor(args.workers, args.ray_address)
    if args.executor == "slurm":
        from mda_curate.validation.executors import SlurmExecutor

        return SlurmExecutor(args.slurm_submit, tuple(args.sbatch))
    return None
