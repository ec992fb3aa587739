"""Tiny corpora, tokenizer and configs for the training tests (never the shipped corpus)."""

from __future__ import annotations

import pytest

from mda_curate.data.documents import Document
from mda_curate.training.config import TrainConfig

WORDS = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu".split()


def documents() -> list[Document]:
    """60 short documents in three domains of different sizes."""
    docs = []
    for i in range(60):
        domain = ["prose", "code", "markup"][i % 3]
        words = " ".join(WORDS[(i + k) % len(WORDS)] for k in range(5 + i % 7))
        text = {"prose": words, "code": f"def f{i}(x):\n    return x + {i}", "markup": f"<a><b>{words}</b></a>"}[
            domain
        ]
        docs.append(Document(f"{domain}-{i}", text * (1 + (domain == "prose")), domain))
    return docs


@pytest.fixture(scope="session")
def tokenizer(tmp_path_factory):
    from mda_curate.data.tokenizer import train_tokenizer

    return train_tokenizer([d.text for d in documents()], 300, tmp_path_factory.mktemp("tokenizer"))


@pytest.fixture(scope="session")
def corpus_dir(tmp_path_factory, tokenizer):
    from mda_curate.data.tokenized import tokenize_documents

    out = tmp_path_factory.mktemp("corpus")
    tokenize_documents(documents(), tokenizer, out)
    return out


def tiny_config(**overrides) -> TrainConfig:
    """cpu-tiny at ctx 16, batch 4, 6 steps: a run takes about a second."""
    settings = dict(context_length=16, batch_size=4, steps=6, warmup_steps=2, log_every=1, threads=1)
    return TrainConfig(**{**settings, **overrides})
