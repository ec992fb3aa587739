"""Training labels: influence scores (top vs bottom fractions) or a documented domain proxy."""

from __future__ import annotations

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
    """Read a ``doc_id``/``score`` parquet file; rows without a score (``influence.scores.scored_rows``: null,
    NaN or skipped) are dropped and counted."""
    from mda_curate.influence.scores import read_scores, scored_rows

    path = Path(path)
    table = read_scores(path, SCORE_COLUMNS)
    ids, scores = table.column("doc_id").to_pylist(), table.column("score").to_pylist()
    by_id, null = {}, 0
    for row, (doc_id, score, valid) in enumerate(zip(ids, scores, scored_rows(table)), start=1):
        if doc_id is None:
            raise UserError(f"{path}:{row}: null doc_id")
        if not valid:
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
    from mda_curate.influence.scores import ranked

    order = ranked(scores)
    chosen = np.concatenate([order[:k], order[-k:]])
    return chosen, np.r_[np.ones(k, np.int64), np.zeros(k, np.int64)]


def window_labels(window, fraction: float) -> tuple[list, np.ndarray, list[str]]:
    """The top and bottom ``fraction`` of a scored window's samples (:func:`top_bottom_labels`), their labels,
    and their split groups: their source documents, so no document's windows sit on both sides of a split."""
    chosen, labels = top_bottom_labels(np.asarray(window.scores).tolist(), fraction)
    samples = [window.samples[i] for i in chosen.tolist()]
    return samples, labels, [document_group(s.document) for s in samples]


@dataclass(frozen=True)
class Labelled:
    """Documents with their 0/1 labels and split groups, the label rule and data counts the card records, and
    the card's ``influence`` entry (None for labels not read from a run's window)."""

    docs: list
    groups: list[str]
    labels: np.ndarray
    rule: dict
    data: dict
    influence: dict | None = None


def window_labelled(run: str | Path, scores: str | Path, fraction: float) -> Labelled:
    """The run's window samples that ``scores`` scored, labelled top vs bottom by influence, with their source
    documents as split groups; the ``influence`` entry names the run, scores, window, unit, checkpoint and probe."""
    from mda_curate.data.documents import Document
    from mda_curate.influence.window import scored_window

    window = scored_window(run, scores)
    samples, labels, groups = window_labels(window, fraction)
    docs = [Document(s.doc_id, s.text, s.domain) for s in samples]
    provenance = window.provenance
    rule = {
        "kind": "influence-top-bottom",
        "source": "influence",
        "fraction": fraction,
        "description": f"influence of the samples of {provenance['run']} steps {provenance['window'][0]}:"
        f"{provenance['window'][1]} on unit {provenance.get('unit', '(unknown)')}, from {scores}: the top "
        f"{fraction:.0%} of scored samples by score = 1, the bottom {fraction:.0%} = 0, the middle left "
        f"out; ties broken by sample order. Each sample is its {len(samples[0].tokens)} tokens decoded.",
    }
    data = {
        "run": provenance["run"],
        "scores": str(scores),
        "samples_scored": len(window.samples),
        "scores_null": window.unscored,
    }
    return Labelled(docs, groups, labels, rule, data, {**provenance, "label_source": "influence"})


def domain_labels(domains: Sequence[str], positive: Sequence[str]) -> np.ndarray:
    """The proxy label: 1 for documents of the ``positive`` domains, 0 for the rest."""
    positive = set(positive)
    return np.fromiter((domain in positive for domain in domains), np.int64, len(domains))


def document_group(doc_id: str) -> str:
    """The source document of a chunk id (``path#12`` -> ``path``); chunks of one source share a split."""
    return _CHUNK_SUFFIX.sub("", doc_id)
