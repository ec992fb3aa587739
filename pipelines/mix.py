"""Mix: resample several sources so that each makes its weight's share of the output's characters.

    python pipelines/mix.py INPUT... --weights W... --output DIR [--size CHARS] [--seed N]
        [--format jsonl|parquet] [--tasks N] [--workers N] [--executor local|slurm|ray]

is ``mda-curate curate mix``; each INPUT (file, folder, glob or URL) is one source. A scan pass
counts each source's characters, one task computes the rates, then AccountedReader -> SourceMixer
(rate < 1 subsamples, > 1 repeats) -> writer. ``build`` returns the plan for use from Python.
"""

import sys

from mda_curate.pipelines.recipes import mix_plan as build

__all__ = ["build"]

if __name__ == "__main__":
    from mda_curate.cli import main

    sys.exit(main(["curate", "mix", *sys.argv[1:]]))
