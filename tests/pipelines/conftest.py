"""Shards the pipeline tests write (real text from the shipped corpus plus malformed lines) and the
classifier they score with."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

DOMAINS = ("prose", "code", "latex", "markup", "records")
BAD_LINES = [  # (raw line, reason)
    (b'{"text": oops}', "malformed_json"),
    (b"", "blank_line"),
    (b'{"id": "no-text"}', "missing_text"),
    (b'{"text": 42}', "non_string_text"),
    (b'{"text": "caf\xe9"}', "invalid_utf8"),
    (b"[1, 2]", "not_an_object"),
    (b'{"text": ""}', "empty_text"),
]


@dataclass
class Corpus:
    """Shards under ``folder``: ``docs`` maps each valid document's id to its text, ``origin`` to its file name."""

    folder: Path
    shards: list[Path]
    docs: dict[str, str]
    origin: dict[str, str]
    bad: list[tuple[str, int, str]]  # (file name, line, reason)

    @property
    def lines(self) -> int:
        return len(self.docs) + len(self.bad)


@dataclass
class Classifier:
    """A saved catalyst classifier (``path``, what the pipelines load) and its scores computed directly."""

    path: str
    score: object

    def scores(self, corpus: Corpus) -> dict[str, float]:
        ids = sorted(corpus.docs)
        return dict(zip(ids, map(float, self.score([corpus.docs[i] for i in ids]))))


@pytest.fixture(scope="session")
def classifier(tmp_path_factory) -> Classifier:
    """A real classifier trained on 100 other documents of the shipped corpus (LaTeX, markup and records
    labelled catalysts; logistic regression only, to keep it quick)."""
    from mda_curate.classifier import load_classifier
    from mda_curate.classifier.train import TrainSettings, train_classifier
    from mda_curate.resources import sample_corpus_dir

    rows = pq.read_table(sample_corpus_dir() / "train.parquet", columns=["domain", "text"]).to_pylist()
    picked = [r for domain in DOMAINS for r in [r for r in rows if r["domain"] == domain][8:28]]
    settings = TrainSettings(candidates=("logistic_regression",))
    labels = [int(r["domain"] in ("latex", "markup", "records")) for r in picked]
    trained, _ = train_classifier([r["text"][:1500] for r in picked], labels, seed=0, settings=settings)
    path = trained.save(tmp_path_factory.mktemp("classifier") / "catalyst")
    return Classifier(str(path), load_classifier(path).score)


@pytest.fixture(scope="session")
def sample_texts() -> list[tuple[str, str]]:
    """(domain, text) pairs: 8 documents of each domain of the shipped corpus, cut to 1,500 characters."""
    from mda_curate.resources import sample_corpus_dir

    table = pq.read_table(sample_corpus_dir() / "train.parquet", columns=["domain", "text"]).to_pylist()
    return [(domain, r["text"][:1500]) for domain in DOMAINS for r in [r for r in table if r["domain"] == domain][:8]]


def write_corpus(folder: Path, texts: list[tuple[str, str]], shards: int = 3) -> Corpus:
    """JSONL shards (the bad lines spread over them, ids only in some) and one parquet shard."""
    folder.mkdir(parents=True, exist_ok=True)
    docs, origin, bad, paths = {}, {}, [], []
    for k in range(shards):
        name, lines = f"shard{k}.jsonl", []
        for i, (domain, text) in enumerate(texts[k :: shards + 1]):
            doc_id = f"s{k}-{i}" if i % 2 else f"{name}/{len(lines) + 1}"  # the reader's id for id-less lines
            record = {"text": text, "id": doc_id, "domain": domain} if i % 2 else {"text": text, "domain": domain}
            lines.append(json.dumps(record).encode())
            docs[doc_id], origin[doc_id] = text, name
            if i < len(BAD_LINES) and i % shards == k:
                lines.append(BAD_LINES[i][0])
                bad.append((name, len(lines), BAD_LINES[i][1]))
        paths.append(folder / name)
        paths[-1].write_bytes(b"\n".join(lines) + b"\n")
    rest = texts[shards :: shards + 1]
    rows = [{"id": f"p-{i}", "text": text, "domain": domain} for i, (domain, text) in enumerate(rest)]
    docs.update({r["id"]: r["text"] for r in rows})
    origin.update({r["id"]: "part.parquet" for r in rows})
    rows.append({"id": "p-null", "text": None, "domain": "none"})
    bad.append(("part.parquet", len(rows), "missing_text"))
    paths.append(folder / "part.parquet")
    pq.write_table(pa.Table.from_pylist(rows), paths[-1])
    return Corpus(folder, paths, docs, origin, bad)


@pytest.fixture
def corpus(tmp_path, sample_texts) -> Corpus:
    return write_corpus(tmp_path / "input", sample_texts)


def _read_jsonl(folder: Path, pattern: str = "0*.jsonl") -> list[dict]:
    return [json.loads(line) for path in sorted(folder.glob(pattern)) for line in path.read_text().splitlines()]


@pytest.fixture
def read_jsonl():
    """``read_jsonl(folder, pattern="0*.jsonl")``: the records of the matching JSONL files, in file order."""
    return _read_jsonl
