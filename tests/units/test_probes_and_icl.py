"""Probe sequences, the mid-frequency band, the induction-loss positions and the ICL score."""

import numpy as np
import pytest
import torch

from mda_curate.errors import UserError
from mda_curate.units import (
    ProbeSettings,
    copy_losses,
    icl_positions,
    icl_score,
    mid_frequency_tokens,
    model_icl_score,
    repeated_sequences,
)
from mda_curate.units.heads import duplicate_targets, induction_targets, previous_targets


def test_probe_layout_bos_then_two_copies_of_distinct_band_tokens(neox):
    tokenizer = neox.make_tokenizer()
    pool = mid_frequency_tokens(tokenizer)
    sequences = repeated_sequences(pool, 0, ProbeSettings(n_sequences=20, lengths=(10, 14), seed=5))
    assert len(sequences) == 20
    assert {(len(s) - 1) // 2 for s in sequences} <= set(range(10, 15))
    for seq in sequences:
        x_len = (len(seq) - 1) // 2
        assert seq[0] == 0 and torch.equal(seq[1 : 1 + x_len], seq[1 + x_len :])
        assert len(set(seq[1 : 1 + x_len].tolist())) == x_len
        assert set(seq[1:].tolist()) <= set(pool.tolist())
    again = repeated_sequences(pool, 0, ProbeSettings(n_sequences=20, lengths=(10, 14), seed=5))
    assert all(torch.equal(a, b) for a, b in zip(sequences, again))


def test_targets_for_bos_plus_two_copies():
    # [BOS] a b c a b c: the second "a" (position 4) attends "b" (2) for induction, "a" (1) as duplicate.
    queries, keys = induction_targets(3)
    assert queries.tolist() == [4, 5, 6] and keys.tolist() == [2, 3, 4]
    assert duplicate_targets(3)[1].tolist() == [1, 2, 3]
    assert previous_targets(3)[0].tolist() == [1, 2, 3, 4, 5, 6]
    assert previous_targets(3)[1].tolist() == [0, 1, 2, 3, 4, 5]


def test_mid_frequency_band_excludes_specials_single_chars_and_both_tails(neox):
    tokenizer = neox.make_tokenizer()
    by_id = mid_frequency_tokens(tokenizer, band=(0.1, 0.9))
    candidates = np.arange(2, 64)  # ids 0 and 1 are special
    assert by_id.tolist() == candidates[6:55].tolist()
    counts = np.zeros(64, dtype=int)
    counts[2:12] = np.arange(100, 90, -1)  # ten seen tokens, most common first: ids 2..11
    counts[0] = 10**6  # a special token, however common, never enters
    assert mid_frequency_tokens(tokenizer, counts, band=(0.2, 0.8)).tolist() == [4, 5, 6, 7, 8, 9]
    with pytest.raises(UserError):
        mid_frequency_tokens(tokenizer, band=(0.9, 0.1))


def test_too_small_band_is_a_user_error(neox):
    pool = mid_frequency_tokens(neox.make_tokenizer())
    with pytest.raises(UserError, match="mid-frequency band"):
        repeated_sequences(pool, 0, ProbeSettings(lengths=(60, 60)))


def test_copy_losses_read_x_after_its_first_token_in_each_copy():
    x_len, vocab = 3, 8
    ids = torch.tensor([[0, 5, 6, 7, 5, 6, 7]])
    logits = torch.zeros(1, 7, vocab)
    logits[0, 4:6, :] = -50.0  # positions 4 and 5 predict 6 and 7 (second copy's x[1:]) perfectly
    logits[0, 4, 6] = logits[0, 5, 7] = 50.0
    first, second = copy_losses(logits, ids, x_len)
    assert first.item() == pytest.approx(np.log(vocab))
    assert second.item() == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize(
    ("ctx", "late", "early"), [(2048, 500, [0, 50]), (512, 500, [0, 50]), (128, 125, [0, 12]), (64, 62, [0, 6])]
)
def test_icl_positions_follow_the_paper_and_scale_with_context(ctx, late, early):
    positions = icl_positions(ctx)
    assert positions.to_json() == {"ctx": ctx, "late": late, "early": early}
    assert positions.late <= ctx - 2


def test_icl_score_is_late_minus_mean_early():
    losses = torch.full((127,), 3.0)
    losses[:13] = 5.0
    assert icl_score(losses, icl_positions(128)) == pytest.approx(-2.0)


def test_model_icl_score_reports_positions_or_why_not(neox):
    model, tokenizer = neox.random_model(), neox.make_tokenizer()
    text = " ".join(f"w{i % 60 + 2:02d}" for i in range(300))
    score, details = model_icl_score(model, tokenizer, [text] * 2, ctx=64, max_contexts=4)
    assert isinstance(score, float) and details == {"ctx": 64, "late": 62, "early": [0, 6], "contexts": 4}
    none, why = model_icl_score(model, tokenizer, ["w02 w03"], ctx=64)
    assert none is None and "shorter than one 64-token context" in why["note"]
    assert model_icl_score(model, tokenizer, None)[0] is None
