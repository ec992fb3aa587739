"""Score one model: every head on the repeated-token probes, plus the ICL score on held-out text."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from mda_curate.errors import UserError
from mda_curate.units.heads import HeadScores, score_heads
from mda_curate.units.icl import default_icl_ctx, icl_contexts, icl_positions, icl_score, loss_by_position
from mda_curate.units.sequences import ProbeSettings, bos_token_id, mid_frequency_tokens, repeated_sequences

DEFAULT_ICL_CONTEXTS = 64


@dataclass
class UnitScores:
    """Head scores, induction loss and ICL score of one model, with the settings that produced them."""

    heads: HeadScores
    icl_score: float | None
    icl: dict = field(default_factory=dict)
    probe: dict = field(default_factory=dict)

    def to_json(self, model_name: str) -> dict:
        """The ``mda-curate units --json`` document."""
        return {
            "model": model_name,
            "heads": self.heads.rows(),
            "induction_loss": {"first": self.heads.induction_loss_first, "second": self.heads.induction_loss_second},
            "icl_score": self.icl_score,
            "icl": self.icl,
            "probe": self.probe,
        }


def probe_sequences(tokenizer, settings: ProbeSettings, token_counts: Sequence[int] | None = None):
    """The probe sequences for ``settings`` and a description of the token band they came from."""
    pool = mid_frequency_tokens(tokenizer, token_counts, settings.band)
    sequences = repeated_sequences(pool, bos_token_id(tokenizer), settings)
    band = {"source": "token counts" if token_counts is not None else "id rank", "size": len(pool)}
    return sequences, {**settings.to_json(), "bos_id": bos_token_id(tokenizer), "token_band": band}


def score_model(
    model,
    tokenizer,
    settings: ProbeSettings = ProbeSettings(),
    token_counts: Sequence[int] | None = None,
    icl_texts: Iterable[str] | None = None,
    icl_ctx: int | None = None,
    icl_max_contexts: int = DEFAULT_ICL_CONTEXTS,
) -> UnitScores:
    """Score every head of a GPT-NeoX or Llama-style ``model`` and, given held-out ``icl_texts``, its ICL score."""
    sequences, probe = probe_sequences(tokenizer, settings, token_counts)
    heads = score_heads(model, sequences)
    score, icl = model_icl_score(model, tokenizer, icl_texts, icl_ctx, icl_max_contexts)
    return UnitScores(heads=heads, icl_score=score, icl=icl, probe=probe)


def model_icl_score(model, tokenizer, texts, ctx: int | None = None, max_contexts: int = DEFAULT_ICL_CONTEXTS):
    """``(score, details)``: the ICL score on ``texts`` (None, with a note, when there is too little text)."""
    if texts is None:
        return None, {"note": "no held-out text given (--icl-data)"}
    positions = icl_positions(ctx or default_icl_ctx(model))
    if positions.ctx > model.config.max_position_embeddings:
        limit = model.config.max_position_embeddings
        raise UserError(f"ICL context of {positions.ctx} tokens exceeds the model's maximum of {limit}")
    contexts = icl_contexts(tokenizer, texts, positions.ctx, max_contexts)
    details = {**positions.to_json(), "contexts": len(contexts)}
    if len(contexts) == 0:
        return None, {**details, "note": f"held-out text shorter than one {positions.ctx}-token context"}
    return icl_score(loss_by_position(model, contexts), positions), details
