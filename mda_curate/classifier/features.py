"""Cheap, vectorised document features that carry the catalyst mechanism.

Induction heads are built by text in which a span seen earlier predicts what follows it now. The
features measure that directly and cheaply, on the UTF-8 bytes of each document's first
``max_chars`` characters (3,072 by default: several times the 128-token samples that influence labels
score, and, like a document classifier's 512-token truncation, a cost per document that does not grow
with its length; ``benchmarks/classifier_vs_fasttext.json`` measures what the cap costs):

- long-range repetition: the share of byte n-grams and of whitespace-token n-grams whose first
  occurrence in the document lies more than ``min_distance`` positions earlier (a text written
  twice scores ~0.5; runs shorter than that, such as ``=====``, do not count). Byte n-grams are
  sampled at "anchor" bytes (a fixed eighth of the byte values), a sample that depends on content
  only, so every copy of a repeated span is sampled at the same offsets;
- compressibility (zlib ratio of the first ``zlib_bytes`` bytes), line-level repetition (identical lines, and lines of identical
  *shape*: letters, digits and spaces collapsed to one symbol per run, punctuation kept);
- markup density (LaTeX commands, tags, entities, JSON keys), character-class ratios
  (digits, punctuation, brackets, ...), line-length statistics;
- hashed byte n-grams (``hashed_dims`` buckets, square-root frequencies).

A whole batch is concatenated into one byte array; every n-gram, token and line is hashed with a
polynomial prefix hash (mod 2^64), and recurrence is found with one sort per n, so the hot path
has no per-character Python loop.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import cached_property

import numpy as np

from mda_curate.errors import UserError

_P = 0x100000001B3  # odd multiplier of the polynomial hash (FNV-64 prime)
_P_INV = pow(_P, -1, 2**64)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX = np.uint64(0xBF58476D1CE4E5B9)
_POSITION_BITS = 24  # positions within one chunk; a chunk is < _CHUNK_BYTES + one capped document < 2^24 bytes
_CHUNK_BYTES = 1 << 17  # ~128 KB of text per vectorised pass keeps the uint64 work arrays in cache


@dataclass(frozen=True)
class FeatureSettings:
    """What to measure; stored in the model card so a loaded classifier computes the same features."""

    max_chars: int = 3072  # only each document's first max_chars characters are read
    char_ngrams: tuple[int, ...] = (16,)  # byte n-gram lengths for long-range repetition
    word_ngrams: tuple[int, ...] = (3, 8)  # whitespace-token n-gram lengths
    min_distance_chars: int = 128  # an n-gram recurs if its first occurrence is more than this many bytes back
    min_distance_words: int = 32  # ... or tokens back
    hashed_ngram: int = 4  # byte n-gram length of the hashed features
    hashed_dims: int = 1024  # number of hash buckets (a power of two; 0 disables)
    zlib_level: int = 1
    zlib_bytes: int = 2048  # compressibility is measured on each document's first zlib_bytes bytes

    def __post_init__(self) -> None:
        object.__setattr__(self, "char_ngrams", tuple(self.char_ngrams))
        object.__setattr__(self, "word_ngrams", tuple(self.word_ngrams))
        if not 1 <= self.max_chars <= 1_000_000:
            raise UserError(f"max_chars must be in 1..1000000, got {self.max_chars}")
        if not all(n >= 1 for n in self.char_ngrams + self.word_ngrams + (self.hashed_ngram,)):
            raise UserError("n-gram lengths must be at least 1")
        if min(self.min_distance_chars, self.min_distance_words) < 0:
            raise UserError("minimum distances must be at least 0")
        if self.hashed_dims and self.hashed_dims & (self.hashed_dims - 1):
            raise UserError(f"hashed_dims must be a power of two or 0, got {self.hashed_dims}")
        if not 0 <= self.zlib_level <= 9:
            raise UserError(f"zlib_level must be in 0..9, got {self.zlib_level}")
        if self.zlib_bytes < 64:
            raise UserError(f"zlib_bytes must be at least 64, got {self.zlib_bytes}")

    def to_json(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


# Named features that do not depend on the settings, in column order after the repetition features.
_CLASS_FEATURES = ("digit", "upper", "lower", "space", "newline", "punct", "bracket", "backslash", "non_ascii", "control")
_MARKUP_FEATURES = ("latex_commands", "tags", "closing_tags", "entities", "json_keys")
_LINE_FEATURES = (
    "log_lines", "mean_line_len", "line_len_cv", "max_line_len", "blank_lines", "indented_lines",
    "repeated_lines", "repeated_line_shapes",
)


def feature_names(settings: FeatureSettings) -> list[str]:
    """Column names of :func:`extract_features` (hashed buckets are ``hash_<i>``)."""
    names = ["log_chars", "zlib_ratio"]
    names += [f"char{n}_recur" for n in settings.char_ngrams]
    names += [f"word{n}_recur" for n in settings.word_ngrams]
    names += [f"{name}_ratio" for name in _CLASS_FEATURES]
    names += [f"{name}_per_kchar" for name in _MARKUP_FEATURES]
    names += list(_LINE_FEATURES)
    return names + [f"hash_{i}" for i in range(settings.hashed_dims)]


def extract_features(texts: Sequence[str], settings: FeatureSettings = FeatureSettings()) -> np.ndarray:
    """A float32 matrix ``[len(texts), len(feature_names(settings))]``; texts must be ``str``."""
    capped = [text[: settings.max_chars].encode("utf-8", "replace") + b"\n" for text in texts]
    rows = [_chunk_features(chunk, settings) for chunk in _chunks(capped)]
    return np.concatenate(rows) if rows else np.zeros((0, len(feature_names(settings))), np.float32)


def _chunks(encoded: list[bytes]):
    """Consecutive runs of documents of at most ~_CHUNK_BYTES bytes (always at least one document)."""
    start, size = 0, 0
    for i, data in enumerate(encoded):
        if size and size + len(data) > _CHUNK_BYTES:
            yield encoded[start:i]
            start, size = i, 0
        size += len(data)
    if start < len(encoded):
        yield encoded[start:]


def _chunk_features(encoded: list[bytes], settings: FeatureSettings) -> np.ndarray:
    raw = b"".join(encoded)
    text = _Stream(np.frombuffer(raw, np.uint8), np.fromiter(map(len, encoded), np.int64, len(encoded)))
    n_bytes = np.maximum(text.counts - 1, 1).astype(np.float64)  # without the added newline
    anchored = _Windows(text, np.flatnonzero(_lookup(raw, _ANCHOR)), trailing=1)  # not over the added newline
    words, word_starts = _words(text, raw)
    word_windows = _Windows(words, np.arange(len(words.values)))
    columns = [np.log1p(text.counts - 1), _zlib_ratios(encoded, settings.zlib_level, settings.zlib_bytes)]
    columns += [_recurrence(anchored, n, settings.min_distance_chars) for n in settings.char_ngrams]
    columns += [_recurrence(word_windows, n, settings.min_distance_words) for n in settings.word_ngrams]
    columns += list((_byte_histograms(text) @ _CLASS_MATRIX.T).T / n_bytes)
    columns += list(1000.0 * _markup_counts(text, raw).T / n_bytes)
    columns += _line_features(text, raw, word_starts)
    named = np.stack(columns, axis=1)
    if not settings.hashed_dims:
        return named.astype(np.float32)
    hashed = _hashed_ngrams(anchored, settings.hashed_ngram, settings.hashed_dims)
    return np.concatenate([named, hashed], axis=1).astype(np.float32)


# ---- hashing ---------------------------------------------------------------------------------------------


class _Stream:
    """Per-document sequences (bytes, tokens, shape symbols) concatenated, with a polynomial prefix hash.

    ``prefix[i] = sum_{j<i} values[j] * P^j`` (mod 2^64), so any span's hash is
    ``(prefix[end] - prefix[start]) * P^-start``: equal spans hash equally wherever they lie (zero values
    at a span's end do not change its hash; spans compared for repetition have equal lengths or are lines
    and tokens, where this does not matter)."""

    def __init__(self, values: np.ndarray, counts: np.ndarray):
        self.values, self.counts = values, counts
        self.ends = np.cumsum(counts)
        powers, _ = _powers(len(values) + 1)
        self.prefix = np.zeros(len(values) + 1, np.uint64)
        np.cumsum(np.multiply(values, powers[: len(values)], dtype=np.uint64), out=self.prefix[1:])

    @cached_property
    def owner(self) -> np.ndarray:
        """The document of every element."""
        return np.repeat(np.arange(len(self.counts)), self.counts)

    @property
    def n_docs(self) -> int:
        return len(self.counts)

    def span_hashes(self, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
        return (self.prefix[ends] - self.prefix[starts]) * _powers(len(self.values) + 1)[1][starts]



class _Windows:
    """Candidate window starts in a stream, with what windows of every length share computed once."""

    def __init__(self, stream: _Stream, starts: np.ndarray, trailing: int = 0):
        self.stream, self.starts = stream, starts
        self.owner = stream.owner[starts]
        self.limit = stream.ends[self.owner] - trailing  # windows end before the document's last `trailing`
        self.base = stream.prefix[starts]
        self.inverse = _powers(len(stream.values) + 1)[1][starts]

    def of_length(self, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Starts, documents and hashes of the length-n windows that fit."""
        fits = self.starts + n <= self.limit
        starts = self.starts[fits]
        return starts, self.owner[fits], (self.stream.prefix[starts + n] - self.base[fits]) * self.inverse[fits]


