import pytest

from mda_curate.validation.spec import MetricSettings, SeedSpec
from mda_curate.validation.stats import RunResult, comparisons, pearson_r, run_result, summarize, t_interval

SEED = SeedSpec(seed=0, run=None, window=(100, 200), until=400, unit="1.0", scores=None)


def test_t_interval_of_three_seeds_uses_two_degrees_of_freedom():
    # mean 2, sd 1, t(0.975, 2) = 4.3027: half-width 4.3027 / sqrt(3) = 2.4841 (a bootstrap would give [1, 3]).
    stat = t_interval([1.0, 2.0, 3.0])
    assert stat["mean"] == 2.0 and stat["n"] == 3
    assert stat["ci"] == [pytest.approx(2 - 2.4841, abs=1e-4), pytest.approx(2 + 2.4841, abs=1e-4)]
    assert t_interval([1.0, 2.0, 3.0], confidence=0.9)["ci"][1] == pytest.approx(2 + 2.9200 / 3**0.5, abs=1e-4)


def test_t_interval_of_one_seed_has_no_interval_and_equal_values_a_point():
    assert t_interval([5.0]) == {"mean": 5.0, "ci": [None, None], "n": 1}
    assert t_interval([2.0, 2.0, 2.0]) == {"mean": 2.0, "ci": [2.0, 2.0], "n": 3}
    assert t_interval([None, float("nan")]) == {"mean": None, "ci": [None, None], "n": 0}


def test_t_interval_covers_the_true_mean_at_its_nominal_rate_with_three_seeds():
    # 4,000 draws of 3 normal values: coverage of the true mean is 95% (a percentile bootstrap gives ~75%).
    import numpy as np

    draws = np.random.default_rng(0).normal(10.0, 2.0, size=(4000, 3))
    covered = [lo <= 10.0 <= hi for lo, hi in (t_interval(row)["ci"] for row in draws)]
    assert np.mean(covered) == pytest.approx(0.95, abs=0.012)


def test_pearson_r_on_hand_made_series():
    assert pearson_r([1, 2, 3, 4], [-2, -4, -6, -8]) == pytest.approx(-1.0)
    assert pearson_r([1, 2, 3], [1, 3, 2]) == pytest.approx(0.5)
    assert pearson_r([1, 2], [1, 2]) is None and pearson_r([1, 1, 1], [1, 2, 3]) is None


def rows(steps, induction, drop, unit_bonus=0.0):
    """Two heads per step: the unit L1H0 and a weaker L0H0; the drop is first minus second copy loss;
    held-out prose loss 4 - step / 1000 (no code loss at step 300)."""
    out = []
    for step, score, d in zip(steps, induction, drop):
        for layer, value in ((1, score + unit_bonus), (0, score / 2)):
            out.append(
                {
                    "step": step,
                    "layer": layer,
                    "head": 0,
                    "induction": value,
                    "previous_token": 0.1,
                    "duplicate_token": 0.0,
                    "induction_loss_first": 5.0,
                    "induction_loss_second": 5.0 - d,
                    "icl_score": -0.1,
                    "heldout_loss_prose": 4 - step / 1000,
                    "heldout_loss_code": None if step == 300 else 2.0,
                }
            )
    return out


def test_formation_is_interpolated_and_a_run_that_never_forms_is_censored_at_its_last_step():
    formed = run_result("baseline", SEED, rows([100, 200, 300, 400], [0.0, 0.1, 0.5, 0.8], [0.0, 0.5, 1.5, 3.0]))
    # induction reaches 0.3 at 250, the drop reaches 1.0 at 250: formation at 250.
    assert formed.formation_step == pytest.approx(250.0) and not formed.censored
    assert formed.unit_induction == pytest.approx((0.1 + 0.5 + 0.8) / 3)  # checkpoints after the window start
    assert formed.heldout_loss == {"prose": pytest.approx(3.6), "code": 2.0}  # at the last step, 400
    assert run_result("baseline", SEED, rows([100, 200, 300], [0.0] * 3, [0.0] * 3)).heldout_loss == {
        "prose": pytest.approx(3.7)
    }
    never = run_result("targeted_removal", SEED, rows([100, 200, 300, 400], [0.0, 0.1, 0.2, 0.25], [0, 2, 2, 2]))
    assert never.formation_step == 400.0 and never.censored


def test_an_early_stopped_seed_is_compared_at_the_step_every_arm_reached():
    run = rows([100, 200, 300, 400], [0.0, 0.1, 0.5, 0.8], [0.0, 0.5, 1.5, 3.0])
    result = run_result("baseline", SEED, run, compared_at=300)
    assert result.formation_step == pytest.approx(250.0) and result.last_step == 400  # formation uses every step
    assert result.unit_induction == pytest.approx((0.1 + 0.5) / 2) and result.compared_at == 300
    assert result.heldout_loss == {"prose": pytest.approx(3.7)}  # at step 300, which has no code loss


