"""``mda-curate curate score|filter|upsample|mix``: run the catalyst datatrove pipelines."""

from __future__ import annotations

import argparse

from mda_curate.errors import UserError

THRESHOLD = 0.5  # the default catalyst-score boundary of filter and upsample
LAYOUT_NOTE = (
    "Writes the kept documents to DIR/<rank>.jsonl (or .parquet), unreadable lines and dropped documents "
    "with their reason to DIR/excluded/{rejected,dropped}_<rank>.jsonl, datatrove logs to DIR/logs and the "
    "accounting (lines_read = kept + dropped + rejected) to DIR/stats.json. Re-running with the same options "
    "over the same content (inputs, classifier) skips completed ranks; changed content is refused."
)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "curate",
        help="score, filter, upsample or mix JSONL/parquet corpora with datatrove (local, slurm or ray)",
        description="Catalyst curation pipelines on datatrove. " + LAYOUT_NOTE,
    )
    commands = parser.add_subparsers(dest="pipeline", required=True, metavar="PIPELINE")
    score = _add(commands, "score", "annotate every valid document with catalyst_score", classifier=True)
    score.set_defaults(func=run)
    filter_ = _add(commands, "filter", "keep documents by catalyst score (threshold or top fraction)", classifier=True)
    mode = filter_.add_mutually_exclusive_group()
    mode.add_argument("--threshold", type=_probability, metavar="X", help=f"keep score >= X (default {THRESHOLD})")
    mode.add_argument(
        "--top-fraction",
        type=_fraction,
        metavar="F",
        help="keep exactly round(F x valid documents) best-scoring documents over all ranks (a scan pass "
        "scores everything first; ties broken by a hash of the id)",
    )
    filter_.set_defaults(func=run)
    upsample = _add(commands, "upsample", "repeat catalyst documents", classifier=True)
    mode = upsample.add_mutually_exclusive_group(required=True)
    mode.add_argument(
        "--factor",
        type=_bands,
        metavar="K|S:K,...",
        help="repeat documents scoring >= --threshold K times (fractions rounded per document), or score "
        "bands, e.g. 0.5:2,0.9:4",
    )
    mode.add_argument(
        "--target-share",
        type=_open_fraction,
        metavar="S",
        help="repeat documents scoring >= --threshold until they make S of the output's characters",
    )
    upsample.add_argument(
        "--threshold", type=_probability, metavar="X", help=f"catalyst score boundary (default {THRESHOLD})"
    )
    upsample.add_argument(
        "--top-fraction",
        type=_fraction,
        metavar="F",
        help="with --factor K: repeat exactly the round(F x valid documents) best-scoring documents over all "
        "ranks K times, instead of those scoring >= --threshold (a scan pass scores everything first; ties "
        "broken by a hash of the id)",
    )
    upsample.add_argument(
        "--random",
        action="store_true",
        help="score each document by a hash of (--seed, id) instead of a classifier: the random control of "
        "the same pipeline (with --top-fraction, as many documents repeated as the classifier's run)",
    )
    upsample.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the per-document rounding and of --random (default %(default)s)",
    )
    upsample.set_defaults(func=run)
    mix = _add(commands, "mix", "build a mix from several sources with weights", classifier=False)
    mix.add_argument(
        "--weights",
        type=_positive,
        nargs="+",
        required=True,
        metavar="W",
        help="one weight per INPUT: its share of the output's characters (normalised)",
    )
    mix.add_argument(
        "--size",
        type=int,
        metavar="CHARS",
        help="output size in characters (default: the largest mix that repeats no document)",
    )
    mix.add_argument("--seed", type=int, default=0, help="seed of the per-document sampling (default %(default)s)")
    mix.set_defaults(func=run)


def _add(commands, name: str, help_text: str, classifier: bool) -> argparse.ArgumentParser:
    description = f"{help_text[0].upper()}{help_text[1:]}. {LAYOUT_NOTE}"
    parser = commands.add_parser(name, help=help_text, description=description)
    parser.add_argument(
        "inputs",
        nargs="+",
        metavar="INPUT",
        help="JSONL (.jsonl/.json, .gz/.zst) or parquet files, folders, globs or fsspec URLs",
    )
    parser.add_argument("--output", required=True, metavar="DIR", help="output folder (local path or fsspec URL)")
    if classifier:
        parser.add_argument(
            "--classifier", metavar="PATH", help="catalyst classifier folder (default: the shipped one)"
        )
    parser.add_argument(
        "--format",
        choices=["jsonl", "parquet"],
        default="jsonl",
        help="output format (default %(default)s)",
    )
    parser.add_argument(
        "--compression", choices=["gzip", "zstd"], help="compress JSONL output and exclusions (default: none)"
    )
    parser.add_argument("--tasks", type=_count, metavar="N", help="datatrove tasks (default: one per input file)")
    parser.add_argument("--workers", type=_count, metavar="N", help="tasks run at once (default: one per CPU)")
    parser.add_argument("--executor", choices=["local", "slurm", "ray"], default="local", help="default %(default)s")
    parser.add_argument("--slurm-partition", metavar="NAME", help="slurm partition (--executor slurm)")
    parser.add_argument("--slurm-time", metavar="TIME", help="slurm time limit, e.g. 4:00:00 (--executor slurm)")
    return parser


