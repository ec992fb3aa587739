"""Score: annotate every valid document with ``metadata["catalyst_score"]``, keeping all of them.

    python pipelines/score.py INPUT... --output DIR [--classifier PATH] [--format jsonl|parquet]
        [--tasks N] [--workers N] [--executor local|slurm|ray]

is ``mda-curate curate score``. One pass: AccountedReader (unreadable lines -> DIR/excluded) ->
CatalystScorer -> JsonlWriter/ParquetWriter. ``build`` returns the plan (its datatrove passes) for
use from Python; ``mda_curate.pipelines.run.run_plan`` runs it.
"""

import sys

from mda_curate.pipelines.recipes import score_plan as build

__all__ = ["build"]

if __name__ == "__main__":
    from mda_curate.cli import main

    sys.exit(main(["curate", "score", *sys.argv[1:]]))