_POWERS = np.ones(1, np.uint64)
_INVERSE_POWERS = np.ones(1, np.uint64)


def _powers(limit: int) -> tuple[np.ndarray, np.ndarray]:
    """P^i and P^-i (mod 2^64) for i < limit, grown on demand and cached."""
    global _POWERS, _INVERSE_POWERS
    if len(_POWERS) < limit:
        size = max(limit, 2 * len(_POWERS))
        _POWERS, _INVERSE_POWERS = _power_table(_P, size), _power_table(_P_INV, size)
    return _POWERS, _INVERSE_POWERS


def _power_table(base: int, size: int) -> np.ndarray:
    table = np.full(size, base, np.uint64)
    table[0] = 1
    return np.cumprod(table, dtype=np.uint64)


def _recurring(hashes: np.ndarray, positions: np.ndarray, min_distance: int) -> np.ndarray:
    """The positions whose hash first occurred more than ``min_distance`` positions earlier.

    One sort of 64-bit keys (top bits: the mixed hash; low bits: the position) groups equal hashes
    in position order; hashes must already include the document (see _recurrence)."""
    low = np.uint64((1 << _POSITION_BITS) - 1)
    keys = (hashes * _MIX) & ~low
    keys |= positions.astype(np.uint64)
    keys.sort()
    new = np.ones(len(keys), bool)
    np.greater(keys[1:] ^ keys[:-1], low, out=new[1:])  # the hash bits differ from the previous key's
    position = keys & low
    first = position[np.maximum.accumulate(np.where(new, np.arange(len(keys)), 0))]
    return position[position - first > np.uint64(min_distance)].astype(np.int64)


