"""Synthetic catalyst documents for the validation harness's ``synthetic_augmentation`` arm.

Programmatic generators of the repetitive structure the paper finds among the top influence samples
(LaTeX tables, XML/markup lists, key-value records, repeated word spans), filled with words drawn from
the sample corpus's prose so that every token is in the tokenizer's vocabulary. Deterministic given
``--seed``. Writes JSONL (``id``, ``text``, ``domain = "synthetic"``)::

    python benchmarks/validation_synthetic.py --out runs/validation/synthetic.jsonl
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import numpy as np

from mda_curate.data.documents import read_documents
from mda_curate.resources import sample_corpus_dir


def corpus_words(limit: int = 5000) -> list[str]:
    """The ``limit`` most frequent alphabetic words of the sample corpus's prose (then alphabetical)."""
    counts: dict[str, int] = {}
    for doc in read_documents([sample_corpus_dir() / "train.parquet"]):
        if doc.domain == "prose":
            for word in re.findall(r"[A-Za-z]{3,12}", doc.text):
                counts[word] = counts.get(word, 0) + 1
    return sorted(counts, key=lambda w: (-counts[w], w))[:limit]


def repeated_spans(rng: np.random.Generator, words: list[str]) -> str:
    spans = []
    for _ in range(rng.integers(3, 7)):
        span = " ".join(rng.choice(words, rng.integers(5, 20)))
        spans.append(" ".join([span] * int(rng.integers(2, 4))))
    return "\n".join(spans)


def latex_table(rng: np.random.Generator, words: list[str]) -> str:
    columns = int(rng.integers(2, 5))
    rows = [" & ".join(rng.choice(words, columns)) + r" \\" for _ in range(rng.integers(4, 9))]
    rows = rows * int(rng.integers(2, 4))
    return "\\begin{tabular}{" + "l" * columns + "}\n\\hline\n" + "\n".join(rows) + "\n\\hline\n\\end{tabular}"


def markup_list(rng: np.random.Generator, words: list[str]) -> str:
    tag, field = rng.choice(words, 2)
    items = [f'  <{tag} id="{i}"><{field}>{" ".join(rng.choice(words, 2))}</{field}></{tag}>' for i in range(rng.integers(6, 14))]
    return f"<{tag}s>\n" + "\n".join(items * 2) + f"\n</{tag}s>"


def records(rng: np.random.Generator, words: list[str]) -> str:
    keys = list(rng.choice(words, int(rng.integers(3, 6))))
    block = ["\n".join(f"{key}: {rng.choice(words)}" for key in keys) for _ in range(rng.integers(3, 6))]
    return "\n\n".join(block * 2)


GENERATORS = (repeated_spans, latex_table, markup_list, records)


def generate(n: int, seed: int) -> list[dict]:
    words = corpus_words()
    rng = np.random.default_rng(seed)
    docs = []
    for i in range(n):
        generator = GENERATORS[i % len(GENERATORS)]
        docs.append({"id": f"synthetic-{i}", "text": generator(rng, words), "domain": "synthetic"})
    return docs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/validation/synthetic.jsonl")
    parser.add_argument("--documents", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(json.dumps(doc) + "\n" for doc in generate(args.documents, args.seed)))
    print(f"wrote {args.documents} documents to {out}")


if __name__ == "__main__":
    main()
