"""In-context-learning score (Olsson et al.): late-token loss minus early-token loss on real text.

Held-out texts are tokenized, joined with EOS and cut into contexts of ``ctx`` tokens. ``L_p`` is
the mean (over contexts) loss of the prediction made at position p (of token p + 1). At
``ctx >= 512`` the score is ``L_500 - mean(L_0..L_50)`` as in the MDA paper; at shorter contexts the
positions scale with the context: late ``int(0.98 * ctx)`` (at most ``ctx - 2``), early
``0..int(0.1 * ctx)``. More negative means more in-context learning.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from mda_curate.errors import UserError

PAPER_CTX = 512
BATCH_SIZE = 8


@dataclass(frozen=True)
class IclPositions:
    """Which loss positions the ICL score compares: ``late`` vs the mean over ``early_first..early_last``."""

    ctx: int
    late: int
    early_first: int
    early_last: int

    def to_json(self) -> dict:
        return {"ctx": self.ctx, "late": self.late, "early": [self.early_first, self.early_last]}


def icl_positions(ctx: int) -> IclPositions:
    """The paper's positions at ``ctx >= 512`` (500 vs 0..50), else the same fractions of ``ctx``."""
    if ctx >= PAPER_CTX:
        return IclPositions(ctx, 500, 0, 50)
    if ctx < 10:
        raise UserError(f"ICL context of {ctx} tokens is too short (need at least 10)")
    return IclPositions(ctx, min(int(0.98 * ctx), ctx - 2), 0, int(0.1 * ctx))


def default_icl_ctx(model) -> int:
    """The paper's 512-token contexts, or the model's maximum context if shorter."""
    return min(PAPER_CTX, int(model.config.max_position_embeddings))


def icl_contexts(tokenizer, texts: Iterable[str], ctx: int, max_contexts: int) -> torch.Tensor:
    """Up to ``max_contexts`` consecutive windows of ``ctx`` tokens (texts joined with EOS); (n, ctx)."""
    eos = tokenizer.eos_token_id
    stream: list[int] = []
    for text in texts:
        stream.extend(tokenizer(text, add_special_tokens=False)["input_ids"])
        if eos is not None:
            stream.append(eos)
        if len(stream) >= ctx * max_contexts:
            break
    n = min(len(stream) // ctx, max_contexts)
    return torch.tensor(stream[: n * ctx], dtype=torch.long).view(n, ctx)


@torch.no_grad()
def loss_by_position(model, contexts: torch.Tensor) -> torch.Tensor:
    """Mean next-token loss at each position over ``contexts``; shape (ctx - 1,)."""
    device = next(model.parameters()).device
    total = torch.zeros(contexts.shape[1] - 1)
    for start in range(0, len(contexts), BATCH_SIZE):
        batch = contexts[start : start + BATCH_SIZE].to(device)
        logits = model(input_ids=batch).logits[:, :-1].float()
        total += F.cross_entropy(logits.transpose(1, 2), batch[:, 1:], reduction="none").sum(dim=0).cpu()
    return total / len(contexts)


def icl_score(losses: torch.Tensor, positions: IclPositions) -> float:
    """``L_late - mean(L_early)`` from per-position losses."""
    early = losses[positions.early_first : positions.early_last + 1].mean()
    return float(losses[positions.late] - early)
