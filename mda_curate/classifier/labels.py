"""Training labels: influence scores (top vs bottom fractions) or a documented domain proxy."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mda_curate.errors import FieldError, UserError

SCORE_COLUMNS = ("doc_id", "score")
_CHUNK_SUFFIX = re.compile(r"#\d+$")


@dataclass(frozen=True)
class InfluenceScores:
    """Non-null influence scores by document id, and how many rows had a null (or NaN) score."""

    by_id: dict[str, float]
    rows: int
    null: int


def read_influence_scores(path: str | Path) -> InfluenceScores:
    """Read a ``doc_id``/``score`` parquet file; null and NaN scores are dropped and counted."""
    from mda_curate.influence.scores import read_scores

    path = Path(path)
    table = read_scores(path, SCORE_COLUMNS)
    ids, scores = table.column("doc_id").to_pylist(), table.column("score").to_pylist()
    by_id, null = {}, 0
    for row, (doc_id, score) in enumerate(zip(ids, scores), start=1):
        if doc_id is None:
            raise UserError(f"{path}:{row}: null doc_id")
        if score is None or (isinstance(score, float) and math.isnan(score)):
            null += 1
            continue
        if not isinstance(score, (int, float)):
            raise UserError(f"{path}:{row}: score is {type(score).__name__}, not a number")
        if str(doc_id) in by_id:
            raise UserError(f"{path}:{row}: duplicate doc_id {doc_id!r}")
        by_id[str(doc_id)] = float(score)
    return InfluenceScores(by_id, len(ids), null)


def top_bottom_labels(scores: Sequence[float], fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """Indices and 0/1 labels of the top ``fraction`` (label 1) and bottom ``fraction`` (label 0) by
    score; the middle is left out. Ties are broken by position, so the result is deterministic."""
    if not 0 < fraction <= 0.5:
        raise FieldError("fraction", f"must be in (0, 0.5] (got {fraction})")
    k = int(len(scores) * fraction)
    if k < 1:
        raise UserError(f"{len(scores)} scored documents: too few for top/bottom fractions of {fraction}")
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    chosen = np.concatenate([order[:k], order[-k:]])
    return chosen, np.r_[np.ones(k, np.int64), np.zeros(k, np.int64)]


def window_labels(window, fraction: float) -> tuple[list, np.ndarray, list[str]]:
    """The top and bottom ``fraction`` of a scored window's samples (:func:`top_bottom_labels`), their labels,
    and their split groups: their source documents, so no document's windows sit on both sides of a split."""
    chosen, labels = top_bottom_labels(np.asarray(window.scores).tolist(), fraction)
    samples = [window.samples[i] for i in chosen.tolist()]
    return samples, labels, [document_group(s.document) for s in samples]


def domain_labels(domains: Sequence[str], positive: Sequence[str]) -> np.ndarray:
    """The proxy label: 1 for documents of the ``positive`` domains, 0 for the rest."""
    positive = set(positive)
    return np.fromiter((domain in positive for domain in domains), np.int64, len(domains))


def document_group(doc_id: str) -> str:
    """The source document of a chunk id (``path#12`` -> ``path``); chunks of one source share a split."""
    return _CHUNK_SUFFIX.sub("", doc_id)