def result(arm, seed, step, unit=0.4, heldout=None, censored=False, branch=100, left=False):
    return RunResult(arm, seed, step, censored, unit, 1000, heldout or {"prose": 4.0}, 1000, branch, left)


def test_speedups_after_the_branch_and_absolute_with_t_intervals_over_seeds():
    results = [
        result("baseline", 0, 300.0, 0.4, {"prose": 4.0, "code": 2.0}),
        result("baseline", 1, 500.0, 0.5, {"prose": 5.0, "code": 2.0}),
        result("targeted_augmentation", 0, 200.0, 0.6, {"prose": 3.96, "code": 2.0}),
        result("targeted_augmentation", 1, 300.0, 0.7, {"prose": 4.95, "code": 2.2}),
        result("targeted_removal", 0, 400.0, 0.1, {"prose": 4.4}, censored=True),
        result("targeted_removal", 1, 500.0, 0.3, {"prose": 5.0}),
    ]
    table = [{"is_unit": True, "icl_score": -i / 10, "induction": i / 10} for i in range(5)]
    summary = summarize(results, table, MetricSettings())
    augmented, removed = summary["arms"]["targeted_augmentation"], summary["arms"]["targeted_removal"]
    assert summary["arms"]["baseline"]["speedup"] == {"mean": 1.0, "ci": [1.0, 1.0], "n": 2}
    # after the branch at step 100: (300-100)/(200-100) = 2 and (500-100)/(300-100) = 2; absolute 1.5 and 1.667
    assert augmented["speedup_post_branch"] == {"mean": 2.0, "ci": [2.0, 2.0], "n": 2}
    assert augmented["speedup"]["mean"] == pytest.approx((1.5 + 5 / 3) / 2) and augmented["seeds"] == 2
    half = 12.7062 * 50  # t(0.975, 1) x sd(200, 300) / sqrt(2)
    assert augmented["formation_step"]["ci"] == [
        pytest.approx(250 - half, rel=1e-4),
        pytest.approx(250 + half, rel=1e-4),
    ]
    # delays -100 and -200: earlier on both seeds, but two seeds' interval [-785, +485] includes 0: no claim
    assert augmented["formation_delay"]["mean"] == -150.0 and augmented["vs_baseline"] == "not distinguishable"
    assert augmented["branch_steps"] == [100] and removed["censored"] == 1 and removed["left_censored"] == 0
    assert removed["formation_delay"]["mean"] == 50.0 and removed["vs_baseline"] == "not distinguishable"  # +100, 0
    assert augmented["unit_induction_delta"]["mean"] == pytest.approx(0.2)
    prose = augmented["heldout_loss_change"]["prose"]
    assert prose == {"mean": pytest.approx(-0.01), "ci": [pytest.approx(-0.01)] * 2, "n": 2}
    assert augmented["heldout_loss_change"]["code"]["mean"] == pytest.approx(0.05)
    assert summary["icl_vs_induction_r"] == pytest.approx(-1.0) and list(summary["arms"])[0] == "baseline"


def test_a_run_formed_at_the_branch_has_no_post_branch_ratio():
    results = [result("baseline", 0, 300.0), result("targeted_augmentation", 0, 100.0, left=True)]
    arm = summarize(results, [], MetricSettings())["arms"]["targeted_augmentation"]
    assert arm["speedup_post_branch"]["n"] == 0 and arm["speedup"]["mean"] == 3.0 and arm["left_censored"] == 1


def test_arm_vs_arm_claims_use_the_paired_per_seed_differences():
    # The classifier-vs-targeted case: per-seed speed-up differences +0.188, -0.019, +0.092 give the
    # paired interval [-0.17, +0.34]: it includes 0, so no difference is claimed.
    baseline = {0: 1100.0, 1: 1300.0, 2: 1200.0}
    first = {0: 1.60, 1: 1.40, 2: 1.50}
    second = {s: first[s] - d for s, d in zip(baseline, (0.188, -0.019, 0.092))}
    results = [result("baseline", s, step) for s, step in baseline.items()]
    for arm, ratios in (("targeted_augmentation", second), ("classifier_upsampling", first)):
        results += [result(arm, s, 100 + (baseline[s] - 100) / ratios[s]) for s in baseline]
    (pair,) = comparisons(results)
    assert pair["arms"] == ["targeted_augmentation", "classifier_upsampling"] and pair["seeds"] == [0, 1, 2]
    difference = pair["speedup_post_branch_difference"]
    assert difference["per_seed"] == [pytest.approx(-d) for d in (0.188, -0.019, 0.092)]
    assert difference["ci"] == [pytest.approx(-0.344, abs=1e-3), pytest.approx(0.170, abs=1e-3)]
    assert difference["n"] == 3
    assert not difference["differs"]
    steps = pair["formation_step_difference"]  # formation steps: classifier earlier on every seed, by 45-73 steps
    assert all(d > 0 for d in steps["per_seed"]) == steps["differs"] == (pair["first_forms"] == "later")
