"""``mda-curate demo``: the closed loop on the shipped sample corpus (grows as capabilities land)."""

from __future__ import annotations

import argparse

from mda_curate.training.config import PRESETS


def register(subparsers) -> None:
    parser = subparsers.add_parser("demo", help="run the end-to-end loop on the shipped sample corpus")
    parser.add_argument(
        "--output",
        default="demo-output",
        help="folder for every stage's outputs (default %(default)s)",
    )
    parser.add_argument("--quick", action="store_true", help="a few-minute version for CI")
    parser.add_argument(
        "--preset", choices=list(PRESETS), help="the model to train instead of the recipe's cpu-tiny, e.g. llama-tiny"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mda_curate.demo import run_demo

    run_demo(args.output, quick=args.quick, preset=args.preset)
    return 0
