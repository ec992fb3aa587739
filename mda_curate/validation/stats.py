"""Convergence statistics: formation step per run, speed-up vs the baseline with t-intervals over seeds,
arm-vs-arm differences on paired seeds, the unit's induction score as a continuous effect size, and ICL vs
induction. ``docs/statistics.md`` explains the choices.

* **Formation step** of a run: ``units.formation`` (best head's induction >= 0.3 and induction-loss drop
  >= 1 nat at one checkpoint, interpolated in the interval before it) over the branch checkpoint and the
  arm's checkpoints. A run in which they never hold together is **right-censored**: it enters at its last
  scored step with ``censored`` counted, so a censored arm's formation step is a lower bound and its
  speed-up an upper bound (for a censored baseline, the reverse). A run in which they already hold at the
  branch checkpoint is **left-censored** (``left_censored``): it enters at the branch step, an upper bound.
* **Branch step**: the window start, where every arm of a seed leaves the shared base run.
* **Speed-up** per seed, two ratios (> 1 is faster):
  ``speedup_post_branch`` = (baseline formation step - branch step) / (arm formation step - branch step),
  the steps the intervention can change (the primary one; undefined for a run left-censored at the branch);
  ``speedup`` = baseline formation step / arm formation step, which also counts the shared steps before
  the branch and so shrinks towards 1 the later arms branch. Per arm: the mean of the per-seed ratios.
* ``formation_delay``: arm minus baseline formation step per seed (paired), in steps.
* **Compared at**: the last step every arm-run of the seed reached: ``until``, or with
  ``arms.stop_after_formation`` the earliest stop among the seed's arms, so that every arm is measured
  over the same steps.
* **Unit induction**: the mean of the seed's unit's induction score over the arm's checkpoints after the
  window start, up to the compared step: a threshold-free effect size; ``unit_induction_delta`` is arm
  minus baseline.
* **Held-out loss change**: per held-out domain, arm / baseline - 1 of the loss at the compared step,
  per seed: the cost of the intervention to the rest of the model (> 0 is worse).
* **Intervals**: every statistic is ``{"mean", "ci", "n"}``: a Student-t interval of the mean over the
  ``n`` values (seeds), at ``confidence``; vs-baseline statistics are per-seed paired values, and
  ``comparisons`` holds each pair of arms' per-seed paired differences with their t-interval. With n = 1
  there is no interval (``ci`` is ``[null, null]``). ``vs_baseline`` and ``differs`` name a difference
  only when its interval excludes zero.
* ``icl_vs_induction_r``: Pearson r of the ICL score with the unit's induction score over every scored
  checkpoint of every arm and seed (the ICL score falls as in-context learning improves, so r < 0 means
  the two move together).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from mda_curate.units.formation import DROP_THRESHOLD, SCORE_THRESHOLD, formation, summarize_steps
from mda_curate.validation.spec import ARMS, MetricSettings, SeedSpec

FORMATION_RULE = (
    f"the first checkpoint at which the best head's induction >= {SCORE_THRESHOLD} and the induction-loss drop "
    f">= {DROP_THRESHOLD} nats hold together, the step interpolated within the interval before it"
)
HELDOUT = "heldout_loss_"  # metric rows' per-domain held-out loss columns
CENSORING = (
    "a run that never forms is right-censored at its last step: it enters the statistics at that step, so a "
    "censored arm's formation step is a lower bound and its speed-up an upper bound; a run formed already at the "
    "branch checkpoint is left-censored there (an upper bound)"
)
SPEEDUP = (
    "speedup_post_branch = (baseline step - branch step) / (arm step - branch step), the primary ratio; "
    "speedup = baseline step / arm step, counting the shared steps before the branch; per arm the mean of "
    "per-seed ratios"
)
INTERVALS = (
    "Student-t interval of the mean over seeds (n - 1 degrees of freedom); arm-vs-arm: of per-seed paired differences"
)


@dataclass(frozen=True)
class RunResult:
    arm: str
    seed: int
    formation_step: float
    censored: bool  # right-censored: never formed by last_step
    unit_induction: float  # mean over the arm's checkpoints after the window start, to compared_at
    last_step: int
    heldout_loss: dict[str, float]  # per domain, at compared_at
    compared_at: int
    branch_step: int = 0  # where the arm left the base run (the window start)
    left_censored: bool = False  # formed already at the branch checkpoint

    @property
    def steps_after_branch(self) -> float:
        return self.formation_step - self.branch_step

    def to_json(self) -> dict:
        return asdict(self)


def run_result(arm: str, seed: SeedSpec, rows: Sequence[dict], compared_at: int | None = None) -> RunResult:
    """The formation step (or censoring) of one arm-run's metric rows, and its unit effect size and held-out
    loss at the checkpoint ``compared_at`` (default: its last)."""
    summaries = summarize_steps(rows)
    formed = formation(summaries)
    last = summaries[-1].step
    end = last if compared_at is None else compared_at
    unit = [
        r["induction"]
        for r in rows
        if (r["layer"], r["head"]) == seed.layer_head and seed.window[0] < r["step"] <= end
    ]
    final = next(r for r in rows if r["step"] == end)
    heldout = {
        key.removeprefix(HELDOUT): value
        for key, value in final.items()
        if key.startswith(HELDOUT) and value is not None
    }
    return RunResult(
        arm=arm,
        seed=seed.seed,
        formation_step=float(last if formed.step is None else formed.step),
        censored=formed.step is None,
        unit_induction=float(np.mean(unit)) if unit else float("nan"),
        last_step=last,
        heldout_loss=heldout,
        compared_at=end,
        branch_step=seed.window[0],
        left_censored=formed.left_censored,
    )


def t_interval(values: Sequence[float], confidence: float = 0.95) -> dict:
    """``{"mean", "ci": [lo, hi], "n"}``: the mean of the finite ``values`` and its Student-t interval
    (no interval below two values)."""
    from scipy import stats

    values = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=np.float64)
    n = len(values)
    if n == 0:
        return {"mean": None, "ci": [None, None], "n": 0}
    mean = float(values.mean())
    if n == 1:
        return {"mean": mean, "ci": [None, None], "n": 1}
    half = float(stats.t.ppf((1 + confidence) / 2, n - 1) * values.std(ddof=1) / np.sqrt(n))
    return {"mean": mean, "ci": [mean - half, mean + half], "n": n}


def excludes(stat: dict, value: float) -> bool:
    """The interval of ``stat`` lies wholly on one side of ``value`` (False without an interval)."""
    lo, hi = stat["ci"]
    return lo is not None and (lo > value or hi < value)


def speedups(arm: RunResult, baseline: RunResult) -> tuple[float | None, float | None]:
    """(post-branch, absolute) speed-up of ``arm`` over its seed's ``baseline``; None where undefined (the
    post-branch one when either run formed at the branch)."""
    defined = arm.steps_after_branch > 0 and baseline.steps_after_branch > 0
    post = baseline.steps_after_branch / arm.steps_after_branch if defined else None
    absolute = baseline.formation_step / arm.formation_step if arm.formation_step > 0 else None
    return post, absolute


def pearson_r(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Pearson's r, or None with fewer than 3 points or a constant series."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if len(x) < 3 or x.std() == 0 or y.std() == 0:
        return None
    return float(np.corrcoef(x, y)[0, 1])


def summarize(results: Sequence[RunResult], rows: Sequence[dict], settings: MetricSettings) -> dict:
    """The ``arms`` and ``comparisons`` blocks and ``icl_vs_induction_r`` of ``summary.json``."""
    unit_rows = [r for r in rows if r["is_unit"] and r["icl_score"] is not None]
    return {
        **summarize_runs(results, settings.confidence),
        "icl_vs_induction_r": pearson_r([r["icl_score"] for r in unit_rows], [r["induction"] for r in unit_rows]),
        "icl_vs_induction_points": len(unit_rows),
    }


def summarize_runs(results: Sequence[RunResult], confidence: float = 0.95) -> dict:
    """``{"arms": ..., "comparisons": ...}`` from the per-run results alone."""
    arms = {arm: arm_summary(arm, results, confidence) for arm in ARMS if any(r.arm == arm for r in results)}
    return {"arms": arms, "comparisons": comparisons(results, confidence)}


def arm_summary(arm: str, results: Sequence[RunResult], confidence: float) -> dict:
    """One arm's statistics over its seeds (vs-baseline ones paired on the seed)."""

    def interval(values):
        return t_interval(values, confidence)

    baseline = {r.seed: r for r in results if r.arm == "baseline"}
    mine = [r for r in results if r.arm == arm]
    paired = [(r, baseline[r.seed]) for r in mine if r.seed in baseline]
    ratios = [speedups(r, b) for r, b in paired]
    delay = interval([r.formation_step - b.formation_step for r, b in paired])
    return {
        "formation_step": interval([r.formation_step for r in mine]),
        "speedup": interval([absolute for _, absolute in ratios]),
        "speedup_post_branch": interval([post for post, _ in ratios]),
        "seeds": len(mine),
        "branch_steps": sorted({r.branch_step for r in mine}),
        "censored": sum(r.censored for r in mine),
        "left_censored": sum(r.left_censored for r in mine),
        "formation_delay": delay,
        "vs_baseline": verdict(delay, "later", "earlier") if arm != "baseline" else None,
        "unit_induction": interval([r.unit_induction for r in mine]),
        "unit_induction_delta": interval([r.unit_induction - b.unit_induction for r, b in paired]),
        "heldout_loss_change": {
            domain: interval(
                [r.heldout_loss[domain] / b.heldout_loss[domain] - 1 for r, b in paired if domain in b.heldout_loss]
            )
            for domain in sorted(set().union(*(r.heldout_loss for r in mine)))
        },
    }


