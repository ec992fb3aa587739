"""Artifacts shipped with the package: the sample corpus (``examples/data``), its tokenizer (``examples/tokenizer``)
and the quick demo's starting checkpoint (``examples/demo_checkpoint``).

A wheel carries them as ``mda_curate/sample_data``, ``mda_curate/sample_tokenizer`` and
``mda_curate/demo_checkpoint`` (see pyproject's package-dir); a source checkout or an editable install reads
them from ``examples/``.
"""

from __future__ import annotations

from pathlib import Path

from mda_curate.errors import UserError

PACKAGE = Path(__file__).resolve().parent


def _resource_dir(installed: str, source: str) -> Path:
    for path in (PACKAGE / installed, PACKAGE.parent / source):
        if path.is_dir():
            return path
    raise UserError(f"{source}: shipped artifact missing from this installation")


def sample_corpus_dir() -> Path:
    """Folder holding ``train.parquet``, ``heldout.parquet`` and ``SOURCES.md``."""
    return _resource_dir("sample_data", "examples/data")


def sample_tokenizer_dir() -> Path:
    """The byte-level BPE (vocab 1024) trained on the sample corpus's train split."""
    return _resource_dir("sample_tokenizer", "examples/tokenizer")


def demo_checkpoint_dir() -> Path:
    """The full demo's base run shortly before its induction head forms: weights, AdamW and RNG state
    (``trainer_state.pt``) and the run's ``run.json``; the quick demo trains on from here."""
    return _resource_dir("demo_checkpoint", "examples/demo_checkpoint")
