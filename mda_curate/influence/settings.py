"""Influence settings: one validated dataclass, saved beside every output it produces."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from mda_curate.errors import UserError

STRATEGIES = ("identity", "diagonal", "kfac", "ekfac")
FISHERS = ("true", "empirical")
PROBES = ("induction", "previous_token", "query-loss")
RELATIVE_DAMPING = 0.1  # damping = RELATIVE_DAMPING * mean(eigenvalues) when ``damping`` is None


@dataclass(frozen=True)
class InfluenceSettings:
    """How curvature is approximated and samples are scored.

    ``strategy``: ``ekfac`` (eigenvalue-corrected K-FAC, per-example eigenvalues), ``kfac``
    (eigenvalues = products of the two factors' eigenvalues), ``diagonal`` (diagonal of the
    per-example gradient second moment), ``identity`` (plain gradient dot products).
    ``fisher``: ``true`` samples labels from the model for the curvature; ``empirical`` uses the data.
    ``damping``: absolute, or ``None`` for ``0.1 * mean(eigenvalues)`` per block.
    """

    strategy: str = "ekfac"
    fisher: str = "true"
    damping: float | None = None
    max_length: int = 512
    batch_size: int = 8
    factor_max_samples: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise UserError(f"--strategy {self.strategy}: choose one of {', '.join(STRATEGIES)}")
        if self.fisher not in FISHERS:
            raise UserError(f"--fisher {self.fisher}: choose one of {', '.join(FISHERS)}")
        if self.damping is not None and not self.damping > 0:
            raise UserError(f"--damping {self.damping}: must be > 0 (or 0.1mean)")
        if self.max_length < 2:
            raise UserError(f"--max-length {self.max_length}: must be at least 2")
        if self.batch_size < 1:
            raise UserError(f"--batch-size {self.batch_size}: must be at least 1")
        if self.factor_max_samples is not None and self.factor_max_samples < 1:
            raise UserError(f"--factor-samples {self.factor_max_samples}: must be at least 1")

    def to_json(self) -> dict:
        return asdict(self)


def parse_damping(text: str) -> float | None:
    """``0.1mean`` → ``None`` (relative damping); else a positive float."""
    if text == "0.1mean":
        return None
    try:
        return float(text)
    except ValueError:
        raise UserError(f"--damping {text}: expected a number or 0.1mean") from None
