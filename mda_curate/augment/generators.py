"""Programmatic catalyst generators: documents with a chosen motif, and a seeded stream that follows a profile.

Every generator fills its documents with words from a *word pool*, each one token when written after a
space: with a tokenizer, its vocabulary entries `` [A-Za-z]{2,}`` that encode back to themselves; without
one, ``POOL_SIZE`` pseudo-words of two consonant-vowel syllables. The explicit generators take their
shape as arguments and make it exact:

* ``repeated_spans_text``: for each ``(length, copies, distance)``, a span of ``length`` random words
  written ``copies`` times, consecutive copies ``distance`` words apart (``distance - length`` fresh words
  between them), motifs back to back. The words are redrawn until re-mining them
  (:func:`~mda_curate.augment.repeats.find_motifs`) gives exactly the planted motifs, so with a tokenizer
  (each word one token) a span of 40 is 40 tokens;
* ``latex_table``: a ``table``/``tabular`` environment of ``rows`` rows of ``columns`` cells: exactly
  ``rows`` ``\\\\`` line ends and ``columns - 1`` ``&`` per row;
* ``xml_records``: ``records`` elements of ``fields`` child elements each (XML, or an HTML table when
  ``html``), well-formed;
* ``key_values``: ``records`` blocks of ``fields`` ``key: value`` lines (the same keys in every block);
* ``item_list``: ``items`` bullet or numbered lines;
* ``log_lines``: ``lines`` timestamped log lines from ``templates`` message templates.

:func:`generate` streams documents whose kinds follow a :class:`MotifProfile`'s top set in proportion
(kinds without a generator, ``code`` and ``other``, are left out), repeat documents drawing their motifs
from the profile's ``(length, copies, distance)`` counts until the document is full (the last one whole),
LaTeX tables and records their column and field counts from its histograms, each document's size fitted
to the token target.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterator

import numpy as np

from mda_curate.augment.profile import MotifProfile
from mda_curate.augment.repeats import find_motifs
from mda_curate.augment.settings import DEFAULT_CHARS_PER_TOKEN, DEFAULT_DOC_TOKENS, MIN_DOC_TOKENS, GenerationSettings
from mda_curate.errors import UserError
from mda_curate.training.data import rng as named_rng

POOL_SIZE = 512
GENERATED = ("repeated_spans", "latex", "markup", "records", "list", "log")
DEFAULT_MOTIFS = [
    (length, copies, length) for length in range(10, 61, 5) for copies in (2, 3)
]  # the trainer's catalyst


def encode(tokenizer, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"]


class TokenCounter:
    """Counts a text's tokens with ``tokenizer`` (no special tokens), or estimates them as
    ``ceil(characters / chars_per_token)`` when there is none."""

    def __init__(self, tokenizer=None, chars_per_token: float = DEFAULT_CHARS_PER_TOKEN):
        if not chars_per_token > 0:
            raise UserError(f"chars per token must be > 0 (got {chars_per_token})")
        self.tokenizer, self.chars_per_token = tokenizer, chars_per_token

    def __call__(self, text: str) -> int:
        if self.tokenizer is not None:
            return len(encode(self.tokenizer, text))
        return math.ceil(len(text) / self.chars_per_token)

    def describe(self) -> str:
        if self.tokenizer is not None:
            name = getattr(self.tokenizer, "name_or_path", "") or type(self.tokenizer).__name__
            return f"counted with the tokenizer {name}"
        return f"estimated as ceil(characters / {self.chars_per_token:g})"


def word_pool(tokenizer=None) -> list[str]:
    """The generators' words (see the module docstring), without their leading space."""
    if tokenizer is None:
        syllables = [c + v for c in "bdfgklmnprstvz" for v in "aeiou"]
        words = ["".join(p) for p in itertools.product(syllables, repeat=2)]
        return [words[i] for i in np.random.default_rng(0).permutation(len(words))[:POOL_SIZE]]
    words = []
    for i in range(len(tokenizer)):
        piece = tokenizer.decode([i])
        if re.fullmatch(r" [A-Za-z]{2,}", piece) and encode(tokenizer, piece) == [i]:
            words.append(piece[1:])
    if len(words) < 16:
        raise UserError(f"tokenizer: only {len(words)} single-token words (' [A-Za-z]{{2,}}'); generators need 16")
    return words


