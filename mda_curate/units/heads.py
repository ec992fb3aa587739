"""Per-head attention scores and the induction loss on ``[BOS] + x + x`` probes.

Positions: BOS at 0, the first copy of x at 1..L, the second at L+1..2L. A second-copy position
``i = 1 + L + k`` (offset k in x) has its earlier occurrence at ``1 + k`` and the token right after
that occurrence at ``2 + k``. For every head, averaged over probe sequences:

- ``induction`` (prefix matching): mean attention from each second-copy position to ``2 + k``;
- ``duplicate_token``: mean attention from each second-copy position to ``1 + k``;
- ``previous_token``: mean attention from each position ``i >= 1`` to ``i - 1``.

The induction loss is the mean next-token loss on x[1:] in the first copy and in the second copy
(x[0] is unpredictable in both).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from mda_curate.errors import FieldError
from mda_curate.units.attention import run_with_attention

METRICS = ("induction", "previous_token", "duplicate_token")
BATCH_SIZE = 16


@dataclass
class HeadScores:
    """Scores of every head, arrays of shape (layers, heads), and the probe's induction loss."""

    induction: np.ndarray
    previous_token: np.ndarray
    duplicate_token: np.ndarray
    induction_loss_first: float
    induction_loss_second: float

    def rows(self) -> list[dict]:
        """One dict per head: layer, head and its three scores."""
        layers, heads = self.induction.shape
        return [
            {"layer": layer, "head": head, **{m: float(getattr(self, m)[layer, head]) for m in METRICS}}
            for layer in range(layers)
            for head in range(heads)
        ]


def induction_targets(x_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(query, key) positions of the induction target: second-copy ``1 + L + k`` -> ``2 + k``."""
    offsets = torch.arange(x_len)
    return 1 + x_len + offsets, 2 + offsets


def duplicate_targets(x_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(query, key) positions of the earlier occurrence: second-copy ``1 + L + k`` -> ``1 + k``."""
    offsets = torch.arange(x_len)
    return 1 + x_len + offsets, 1 + offsets


def previous_targets(x_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(query, key) positions ``i -> i - 1`` for every position after BOS."""
    rows = torch.arange(1, 2 * x_len + 1)
    return rows, rows - 1


TARGETS = {"induction": induction_targets, "previous_token": previous_targets, "duplicate_token": duplicate_targets}


def scores_from_patterns(patterns: torch.Tensor, x_len: int) -> dict[str, torch.Tensor]:
    """Mean attention on each metric's targets; ``patterns`` (..., 2L+1, 2L+1) -> dict of (...) tensors."""
    if patterns.shape[-1] != 2 * x_len + 1:
        raise ValueError(f"patterns of {patterns.shape[-1]} positions do not fit [BOS] + x + x with len(x) = {x_len}")
    out = {}
    for metric, targets in TARGETS.items():
        queries, keys = targets(x_len)
        out[metric] = patterns[..., queries, keys].mean(dim=-1)
    return out


def copy_losses(logits: torch.Tensor, input_ids: torch.Tensor, x_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sequence mean next-token loss on x[1:] in the first and in the second copy."""
    losses = F.cross_entropy(logits[:, :-1].float().transpose(1, 2), input_ids[:, 1:], reduction="none")
    # losses[:, p] is the loss of predicting position p + 1; x[1:] sits at 2..L and L+2..2L.
    return losses[:, 1:x_len].mean(dim=1), losses[:, x_len + 1 : 2 * x_len].mean(dim=1)


def score_heads(model, sequences: list[torch.Tensor], progress=None) -> HeadScores:
    """Score every head of ``model`` on probe ``sequences`` (each ``[BOS] + x + x``), averaged over sequences."""
    device = next(model.parameters()).device
    positions = getattr(model.config, "max_position_embeddings", None)
    longest = max(len(s) for s in sequences)
    if positions is not None and longest > positions:
        raise FieldError(
            "lengths",
            f"x of {(longest - 1) // 2} tokens makes probe sequences of {longest} tokens (BOS and two "
            f"copies), past the model's {positions} positions",
        )
    totals: dict[str, torch.Tensor | float] = defaultdict(float)
    for batch in _batches(sequences):
        x_len = (batch.shape[1] - 1) // 2
        logits, patterns = run_with_attention(model, batch.to(device))
        for metric, value in scores_from_patterns(patterns.cpu(), x_len).items():
            totals[metric] = totals[metric] + value.sum(dim=0)
        first, second = copy_losses(logits.cpu(), batch, x_len)
        totals["first"] += float(first.sum())
        totals["second"] += float(second.sum())
        if progress is not None:
            progress(len(batch))
    n = len(sequences)
    return HeadScores(
        **{m: (totals[m] / n).numpy() for m in METRICS},
        induction_loss_first=totals["first"] / n,
        induction_loss_second=totals["second"] / n,
    )


def _batches(sequences: list[torch.Tensor]):
    by_length = defaultdict(list)
    for seq in sequences:
        by_length[len(seq)].append(seq)
    for group in by_length.values():
        for start in range(0, len(group), BATCH_SIZE):
            yield torch.stack(group[start : start + BATCH_SIZE])
