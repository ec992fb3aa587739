import pytest
from transformers import AutoTokenizer

from mda_curate.data.tokenizer import train_tokenizer
from mda_curate.errors import UserError

TEXTS = ["def add(a, b):\n    return a + b\n"] * 20 + ["\\begin{tabular}{ll} a & b \\\\ \\end{tabular}"] * 20


def test_trained_tokenizer_loads_with_autotokenizer_and_round_trips(tmp_path):
    trained = train_tokenizer(TEXTS, 300, tmp_path / "tok")
    tok = AutoTokenizer.from_pretrained(tmp_path / "tok")
    assert 258 < len(tok) == len(trained) <= 300  # small texts run out of merges before 300
    assert tok.eos_token == tok.bos_token == "<|endoftext|>" and tok.eos_token_id == 0
    assert tok.pad_token_id == 1
    text = "def héllo(x):\n\treturn x  # ünïcode ✓"
    assert tok.decode(tok(text)["input_ids"]) == text
    assert len(tok("    return a + b")["input_ids"]) < len("    return a + b")  # merges were learned


def test_training_is_deterministic(tmp_path):
    train_tokenizer(TEXTS, 280, tmp_path / "a")
    train_tokenizer(TEXTS, 280, tmp_path / "b")
    assert (tmp_path / "a" / "tokenizer.json").read_bytes() == (tmp_path / "b" / "tokenizer.json").read_bytes()


def test_too_small_vocab_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match=r"^vocab_size: must be at least 258 .*\(got 100\)"):
        train_tokenizer(TEXTS, 100, tmp_path / "t")
