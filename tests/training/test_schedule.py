import json

import numpy as np
import pytest
import torch

from mda_curate.errors import UserError
from mda_curate.training.schedule import INSERTED, Schedule
from mda_curate.training.trainer import Trainer, weighted_loss

from .conftest import tiny_config

BATCH, CTX, STEPS = 4, 16, 6


def record_batches(trainer: Trainer) -> list[dict]:
    """Run ``trainer``, recording per step what the model is fed and the loss weights it trains with."""
    seen = []
    trainer.model.register_forward_pre_hook(
        lambda module, args, kwargs: seen.append({"input_ids": kwargs["input_ids"].clone()}), with_kwargs=True
    )
    real_step = trainer.train_step

    def recording_step(step, batch):
        result = real_step(step, batch)
        seen[-1].update(weights=batch.weights.copy(), sample_ids=batch.sample_ids.copy())
        return result

    trainer.train_step = recording_step
    trainer.train(show_progress=False)
    return seen


def run(tmp_path, name, tokenizer, corpus_dir, schedule: dict | None = None) -> list[dict]:
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(schedule or {}))
    loaded = Schedule.load(path, STEPS, BATCH)
    return record_batches(Trainer(tiny_config(), tmp_path / name, tokenizer, [corpus_dir], loaded))


def test_interventions_change_only_their_own_rows(tmp_path, tokenizer, corpus_dir):
    from mda_curate.data.tokenized import TokenizedCorpus

    extra = tmp_path / "extra.jsonl"
    extra.write_text("".join(json.dumps({"text": "zeta eta theta " * 12}) + "\n" for _ in range(4)))
    schedule = {
        "mask": [5, 6],
        "duplicate": [{"samples": [1, 9]}, {"samples": [2], "step": 4, "copies": 2}],
        "insert": [{"path": "extra.jsonl", "start": 3, "end": 5, "rows_per_step": 2}],
    }
    base = run(tmp_path, "base", tokenizer, corpus_dir)
    arm = run(tmp_path, "arm", tokenizer, corpus_dir, schedule)
    inserted = TokenizedCorpus.open(tmp_path / "arm" / "tokenized" / "insert_0")
    insert_stream = torch.from_numpy(inserted.tokens.astype(np.int64))
    expected_extra = {0: [1], 2: [9], 3: [INSERTED] * 2, 4: [2, 2] + [INSERTED] * 2}
    for step, (b, a) in enumerate(zip(base, arm)):
        # the nominal rows are the baseline's, token for token; masked ones only lose their weight
        assert torch.equal(a["input_ids"][:BATCH], b["input_ids"])
        assert a["sample_ids"][:BATCH].tolist() == list(range(step * BATCH, (step + 1) * BATCH))
        assert a["weights"][:BATCH].tolist() == [0.0 if g in (5, 6) else 1.0 for g in a["sample_ids"][:BATCH]]
        assert a["sample_ids"][BATCH:].tolist() == expected_extra.get(step, [])
        assert a["weights"][BATCH:].tolist() == [1.0] * len(expected_extra.get(step, []))
        for row, g in enumerate(a["sample_ids"][BATCH:], start=BATCH):
            if g != INSERTED:  # a duplicate is the sample's own tokens
                assert torch.equal(a["input_ids"][row], base[g // BATCH]["input_ids"][g % BATCH])
    inserted_rows = torch.cat([arm[3]["input_ids"][BATCH:], arm[4]["input_ids"][-2:]])
    for k, row in enumerate(inserted_rows):  # the file's windows, in order, each used once
        assert torch.equal(row, insert_stream[k * (CTX + 1) : k * (CTX + 1) + CTX])


def test_masking_a_sample_gives_the_gradient_of_the_batch_without_it(tokenizer):
    from mda_curate.training.trainer import build_model

    torch.manual_seed(0)
    model = build_model(tiny_config(), len(tokenizer))
    tokens = torch.randint(0, len(tokenizer), (BATCH, CTX + 1))
    nominal = BATCH * CTX

    def gradient(loss):
        model.zero_grad()
        loss.backward()
        return torch.cat([p.grad.flatten() for p in model.parameters()])

    masked = gradient(weighted_loss(model, tokens, torch.tensor([1.0, 0.0, 1.0, 1.0]), nominal)[0])
    # by hand: the summed token losses of the other rows over the nominal batch token count
    logits = model(input_ids=tokens[[0, 2, 3], :-1]).logits
    by_hand = torch.nn.functional.cross_entropy(logits.flatten(0, 1), tokens[[0, 2, 3], 1:].flatten(), reduction="sum")
    assert torch.allclose(masked, gradient(by_hand / nominal), rtol=1e-5, atol=1e-8)
    # and the other rows' gradient is the same as in the full batch minus the masked row's own
    full = gradient(weighted_loss(model, tokens, torch.ones(BATCH), nominal)[0])
    alone = gradient(weighted_loss(model, tokens[[1]], torch.ones(1), nominal)[0])
    assert torch.allclose(masked, full - alone, rtol=1e-4, atol=1e-7)


def test_a_shuffle_trains_the_same_samples_in_another_order_and_masks_follow_them(tmp_path, tokenizer, corpus_dir):
    base = run(tmp_path, "base", tokenizer, corpus_dir)
    schedule = {"mask": [9], "duplicate": [{"samples": [8]}], "shuffle": {"start": 2, "end": 5, "seed": 3}}
    arm = run(tmp_path, "arm", tokenizer, corpus_dir, schedule)
    placed = [g for step in (2, 3, 4) for g in arm[step]["sample_ids"][:BATCH].tolist()]
    assert sorted(placed) == list(range(8, 20)) and placed != list(range(8, 20))
    assert placed == Schedule.from_dict(schedule, STEPS, BATCH).shuffle.order(BATCH).tolist()
    for step, (b, a) in enumerate(zip(base, arm)):
        ids = a["sample_ids"][:BATCH].tolist()
        if step not in (2, 3, 4):
            assert ids == list(range(step * BATCH, (step + 1) * BATCH)) and torch.equal(a["input_ids"], b["input_ids"])
        for row, g in enumerate(ids):  # each row is its sample's own tokens, weighted 0 only if masked
            assert torch.equal(a["input_ids"][row], base[g // BATCH]["input_ids"][g % BATCH])
            assert a["weights"][row] == (0.0 if g == 9 else 1.0)
    assert arm[2]["sample_ids"][BATCH:].tolist() == [8]  # a duplicate's default step is its data-order step
    again = run(tmp_path, "again", tokenizer, corpus_dir, schedule)
    assert all(torch.equal(a["input_ids"], b["input_ids"]) for a, b in zip(arm, again))  # seeded
    assert Schedule.from_dict(schedule, STEPS, BATCH).to_dict()["shuffle"] == schedule["shuffle"]
    assert "shuffle" not in Schedule.from_dict({"mask": [1]}, STEPS, BATCH).to_dict()


@pytest.mark.parametrize(
    "schedule, message",
    [
        ([1, 2], "must be a JSON object"),
        ({"masks": [1]}, "masks is not a known field"),
        ({"mask": [24]}, r"mask\[0\] must be an integer in \[0, 24\)"),
        ({"mask": "1"}, "mask must be a list"),
        ({"duplicate": [{"step": 1}]}, r"duplicate\[0\].samples is required"),
        ({"duplicate": [{"samples": [1], "step": 6}]}, r"duplicate\[0\].step must be an integer in \[0, 6\)"),
        ({"duplicate": [{"samples": [1], "copies": 0}]}, r"duplicate\[0\].copies must be"),
        ({"duplicate": [{"samples": [1], "when": 0}]}, r"duplicate\[0\].when is not a known field"),
        ({"mask": [3], "duplicate": [{"samples": [3]}]}, r"duplicate\[0\].samples sample 3 is also masked"),
        ({"insert": [{"start": 0, "rows_per_step": 1}]}, r"insert\[0\].path is required"),
        ({"insert": [{"path": "x.jsonl", "start": 0}]}, r"insert\[0\] needs exactly one of"),
        (
            {"insert": [{"path": "x.jsonl", "start": 0, "share": 0.01}]},
            r"insert\[0\].share must give at least one row",
        ),
        ({"insert": [{"path": "x.jsonl", "start": 2, "end": 2, "rows_per_step": 1}]}, r"insert\[0\].end must be"),
        ({"shuffle": {"start": 1, "end": 3}}, "shuffle.seed is required"),
        ({"shuffle": {"start": 3, "end": 3, "seed": 0}}, r"shuffle.end must be an integer in \[4, 7\)"),
        ({"shuffle": [1, 3]}, "shuffle must be an object"),
        (
            {"insert": [{"path": "missing.jsonl", "start": 0, "rows_per_step": 1}]},
            r"insert\[0\].path .*missing.jsonl: no such",
        ),
    ],
)
def test_schedule_errors_name_the_field(tmp_path, schedule, message):
    (tmp_path / "x.jsonl").write_text('{"text": "a"}\n')
    path = tmp_path / "schedule.json"
    path.write_text(json.dumps(schedule))
    with pytest.raises(UserError, match=f"^{path}: {message}"):
        Schedule.load(path, STEPS, BATCH)


def test_insert_share_is_a_share_of_the_nominal_batch(tmp_path):
    (tmp_path / "x.jsonl").write_text('{"text": "a"}\n')
    schedule = Schedule.from_dict(
        {"insert": [{"path": "x.jsonl", "start": 1, "share": 0.5}]}, STEPS, BATCH, base_dir=tmp_path
    )
    assert schedule.insert[0].rows_per_step == 2 and schedule.insert[0].path == str(tmp_path / "x.jsonl")