def run(args: argparse.Namespace) -> int:
    from mda_curate.pipelines.recipes import Inputs, Layout
    from mda_curate.pipelines.run import Launch, print_summary, run_plan
    from mda_curate.pipelines.steps import load_scorer

    launch = Launch(args.executor, args.workers, _slurm_options(args))
    layout = Layout(args.output.rstrip("/"), args.format, args.compression)
    if args.format == "parquet" and args.compression:
        raise UserError("--compression applies to JSONL output (parquet is compressed with snappy)")
    random = getattr(args, "random", False)  # upsample only
    if random and args.classifier:
        raise UserError("--random scores documents without a classifier; drop --classifier")
    if args.pipeline != "mix" and not random:
        load_scorer(args.classifier)  # once here, so that a bad path is a one-line error rather than a failed task
    plan = _plan(args, Inputs.find(args.inputs, tag_sources=args.pipeline == "mix"), layout)
    print_summary(plan.pipeline, args.output, run_plan(plan, launch))
    return 0


def _plan(args, inputs, layout):
    from mda_curate.pipelines import recipes

    if args.pipeline == "score":
        return recipes.score_plan(inputs, layout, args.classifier, args.tasks)
    if args.pipeline == "filter":
        threshold = THRESHOLD if args.threshold is None and args.top_fraction is None else args.threshold
        return recipes.filter_plan(inputs, layout, args.classifier, threshold, args.top_fraction, args.tasks)
    if args.pipeline == "upsample":
        if args.top_fraction is not None and (not isinstance(args.factor, float) or args.threshold is not None):
            raise UserError("--top-fraction takes one --factor K, and no --threshold, score bands or --target-share")
        threshold = THRESHOLD if args.threshold is None else args.threshold
        bands = [(threshold, args.factor)] if isinstance(args.factor, float) else args.factor
        return recipes.upsample_plan(
            inputs,
            layout,
            args.classifier,
            bands,
            args.target_share,
            threshold,
            args.seed,
            args.tasks,
            args.top_fraction,
            args.random,
        )
    if len(args.weights) != len(args.inputs):
        raise UserError(f"--weights: got {len(args.weights)} weights for {len(args.inputs)} INPUTs")
    if len(set(args.inputs)) != len(args.inputs):
        raise UserError("mix: each INPUT is one source; list it once")
    weights = dict(zip(args.inputs, args.weights))
    return recipes.mix_plan(inputs, layout, weights, args.size, args.seed, args.tasks)


def _slurm_options(args) -> dict:
    if args.executor != "slurm":
        if args.slurm_partition or args.slurm_time:
            raise UserError("--slurm-partition and --slurm-time apply to --executor slurm")
        return {}
    if not (args.slurm_partition and args.slurm_time):
        raise UserError("--executor slurm needs --slurm-partition and --slurm-time")
    import sys

    options = {"partition": args.slurm_partition, "time": args.slurm_time}
    if sys.prefix != sys.base_prefix:
        options["venv_path"] = f"{sys.prefix}/bin/activate"  # datatrove sources this path
    return options


def _bands(text: str) -> float | list[tuple[float, float]]:
    """``K`` or ``S:K,S:K,...``."""
    try:
        if ":" not in text:
            return _positive(text)
        bands = [tuple(map(float, band.split(":"))) for band in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected K or SCORE:K,SCORE:K,...") from None
    if not all(len(b) == 2 and 0 <= b[0] <= 1 and b[1] > 0 for b in bands):
        raise argparse.ArgumentTypeError(f"{text!r}: each band is SCORE:K with SCORE in [0, 1] and K > 0")
    return bands


def _number(text: str, check, meaning: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a number") from None
    if not check(value):
        raise argparse.ArgumentTypeError(f"{text!r}: must be {meaning}")
    return value


def _probability(text: str) -> float:
    return _number(text, lambda v: 0 <= v <= 1, "in [0, 1]")


def _fraction(text: str) -> float:
    return _number(text, lambda v: 0 < v <= 1, "in (0, 1]")


def _open_fraction(text: str) -> float:
    return _number(text, lambda v: 0 < v < 1, "in (0, 1)")


def _positive(text: str) -> float:
    return _number(text, lambda v: v > 0, "positive")


def _count(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a whole number >= 1")
    return int(text)
