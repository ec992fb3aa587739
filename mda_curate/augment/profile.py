"""Motif mining: measure the structure of top-influence documents against bottom-influence ones.

``mine_motifs(top, bottom, tokenizer)`` takes two lists of documents, each a text or a sequence of
token ids (top first by descending score, bottom by ascending score, so the examples are the extremes):

* texts are tokenized with ``tokenizer``; without one they are split into *units* (the regex
  ``\\w+|[^\\w\\s]``: words and single punctuation marks), which then stand in for tokens;
* token sequences are decoded with ``tokenizer`` for the text measures; without one those are skipped.

Each set is summarised in a :class:`SetProfile`: document kinds and line structure
(:mod:`~mda_curate.augment.structure`), repeat motifs (:mod:`~mda_curate.augment.repeats`) and the
token-frequency profile. :class:`MotifProfile` holds both sets, a few examples and the settings, and
round-trips through JSON (``to_json`` / ``from_json``); its ``contrast()`` lines the headline numbers of
the two sets up side by side.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np

from mda_curate.augment import structure
from mda_curate.augment.repeats import complete_motifs, find_motifs
from mda_curate.augment.settings import MiningSettings
from mda_curate.errors import FieldChecker, FieldError, UserError

VERSION = 1
WORD_TOKEN = re.compile(r"\w+|[^\w\s]")  # a word or one symbol: the token counted without a tokenizer
TOP_MOTIFS = 200  # (length, copies, distance) triples kept, most frequent first
TOP_ITEMS = 10  # templates, tags, environments, tokens kept per set
SNIPPET_CHARS = 300


@dataclass(frozen=True)
class SetProfile:
    """The measured structure of one set of documents (every number is defined in the module docstrings).

    ``kinds``: share of documents per kind; ``doc_tokens``: summary of document lengths; ``repeats``:
    share of documents with a motif, mean coverage, motifs per document, summaries of complete motifs'
    length, copies and distance, the share written back to back, and the most frequent
    ``[length, copies, distance, count]``; ``structure``: mean line share per kind, most frequent line
    templates, LaTeX table columns, tags, environments and record field counts (``None`` without text);
    ``frequency``: mean unigram entropy (bits) and distinct-token ratio per document, the most frequent
    tokens with their share, and the character-class shares (``None`` without text)."""

    n_docs: int
    n_tokens: int
    kinds: dict[str, float]
    doc_tokens: dict
    repeats: dict
    structure: dict | None
    frequency: dict


@dataclass(frozen=True)
class MotifProfile:
    top: SetProfile
    bottom: SetProfile | None = None
    examples: list[dict] = field(default_factory=list)
    settings: MiningSettings = MiningSettings()
    source: dict = field(default_factory=dict)

    def contrast(self) -> list[tuple[str, float | None, float | None]]:
        """Headline numbers: ``(name, top, bottom)``."""
        sets = [self.top, self.bottom]

        def row(name, get):
            return (name, *(None if s is None else get(s) for s in sets))

        rows = [
            row("documents", lambda s: s.n_docs),
            row("docs with a repeat motif", lambda s: s.repeats["docs_with_motifs"]),
            row("repeat coverage (mean)", lambda s: s.repeats["coverage"]),
            row("motifs per doc", lambda s: s.repeats["motifs_per_doc"]),
            row("motif length (median)", lambda s: s.repeats["length"]["p50"]),
            row("motif copies (mean)", lambda s: s.repeats["copies"]["mean"]),
            row("motif distance (median)", lambda s: s.repeats["distance"]["p50"]),
            row("back-to-back share", lambda s: s.repeats["back_to_back"]),
            row("token entropy (bits)", lambda s: s.frequency["entropy_bits"]),
            row("distinct-token ratio", lambda s: s.frequency["distinct_ratio"]),
        ]
        kinds = sorted({k for s in sets if s is not None for k in s.kinds}, key=structure.KINDS.index)
        rows += [row(f"kind: {k}", lambda s, k=k: s.kinds.get(k, 0.0)) for k in kinds]
        return rows

    def to_json(self) -> str:
        data = {"version": VERSION, **asdict(self), "contrast": [list(r) for r in self.contrast()]}
        return json.dumps(data, indent=1, ensure_ascii=False) + "\n"

    @classmethod
    def from_json(cls, text: str, source: str = "profile") -> MotifProfile:
        """Parse and validate a profile; errors name ``source`` and the field."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise UserError(f"{source}: malformed JSON ({err.msg}, line {err.lineno})") from None
        _expect(isinstance(data, dict), source, "", "must be a JSON object")
        _expect(data.get("version") == VERSION, source, "version", f"must be {VERSION} (got {data.get('version')!r})")
        _expect("top" in data, source, "top", "is required")
        try:
            settings = MiningSettings(**data.get("settings", {}))
        except TypeError as err:
            raise UserError(f"{source}: settings: {err}") from None
        except FieldError as err:
            FieldChecker(source).fail(f"settings.{err.field}", err.problem)
        return cls(
            top=_set_profile(data["top"], source, "top"),
            bottom=None if data.get("bottom") is None else _set_profile(data["bottom"], source, "bottom"),
            examples=list(data.get("examples", [])),
            settings=settings,
            source=dict(data.get("source", {})),
        )

    def save(self, path: str | Path) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(self.to_json())

    @classmethod
    def load(cls, path: str | Path) -> MotifProfile:
        path = Path(path)
        if not path.is_file():
            raise UserError(f"{path}: no such profile file")
        return cls.from_json(path.read_text(), source=str(path))