def _recurrence_share(hashes, positions, owners, owner_of, n_docs: int, min_distance: int) -> np.ndarray:
    """Per document, the share of ``positions`` (in documents ``owners``; ``owner_of[position]`` is the
    document of a position) whose hash recurs (see _recurring)."""
    recurring = _recurring(hashes ^ (owners.astype(np.uint64) * _GOLDEN), positions, min_distance)
    totals = np.bincount(owners, minlength=n_docs)
    return np.bincount(owner_of[recurring], minlength=n_docs) / np.maximum(totals, 1)


def _recurrence(windows: _Windows, n: int, min_distance: int) -> np.ndarray:
    """Share of each document's n-grams that first occurred more than ``min_distance`` elements earlier."""
    starts, owners, hashes = windows.of_length(n)
    stream = windows.stream
    return _recurrence_share(hashes, starts, owners, stream.owner, stream.n_docs, min_distance)


def _words(text: _Stream, raw: bytes) -> tuple[_Stream, np.ndarray]:
    """Whitespace-separated tokens, each one hashed element, and where they start in ``text`` (documents
    end in a newline, so no token straddles two)."""
    is_space = _lookup(raw, _SPACE)
    edges = np.flatnonzero(np.diff(is_space.view(np.int8), prepend=np.int8(1)))  # alternating token starts/ends
    starts, ends = edges[0::2], edges[1::2]
    counts = np.bincount(text.owner[starts], minlength=text.n_docs)
    return _Stream(text.span_hashes(starts, ends), counts), starts


