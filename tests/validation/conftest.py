"""A tiny corpus, tokenizer and spec writer for the validation tests: base runs of ctx 16, batch 4 and
12 steps, trained by the harness itself in about a second."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mda_curate.validation.spec import spec_toml

WORDS = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa", "lambda", "mu"]
DOMAINS = ("prose", "code", "markup")


def documents(n: int, offset: int = 0) -> list[dict]:
    docs = []
    for i in range(offset, offset + n):
        domain = DOMAINS[i % 3]
        words = " ".join(WORDS[(i + k) % len(WORDS)] for k in range(5 + i % 7))
        text = {"prose": words * 2, "code": f"def f{i}(x):\n    return x + {i}", "markup": f"<a><b>{words}</b></a>"}[
            domain
        ]
        docs.append({"id": f"{domain}-{i}", "text": text, "domain": domain})
    return docs


def write_jsonl(path: Path, docs: list[dict]) -> Path:
    path.write_text("".join(json.dumps(d) + "\n" for d in docs))
    return path


@pytest.fixture(scope="session")
def corpus(tmp_path_factory):
    """Folder with ``train.jsonl``, ``heldout.jsonl``, ``synthetic.jsonl``, ``random.jsonl``, ``generic.jsonl``
    and ``tokenizer/``."""
    from mda_curate.data.tokenizer import train_tokenizer

    root = tmp_path_factory.mktemp("corpus")
    train = documents(60)
    write_jsonl(root / "train.jsonl", train)
    write_jsonl(root / "heldout.jsonl", documents(30, offset=100))
    write_jsonl(
        root / "synthetic.jsonl", [{"id": f"s{i}", "text": "x y z " * 40, "domain": "synthetic"} for i in range(20)]
    )
    write_jsonl(root / "random.jsonl", documents(20, offset=200))
    write_jsonl(
        root / "generic.jsonl", [{"id": f"g{i}", "text": "a b c a b c " * 20, "domain": "generic"} for i in range(20)]
    )
    train_tokenizer([d["text"] for d in train], 300, root / "tokenizer")
    return root


def tiny_spec_data(corpus: Path, runs: Path, seeds=(0, 1), arms=None) -> dict:
    """A spec over base runs ``runs/base<seed>`` (window steps 4-7, arms to step 12)."""
    return {
        "name": "tiny",
        "data": [corpus / "train.jsonl"],
        "tokenizer": corpus / "tokenizer",
        "unit": "1.0",
        "train": {
            "context_length": 16,
            "batch_size": 4,
            "steps": 12,
            "warmup_steps": 2,
            "log_every": 1,
            "checkpoint_every": 4,
            "catalyst_share": 0.5,
            "threads": 1,
        },
        "arms": {
            "run": list(arms or ["baseline", "targeted_removal", "random_removal"]),
            "k": 0.25,
            "checkpoint_every": 2,
            "synthetic": corpus / "synthetic.jsonl",
            "random_documents": corpus / "random.jsonl",
            "generic_documents": corpus / "generic.jsonl",
        },
        "metrics": {
            "heldout": corpus / "heldout.jsonl",
            "heldout_contexts": 2,
            "icl_contexts": 4,
            "probe_sequences": 4,
            "probe_lengths": [4, 6],
        },
        "seeds": [
            {"seed": s, "run": runs / f"base{s}", "window": [4, 8], "until": 12, "scores": runs / f"scores{s}.parquet"}
            for s in seeds
        ],
    }


def write_spec(path: Path, data: dict) -> Path:
    path.write_text(spec_toml(data))
    return path


def write_scores(
    seed_spec, batch_size: int = 4, train: str | None = None, unit: str = "1.0", indices=None, model: str | None = None
) -> None:
    """Hand-made influence scores of a seed's window, with the ``arguments.json`` the influence CLI writes."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from mda_curate.influence.engine import scores_schema

    start, end = seed_spec.window
    indices = list(indices if indices is not None else range(start * batch_size, end * batch_size))
    scores = [float((g * 7) % 11) for g in indices]  # deterministic, with ties
    seed_spec.scores.parent.mkdir(parents=True, exist_ok=True)
    table = {
        "sample_index": indices,
        "doc_id": [f"sample-{g}" for g in indices],
        "domain": ["prose"] * len(indices),
        "score": scores,
        "loss": [1.0] * len(indices),
        "n_tokens": [17] * len(indices),
        "skipped": [None] * len(indices),
    }
    pq.write_table(pa.table(table, schema=scores_schema()), seed_spec.scores)
    work = seed_spec.scores.with_name(seed_spec.scores.stem + ".influence")
    work.mkdir(exist_ok=True)
    default = f"{seed_spec.run.resolve()} steps {start}:{end}"
    attributed = str((seed_spec.run / f"step_{seed_spec.attributed_step}").resolve())
    (work / "arguments.json").write_text(
        json.dumps({"model": model or attributed, "train": train or default, "unit": unit})
    )


@pytest.fixture(scope="session")
def base_runs(tmp_path_factory, corpus):
    """Base runs of seeds 0 and 1, trained by the harness up to their window start (step 4), with scores."""
    from mda_curate.models import load_tokenizer
    from mda_curate.validation.runner import prepare_base_run
    from mda_curate.validation.spec import load_spec

    runs = tmp_path_factory.mktemp("runs")
    spec = load_spec(write_spec(runs / "spec.toml", tiny_spec_data(corpus, runs)))
    tokenizer = load_tokenizer(str(spec.tokenizer))
    for i, seed in enumerate(spec.seeds):
        prepare_base_run(spec, seed, f"seeds[{i}]", tokenizer, show_progress=False)
        write_scores(seed)
    return runs
