"""One rule for which rows of a score table have a score, and one ranking, shared by every reader."""

import math

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from mda_curate.augment.extremes import select_extremes
from mda_curate.classifier.labels import read_influence_scores, top_bottom_labels
from mda_curate.influence.scores import ranked, scored_rows
from mda_curate.validation.arms import top_k

# sample 0 and 3 tie; 1 is null (a skipped sample as `mda-curate influence` writes it); 2 is NaN; 4 has a
# skipped reason but a number; 5 is the highest
ROWS = {
    "sample_index": [10, 11, 12, 13, 14, 15],
    "doc_id": ["a", "b", "c", "d", "e", "f"],
    "score": [0.5, None, math.nan, 0.5, 9.0, 2.0],
    "skipped": [None, "too short", None, None, "too short", None],
}


def test_a_row_has_a_score_when_it_is_a_number_and_not_skipped():
    table = pa.table(ROWS)
    assert scored_rows(table).tolist() == [True, False, False, True, False, True]
    assert scored_rows(table.drop(["skipped"])).tolist() == [True, False, False, True, True, True]


def test_ranking_is_by_score_then_key():
    assert ranked([0.5, 2.0, 0.5, -1.0]).tolist() == [1, 0, 2, 3]
    assert ranked([0.5, 2.0, 0.5, -1.0], lowest_first=True).tolist() == [3, 0, 2, 1]
    assert ranked([0.5, 2.0, 0.5], keys=[9, 1, 3]).tolist() == [1, 2, 0]


def test_every_reader_drops_the_same_rows(tmp_path):
    path = tmp_path / "scores.parquet"
    pq.write_table(pa.table(ROWS), path)
    selection = select_extremes(path, "sample_index", 1.0, 1.0)
    assert selection.rows == 3 and selection.top_keys == [15, 10, 13] and selection.bottom_keys == [10, 13, 15]
    scores = read_influence_scores(path)
    assert scores.by_id == {"a": 0.5, "d": 0.5, "f": 2.0} and scores.null == 3
    chosen, labels = top_bottom_labels(list(scores.by_id.values()), 1 / 3)
    assert chosen.tolist() == [2, 1] and labels.tolist() == [1, 0]
    valid = scored_rows(pa.table(ROWS))
    indices, values = np.array(ROWS["sample_index"])[valid], np.array(ROWS["score"], float)[valid]
    assert top_k(indices, values, 2) == [10, 15]
