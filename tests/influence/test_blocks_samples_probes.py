"""Head slices of the fused weights, the probes' targets, and every training-sample source."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mda_curate.data.documents import Document
from mda_curate.errors import UserError
from mda_curate.influence.blocks import head_blocks
from mda_curate.influence.probes import induction_probe, previous_token_probe, summed_lm_loss
from mda_curate.influence.samples import open_samples
from mda_curate.units.attention import run_with_attention


def perturbed(model, block, scale=0.5):
    """A copy of ``model`` with noise added to exactly the block's weight slice."""
    import copy

    twin = copy.deepcopy(model)
    module = dict(twin.named_modules())[next(n for n, m in model.named_modules() if m is block.module)]
    rows = torch.arange(module.out_features) if block.out_index is None else block.out_index
    cols = torch.arange(module.in_features) if block.in_index is None else block.in_index
    with torch.no_grad():
        module.weight[rows[:, None], cols] += scale * torch.randn(len(rows), len(cols))
    return twin


def test_qk_slice_moves_only_its_own_heads_attention_and_v_moves_none(neox):
    model = neox.random_model(seed=1)
    ids = torch.randint(2, 64, (2, 12))
    _, base = run_with_attention(model, ids)
    qk, v, _ = head_blocks(model, 1, 2, "qkvo")
    _, after_qk = run_with_attention(perturbed(model, qk), ids)
    changed = (after_qk - base).abs().amax(dim=(0, 3, 4))  # (layers, heads)
    assert changed[1, 2] > 1e-3
    assert changed.sum() - changed[1, 2] == 0
    _, after_v = run_with_attention(perturbed(model, v), ids)
    assert torch.equal(after_v[:, :2], base[:, :2])  # V never changes layer 1's patterns (nor layer 0's)


def test_o_slice_reads_exactly_that_heads_output(neox):
    """With head 2's value rows zeroed, its output is zero, so its O columns cannot change the logits."""
    model = neox.random_model(seed=1)
    _qk, v, o = head_blocks(model, 0, 2, "qkvo")
    with torch.no_grad():
        model.gpt_neox.layers[0].attention.query_key_value.weight[v.out_index] = 0
        model.gpt_neox.layers[0].attention.query_key_value.bias[v.out_index] = 0
    ids = torch.randint(2, 64, (2, 12))
    base = model(input_ids=ids).logits
    torch.testing.assert_close(perturbed(model, o)(input_ids=ids).logits, base)
    other = head_blocks(model, 0, 1, "qkvo")[2]
    assert (perturbed(model, other)(input_ids=ids).logits - base).abs().max() > 1e-4


def test_induction_probe_scores_the_token_after_the_earlier_occurrence(neox):
    """On the planted model (a perfect induction head) the probe's targets are predicted confidently;
    shifting the target one further (the released code's off-by-one) would not be."""
    model, tokenizer = neox.planted_model(), neox.make_tokenizer()
    probe = induction_probe(tokenizer, n_sequences=4, length=10)
    ids, mask = probe.batches[0]
    per_target = probe.objective(model, ids, mask).item() / (4 * 9)
    assert per_target > np.log(0.5)
    logits = model(input_ids=ids).logits.log_softmax(-1)
    two_ahead = logits[:, 11:19].gather(-1, ids[:, 13:21, None]).mean().item()
    assert two_ahead < np.log(0.1)


def test_previous_token_probe_sums_attention_to_the_previous_position(neox):
    model, tokenizer = neox.planted_model(), neox.make_tokenizer()
    layer, head = neox.PLANTED["previous_token"]
    probe = previous_token_probe(tokenizer, layer, head, n_sequences=3, length=10)
    ids, mask = probe.batches[0]
    value = probe.objective(model, ids, mask).item()
    _, patterns = run_with_attention(model, ids)
    positions = torch.arange(1, ids.shape[1])
    assert value == pytest.approx(patterns[:, layer, head, positions, positions - 1].sum().item(), rel=1e-5)
    assert value / (3 * 20) > 0.9  # the planted head attends almost only to the previous token


def test_summed_lm_loss_is_each_rows_next_token_loss_over_its_real_tokens(neox):
    """Brute force, one row and one position at a time: -log p(next token), padding left out."""
    model = neox.planted_model()
    ids = torch.randint(1, 60, (3, 9), generator=torch.Generator().manual_seed(0))
    mask = torch.ones_like(ids)
    mask[1, 6:] = 0  # a right-padded row: its last real token is at position 5
    mask[2, 2:] = 0
    expected = []
    for row, row_mask in zip(ids, mask):
        n = int(row_mask.sum())
        logits = model(input_ids=row[None, :n]).logits[0].log_softmax(-1)
        expected.append(-sum(logits[t, row[t + 1]].item() for t in range(n - 1)))
    assert summed_lm_loss(model, ids, mask).tolist() == pytest.approx(expected, rel=1e-5)


def test_run_folder_samples_are_what_the_trainer_fed(neox, tmp_path):
    from mda_curate.data.tokenized import tokenize_documents
    from mda_curate.training.config import TrainConfig
    from mda_curate.training.trainer import Trainer

    tokenizer = neox.make_tokenizer()
    docs = [Document(f"d{i}", " ".join(f"w{(i + k) % 60 + 2:02d}" for k in range(40)), "prose") for i in range(20)]
    tokenize_documents(docs, tokenizer, tmp_path / "corpus")
    config = TrainConfig(context_length=16, batch_size=4, steps=5, warmup_steps=1, catalyst_share=0.5, threads=1)
    trainer = Trainer(config, tmp_path / "run", tokenizer, [tmp_path / "corpus"])
    samples = open_samples(tmp_path / "run", steps=(2, 4))
    assert len(samples) == 8 and [s.index for s in (samples[0], samples[7])] == [8, 15]
    for i in range(8):
        step, row = divmod(samples[i].index, 4)
        assert np.array_equal(samples[i].tokens, trainer.batch(step).tokens[row])
    assert {samples[i].domain for i in range(8)} <= {"prose", "repeated_spans"}
    with pytest.raises(UserError, match="a training stream needs steps START:END"):
        open_samples(tmp_path / "run")
    with pytest.raises(UserError, match="past the run"):
        open_samples(tmp_path / "run", steps=(9, 12))


