import pytest

from mda_curate.validation.spec import MetricSettings, SeedSpec
from mda_curate.validation.stats import RunResult, bootstrap_mean, pearson_r, run_result, summarize

SEED = SeedSpec(seed=0, run=None, window=(100, 200), until=400, unit="1.0", scores=None)


def test_bootstrap_of_two_seeds_spans_the_two_values():
    # Resampled means of (a, b) are a, (a+b)/2, b with probabilities 1/4, 1/2, 1/4: the 95% interval is [a, b].
    assert bootstrap_mean([1.0, 3.0]) == {"mean": 2.0, "ci": [1.0, 3.0]}


def test_bootstrap_of_one_seed_or_equal_values_is_a_point():
    assert bootstrap_mean([5.0]) == {"mean": 5.0, "ci": [5.0, 5.0]}
    assert bootstrap_mean([2.0, 2.0, 2.0]) == {"mean": 2.0, "ci": [2.0, 2.0]}
    assert bootstrap_mean([]) == {"mean": None, "ci": [None, None]}


def test_bootstrap_interval_of_many_seeds_matches_the_normal_approximation():
    values = [float(v) for v in range(1, 21)]  # mean 10.5, standard error sqrt(33.25 / 20) = 1.289
    stat = bootstrap_mean(values, resamples=20000)
    assert stat["mean"] == 10.5
    assert stat["ci"][0] == pytest.approx(10.5 - 1.96 * 1.289, abs=0.15)
    assert stat["ci"][1] == pytest.approx(10.5 + 1.96 * 1.289, abs=0.15)
    assert bootstrap_mean(values, resamples=20000) == stat  # deterministic


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
            out.append({"step": step, "layer": layer, "head": 0, "induction": value, "previous_token": 0.1,
                        "duplicate_token": 0.0, "induction_loss_first": 5.0, "induction_loss_second": 5.0 - d,
                        "icl_score": -0.1, "heldout_loss_prose": 4 - step / 1000, "heldout_loss_code": None if step == 300 else 2.0})
    return out


def test_formation_is_interpolated_and_a_run_that_never_forms_is_censored_at_its_last_step():
    formed = run_result("baseline", SEED, rows([100, 200, 300, 400], [0.0, 0.1, 0.5, 0.8], [0.0, 0.5, 1.5, 3.0]))
    # induction reaches 0.3 at 250, the drop reaches 1.0 at 250: formation at 250.
    assert formed.formation_step == pytest.approx(250.0) and not formed.censored
    assert formed.unit_induction == pytest.approx((0.1 + 0.5 + 0.8) / 3)  # checkpoints after the window start
    assert formed.heldout_loss == {"prose": pytest.approx(3.6), "code": 2.0}  # at the last step, 400
    assert run_result("baseline", SEED, rows([100, 200, 300], [0.0] * 3, [0.0] * 3)).heldout_loss == {"prose": pytest.approx(3.7)}
    never = run_result("targeted_removal", SEED, rows([100, 200, 300, 400], [0.0, 0.1, 0.2, 0.25], [0, 2, 2, 2]))
    assert never.formation_step == 400.0 and never.censored


def test_an_early_stopped_seed_is_compared_at_the_step_every_arm_reached():
    run = rows([100, 200, 300, 400], [0.0, 0.1, 0.5, 0.8], [0.0, 0.5, 1.5, 3.0])
    result = run_result("baseline", SEED, run, compared_at=300)
    assert result.formation_step == pytest.approx(250.0) and result.last_step == 400  # formation uses every step
    assert result.unit_induction == pytest.approx((0.1 + 0.5) / 2) and result.compared_at == 300
    assert result.heldout_loss == {"prose": pytest.approx(3.7)}  # at step 300, which has no code loss


def test_speedup_is_baseline_over_arm_per_seed_with_intervals_over_seeds():
    results = [
        RunResult("baseline", 0, 300.0, False, 0.4, 400, {"prose": 4.0, "code": 2.0}, 400),
        RunResult("baseline", 1, 500.0, False, 0.5, 600, {"prose": 5.0, "code": 2.0}, 600),
        RunResult("targeted_augmentation", 0, 150.0, False, 0.6, 400, {"prose": 3.96, "code": 2.0}, 400),
        RunResult("targeted_augmentation", 1, 250.0, False, 0.7, 600, {"prose": 4.95, "code": 2.2}, 600),
        RunResult("targeted_removal", 0, 400.0, True, 0.1, 400, {"prose": 4.4}, 400),
        RunResult("targeted_removal", 1, 500.0, False, 0.3, 600, {"prose": 5.0}, 600),
    ]
    table = [{"is_unit": True, "icl_score": -i / 10, "induction": i / 10} for i in range(5)]
    summary = summarize(results, table, MetricSettings(bootstrap_resamples=1000))
    augmented, removed = summary["arms"]["targeted_augmentation"], summary["arms"]["targeted_removal"]
    assert summary["arms"]["baseline"]["speedup"] == {"mean": 1.0, "ci": [1.0, 1.0]}
    assert augmented["speedup"] == {"mean": 2.0, "ci": [2.0, 2.0]} and augmented["seeds"] == 2
    assert augmented["formation_step"] == {"mean": 200.0, "ci": [150.0, 250.0]}
    assert removed["speedup"]["mean"] == pytest.approx((0.75 + 1.0) / 2) and removed["censored"] == 1
    assert removed["formation_delay"] == {"mean": 50.0, "ci": [0.0, 100.0]}
    assert augmented["unit_induction_delta"]["mean"] == pytest.approx(0.2)
    assert augmented["heldout_loss_change"]["prose"]["mean"] == pytest.approx(-0.01)  # -1% on both seeds
    assert augmented["heldout_loss_change"]["code"]["ci"] == [pytest.approx(0.0), pytest.approx(0.1)]
    assert removed["heldout_loss_change"] == {"prose": {"mean": pytest.approx(0.05), "ci": [pytest.approx(0.0), pytest.approx(0.1)]}}
    assert summary["icl_vs_induction_r"] == pytest.approx(-1.0) and list(summary["arms"])[0] == "baseline"
