import struct

import numpy as np
import pytest

from mda_curate.data.megatron import MAGIC, IndexedTokens, PythiaStream, write_indexed
from mda_curate.errors import UserError


def known_sequences(count: int, seq_len: int) -> list[np.ndarray]:
    """Sequence g holds g*1000 + position, so every token names where it came from."""
    return [np.arange(seq_len, dtype=np.int64) + g * 1000 for g in range(count)]


def test_round_trip_of_variable_length_sequences(tmp_path):
    seqs = [np.array([1, 2, 3]), np.array([7]), np.array([9, 8, 7, 6, 5])]
    write_indexed(tmp_path / "part", seqs, dtype=np.uint16)
    tokens = IndexedTokens(tmp_path / "part")
    assert len(tokens) == 3
    assert tokens.dtype == np.uint16
    for got, want in zip([tokens[i] for i in range(3)], seqs):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(tokens[-1], seqs[-1])
    with pytest.raises(IndexError):
        tokens[3]


def test_header_layout_matches_megatron(tmp_path):
    write_indexed(tmp_path / "p", [np.array([5, 6]), np.array([7, 8, 9])], dtype=np.uint16)
    raw = (tmp_path / "p.idx").read_bytes()
    assert raw[:9] == MAGIC
    version, code, count, doc_count = struct.unpack_from("<QBQQ", raw, 9)
    assert (version, code, count, doc_count) == (1, 8, 2, 3)
    sizes = np.frombuffer(raw, np.int32, 2, 34)
    pointers = np.frombuffer(raw, np.int64, 2, 42)
    assert sizes.tolist() == [2, 3] and pointers.tolist() == [0, 4]  # byte offsets of uint16 tokens


def test_pythia_stream_returns_the_rows_of_a_step(tmp_path):
    batch, seq_len, steps = 4, 9, 3
    write_indexed(tmp_path / "stream", known_sequences(batch * steps, seq_len), dtype=np.uint32)
    stream = PythiaStream(tmp_path / "stream", batch_size=batch, seq_len=seq_len)
    assert stream.num_steps == 3
    rows = stream.step(2)
    assert rows.shape == (batch, seq_len)
    assert rows[:, 0].tolist() == [8000, 9000, 10000, 11000]  # sequences 8..11
    assert stream.global_index(2, 3) == 11 and stream.step_of(11) == (2, 3)
    with pytest.raises(UserError, match="step 3 out of range"):
        stream.step(3)


def test_wrong_magic_is_a_clear_error(tmp_path):
    write_indexed(tmp_path / "p", [np.array([1, 2])])
    raw = bytearray((tmp_path / "p.idx").read_bytes())
    raw[:9] = b"NOTANIDX\x00"
    (tmp_path / "p.idx").write_bytes(bytes(raw))
    with pytest.raises(UserError, match=r"p\.idx: not a Megatron MMIDIDX index"):
        IndexedTokens(tmp_path / "p")


def test_truncated_bin_is_a_clear_error(tmp_path):
    write_indexed(tmp_path / "p", known_sequences(3, 10), dtype=np.uint16)
    raw = (tmp_path / "p.bin").read_bytes()
    (tmp_path / "p.bin").write_bytes(raw[:-6])
    with pytest.raises(UserError, match=r"p\.bin: truncated: index needs 60 bytes, file has 54"):
        IndexedTokens(tmp_path / "p")


def test_truncated_idx_is_a_clear_error(tmp_path):
    write_indexed(tmp_path / "p", known_sequences(3, 10))
    raw = (tmp_path / "p.idx").read_bytes()
    (tmp_path / "p.idx").write_bytes(raw[:40])
    with pytest.raises(UserError, match=r"p\.idx: truncated index"):
        IndexedTokens(tmp_path / "p")


def test_missing_files_name_the_path(tmp_path):
    with pytest.raises(UserError, match=r"nothere\.idx: no such file"):
        IndexedTokens(tmp_path / "nothere")


def test_short_row_in_a_step_is_reported(tmp_path):
    seqs = known_sequences(4, 6)
    seqs[2] = seqs[2][:4]
    write_indexed(tmp_path / "s", seqs)
    with pytest.raises(UserError, match="step 1 row 0 has 4 tokens, expected 6"):
        PythiaStream(tmp_path / "s", batch_size=2, seq_len=6).step(1)
