"""Artifacts shipped with the package: the sample corpus (``examples/data``) and its tokenizer (``examples/tokenizer``).

A wheel carries them as ``mda_curate/sample_data`` and ``mda_curate/sample_tokenizer`` (see pyproject's
package-dir); a source checkout or an editable install reads them from ``examples/``.
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
