import numpy as np
import pytest

from mda_curate.units import ProbeSettings
from mda_curate.units.formation import (
    crossing_step,
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
