"""Filter: keep documents whose catalyst score reaches a threshold, or exactly the top fraction.

    python pipelines/filter.py INPUT... --output DIR [--classifier PATH] [--threshold X | --top-fraction F]
        [--format jsonl|parquet] [--tasks N] [--workers N] [--executor local|slurm|ray]

is ``mda-curate curate filter``. With a threshold, one pass: AccountedReader -> CatalystScorer ->
CatalystFilter (dropped documents -> DIR/excluded) -> writer. With a top fraction, a scan pass scores
every document and records its score, one task computes the exact cutoff over all ranks, then the
one-pass pipeline runs with it. ``build`` returns the plan for use from Python.
"""

import sys

from mda_curate.pipelines.recipes import filter_plan as build

__all__ = ["build"]

if __name__ == "__main__":
    from mda_curate.cli import main

    sys.exit(main(["curate", "filter", *sys.argv[1:]]))
