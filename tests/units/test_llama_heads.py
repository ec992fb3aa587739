"""Head scores, induction loss and ICL on Llama-style models (Llama, OLMo 2, Qwen2): patterns recomputed
from each attention module's input against the eager attention weights, planted heads on grouped KV heads,
and a one-line error for architectures not covered."""

import json

import numpy as np
import pytest
import torch

from mda_curate import cli
from mda_curate.errors import UserError
from mda_curate.units import METRICS, ProbeSettings, model_icl_score, probe_sequences, run_with_attention, score_heads

SETTINGS = ProbeSettings(n_sequences=6, lengths=(24, 40))


@pytest.fixture(scope="module")
def sequences(llama):
    return probe_sequences(llama.make_tokenizer(), SETTINGS)[0]


@pytest.mark.parametrize("family", ["llama", "olmo2", "qwen2"])
def test_attention_patterns_match_eager_attention_weights(llama, sequences, family):
    """Grouped KV heads (4 query heads on 2), random biases and norm weights (OLMo 2's QK-norm included)."""
    model = llama.random_model(family, seed=1, attn_implementation="eager", attention_bias=True)
    batch = torch.stack([s for s in sequences if len(s) == len(sequences[0])])
    _, ours = run_with_attention(model, batch)
    eager = torch.stack(model(input_ids=batch, output_attentions=True).attentions, dim=1)
    assert ours.shape == (len(batch), 2, 4, batch.shape[1], batch.shape[1])
    torch.testing.assert_close(ours, eager, atol=1e-6, rtol=1e-5)


def test_sliding_window_layers_match_eager_attention_weights(llama, sequences):
    model = llama.random_model(
        "qwen2", seed=2, attn_implementation="eager", use_sliding_window=True, sliding_window=8, max_window_layers=1
    )
    _, ours = run_with_attention(model, sequences[0][None])
    eager = torch.stack(model(input_ids=sequences[0][None], output_attentions=True).attentions, dim=1)
    assert ours[0, 1, :, -1, :-8].abs().max() == 0  # the window hides keys 8 or more positions back
    torch.testing.assert_close(ours, eager, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("family", ["llama", "olmo2", "qwen2"])
def test_planted_heads_on_grouped_kv_heads_score_one_on_their_metric(llama, sequences, family):
    scores = score_heads(llama.planted_model(family), sequences)
    for metric in METRICS:
        layer, head = llama.PLANTED[metric]
        values = getattr(scores, metric)
        assert values[layer, head] > 0.98, metric
        assert np.delete(values.ravel(), layer * 4 + head).max() < 0.1, metric
        for other in METRICS:
            if other != metric:
                assert getattr(scores, other)[layer, head] < 0.05, (metric, other)
    assert scores.induction_loss_second < 0.05 and scores.induction_loss_first > 2.0


def test_planted_induction_head_gives_a_negative_icl_score(llama):
    """On text that repeats a 30-token span, the planted head predicts late tokens (loss ~0) but not the
    first ones of each context: ICL score far below 0; a random model's stays near 0."""
    tokenizer = llama.make_tokenizer()
    span = " ".join(f"w{i:02d}" for i in range(2, 32))
    text = " ".join([span] * 12)
    planted, _ = model_icl_score(llama.planted_model("llama"), tokenizer, [text], ctx=64, max_contexts=5)
    random, details = model_icl_score(llama.random_model("llama"), tokenizer, [text], ctx=64, max_contexts=5)
    assert details == {"ctx": 64, "late": 62, "early": [0, 6], "contexts": 5}
    assert planted < -2.0 and abs(random) < 0.5


def test_units_cli_scores_a_saved_llama_model(llama, tmp_path):
    folder = tmp_path / "planted-llama"
    llama.planted_model("llama").save_pretrained(folder)
    llama.make_tokenizer().save_pretrained(folder)
    out = tmp_path / "scores.json"
    args = [str(folder), "--json", str(out), "--sequences", "4", "--seq-len", "20-24", "--no-icl"]
    assert cli.main(["units", *args]) == 0
    heads = json.loads(out.read_text())["heads"]
    assert len(heads) == 2 * 4
    for metric, planted in llama.PLANTED.items():
        best = max(heads, key=lambda h: h[metric])
        assert (best["layer"], best["head"]) == planted and best[metric] > 0.98


def test_architectures_not_covered_are_a_one_line_error():
    from transformers import GPT2Config, GPT2LMHeadModel

    model = GPT2LMHeadModel(GPT2Config(n_layer=1, n_head=2, n_embd=16, vocab_size=64, n_positions=64))
    with pytest.raises(UserError) as caught:
        run_with_attention(model, torch.zeros(1, 4, dtype=torch.long))
    message = str(caught.value)
    assert "'gpt2' model" in message and "\n" not in message
    for name in ("gpt_neox", "llama", "olmo2", "qwen2"):
        assert f"({name})" in message
