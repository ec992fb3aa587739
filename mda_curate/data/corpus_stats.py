"""Per-domain statistics of document files: documents, characters, UTF-8 bytes and (optionally) tokens."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from mda_curate.data.documents import Document

TOKENIZE_BATCH = 256


@dataclass
class DomainStats:
    docs: int = 0
    chars: int = 0
    bytes: int = 0
    tokens: int | None = None

    def add(self, other: DomainStats) -> None:
        self.docs += other.docs
        self.chars += other.chars
        self.bytes += other.bytes
        if other.tokens is not None:
            self.tokens = (self.tokens or 0) + other.tokens


def domain_stats(docs: Iterable[Document], tokenizer=None) -> dict[str, DomainStats]:
    """Stats per domain, in order of first appearance; ``tokens`` is counted only with a tokenizer."""
    stats: dict[str, DomainStats] = {}
    batch: list[Document] = []
    for doc in docs:
        entry = stats.setdefault(doc.domain, DomainStats(tokens=0 if tokenizer is not None else None))
        entry.docs += 1
        entry.chars += len(doc.text)
        entry.bytes += len(doc.text.encode("utf-8"))
        if tokenizer is not None:
            batch.append(doc)
            if len(batch) == TOKENIZE_BATCH:
                _count_tokens(batch, tokenizer, stats)
                batch = []
    if batch:
        _count_tokens(batch, tokenizer, stats)
    return stats


def _count_tokens(batch: list[Document], tokenizer, stats: dict[str, DomainStats]) -> None:
    encoded = tokenizer([doc.text for doc in batch], add_special_tokens=False)["input_ids"]
    for doc, ids in zip(batch, encoded):
        stats[doc.domain].tokens += len(ids)


def total(stats: dict[str, DomainStats]) -> DomainStats:
    """The sum over all domains."""
    out = DomainStats()
    for entry in stats.values():
        out.add(entry)
    return out
