"""``mda-curate lds``: the linear datamodeling score of influence scores, by retraining random subsets."""

from __future__ import annotations

import argparse
from functools import partial

from mda_curate.flags import add_setting


def register(subparsers) -> None:
    from mda_curate.validation.lds import LdsSettings

    parser = subparsers.add_parser(
        "lds",
        help="how well influence scores predict retraining: the linear datamodeling score (LDS)",
        description=(
            "Remove random shares of a scored window's samples, retrain the run from the window's start on its "
            "own data order (once as it is, then in seeded shuffles of the window), measure the scores' probe "
            "on every retrained model and report, per share, the Spearman correlation between each scores "
            "file's prediction (the sum of the kept samples' scores) and the measurement, with bootstrap "
            "intervals, the chance level and the retrainings' agreement with each other. Resumable; "
            "processes given different --part share the work and the last one writes DIR/lds.json."
        ),
    )
    parser.add_argument("--run", required=True, metavar="RUN", help="the training run the scores' window comes from")
    parser.add_argument(
        "--scores",
        required=True,
        nargs="+",
        metavar="SCORES.parquet",
        help="mda-curate influence outputs of one window",
    )
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder (retraining results, lds.json)")
    setting = partial(add_setting, parser, LdsSettings)
    setting("alphas", type=float, nargs="+", metavar="A")
    setting("subsets", metavar="N")
    setting("retrain_seeds", metavar="N")
    setting("end", metavar="STEP")
    setting("seed")
    setting("bootstrap", metavar="N")
    parser.add_argument("--part", default="0/1", metavar="I/N", help="retrain every N-th retraining from the I-th")
    parser.add_argument("--threads", type=int, metavar="N", help="torch threads per retraining (default: the run's)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from dataclasses import fields

    from mda_curate.console import console
    from mda_curate.validation.lds import LdsSettings, run_lds

    given = {f.name: getattr(args, f.name) for f in fields(LdsSettings)}
    settings = LdsSettings(**{**given, "alphas": tuple(args.alphas)})
    result = run_lds(args.run, args.scores, args.out, settings, _part(args.part), args.threads)
    if result is None:
        console.print(f"part {args.part} done; {args.out}/lds.json is written when every part is")
        return 0
    for alpha, entry in result["alphas"].items():
        for name, lds in entry["lds"].items():
            low, high = lds["ci95"]
            console.print(f"alpha {alpha}: {name}: LDS {lds['spearman']:.3f} [{low:.3f}, {high:.3f}] (n = {lds['n']})")
    return 0


def _part(text: str) -> tuple[int, int]:
    from mda_curate.errors import FieldError

    index, _, count = text.partition("/")
    if not (index.isdigit() and count.isdigit() and int(index) < int(count)):
        raise FieldError("part", f"must be I/N with 0 <= I < N, e.g. 0/2 (got {text!r})")
    return int(index), int(count)