def mine_motifs(
    top,
    bottom=(),
    tokenizer=None,
    settings: MiningSettings = MiningSettings(),
    source: dict | None = None,
    on_document=None,
) -> MotifProfile:
    """Measure ``top`` and ``bottom`` documents (texts or token-id sequences; see the module docstring);
    ``source`` is recorded as given, ``on_document()`` is called after each document (progress)."""
    if not len(top):
        raise UserError("mine_motifs: no top documents")
    top_docs, bottom_docs, name = _prepare(list(top), list(bottom), tokenizer)

    def measure(doc: _Doc) -> dict:
        stats = _measure(doc, settings)
        if on_document is not None:
            on_document()
        return stats

    top_stats, bottom_stats = list(map(measure, top_docs)), list(map(measure, bottom_docs))
    examples = [_example("top", i, d, s) for i, (d, s) in enumerate(zip(top_docs, top_stats))][: settings.examples]
    examples += [_example("bottom", i, d, s) for i, (d, s) in enumerate(zip(bottom_docs, bottom_stats))][
        : settings.examples // 2
    ]
    return MotifProfile(
        top=_summarise(top_docs, top_stats, name),
        bottom=_summarise(bottom_docs, bottom_stats, name) if bottom_docs else None,
        examples=examples,
        settings=settings,
        source=dict(source or {}),
    )


@dataclass(frozen=True)
class _Doc:
    tokens: np.ndarray
    text: str | None


def _prepare(top: list, bottom: list, tokenizer):
    """The documents of both sets, and a function naming a token id (its text, or the id)."""
    vocabulary: dict[str, int] = {}

    def one(item) -> _Doc:
        if isinstance(item, str):
            if tokenizer is not None:
                ids = tokenizer(item, add_special_tokens=False)["input_ids"]
            else:
                ids = [vocabulary.setdefault(word, len(vocabulary)) for word in WORD_TOKEN.findall(item)]
            return _Doc(np.asarray(ids, dtype=np.int64), item)
        ids = np.asarray(item, dtype=np.int64)
        if ids.ndim != 1:
            raise UserError(f"mine_motifs: a document must be a text or a 1-d token sequence (got shape {ids.shape})")
        return _Doc(ids, tokenizer.decode(ids.tolist()) if tokenizer is not None else None)

    top_docs, bottom_docs = [one(x) for x in top], [one(x) for x in bottom]
    if tokenizer is not None:
        return top_docs, bottom_docs, lambda i: tokenizer.decode([i])
    units = {i: unit for unit, i in vocabulary.items()}
    return top_docs, bottom_docs, lambda i: units.get(i, str(i))


def _measure(doc: _Doc, settings: MiningSettings) -> dict:
    motifs, coverage = find_motifs(doc.tokens, settings.min_length, settings.max_distance)
    lines = structure.nonempty_lines(doc.text) if doc.text is not None else None
    counts = structure.line_counts(lines) if lines is not None else {}
    shares = {k: n / len(lines) for k, n in counts.items()} if lines else dict.fromkeys(counts, 0.0)
    frequencies = np.unique(doc.tokens, return_counts=True)[1]
    p = frequencies / max(1, frequencies.sum())
    return {
        "motifs": motifs,
        "complete": complete_motifs(motifs, len(doc.tokens)),
        "coverage": coverage,
        "shares": shares,
        "kind": structure.document_kind(counts, len(lines or ()), coverage),
        "entropy": float(-(p * np.log2(p)).sum()),
        "distinct": len(frequencies) / max(1, len(doc.tokens)),
        "lines": lines,
    }


def _summarise(docs: list[_Doc], stats: list[dict], name) -> SetProfile:
    complete = [m for s in stats for m in s["complete"]]
    triples = Counter((m.length, m.copies, m.distance) for m in complete)
    repeats = {
        "docs_with_motifs": _mean([bool(s["motifs"]) for s in stats]),
        "coverage": _mean([s["coverage"] for s in stats]),
        "motifs_per_doc": _mean([len(s["motifs"]) for s in stats]),
        "length": _summary([m.length for m in complete]),
        "copies": _summary([m.copies for m in complete]),
        "distance": _summary([m.distance for m in complete]),
        "back_to_back": _mean([m.length == m.distance for m in complete]),
        "motifs": [[*t, n] for t, n in triples.most_common(TOP_MOTIFS)],
    }
    kinds = Counter(s["kind"] for s in stats)
    return SetProfile(
        n_docs=len(docs),
        n_tokens=int(sum(len(d.tokens) for d in docs)),
        kinds={k: kinds[k] / len(docs) for k in structure.KINDS if kinds[k]},
        doc_tokens=_summary([len(d.tokens) for d in docs]),
        repeats=repeats,
        structure=_structure(docs, stats) if all(d.text is not None for d in docs) else None,
        frequency=_frequency(docs, stats, name),
    )