def _byte_histograms(text: _Stream) -> np.ndarray:
    """``[n_docs, 256]`` byte counts per document (without the added newline)."""
    starts, stops = np.r_[0, text.ends[:-1]].tolist(), (text.ends - 1).tolist()
    return np.stack([np.bincount(text.values[a:b], minlength=256) for a, b in zip(starts, stops)])


def _hashed_ngrams(anchored: _Windows, n: int, dims: int) -> np.ndarray:
    """Square-root frequencies of the anchored byte n-grams in ``dims`` hash buckets."""
    _, owners, hashes = anchored.of_length(n)
    buckets = (hashes * _MIX) >> np.uint64(64 - int(math.log2(dims)))
    n_docs = anchored.stream.n_docs
    counts = np.bincount(owners * dims + buckets.astype(np.int64), minlength=n_docs * dims).reshape(n_docs, dims)
    return np.sqrt(counts / np.maximum(counts.sum(axis=1, keepdims=True), 1))


# ---- compressibility, characters, markup, lines -----------------------------------------------------------


def _zlib_ratios(encoded: list[bytes], level: int, limit: int) -> np.ndarray:
    """Compressed over raw size of the first ``limit`` bytes (lower = more redundant); 1.0 if empty."""
    prefixes = [data[: min(len(data) - 1, limit)] for data in encoded]
    return np.array([len(zlib.compress(data, level)) / len(data) if data else 1.0 for data in prefixes])


def _byte_class(predicate) -> np.ndarray:
    return np.array([predicate(b) for b in range(256)], bool)


def _lookup(raw: bytes, table: np.ndarray) -> np.ndarray:
    """``table[byte]`` for every byte of ``raw`` (a bool or uint8 table), by ``bytes.translate``."""
    return np.frombuffer(raw.translate(table.astype(np.uint8).tobytes()), table.dtype)


_SPACE = _byte_class(lambda b: chr(b) in " \t\n\r\f\v")
_DIGIT = _byte_class(lambda b: 48 <= b < 58)
_LETTER = _byte_class(lambda b: chr(b).isascii() and chr(b).isalpha())
_BLANK = _byte_class(lambda b: chr(b) in " \t\r\f\v")
# Windows start only at "anchor" bytes, a fixed pseudo-random eighth of the byte values: a sample that
# depends on content alone, so a repeated span is sampled at the same offsets in each of its copies.
_ANCHOR = _byte_class(lambda b: (b * 0x9E3779B1 >> 7) % 8 == 0) & ~_SPACE
_CLASS_MATRIX = np.stack(
    [
        _DIGIT,
        _byte_class(lambda b: 65 <= b < 91),
        _byte_class(lambda b: 97 <= b < 123),
        _BLANK,
        _byte_class(lambda b: b == 10),
        _byte_class(lambda b: 33 <= b < 127 and not chr(b).isalnum()),
        _byte_class(lambda b: chr(b) in "()[]{}<>"),
        _byte_class(lambda b: b == 92),
        _byte_class(lambda b: b >= 128),
        _byte_class(lambda b: b < 32 and chr(b) not in "\t\n\r\f\v"),
    ]
).astype(np.float64)


_MARKUP_FIRST = _byte_class(lambda b: chr(b) in '\\<&"')


