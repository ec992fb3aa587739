"""Parameter blocks: the slices of ``nn.Linear`` weights whose influence is measured.

A block is a sub-matrix ``W[out_index][:, in_index]`` of one ``nn.Linear`` (optionally with the bias,
handled as kronfluence does: a ones column appended to the input). For a linear map ``y = W x + b``
the gradient of a loss with respect to that sub-matrix is ``Σ_t g_t[out] x_t[in]ᵀ`` with ``g = dL/dy``,
so everything the engine needs comes from the layer's input and output gradient.

One GPT-NeoX attention head ``h`` of layer ``l`` (``query_key_value`` output viewed as
``(heads, 3 * head_size)``, i.e. ``[q_h | k_h | v_h]`` per head) owns:

- ``qk``: the rows of ``q_h`` and ``k_h`` in ``query_key_value`` (one block: they act together);
- ``v``:  the rows of ``v_h`` in ``query_key_value``;
- ``o``:  the columns ``h * head_size .. (h + 1) * head_size`` of ``attention.dense``.

Biases, LayerNorms and all other parameters stay frozen in head mode.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from mda_curate.errors import UserError
from mda_curate.models import require_gpt_neox

HEAD_BLOCKS = {"qk": ("qk",), "qkvo": ("qk", "v", "o")}


@dataclass(frozen=True)
class Block:
    """``module.weight[out_index][:, in_index]`` (``None``: all), plus the bias column when ``bias``."""

    name: str
    module: nn.Linear
    out_index: torch.Tensor | None = None
    in_index: torch.Tensor | None = None
    bias: bool = False

    @property
    def shape(self) -> tuple[int, int]:
        rows = self.module.out_features if self.out_index is None else len(self.out_index)
        cols = self.module.in_features if self.in_index is None else len(self.in_index)
        return rows, cols + int(self.bias)

    def inputs(self, x: torch.Tensor) -> torch.Tensor:
        """The block's view of the layer input ``x`` (..., in_features)."""
        x = x if self.in_index is None else x.index_select(-1, self.in_index.to(x.device))
        return torch.cat([x, x.new_ones(*x.shape[:-1], 1)], dim=-1) if self.bias else x

    def output_grads(self, g: torch.Tensor) -> torch.Tensor:
        """The block's view of the output gradient ``g`` (..., out_features)."""
        return g if self.out_index is None else g.index_select(-1, self.out_index.to(g.device))

    def weight_grad(self) -> torch.Tensor:
        """The block's slice of the module's accumulated ``.grad`` (weight, and bias column)."""
        weight = self.module.weight.grad
        if self.out_index is not None:
            weight = weight[self.out_index]
        if self.in_index is not None:
            weight = weight[:, self.in_index]
        if not self.bias:
            return weight
        bias = self.module.bias.grad
        bias = bias if self.out_index is None else bias[self.out_index]
        return torch.cat([weight, bias[:, None]], dim=1)


def head_blocks(model, layer: int, head: int, blocks: str = "qkvo") -> list[Block]:
    """The blocks (``qk``, or ``qk``, ``v``, ``o``) of attention head ``head`` in ``layer``."""
    require_gpt_neox(model)
    config = model.config
    if blocks not in HEAD_BLOCKS:
        raise UserError(f"--blocks {blocks}: choose one of {', '.join(HEAD_BLOCKS)}")
    if not 0 <= layer < config.num_hidden_layers or not 0 <= head < config.num_attention_heads:
        raise UserError(
            f"--unit {layer}.{head}: out of range; the model has {config.num_hidden_layers} layers "
            f"x {config.num_attention_heads} heads (layers and heads count from 0)"
        )
    attention = model.gpt_neox.layers[layer].attention
    size = config.hidden_size // config.num_attention_heads
    start = head * 3 * size
    rows = {
        "qk": torch.arange(start, start + 2 * size),
        "v": torch.arange(start + 2 * size, start + 3 * size),
    }
    prefix = f"layers.{layer}.heads.{head}"
    made = {
        "qk": Block(f"{prefix}.qk", attention.query_key_value, out_index=rows["qk"]),
        "v": Block(f"{prefix}.v", attention.query_key_value, out_index=rows["v"]),
        "o": Block(f"{prefix}.o", attention.dense, in_index=torch.arange(head * size, (head + 1) * size)),
    }
    return [made[name] for name in HEAD_BLOCKS[blocks]]


def module_blocks(model) -> list[Block]:
    """Every ``nn.Linear`` inside the transformer layers, whole, bias included (kronfluence's view)."""
    require_gpt_neox(model)
    return [
        Block(f"gpt_neox.layers.{name}", module, bias=module.bias is not None)
        for name, module in model.gpt_neox.layers.named_modules()
        if isinstance(module, nn.Linear)
    ]


def parse_unit(text: str) -> tuple[int, int]:
    """``"L.H"`` → ``(L, H)``."""
    parts = text.split(".")
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        raise UserError(f"--unit {text}: expected LAYER.HEAD, e.g. 1.3")
    return int(parts[0]), int(parts[1])