def repeated_spans_text(
    rng: np.random.Generator, words: list[str], motifs, min_length: int = 5, max_distance: int = 1024
) -> str:
    """Planted repeat motifs ``[(length, copies, distance), ...]`` (see the module docstring)."""
    motifs = [tuple(int(v) for v in m) for m in motifs]
    for length, copies, distance in motifs:
        if not (length >= min_length and copies >= 2 and length <= distance <= max_distance):
            raise UserError(
                f"repeat motif (length {length}, copies {copies}, distance {distance}): need length >= {min_length}, "
                f"copies >= 2 and length <= distance <= {max_distance}"
            )
    for _ in range(100):
        ids = np.concatenate([_planted(rng, len(words), *m) for m in motifs] or [np.zeros(0, np.int64)])
        if [(m.length, m.copies, m.distance) for m in find_motifs(ids, min_length, max_distance)[0]] == motifs:
            return "".join(" " + words[i] for i in ids)
    raise RuntimeError(f"could not plant {motifs} without chance repeats in 100 draws (word pool of {len(words)})")


def _planted(rng: np.random.Generator, n_words: int, length: int, copies: int, distance: int) -> np.ndarray:
    span = rng.integers(0, n_words, length)
    pieces = [span]
    for _ in range(copies - 1):
        pieces += [rng.integers(0, n_words, distance - length), span]
    return np.concatenate(pieces)


def latex_table(rng: np.random.Generator, words: list[str], rows: int, columns: int) -> str:
    """A LaTeX table of ``rows`` rows and ``columns`` columns (see the module docstring)."""
    _check_positive(rows=rows, columns=columns)
    numeric = rng.random(columns) < 0.5
    numeric[0] = False
    body = [" & ".join(_cell(rng, words, numeric[c]) for c in range(columns)) + r" \\" for _ in range(rows)]
    return "\n".join(
        [
            r"\begin{table}[ht]",
            r"\centering",
            r"\begin{tabular}{" + "l" * columns + "}",
            r"\hline",
            *body,
            r"\hline",
            r"\end{tabular}",
            r"\caption{" + _words(rng, words, 4).capitalize() + "}",
            r"\label{tab:" + _words(rng, words, 1) + "}",
            r"\end{table}",
        ]
    )


def xml_records(rng: np.random.Generator, words: list[str], records: int, fields: int, html: bool = False) -> str:
    """``records`` XML elements of ``fields`` children each, or an HTML table (see the module docstring)."""
    _check_positive(records=records, fields=fields)
    if html:
        rows = [
            "<tr>" + "".join(f"<td>{_cell(rng, words, c > 0)}</td>" for c in range(fields)) + "</tr>"
            for _ in range(records)
        ]
        return "\n".join(['<table class="' + _words(rng, words, 1) + '">', *rows, "</table>"])
    record, *names = (w.lower() for w in rng.choice(words, fields + 1, replace=False))
    items = []
    for i in range(records):
        children = "".join(f"\n    <{n}>{_cell(rng, words, k % 2 == 1)}</{n}>" for k, n in enumerate(names))
        items.append(f'  <{record} id="{i + 1}">{children}\n  </{record}>')
    return "\n".join(['<?xml version="1.0" encoding="UTF-8"?>', f"<{record}s>", *items, f"</{record}s>"])


def key_values(rng: np.random.Generator, words: list[str], records: int, fields: int) -> str:
    """``records`` blocks of the same ``fields`` keys, one ``key: value`` line each, blank-line separated."""
    _check_positive(records=records, fields=fields)
    keys = [w.lower() for w in rng.choice(words, fields, replace=False)]
    numeric = rng.random(fields) < 0.5
    blocks = ["\n".join(f"{k}: {_cell(rng, words, numeric[j])}" for j, k in enumerate(keys)) for _ in range(records)]
    return "\n\n".join(blocks)


def item_list(rng: np.random.Generator, words: list[str], items: int, numbered: bool = False) -> str:
    _check_positive(items=items)
    return "\n".join(
        f"{f'{i + 1}.' if numbered else '-'} {_words(rng, words, int(rng.integers(2, 7)))}" for i in range(items)
    )


