"""Values that need every rank: a scan pass records each document, one task reduces the records.

A top-fraction cutoff, the repeat factor that reaches a target catalyst share and the rates of a mix
depend on all documents, not on one rank's shard. So those pipelines run three passes: every task
writes one small record per document (:class:`ScanLog`: score, size, id hash, source) to
``<scan folder>/<rank>.parquet``; one task (:class:`Reduce`) reads all of them and writes the value
as JSON; the main pass reads it on each worker through :class:`~mda_curate.pipelines.steps.Deferred`.
Records take ~25 bytes per document.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping

import numpy as np
from datatrove.data import DocumentsPipeline
from datatrove.io import get_datafolder
from datatrove.pipeline.base import PipelineStep

from mda_curate.errors import UserError
from mda_curate.pipelines.reader import SOURCE_KEY
from mda_curate.pipelines.steps import SCORE_KEY, unit_hash


class ScanLog(PipelineStep):
    """Pass documents through and record ``score`` (NaN if unscored), ``size`` (characters), ``tie_key``
    (:func:`unit_hash` of the id) and ``source`` of each to ``folder/<rank>.parquet``."""

    name = "📝 Scan log"
    type = "🔢 - ANNOTATOR"

    def __init__(self, folder: str):
        super().__init__()
        self.folder = folder

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        import pyarrow as pa
        import pyarrow.parquet as pq

        columns = {"score": [], "size": [], "tie_key": [], "source": []}
        for doc in data:
            columns["score"].append(doc.metadata.get(SCORE_KEY, math.nan))
            columns["size"].append(len(doc.text))
            columns["tie_key"].append(unit_hash(doc.id))
            columns["source"].append(doc.metadata.get(SOURCE_KEY))
            self.stat_update("recorded")
            yield doc
        types = {"score": pa.float64(), "size": pa.int64(), "tie_key": pa.uint64(), "source": pa.string()}
        table = pa.table({name: pa.array(values, type=types[name]) for name, values in columns.items()})
        with get_datafolder(self.folder).open(f"{rank:05d}.parquet", "wb") as handle:
            pq.write_table(table, handle)


def read_scan(folder: str) -> dict[str, np.ndarray]:
    """All ranks' records as numpy columns, in rank order."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    datafolder = get_datafolder(folder)
    tables = []
    for name in sorted(datafolder.list_files(glob_pattern="*.parquet")):
        with datafolder.open(name, "rb") as handle:
            tables.append(pq.read_table(handle))
    table = pa.concat_tables(tables)
    return {name: table[name].to_numpy(zero_copy_only=False) for name in table.column_names}


class Reduce(PipelineStep):
    """Run in a 1-task pass after a scan: write ``function(records, **settings)`` (a dict) as JSON to
    ``output``; when the function refuses the data (a UserError), write ``{"error": message}`` instead,
    which :class:`~mda_curate.pipelines.steps.Deferred` raises where the value is needed."""

    name = "🧮 Reduce scan"
    type = "🔢 - REDUCER"

    def __init__(self, scan_folder: str, output: str, function: Callable[..., dict], **settings):
        super().__init__()
        self.scan_folder = scan_folder
        self.output = output
        self.function = function
        self.settings = settings

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        import fsspec

        if data:
            yield from data
        try:
            result = self.function(read_scan(self.scan_folder), **self.settings)
        except UserError as err:
            result = {"error": str(err)}
        with fsspec.open(self.output, "wt") as handle:
            json.dump(result, handle, indent=2)


def top_fraction_cutoff(records: Mapping[str, np.ndarray], fraction: float) -> dict:
    """The cutoff that keeps exactly ``round(fraction * N)`` of the N scored documents: the highest
    scores, ties broken by the smaller id hash (what :class:`~mda_curate.pipelines.steps.CatalystFilter`
    does with ``tie_key``)."""
    scores, keys = records["score"], records["tie_key"]
    keep = round(fraction * len(scores))
    if keep == 0:
        return {"threshold": math.inf, "tie_key": None, "documents": len(scores), "keep": 0}
    last = np.lexsort((keys, -scores))[keep - 1]
    return {
        "threshold": float(scores[last]),
        "tie_key": int(keys[last]),
        "documents": len(scores),
        "keep": keep,
    }


def top_fraction_bands(records: Mapping[str, np.ndarray], fraction: float, factor: float) -> dict:
    """The band repeating exactly ``round(fraction * N)`` best-scoring documents ``factor`` times
    (:func:`top_fraction_cutoff`'s threshold and tie key)."""
    cutoff = top_fraction_cutoff(records, fraction)
    return {"bands": [[cutoff["threshold"], factor]], **cutoff}


def target_share_bands(records: Mapping[str, np.ndarray], share: float, threshold: float) -> dict:
    """The factor k for documents scoring at least ``threshold`` (the catalysts) that makes their share
    of characters ``share``: k·C / (k·C + T − C) = share, i.e. k = share·(T − C) / ((1 − share)·C)."""
    sizes = records["size"]
    total = int(sizes.sum())
    catalyst = int(sizes[records["score"] >= threshold].sum())
    if catalyst == 0:
        raise UserError(f"no document scores at least {threshold}: no catalyst text to upsample")
    factor = share * (total - catalyst) / ((1 - share) * catalyst)
    if factor < 1:
        raise UserError(f"the catalyst share is already {catalyst / total:.4g} >= {share}: nothing to upsample")
    return {
        "bands": [[threshold, factor]],
        "tie_key": None,
        "catalyst_chars": catalyst,
        "total_chars": total,
        "share_before": catalyst / total,
    }


def mix_rates(records: Mapping[str, np.ndarray], weights: Mapping[str, float], size: int | None = None) -> dict:
    """Per-source rates so that source i makes ``weights[i]`` (normalised) of the output's characters:
    rate_i = w_i·S / size_i. ``size`` (characters) defaults to the largest mix that repeats nothing."""
    sizes = {source: int(records["size"][records["source"] == source].sum()) for source in weights}
    if empty := [source for source, chars in sizes.items() if chars == 0]:
        raise UserError(f"{empty[0]}: no valid documents to mix")
    total_weight = sum(weights.values())
    shares = {source: weight / total_weight for source, weight in weights.items()}
    size = size or min(sizes[source] / share for source, share in shares.items() if share > 0)
    return {
        "rates": {source: shares[source] * size / sizes[source] for source in weights},
        "source_chars": sizes,
        "target_chars": size,
    }