def test_document_samples_are_tokenized_once_over_every_pass_and_batches_skip_short_ones(neox, tmp_path):
    from mda_curate.influence.samples import Batches

    tokenizer = neox.make_tokenizer()
    texts = ["w02 w03 w04 w05", "w06", "w07 w08", "w10 w11 w12"]
    (tmp_path / "docs.jsonl").write_text("".join(f'{{"id": "d{i}", "text": "{t}"}}\n' for i, t in enumerate(texts)))
    calls = []

    def counting(text, **kwargs):
        calls.append(text)
        return tokenizer(text, **kwargs)

    samples = open_samples(tmp_path / "docs.jsonl", counting, max_length=3)
    batches = Batches(samples, range(4), batch_size=2, pad_id=0)
    passes = [[(b.positions, b.input_ids.tolist(), b.attention_mask.tolist()) for b in batches] for _ in range(3)]
    assert passes[0] == passes[1] == passes[2] and sorted(calls) == sorted(texts)  # one call per document
    expected = [tokenizer(t, add_special_tokens=False)["input_ids"][:3] for t in texts]
    assert [p for batch in passes[0] for p in batch[0]] == [0, 2, 3]  # "w06" is one token: skipped
    assert [len(ids) for ids in expected] == [3, 1, 2, 3]
    assert passes[0][0][1] == [expected[0], expected[2] + [0]] and passes[0][1][1] == [expected[3]]
    assert passes[0][0][2] == [[1, 1, 1], [1, 1, 0]]  # right-padded


def test_pythia_prefix_samples_are_the_rows_of_the_steps(tmp_path):
    from mda_curate.data.megatron import PythiaStream, write_indexed

    rows = [np.arange(i, i + 12, dtype=np.uint16) for i in range(3 * 1024)]
    write_indexed(tmp_path / "pile", rows)
    samples = open_samples(tmp_path / "pile", max_length=8, steps=(1, 2))
    stream = PythiaStream(tmp_path / "pile")
    assert len(samples) == 1024 and samples[5].index == 1029
    assert np.array_equal(samples[5].tokens, stream.sequences[1029][:8])


def test_llama_style_head_owns_its_q_rows_its_kv_groups_k_and_v_rows_and_its_o_columns(llama):
    model = llama.random_model("llama", hidden_size=32, intermediate_size=64)  # 4 query heads of 8 dims, 2 KV heads
    q, k, v, o = head_blocks(model, 1, 3, "qkvo")
    attention = model.model.layers[1].self_attn
    assert [b.name for b in (q, k, v, o)] == [f"layers.1.heads.3.{p}" for p in "qkvo"]
    assert [b.module for b in (q, k, v, o)] == [attention.q_proj, attention.k_proj, attention.v_proj, attention.o_proj]
    assert q.out_index.tolist() == o.in_index.tolist() == list(range(24, 32))
    assert k.out_index.tolist() == v.out_index.tolist() == list(range(8, 16))  # heads 2 and 3 read KV head 1
    assert [b.shape for b in (q, k, v, o)] == [(8, 32), (8, 32), (8, 32), (32, 8)]
    assert [b.name for b in head_blocks(model, 0, 0, "qk")] == ["layers.0.heads.0.q", "layers.0.heads.0.k"]


@pytest.mark.parametrize("family", ["llama", "olmo2", "qwen2"])
def test_llama_style_slices_move_their_head_their_kv_group_or_no_pattern(llama, family):
    """Q rows move their own head's pattern only, K rows both heads of the KV group, V rows none. OLMo 2's
    QK-norm divides the whole layer's queries (keys) by one RMS, so there Q (K) rows move every head of the layer."""
    model = llama.random_model(family, seed=1, hidden_size=32, intermediate_size=64)
    ids = torch.randint(2, 64, (2, 12))
    _, base = run_with_attention(model, ids)
    q, k, v, _ = head_blocks(model, 1, 3, "qkvo")

    def moved(block):
        _, after = run_with_attention(perturbed(model, block), ids)
        return ((after - base).abs().amax(dim=(0, 3, 4)) > 1e-6).tolist()  # (layers, heads)

    everything = [True] * 4
    assert moved(q) == [[False] * 4, everything if family == "olmo2" else [False, False, False, True]]
    assert moved(k) == [[False] * 4, everything if family == "olmo2" else [False, False, True, True]]
    assert moved(v) == [[False] * 4, [False] * 4]


@pytest.mark.parametrize("family", ["llama", "olmo2", "qwen2"])
def test_llama_style_previous_token_probe_sums_attention_to_the_previous_position(llama, family):
    model = llama.planted_model(family)
    layer, head = llama.PLANTED["previous_token"]
    probe = previous_token_probe(llama.make_tokenizer(), layer, head, n_sequences=3, length=10)
    ids, mask = probe.batches[0]
    value = probe.objective(model, ids, mask).item()
    _, patterns = run_with_attention(model, ids)
    positions = torch.arange(1, ids.shape[1])
    assert value == pytest.approx(patterns[:, layer, head, positions, positions - 1].sum().item(), rel=1e-5)
    assert value / (3 * 20) > 0.9
