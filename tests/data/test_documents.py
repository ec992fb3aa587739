import gzip

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mda_curate.data.documents import ReadStats, read_documents
from mda_curate.errors import UserError

BAD_LINES = [
    b'{"text": "good one", "id": "a", "domain": "prose"}',
    b"",
    b'{"text": oops}',
    b'{"id": "no text"}',
    b'{"text": 42}',
    b'{"text": "caf\xe9"}',
    b"[1, 2]",
    b'{"text": "good two"}',
]


def _write(path, lines):
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def test_malformed_json_names_file_and_line(tmp_path):
    data = _write(tmp_path / "bad.jsonl", [b'{"text": "fine"}', b'{"text": oops}'])
    with pytest.raises(UserError, match=rf"^{data}:2: malformed JSON \(.*column 10\)"):
        list(read_documents([data]))


def test_missing_file_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="no such file"):
        list(read_documents([tmp_path / "missing.jsonl"]))


def test_skip_bad_counts_every_reason(tmp_path):
    data = _write(tmp_path / "mixed.jsonl", BAD_LINES)
    stats = ReadStats()
    docs = list(read_documents([data], skip_bad=True, stats=stats))
    assert [d.text for d in docs] == ["good one", "good two"]
    assert docs[0].doc_id == "a" and docs[0].domain == "prose"
    assert docs[1].doc_id == "mixed.jsonl:8" and docs[1].domain == "unknown"
    assert stats.rejected == {
        "blank line": 1,
        "malformed JSON": 1,
        "missing 'text'": 1,
        "non-string 'text'": 1,
        "invalid UTF-8": 1,
        "not a JSON object": 1,
    }
    assert stats.read == stats.kept + stats.total_rejected == len(BAD_LINES)
    assert stats.examples[0] == f"{data}:2: blank line"
    assert stats.examples[4].startswith(f"{data}:6: invalid UTF-8 (at byte ")


def test_gzip_jsonl_and_parquet(tmp_path):
    gz = tmp_path / "docs.jsonl.gz"
    gz.write_bytes(gzip.compress(b'{"text": "zipped"}\n'))
    table = pa.table({"id": ["p1"], "text": ["from parquet"], "domain": ["code"]})
    pq.write_table(table, tmp_path / "docs.parquet")
    docs = list(read_documents([gz, tmp_path / "docs.parquet"]))
    assert [(d.doc_id, d.text, d.domain) for d in docs] == [
        ("docs.jsonl.gz:1", "zipped", "unknown"),
        ("p1", "from parquet", "code"),
    ]


def test_unreadable_parquet_is_a_user_error(tmp_path):
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"not parquet")
    with pytest.raises(UserError, match=f"{bad}: not a readable parquet file"):
        list(read_documents([bad]))