def log_lines(rng: np.random.Generator, words: list[str], lines: int, templates: int = 3) -> str:
    """``lines`` lines ``YYYY-MM-DD HH:MM:SS LEVEL component: message``, each from one of ``templates``."""
    _check_positive(lines=lines, templates=templates)
    forms = [(_words(rng, words, 1).lower(), _words(rng, words, int(rng.integers(2, 5)))) for _ in range(templates)]
    clock = int(rng.integers(0, 86_400))
    out = []
    for _ in range(lines):
        clock += int(rng.integers(1, 60))
        component, message = forms[int(rng.integers(0, templates))]
        level = ("INFO", "DEBUG", "WARN", "ERROR")[int(rng.integers(0, 4))]
        stamp = (
            f"2024-03-{int(rng.integers(1, 29)):02d} {clock // 3600 % 24:02d}:{clock // 60 % 60:02d}:{clock % 60:02d}"
        )
        out.append(f"{stamp} {level} {component}: {message} {int(rng.integers(0, 10_000))}")
    return "\n".join(out)


def _check_positive(**values: int) -> None:
    for name, value in values.items():
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise UserError(f"{name} must be a positive integer (got {value!r})")


def _words(rng: np.random.Generator, words: list[str], n: int) -> str:
    return " ".join(words[i] for i in rng.integers(0, len(words), n))


def _cell(rng: np.random.Generator, words: list[str], numeric: bool) -> str:
    return (
        f"{rng.integers(0, 1000)}.{rng.integers(0, 100):02d}"
        if numeric
        else _words(rng, words, int(rng.integers(1, 3)))
    )


def generation_mix(profile: MotifProfile) -> dict[str, float]:
    """The top set's kind shares over the kinds that have a generator, renormalised."""
    shares = {k: profile.top.kinds.get(k, 0.0) for k in GENERATED}
    total = sum(shares.values())
    if total <= 0:
        raise UserError(f"profile: the top set has no kind with a generator ({', '.join(GENERATED)})")
    return {k: v / total for k, v in shares.items() if v > 0}


def generate(profile: MotifProfile, settings: GenerationSettings, tokenizer=None) -> Iterator[dict]:
    """Documents ``{id, text, domain: "synthetic", motif, params, n_tokens}`` following ``profile``;
    document ``i`` is drawn from ``(seed, i)`` alone."""
    counter = TokenCounter(tokenizer, settings.chars_per_token)
    builder = _Builder(profile, word_pool(tokenizer), counter)
    mix = generation_mix(profile)
    kinds, weights = list(mix), np.array(list(mix.values()))
    median = profile.top.doc_tokens.get("p50")
    doc_tokens = settings.doc_tokens or max(MIN_DOC_TOKENS, int(median or DEFAULT_DOC_TOKENS))
    produced = 0
    for i in itertools.count():
        remaining = settings.tokens - produced
        target = min(doc_tokens, remaining)
        if target < MIN_DOC_TOKENS:
            return
        rng = named_rng(settings.seed, "synthetic", i)
        kind = kinds[int(rng.choice(len(kinds), p=weights))]
        built = builder(kind, rng, target, remaining)
        n = counter(built[0]) if built is not None else remaining + 1
        if n > remaining:
            return
        text, params = built
        produced += n
        yield {
            "id": f"synthetic-{settings.seed}-{i}",
            "text": text,
            "domain": "synthetic",
            "motif": kind,
            "params": params,
            "n_tokens": n,
        }


