"""Planted documents for the classifier tests: structured catalysts (label 1) and plain prose (label 0),
generated from a seed; transfer domains (JSON records, HTML pages) never appear in training."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

WORDS = (
    "the of and to in is was for on that with as by it at from this be are or an which have not had one "
    "river mountain village winter garden letter history music market window evening journey harbour "
    "quiet early bright slowly often never always through under between during against without"
).split()


def prose(rng: random.Random, sentences: int = 12) -> str:
    out = []
    for _ in range(sentences):
        words = [rng.choice(WORDS) for _ in range(rng.randint(8, 20))]
        out.append(" ".join(words).capitalize() + rng.choice([".", ".", ",", ";", "!"]))
    return " ".join(out)


def latex(rng: random.Random) -> str:
    items = "\n".join(
        f"  \\item \\textbf{{{rng.choice(WORDS)}}} {rng.choice(WORDS)} {rng.choice(WORDS)}"
        for _ in range(rng.randint(8, 16))
    )
    return f"\\begin{{itemize}}\n{items}\n\\end{{itemize}}\n\\section{{{rng.choice(WORDS)}}}\n"


def code(rng: random.Random) -> str:
    functions = []
    for i in range(rng.randint(4, 8)):
        name = rng.choice(WORDS)
        functions.append(
            f"def {name}_{i}(self, {name}):\n    if {name} is None:\n        return self.{name}\n    return [{name}, {i}]\n"
        )
    return "\n".join(functions)


def json_records(rng: random.Random) -> str:
    return "\n".join(
        json.dumps({"id": rng.randint(0, 9999), "name": rng.choice(WORDS), "tags": [rng.choice(WORDS)]})
        for _ in range(rng.randint(10, 20))
    )


def html(rng: random.Random) -> str:
    rows = "\n".join(
        f'<tr><td class="{rng.choice(WORDS)}">{rng.choice(WORDS)}</td><td>{rng.randint(0, 99)}</td></tr>'
        for _ in range(rng.randint(8, 16))
    )
    return f"<html><body><table>\n{rows}\n</table></body></html>\n"


def planted(n: int, seed: int, makers=(latex, code)) -> tuple[list[str], np.ndarray, list[str]]:
    """``n`` documents alternating structured (one of ``makers``, label 1) and prose (label 0)."""
    rng = random.Random(seed)
    texts, labels, domains = [], [], []
    for i in range(n):
        maker = makers[(i // 2) % len(makers)] if i % 2 else prose
        texts.append(maker(rng))
        labels.append(int(i % 2 == 1))
        domains.append(maker.__name__)
    return texts, np.array(labels), domains


@pytest.fixture(scope="session")
def trained():
    """A logistic-regression classifier trained on 80 planted latex/code vs prose documents."""
    from mda_curate.classifier.train import TrainSettings, train_classifier

    texts, labels, domains = planted(80, seed=0)
    settings = TrainSettings(candidates=("logistic_regression",))
    return train_classifier(texts, labels, domains=domains, seed=0, settings=settings)
