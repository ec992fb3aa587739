"""The shipped BPE tokenizer behind the small interface the augment code uses, without importing transformers."""

from __future__ import annotations

import pytest

from mda_curate.resources import sample_tokenizer_dir


class BPE:
    """``tokenizer(text or texts, add_special_tokens=False)["input_ids"]``, ``decode(ids)``, ``len()`` and
    ``eos_token_id`` of a tokenizer.json: what the augment code and ``tokenize_documents`` use."""

    def __init__(self, path):
        from tokenizers import Tokenizer

        self.core, self.name_or_path = Tokenizer.from_file(str(path)), str(path)
        self.eos_token_id = self.core.token_to_id("<|endoftext|>")

    def __call__(self, text, add_special_tokens: bool = False) -> dict:
        if isinstance(text, str):
            return {"input_ids": self.core.encode(text, add_special_tokens=add_special_tokens).ids}
        return {"input_ids": [e.ids for e in self.core.encode_batch(text, add_special_tokens=add_special_tokens)]}

    def decode(self, ids) -> str:
        return self.core.decode(list(ids))

    def __len__(self) -> int:
        return self.core.get_vocab_size()


@pytest.fixture(scope="session")
def bpe():
    return BPE(sample_tokenizer_dir() / "tokenizer.json")
