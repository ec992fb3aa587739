"""datatrove steps and pipelines for catalyst curation: score, filter, upsample and mix.

Steps (usable in any datatrove pipeline): :class:`AccountedReader` (JSONL/parquet; bad lines become
rejections with reasons), :class:`CatalystScorer`, :class:`RandomScorer` (its random control),
:class:`CatalystFilter`, :class:`CatalystUpsampler`, :class:`SourceMixer`. Plans and runner:
:mod:`mda_curate.pipelines.recipes`, :mod:`mda_curate.pipelines.run`.
The repository's top-level ``pipelines/`` folder holds runnable example scripts built on these.
"""

from mda_curate.pipelines.reader import AccountedReader, find_input_files
from mda_curate.pipelines.steps import (
    CatalystFilter,
    CatalystScorer,
    CatalystUpsampler,
    Deferred,
    RandomScorer,
    Resampler,
    SourceMixer,
    load_scorer,
)

__all__ = [
    "AccountedReader",
    "CatalystFilter",
    "CatalystScorer",
    "CatalystUpsampler",
    "Deferred",
    "RandomScorer",
    "Resampler",
    "SourceMixer",
    "find_input_files",
    "load_scorer",
]