class _Builder:
    """Draws one document of a kind, its shape from the profile, its size fitted to a token target."""

    def __init__(self, profile: MotifProfile, words: list[str], counter: TokenCounter):
        self.words, self.counter, self.settings = words, counter, profile.settings
        low, high = self.settings.min_length, self.settings.max_distance
        usable = [m for m in profile.top.repeats.get("motifs", []) if m[0] >= low and m[2] <= high]
        usable = usable or [[*m, 1] for m in DEFAULT_MOTIFS if m[0] >= low and m[2] <= high]
        self.motifs = np.array([m[:3] for m in usable], dtype=np.int64).reshape(-1, 3)
        self.motif_weights = _normalised([m[3] for m in usable])
        structure = profile.top.structure or {}
        self.columns = _histogram_sampler(structure.get("table_columns"), range(2, 6))
        self.fields = _histogram_sampler(
            {k: v for k, v in (structure.get("record_fields") or {}).items() if int(k) >= 2}, range(3, 7)
        )

    def __call__(self, kind: str, rng: np.random.Generator, target: int, cap: int) -> tuple[str, dict] | None:
        """A document of ``kind`` of about ``target`` tokens (at most ``cap`` where it can be) and its shape;
        ``None`` when none fits."""
        if kind == "repeated_spans":
            return self._repeats(rng, target, cap)
        shape, size_name, build = self._shape(kind, rng)
        seed = int(rng.integers(2**63))
        n = self._fit(lambda k: build(np.random.default_rng(seed), k), target)
        return build(np.random.default_rng(seed), n), {**shape, size_name: n}

    def _shape(self, kind: str, rng: np.random.Generator):
        """The document's fixed shape, the name of its size, and a builder taking ``(rng, size)``."""
        words = self.words
        if kind == "latex":
            columns = self.columns(rng)
            return {"columns": columns}, "rows", lambda r, n: latex_table(r, words, n, columns)
        if kind == "markup":
            fields, html = self.fields(rng), bool(rng.random() < 0.5)
            return {"fields": fields, "html": html}, "records", lambda r, n: xml_records(r, words, n, fields, html)
        if kind == "records":
            fields = self.fields(rng)
            return {"fields": fields}, "records", lambda r, n: key_values(r, words, n, fields)
        if kind == "list":
            numbered = bool(rng.random() < 0.5)
            return {"numbered": numbered}, "items", lambda r, n: item_list(r, words, n, numbered)
        templates = int(rng.integers(2, 5))
        return {"templates": templates}, "lines", lambda r, n: log_lines(r, words, n, templates)

    def _fit(self, build, target: int) -> int:
        """The size whose document just fits ``target`` tokens (at least 1): estimated from sizes 1 and 2."""
        one = self.counter(build(1))
        n = max(1, 1 + (target - one) // max(1, self.counter(build(2)) - one))
        while n > 1 and self.counter(build(n)) > target:
            n -= 1
        while self.counter(build(n + 1)) <= target:
            n += 1
        return n

    def _repeats(self, rng: np.random.Generator, target: int, cap: int) -> tuple[str, dict] | None:
        """Motifs drawn from the profile (by count) until they fill ``target`` tokens. The last one is kept
        whole, so the document may run past the target by less than one motif (cutting it would skew the
        re-mined motifs towards short ones; training cuts documents into windows anyway), but never past
        ``cap``: near it only the motifs that still fit are drawn."""
        target, cap = self._units(target), self._units(cap)
        extents = (self.motifs[:, 1] - 1) * self.motifs[:, 2] + self.motifs[:, 0]
        chosen, filled = [], 0
        while filled < target and (fits := extents <= cap - filled).any():
            weights = self.motif_weights * fits
            length, copies, distance = (
                int(v) for v in self.motifs[int(rng.choice(len(weights), p=weights / weights.sum()))]
            )
            chosen.append((length, copies, distance))
            filled += (copies - 1) * distance + length
        if not chosen:
            return None
        text = repeated_spans_text(rng, self.words, chosen, self.settings.min_length, self.settings.max_distance)
        return text, {"motifs": [list(m) for m in chosen]}

    def _units(self, tokens: int) -> int:
        """Pool words in ``tokens`` tokens: one each with a tokenizer, else by the characters estimate."""
        if self.counter.tokenizer is not None:
            return tokens
        return int(tokens * self.counter.chars_per_token / np.mean([len(w) + 1 for w in self.words]))


def _normalised(weights) -> np.ndarray:
    weights = np.asarray(weights, dtype=float)
    return weights / weights.sum()


def _histogram_sampler(histogram: dict | None, default: range):
    """Draws a value from ``{value: count}`` by count, or uniformly from ``default`` when it is empty."""
    values = np.array([int(v) for v in histogram]) if histogram else np.array(default)
    weights = _normalised(list(histogram.values())) if histogram else None
    return lambda rng: int(values[int(rng.choice(len(values), p=weights))])
