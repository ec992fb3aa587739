"""Probes ``f``: the scalar behaviour of a unit whose training-data influence is measured.

- ``induction`` (the paper's probe): on ``[BOS] + x + x`` sequences of random mid-frequency tokens,
  ``f = Σ log p(x[k+1] | position of x[k] in the second copy)``: the log-probability of the token that
  followed the earlier occurrence (positions ``2 + k``), for ``k = 0 .. L-2``. (The paper's released
  default scores the token two ahead; this is the intended target, as in ``mda_curate.units.heads``.)
- ``previous_token``: ``f = Σ_i A[i, i-1]``, the unit head's attention from each position to the one
  before it, on the same sequences (computed from the module's own input, as ``units.attention`` does).
- ``query-loss``: ``f = -Σ`` next-token loss over the documents of a query file: influence on any behaviour.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from mda_curate.errors import UserError
from mda_curate.families import attention
from mda_curate.influence.blocks import Block
from mda_curate.influence.capture import Capture, summed_gradient

PROBE_SEQUENCES = 32
PROBE_LENGTH = 32


@dataclass
class Probe:
    """``objective(model, input_ids, attention_mask) -> f`` summed over a batch, and the batches it runs on."""

    name: str
    batches: list[tuple[torch.Tensor, torch.Tensor]]
    objective: object
    info: dict


def induction_probe(tokenizer, n_sequences: int = PROBE_SEQUENCES, length: int = PROBE_LENGTH, seed: int = 0) -> Probe:
    ids = _repeated(tokenizer, n_sequences, length, seed)

    def objective(model, input_ids, attention_mask):
        logits = model(input_ids=input_ids, attention_mask=attention_mask).logits
        # logits[:, p] predicts position p + 1; x[k+1] of the second copy sits at L + 2 + k.
        predicted = logits[:, length + 1 : 2 * length].float().log_softmax(dim=-1)
        targets = input_ids[:, length + 2 : 2 * length + 1]
        return predicted.gather(-1, targets[..., None]).sum()

    info = {"probe": "induction", "sequences": n_sequences, "length": length, "seed": seed}
    return Probe("induction", [(ids, torch.ones_like(ids))], objective, info)


def previous_token_probe(
    tokenizer, layer: int, head: int, n_sequences: int = PROBE_SEQUENCES, length: int = PROBE_LENGTH, seed: int = 0
) -> Probe:
    from mda_curate.units.attention import pattern_hook

    ids = _repeated(tokenizer, n_sequences, length, seed)

    def objective(model, input_ids, attention_mask):
        patterns = []
        module = attention(model, layer)
        handle = module.register_forward_pre_hook(pattern_hook(patterns, head), with_kwargs=True)
        try:
            model.base_model(input_ids=input_ids, attention_mask=attention_mask)
        finally:
            handle.remove()
        positions = torch.arange(1, input_ids.shape[1])
        return patterns[0][:, positions, positions - 1].sum()

    info = {"probe": "previous_token", "sequences": n_sequences, "length": length, "seed": seed}
    return Probe("previous_token", [(ids, torch.ones_like(ids))], objective, info)


def query_loss_probe(samples, batch_size: int, pad_id: int) -> Probe:
    from mda_curate.influence.samples import Batches

    made = [(b.input_ids, b.attention_mask) for b in Batches(samples, range(len(samples)), batch_size, pad_id)]
    if not made:
        raise UserError(f"{samples.describe}: no query document with 2 or more tokens")
    info = {"probe": "query-loss", "query": samples.describe, "documents": len(samples), "content": samples.content}
    return Probe("query-loss", made, lambda model, ids, mask: -summed_lm_loss(model, ids, mask).sum(), info)


def summed_lm_loss(model, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Per-sequence summed next-token loss (batch,), padding excluded."""
    logits = model(input_ids=input_ids, attention_mask=attention_mask).logits
    return summed_token_losses(logits, input_ids[:, 1:], attention_mask)


def summed_token_losses(logits: torch.Tensor, targets: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Per-sequence sum of the cross-entropy of ``logits[:, t]`` against ``targets[:, t]`` (one shorter)
    over the real tokens. The last position is scored against a dummy target with weight 0, so the
    logits are used as they come, without a strided copy."""
    padded = F.pad(targets, (0, 1))
    losses = F.cross_entropy(logits.float().flatten(0, 1), padded.flatten(), reduction="none").view_as(padded)
    return (losses * F.pad(attention_mask[:, 1:], (0, 1))).sum(dim=1)


def probe_gradient(model, blocks: list[Block], probe: Probe) -> tuple[dict[str, torch.Tensor], float]:
    """``∇f`` on each block (out, in), and the value of ``f``."""
    gradient: dict[str, torch.Tensor] = {}
    value = 0.0
    with Capture(model, blocks) as capture:
        device = next(model.parameters()).device
        for input_ids, attention_mask in probe.batches:
            objective = probe.objective(model, input_ids.to(device), attention_mask.to(device))
            value += float(objective.detach())
            for name, terms in capture.backward(objective).items():
                grad = summed_gradient(terms)
                gradient[name] = gradient[name] + grad if name in gradient else grad
    return gradient, value


def _repeated(tokenizer, n_sequences: int, length: int, seed: int) -> torch.Tensor:
    from mda_curate.units.scoring import probe_sequences
    from mda_curate.units.sequences import ProbeSettings

    sequences, _ = probe_sequences(tokenizer, ProbeSettings(n_sequences, (length, length), seed=seed))
    return torch.stack(sequences)
