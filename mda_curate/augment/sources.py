"""Where the samples ``augment mine`` compares come from: a training run's samples by index (with the run's
tokenizer), or a document file's texts by id."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from mda_curate.errors import UserError


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
        raise UserError(f"{config}: no 'tokenizer' recorded; give the tokenizer") from None


def document_texts(path: str | Path, doc_ids: list) -> list[str]:
    """The texts of documents ``doc_ids`` of a JSONL/parquet file, in that order."""
    from mda_curate.data.documents import read_documents

    wanted = {str(d) for d in doc_ids}
    texts = {doc.doc_id: doc.text for doc in read_documents([path]) if doc.doc_id in wanted}
    missing = [d for d in doc_ids if str(d) not in texts]
    if missing:
        raise UserError(f"{path}: no document with id {missing[0]!r} (from the scores' doc_id column)")
    return [texts[str(d)] for d in doc_ids]
