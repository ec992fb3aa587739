"""Training samples to score, from any of the project's data sources, with random access by index.

``open_samples(path, ...)`` accepts

- a JSONL/parquet file of documents (``text``, optional ``id``/``domain``): tokenized with the model's
  tokenizer (no special tokens added) and truncated to ``max_length`` (only the first
  ``64 * max_length`` characters are tokenized, so a huge document costs no more than a long one), each
  document once, its tokens kept in memory for the later passes (a tokenized folder is read from disk);
- a tokenized folder (``mda-tokenized/1``): each document truncated to ``max_length``;
- a training run folder of ``mda-curate train`` with ``steps=(a, b)``: the run's own samples of steps
  ``a .. b-1`` (global sample index ``step * batch_size + row``), exactly as the model saw them;
- a Pythia ``.bin/.idx`` prefix with ``steps=(a, b)``: the preshuffled rows of those steps.

Documents shorter than 2 tokens cannot have a loss; they keep their row with ``skipped`` set.
``Samples.content`` fingerprints the files the samples come from (see :mod:`mda_curate.fingerprint`), so
that resumed work is keyed on the data, not on its path.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from mda_curate.errors import FieldError, UserError
from mda_curate.fingerprint import fingerprint

if TYPE_CHECKING:
    import torch

SHORT = "shorter than 2 tokens"


@dataclass(frozen=True)
class Sample:
    index: int  # position in the input, or the global sample index for runs and Pythia streams
    doc_id: str
    domain: str
    tokens: np.ndarray

    @property
    def skipped(self) -> str | None:
        return SHORT if len(self.tokens) < 2 else None


class Samples:
    """A random-access sequence of :class:`Sample`; ``describe`` names the source for the arguments file,
    ``content`` fingerprints its files (empty for samples built in memory)."""

    def __init__(self, describe: str, length: int, get, content: dict | None = None):
        self.describe = describe
        self._length = length
        self._get = get
        self.content = content or {}

    def __len__(self) -> int:
        return self._length

    def __getitem__(self, i: int) -> Sample:
        return self._get(i)


def open_samples(
    path: str | Path, tokenizer=None, max_length: int = 512, steps: tuple[int, int] | None = None
) -> Samples:
    """Open ``path`` as training samples (see the module docstring)."""
    from mda_curate.data.tokenized import is_tokenized

    path = Path(path)
    if (path / "order.npy").is_file():
        return _run_samples(path, _require_steps(path, steps))
    if path.with_suffix(".idx").is_file() and path.with_suffix(".bin").is_file():
        return _pythia_samples(path.with_suffix(""), _require_steps(path, steps), max_length)
    if steps is not None:
        raise UserError(f"{path}: steps apply to a training run folder or a Pythia .bin/.idx prefix only")
    if not path.exists():
        raise UserError(f"{path}: no such file or folder")
    if is_tokenized(path):
        return _tokenized_samples(path, max_length)
    return _document_samples(path, tokenizer, max_length)


def parse_steps(text: str, name: str = "steps") -> tuple[int, int]:
    """``"A:B"`` → ``(A, B)``: steps ``A`` to ``B - 1``; an error names the field ``name``."""
    parts = text.split(":")
    if len(parts) != 2 or not all(p.isdigit() for p in parts) or int(parts[0]) >= int(parts[1]):
        raise FieldError(name, f"must be START:END with START < END, e.g. 6000:6500 (got {text!r})")
    return int(parts[0]), int(parts[1])


def _require_steps(path: Path, steps: tuple[int, int] | None) -> tuple[int, int]:
    if steps is None:
        raise UserError(f"{path}: a training stream needs steps START:END (the window to score)")
    return steps


def _document_samples(path: Path, tokenizer, max_length: int) -> Samples:
    from mda_curate.data.documents import read_documents

    docs = list(read_documents([path]))
    if not docs:
        raise UserError(f"{path}: no documents")

    @functools.cache  # every pass (curvature, scores) reads each document: it is tokenized once
    def get(i: int) -> Sample:
        doc = docs[i]
        ids = tokenizer(doc.text[: max_length * 64], add_special_tokens=False)["input_ids"][:max_length]
        return Sample(i, doc.doc_id, doc.domain, np.asarray(ids, dtype=np.int64))

    return Samples(str(path.resolve()), len(docs), get, fingerprint([path]))


def _tokenized_samples(path: Path, max_length: int) -> Samples:
    from mda_curate.data.tokenized import TokenizedCorpus

    corpus = TokenizedCorpus.open(path)
    if len(corpus) == 0:
        raise UserError(f"{path}: no documents")

    def get(i: int) -> Sample:
        tokens = corpus.document(i)[:max_length].astype(np.int64)
        return Sample(i, corpus.doc_ids[i], str(corpus.domains[i]), tokens)

    return Samples(str(path.resolve()), len(corpus), get, fingerprint([path]))


def _run_samples(run_dir: Path, steps: tuple[int, int]) -> Samples:
    from mda_curate.training.data import DataOrder

    batch_size = json.loads((run_dir / "config.json").read_text())["train"]["batch_size"]
    order = DataOrder.load(run_dir)
    first, last = steps[0] * batch_size, steps[1] * batch_size
    if last > len(order):
        run_steps = len(order) // batch_size
        raise UserError(f"{run_dir}: steps {steps[0]}:{steps[1]} go past the run's {run_steps} steps")

    def get(i: int) -> Sample:
        g = first + i
        return Sample(g, f"sample-{g}", order.sample_source(g), order.sample(g).astype(np.int64))

    files = [run_dir / name for name in ("order.npy", "sources.json", "streams.npz")]
    content = fingerprint(files + json.loads((run_dir / "sources.json").read_text())["corpora"])
    return Samples(f"{run_dir.resolve()} steps {steps[0]}:{steps[1]}", last - first, get, content)


def _pythia_samples(prefix: Path, steps: tuple[int, int], max_length: int) -> Samples:
    from mda_curate.data.megatron import PythiaStream

    stream = PythiaStream(prefix)
    first, last = stream.global_index(steps[0], 0), stream.global_index(steps[1], 0)
    if steps[1] > stream.num_steps:
        raise UserError(f"{prefix}: steps {steps[0]}:{steps[1]} go past the stream's {stream.num_steps} steps")

    def get(i: int) -> Sample:
        g = first + i
        return Sample(g, f"row-{g}", "pile", np.asarray(stream.sequences[g][:max_length], dtype=np.int64))

    content = fingerprint([prefix.with_suffix(".idx"), prefix.with_suffix(".bin")])
    return Samples(f"{prefix.resolve()} steps {steps[0]}:{steps[1]}", last - first, get, content)


class Batch(NamedTuple):
    positions: list[int]  # positions in the ``Samples``
    samples: list[Sample]
    input_ids: torch.Tensor
    attention_mask: torch.Tensor


class Batches:
    """Re-iterable right-padded :class:`Batch` es of the valid (not skipped) samples at positions ``indices``."""

    def __init__(self, samples: Samples, indices, batch_size: int, pad_id: int, device="cpu"):
        self.samples, self.indices, self.batch_size, self.pad_id = samples, indices, batch_size, pad_id
        self.device = device

    def __len__(self) -> int:
        return -(-len(self.indices) // self.batch_size)  # noqa: PLE0303 (the ceiling of a non-negative ratio)

    def __iter__(self):
        positions: list[int] = []
        chunk: list[Sample] = []
        for i in self.indices:
            sample = self.samples[i]
            if sample.skipped is None:
                positions.append(i)
                chunk.append(sample)
            if len(positions) == self.batch_size:
                yield Batch(positions, chunk, *self._pad(chunk))
                positions, chunk = [], []
        if positions:
            yield Batch(positions, chunk, *self._pad(chunk))

    def _pad(self, chunk: list[Sample]):
        import torch

        width = max(len(s.tokens) for s in chunk)
        ids = torch.full((len(chunk), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(chunk), width), dtype=torch.long)
        for row, sample in enumerate(chunk):
            ids[row, : len(sample.tokens)] = torch.from_numpy(sample.tokens)
            mask[row, : len(sample.tokens)] = 1
        return ids.to(self.device), mask.to(self.device)
