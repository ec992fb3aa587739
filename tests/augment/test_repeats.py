import numpy as np
import pytest

from mda_curate.augment.repeats import Motif, Span, complete_motifs, find_motifs, match_runs, repeat_spans
from mda_curate.training.data import SPAN_TOKEN_RANKS, repeated_spans, rng


def test_match_runs_count_equal_tokens_at_each_distance():
    runs = match_runs(np.array([7, 8, 7, 8, 7, 9]), max_distance=3)
    assert runs[:, 1].tolist() == [0, 0, 3, 2, 1, 0]  # distance 2: "7 8 7" repeats from position 2
    assert runs[:, 0].max() == 0


def test_planted_back_to_back_repeat_gives_its_length_copies_and_distance():
    span = np.arange(100, 140)  # 40 distinct tokens
    tokens = np.concatenate([np.arange(10), span, span, span, np.arange(500, 510)])
    assert repeat_spans(tokens) == [Span(50, 80, 40)]
    motifs, coverage = find_motifs(tokens)
    assert motifs == [Motif(10, 40, 3, 40)]
    assert coverage == pytest.approx(80 / len(tokens))


def test_planted_spaced_repeat_chains_into_one_motif():
    span = np.arange(100, 112)
    gaps = [np.arange(200, 207), np.arange(300, 307)]
    tokens = np.concatenate([np.arange(5), span, gaps[0], span, gaps[1], span])
    assert find_motifs(tokens)[0] == [Motif(5, 12, 3, 19)]


def test_short_repeats_and_far_repeats_are_not_counted():
    span = np.arange(100, 104)  # 4 tokens, under min_length 5
    assert find_motifs(np.concatenate([span, [1], span]))[0] == []
    far = np.concatenate([np.arange(100, 110), np.arange(200, 250), np.arange(100, 110)])
    assert find_motifs(far, max_distance=50)[0] == []
    assert find_motifs(far, max_distance=60)[0] == [Motif(0, 10, 2, 60)]


def test_a_copy_cut_by_the_window_end_is_marked_cut():
    span = np.arange(100, 130)
    tokens = np.concatenate([span, np.arange(200, 210), span[:12]])
    motifs, _ = find_motifs(tokens)
    assert motifs == [Motif(0, 12, 2, 40)]
    assert complete_motifs(motifs, len(tokens)) == []


def test_miner_recovers_the_trainers_own_catalyst_windows_exactly():
    """The trainer's repeated_spans windows record (start, length, copies): every span with at least two whole
    copies inside the window is mined with exactly that shape, and nothing else is."""
    pool = np.arange(*SPAN_TOKEN_RANKS)
    for g in range(200):
        tokens, spans = repeated_spans(rng(1, "augment-test", g), pool, 129)
        expected = [(s, n, min(c, (129 - s) // n), n) for s, n, c in spans if (129 - s) // n >= 2]
        assert [tuple(m) for m in complete_motifs(find_motifs(tokens)[0], 129)] == expected, g
