"""The project's tokenized-corpus format: one folder, memory-mapped, random access by document.

Layout of a tokenized folder::

    tokens.bin    all documents' token ids back to back, each followed by EOS (uint16, or uint32 for vocab > 65535)
    docs.parquet  one row per document: doc_id, domain, offset (into tokens.bin, in tokens), length (without EOS)
    meta.json     {"format": "mda-tokenized/1", "dtype", "eos_id", "vocab_size", "tokenizer", "num_tokens", "skipped"}
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mda_curate.data.documents import Document
from mda_curate.errors import UserError

FORMAT = "mda-tokenized/1"


@dataclass
class TokenizedCorpus:
    """A tokenized folder opened for reading; ``tokens`` is a read-only memmap."""

    path: Path
    tokens: np.ndarray
    doc_ids: list[str]
    domains: np.ndarray
    offsets: np.ndarray
    lengths: np.ndarray
    eos_id: int
    vocab_size: int

    @classmethod
    def open(cls, path: str | Path) -> TokenizedCorpus:
        import pyarrow.parquet as pq

        path = Path(path)
        meta = read_meta(path)
        docs = pq.read_table(path / "docs.parquet").to_pydict()
        dtype = np.dtype(meta["dtype"])
        empty = (path / "tokens.bin").stat().st_size == 0  # numpy cannot map an empty file
        tokens = np.zeros(0, dtype) if empty else np.memmap(path / "tokens.bin", dtype=dtype, mode="r")
        if tokens.size != meta["num_tokens"]:
            raise UserError(f"{path / 'tokens.bin'}: holds {tokens.size} tokens, meta.json says {meta['num_tokens']}")
        return cls(
            path=path,
            tokens=tokens,
            doc_ids=docs["doc_id"],
            domains=np.asarray(docs["domain"], dtype=object),
            offsets=np.asarray(docs["offset"], dtype=np.int64),
            lengths=np.asarray(docs["length"], dtype=np.int64),
            eos_id=int(meta["eos_id"]),
            vocab_size=int(meta["vocab_size"]),
        )

    def __len__(self) -> int:
        return len(self.doc_ids)

    def document(self, index: int) -> np.ndarray:
        """Token ids of document ``index``, without its trailing EOS."""
        start = self.offsets[index]
        return np.asarray(self.tokens[start : start + self.lengths[index]])

    def domain_indices(self, domain: str) -> np.ndarray:
        """Indices of the documents of one domain, in corpus order."""
        return np.flatnonzero(self.domains == domain)


def is_tokenized(path: str | Path) -> bool:
    """True when ``path`` is a folder in this format."""
    return (Path(path) / "meta.json").is_file() and (Path(path) / "tokens.bin").is_file()


def read_meta(path: Path) -> dict:
    meta_path = path / "meta.json"
    if not meta_path.is_file():
        raise UserError(f"{path}: not a tokenized corpus folder (no meta.json)")
    meta = json.loads(meta_path.read_text())
    if meta.get("format") != FORMAT:
        raise UserError(f"{meta_path}: format is {meta.get('format')!r}, expected {FORMAT!r}")
    return meta


def tokenize_documents(
    documents: Iterable[Document],
    tokenizer,
    out_dir: str | Path,
    batch_size: int = 256,
    min_tokens: int = 1,
) -> TokenizedCorpus:
    """Tokenize ``documents`` with a HF tokenizer into ``out_dir``; returns the opened corpus.

    Documents with fewer than ``min_tokens`` tokens are skipped and counted in meta.json's ``skipped``.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    eos_id = tokenizer.eos_token_id
    if eos_id is None:
        raise UserError(f"tokenizer {tokenizer.name_or_path!r} has no EOS token")
    vocab_size = len(tokenizer)
    dtype = np.uint16 if vocab_size <= np.iinfo(np.uint16).max + 1 else np.uint32
    rows = {"doc_id": [], "domain": [], "offset": [], "length": []}
    offset, skipped = 0, 0
    with open(out_dir / "tokens.bin", "wb") as out:
        for batch in _batched(documents, batch_size):
            encoded = tokenizer([d.text for d in batch], add_special_tokens=False)["input_ids"]
            for doc, ids in zip(batch, encoded):
                if len(ids) < min_tokens:
                    skipped += 1
                    continue
                np.asarray(ids + [eos_id], dtype=dtype).tofile(out)
                rows["doc_id"].append(doc.doc_id)
                rows["domain"].append(doc.domain)
                rows["offset"].append(offset)
                rows["length"].append(len(ids))
                offset += len(ids) + 1
    pq.write_table(pa.table(rows), out_dir / "docs.parquet")
    meta = {
        "format": FORMAT,
        "dtype": np.dtype(dtype).name,
        "eos_id": int(eos_id),
        "vocab_size": int(vocab_size),
        "tokenizer": str(tokenizer.name_or_path),
        "num_tokens": offset,
        "skipped": skipped,
    }
    (out_dir / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    return TokenizedCorpus.open(out_dir)


def _batched(items: Iterable, size: int):
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
