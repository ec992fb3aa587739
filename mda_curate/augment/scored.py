"""The top- and bottom-influence documents of an influence-scores file, as texts or token sequences.

Rows without a score are left out (``influence.scores.scored_rows``). The top set is the
``round(top_fraction * rows)`` highest scores (at least one), by descending score; the bottom set the
``round(bottom_fraction * rows)`` lowest, by ascending score (ties keep the file's order).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mda_curate.errors import UserError


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
            raise UserError(f"--{name}-fraction must be in {'(0' if name == 'top' else '[0'}, 1] (got {value})")
    table = read_scores(path, ("score", key))
    valid = scored_rows(table)
    keys = np.asarray(table.column(key).to_pylist(), dtype=object)[valid]
    scores = np.asarray(table.column("score").to_numpy(zero_copy_only=False), dtype=float)[valid]
    if len(scores) == 0:
        raise UserError(f"{path}: no scored rows (every score is null or skipped)")
    top = ranked(scores)[: max(1, round(top_fraction * len(scores)))]
    bottom = ranked(scores, lowest_first=True)[: round(bottom_fraction * len(scores))]
    return Selection(keys[top].tolist(), scores[top].tolist(), keys[bottom].tolist(), scores[bottom].tolist(), len(scores))


def run_tokens(run: str | Path, steps: tuple[int, int], sample_indices: list[int]) -> list[np.ndarray]:
    """The tokens of a training run's samples ``sample_indices`` (all within ``steps``)."""
    from mda_curate.influence.samples import open_samples

    samples = open_samples(run, steps=steps)
    first = samples[0].index
    out = []
    for g in sample_indices:
        if not isinstance(g, int) or not 0 <= g - first < len(samples):
            raise UserError(f"sample_index {g!r} is not a sample of {run} steps {steps[0]}:{steps[1]}")
        out.append(samples[g - first].tokens)
    return out


def run_tokenizer(run: str | Path) -> str:
    """The tokenizer folder a training run was trained with (its ``config.json``)."""
    config = Path(run) / "config.json"
    try:
        return json.loads(config.read_text())["tokenizer"]
    except (FileNotFoundError, KeyError, json.JSONDecodeError):
        raise UserError(f"{config}: no 'tokenizer' recorded; pass --tokenizer DIR") from None


def document_texts(path: str | Path, doc_ids: list) -> list[str]:
    """The texts of documents ``doc_ids`` of a JSONL/parquet file, in that order."""
    from mda_curate.data.documents import read_documents

    wanted = {str(d) for d in doc_ids}
    texts = {doc.doc_id: doc.text for doc in read_documents([path]) if doc.doc_id in wanted}
    missing = [d for d in doc_ids if str(d) not in texts]
    if missing:
        raise UserError(f"{path}: no document with id {missing[0]!r} (from the scores' doc_id column)")
    return [texts[str(d)] for d in doc_ids]
