"""Influence settings: one validated dataclass, saved beside every output it produces."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from mda_curate.errors import SETTINGS, FieldError

STRATEGIES = ("identity", "diagonal", "kfac", "ekfac")
FISHERS = ("true", "empirical")
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

    strategy: str = field(default="ekfac", metadata={"help": "how the curvature is approximated"})
    fisher: str = field(default="true", metadata={"help": "labels for the curvature"})
    damping: float | None = field(
        default=None,
        metadata={"help": "added to the curvature's eigenvalues (default: 0.1 x mean eigenvalue, per block)"},
    )
    max_length: int = field(default=512, metadata={"help": "tokens per document"})
    batch_size: int = field(default=8, metadata={"help": "samples per forward/backward"})
    factor_max_samples: int | None = field(default=None, metadata={"help": "use at most N samples for the curvature"})
    seed: int = field(default=0, metadata={"help": "seed for probe tokens and sampled Fisher labels"})

    def __post_init__(self) -> None:
        check = SETTINGS
        check.choice("strategy", self.strategy, STRATEGIES)
        check.choice("fisher", self.fisher, FISHERS)
        check.require("damping", self.damping, lambda v: v is None or v > 0, "> 0")
        check.require("max_length", self.max_length, lambda v: v >= 2, "at least 2")
        check.require("batch_size", self.batch_size, lambda v: v >= 1, "at least 1")
        check.require("factor_max_samples", self.factor_max_samples, lambda v: v is None or v >= 1, "at least 1")

    def to_json(self) -> dict:
        return asdict(self)


def parse_damping(text: str) -> float | None:
    """``0.1mean`` → ``None`` (relative damping); else a positive float."""
    if text == "0.1mean":
        return None
    try:
        return float(text)
    except ValueError:
        raise FieldError("damping", f"must be a number or 0.1mean (got {text!r})") from None
