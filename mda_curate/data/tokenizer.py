"""Train a byte-level BPE tokenizer (GPT-NeoX style) and save it as an HF ``PreTrainedTokenizerFast`` folder.

Pythia's GPT-NeoX-20B tokenizer cannot be downloaded here, so the project trains a small one on its
own corpus. Special tokens follow GPT-NeoX: id 0 ``<|endoftext|>`` (BOS, EOS and UNK), id 1
``<|padding|>``. Everything downstream takes any HF tokenizer, so Pythia's works unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from mda_curate.errors import FieldError

EOS = "<|endoftext|>"
PAD = "<|padding|>"
MIN_VOCAB = 258  # 256 bytes + 2 special tokens


def train_tokenizer(texts: Iterable[str], vocab_size: int, out_dir: str | Path):
    """Train a byte-level BPE of ``vocab_size`` tokens on ``texts``, save it to ``out_dir``, return it."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    if vocab_size < MIN_VOCAB:
        raise FieldError(
            "vocab_size", f"must be at least {MIN_VOCAB} (256 bytes + 2 special tokens) (got {vocab_size})"
        )
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOS, PAD],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(texts, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe, bos_token=EOS, eos_token=EOS, unk_token=EOS, pad_token=PAD
    )
    tokenizer.save_pretrained(str(out_dir))
    return tokenizer
