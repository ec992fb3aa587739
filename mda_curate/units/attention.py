"""Attention patterns of every GPT-NeoX head, whatever attention implementation the model runs.

The default ``sdpa`` implementation returns no weights, and switching a loaded model to ``eager``
would change the module it measures. Instead a forward pre-hook on each attention module takes the
module's own input (the LayerNorm output and the rotary ``cos``/``sin``), recomputes the queries and
keys with the module's weights, applies the same rotary embedding, and takes the causal softmax
in float32. The model's forward pass itself is untouched.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
from transformers.models.gpt_neox.modeling_gpt_neox import apply_rotary_pos_emb

from mda_curate.models import require_gpt_neox


@torch.no_grad()
def run_with_attention(model, input_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Run ``model`` on ``input_ids`` (batch, seq) without padding.

    Returns ``(logits, patterns)``, patterns of shape (batch, layers, heads, seq, seq) where
    ``patterns[b, l, h, i, j]`` is head (l, h)'s attention from query position i to key position j.
    """
    require_gpt_neox(model)
    patterns: list[torch.Tensor] = []
    with _capture(model, patterns):
        logits = model(input_ids=input_ids).logits
    return logits, torch.stack(patterns, dim=1)


@contextmanager
def _capture(model, patterns: list[torch.Tensor]):
    handles = [
        layer.attention.register_forward_pre_hook(_pattern_hook(patterns), with_kwargs=True)
        for layer in model.gpt_neox.layers
    ]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def _pattern_hook(patterns: list[torch.Tensor]):
    def hook(module, args, kwargs):
        hidden = args[0] if args else kwargs["hidden_states"]
        patterns.append(attention_pattern(module, hidden, kwargs["position_embeddings"]))

    return hook


def attention_pattern(module, hidden: torch.Tensor, position_embeddings) -> torch.Tensor:
    """Causal attention weights (batch, heads, seq, seq) of one ``GPTNeoXAttention`` on its input ``hidden``."""
    batch, seq, _ = hidden.shape
    qkv = module.query_key_value(hidden).view(batch, seq, -1, 3 * module.head_size).transpose(1, 2)
    query, key, _ = qkv.chunk(3, dim=-1)
    cos, sin = position_embeddings
    query, key = apply_rotary_pos_emb(query, key, cos, sin)
    scores = torch.matmul(query.float(), key.float().transpose(2, 3)) * module.scaling
    future = torch.ones(seq, seq, dtype=torch.bool, device=hidden.device).triu(1)
    return scores.masked_fill(future, float("-inf")).softmax(dim=-1)
