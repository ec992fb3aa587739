import numpy as np
import pytest

from mda_curate.units import ProbeSettings
from mda_curate.units.formation import (
    Formation,
    crossing_step,
    formation,
    formation_step,
    has_formed,
    heads_have_formed,
    summarize_steps,
)
from mda_curate.units.heads import HeadScores


def rows_for(step, induction, prev, first, second, icl=0.0):
    """Two heads per step: head 1 carries the given scores, head 0 stays flat."""
    common = {"step": step, "induction_loss_first": first, "induction_loss_second": second, "icl_score": icl}
    return [
        {**common, "layer": 0, "head": 0, "induction": 0.01, "previous_token": prev, "duplicate_token": 0.0},
        {**common, "layer": 1, "head": 1, "induction": induction, "previous_token": 0.05, "duplicate_token": 0.0},
    ]


def test_crossing_is_interpolated_between_two_checkpoints():
    assert crossing_step(100, 0.2, 200, 0.6, 0.3) == pytest.approx(125.0)
    assert crossing_step(100, 0.5, 200, 0.9, 0.3) == 100.0  # already held at the earlier checkpoint


def trajectory(steps, induction, drop):
    """Rows whose best induction and loss drop follow the given series (second-copy loss = 7 - drop)."""
    return [row for s, i, d in zip(steps, induction, drop) for row in rows_for(s, i, 0.1, 7.0, 7.0 - d)]


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
    assert formation(summarize_steps(rows)) == Formation(pytest.approx(140.0), 200, left_censored=False)
    assert formation_step(summarize_steps(rows[:4])) is None


def test_a_transient_induction_spike_before_the_loss_drop_does_not_count():
    # The sweep's shape: induction 0.82 -> 0.32 -> 0.67 with a dip to 0.12 between, while the loss drop
    # crosses 1 nat at 270, when the score is down. The two first crossings (35 and 270) never held together;
    # both hold first at step 400: the drop held already at 300, the score crosses at 300 + 0.18/0.55 * 100.
    induction, drop = [0.02, 0.82, 0.32, 0.12, 0.67], [0.0, 0.1, 0.3, 1.3, 1.8]
    rows = trajectory([0, 100, 200, 300, 400], induction, drop)
    assert formation(summarize_steps(rows)) == Formation(pytest.approx(300 + 18 / 0.55), 400, left_censored=False)


def test_criteria_that_never_hold_at_one_checkpoint_never_form():
    # The score crosses at 100 and falls back; the drop crosses at 200 once the score is gone: each
    # criterion holds somewhere, never both at one checkpoint, so the run is right-censored.
    rows = trajectory([0, 100, 200, 300], [0.02, 0.5, 0.1, 0.2], [0.0, 0.2, 1.5, 2.0])
    assert formation(summarize_steps(rows)) == Formation(None, None, left_censored=False)


def test_a_head_formed_at_the_first_checkpoint_is_left_censored():
    rows = trajectory([500, 550], [0.6, 0.7], [1.2, 1.8])
    assert formation(summarize_steps(rows)) == Formation(500.0, 500, left_censored=True)


def test_the_early_stop_checkpoint_is_the_formation_checkpoint():
    # has_formed at each checkpoint (training's early stop) stops at the checkpoint formation() names.
    induction, drop = [0.02, 0.82, 0.32, 0.12, 0.67], [0.0, 0.1, 0.3, 1.3, 1.8]
    first = next(i for i, (s, d) in enumerate(zip(induction, drop)) if heads_have_formed(head_scores(s, 7.0, 7.0 - d)))
    rows = trajectory([0, 100, 200, 300, 400], induction, drop)
    assert formation(summarize_steps(rows)).checkpoint == [0, 100, 200, 300, 400][first]


def head_scores(induction, first, second):
    return HeadScores(np.array([[0.01, induction]]), np.zeros((1, 2)), np.zeros((1, 2)), first, second)


def test_one_checkpoint_has_formed_only_when_both_criteria_hold():
    assert heads_have_formed(head_scores(0.5, 7.0, 5.0))
    assert not heads_have_formed(head_scores(0.2, 7.0, 5.0))  # loss drop without prefix matching
    assert not heads_have_formed(head_scores(0.5, 7.0, 6.5))  # prefix matching without the loss drop


def test_a_saved_checkpoint_has_formed_with_a_planted_induction_head_not_at_random_init(neox, tmp_path):
    tokenizer = neox.make_tokenizer()
    for name, model in (("planted", neox.planted_model()), ("random", neox.random_model(0))):
        model.save_pretrained(tmp_path / name)
        tokenizer.save_pretrained(tmp_path / name)
    settings = ProbeSettings(n_sequences=6, lengths=(24, 40))  # the test tokenizer's vocabulary is small
    assert has_formed(tmp_path / "planted", settings)
    assert not has_formed(tmp_path / "random", settings)
