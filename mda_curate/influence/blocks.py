"""Parameter blocks: the slices of ``nn.Linear`` weights whose influence is measured.

A block is a sub-matrix ``W[out_index][:, in_index]`` of one ``nn.Linear`` (optionally with the bias,
handled as kronfluence does: a ones column appended to the input). For a linear map ``y = W x + b``
the gradient of a loss with respect to that sub-matrix is ``Σ_t g_t[out] x_t[in]ᵀ`` with ``g = dL/dy``,
so everything the engine needs comes from the layer's input and output gradient.

One attention head ``h`` of layer ``l`` owns its Q rows, the K and V rows of the KV head it reads, and
its O columns (``families.head_parts``). They are grouped into blocks:

- ``qk``: Q and K together. In GPT-NeoX both are rows of the fused ``query_key_value``, so they form one
  block ``qk``; in Llama-style models they live in ``q_proj`` and ``k_proj``, two blocks ``q`` and ``k``;
- ``v``:  the V rows; ``o``: the O columns.

With grouped-query attention the K and V rows are shared by every query head of the group (see
docs/influence-llama.md). Biases, norms (OLMo 2's QK-norm included) and all other parameters stay
frozen in head mode.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from mda_curate.errors import FieldError
from mda_curate.families import decoder_layers, geometry, head_parts, layers_prefix

HEAD_BLOCKS = {"qk": ("qk",), "qkvo": ("qk", "v", "o")}  # groups of parts, each group named by its parts


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
    """The blocks (``qk``, or ``qk``, ``v``, ``o``; ``qk`` split into ``q`` and ``k`` where they are two
    modules) of attention head ``head`` in ``layer``."""
    shape = geometry(model)
    if blocks not in HEAD_BLOCKS:
        raise FieldError("blocks", f"must be one of {', '.join(HEAD_BLOCKS)} (got {blocks!r})")
    if not 0 <= layer < shape.layers or not 0 <= head < shape.heads:
        raise FieldError(
            "unit",
            f"out of range; the model has {shape.layers} layers x {shape.heads} heads (layers and heads "
            f"count from 0) (got {layer}.{head})",
        )
    parts = head_parts(model, layer, head)
    prefix = f"layers.{layer}.heads.{head}"
    made = []
    for group in HEAD_BLOCKS[blocks]:
        members = [parts[name] for name in group]
        if len({id(part.module) for part in members}) == 1:  # one module: one block
            rows = None if members[0].rows is None else torch.cat([part.rows for part in members])
            made.append(Block(f"{prefix}.{group}", members[0].module, out_index=rows, in_index=members[0].cols))
        else:
            made.extend(Block(f"{prefix}.{n}", part.module, part.rows, part.cols) for n, part in zip(group, members))
    return made


def module_blocks(model) -> list[Block]:
    """Every ``nn.Linear`` inside the transformer layers, whole, bias included (kronfluence's view)."""
    return [
        Block(f"{layers_prefix(model)}.{name}", module, bias=module.bias is not None)
        for name, module in decoder_layers(model).named_modules()
        if isinstance(module, nn.Linear)
    ]
