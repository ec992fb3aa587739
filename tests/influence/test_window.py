"""A run's window as documents: the samples the trainer fed, decoded, with domain, source and scores."""

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mda_curate.errors import UserError
from mda_curate.influence.window import scored_window, source_package, window_samples
from mda_curate.training.data import DataOrder


def test_window_samples_are_the_trainers_rows_decoded_with_their_source(small_run):
    run, trainer = small_run
    samples = window_samples(run, (3, 6))
    assert [s.sample_index for s in samples] == list(range(24, 48))
    order = DataOrder.load(run)
    for s in samples:
        step, row = divmod(s.sample_index, 8)
        assert np.array_equal(s.tokens, trainer.batch(step).tokens[row])
        assert s.text == trainer.tokenizer.decode(s.tokens.tolist()) and s.doc_id == f"sample-{s.sample_index}"
        pieces = order.sample_documents(s.sample_index)
        assert s.document == max(pieces, key=lambda p: p[1])[0] and s.source == s.document.split("/")[0]
        assert (s.domain, s.source) in {("latex", "texpkg"), ("prose", "novels")}


def test_source_package():
    assert source_package("texlive-latex-base/usr/share/x.tex#3") == "texlive-latex-base"
    assert source_package("repeated_spans:12") == "repeated_spans" and source_package("plain#2") == "plain#2"


def test_scored_window_joins_scores_by_sample_index_and_reads_the_provenance(small_run, tmp_path):
    run, _ = small_run
    indices = list(range(39, 16, -1))  # steps 2..4, in reverse order
    scores = [float(g) for g in indices]
    scores[0], skipped = None, [None] * 23
    skipped[1] = "shorter than 2 tokens"
    path = tmp_path / "w.parquet"
    pq.write_table(pa.table({"sample_index": indices, "score": scores, "skipped": skipped}), path)
    (tmp_path / "w.influence").mkdir()
    arguments = {"model": str(run / "step_5"), "unit": "1.0", "probe": {"probe": "induction"}}
    (tmp_path / "w.influence" / "arguments.json").write_text(json.dumps(arguments))
    window = scored_window(run, path)
    assert [s.sample_index for s in window.samples] == list(range(17, 38)) and window.unscored == 2
    assert window.scores.tolist() == [float(g) for g in range(17, 38)]
    assert window.provenance["window"] == [2, 5] and window.provenance["unit"] == "1.0"
    assert window.provenance["checkpoint"] == str(run / "step_5")


@pytest.mark.parametrize(
    "columns, message",
    [
        ({"sample_index": [1, 1], "score": [0.0, 1.0]}, "w.parquet:2: duplicate sample_index 1"),
        ({"sample_index": [1, 10_000], "score": [0.0, 1.0]}, "past the end"),
        ({"sample_index": [1], "score": [None]}, "no scored rows"),
        ({"doc_id": ["a"], "score": [1.0]}, "missing column 'sample_index'"),
    ],
)
def test_scored_window_errors_name_the_file(small_run, tmp_path, columns, message):
    pq.write_table(pa.table(columns), tmp_path / "w.parquet")
    with pytest.raises(UserError, match=message):
        scored_window(small_run[0], tmp_path / "w.parquet")
