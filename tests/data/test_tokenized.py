import json

import numpy as np
import pytest

from mda_curate.data.documents import Document
from mda_curate.data.tokenized import TokenizedCorpus, is_tokenized, tokenize_documents
from mda_curate.data.tokenizer import train_tokenizer
from mda_curate.errors import UserError


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    texts = ["alpha beta gamma delta\n"] * 10 + ["<a><b>1</b></a>\n"] * 10
    return train_tokenizer(texts, 280, tmp_path_factory.mktemp("tok"))


def test_documents_round_trip_with_eos_separators(tmp_path, tokenizer):
    docs = [
        Document("p1", "alpha beta", "prose"),
        Document("m1", "<a><b>1</b></a>", "markup"),
        Document("empty", "", "prose"),
        Document("p2", "gamma delta alpha", "prose"),
    ]
    corpus = tokenize_documents(docs, tokenizer, tmp_path / "tk")
    assert is_tokenized(tmp_path / "tk")
    assert corpus.doc_ids == ["p1", "m1", "p2"]  # the empty document is skipped and counted
    assert json.loads((tmp_path / "tk" / "meta.json").read_text())["skipped"] == 1
    for i, doc in enumerate([docs[0], docs[1], docs[3]]):
        assert tokenizer.decode(corpus.document(i)) == doc.text
        assert corpus.tokens[corpus.offsets[i] + corpus.lengths[i]] == tokenizer.eos_token_id
    assert corpus.domain_indices("prose").tolist() == [0, 2]
    assert corpus.tokens.dtype == np.uint16 and corpus.tokens.size == corpus.lengths.sum() + 3


def test_reopen_checks_token_count(tmp_path, tokenizer):
    tokenize_documents([Document("a", "alpha beta")], tokenizer, tmp_path / "tk")
    with open(tmp_path / "tk" / "tokens.bin", "ab") as f:
        f.write(b"\x00\x00")
    with pytest.raises(UserError, match="tokens.bin: holds"):
        TokenizedCorpus.open(tmp_path / "tk")


def test_not_a_tokenized_folder(tmp_path):
    with pytest.raises(UserError, match="no meta.json"):
        TokenizedCorpus.open(tmp_path)


def test_corpus_tokenize_command_writes_the_format(tmp_path, tokenizer, capsys):
    from mda_curate.cli import main

    tokenizer.save_pretrained(tmp_path / "tok")
    data = tmp_path / "docs.jsonl"
    data.write_text('{"id": "a", "text": "alpha beta", "domain": "prose"}\n{"id": "b", "text": "<a>1</a>"}\n')
    assert (
        main(["corpus", "tokenize", str(data), "--tokenizer", str(tmp_path / "tok"), "--out", str(tmp_path / "tk")])
        == 0
    )
    corpus = TokenizedCorpus.open(tmp_path / "tk")
    assert corpus.doc_ids == ["a", "b"] and list(corpus.domains) == ["prose", "unknown"]
    assert tokenizer.decode(corpus.document(1)) == "<a>1</a>"
