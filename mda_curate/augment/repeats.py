"""Repeat spans of one token sequence: where a sample copies itself, and the motifs the copies form.

Definitions, for the tokens ``t[0..n)`` of one sample:

* **match run** at ``(i, d)``: the largest ``m`` with ``t[i + k] == t[i + k - d]`` for all ``k < m``: the
  tokens from ``i`` repeat those ``d`` positions earlier (the two may overlap, as in a span written back
  to back).
* **repeat span** ``(start, length, distance)``: a greedy left-to-right parse (LZ77's, keeping only long
  matches): at position ``i`` take the longest match run over ``1 <= d <= max_distance`` if it is at least
  ``min_length`` tokens (ties: the smallest ``d``, the nearest earlier occurrence) and continue after it,
  else move one token on. ``distance`` = positions between the two occurrences' starts.
* **motif** ``(start, length, copies, distance)``: a span of ``length`` tokens written ``copies`` times,
  consecutive copies starting ``distance`` tokens apart (``distance == length``: back to back). A repeat
  span with ``length >= distance`` is a tandem repeat: motif length = distance, copies = 1 + length //
  distance. Shorter repeat spans each copy the previous one when they have the same length and
  distance and each one's source is the previous span: such a chain of ``k`` spans is one motif of
  ``k + 1`` copies.
* **cut motif**: one whose last copy ends at the sample's end with ``length < distance``: the copy may
  have been cut off by the window (a trainer window ends mid-span), so its length is only a lower bound.
  Statistics of motif shape skip cut motifs.
* **coverage**: the share of the sample's tokens that lie inside repeat spans (copies, not first
  occurrences).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Span(NamedTuple):
    start: int
    length: int
    distance: int


class Motif(NamedTuple):
    start: int  # first token of the first copy
    length: int
    copies: int
    distance: int


def match_runs(tokens: np.ndarray, max_distance: int) -> np.ndarray:
    """``runs[i, d - 1]``: the match run at ``(i, d)`` for ``d = 1 .. min(max_distance, n - 1)`` (int32)."""
    t = np.asarray(tokens)
    n = len(t)
    positions = np.arange(n)[:, None]
    sources = positions - np.arange(1, min(max_distance, n - 1) + 1)[None, :]
    equal = (sources >= 0) & (t[np.maximum(sources, 0)] == t[:, None])
    next_mismatch = np.minimum.accumulate(np.where(equal, n, positions)[::-1], axis=0)[::-1]
    return (next_mismatch - positions).astype(np.int32)


def repeat_spans(tokens, min_length: int = 5, max_distance: int = 1024) -> list[Span]:
    """The repeat spans of ``tokens`` (see the module docstring)."""
    runs = match_runs(np.asarray(tokens), max_distance)
    if runs.shape[1] == 0:
        return []
    longest, nearest = runs.max(axis=1), runs.argmax(axis=1) + 1
    spans, i = [], 0
    while i < len(longest):
        if longest[i] >= min_length:
            spans.append(Span(i, int(longest[i]), int(nearest[i])))
            i += int(longest[i])
        else:
            i += 1
    return spans


def motifs_of(spans: list[Span]) -> list[Motif]:
    """Group repeat spans into motifs: tandem repeats and chains of equal spaced copies."""
    motifs: list[Motif] = []
    for span in spans:
        if span.length >= span.distance:
            motifs.append(
                Motif(span.start - span.distance, span.distance, 1 + span.length // span.distance, span.distance)
            )
            continue
        last = motifs[-1] if motifs else None
        chained = (
            last is not None
            and last.length < last.distance
            and (last.length, last.distance) == (span.length, span.distance)
            and last.start + (last.copies - 1) * last.distance == span.start - span.distance
        )
        if chained:
            motifs[-1] = last._replace(copies=last.copies + 1)
        else:
            motifs.append(Motif(span.start - span.distance, span.length, 2, span.distance))
    return motifs


def complete_motifs(motifs: list[Motif], n: int) -> list[Motif]:
    """The motifs of a sample of ``n`` tokens that are not cut (see the module docstring)."""
    return [m for m in motifs if not (m.length < m.distance and m.start + (m.copies - 1) * m.distance + m.length == n)]


def find_motifs(tokens, min_length: int = 5, max_distance: int = 1024) -> tuple[list[Motif], float]:
    """The motifs of ``tokens`` and their coverage (share of tokens inside repeat spans)."""
    spans = repeat_spans(tokens, min_length, max_distance)
    coverage = sum(s.length for s in spans) / len(tokens) if len(tokens) else 0.0
    return motifs_of(spans), coverage
