"""A tiny float64 GPT-NeoX, its tokenizer and training/query files of word documents."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mda_curate.influence.samples import open_samples
from mda_curate.influence.settings import InfluenceSettings


def word_documents(n: int, seed: int, lengths=(3, 24)) -> list[dict]:
    """``n`` documents of random words ``w02 .. w63`` of varied length; every third one repeats a span."""
    rng = np.random.default_rng(seed)
    docs = []
    for i in range(n):
        words = [f"w{t:02d}" for t in rng.integers(2, 64, size=int(rng.integers(*lengths)))]
        if i % 3 == 0:
            words = words + words
        docs.append({"id": f"doc-{i}", "text": " ".join(words), "domain": ["prose", "code"][i % 2]})
    return docs


def write_jsonl(path, docs) -> str:
    path.write_text("".join(json.dumps(d) + "\n" for d in docs))
    return str(path)


@pytest.fixture
def tiny(neox, tmp_path):
    """model (float64), tokenizer, train samples (20 docs, varied lengths), query samples (3 docs)."""
    from types import SimpleNamespace

    model = neox.random_model(seed=4, hidden_size=32, intermediate_size=64).double()
    tokenizer = neox.make_tokenizer()
    train_path = write_jsonl(tmp_path / "train.jsonl", word_documents(20, seed=1))
    query_path = write_jsonl(tmp_path / "query.jsonl", word_documents(3, seed=2))
    return SimpleNamespace(
        model=model,
        tokenizer=tokenizer,
        train_path=train_path,
        query_path=query_path,
        train=open_samples(train_path, tokenizer, max_length=48),
        query=open_samples(query_path, tokenizer, max_length=48),
        settings=InfluenceSettings(batch_size=4, max_length=48),
        write_docs=lambda name, n, seed: write_jsonl(tmp_path / name, word_documents(n, seed)),
    )
