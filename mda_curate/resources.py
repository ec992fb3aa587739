"""Artifacts shipped with the package: the sample corpus (``examples/data``) and its tokenizer (``examples/tokenizer``).

Both are mapped into the wheel as ``mda_curate.sample_data`` and ``mda_curate.sample_tokenizer``, so they
resolve the same way from a source checkout, an editable install and a plain ``pip install .``.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from mda_curate.errors import UserError


def _resource_dir(package: str, source: str) -> Path:
    try:
        path = Path(str(files(package)))
    except ModuleNotFoundError:
        path = Path(__file__).resolve().parent.parent / source
    if not path.is_dir():
        raise UserError(f"{source}: shipped artifact missing from this installation")
    return path


def sample_corpus_dir() -> Path:
    """Folder holding ``train.parquet``, ``heldout.parquet`` and ``SOURCES.md``."""
    return _resource_dir("mda_curate.sample_data", "examples/data")


def sample_tokenizer_dir() -> Path:
    """The byte-level BPE (vocab 1024) trained on the sample corpus's train split."""
    return _resource_dir("mda_curate.sample_tokenizer", "examples/tokenizer")