def _bigram_table() -> np.ndarray:
    """Markup category (1-based, in _MARKUP_FEATURES order; 0 = none) of each byte pair ``[first, second]``."""
    table = np.zeros((256, 256), np.int64)
    letters = np.flatnonzero(_LETTER)
    table[ord("\\"), letters] = 1  # \command
    table[ord("<"), np.r_[letters, [ord("!"), ord("?")]]] = 2  # <tag, <!DOCTYPE, <?xml
    table[ord("<"), ord("/")] = 3  # </tag
    table[ord("&"), np.r_[letters, [ord("#")]]] = 4  # &entity;
    table[ord('"'), ord(":")] = 5  # "key":
    return table


_BIGRAMS = _bigram_table()


def _markup_counts(text: _Stream, raw: bytes) -> np.ndarray:
    """``[n_docs, 5]``: LaTeX commands, tags (closing ones included), closing tags, entities, JSON keys."""
    firsts = np.flatnonzero(_lookup(raw[:-1], _MARKUP_FIRST))  # the last byte is a newline
    category = _BIGRAMS[text.values[firsts], text.values[firsts + 1]]
    owners = text.owner[firsts]
    counts = np.bincount(owners * 6 + category, minlength=text.n_docs * 6).reshape(-1, 6)[:, 1:]
    counts[:, 1] += counts[:, 2]
    return counts


# Shape symbols: letters (and non-ASCII bytes) -> 'a', digits -> '0', blanks -> ' ', NUL -> 1, the rest kept.
_SHAPE = np.arange(256, dtype=np.uint8)
_SHAPE[0] = 1
_SHAPE[_LETTER | (np.arange(256) >= 128)] = ord("a")
_SHAPE[_DIGIT] = ord("0")
_SHAPE[_BLANK] = ord(" ")


def _line_features(text: _Stream, raw: bytes, token_starts: np.ndarray) -> list[np.ndarray]:
    ends = np.flatnonzero(text.values == 10)  # every line, the last included, ends in a newline
    starts = np.r_[0, ends[:-1] + 1]
    owner = text.owner[ends]
    n_lines = np.bincount(owner, minlength=text.n_docs)
    lengths = (ends - starts).astype(np.float64)
    mean = np.bincount(owner, lengths, text.n_docs) / n_lines
    variance = np.maximum(np.bincount(owner, lengths**2, text.n_docs) / n_lines - mean**2, 0.0)
    longest = np.maximum.reduceat(lengths, np.r_[0, np.cumsum(n_lines)[:-1]])
    blank = np.searchsorted(token_starts, starts) == np.searchsorted(token_starts, ends)  # no token starts in it
    indented = ~blank & _BLANK[text.values[starts]]
    content = np.flatnonzero(~blank)
    starts, ends, line_owner = starts[content], ends[content], owner[content]
    return [
        np.log1p(n_lines),
        np.log1p(mean),
        np.sqrt(variance) / np.maximum(mean, 1.0),
        np.log1p(longest),
        np.bincount(owner[blank], minlength=text.n_docs) / n_lines,
        np.bincount(owner[indented], minlength=text.n_docs) / n_lines,
        _repeated_lines(text.span_hashes(starts, ends), line_owner, text.n_docs),
        _repeated_lines(_line_shapes(text, raw, starts, ends), line_owner, text.n_docs),
    ]


def _repeated_lines(hashes: np.ndarray, owner: np.ndarray, n_docs: int) -> np.ndarray:
    """Share of a document's non-blank lines that repeat an earlier line of it."""
    return _recurrence_share(hashes, np.arange(len(hashes)), owner, owner, n_docs, 0)  # lines in document order


def _line_shapes(text: _Stream, raw: bytes, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Hash of each (non-blank) line's shape: its bytes mapped by _SHAPE, runs of one symbol collapsed to one."""
    shape = _lookup(raw, _SHAPE)
    keep = np.ones(len(shape), bool)
    np.not_equal(shape[1:], shape[:-1], out=keep[1:])
    runs = np.flatnonzero(keep)  # a non-blank line starts a run, and so does the newline ending it
    doc_runs = np.diff(np.searchsorted(runs, np.r_[0, text.ends]))
    collapsed = _Stream(shape[runs], doc_runs)
    return collapsed.span_hashes(np.searchsorted(runs, starts), np.searchsorted(runs, ends))
