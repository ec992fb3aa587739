"""Join unit-score tables of one run scored in parts (its early checkpoints deleted before the later ones existed).

Each PART is a ``mda-curate units --checkpoints ... --out PREFIX`` parquet of the same run with the same probe
settings; a step scored in several parts keeps the last part's rows. Writes OUT.parquet and OUT.png.

    python benchmarks/natural_formation/join_scores.py PART.parquet [PART.parquet ...] --out PREFIX
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pyarrow.parquet as pq

from mda_curate.units.trajectory import plot_trajectories, write_table


def joined_rows(parts: list[str]) -> list[dict]:
    """Rows of every part by step, later parts replacing a step's earlier rows; the columns must agree."""
    by_step: dict[int, list[dict]] = {}
    columns = None
    for part in parts:
        table = pq.read_table(part)
        if columns is not None and table.column_names != columns:
            raise SystemExit(f"{part}: columns {table.column_names} differ from the first part's {columns}")
        columns = table.column_names
        steps: dict[int, list[dict]] = {}
        for row in table.to_pylist():
            steps.setdefault(row["step"], []).append(row)
        by_step.update(steps)
    return [row for step in sorted(by_step) for row in by_step[step]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("parts", nargs="+", help="unit-score parquet files, earliest first")
    parser.add_argument("--out", required=True, help="output prefix: writes PREFIX.parquet and PREFIX.png")
    args = parser.parse_args()
    rows = joined_rows(args.parts)
    write_table(rows, Path(f"{args.out}.parquet"))
    plot_trajectories(rows, Path(f"{args.out}.png"))
    print(f"wrote {args.out}.parquet and {args.out}.png: {len({r['step'] for r in rows})} checkpoints")


if __name__ == "__main__":
    main()
