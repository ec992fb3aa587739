"""Pythia's preshuffled training stream: Megatron ``MMIDIDX`` ``.bin/.idx`` token files.

The ``.idx`` file is ``b"MMIDIDX\\x00\\x00"``, version ``<Q`` (=1), dtype code ``<B``, sequence
count ``<Q``, document count ``<Q``, then ``int32 sizes[count]``, ``int64 pointers[count]`` (byte
offsets into ``.bin``) and ``int64 doc_idx[doc_count]``. In EleutherAI's
``pile-deduped-pythia-preshuffled`` every sequence holds 2049 tokens and training step ``s`` reads
sequences ``s*1024 .. s*1024+1023``; a sequence's global index is ``step * batch_size + row``.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mda_curate.errors import UserError

MAGIC = b"MMIDIDX\x00\x00"
VERSION = 1
PYTHIA_SEQ_LEN = 2049
PYTHIA_BATCH_SIZE = 1024
# Integer codes agree across Megatron, GPT-NeoX and fairseq; float codes (6, 7) differ, and tokens are never floats.
DTYPE_CODES = {
    1: np.uint8,
    2: np.int8,
    3: np.int16,
    4: np.int32,
    5: np.int64,
    8: np.uint16,
    9: np.uint32,
    10: np.uint64,
}
_HEADER = struct.Struct("<9sQBQQ")


class IndexedTokens:
    """Random access to the sequences of one ``PREFIX.bin``/``PREFIX.idx`` pair (memory-mapped)."""

    def __init__(self, prefix: str | Path):
        prefix = str(prefix).removesuffix(".idx").removesuffix(".bin")
        self.idx_path, self.bin_path = Path(prefix + ".idx"), Path(prefix + ".bin")
        for path in (self.idx_path, self.bin_path):
            if not path.is_file():
                raise UserError(f"{path}: no such file")
        self.dtype, self.sizes, self.pointers, self.doc_idx = _read_index(self.idx_path)
        self.tokens = (
            np.memmap(self.bin_path, dtype=self.dtype, mode="r")
            if self.bin_path.stat().st_size
            else np.zeros(0, self.dtype)
        )
        self._check_bounds()

    def __len__(self) -> int:
        return len(self.sizes)

    def __getitem__(self, index: int) -> np.ndarray:
        if not -len(self) <= index < len(self):
            raise IndexError(f"sequence {index} out of range for {len(self)} sequences in {self.idx_path}")
        start = self.pointers[index] // self.dtype.itemsize
        return np.asarray(self.tokens[start : start + self.sizes[index]])

    def _check_bounds(self) -> None:
        if not len(self.sizes):
            return
        end_bytes = int(self.pointers[-1]) + int(self.sizes[-1]) * self.dtype.itemsize
        if end_bytes > self.bin_path.stat().st_size:
            raise UserError(
                f"{self.bin_path}: truncated: index needs {end_bytes} bytes, file has {self.bin_path.stat().st_size}"
            )


class PythiaStream:
    """Pythia's training order: the rows of step ``s`` are sequences ``s*batch_size .. (s+1)*batch_size - 1``."""

    def __init__(self, prefix: str | Path, batch_size: int = PYTHIA_BATCH_SIZE, seq_len: int = PYTHIA_SEQ_LEN):
        self.sequences = IndexedTokens(prefix)
        self.batch_size, self.seq_len = batch_size, seq_len

    @property
    def num_steps(self) -> int:
        return len(self.sequences) // self.batch_size

    def global_index(self, step: int, row: int) -> int:
        """The global sequence index of ``row`` in the batch of ``step``."""
        return step * self.batch_size + row

    def step_of(self, global_index: int) -> tuple[int, int]:
        """Inverse of :meth:`global_index`: ``(step, row)``."""
        return divmod(global_index, self.batch_size)

    def step(self, step: int) -> np.ndarray:
        """The ``[batch_size, seq_len]`` token array that training step ``step`` saw."""
        if not 0 <= step < self.num_steps:
            raise UserError(f"{self.sequences.idx_path}: step {step} out of range (0..{self.num_steps - 1})")
        rows = [self.sequences[self.global_index(step, r)] for r in range(self.batch_size)]
        bad = [r for r, row in enumerate(rows) if len(row) != self.seq_len]
        if bad:
            raise UserError(
                f"{self.sequences.idx_path}: step {step} row {bad[0]} has {len(rows[bad[0]])} tokens, "
                f"expected {self.seq_len}"
            )
        return np.stack(rows)


def _read_index(path: Path) -> tuple[np.dtype, np.ndarray, np.ndarray, np.ndarray]:
    data = path.read_bytes()
    if len(data) < _HEADER.size:
        raise UserError(f"{path}: truncated index ({len(data)} bytes, header needs {_HEADER.size})")
    magic, version, code, count, doc_count = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise UserError(f"{path}: not a Megatron MMIDIDX index (magic {magic!r})")
    if version != VERSION:
        raise UserError(f"{path}: unsupported index version {version}")
    if code not in DTYPE_CODES:
        raise UserError(f"{path}: unsupported token dtype code {code}")
    needed = _HEADER.size + 4 * count + 8 * count + 8 * doc_count
    if len(data) < needed:
        raise UserError(f"{path}: truncated index ({len(data)} bytes, {count} sequences need {needed})")
    offset = _HEADER.size
    sizes = np.frombuffer(data, np.int32, count, offset)
    pointers = np.frombuffer(data, np.int64, count, offset + 4 * count)
    doc_idx = np.frombuffer(data, np.int64, doc_count, offset + 12 * count)
    return np.dtype(DTYPE_CODES[code]), sizes, pointers, doc_idx


def write_indexed(prefix: str | Path, sequences: Sequence[np.ndarray], dtype=np.uint16) -> None:
    """Write ``sequences`` as ``PREFIX.bin``/``PREFIX.idx`` in the MMIDIDX format (one document per sequence)."""
    dtype = np.dtype(dtype)
    code = next((c for c, t in DTYPE_CODES.items() if np.dtype(t) == dtype), None)
    if code is None:
        raise ValueError(f"dtype {dtype} has no MMIDIDX code")
    sizes = np.array([len(s) for s in sequences], dtype=np.int32)
    pointers = np.concatenate([[0], np.cumsum(sizes[:-1], dtype=np.int64)]).astype(np.int64) * dtype.itemsize
    prefix = str(prefix)
    with open(prefix + ".bin", "wb") as out:
        for seq in sequences:
            np.asarray(seq, dtype=dtype).tofile(out)
    doc_idx = np.arange(len(sequences) + 1, dtype=np.int64)
    with open(prefix + ".idx", "wb") as out:
        out.write(_HEADER.pack(MAGIC, VERSION, code, len(sequences), len(doc_idx)))
        out.write(sizes.tobytes() + pointers[: len(sizes)].tobytes() + doc_idx.tobytes())
