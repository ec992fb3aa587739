"""Record what the engine needs from a forward/backward pass: each block's layer inputs and output gradients.

Inside :class:`Capture` every parameter is frozen except the weights of the captured layers, so a
backward pass computes gradients only from the loss down to the earliest captured layer, and only
with respect to the captured layer *outputs* (``torch.autograd.grad``): no parameter gradient and no
per-sample gradient is ever formed.
"""

from __future__ import annotations

from collections import defaultdict

import torch
from torch import nn

from mda_curate.influence.blocks import Block


class Capture:
    """Context manager: records ``(input, output)`` of every call of the blocks' layers."""

    def __init__(self, model: nn.Module, blocks: list[Block]):
        self.model = model
        self.blocks = blocks
        self.calls: dict[nn.Module, list[tuple[torch.Tensor, torch.Tensor]]] = defaultdict(list)
        self._handles = []
        self._requires_grad: dict[nn.Parameter, bool] = {}

    def __enter__(self) -> Capture:
        self._requires_grad = {p: p.requires_grad for p in self.model.parameters()}
        for parameter in self.model.parameters():
            parameter.requires_grad_(False)
        for module in {block.module for block in self.blocks}:
            module.weight.requires_grad_(True)
            self._handles.append(module.register_forward_hook(self._record))
        return self

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()
        for parameter, flag in self._requires_grad.items():
            parameter.requires_grad_(flag)
        self.calls.clear()

    def _record(self, module, inputs, output) -> None:
        self.calls[module].append((inputs[0].detach(), output))

    def backward(self, objective: torch.Tensor) -> dict[str, list[tuple[torch.Tensor, torch.Tensor]]]:
        """Per block, the ``(inputs, output_grads)`` of every recorded call, for ``d objective``.

        Shapes ``(batch, seq, block_in)`` and ``(batch, seq, block_out)``; clears the record."""
        modules = list(self.calls)
        outputs = [output for module in modules for _, output in self.calls[module]]
        grads = torch.autograd.grad(objective, outputs, allow_unused=True)
        by_module: dict[nn.Module, list[tuple[torch.Tensor, torch.Tensor]]] = defaultdict(list)
        flat = iter(grads)
        for module in modules:
            for x, output in self.calls[module]:
                g = next(flat)
                by_module[module].append((x, torch.zeros_like(output) if g is None else g.detach()))
        self.calls.clear()
        return {
            block.name: [(block.inputs(x), block.output_grads(g)) for x, g in by_module[block.module]]
            for block in self.blocks
        }


def summed_gradient(terms: list[tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
    """``Σ_calls Σ_batch Σ_t g_t x_tᵀ``: the block's gradient of the whole objective (out, in)."""
    return sum(torch.einsum("bto,bti->oi", g, x) for x, g in terms)


def per_sample_gradients(terms: list[tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
    """``Σ_calls Σ_t g_t x_tᵀ`` for each sample (batch, out, in): only for fitting eigenvalues."""
    return sum(torch.einsum("bto,bti->boi", g, x) for x, g in terms)
