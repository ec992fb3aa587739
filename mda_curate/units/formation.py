"""When a circuit forms: per-step summaries of a unit-score trajectory and the formation step.

A run's induction head has *formed* at the first checkpoint where both

* the best head's prefix-matching (induction) score reaches ``score_threshold`` (default 0.3), and
* the induction-loss drop, loss on the first copy minus loss on the second copy of the ``[x, x]`` probe,
  reaches ``drop_threshold`` nats (default 1.0)

hold together. The formation step is placed inside the interval before that checkpoint: each criterion
that did not yet hold at the previous checkpoint crosses by linear interpolation between the two, and
the step is the later of the crossings. A transient spike of one criterion that falls back before the
other holds does not count. Two edge cases are flagged rather than guessed:

* **left-censored**: both already hold at the first checkpoint; the step is that checkpoint, an upper bound;
* **right-censored**: they never hold together; there is no step (``None``).

Requiring both guards against attention patterns that match prefixes without lowering the loss, and
against copying circuits that lower the loss without prefix matching (``docs/formation.md``).
The early stop of training (:func:`has_formed` at each checkpoint) applies the same rule at one checkpoint.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mda_curate.units.heads import HeadScores
    from mda_curate.units.sequences import ProbeSettings

SCORE_THRESHOLD = 0.3
DROP_THRESHOLD = 1.0


@dataclass(frozen=True)
class StepSummary:
    step: int
    best_induction: float
    best_induction_head: tuple[int, int]
    best_previous_token: float
    best_previous_token_head: tuple[int, int]
    induction_loss_drop: float
    icl_score: float | None


def summarize_steps(rows: Sequence[dict]) -> list[StepSummary]:
    """One :class:`StepSummary` per step of ``score_checkpoints`` rows, by step."""
    by_step: dict[int, list[dict]] = {}
    for row in rows:
        by_step.setdefault(row["step"], []).append(row)
    return [_summary(step, heads) for step, heads in sorted(by_step.items())]


def _summary(step: int, heads: list[dict]) -> StepSummary:
    best_ind = max(heads, key=lambda r: r["induction"])
    best_prev = max(heads, key=lambda r: r["previous_token"])
    return StepSummary(
        step=step,
        best_induction=best_ind["induction"],
        best_induction_head=(best_ind["layer"], best_ind["head"]),
        best_previous_token=best_prev["previous_token"],
        best_previous_token_head=(best_prev["layer"], best_prev["head"]),
        induction_loss_drop=heads[0]["induction_loss_first"] - heads[0]["induction_loss_second"],
        icl_score=heads[0]["icl_score"],
    )


@dataclass(frozen=True)
class Formation:
    """Where both criteria first hold: ``step`` (interpolated; None if never, right-censored), the first
    ``checkpoint`` at which both hold, and ``left_censored`` when that is the first checkpoint scored."""

    step: float | None
    checkpoint: int | None
    left_censored: bool


def criteria_hold(
    best_induction: float,
    loss_drop: float,
    score_threshold: float = SCORE_THRESHOLD,
    drop_threshold: float = DROP_THRESHOLD,
) -> bool:
    """Both formation criteria at one checkpoint."""
    return best_induction >= score_threshold and loss_drop >= drop_threshold


def crossing_step(step0: float, value0: float, step1: float, value1: float, threshold: float) -> float:
    """Where ``value`` reaches ``threshold`` between two checkpoints, linearly interpolated; ``step0``
    when it already holds there."""
    if value0 >= threshold:
        return float(step0)
    return step0 + (threshold - value0) / (value1 - value0) * (step1 - step0)


def formation(
    summaries: Sequence[StepSummary],
    score_threshold: float = SCORE_THRESHOLD,
    drop_threshold: float = DROP_THRESHOLD,
) -> Formation:
    """The formation of the module docstring over ``summaries`` (by step)."""
    for i, now in enumerate(summaries):
        if not criteria_hold(now.best_induction, now.induction_loss_drop, score_threshold, drop_threshold):
            continue
        if i == 0:
            return Formation(float(now.step), now.step, left_censored=True)
        before = summaries[i - 1]
        score = crossing_step(before.step, before.best_induction, now.step, now.best_induction, score_threshold)
        drop = crossing_step(
            before.step, before.induction_loss_drop, now.step, now.induction_loss_drop, drop_threshold
        )
        return Formation(max(score, drop), now.step, left_censored=False)
    return Formation(None, None, left_censored=False)


def formation_step(
    summaries: Sequence[StepSummary],
    score_threshold: float = SCORE_THRESHOLD,
    drop_threshold: float = DROP_THRESHOLD,
) -> float | None:
    """The interpolated formation step of :func:`formation`; None if the criteria never hold together."""
    return formation(summaries, score_threshold, drop_threshold).step


def heads_have_formed(
    heads: HeadScores, score_threshold: float = SCORE_THRESHOLD, drop_threshold: float = DROP_THRESHOLD
) -> bool:
    """Both criteria hold at one checkpoint, given its :class:`HeadScores`."""
    drop = heads.induction_loss_first - heads.induction_loss_second
    return criteria_hold(float(heads.induction.max()), drop, score_threshold, drop_threshold)


def has_formed(checkpoint: str | Path, settings: ProbeSettings | None = None) -> bool:
    """Both criteria hold at this checkpoint (a ``from_pretrained`` folder with its tokenizer), on the
    default probe or ``settings``."""
    from mda_curate.models import load_causal_lm
    from mda_curate.units.scoring import score_model
    from mda_curate.units.sequences import ProbeSettings

    model, tokenizer = load_causal_lm(str(checkpoint))
    return heads_have_formed(score_model(model, tokenizer, settings or ProbeSettings()).heads)
