"""Model families: where a causal LM keeps its layers and attention projections, and one head's slices of them.

Two layouts are covered, and everything else in mda-curate (unit scores, probes, influence blocks,
training) goes through this module instead of naming modules itself:

- ``gpt_neox`` (Pythia): ``model.gpt_neox.layers[l].attention`` with one fused ``query_key_value``
  whose output, viewed as ``(heads, 3 * head_size)``, is ``[q_h | k_h | v_h]`` per head, and ``dense``;
- Llama-style (``llama``, ``olmo2``, ``qwen2``): ``model.model.layers[l].self_attn`` with separate
  ``q_proj`` (``heads * head_dim`` rows), ``k_proj`` and ``v_proj`` (``kv_heads * head_dim`` rows:
  grouped-query attention, query head ``h`` reads KV head ``h // (heads // kv_heads)``) and ``o_proj``.
  OLMo 2 normalises the whole ``q_proj`` (and ``k_proj``) output with one RMSNorm across all heads
  (``q_norm``/``k_norm``) before splitting it into heads; Qwen2 has q/k/v biases and, on some layers,
  a sliding window.

Heavy imports stay inside functions so that importing this module costs nothing.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass

from mda_curate.errors import FieldError, UserError

LLAMA_STYLE = ("llama", "olmo2", "qwen2")
UNIT_NAME = re.compile(r"([0-9]+)\.([0-9]+)")  # a head as "layer.head", e.g. "1.2" (see parse_unit)
SUPPORTED = {"gpt_neox": "GPT-NeoX/Pythia", "llama": "Llama", "olmo2": "OLMo 2", "qwen2": "Qwen2"}


def check_model_type(model_type: str | None, where: str = "") -> str:
    """``model_type`` if it is supported, else a one-line UserError naming it and the supported ones."""
    if model_type not in SUPPORTED:
        labels = [f"{label} ({name})" for name, label in SUPPORTED.items()]
        known = ", ".join(labels[:-1]) + " and " + labels[-1]
        raise UserError(f"{where + ': ' if where else ''}a {model_type!r} model; only {known} models are supported")
    return model_type


def model_type(model) -> str:
    """The supported ``config.model_type`` of a loaded ``model`` (a UserError otherwise)."""
    return check_model_type(getattr(getattr(model, "config", None), "model_type", None))


def is_llama_style(model) -> bool:
    return model_type(model) in LLAMA_STYLE


def decoder_layers(model):
    """The transformer blocks, in order (an ``nn.ModuleList``)."""
    model_type(model)
    return model.base_model.layers


def layers_prefix(model) -> str:
    """The qualified name of ``decoder_layers`` in ``model`` (``gpt_neox.layers`` or ``model.layers``)."""
    return f"{model.base_model_prefix}.layers"


def attention(model, layer: int):
    """The attention module of ``layer``."""
    block = decoder_layers(model)[layer]
    return block.self_attn if is_llama_style(model) else block.attention


def attention_modules(model) -> list:
    """The attention module of every layer, in order."""
    return [attention(model, layer) for layer in range(len(decoder_layers(model)))]


@dataclass(frozen=True)
class Geometry:
    """Layers, query heads, key/value heads and the per-head dimension of a model."""

    layers: int
    heads: int
    kv_heads: int
    head_dim: int

    @property
    def group_size(self) -> int:
        """Query heads per KV head (1 without grouped-query attention)."""
        return self.heads // self.kv_heads

    def kv_head(self, head: int) -> int:
        """The KV head query head ``head`` reads."""
        return head // self.group_size


def geometry(model) -> Geometry:
    config = model.config
    heads = config.num_attention_heads
    if not is_llama_style(model):
        return Geometry(config.num_hidden_layers, heads, heads, config.hidden_size // heads)
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
    return Geometry(config.num_hidden_layers, heads, config.num_key_value_heads or heads, head_dim)


@dataclass(frozen=True)
class Part:
    """One projection's share of a head: ``module.weight[rows][:, cols]`` (``None``: all)."""

    module: object  # nn.Linear
    rows: object = None  # LongTensor or None
    cols: object = None


def head_parts(model, layer: int, head: int) -> dict[str, Part]:
    """Head ``head`` of ``layer``: its Q rows, the K and V rows of its KV head, and its O columns."""
    import torch

    shape = geometry(model)
    module, d = attention(model, layer), shape.head_dim

    def span(start: int) -> torch.Tensor:
        return torch.arange(start, start + d)

    if not is_llama_style(model):
        start = head * 3 * d
        return {
            "q": Part(module.query_key_value, rows=span(start)),
            "k": Part(module.query_key_value, rows=span(start + d)),
            "v": Part(module.query_key_value, rows=span(start + 2 * d)),
            "o": Part(module.dense, cols=span(head * d)),
        }
    kv = shape.kv_head(head)
    return {
        "q": Part(module.q_proj, rows=span(head * d)),
        "k": Part(module.k_proj, rows=span(kv * d)),
        "v": Part(module.v_proj, rows=span(kv * d)),
        "o": Part(module.o_proj, cols=span(head * d)),
    }


def queries_and_keys(module, hidden, position_embeddings):
    """Rotated queries and keys of one attention module on its input ``hidden`` (batch, seq, hidden),
    both (batch, heads, seq, head_dim): keys repeated to every query head of their group.

    Recomputed from the module's own weights with its own modeling file's ``apply_rotary_pos_emb``
    (partial rotary for GPT-NeoX), after QK-norm where the module has one."""
    batch, seq, _ = hidden.shape
    modeling = sys.modules[type(module).__module__]
    if hasattr(module, "query_key_value"):
        qkv = module.query_key_value(hidden).view(batch, seq, -1, 3 * module.head_size).transpose(1, 2)
        query, key, _ = qkv.chunk(3, dim=-1)
    else:
        query, key = module.q_proj(hidden), module.k_proj(hidden)
        if hasattr(module, "q_norm"):  # OLMo 2: one RMSNorm across all heads, before the split
            query, key = module.q_norm(query), module.k_norm(key)
        query = query.view(batch, seq, -1, module.head_dim).transpose(1, 2)
        key = key.view(batch, seq, -1, module.head_dim).transpose(1, 2)
    cos, sin = position_embeddings
    query, key = modeling.apply_rotary_pos_emb(query, key, cos, sin)
    groups = getattr(module, "num_key_value_groups", 1)
    return query, modeling.repeat_kv(key, groups) if groups > 1 else key


def parse_unit(text: str, name: str = "unit") -> tuple[int, int]:
    """A head named ``"L.H"`` (layer and head, from 0) → ``(L, H)``; anything else is a FieldError naming ``name``."""
    match = UNIT_NAME.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise FieldError(name, f"must be LAYER.HEAD, e.g. 1.3 (got {text!r})")
    return int(match[1]), int(match[2])
