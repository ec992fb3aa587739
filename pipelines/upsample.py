"""Upsample: repeat catalyst documents by score band, or until they reach a target share.

    python pipelines/upsample.py INPUT... --output DIR [--classifier PATH] (--factor K|S:K,... | --target-share S)
        [--threshold X] [--seed N] [--format jsonl|parquet] [--tasks N] [--workers N] [--executor local|slurm|ray]

is ``mda-curate curate upsample``. One pass: AccountedReader -> CatalystScorer -> CatalystUpsampler
(copies get ids ``<id>#<k>`` and ``repeat_index``) -> writer; a target share first scans all ranks
for the catalyst and total character counts. ``build`` returns the plan for use from Python.
"""

import sys

from mda_curate.pipelines.recipes import upsample_plan as build

__all__ = ["build"]

if __name__ == "__main__":
    from mda_curate.cli import main

    sys.exit(main(["curate", "upsample", *sys.argv[1:]]))
