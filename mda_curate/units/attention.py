"""Attention patterns of every head, whatever attention implementation the model runs.

The default ``sdpa`` implementation returns no weights, and switching a loaded model to ``eager``
would change the module it measures. Instead a forward pre-hook on each attention module takes the
module's own input (the normalised hidden states and the rotary ``cos``/``sin``), recomputes the
queries and keys with the module's weights (``families.queries_and_keys``: rotary embedding, grouped
KV heads, QK-norm), and takes the causal softmax in float32. The model's forward pass itself is untouched.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch

from mda_curate.families import attention_modules, queries_and_keys


@torch.no_grad()
def run_with_attention(model, input_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Run ``model`` on ``input_ids`` (batch, seq) without padding.

    Returns ``(logits, patterns)``, patterns of shape (batch, layers, heads, seq, seq) where
    ``patterns[b, l, h, i, j]`` is head (l, h)'s attention from query position i to key position j.
    """
    patterns: list[torch.Tensor] = []
    with _capture(model, patterns):
        logits = model(input_ids=input_ids).logits
    return logits, torch.stack(patterns, dim=1)


@contextmanager
def _capture(model, patterns: list[torch.Tensor]):
    handles = [
        module.register_forward_pre_hook(pattern_hook(patterns), with_kwargs=True)
        for module in attention_modules(model)
    ]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def pattern_hook(patterns: list[torch.Tensor], head: int | None = None):
    """A forward pre-hook (``with_kwargs=True``) on an attention module that appends its attention
    pattern, of every head or of ``head`` only, to ``patterns``."""

    def hook(module, args, kwargs):
        hidden = args[0] if args else kwargs["hidden_states"]
        pattern = attention_pattern(module, hidden, kwargs["position_embeddings"])
        patterns.append(pattern if head is None else pattern[:, head])

    return hook


def attention_pattern(module, hidden: torch.Tensor, position_embeddings) -> torch.Tensor:
    """Causal attention weights (batch, heads, seq, seq) of one attention module on its input ``hidden``.

    A module with a ``sliding_window`` (Qwen2's sliding layers) also hides keys that many positions back."""
    seq = hidden.shape[1]
    query, key = queries_and_keys(module, hidden, position_embeddings)
    scores = torch.matmul(query.float(), key.float().transpose(2, 3)) * module.scaling
    positions = torch.arange(seq, device=hidden.device)
    hidden_keys = positions[None, :] > positions[:, None]
    window = getattr(module, "sliding_window", None)
    if window:
        hidden_keys |= positions[:, None] - positions[None, :] >= window
    return scores.masked_fill(hidden_keys, float("-inf")).softmax(dim=-1)