def _structure(docs: list[_Doc], stats: list[dict]) -> dict:
    lines = [line for s in stats for line in s["lines"]]
    structured = [line for line in lines if any(p.search(line) for p in structure.LINE_PATTERNS.values())]
    tags, environments = Counter(), Counter()
    for doc in docs:
        tags.update(structure.tag_names(doc.text))
        environments.update(structure.environments(doc.text))
    return {
        "line_shares": {k: _mean([s["shares"][k] for s in stats]) for k in structure.LINE_PATTERNS},
        "lines_per_doc": _mean([len(s["lines"]) for s in stats]),
        "templates": _most_common(Counter(map(structure.template, structured))),
        "table_columns": _histogram(structure.table_columns(lines)),
        "record_fields": _histogram([n for d in docs for n in structure.record_fields(d.text.splitlines())]),
        "tags": _most_common(tags),
        "environments": _most_common(environments),
    }


def _frequency(docs: list[_Doc], stats: list[dict], name) -> dict:
    ids, counts = np.unique(np.concatenate([d.tokens for d in docs]), return_counts=True)
    top = np.argsort(-counts, kind="stable")[:TOP_ITEMS]
    result = {
        "entropy_bits": _mean([s["entropy"] for s in stats]),
        "distinct_ratio": _mean([s["distinct"] for s in stats]),
        "top_tokens": [[name(int(ids[i])), float(counts[i] / counts.sum())] for i in top],
        "char_classes": None,
    }
    if all(d.text is not None for d in docs):
        text = "".join(d.text for d in docs)
        total = max(1, len(text))
        classes = {"letters": str.isalpha, "digits": str.isdigit, "spaces": str.isspace}
        shares = {name: sum(map(test, text)) / total for name, test in classes.items()}
        result["char_classes"] = {**shares, "other": 1.0 - sum(shares.values())}
    return result


def _example(which: str, rank: int, doc: _Doc, stats: dict) -> dict:
    text = doc.text if doc.text is not None else " ".join(map(str, doc.tokens.tolist()))
    return {
        "set": which,
        "rank": rank,
        "kind": stats["kind"],
        "coverage": round(stats["coverage"], 4),
        "motifs": [[m.length, m.copies, m.distance] for m in stats["motifs"]],
        "text": text[:SNIPPET_CHARS],
    }


def _mean(values) -> float:
    return float(np.mean(values)) if len(values) else 0.0


def _summary(values) -> dict:
    """``n``, ``mean``, 10th/50th/90th percentiles and ``max`` of ``values`` (``None`` when empty)."""
    if not len(values):
        return {"n": 0, "mean": None, "p10": None, "p50": None, "p90": None, "max": None}
    v = np.asarray(values, dtype=float)
    p10, p50, p90 = np.percentile(v, [10, 50, 90])
    return {
        "n": len(v),
        "mean": float(v.mean()),
        "p10": float(p10),
        "p50": float(p50),
        "p90": float(p90),
        "max": float(v.max()),
    }


def _most_common(counter: Counter) -> list[list]:
    return [[item, n] for item, n in counter.most_common(TOP_ITEMS)]


def _histogram(values) -> dict[str, int]:
    return {str(k): n for k, n in sorted(Counter(values).items())}


def _expect(ok: bool, source: str, name: str, message: str) -> None:
    if not ok:
        raise UserError(f"{source}: {name + ' ' if name else ''}{message}")


def _set_profile(data, source: str, name: str) -> SetProfile:
    _expect(isinstance(data, dict), source, name, "must be an object")
    required = [f.name for f in fields(SetProfile)]
    missing = [key for key in required if key not in data]
    _expect(not missing, source, f"{name}.{missing[0] if missing else ''}", "is required")
    kinds = data["kinds"]
    _expect(isinstance(kinds, dict), source, f"{name}.kinds", "must be an object of shares")
    for kind, share in kinds.items():
        _expect(
            kind in structure.KINDS,
            source,
            f"{name}.kinds",
            f"unknown motif kind {kind!r} (known: {', '.join(structure.KINDS)})",
        )
        _expect(
            _is_number(share) and share >= 0, source, f"{name}.kinds.{kind}", f"must be a share >= 0 (got {share!r})"
        )
    motifs = data["repeats"].get("motifs", []) if isinstance(data["repeats"], dict) else None
    _expect(isinstance(motifs, list), source, f"{name}.repeats.motifs", "must be a list")
    for i, entry in enumerate(motifs):
        ok = isinstance(entry, list) and len(entry) == 4 and all(isinstance(v, int) and v >= 1 for v in entry)
        ok = ok and entry[1] >= 2 and entry[2] >= entry[0]
        _expect(
            ok,
            source,
            f"{name}.repeats.motifs[{i}]",
            f"must be [length, copies >= 2, distance >= length, count] (got {entry!r})",
        )
    return SetProfile(**{key: data[key] for key in required})


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
