"""Head scores on real HF GPT-NeoX models: planted heads, off-by-one targets, TransformerLens definitions,
sdpa vs eager, and the model left unchanged."""

import numpy as np
import pytest
import torch

from mda_curate.units import (
    METRICS,
    ProbeSettings,
    probe_sequences,
    run_with_attention,
    score_heads,
    scores_from_patterns,
)

SETTINGS = ProbeSettings(n_sequences=6, lengths=(24, 40))


@pytest.fixture(scope="module")
def sequences(neox):
    return probe_sequences(neox.make_tokenizer(), SETTINGS)[0]


@pytest.fixture(scope="module")
def planted(neox):
    return neox.planted_model()


@pytest.fixture(scope="module")
def planted_scores(planted, sequences):
    return score_heads(planted, sequences)


@pytest.mark.parametrize("metric", METRICS)
def test_planted_head_scores_one_on_its_metric_and_zero_on_the_others(neox, planted_scores, metric):
    layer, head = neox.PLANTED[metric]
    assert getattr(planted_scores, metric)[layer, head] > 0.98
    for other in METRICS:
        if other != metric:
            assert getattr(planted_scores, other)[layer, head] < 0.05, other
    others = np.delete(getattr(planted_scores, metric).ravel(), layer * 2 + head)
    assert others.max() < 0.1


def test_planted_induction_head_predicts_the_second_copy(planted_scores):
    assert planted_scores.induction_loss_second < 0.05
    assert planted_scores.induction_loss_first > 2.0


@pytest.mark.parametrize("shift", [-1, 1])
def test_off_by_one_induction_target_is_caught(neox, planted, sequences, shift):
    """The true induction head scores ~1; the same pattern moved one key left (the occurrence itself)
    or right (the paper code's target two ahead) scores ~0."""
    sequence = sequences[0]
    x_len = (len(sequence) - 1) // 2
    _, patterns = run_with_attention(planted, sequence[None])
    pattern = patterns[0, neox.PLANTED["induction"][0], neox.PLANTED["induction"][1]]
    assert scores_from_patterns(pattern, x_len)["induction"] > 0.98
    shifted = torch.roll(pattern, shifts=shift, dims=-1)
    assert scores_from_patterns(shifted, x_len)["induction"] < 0.02


# TransformerLens head_detector definitions, re-implemented as the reference.
def tl_previous_token_pattern(tokens):
    n = len(tokens)
    return torch.diag(torch.ones(n - 1), diagonal=-1)


def tl_duplicate_token_pattern(tokens):
    same = tokens[:, None] == tokens[None, :]
    return torch.tril(same.float(), diagonal=-1)


def tl_induction_pattern(tokens):
    shifted = torch.roll(tl_duplicate_token_pattern(tokens), shifts=1, dims=1)
    shifted[:, 0] = 0
    return shifted


def tl_mul_score(attn, pattern):
    return float((attn * pattern).sum() / attn.sum())


TL_PATTERNS = {
    "previous_token": tl_previous_token_pattern,
    "duplicate_token": tl_duplicate_token_pattern,
    "induction": tl_induction_pattern,
}


def _tl_rows(metric, x_len):
    """The query rows our scores average over: every position after BOS for previous-token, else the
    second copy (TransformerLens sums over all rows; restricting its sum to these rows gives ours)."""
    return torch.arange(1, 2 * x_len + 1) if metric == "previous_token" else torch.arange(x_len + 1, 2 * x_len + 1)


@pytest.mark.parametrize("metric", METRICS)
def test_scores_agree_with_transformer_lens_definitions(neox, sequences, planted, metric):
    random = neox.random_model(seed=3)
    for sequence in sequences[:3]:
        x_len = (len(sequence) - 1) // 2
        rows = _tl_rows(metric, x_len)
        for model in (random, planted):
            _, patterns = run_with_attention(model, sequence[None])
            ours = scores_from_patterns(patterns[0], x_len)[metric]
            reference = TL_PATTERNS[metric](sequence)
            for layer, head in np.ndindex(*ours.shape):
                attn = patterns[0, layer, head]
                tl = tl_mul_score(attn[rows], reference[rows])
                assert ours[layer, head] == pytest.approx(tl, abs=1e-6)
                # TransformerLens's whole-matrix score is ours scaled by the share of scored rows.
                whole = tl_mul_score(attn, reference)
                assert whole == pytest.approx(float(ours[layer, head]) * len(rows) / len(sequence), abs=1e-6)


def test_attention_patterns_match_eager_attention_weights(neox, sequences):
    model = neox.random_model(seed=1, attn_implementation="eager")
    batch = sequences[0][None]
    _, ours = run_with_attention(model, batch)
    eager = model(input_ids=batch, output_attentions=True).attentions
    torch.testing.assert_close(ours[0], torch.stack(eager, dim=1)[0], atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("build", ["random", "planted", "llama", "olmo2", "qwen2"])
def test_scores_identical_under_sdpa_and_eager_and_logits_unchanged(neox, llama, sequences, build):
    def make(implementation):
        if build == "planted":
            return neox.planted_model(attn_implementation=implementation)
        if build in llama.FAMILIES:
            return llama.random_model(build, seed=3, attn_implementation=implementation)
        return neox.random_model(seed=2, attn_implementation=implementation)

    sdpa, eager = make("sdpa"), make("eager")
    batch = torch.stack([s for s in sequences if len(s) == len(sequences[0])])
    before = sdpa(input_ids=batch).logits.detach().clone()
    by_sdpa, by_eager = score_heads(sdpa, sequences), score_heads(eager, sequences)
    for metric in METRICS:
        np.testing.assert_allclose(getattr(by_sdpa, metric), getattr(by_eager, metric), atol=1e-6)
    assert by_sdpa.induction_loss_second == pytest.approx(by_eager.induction_loss_second, abs=1e-5)
    assert sdpa.config._attn_implementation == "sdpa" and eager.config._attn_implementation == "eager"
    torch.testing.assert_close(sdpa(input_ids=batch).logits, before, atol=0, rtol=0)
    assert not any(module._forward_pre_hooks for module in sdpa.modules())
