"""Read documents from JSONL or parquet files, accounting for every line.

A document is a dict-like record with a string ``text``; ``id`` and ``domain`` are optional
(ids default to ``<file name>:<line>``, domains to ``"unknown"``). Bad records raise a
:class:`~mda_curate.errors.UserError` naming the file and line, or, with ``skip_bad=True``,
are counted in :class:`ReadStats` with their reason; nothing is dropped silently.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from mda_curate.errors import UserError, where

# the document file suffixes every reader here and in ``mda_curate.pipelines`` accepts (JSONL: plain, gzip, zstd)
JSONL_SUFFIXES = (".jsonl", ".json", ".jsonl.gz", ".json.gz", ".jsonl.zst", ".json.zst")
PARQUET_SUFFIXES = (".parquet",)


@dataclass(frozen=True)
class Document:
    doc_id: str
    text: str
    domain: str = "unknown"


@dataclass
class ReadStats:
    """Counts of what a read did: ``read`` lines, ``kept`` documents, ``rejected`` by reason."""

    read: int = 0
    kept: int = 0
    rejected: Counter = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)

    def reject(self, reason: str, location: str, detail: str = "") -> None:
        """Count a rejection under its ``reason``; the first few keep their location and detail."""
        self.rejected[reason] += 1
        if len(self.examples) < 10:
            self.examples.append(f"{location}: {_describe(reason, detail)}")

    @property
    def total_rejected(self) -> int:
        return sum(self.rejected.values())


def read_documents(
    paths: Iterable[str | Path],
    skip_bad: bool = False,
    stats: ReadStats | None = None,
    skip_option: str | None = None,
) -> Iterator[Document]:
    """Yield documents from JSONL/parquet ``paths`` in order; see the module docstring for errors.
    ``skip_option`` names the caller's option that skips bad lines (e.g. ``--skip-bad``) in the error."""
    stats = stats if stats is not None else ReadStats()
    for path in map(Path, paths):
        if not path.exists():
            raise UserError(f"{path}: no such file")
        records = _parquet_records(path) if path.name.endswith(PARQUET_SUFFIXES) else _jsonl_records(path)
        for line, record in records:
            stats.read += 1
            doc = _to_document(record, path, line)
            if isinstance(doc, Document):
                stats.kept += 1
                yield doc
            elif skip_bad:
                stats.reject(doc.reason, where(path, line), doc.detail)
            else:
                hint = f"pass {skip_option} to count and skip such lines" if skip_option else "fix or remove the line"
                raise UserError(f"{where(path, line)}: {doc} ({hint})")


@dataclass(frozen=True)
class _Bad:
    """A rejected record: ``reason`` is the category counted in ReadStats, ``detail`` says where or what."""

    reason: str
    detail: str = ""

    def __str__(self) -> str:
        return _describe(self.reason, self.detail)


def _describe(reason: str, detail: str) -> str:
    return f"{reason} ({detail})" if detail else reason


def _to_document(record, path: Path, line: int) -> Document | _Bad:
    if isinstance(record, _Bad):
        return record
    if not isinstance(record, dict):
        return _Bad("not a JSON object", f"a JSON {type(record).__name__}")
    if "text" not in record:
        return _Bad("missing 'text'")
    text = record["text"]
    if not isinstance(text, str):
        return _Bad("non-string 'text'", f"'text' is {type(text).__name__}")
    doc_id = record.get("id", record.get("doc_id"))
    doc_id = f"{path.name}:{line}" if doc_id is None else str(doc_id)
    return Document(doc_id=doc_id, text=text, domain=str(record.get("domain") or "unknown"))


def _open_text_bytes(path: Path):
    if path.name.endswith(".gz"):
        import gzip

        return gzip.open(path, "rb")
    if path.name.endswith(".zst"):
        import io

        import zstandard

        return io.BufferedReader(zstandard.open(path, "rb"))  # zstandard's reader alone cannot iterate lines
    return open(path, "rb")


def _jsonl_records(path: Path) -> Iterator[tuple[int, object]]:
    with _open_text_bytes(path) as handle:
        for line_no, raw in enumerate(handle, start=1):
            if not raw.strip():
                yield line_no, _Bad("blank line")
                continue
            try:
                yield line_no, json.loads(raw.decode("utf-8"))
            except UnicodeDecodeError as err:
                yield line_no, _Bad("invalid UTF-8", f"at byte {err.start}")
            except json.JSONDecodeError as err:
                yield line_no, _Bad("malformed JSON", f"{err.msg}, column {err.colno}")
            except RecursionError:
                yield line_no, _Bad("malformed JSON", "nested too deeply")


def _parquet_records(path: Path) -> Iterator[tuple[int, object]]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as err:  # noqa: BLE001  pyarrow raises several types for unreadable files
        raise UserError(f"{path}: not a readable parquet file ({err})") from None
    yield from enumerate(table.to_pylist(), start=1)
