"""The baseline the catalyst classifier is measured against: supervised fastText with word bigrams on
newline-flattened text (the DCLM quality-filter recipe), and a docs/s timer that runs scorers alternately.

fastText is a development dependency (``fasttext-numpy2-wheel``, in the ``dev`` extra); it is imported only
when a baseline is trained.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np


class FastText:
    """Supervised fastText on 0/1 labels; ``score(texts)`` is P(label 1)."""

    def __init__(self, docs, labels, seed: int):
        import fasttext

        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "train.txt"
            path.write_text("".join(f"__label__{y} {_flat(d.text)}\n" for d, y in zip(docs, labels)))
            self.model = fasttext.train_supervised(str(path), wordNgrams=2, thread=1, seed=seed, verbose=0)

    def score(self, texts: Sequence[str]) -> np.ndarray:
        labels, probs = self.model.predict([_flat(t) for t in texts], k=2)
        return np.array([dict(zip(ls, ps)).get("__label__1", 0.0) for ls, ps in zip(labels, probs)])


def _flat(text: str) -> str:
    return text.replace("\n", " ").replace("\r", " ")


def docs_per_second(scorers: dict, texts: Sequence[str], repeats: int) -> dict:
    """Best-of-``repeats`` docs/s of each scorer (anything with ``score(texts)``) on the same texts, timed
    alternately."""
    best = dict.fromkeys(scorers, float("inf"))
    for _ in range(repeats):
        for name, scorer in scorers.items():
            start = time.perf_counter()
            scorer.score(texts)
            best[name] = min(best[name], time.perf_counter() - start)
    return {name: len(texts) / seconds for name, seconds in best.items()}
