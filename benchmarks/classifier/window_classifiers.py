"""Catalyst classifiers trained on influence labels, one per seed of a wide-window validation spec: the
seed's window samples (decoded) labelled by its influence scores (top 20% = 1, bottom 20% = 0), by
``mda-curate classifier train``. ``examples/validation/cpu-wide-window-influence-classifier.toml`` gives
each seed's classifier arm the classifier of another seed, so no seed is curated with labels from its own
data order.

Writes ``--out/wide_s{seed}`` (model and card) and copies each card to
``benchmarks/classifier/classifier_wide_s{seed}_card.{json,md}``. Skips a classifier that exists. Command:

    python benchmarks/classifier/window_classifiers.py --spec examples/validation/cpu-wide-window-spread.toml --out runs/classifier
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", required=True, help="a validation spec whose seeds have scores files")
    parser.add_argument("--out", default="runs/classifier", help="folder of the classifiers (wide_s{seed})")
    args = parser.parse_args()

    from mda_curate.cli import main as cli
    from mda_curate.demo import write_window_samples
    from mda_curate.validation import load_spec

    for seed in load_spec(args.spec).seeds:
        if seed.scores is None:
            sys.exit(f"{args.spec}: seed {seed.seed} names no influence scores file (seeds[].scores)")
        model = Path(args.out) / f"wide_s{seed.seed}"
        if not (model / "card.json").is_file():
            samples = Path(args.out) / f"wide_s{seed.seed}_samples.jsonl"
            write_window_samples(seed.run, seed.window, samples)
            argv = [
                "classifier",
                "train",
                "--data",
                str(samples),
                "--scores",
                str(seed.scores),
                "--seed",
                "0",
                "--out",
                str(model),
            ]
            if cli(argv) != 0:
                sys.exit(f"`mda-curate {' '.join(argv)}` failed (see above)")
        for suffix in ("json", "md"):
            shutil.copyfile(model / f"card.{suffix}", HERE / f"classifier_wide_s{seed.seed}_card.{suffix}")


if __name__ == "__main__":
    main()
