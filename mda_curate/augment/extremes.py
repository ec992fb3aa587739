"""The top- and bottom-influence rows of an influence-scores file: the keys of the samples or documents
``augment mine`` compares (:mod:`mda_curate.augment.sources` reads them).

Rows without a score are left out (``influence.scores.scored_rows``). The top set is the
``round(top_fraction * rows)`` highest scores (at least one), by descending score; the bottom set the
``round(bottom_fraction * rows)`` lowest, by ascending score (ties keep the file's order).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mda_curate.errors import FieldError, UserError


@dataclass(frozen=True)
class Selection:
    top_keys: list  # sample_index or doc_id values, highest score first
    top_scores: list[float]
    bottom_keys: list  # lowest score first
    bottom_scores: list[float]
    rows: int  # scored rows the fractions were taken of


def select_extremes(path: str | Path, key: str, top_fraction: float, bottom_fraction: float) -> Selection:
    """Read ``path`` (parquet with ``score`` and ``key`` columns) and pick its top and bottom rows."""
    from mda_curate.influence.scores import ranked, read_scores, scored_rows

    path = Path(path)
    for name, value in (("top", top_fraction), ("bottom", bottom_fraction)):
        if not 0 <= value <= 1 or (name == "top" and value == 0):
            raise FieldError(f"{name}_fraction", f"must be in {'(0' if name == 'top' else '[0'}, 1] (got {value})")
    table = read_scores(path, ("score", key))
    valid = scored_rows(table)
    keys = np.asarray(table.column(key).to_pylist(), dtype=object)[valid]
    scores = np.asarray(table.column("score").to_numpy(zero_copy_only=False), dtype=float)[valid]
    if len(scores) == 0:
        raise UserError(f"{path}: no scored rows (every score is null or skipped)")
    top = ranked(scores)[: max(1, round(top_fraction * len(scores)))]
    bottom = ranked(scores, lowest_first=True)[: round(bottom_fraction * len(scores))]
    return Selection(
        keys[top].tolist(), scores[top].tolist(), keys[bottom].tolist(), scores[bottom].tolist(), len(scores)
    )
