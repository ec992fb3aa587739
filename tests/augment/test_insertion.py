import json

import numpy as np
import pytest

from mda_curate.augment import (
    GenerationSettings,
    TokenCounter,
    generate,
    insertion_schedule,
    mine_motifs,
    random_documents,
    write_documents,
    write_schedule,
)
from mda_curate.augment.insertion import count_tokens
from mda_curate.data.documents import read_documents
from mda_curate.errors import UserError
from mda_curate.training.schedule import Schedule

CTX = 128


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory, bpe):
    profile = mine_motifs(["alpha beta gamma delta epsilon zeta " * 3])
    records = list(generate(profile, GenerationSettings(tokens=5000, seed=0, doc_tokens=128), bpe))
    path = tmp_path_factory.mktemp("synthetic") / "synthetic.jsonl"
    assert write_documents(records, path) == (len(records), sum(r["n_tokens"] for r in records))
    return path, records


@pytest.mark.parametrize("name", ["docs.jsonl", "docs.jsonl.gz", "docs.parquet"])
def test_written_documents_read_back_in_the_corpus_format(synthetic, tmp_path, name):
    _, records = synthetic
    write_documents(records, tmp_path / name)
    docs = list(read_documents([tmp_path / name]))
    assert [(d.doc_id, d.text, d.domain) for d in docs] == [(r["id"], r["text"], "synthetic") for r in records]


def test_unsupported_output_format_is_refused(tmp_path):
    with pytest.raises(UserError, match="unsupported output format"):
        write_documents([], tmp_path / "docs.csv")


def test_schedule_is_what_the_trainer_loads_and_inserts(synthetic, tmp_path, bpe):
    path, records = synthetic
    out = tmp_path / "plan" / "schedule.json"
    write_schedule(insertion_schedule(path, start=30, rows_per_step=4, end=60, schedule_dir=out.parent), out)
    assert not json.loads(out.read_text())["insert"][0]["path"].startswith("/")  # relative to the schedule
    loaded = Schedule.load(out, steps=100, batch_size=8)
    (insert,) = loaded.insert
    assert (insert.start, insert.end, insert.rows_per_step) == (30, 60, 4)
    assert insert.path == str(out.parent / json.loads(out.read_text())["insert"][0]["path"])

    from mda_curate.training.data import PackedSource, open_corpora

    (corpus,) = open_corpora([insert.path], bpe, tmp_path / "tokenized")
    source = PackedSource("insert", [corpus], np.array([[0, i] for i in range(len(corpus))]), CTX)
    assert source.num_windows == (sum(r["n_tokens"] for r in records) + len(records)) // (
        CTX + 1
    )  # + one EOS per document


def test_share_schedule_and_bad_arguments(synthetic, tmp_path):
    path, _ = synthetic
    assert insertion_schedule(path, start=5, share=0.25)["insert"] == [{"path": str(path), "start": 5, "share": 0.25}]
    Schedule.from_dict(insertion_schedule(path, start=5, share=0.25), steps=10, batch_size=8)
    with pytest.raises(UserError, match="exactly one of rows per step and share"):
        insertion_schedule(path, start=5, rows_per_step=2, share=0.1)
    with pytest.raises(UserError, match="end step 5 must be after the start step 5"):
        insertion_schedule(path, start=5, end=5, rows_per_step=2)
    with pytest.raises(UserError, match="no such file"):
        insertion_schedule(tmp_path / "nope.jsonl", start=0, rows_per_step=1)


def test_random_control_matches_the_token_count_and_is_seeded(synthetic, tmp_path, bpe):
    path, records = synthetic
    corpus = tmp_path / "corpus.jsonl"
    write_documents(
        [{"id": f"n{i}", "text": f"natural document {i} " * (5 + i % 30), "domain": "prose"} for i in range(300)],
        corpus,
    )
    for counter in (TokenCounter(), TokenCounter(bpe)):
        _, tokens = count_tokens(path, counter)
        control = list(random_documents([corpus], tokens, seed=1, counter=counter))
        assert sum(counter(d["text"]) for d in control) == sum(d["n_tokens"] for d in control)
        assert tokens - 1 <= sum(d["n_tokens"] for d in control) <= tokens  # the cut document may lose one token
        assert control == list(random_documents([corpus], tokens, seed=1, counter=counter))
        assert control != list(random_documents([corpus], tokens, seed=2, counter=counter))
    with pytest.raises(UserError, match="fewer than the 10000000 to match"):
        list(random_documents([corpus], 10_000_000, seed=1, counter=TokenCounter()))


def test_generic_control_is_repeated_spans_with_the_token_count_and_is_seeded(synthetic, bpe):
    """Generic copy data: spans of 10-60 single-token words written 2-3 times back to back, to the token count."""
    from mda_curate.augment.generators import encode
    from mda_curate.augment.insertion import generic_copy_documents
    from mda_curate.augment.repeats import find_motifs

    path, _ = synthetic
    counter = TokenCounter(bpe)
    _, tokens = count_tokens(path, counter)
    docs = list(generic_copy_documents(tokens, seed=1, counter=counter, doc_tokens=128))
    assert sum(d["n_tokens"] for d in docs) == tokens and all(counter(d["text"]) == d["n_tokens"] for d in docs)
    assert {d["domain"] for d in docs} == {"generic_copy"} and len({d["id"] for d in docs}) == len(docs)
    assert all(d["n_tokens"] == 128 for d in docs[:-1])
    motifs, _ = find_motifs(encode(bpe, docs[0]["text"]), min_length=10)
    assert motifs and all(m.distance == m.length and 2 <= m.copies <= 3 for m in motifs[:-1])  # the last may be cut
    assert docs == list(generic_copy_documents(tokens, seed=1, counter=counter, doc_tokens=128))
    assert docs != list(generic_copy_documents(tokens, seed=2, counter=counter, doc_tokens=128))


def test_random_control_draws_only_the_given_domains(tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    write_documents(
        [{"id": f"n{i}", "text": f"document {i} " * 20, "domain": ("prose", "records")[i % 2]} for i in range(100)],
        corpus,
    )
    drawn = list(random_documents([corpus], 500, seed=0, counter=TokenCounter(), domains={"prose"}))
    assert drawn and {d["domain"] for d in drawn} == {"prose"} and all(int(d["id"][1:]) % 2 == 0 for d in drawn)
    assert {d["domain"] for d in random_documents([corpus], 2000, seed=0, counter=TokenCounter())} == {
        "prose",
        "records",
    }
    with pytest.raises(UserError, match="no documents of the domains code, latex"):
        list(random_documents([corpus], 500, seed=0, counter=TokenCounter(), domains={"latex", "code"}))
    with pytest.raises(
        UserError, match="no documents of the domains latex$"
    ):  # a misspelt domain is not dropped silently
        list(random_documents([corpus], 500, seed=0, counter=TokenCounter(), domains={"prose", "latex"}))
