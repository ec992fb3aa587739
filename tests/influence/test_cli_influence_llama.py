"""``mda-curate influence`` on a saved Llama-style model: one query head's blocks, scored end to end."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from mda_curate.cli import main


# Not Qwen2 here: a folder whose config says qwen2 makes AutoTokenizer load the test's word-level tokenizer as a
# Qwen2Tokenizer, which encodes its words to nothing (real Qwen2 checkpoints ship their own tokenizer).
@pytest.mark.parametrize(("family", "blocks"), [("llama", "qkvo"), ("olmo2", "qk")])
def test_influence_cli_scores_a_llama_style_head(llama, tmp_path, family, blocks):
    folder = tmp_path / family
    llama.random_model(family, seed=3, hidden_size=32, intermediate_size=64).save_pretrained(folder)
    llama.make_tokenizer().save_pretrained(folder)
    docs = [{"id": f"d{i}", "text": " ".join(f"w{(i * 7 + k) % 60 + 2:02d}" for k in range(4 + i))} for i in range(9)]
    train = tmp_path / "train.jsonl"
    train.write_text("".join(json.dumps(d) + "\n" for d in docs))
    out = tmp_path / "scores.parquet"
    args = [
        "--model",
        str(folder),
        "--train",
        str(train),
        "--unit",
        "1.3",
        "--blocks",
        blocks,
        "--batch-size",
        "4",
        "--probe-sequences",
        "4",
        "--probe-length",
        "8",
        "--out",
        str(out),
    ]
    assert main(["influence", *args]) == 0
    table = pq.read_table(out).to_pydict()
    assert table["doc_id"] == [d["id"] for d in docs]
    assert np.isfinite(table["score"]).all() and np.abs(table["score"]).max() > 0
    saved = json.loads((tmp_path / "scores.influence" / "arguments.json").read_text())
    assert saved["blocks"] == [f"layers.1.heads.3.{part}" for part in blocks]
