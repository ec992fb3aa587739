"""Reading and ranking a score table written by ``mda-curate influence`` (or any parquet with the needed columns).

Imports only pyarrow and numpy, so the classifier, augmentation and validation code can read scores without torch.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from mda_curate.errors import UserError


def read_scores(path: str | Path, columns: tuple[str, ...]):
    """The parquet table at ``path``; a UserError names the file when it is missing, unreadable or lacks a column."""
    import pyarrow.parquet as pq

    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such file")
    try:
        table = pq.read_table(path)
    except Exception as err:  # noqa: BLE001  pyarrow raises several types for unreadable files
        raise UserError(f"{path}: not a readable parquet file ({err})") from None
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        raise UserError(f"{path}: missing column {missing[0]!r} (columns: {', '.join(table.column_names)})")
    return table


def scored_rows(table) -> np.ndarray:
    """Which rows of a score table have a score, as a boolean mask: a row counts when its ``score`` is a number
    (not null, not NaN) and, where the table has a ``skipped`` column, its ``skipped`` is null. A skipped sample
    (shorter than 2 tokens: no loss) is written with a null score and its reason, so it is left out either way;
    a row with a reason but a number is left out too. Every reader that ranks scores drops these rows."""
    scores = table.column("score").to_pylist()
    reasons = table.column("skipped").to_pylist() if "skipped" in table.column_names else [None] * len(scores)
    return np.fromiter(
        (
            s is not None and not (isinstance(s, float) and math.isnan(s)) and r is None
            for s, r in zip(scores, reasons)
        ),
        dtype=bool,
        count=len(scores),
    )


def ranked(scores, keys=None, lowest_first: bool = False) -> np.ndarray:
    """Positions of ``scores`` from the highest score to the lowest (``lowest_first``: the reverse), ties broken
    by the lower ``key`` first (default: the earlier position), so a ranking never depends on the sort
    algorithm. ``scores`` must hold numbers only: take the :func:`scored_rows` first."""
    scores = np.asarray(scores, dtype=np.float64)
    keys = np.arange(len(scores)) if keys is None else np.asarray(keys)
    return np.lexsort((keys, scores if lowest_first else -scores))
