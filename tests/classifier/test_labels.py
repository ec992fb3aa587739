"""Influence-score files, top/bottom labels and source groups."""

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mda_curate.classifier.labels import document_group, domain_labels, read_influence_scores, top_bottom_labels
from mda_curate.errors import UserError


def test_null_and_nan_scores_are_dropped_and_counted(tmp_path):
    path = tmp_path / "scores.parquet"
    pq.write_table(pa.table({"doc_id": ["a", "b", "c", "d"], "score": [1.0, None, float("nan"), -2.0]}), path)
    scores = read_influence_scores(path)
    assert scores.by_id == {"a": 1.0, "d": -2.0} and scores.rows == 4 and scores.null == 2


@pytest.mark.parametrize(
    "table, match",
    [
        ({"doc_id": ["a"]}, "missing column.*score"),
        ({"doc_id": ["a", "a"], "score": [1.0, 2.0]}, r":2: duplicate doc_id 'a'"),
        ({"doc_id": ["a", None], "score": [1.0, 2.0]}, r":2: null doc_id"),
    ],
)
def test_bad_score_files_are_user_errors(tmp_path, table, match):
    path = tmp_path / "scores.parquet"
    pq.write_table(pa.table(table), path)
    with pytest.raises(UserError, match=match):
        read_influence_scores(path)


def test_top_and_bottom_fractions():
    chosen, labels = top_bottom_labels([0.5, 3.0, -1.0, 2.0, 0.0, 1.0, 9.0, -5.0, 0.1, 0.2], 0.2)
    assert chosen.tolist() == [6, 1, 2, 7] and labels.tolist() == [1, 1, 0, 0]
    with pytest.raises(UserError, match="fraction"):
        top_bottom_labels([1.0, 2.0], 0.6)
    with pytest.raises(UserError, match="too few"):
        top_bottom_labels([1.0, 2.0], 0.2)


def test_domain_labels_and_groups():
    assert domain_labels(["prose", "code", "latex"], ["code", "latex"]).tolist() == [0, 1, 1]
    assert document_group("linux-doc/usr/share/x.rst#12") == "linux-doc/usr/share/x.rst"
    assert document_group("plain-id") == "plain-id"
