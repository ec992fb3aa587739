"""A datatrove reader that accounts for every input line: bad lines become rejections, not skips.

datatrove's own JsonlReader logs and skips malformed JSON, silently drops documents without text and
stops a file at the first invalid UTF-8 byte. :class:`AccountedReader` reads JSONL (plain, ``.gz``,
``.zst``) and parquet from local paths or any fsspec URL and counts each line (or parquet row) once in
its stats, as a document or as a rejection with a reason; rejections go to its exclusion writer with
the file and line number.
"""

from __future__ import annotations

import base64
import contextlib
import io
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.readers.base import BaseReader
from datatrove.pipeline.writers.disk_base import DiskWriter

from mda_curate.data.documents import JSONL_SUFFIXES, PARQUET_SUFFIXES
from mda_curate.errors import UserError

SOURCE_KEY = "mix_source"  # metadata key naming the input a document came from (set when sources are given)
LOCATION_KEY = "location"  # metadata key of a document's {file, line}, kept out of the kept output


@dataclass(frozen=True)
class Rejection:
    """A line that is not a document: ``reason`` is a stat-friendly slug, ``detail`` says what was wrong."""

    reason: str
    detail: str = ""


def find_input_files(inputs: Sequence[str]) -> list[tuple[str, str]]:
    """Expand INPUT paths, folders, globs or fsspec URLs to ``(url, label)`` pairs of JSONL/parquet files.

    Folders are searched recursively; the order is sorted within each input, so sharding is deterministic.
    ``label`` (the path relative to its input's folder, or the file name) names documents without an id.
    """
    import fsspec
    from fsspec.implementations.local import LocalFileSystem

    found = []
    for spec in inputs:
        fs, path = fsspec.core.url_to_fs(spec)
        if fs.isdir(path):
            root = path.rstrip("/")
            files = [f for f in sorted(fs.find(root)) if f.endswith(JSONL_SUFFIXES + PARQUET_SUFFIXES)]
            labels = [f[len(root) + 1 :] for f in files]
        else:
            files = sorted(fs.glob(path)) if fsspec.core.has_magic(path) else [path] if fs.isfile(path) else []
            labels = [f.rsplit("/", 1)[-1] for f in files]
        if not files:
            raise UserError(f"{spec}: no such file, or no .jsonl/.json(.gz|.zst)/.parquet files in it")
        local = isinstance(fs, LocalFileSystem)
        found += [(f if local else fs.unstrip_protocol(f), label) for f, label in zip(files, labels)]
    return found


class AccountedReader(BaseReader):
    """Read JSONL/parquet ``files`` (``(url, label)`` pairs, see :func:`find_input_files`), rank ``r`` taking
    ``files[r::world_size]``. Every line counts in ``lines_read``; valid ones become documents
    (``documents``), the rest ``rejected`` and ``rejected_<reason>``, written to ``exclusion_writer`` with
    ``metadata = {filter_reason, detail, file, line}`` (lines are 1-based; parquet rows count as lines).

    Reasons: ``blank_line``, ``invalid_utf8``, ``malformed_json`` (also JSON nested too deeply),
    ``not_an_object``, ``missing_text`` (absent or null), ``non_string_text``, ``empty_text``,
    ``invalid_id`` (null, empty, or neither a string nor an integer; integer ids are read as strings),
    ``duplicate_id`` (an id this task has read before),
    ``invalid_media`` (a ``media`` field datatrove cannot read) and ``unreadable_file``: the rest of a
    file that cannot be read (truncated or corrupt compression, a broken parquet file) counts as one
    line, at the line where reading stopped. A rejected JSONL line keeps its original bytes: its text is
    the line (invalid UTF-8 replaced) and, when not UTF-8, ``metadata["raw_base64"]`` holds the bytes.

    ``sources`` (parallel to ``files``) tags each document's ``metadata["mix_source"]``. Documents
    without ``id_key`` get the id ``<label>/<line>``. Each document carries its ``file`` and ``line`` in
    ``metadata["location"]``, which the writers of :mod:`mda_curate.pipelines.recipes` move into the
    exclusion records of dropped documents and leave out of kept ones.
    """

    name = "🧾 Accounted JSONL/parquet"

    def __init__(
        self,
        files: Sequence[tuple[str, str]],
        exclusion_writer: DiskWriter | None = None,
        sources: Sequence[str] | None = None,
        text_key: str = "text",
        id_key: str = "id",
        parquet_batch_size: int = 1000,
    ):
        super().__init__(text_key=text_key, id_key=id_key)
        self.files = list(files)
        self.sources = list(sources) if sources is not None else None
        self.exclusion_writer = exclusion_writer
        self.parquet_batch_size = parquet_batch_size

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        if data:
            yield from data
        seen_ids: set[int] = set()
        with self.exclusion_writer if self.exclusion_writer else contextlib.nullcontext() as writer:
            for index in range(rank, len(self.files), world_size):
                url, label = self.files[index]
                source = self.sources[index] if self.sources is not None else None
                self.stat_update("input_files")
                for line, record, raw in self._records(url):
                    self.stat_update("lines_read")
                    with self.track_time():
                        document = self._to_document(record, label, line, source, seen_ids)
                    if isinstance(document, Rejection):
                        self._reject(writer, document, raw, record, url, label, line, rank)
                        continue
                    document.metadata[LOCATION_KEY] = {"file": url, "line": line}
                    self.stat_update("documents")
                    self.update_doc_stats(document)
                    yield document

    def _records(self, url: str) -> Iterator[tuple[int, object, bytes | None]]:
        """``(line, parsed value or Rejection, raw bytes of a JSONL line)`` for every line of ``url``; a file
        that cannot be read to its end ends with one ``unreadable_file`` rejection."""
        line = 0
        try:
            parquet = url.endswith(PARQUET_SUFFIXES)
            for line, record, raw in _parquet_rows(url, self.parquet_batch_size) if parquet else _jsonl_lines(url):
                yield line, record, raw
        except _read_errors() as err:
            yield line + 1, Rejection("unreadable_file", f"{type(err).__name__}: {err}"), b""

    def _to_document(
        self, record, label: str, line: int, source: str | None, seen_ids: set[int]
    ) -> Document | Rejection:
        problem = record if isinstance(record, Rejection) else _check_record(record, self.text_key, self.id_key)
        if problem:
            return problem
        if _integer(record.get(self.id_key)):
            record = {**record, self.id_key: str(record[self.id_key])}
        if self.id_key in record:
            key = hash(record[self.id_key])  # the set lives in this process only
            if key in seen_ids:
                return Rejection("duplicate_id", f"{self.id_key!r} {record[self.id_key]!r} was read before")
            seen_ids.add(key)
        try:
            document = self.get_document_from_dict(record, label, line)  # never None: the text is not empty
        except TypeError as err:  # datatrove's Media(**item) on a malformed "media" field
            return Rejection("invalid_media", str(err))
        if source is not None:
            document.metadata[SOURCE_KEY] = source
        return document

    def _reject(self, writer, rejection: Rejection, raw, record, url: str, label: str, line: int, rank: int) -> None:
        self.stat_update("rejected", f"rejected_{rejection.reason}")
        if writer:
            metadata = {"filter_reason": rejection.reason, "detail": rejection.detail, "file": url, "line": line}
            text = _row_text(record) if raw is None else raw.decode("utf-8", errors="replace")
            if raw is not None and text.encode() != raw:
                metadata["raw_base64"] = base64.b64encode(raw).decode()
            writer.write(Document(text=text, id=f"{label}/{line}", metadata=metadata), rank)


