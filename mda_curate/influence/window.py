"""A training run's influence window as documents: every sample decoded, with its domain, source package and
source document, and the influence scores of ``mda-curate influence --train RUN --steps A:B`` joined to it.

A sample is ``ctx + 1`` tokens cut from a domain's packed stream, so it can span several documents; its
*source document* is the one that contributes most of its tokens (the first on a tie) and its *source
package* that document's id up to the first ``/`` (the sample corpus's ids are ``<package>/<path>#<chunk>``;
an id without ``/`` is its own package). Synthetic catalyst samples have the source ``repeated_spans``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mda_curate.errors import UserError

SCORE_COLUMNS = ("sample_index", "score")


@dataclass(frozen=True)
class WindowSample:
    sample_index: int  # the global sample index (step * batch_size + row)
    doc_id: str  # the influence table's doc_id: sample-<sample_index>
    domain: str
    source: str  # the source package
    document: str  # the source document's id (chunk suffix included)
    tokens: np.ndarray
    text: str  # the tokens decoded


@dataclass(frozen=True)
class ScoredWindow:
    """The scored samples of one scores file, in sample order, and where the scores came from."""

    samples: list[WindowSample]
    scores: np.ndarray  # float64, one per sample
    provenance: dict  # run, scores, window, batch_size, and (from the influence arguments) unit, checkpoint, probe
    unscored: int  # rows of the scores file with a null score or a skipped sample


def window_samples(run: str | Path, steps: tuple[int, int], tokenizer=None) -> list[WindowSample]:
    """The samples of steps ``steps[0] .. steps[1] - 1`` of ``run``, exactly as the trainer fed them, decoded
    with ``tokenizer`` (default: the run's, see :func:`load_run_tokenizer`)."""
    from mda_curate.influence.samples import open_samples
    from mda_curate.training.data import DataOrder

    samples = open_samples(run, steps=steps)
    samples = [samples[i] for i in range(len(samples))]
    order = DataOrder.load(run)
    tokenizer = tokenizer if tokenizer is not None else load_run_tokenizer(run, steps[0])
    texts = tokenizer.batch_decode([sample.tokens.tolist() for sample in samples])
    out = []
    for sample, text in zip(samples, texts):
        document = max(order.sample_documents(sample.index), key=lambda piece: piece[1])[0]
        out.append(
            WindowSample(
                sample.index, sample.doc_id, sample.domain, source_package(document), document, sample.tokens, text
            )
        )
    return out


def source_package(doc_id: str) -> str:
    """``texlive-latex-base/usr/share/...#3`` -> ``texlive-latex-base``;
    ``repeated_spans:12`` -> ``repeated_spans``."""
    from mda_curate.training.data import CATALYST

    if doc_id.startswith(f"{CATALYST}:"):
        return CATALYST
    return doc_id.split("/", 1)[0]


def load_run_tokenizer(run: str | Path, step: int | None = None):
    """The tokenizer a run was trained with: the one saved in its checkpoint ``step_<step>`` (or its first
    checkpoint), else the folder named in its ``config.json``."""
    from mda_curate.models import has_tokenizer, load_tokenizer

    run = Path(run)
    checkpoints = [run / f"step_{step}"] if step is not None else []
    checkpoints += sorted((p for p in run.glob("step_*") if p.name[5:].isdigit()), key=lambda p: int(p.name[5:]))
    for folder in checkpoints:
        if folder.is_dir() and has_tokenizer(folder):
            return load_tokenizer(str(folder))
    try:
        return load_tokenizer(json.loads((run / "config.json").read_text())["tokenizer"])
    except (FileNotFoundError, KeyError, json.JSONDecodeError):
        raise UserError(f"{run}: no checkpoint with a tokenizer and no 'tokenizer' in config.json") from None


def scored_window(run: str | Path, scores: str | Path, tokenizer=None) -> ScoredWindow:
    """The samples of ``run`` that the scores file ``scores`` (``sample_index``, ``score``) scored, with their
    scores; the window is the steps the scored sample indices fall in."""
    from mda_curate.influence.scores import read_scores, scored_rows

    run, scores = Path(run), Path(scores)
    if not (run / "order.npy").is_file() or not (run / "config.json").is_file():
        raise UserError(f"{run}: not a training run folder of `mda-curate train` (no order.npy and config.json)")
    table = read_scores(scores, SCORE_COLUMNS)
    indices = table.column("sample_index").to_pylist()
    values = np.asarray(table.column("score").to_numpy(zero_copy_only=False), dtype=np.float64)
    valid = scored_rows(table)
    order_length = len(np.load(run / "order.npy", mmap_mode="r"))
    for row, g in enumerate(indices, start=1):
        if g is None or g < 0:
            raise UserError(f"{scores}:{row}: sample_index {g!r} is not a sample index")
        if g >= order_length:
            raise UserError(f"{scores}:{row}: sample_index {g} is past the end of {run}'s data order")
    if not valid.any():
        raise UserError(f"{scores}: no scored rows (every score is null or skipped)")
    batch_size = json.loads((run / "config.json").read_text())["train"]["batch_size"]
    window = (min(indices) // batch_size, max(indices) // batch_size + 1)
    samples = window_samples(run, window, tokenizer)
    first = samples[0].sample_index
    by_index = {}
    for row, (g, ok) in enumerate(zip(indices, valid), start=1):
        if g in by_index:
            raise UserError(f"{scores}:{row}: duplicate sample_index {g}")
        by_index[g] = row - 1 if ok else None
    kept = sorted(g for g, row in by_index.items() if row is not None)
    provenance = {
        "run": str(run),
        "scores": str(scores),
        "window": list(window),
        "batch_size": batch_size,
        **influence_arguments(scores),
    }
    return ScoredWindow(
        [samples[g - first] for g in kept], values[[by_index[g] for g in kept]], provenance, len(indices) - len(kept)
    )


def influence_arguments(scores: str | Path) -> dict:
    """Unit, checkpoint and probe of a scores file, from the ``<stem>.influence/arguments.json`` that
    ``mda-curate influence`` writes beside it (empty when it is not there)."""
    scores = Path(scores)
    path = scores.with_name(scores.stem + ".influence") / "arguments.json"
    if not path.is_file():
        return {}
    arguments = json.loads(path.read_text())
    return {"unit": arguments.get("unit"), "checkpoint": arguments.get("model"), "probe": arguments.get("probe")}
