"""Tiny GPT-NeoX builders shared by the test folders: a word-level tokenizer, random models and a
hand-built model with exactly planted heads (a previous-token head and the induction head it composes
with). Tests get them via the ``neox`` fixture."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

VOCAB = 64
SPECIAL = ["<|endoftext|>", "<unk>"]  # ids 0 and 1
HIDDEN, HEADS = 256, 2
HEAD_SIZE = HIDDEN // HEADS
ROTARY = 32  # rotary dims per head (partial_rotary_factor 0.25); pass-through dims 32..127
TOKEN, PREVIOUS, COPIED = (slice(k * VOCAB, (k + 1) * VOCAB) for k in range(3))  # residual subspaces
PLANTED = {"previous_token": (0, 0), "duplicate_token": (0, 1), "induction": (1, 0)}  # (layer, head)


def make_tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {tok: i for i, tok in enumerate(SPECIAL + [f"w{i:02d}" for i in range(len(SPECIAL), VOCAB)])}
    core = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(
        tokenizer_object=core, bos_token="<|endoftext|>", eos_token="<|endoftext|>", unk_token="<unk>"
    )


def neox_config(**overrides):
    from transformers import GPTNeoXConfig

    settings = dict(
        vocab_size=VOCAB, hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128,
        max_position_embeddings=256, rotary_pct=0.25, use_parallel_residual=True, bos_token_id=0, eos_token_id=0,
    )
    return GPTNeoXConfig(**{**settings, **overrides})


def random_model(seed: int = 0, attn_implementation: str = "sdpa", **overrides):
    from transformers import GPTNeoXForCausalLM

    torch.manual_seed(seed)
    return GPTNeoXForCausalLM._from_config(neox_config(**overrides), attn_implementation=attn_implementation).eval()


def planted_model(attn_implementation: str = "sdpa"):
    """L0H0 previous-token head (copies the token into PREVIOUS), L0H1 duplicate-token head, L1H0
    induction head (query: current token, key: copied previous token; copies the attended token into
    COPIED, which the unembedding reads; attends BOS when nothing matches), L1H1 uniform. MLPs are zero."""
    config = neox_config(
        hidden_size=HIDDEN, num_attention_heads=HEADS, intermediate_size=4, use_parallel_residual=False,
        rotary_pct=ROTARY / HEAD_SIZE, rotary_emb_base=10000,
    )
    model = random_model(attn_implementation=attn_implementation, **config.to_dict())
    theta = 10000.0 ** (-torch.arange(ROTARY // 2) / (ROTARY // 2))
    with torch.no_grad():
        for param in model.parameters():
            param.zero_()
        for norm in [model.gpt_neox.final_layer_norm] + [
            n for layer in model.gpt_neox.layers for n in (layer.input_layernorm, layer.post_attention_layernorm)
        ]:
            norm.weight.fill_(1.0)
        model.gpt_neox.embed_in.weight[:, TOKEN] = torch.eye(VOCAB)
        model.lm_head.weight[:, COPIED] = 2 * torch.eye(VOCAB)
        layer0, layer1 = (layer.attention for layer in model.gpt_neox.layers)
        # Previous-token head: logit ~ sum_f cos(theta_f (i - j - 1)), peaked at j = i - 1.
        _rotary_bias(layer0, 0, query=(24.0, 0.0), key=(24.0 * theta.cos(), 24.0 * theta.sin()))
        _weight(layer0, 0, "v", slice(0, VOCAB), TOKEN)[:] = torch.eye(VOCAB) / 16
        layer0.dense.weight[PREVIOUS, 0:VOCAB] = torch.eye(VOCAB)
        # Duplicate-token head: same-token match, minus a penalty peaked at j = i (the token itself).
        _weight(layer0, 1, "q", slice(ROTARY, ROTARY + VOCAB), TOKEN)[:] = 10 * torch.eye(VOCAB)
        _weight(layer0, 1, "k", slice(ROTARY, ROTARY + VOCAB), TOKEN)[:] = 10 * torch.eye(VOCAB)
        _rotary_bias(layer0, 1, query=(24.0, 0.0), key=(-24.0, 0.0))
        # Induction head: the current token (query) matches the previous token copied at the key.
        _weight(layer1, 0, "q", slice(ROTARY, ROTARY + VOCAB), TOKEN)[:] = 3 * torch.eye(VOCAB)
        _weight(layer1, 0, "k", slice(ROTARY, ROTARY + VOCAB), PREVIOUS)[:] = 3 * torch.eye(VOCAB)
        sink = ROTARY + VOCAB  # a query/key dim where every query meets the BOS key, below a real match
        _weight(layer1, 0, "k", slice(sink, sink + 1), slice(0, 1))[:] = 3.0
        layer1.query_key_value.bias[_rows(0, "q", slice(sink, sink + 1))] = 10.0
        _weight(layer1, 0, "v", slice(0, VOCAB), TOKEN)[:] = torch.eye(VOCAB) / 16
        layer1.dense.weight[COPIED, 0:VOCAB] = torch.eye(VOCAB)
    return model


def _rows(head: int, part: str, dims: slice) -> slice:
    start = head * 3 * HEAD_SIZE + "qkv".index(part) * HEAD_SIZE
    return slice(start + dims.start, start + dims.stop)


def _weight(attention, head: int, part: str, dims: slice, inputs: slice) -> torch.Tensor:
    return attention.query_key_value.weight[_rows(head, part, dims), inputs]


def _rotary_bias(attention, head: int, query, key) -> None:
    half = ROTARY // 2
    bias = attention.query_key_value.bias
    for part, (first, second) in (("q", query), ("k", key)):
        bias[_rows(head, part, slice(0, half))] = first
        bias[_rows(head, part, slice(half, ROTARY))] = second


@pytest.fixture(scope="session")
def neox():
    """The builders: ``make_tokenizer()``, ``random_model(seed, attn_implementation, **config)``,
    ``planted_model(attn_implementation)`` and ``PLANTED`` (metric -> (layer, head))."""
    return SimpleNamespace(
        make_tokenizer=make_tokenizer, random_model=random_model, planted_model=planted_model, PLANTED=PLANTED
    )


def small_run_documents():
    """40 documents of the word-level tokenizer: 20 LaTeX-like ones of package ``texpkg`` that repeat a short
    line, 20 prose-like ones of package ``novels`` that do not (ids ``<package>/<file>#<chunk>``)."""
    from mda_curate.data.documents import Document

    docs = []
    for i in range(40):
        if i % 2:
            line = " ".join(f"w{2 + (i + k) % 8:02d}" for k in range(4))
            docs.append(Document(f"texpkg/doc{i // 4}.tex#{i % 4}", " ".join([line] * 6), "latex"))
        else:
            words = " ".join(f"w{10 + (i * 7 + k * k) % 54:02d}" for k in range(24))
            docs.append(Document(f"novels/book{i // 4}#{i % 4}", words, "prose"))
    return docs


@pytest.fixture(scope="session")
def small_run(tmp_path_factory):
    """A 20-step run (ctx 16, batch 8) on :func:`small_run_documents` with its data order and its step-0
    checkpoint (which holds the tokenizer), untrained; returns ``(run folder, trainer)``."""
    from mda_curate.data.tokenized import tokenize_documents
    from mda_curate.training.config import TrainConfig
    from mda_curate.training.trainer import Trainer

    root = tmp_path_factory.mktemp("small_run")
    tokenizer = make_tokenizer()
    tokenize_documents(small_run_documents(), tokenizer, root / "corpus")
    config = TrainConfig(context_length=16, batch_size=8, steps=20, warmup_steps=1, checkpoint_every=10, threads=1)
    trainer = Trainer(config, root / "run", tokenizer, [root / "corpus"])
    trainer.save_checkpoint()
    return root / "run", trainer
