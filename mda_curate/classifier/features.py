"""Cheap document features that carry the catalyst mechanism, computed by a C extension.

Induction heads are built by text in which a span seen earlier predicts what follows it now. The
features measure that directly and cheaply, on the UTF-8 bytes of each document's first
``max_chars`` characters (3,072 by default: several times the 128-token samples that influence labels
score, and, like a document classifier's 512-token truncation, a cost per document that does not grow
with its length; ``benchmarks/classifier/classifier_vs_fasttext.json`` measures what the cap costs), read as if
followed by a newline:

- long-range repetition: the share of byte n-grams and of whitespace-token n-grams whose first
  occurrence in the document lies more than ``min_distance`` positions earlier (a text written
  twice scores ~0.5; runs shorter than that, such as ``=====``, do not count). Byte n-grams are
  sampled at "anchor" bytes (a fixed eighth of the byte values), a sample that depends on content
  only, so every copy of a repeated span is sampled at the same offsets;
- compressibility (zlib ratio of the first ``zlib_bytes`` bytes; 0 leaves the feature out), line-level
  repetition (identical lines, and lines of identical *shape*: letters, digits and spaces collapsed to one
  symbol per run, punctuation kept);
- markup density (LaTeX commands, tags, entities, JSON keys), character-class ratios
  (digits, punctuation, brackets, ...), line-length statistics;
- hashed byte n-grams (``hashed_dims`` buckets, square-root frequencies).

Bytes are classified 64 at a time (with AVX2 where the CPU has it, else byte by byte: the same result),
spans (n-grams, tokens, lines, line shapes) are compared by 64-bit hashes and recurrence is found with a
hash table per document, in ``_featurize.c``; ``tests/classifier/test_features.py`` checks every feature
against a plain-Python reference, on both paths.
"""

from __future__ import annotations

import functools
import zlib
from collections.abc import Sequence

import numpy as np

from mda_curate.classifier import _featurize
from mda_curate.classifier.settings import FeatureSettings

# Named features that do not depend on the settings, in column order after the repetition features.
_CLASS_FEATURES = (
    "digit",
    "upper",
    "lower",
    "space",
    "newline",
    "punct",
    "bracket",
    "backslash",
    "non_ascii",
    "control",
)
_MARKUP_FEATURES = ("latex_commands", "tags", "closing_tags", "entities", "json_keys")
_LINE_FEATURES = (
    "log_lines",
    "mean_line_len",
    "line_len_cv",
    "max_line_len",
    "blank_lines",
    "indented_lines",
    "repeated_lines",
    "repeated_line_shapes",
)


def feature_names(settings: FeatureSettings) -> list[str]:
    """Column names of :func:`extract_features` (hashed buckets are ``hash_<i>``)."""
    return list(_names(settings))


@functools.lru_cache(maxsize=16)
def _names(settings: FeatureSettings) -> tuple[str, ...]:
    names = ["log_chars"] + (["zlib_ratio"] if settings.zlib_bytes else [])
    names += [f"char{n}_recur" for n in settings.char_ngrams]
    names += [f"word{n}_recur" for n in settings.word_ngrams]
    names += [f"{name}_ratio" for name in _CLASS_FEATURES]
    names += [f"{name}_per_kchar" for name in _MARKUP_FEATURES]
    names += list(_LINE_FEATURES)
    return tuple(names + [f"hash_{i}" for i in range(settings.hashed_dims)])


def extract_features(texts: Sequence[str], settings: FeatureSettings = FeatureSettings()) -> np.ndarray:
    """A float32 matrix ``[len(texts), len(feature_names(settings))]``; texts must be ``str``."""
    encoded = [text[: settings.max_chars].encode("utf-8", "replace") for text in texts]
    features = np.empty((len(encoded), len(_names(settings))), np.float32)
    _featurize.fill(
        encoded,
        features,
        settings.char_ngrams,
        settings.word_ngrams,
        settings.min_distance_chars,
        settings.min_distance_words,
        settings.hashed_ngram,
        settings.hashed_dims,
        bool(settings.zlib_bytes),
    )
    if settings.zlib_bytes:
        features[:, 1] = _zlib_ratios(encoded, settings.zlib_level, settings.zlib_bytes)
    return features


def _zlib_ratios(encoded: list[bytes], level: int, limit: int) -> np.ndarray:
    """Compressed over raw size of the first ``limit`` bytes (lower = more redundant); 1.0 if empty."""
    prefixes = [data[:limit] for data in encoded]
    return np.array([len(zlib.compress(data, level)) / len(data) if data else 1.0 for data in prefixes])
