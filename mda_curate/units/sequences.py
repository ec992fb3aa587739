"""Probe sequences ``[BOS] + x + x`` of mid-frequency random tokens.

Mid-frequency band (Olsson et al. exclude the most and least common tokens): candidates are the
tokenizer's ids below ``len(tokenizer)`` that are not special tokens and whose token string has
more than one character (a byte-level BPE's one-byte alphabet mixes very common and very rare
bytes). Candidates are ranked by ``token_counts`` when given (most common first; unseen tokens
dropped), else by id, which for a byte-level BPE follows merge order, i.e. roughly frequency. The
band keeps ranks in ``[lo, hi)`` as fractions of the candidates, by default 10 %-90 %.

Each ``x`` is drawn without replacement from the band, so a token occurs once per copy and the
"earlier occurrence" of a second-copy token is unique.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from mda_curate.errors import UserError

DEFAULT_BAND = (0.1, 0.9)
DEFAULT_LENGTHS = (32, 50)


@dataclass(frozen=True)
class ProbeSettings:
    """How probe sequences are drawn: ``n_sequences`` of ``[BOS] + x + x``, ``len(x)`` uniform in
    ``lengths`` (inclusive; equal ends give a fixed length), tokens from the ``band`` of ranks."""

    n_sequences: int = 32
    lengths: tuple[int, int] = DEFAULT_LENGTHS
    band: tuple[float, float] = DEFAULT_BAND
    seed: int = 0

    def to_json(self) -> dict:
        return {
            "n_sequences": self.n_sequences,
            "lengths": list(self.lengths),
            "band": list(self.band),
            "seed": self.seed,
        }


def bos_token_id(tokenizer) -> int:
    """The id put before each probe: the tokenizer's BOS, else its EOS (Pythia's ``<|endoftext|>``)."""
    for token_id in (tokenizer.bos_token_id, tokenizer.eos_token_id):
        if token_id is not None:
            return int(token_id)
    raise UserError("the tokenizer has neither a BOS nor an EOS token to start probe sequences with")


def mid_frequency_tokens(
    tokenizer, token_counts: Sequence[int] | None = None, band: tuple[float, float] = DEFAULT_BAND
) -> np.ndarray:
    """Token ids in the mid-frequency ``band`` (see the module docstring), sorted by rank."""
    lo, hi = band
    if not 0 <= lo < hi <= 1:
        raise UserError(f"band {band}: need 0 <= lo < hi <= 1")
    candidates = _candidate_ids(tokenizer)
    if token_counts is not None:
        counts = np.asarray(token_counts)
        candidates = candidates[candidates < len(counts)]
        candidates = candidates[counts[candidates] > 0]
        candidates = candidates[np.argsort(-counts[candidates], kind="stable")]
    return candidates[int(lo * len(candidates)) : int(hi * len(candidates))]


def token_frequencies(tokenizer, texts: Iterable[str]) -> np.ndarray:
    """Per-id token counts of ``texts`` (for ``mid_frequency_tokens``)."""
    counts = np.zeros(len(tokenizer), dtype=np.int64)
    for text in texts:
        ids = np.asarray(tokenizer(text, add_special_tokens=False)["input_ids"], dtype=np.int64)
        counts += np.bincount(ids[ids < len(counts)], minlength=len(counts))
    return counts


def repeated_sequences(pool: np.ndarray, bos_id: int, settings: ProbeSettings) -> list[torch.Tensor]:
    """``settings.n_sequences`` probe sequences ``[BOS] + x + x`` (1-D LongTensors), reproducible by seed."""
    low, high = settings.lengths
    if not 2 <= low <= high:
        raise UserError(f"sequence lengths {settings.lengths}: need 2 <= min <= max")
    if len(pool) < high:
        raise UserError(f"only {len(pool)} tokens in the mid-frequency band; sequences of {high} need more")
    rng = np.random.default_rng(settings.seed)
    sequences = []
    for _ in range(settings.n_sequences):
        x = rng.choice(pool, size=int(rng.integers(low, high + 1)), replace=False)
        sequences.append(torch.tensor(np.concatenate([[bos_id], x, x]), dtype=torch.long))
    return sequences


def _candidate_ids(tokenizer) -> np.ndarray:
    special = set(tokenizer.all_special_ids)
    tokens = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
    return np.array(
        [i for i, tok in enumerate(tokens) if i not in special and tok is not None and len(tok) > 1], dtype=np.int64
    )
