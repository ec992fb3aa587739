"""Convergence statistics: formation step per run, speed-up vs the baseline with bootstrap confidence
intervals over seeds, the unit's induction score as a continuous effect size, and ICL vs induction.

* **Formation step** of a run: ``units.formation`` (best head's induction >= 0.3 and induction-loss drop
  >= 1 nat, interpolated) over the branch checkpoint and the arm's checkpoints. A run that never
  crosses is **censored**: it enters at its last scored step (``until``) with ``censored`` counted, so
  a censored arm's formation step is a lower bound and its speed-up an upper bound (for a censored
  baseline, the reverse). A run that has already crossed at the window start enters at the window start.
* **Speed-up** per seed: baseline formation step / arm formation step (> 1 is faster); per arm, the
  mean over seeds of the per-seed ratios. ``formation_delay`` is arm minus baseline, in steps.
* **Compared at**: the last step every arm-run of the seed reached: ``until``, or with
  ``arms.stop_after_formation`` the earliest stop among the seed's arms, so that every arm is measured
  over the same steps.
* **Unit induction**: the mean of the seed's unit's induction score over the arm's checkpoints after the
  window start, up to the compared step: a threshold-free effect size; ``unit_induction_delta`` is arm
  minus baseline.
* **Held-out loss change**: per held-out domain, arm / baseline - 1 of the loss at the compared step,
  per seed: the cost of the intervention to the rest of the model (> 0 is worse).
* **Confidence intervals**: percentile bootstrap of the mean over seeds (``bootstrap_resamples``
  resamples of the seeds with replacement, generator seed 0); with one seed the interval is the value.
* ``icl_vs_induction_r``: Pearson r of the ICL score with the unit's induction score over every scored
  checkpoint of every arm and seed (the ICL score falls as in-context learning improves, so r < 0 means
  the two move together).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from mda_curate.units.formation import DROP_THRESHOLD, SCORE_THRESHOLD, formation_step, summarize_steps
from mda_curate.validation.spec import ARMS, MetricSettings, SeedSpec

FORMATION_RULE = (
    f"best head induction >= {SCORE_THRESHOLD} and induction-loss drop >= {DROP_THRESHOLD} nats, "
    "each crossing interpolated between checkpoints; the later of the two"
)
HELDOUT = "heldout_loss_"  # metric rows' per-domain held-out loss columns
CENSORING = (
    "a run that never forms is censored at its last step: it enters the statistics at that step, so a censored "
    "arm's formation step is a lower bound and its speed-up an upper bound"
)


@dataclass(frozen=True)
class RunResult:
    arm: str
    seed: int
    formation_step: float
    censored: bool
    unit_induction: float  # mean over the arm's checkpoints after the window start, to compared_at
    last_step: int
    heldout_loss: dict[str, float]  # per domain, at compared_at
    compared_at: int

    def to_json(self) -> dict:
        return asdict(self)


def run_result(arm: str, seed: SeedSpec, rows: Sequence[dict], compared_at: int | None = None) -> RunResult:
    """The formation step (or censoring) of one arm-run's metric rows, and its unit effect size and held-out
    loss at the checkpoint ``compared_at`` (default: its last)."""
    summaries = summarize_steps(rows)
    formed = formation_step(summaries)
    last = summaries[-1].step
    end = last if compared_at is None else compared_at
    unit = [r["induction"] for r in rows if (r["layer"], r["head"]) == seed.layer_head and seed.window[0] < r["step"] <= end]
    final = next(r for r in rows if r["step"] == end)
    heldout = {key.removeprefix(HELDOUT): value for key, value in final.items() if key.startswith(HELDOUT) and value is not None}
    return RunResult(
        arm=arm,
        seed=seed.seed,
        formation_step=float(last if formed is None else formed),
        censored=formed is None,
        unit_induction=float(np.mean(unit)) if unit else float("nan"),
        last_step=last,
        heldout_loss=heldout,
        compared_at=end,
    )


def bootstrap_mean(values: Sequence[float], resamples: int = 10000, confidence: float = 0.95, seed: int = 0) -> dict:
    """``{"mean": m, "ci": [lo, hi]}``: the mean and its percentile-bootstrap interval over ``values``."""
    values = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=np.float64)
    if len(values) == 0:
        return {"mean": None, "ci": [None, None]}
    generator = np.random.default_rng(seed)
    means = values[generator.integers(0, len(values), size=(resamples, len(values)))].mean(axis=1)
    tail = (1 - confidence) / 2
    lo, hi = np.quantile(means, [tail, 1 - tail])
    return {"mean": float(values.mean()), "ci": [float(lo), float(hi)]}


def pearson_r(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Pearson's r, or None with fewer than 3 points or a constant series."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if len(x) < 3 or x.std() == 0 or y.std() == 0:
        return None
    return float(np.corrcoef(x, y)[0, 1])


def summarize(results: Sequence[RunResult], rows: Sequence[dict], settings: MetricSettings) -> dict:
    """The ``arms`` block and ``icl_vs_induction_r`` of ``summary.json``."""

    def boot(values):
        return bootstrap_mean(values, settings.bootstrap_resamples, settings.confidence)

    baseline = {r.seed: r for r in results if r.arm == "baseline"}
    arms = {}
    for arm in (a for a in ARMS if any(r.arm == a for r in results)):
        mine = [r for r in results if r.arm == arm]
        paired = [(r, baseline[r.seed]) for r in mine if r.seed in baseline]
        arms[arm] = {
            "formation_step": boot([r.formation_step for r in mine]),
            "speedup": boot([b.formation_step / r.formation_step for r, b in paired if r.formation_step > 0]),
            "seeds": len(mine),
            "censored": sum(r.censored for r in mine),
            "formation_delay": boot([r.formation_step - b.formation_step for r, b in paired]),
            "unit_induction": boot([r.unit_induction for r in mine]),
            "unit_induction_delta": boot([r.unit_induction - b.unit_induction for r, b in paired]),
            "heldout_loss_change": {
                domain: boot([r.heldout_loss[domain] / b.heldout_loss[domain] - 1 for r, b in paired if domain in b.heldout_loss])
                for domain in sorted(set().union(*(r.heldout_loss for r in mine)))
            },
        }
    unit_rows = [r for r in rows if r["is_unit"] and r["icl_score"] is not None]
    return {
        "arms": arms,
        "icl_vs_induction_r": pearson_r([r["icl_score"] for r in unit_rows], [r["induction"] for r in unit_rows]),
        "icl_vs_induction_points": len(unit_rows),
    }
