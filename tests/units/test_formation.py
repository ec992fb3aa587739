import pytest

from mda_curate.units.formation import crossing_step, formation_step, summarize_steps


def rows_for(step, induction, prev, first, second, icl=0.0):
    """Two heads per step: head 1 carries the given scores, head 0 stays flat."""
    common = {"step": step, "induction_loss_first": first, "induction_loss_second": second, "icl_score": icl}
    return [
        {**common, "layer": 0, "head": 0, "induction": 0.01, "previous_token": prev, "duplicate_token": 0.0},
        {**common, "layer": 1, "head": 1, "induction": induction, "previous_token": 0.05, "duplicate_token": 0.0},
    ]


def test_crossing_is_interpolated_between_checkpoints():
    assert crossing_step([0, 100, 200], [0.0, 0.2, 0.6], 0.3) == pytest.approx(125.0)
    assert crossing_step([0, 100], [0.5, 0.9], 0.3) == 0.0
    assert crossing_step([0, 100], [0.1, 0.2], 0.3) is None


def test_summaries_pick_the_best_heads_per_step():
    rows = rows_for(200, 0.7, 0.4, 7.0, 2.0) + rows_for(100, 0.1, 0.3, 7.0, 6.9)
    first, second = summarize_steps(rows)
    assert (first.step, second.step) == (100, 200)
    assert second.best_induction == 0.7 and second.best_induction_head == (1, 1)
    assert second.best_previous_token == 0.4 and second.best_previous_token_head == (0, 0)
    assert second.induction_loss_drop == pytest.approx(5.0)


def test_formation_needs_both_the_score_and_the_loss_drop():
    rows = (
        rows_for(0, 0.02, 0.1, 7.0, 7.0)
        + rows_for(100, 0.5, 0.3, 7.0, 6.8)  # score crossed at 0 + (0.28/0.48)*100, loss not yet
        + rows_for(200, 0.8, 0.5, 7.0, 4.8)  # loss drop 2.2: crossed at 100 + (0.8/2.0)*100 = 140
    )
    assert formation_step(summarize_steps(rows)) == pytest.approx(140.0)
    assert formation_step(summarize_steps(rows[:4])) is None