def verdict(difference: dict, above: str, below: str) -> str:
    """``above``/``below`` when the interval of ``difference`` excludes 0 on that side, else no claim."""
    if not excludes(difference, 0.0):
        return "not distinguishable"
    return above if difference["ci"][0] > 0 else below


def comparisons(results: Sequence[RunResult], confidence: float = 0.95) -> list[dict]:
    """Every pair of non-baseline arms on the seeds both ran: per-seed paired differences (first minus
    second) of the formation step and of the post-branch speed-up, with their t-intervals."""
    baseline = {r.seed: r for r in results if r.arm == "baseline"}
    by_arm = {arm: {r.seed: r for r in results if r.arm == arm} for arm in ARMS if arm != "baseline"}
    arms = [arm for arm, runs in by_arm.items() if runs]
    out = []
    for i, first in enumerate(arms):
        for second in arms[i + 1 :]:
            seeds = sorted(set(by_arm[first]) & set(by_arm[second]))
            pairs = [(by_arm[first][s], by_arm[second][s], baseline.get(s)) for s in seeds]
            steps = [a.formation_step - b.formation_step for a, b, _ in pairs]
            post = [_difference(_post(a, base), _post(b, base)) for a, b, base in pairs]
            step_diff, post_diff = t_interval(steps, confidence), t_interval(post, confidence)
            out.append(
                {
                    "arms": [first, second],
                    "seeds": seeds,
                    "formation_step_difference": {**step_diff, "per_seed": steps, "differs": excludes(step_diff, 0.0)},
                    "speedup_post_branch_difference": {
                        **post_diff,
                        "per_seed": post,
                        "differs": excludes(post_diff, 0.0),
                    },
                    "first_forms": verdict(step_diff, "later", "earlier"),
                }
            )
    return out


def _post(arm: RunResult, baseline: RunResult | None) -> float | None:
    return None if baseline is None else speedups(arm, baseline)[0]


def _difference(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b
