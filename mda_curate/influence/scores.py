"""Reading a score table written by ``mda-curate influence`` (or any parquet with the needed columns).

Imports only pyarrow, so the classifier, augmentation and validation code can read scores without torch.
"""

from __future__ import annotations

from pathlib import Path

from mda_curate.errors import UserError


def read_scores(path: str | Path, columns: tuple[str, ...]):
    """The parquet table at ``path``; a UserError names the file when it is missing, unreadable or lacks a column."""
    import pyarrow.parquet as pq

    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such file")
    try:
        table = pq.read_table(path)
    except Exception as err:  # pyarrow raises several types for unreadable files
        raise UserError(f"{path}: not a readable parquet file ({err})") from None
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        raise UserError(f"{path}: missing column {missing[0]!r} (columns: {', '.join(table.column_names)})")
    return table
