"""Synthetic documents on disk, the trainer schedule that inserts them, and the matched random control.

* :func:`write_documents` writes records ``{id, text, domain, ...}`` as JSONL (``.jsonl``, ``.jsonl.gz``,
  streamed) or parquet (``.parquet``; a ``params`` dict is stored as a JSON string), the corpus format
  that ``read_documents``, the datatrove pipelines and the trainer's ``insert`` read.
* :func:`insertion_schedule` is the trainer schedule (``mda_curate/training/schedule.py``) that inserts
  a file's documents from step ``start``: ``rows_per_step`` extra rows (or ``share`` of the batch) per
  step until ``end`` or until the file's windows run out.
* :func:`random_documents` is the control: natural documents drawn at random (seeded) from a corpus
  until they hold the same number of tokens as the synthetic set, counted the same way; the last one
  is cut to fit. Inserted with the same schedule, both arms add the same rows.
"""

from __future__ import annotations

import json
import os
from collections.abc import Collection, Iterable, Iterator
from pathlib import Path

from mda_curate.augment.generators import TokenCounter, encode
from mda_curate.errors import UserError
from mda_curate.training.data import rng as named_rng

FORMATS = (".jsonl", ".jsonl.gz", ".parquet")


def write_documents(records: Iterable[dict], path: str | Path) -> tuple[int, int]:
    """Write ``records`` to ``path`` (format by suffix); returns documents and summed ``n_tokens``."""
    path = Path(path)
    if not path.name.endswith(FORMATS):
        raise UserError(f"{path}: unsupported output format (use {', '.join(FORMATS)})")
    path.parent.mkdir(parents=True, exist_ok=True)
    docs = tokens = 0
    if path.name.endswith(".parquet"):
        import pyarrow as pa
        import pyarrow.parquet as pq

        rows = [{**r, "params": json.dumps(r["params"])} if "params" in r else r for r in records]
        pq.write_table(pa.Table.from_pylist(rows), path)
        return len(rows), sum(r.get("n_tokens", 0) for r in rows)
    import gzip

    with (
        gzip.open(path, "wt", encoding="utf-8")
        if path.name.endswith(".gz")
        else open(path, "w", encoding="utf-8") as handle
    ):
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
            docs, tokens = docs + 1, tokens + record.get("n_tokens", 0)
    return docs, tokens


def insertion_schedule(
    path: str | Path,
    start: int,
    rows_per_step: int | None = None,
    share: float | None = None,
    end: int | None = None,
    schedule_dir: str | Path | None = None,
) -> dict:
    """``{"insert": [{"path", "start", "end"?, "rows_per_step" | "share"}]}`` for the documents at ``path``;
    with ``schedule_dir`` the path is written relative to it (the trainer resolves it from there)."""
    if (rows_per_step is None) == (share is None):
        raise UserError("give exactly one of rows per step and share")
    if not isinstance(start, int) or start < 0:
        raise UserError(f"start step must be a non-negative integer (got {start!r})")
    if end is not None and end <= start:
        raise UserError(f"end step {end} must be after the start step {start}")
    if rows_per_step is not None and rows_per_step < 1:
        raise UserError(f"rows per step must be at least 1 (got {rows_per_step})")
    if share is not None and not share > 0:
        raise UserError(f"share must be > 0 (got {share})")
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: no such file")
    written = os.path.relpath(path.resolve(), Path(schedule_dir).resolve()) if schedule_dir is not None else str(path)
    entry = {"path": written, "start": start}
    entry.update({"end": end} if end is not None else {})
    entry.update({"rows_per_step": rows_per_step} if rows_per_step is not None else {"share": share})
    return {"insert": [entry]}


def write_schedule(schedule: dict, out: str | Path) -> None:
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(schedule, indent=2) + "\n")


def count_tokens(path: str | Path, counter: TokenCounter) -> tuple[int, int]:
    """Documents and tokens (counted by ``counter``) of a JSONL/parquet file."""
    from mda_curate.data.documents import read_documents

    docs = tokens = 0
    for doc in read_documents([path]):
        docs, tokens = docs + 1, tokens + counter(doc.text)
    return docs, tokens


def random_documents(
    corpus: list[str | Path], tokens: int, seed: int, counter: TokenCounter, domains: Collection[str] | None = None
) -> Iterator[dict]:
    """Natural documents of ``corpus`` (of ``domains`` only, when given) in a seeded random order, ``tokens``
    tokens in all (the last cut)."""
    from mda_curate.data.documents import read_documents

    docs = [doc for doc in read_documents(corpus) if domains is None or doc.domain in domains]
    missing = set(domains or ()) - {doc.domain for doc in docs}
    if missing:
        raise UserError(f"{', '.join(map(str, corpus))}: no documents of the domains {', '.join(sorted(missing))}")
    order = named_rng(seed, "random-control").permutation(len(docs))
    remaining = tokens
    for i in order:
        if remaining <= 0:
            return
        doc = docs[int(i)]
        text = doc.text
        n = counter(text)
        if n > remaining:
            text = _cut(text, remaining, counter)
            n = counter(text)
        remaining -= n
        yield {"id": doc.doc_id, "text": text, "domain": doc.domain, "n_tokens": n}
    if remaining > 0:
        raise UserError(
            f"{', '.join(map(str, corpus))}: only {tokens - remaining} tokens, fewer than the {tokens} to match"
        )


def generic_copy_documents(tokens: int, seed: int, counter: TokenCounter, doc_tokens: int) -> Iterator[dict]:
    """Generic copy data, ``tokens`` tokens in all (the last document cut): documents of random words (the
    generators' word pool) in spans of 10-60 words, each written 2-3 times back to back, the shape of the
    training recipe's synthetic catalyst (``training.data.repeated_spans``) as text. No mined motif shapes
    it, so an arm inserting it shows what copying alone does, beside synthetic data built from mined motifs."""
    from mda_curate.augment.generators import word_pool
    from mda_curate.training.data import SPAN_COPIES, SPAN_LENGTHS

    words, rng = word_pool(counter.tokenizer), named_rng(seed, "generic-copy-control")
    remaining, number = tokens, 0
    while remaining > 0:
        pieces: list[str] = []
        while len(pieces) < doc_tokens:
            span = [words[i] for i in rng.integers(0, len(words), rng.integers(SPAN_LENGTHS[0], SPAN_LENGTHS[1] + 1))]
            pieces += span * int(rng.integers(SPAN_COPIES[0], SPAN_COPIES[1] + 1))
        text = " " + " ".join(pieces[:doc_tokens])
        n = counter(text)
        if n > remaining:
            text = _cut(text, remaining, counter)
            n = counter(text)
        if n == 0:
            raise UserError(f"generic copy data: cannot cut a document to the last {remaining} tokens")
        remaining -= n
        yield {"id": f"generic-copy/{number}", "text": text, "domain": "generic_copy", "n_tokens": n}
        number += 1


def _cut(text: str, n: int, counter: TokenCounter) -> str:
    """The start of ``text`` holding at most ``n`` tokens."""
    if counter.tokenizer is None:
        return text[: int(n * counter.chars_per_token)]
    ids = encode(counter.tokenizer, text)[:n]
    while ids and counter(counter.tokenizer.decode(ids)) > n:
        ids = ids[:-1]
    return counter.tokenizer.decode(ids)
