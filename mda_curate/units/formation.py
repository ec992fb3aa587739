"""When a circuit forms: per-step summaries of a unit-score trajectory and the interpolated formation step.

A run's induction head has *formed* at the first step where both

* the best head's prefix-matching (induction) score reaches ``score_threshold`` (default 0.3), and
* the induction-loss drop, loss on the first copy minus loss on the second copy of the ``[x, x]`` probe,
  reaches ``drop_threshold`` nats (default 1.0),

each crossing placed by linear interpolation between the two checkpoints around it; the formation step
is the later of the two crossings. Requiring both guards against attention-only artefacts and against
lagged copying circuits that lower the loss without prefix matching (see REFERENCE.md).
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


def crossing_step(steps: Sequence[float], values: Sequence[float], threshold: float) -> float | None:
    """The first step at which ``values`` reaches ``threshold``, linearly interpolated; None if never."""
    for i, (step, value) in enumerate(zip(steps, values)):
        if value >= threshold:
            if i == 0:
                return float(step)
            prev_step, prev_value = steps[i - 1], values[i - 1]
            return prev_step + (threshold - prev_value) / (value - prev_value) * (step - prev_step)
    return None


def formation_step(
    summaries: Sequence[StepSummary],
    score_threshold: float = SCORE_THRESHOLD,
    drop_threshold: float = DROP_THRESHOLD,
) -> float | None:
    """The interpolated step at which both criteria of the module docstring hold; None if they never do."""
    steps = [s.step for s in summaries]
    score = crossing_step(steps, [s.best_induction for s in summaries], score_threshold)
    drop = crossing_step(steps, [s.induction_loss_drop for s in summaries], drop_threshold)
    return None if score is None or drop is None else max(score, drop)


def heads_have_formed(heads: HeadScores, score_threshold: float = SCORE_THRESHOLD, drop_threshold: float = DROP_THRESHOLD) -> bool:
    """Both criteria hold at one checkpoint, given its :class:`HeadScores` (no interpolation)."""
    drop = heads.induction_loss_first - heads.induction_loss_second
    return float(heads.induction.max()) >= score_threshold and drop >= drop_threshold


def has_formed(checkpoint: str | Path, settings: ProbeSettings | None = None) -> bool:
    """Both criteria hold at this checkpoint (a ``from_pretrained`` folder with its tokenizer), on the
    default probe or ``settings``."""
    from mda_curate.models import load_causal_lm
    from mda_curate.units.scoring import score_model
    from mda_curate.units.sequences import ProbeSettings

    model, tokenizer = load_causal_lm(str(checkpoint))
    return heads_have_formed(score_model(model, tokenizer, settings or ProbeSettings()).heads)
