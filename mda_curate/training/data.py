"""Pythia-style fixed data order: which window of which source every global sample index reads.

A *source* yields windows of ``ctx + 1`` tokens (inputs plus the shifted labels):

* a corpus domain (``PackedSource``): the domain's documents of one or more tokenized corpora, in a
  seeded order, each followed by its EOS, packed into one stream and cut into consecutive windows
  (the last partial window is dropped);
* ``repeated_spans`` (``RepeatedSpansSource``): synthetic catalyst windows of random spans, each span
  repeated 2-3 times back to back; window ``g`` is generated from ``(seed, g)`` alone, so it is
  random-access and identical in every arm that shares the seed.

The *order* assigns every global sample index ``g = step * batch_size + row`` one ``(source, window)``:
each source gets its share of the ``steps * batch_size`` samples (largest remainder, exact), the labels
are shuffled with the seed, and the k-th sample of a corpus source reads its window ``k mod
num_windows`` (a source that runs out starts over, like a second epoch). The order is saved in the run
folder (``order.npy``, ``sources.json``, ``streams.npz``) and :meth:`DataOrder.load` maps any sample
index back to its tokens and document ids.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mda_curate.data.tokenized import TokenizedCorpus, is_tokenized, tokenize_documents
from mda_curate.errors import UserError

CATALYST = "repeated_spans"
SPAN_LENGTHS = (10, 60)  # inclusive range of a span's length in tokens
SPAN_COPIES = (2, 3)  # inclusive range of how many times a span is written back to back
SPAN_TOKEN_RANKS = (20, 1000)  # spans draw token ids ranked 20..999 by frequency in the training data


def rng(seed: int, *keys: str | int) -> np.random.Generator:
    """A generator for one named purpose, so that adding one random stream never shifts another."""
    words = [zlib.crc32(k.encode()) if isinstance(k, str) else int(k) for k in keys]
    return np.random.default_rng([seed, *words])


class PackedSource:
    """One domain's documents (from one or more corpora) packed into a stream of EOS-separated tokens."""

    kind = "corpus"

    def __init__(self, name: str, corpora: list[TokenizedCorpus], docs: np.ndarray, ctx: int):
        self.name, self.corpora, self.docs, self.window_len = name, corpora, docs, ctx + 1
        lengths = np.zeros(len(docs), dtype=np.int64)
        for c, corpus in enumerate(corpora):
            mine = docs[:, 0] == c
            lengths[mine] = corpus.lengths[docs[mine, 1]] + 1  # + the EOS that follows every document
        self.starts = np.concatenate([[0], np.cumsum(lengths)])
        self.num_windows = int(self.starts[-1] // self.window_len)

    @classmethod
    def shuffled(cls, name: str, corpora: list[TokenizedCorpus], ctx: int, seed: int) -> PackedSource:
        """The documents of domain ``name`` in every corpus, in an order seeded by ``seed`` and ``name``."""
        parts = []
        for c, corpus in enumerate(corpora):
            indices = corpus.domain_indices(name)
            parts.append(np.stack([np.full(len(indices), c), indices], axis=1))
        docs = np.concatenate(parts).astype(np.int64)  # rows: (corpus, document)
        return cls(name, corpora, docs[rng(seed, "documents", name).permutation(len(docs))], ctx)

    def _span(self, w: int) -> tuple[int, int, int]:
        """Stream start of window ``w`` and the first and last positions in ``docs`` it touches."""
        start = w * self.window_len
        first = int(np.searchsorted(self.starts, start, side="right")) - 1
        last = int(np.searchsorted(self.starts, start + self.window_len, side="left")) - 1
        return start, first, last

    def window(self, w: int) -> np.ndarray:
        start, first, last = self._span(w)
        pieces = []
        for i in range(first, last + 1):
            corpus = self.corpora[self.docs[i, 0]]
            lo = max(start, self.starts[i]) - self.starts[i]
            hi = min(start + self.window_len, self.starts[i + 1]) - self.starts[i]
            offset = corpus.offsets[self.docs[i, 1]]
            pieces.append(corpus.tokens[offset + lo : offset + hi])
        return np.concatenate(pieces).astype(np.int64)

    def window_doc_ids(self, w: int) -> list[str]:
        return [doc_id for doc_id, _ in self.window_documents(w)]

    def window_documents(self, w: int) -> list[tuple[str, int]]:
        """``(doc_id, tokens)`` of each document window ``w`` reads, a document's tokens counting its EOS."""
        start, first, last = self._span(w)
        end = start + self.window_len
        return [
            (self.corpora[c].doc_ids[d], int(min(end, self.starts[i + 1]) - max(start, self.starts[i])))
            for i, (c, d) in enumerate(self.docs[first : last + 1], start=first)
        ]


class RepeatedSpansSource:
    """Synthetic catalyst windows: random spans of ``pool`` tokens, each repeated back to back."""

    kind = CATALYST
    name = CATALYST
    num_windows = None  # unbounded: window g is generated from (seed, g)

    def __init__(self, pool: np.ndarray, ctx: int, seed: int):
        self.pool, self.window_len, self.seed = pool, ctx + 1, seed

    def window(self, g: int) -> np.ndarray:
        return repeated_spans(rng(self.seed, CATALYST, g), self.pool, self.window_len)[0]

    def window_doc_ids(self, g: int) -> list[str]:
        return [f"{CATALYST}:{g}"]

    def window_documents(self, g: int) -> list[tuple[str, int]]:
        return [(f"{CATALYST}:{g}", self.window_len)]


def repeated_spans(generator: np.random.Generator, pool: np.ndarray, length: int) -> tuple[np.ndarray, list]:
    """``length`` tokens of spans repeated back to back; also returns ``(start, span_length, copies)`` per
    span (the last one may be cut off by the window's end)."""
    tokens, spans = [], []
    position = 0
    while position < length:
        span = pool[generator.integers(0, len(pool), generator.integers(SPAN_LENGTHS[0], SPAN_LENGTHS[1] + 1))]
        copies = int(generator.integers(SPAN_COPIES[0], SPAN_COPIES[1] + 1))
        spans.append((position, len(span), copies))
        tokens.append(np.tile(span, copies))
        position += len(span) * copies
    return np.concatenate(tokens)[:length].astype(np.int64), spans


def span_token_pool(corpora: list[TokenizedCorpus], vocab_size: int, eos_id: int) -> np.ndarray:
    """Token ids ranked ``SPAN_TOKEN_RANKS`` by frequency in ``corpora`` (EOS excluded), or, when fewer
    than two such tokens occur, the id band ``SPAN_TOKEN_RANKS`` itself."""
    lo, hi = SPAN_TOKEN_RANKS
    counts = np.zeros(vocab_size, dtype=np.int64)
    for corpus in corpora:
        for start in range(0, corpus.tokens.size, 1 << 24):
            counts += np.bincount(corpus.tokens[start : start + (1 << 24)], minlength=vocab_size)[:vocab_size]
    counts[eos_id] = 0
    ranked = np.argsort(-counts, kind="stable")[lo : min(hi, np.count_nonzero(counts))]
    pool = ranked if len(ranked) >= 2 else np.arange(lo, min(hi, vocab_size))
    pool = pool[pool != eos_id]
    if len(pool) < 2:
        raise UserError(f"repeated_spans: a vocabulary of {vocab_size} leaves no tokens ranked {lo}-{hi}")
    return np.sort(pool).astype(np.int64)


def source_shares(sources: list, mix: dict[str, float] | None, catalyst_share: float) -> np.ndarray:
    """Each source's share of all samples: corpus domains by ``mix`` (relative weights) or by token count,
    scaled to ``1 - catalyst_share``; the catalyst source (last, when present) gets ``catalyst_share``."""
    corpus_sources = [s for s in sources if s.kind == "corpus"]
    if mix is None:
        weights = np.array([s.starts[-1] for s in corpus_sources], dtype=float)
    else:
        unknown = sorted(set(mix) - {s.name for s in corpus_sources})
        if unknown:
            known = ", ".join(s.name for s in corpus_sources) or "none"
            raise UserError(f"mix: no domain {unknown[0]!r} in the data (domains: {known})")
        weights = np.array([mix.get(s.name, 0.0) for s in corpus_sources], dtype=float)
    shares = (1 - catalyst_share) * weights / weights.sum() if weights.sum() > 0 else weights
    return np.append(shares, catalyst_share) if len(sources) > len(corpus_sources) else shares


def exact_counts(shares: np.ndarray, total: int) -> np.ndarray:
    """Integer counts summing to ``total`` in proportion to ``shares`` (largest remainder)."""
    ideal = shares / shares.sum() * total
    counts = np.floor(ideal).astype(np.int64)
    counts[np.argsort(counts - ideal, kind="stable")[: total - counts.sum()]] += 1
    return counts


@dataclass
class DataOrder:
    """The run's sources and, for every global sample index, its ``(source, window)``."""

    sources: list
    order: np.ndarray  # (num_samples, 2) int64: source index, window index
    ctx: int
    seed: int

    @classmethod
    def build(
        cls,
        corpora: list[TokenizedCorpus],
        ctx: int,
        num_samples: int,
        seed: int,
        mix: dict[str, float] | None = None,
        catalyst_share: float = 0.0,
        vocab_size: int | None = None,
        eos_id: int | None = None,
    ) -> DataOrder:
        """The order of ``num_samples`` samples over the domains of ``corpora`` plus the catalyst.

        ``vocab_size`` and ``eos_id`` (default: the corpora's) bound the catalyst's token pool."""
        _check_compatible(corpora)
        domains = sorted({d for corpus in corpora for d in corpus.domains})
        sources = [PackedSource.shuffled(d, corpora, ctx, seed) for d in domains]
        if catalyst_share > 0:
            vocab = vocab_size if vocab_size is not None else corpora[0].vocab_size
            eos = eos_id if eos_id is not None else corpora[0].eos_id
            sources.append(RepeatedSpansSource(span_token_pool(corpora, vocab, eos), ctx, seed))
        shares = source_shares(sources, mix, catalyst_share)
        if shares.sum() <= 0:
            raise UserError("data: no source to train on (give data, or a catalyst_share above 0)")
        for source, share in zip(sources, shares):
            if share > 0 and source.num_windows == 0:
                raise UserError(
                    f"data: domain {source.name!r} holds fewer than {ctx + 1} tokens, less than one window"
                )
        labels = np.repeat(np.arange(len(sources)), exact_counts(shares, num_samples))
        labels = labels[rng(seed, "order").permutation(num_samples)]
        windows = np.empty(num_samples, dtype=np.int64)
        for s, source in enumerate(sources):
            (samples,) = np.nonzero(labels == s)
            windows[samples] = samples if source.num_windows is None else np.arange(len(samples)) % source.num_windows
        return cls(sources, np.stack([labels, windows], axis=1), ctx, seed)

    def __len__(self) -> int:
        return len(self.order)

    def sample(self, g: int) -> np.ndarray:
        """The ``ctx + 1`` tokens of global sample ``g``."""
        source, window = self.order[g]
        return self.sources[source].window(int(window))

    def sample_doc_ids(self, g: int) -> list[str]:
        """Ids of the documents whose tokens make up sample ``g`` (``repeated_spans:<g>`` for the catalyst)."""
        source, window = self.order[g]
        return self.sources[source].window_doc_ids(int(window))

    def sample_documents(self, g: int) -> list[tuple[str, int]]:
        """``(doc_id, tokens)`` of each document sample ``g`` reads; the tokens add up to ``ctx + 1``."""
        source, window = self.order[g]
        return self.sources[source].window_documents(int(window))

    def sample_source(self, g: int) -> str:
        return self.sources[self.order[g, 0]].name

    def save(self, run_dir: str | Path) -> None:
        """Write ``order.npy``, ``sources.json`` and ``streams.npz`` (document orders, catalyst token pool)."""
        run_dir = Path(run_dir)
        np.save(run_dir / "order.npy", self.order)
        streams = {s.name: s.docs for s in self.sources if s.kind == "corpus"}
        streams.update({CATALYST: s.pool for s in self.sources if s.kind == CATALYST})
        np.savez(run_dir / "streams.npz", **streams)
        counts = np.bincount(self.order[:, 0], minlength=len(self.sources))
        described = [
            {"name": s.name, "kind": s.kind, "num_windows": s.num_windows, "samples": int(n)}
            for s, n in zip(self.sources, counts)
        ]
        corpora = [str(Path(c.path).resolve()) for c in self._corpora()]
        info = {"ctx": self.ctx, "seed": self.seed, "corpora": corpora, "sources": described}
        (run_dir / "sources.json").write_text(json.dumps(info, indent=2) + "\n")

    @classmethod
    def load(cls, run_dir: str | Path) -> DataOrder:
        """Reopen a run's data order (its corpora must still be at the paths in ``sources.json``)."""
        run_dir = Path(run_dir)
        info = json.loads((run_dir / "sources.json").read_text())
        corpora = [TokenizedCorpus.open(p) for p in info["corpora"]]
        streams = np.load(run_dir / "streams.npz")
        sources = [
            RepeatedSpansSource(streams[s["name"]], info["ctx"], info["seed"])
            if s["kind"] == CATALYST
            else PackedSource(s["name"], corpora, streams[s["name"]], info["ctx"])
            for s in info["sources"]
        ]
        return cls(sources, np.load(run_dir / "order.npy"), info["ctx"], info["seed"])

    def _corpora(self) -> list[TokenizedCorpus]:
        return next((s.corpora for s in self.sources if s.kind == "corpus"), [])


def open_corpora(paths: list[str | Path], tokenizer, tokenized_dir: str | Path) -> list[TokenizedCorpus]:
    """Open tokenized folders as they are; JSONL/parquet files are tokenized together into ``tokenized_dir``."""
    from mda_curate.data.documents import read_documents

    folders = [p for p in paths if is_tokenized(p)]
    files = [p for p in paths if not is_tokenized(p)]
    for path in files:
        if Path(path).is_dir():
            raise UserError(f"{path}: a folder but not a tokenized corpus (no meta.json and tokens.bin)")
    corpora = [TokenizedCorpus.open(p) for p in folders]
    for corpus in corpora:
        if (corpus.vocab_size, corpus.eos_id) != (len(tokenizer), tokenizer.eos_token_id):
            raise UserError(
                f"{corpus.path}: tokenized with another tokenizer (vocab {corpus.vocab_size}, eos {corpus.eos_id}; "
                f"{tokenizer.name_or_path} has vocab {len(tokenizer)}, eos {tokenizer.eos_token_id})"
            )
    if files:
        corpora.append(tokenize_documents(read_documents(files), tokenizer, tokenized_dir))
        if len(corpora[-1]) == 0:
            raise UserError(f"{', '.join(map(str, files))}: no documents")
    return corpora


def _check_compatible(corpora: list[TokenizedCorpus]) -> None:
    for corpus in corpora[1:]:
        if (corpus.eos_id, corpus.vocab_size) != (corpora[0].eos_id, corpora[0].vocab_size):
            raise UserError(
                f"{corpus.path}: tokenized with another tokenizer than {corpora[0].path} "
                f"(eos {corpus.eos_id}, vocab {corpus.vocab_size} vs eos {corpora[0].eos_id}, vocab "
                f"{corpora[0].vocab_size})"
            )
