"""``mda-curate influence`` end to end: the output contract, sharding and resume, and bad input."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from mda_curate.cli import main


@pytest.fixture
def model_dir(neox, tmp_path):
    folder = tmp_path / "model"
    neox.random_model(seed=3, hidden_size=32, intermediate_size=64).save_pretrained(folder)
    neox.make_tokenizer().save_pretrained(folder)
    return folder


@pytest.fixture
def train_file(tmp_path):
    docs = [
        {"id": f"d{i}", "text": " ".join(f"w{(i * 7 + k) % 60 + 2:02d}" for k in range(4 + i)), "domain": "x"}
        for i in range(11)
    ]
    docs.insert(3, {"id": "empty", "text": ""})
    docs.insert(7, {"id": "one-token", "text": "w05"})
    path = tmp_path / "train.jsonl"
    path.write_text("".join(json.dumps(d) + "\n" for d in docs))
    return path


def run(model_dir, train_file, out, *extra):
    return main(
        [
            "influence",
            "--model",
            str(model_dir),
            "--train",
            str(train_file),
            "--unit",
            "1.2",
            "--batch-size",
            "3",
            "--probe-sequences",
            "4",
            "--probe-length",
            "8",
            "--out",
            str(out),
            *extra,
        ]
    )


def test_writes_one_row_per_document_in_input_order(model_dir, train_file, tmp_path, capsys):
    assert run(model_dir, train_file, tmp_path / "scores.parquet") == 0
    table = pq.read_table(tmp_path / "scores.parquet").to_pydict()
    ids = [json.loads(line)["id"] for line in train_file.read_text().splitlines()]
    assert table["doc_id"] == ids
    skipped = {d: r for d, r in zip(table["doc_id"], table["skipped"]) if r}
    assert skipped == {"empty": "shorter than 2 tokens", "one-token": "shorter than 2 tokens"}
    scores = np.array([np.nan if s is None else s for s in table["score"]])
    assert np.isnan(scores).sum() == 2 and np.isfinite(scores).sum() == 11
    summary = json.loads((tmp_path / "scores.influence" / "summary.json").read_text())
    assert summary["skipped"] == 2 and summary["scored"] == 11
    assert "top 10 samples" in capsys.readouterr().err


def test_ranks_and_resume_give_identical_scores(model_dir, train_file, tmp_path):
    assert run(model_dir, train_file, tmp_path / "one.parquet", "--shard-size", "4") == 0
    single = pq.read_table(tmp_path / "one.parquet")
    sharded = tmp_path / "two.parquet"
    assert run(model_dir, train_file, sharded, "--shard-size", "4", "--rank", "0", "--world-size", "2") == 0
    assert not sharded.exists()  # rank 1's shards are still missing
    assert run(model_dir, train_file, sharded, "--shard-size", "4", "--rank", "1", "--world-size", "2") == 0
    assert pq.read_table(sharded).equals(single)
    shards = sorted((tmp_path / "two.influence" / "shards").glob("shard-*.parquet"))
    assert len(shards) == 4
    shards[2].unlink()  # as if killed while writing it
    (tmp_path / "two.influence" / "factors" / "factors.safetensors").unlink()
    assert run(model_dir, train_file, sharded, "--shard-size", "4") == 0
    assert pq.read_table(sharded).equals(single)


def test_module_mode_and_query_loss(model_dir, train_file, tmp_path):
    query = tmp_path / "query.jsonl"
    query.write_text(json.dumps({"text": "w09 w16 w23 w30 w37 w44"}) + "\n")
    out = tmp_path / "m.parquet"
    code = main(
        [
            "influence",
            "--model",
            str(model_dir),
            "--train",
            str(train_file),
            "--modules",
            "all-linear",
            "--probe",
            "query-loss",
            "--query",
            str(query),
            "--fisher",
            "empirical",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    scores = pq.read_table(out).column("score").to_pylist()
    assert sum(s is not None for s in scores) == 11


def test_changed_arguments_are_refused_on_the_same_output(model_dir, train_file, tmp_path, capsys):
    assert run(model_dir, train_file, tmp_path / "s.parquet") == 0
    assert run(model_dir, train_file, tmp_path / "s.parquet", "--strategy", "kfac") == 2
    assert "other arguments (strategy)" in capsys.readouterr().err


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--unit", "2.0"], "--unit: out of range; the model has 2 layers x 4 heads"),
        (["--unit", "one"], "--unit: must be LAYER.HEAD, e.g. 1.3 (got 'one')"),
        (["--probe", "query-loss"], "--query: is required by the query-loss probe (query documents)"),
        (["--damping", "-1"], "--damping: must be > 0 (got -1.0)"),
        (["--damping", "lots"], "--damping: must be a number or 0.1mean (got 'lots')"),
        (["--factor-samples", "0"], "--factor-samples: must be at least 1 (got 0)"),
        (["--factor-steps", "5:2"], "--factor-steps: must be START:END"),
    ],
)
def test_bad_arguments_give_one_clear_line(model_dir, train_file, tmp_path, capsys, extra, message):
    argv = ["influence", "--model", str(model_dir), "--train", str(train_file), "--out", str(tmp_path / "x.parquet")]
    assert main(argv + extra) == 2
    assert message in capsys.readouterr().err


def test_empty_training_file_and_non_neox_model(model_dir, tmp_path, capsys):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert main(["influence", "--model", str(model_dir), "--train", str(empty), "--unit", "0.0"]) == 2
    assert f"{empty}: no documents" in capsys.readouterr().err
    from transformers import GPT2Config, GPT2LMHeadModel

    gpt2 = tmp_path / "gpt2"
    GPT2LMHeadModel(GPT2Config(n_layer=1, n_head=2, n_embd=16, vocab_size=64)).save_pretrained(gpt2)
    assert main(["influence", "--model", str(gpt2), "--train", str(empty)]) == 2
    assert "GPT-NeoX" in capsys.readouterr().err


def test_nan_factors_name_the_block(model_dir, train_file, tmp_path, capsys):
    import torch
    from transformers import GPTNeoXForCausalLM

    model = GPTNeoXForCausalLM.from_pretrained(model_dir)
    with torch.no_grad():
        model.gpt_neox.layers[0].mlp.dense_h_to_4h.weight[0, 0] = float("nan")
    model.save_pretrained(model_dir)
    assert run(model_dir, train_file, tmp_path / "n.parquet", "--fisher", "empirical") == 2
    assert "factors of block layers.1.heads.2.qk: non-finite values" in capsys.readouterr().err
    assert run(model_dir, train_file, tmp_path / "t.parquet") == 2
    assert "the model's logits are not finite" in capsys.readouterr().err


def test_default_unit_is_the_best_induction_head(neox, tmp_path, train_file, capsys):
    folder = tmp_path / "planted"
    neox.planted_model().save_pretrained(folder)
    neox.make_tokenizer().save_pretrained(folder)
    out = tmp_path / "p.parquet"
    code = main(
        [
            "influence",
            "--model",
            str(folder),
            "--train",
            str(train_file),
            "--blocks",
            "qk",
            "--probe-sequences",
            "4",
            "--probe-length",
            "8",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    layer, head = neox.PLANTED["induction"]
    assert f"unit: L{layer}H{head}, the best induction head" in capsys.readouterr().err
    assert json.loads((tmp_path / "p.influence" / "arguments.json").read_text())["unit"] == f"{layer}.{head}"