def _read_errors() -> tuple[type[Exception], ...]:
    """What gzip, zstandard, pyarrow and fsspec raise for a truncated or corrupt file."""
    import zstandard

    return OSError, EOFError, ValueError, zlib.error, zstandard.ZstdError


def _check_record(record, text_key: str, id_key: str) -> Rejection | None:
    if not isinstance(record, dict):
        return Rejection("not_an_object", f"a JSON {type(record).__name__}")
    text = record.get(text_key)
    if text is None:
        return Rejection("missing_text", f"no {text_key!r}" if text_key not in record else f"{text_key!r} is null")
    if not isinstance(text, str):
        return Rejection("non_string_text", f"{text_key!r} is {type(text).__name__}")
    if not text:
        return Rejection("empty_text")
    if id_key in record and not (isinstance(record[id_key], str) and record[id_key] or _integer(record[id_key])):
        kind = "null" if record[id_key] is None else "empty" if record[id_key] == "" else type(record[id_key]).__name__
        return Rejection("invalid_id", f"{id_key!r} is {kind}")
    return None


def _integer(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _jsonl_lines(url: str) -> Iterator[tuple[int, object, str | None]]:
    import fsspec
    import orjson

    with fsspec.open(url, "rb", compression="infer") as handle:
        lines = io.BufferedReader(handle) if url.endswith(".zst") else handle  # zstd's reader cannot iterate lines
        for line, raw in enumerate(lines, start=1):
            raw = raw.rstrip(b"\r\n")
            try:
                yield line, orjson.loads(raw), raw
            except orjson.JSONDecodeError as err:
                yield line, _classify_bad_line(raw, err), raw


def _classify_bad_line(raw: bytes, err: Exception) -> Rejection:
    if not raw.strip():
        return Rejection("blank_line")
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as bad:
        return Rejection("invalid_utf8", f"byte offset {bad.start}")
    return Rejection("malformed_json", str(err))


def _parquet_rows(url: str, batch_size: int) -> Iterator[tuple[int, dict, None]]:
    """Rows as dicts; they have no raw bytes (a rejected row is written as its JSON)."""
    import fsspec
    import pyarrow.parquet as pq

    with fsspec.open(url, "rb") as handle, pq.ParquetFile(handle) as parquet:
        line = 0
        for batch in parquet.iter_batches(batch_size=batch_size):
            for row in batch.to_pylist():
                line += 1
                yield line, row, None


def _row_text(record) -> str:
    """The raw form of a rejected parquet row or JSON value, for the exclusion output."""
    import orjson

    return orjson.dumps(record, default=str).decode()
