"""Unit scores for every attention head of a GPT-NeoX or Llama-style model: induction (prefix matching),
previous-token and duplicate-token attention on ``[BOS] + x + x`` probes, the induction loss on
the two copies, the ICL score on held-out text, and their trajectories across checkpoints.
"""

from mda_curate.units.attention import attention_pattern, run_with_attention
from mda_curate.units.heads import METRICS, HeadScores, copy_losses, score_heads, scores_from_patterns
from mda_curate.units.icl import IclPositions, icl_positions, icl_score, loss_by_position
from mda_curate.units.scoring import UnitScores, model_icl_score, probe_sequences, score_model
from mda_curate.units.sequences import (
    ProbeSettings,
    bos_token_id,
    mid_frequency_tokens,
    repeated_sequences,
    token_frequencies,
)
from mda_curate.units.trajectory import find_checkpoints, score_checkpoints, tokenizer_folder

__all__ = [
    "METRICS",
    "HeadScores",
    "IclPositions",
    "ProbeSettings",
    "UnitScores",
    "attention_pattern",
    "bos_token_id",
    "copy_losses",
    "find_checkpoints",
    "icl_positions",
    "icl_score",
    "loss_by_position",
    "mid_frequency_tokens",
    "model_icl_score",
    "probe_sequences",
    "repeated_sequences",
    "run_with_attention",
    "score_checkpoints",
    "score_heads",
    "score_model",
    "scores_from_patterns",
    "token_frequencies",
    "tokenizer_folder",
]
