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
        vocab_size=VOCAB,
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=128,
        max_position_embeddings=256,
        rotary_pct=0.25,
        use_parallel_residual=True,
        bos_token_id=0,
        eos_token_id=0,
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
        hidden_size=HIDDEN,
        num_attention_heads=HEADS,
        intermediate_size=4,
        use_parallel_residual=False,
        rotary_pct=ROTARY / HEAD_SIZE,
        rotary_emb_base=10000,
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


# Llama-style families (Llama, OLMo 2, Qwen2): separate q/k/v/o projections, grouped-query attention.
LLAMA_FAMILIES = ("llama", "olmo2", "qwen2")
LLAMA_HEADS, LLAMA_KV_HEADS, LLAMA_HEAD_DIM = 4, 2, 160
LLAMA_PLANTED = {"previous_token": (0, 0), "duplicate_token": (0, 2), "induction": (1, 0)}  # (layer, head)
POSITIONAL = 16  # rotary pairs 0..15 (the fastest) carry the positional patterns
# Rotary pairs (f, f + 80) with f >= 40 turn by at most 1e6 ** -0.5 = 0.001 rad per position at rope_theta 1e6:
# content dims that match tokens whatever their distance (GPT-NeoX's planted model uses its non-rotary dims).
CONTENT = [f + half for half in (0, LLAMA_HEAD_DIM // 2) for f in range(40, LLAMA_HEAD_DIM // 2)]


def llama_config(family: str = "llama", **overrides):
    from transformers import LlamaConfig, Olmo2Config, Qwen2Config

    settings = dict(
        vocab_size=VOCAB,
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        intermediate_size=128,
        max_position_embeddings=256,
        bos_token_id=0,
        eos_token_id=0,
        pad_token_id=None,
        tie_word_embeddings=False,
    )
    config_class = {"llama": LlamaConfig, "olmo2": Olmo2Config, "qwen2": Qwen2Config}[family]
    return config_class(**{**settings, **overrides})


def llama_random_model(family: str = "llama", seed: int = 0, attn_implementation: str = "sdpa", **overrides):
    """A random tiny model of ``family``; norm weights (OLMo 2's QK-norm included) drawn around 1, biases random."""
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    config = llama_config(family, **overrides)
    model = AutoModelForCausalLM.from_config(config, attn_implementation=attn_implementation)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "norm" in name:
                param.uniform_(0.5, 1.5)
            elif name.endswith("bias"):
                param.normal_(0, 0.5)
    return model.eval()


def llama_planted_model(family: str = "llama", attn_implementation: str = "sdpa"):
    """GPT-NeoX's planted circuit in a Llama-style model with 4 query heads on 2 KV heads: L0H0 previous-token
    (KV head 0), L0H2 duplicate-token (KV head 1), L1H0 induction (KV head 0); the other heads attend uniformly
    and write nothing. Needs q/k biases (``attention_bias``; Qwen2 always has them).

    Llama and Qwen2 normalise each attention input (one one-hot becomes 16 x one-hot, two become 16/sqrt(2) x
    each). OLMo 2 reads the raw residual, so its weights carry that scale instead; its QK-norm weights are set
    to the RMS that every query (key) vector has, which undoes the norm, and its norms after attention scale
    a one-hot output back to 1."""
    olmo2 = family == "olmo2"
    model = llama_random_model(
        family,
        attn_implementation=attn_implementation,
        hidden_size=HIDDEN,
        num_attention_heads=LLAMA_HEADS,
        num_key_value_heads=LLAMA_KV_HEADS,
        head_dim=LLAMA_HEAD_DIM,
        intermediate_size=4,
        rope_parameters={"rope_type": "default", "rope_theta": 1e6},
        **({} if family == "qwen2" else {"attention_bias": True}),
    )
    theta = model.model.rotary_emb.inv_freq[:POSITIONAL]
    tokens, sink = CONTENT[:VOCAB], CONTENT[VOCAB]
    scale0, scale1 = (16.0, 16.0 / 2**0.5) if olmo2 else (1.0, 1.0)  # what the raw input lacks in layers 0 and 1
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "norm" in name:
                param.fill_(1.0)
            else:
                param.zero_()
        model.model.embed_tokens.weight[:, TOKEN] = torch.eye(VOCAB)
        model.lm_head.weight[:, COPIED] = 2 * torch.eye(VOCAB)
        layer0, layer1 = (layer.self_attn for layer in model.model.layers)
        # Previous-token head: logit ~ sum_f cos(theta_f (i - j - 1)), peaked at j = i - 1.
        _llama_positional(layer0, 0, query=(24.0, 0.0), key=(24.0 * theta.cos(), 24.0 * theta.sin()))
        layer0.v_proj.weight[_llama_rows(0, range(VOCAB)), TOKEN] = scale0 * torch.eye(VOCAB) / 16
        layer0.o_proj.weight[PREVIOUS, _llama_rows(0, range(VOCAB))] = torch.eye(VOCAB)
        # Duplicate-token head: same-token match, minus a penalty peaked at j = i (the token itself).
        layer0.q_proj.weight[_llama_rows(2, tokens), TOKEN] = scale0 * 10 * torch.eye(VOCAB)
        layer0.k_proj.weight[_llama_rows(1, tokens), TOKEN] = scale0 * 10 * torch.eye(VOCAB)
        _llama_positional(layer0, 2, query=(24.0, 0.0), key=(-24.0, 0.0))
        # Induction head: the current token (query) matches the previous token copied at the key.
        layer1.q_proj.weight[_llama_rows(0, tokens), TOKEN] = scale1 * 3 * torch.eye(VOCAB)
        layer1.k_proj.weight[_llama_rows(0, tokens), PREVIOUS] = scale1 * 3 * torch.eye(VOCAB)
        layer1.k_proj.weight[sink, 0] = scale1 * 3.0  # every query meets the BOS key, below a real match
        layer1.q_proj.bias[sink] = 10.0
        layer1.v_proj.weight[_llama_rows(0, range(VOCAB)), TOKEN] = scale1 * torch.eye(VOCAB) / 16
        layer1.o_proj.weight[COPIED, _llama_rows(0, range(VOCAB))] = torch.eye(VOCAB)
        if olmo2:
            one_hot = torch.eye(HIDDEN)
            _undo_qk_norm(layer0, one_hot[TOKEN.start + 5])
            _undo_qk_norm(layer1, one_hot[TOKEN.start + 5] + one_hot[PREVIOUS.start + 7])
            for layer in model.model.layers:
                layer.post_attention_layernorm.weight.fill_(1 / 16)
    return model


def _undo_qk_norm(attention, residual: torch.Tensor) -> None:
    """Set QK-norm weights to the RMS of the projections of ``residual`` (the same for every token here)."""
    for projection, norm in ((attention.q_proj, attention.q_norm), (attention.k_proj, attention.k_norm)):
        norm.weight.fill_(float((projection(residual).square().mean() + norm.variance_epsilon).sqrt()))


def _llama_rows(head: int, dims) -> torch.Tensor:
    """Rows of ``dims`` of query head (q_proj, o_proj columns) or KV head (k_proj, v_proj) ``head``."""
    return head * LLAMA_HEAD_DIM + torch.as_tensor(list(dims))


def _llama_positional(attention, head: int, query, key) -> None:
    """Biases on the positional pairs: query head ``head`` and its KV head (``head // 2``)."""
    half, pairs = LLAMA_HEAD_DIM // 2, range(POSITIONAL)
    targets = ((attention.q_proj.bias, head, query), (attention.k_proj.bias, head // 2, key))
    for bias, owner, (first, second) in targets:
        bias[_llama_rows(owner, pairs)] = first
        bias[_llama_rows(owner, [f + half for f in pairs])] = second


@pytest.fixture(scope="session")
def llama():
    """Llama-style builders: ``config(family, **overrides)``, ``random_model(family, seed, attn_implementation,
    **config)``, ``planted_model(family, attn_implementation)``, ``PLANTED`` and ``FAMILIES``."""
    return SimpleNamespace(
        config=llama_config,
        random_model=llama_random_model,
        planted_model=llama_planted_model,
        PLANTED=LLAMA_PLANTED,
        FAMILIES=LLAMA_FAMILIES,
        make_tokenizer=make_tokenizer,
    )
