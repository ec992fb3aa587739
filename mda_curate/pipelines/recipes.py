"""The score, filter, upsample and mix pipelines, as plans of datatrove passes.

A :class:`Plan` is one or three passes over the same inputs. One-pass plans (score; filter by
threshold; upsample by factor) read, score, act and write. Plans that need a value over all ranks
(top fraction, target share, mix) first scan (read, score, record), then reduce the records in one
task, then run the one-pass pipeline with the reduced value (so scoring runs twice, and no
intermediate copy of the data is written). Layout of ``output``:

- ``<rank>.jsonl`` / ``<rank>.parquet``: the kept documents (with upsampled copies);
- ``excluded/rejected_<rank>.jsonl``: unreadable lines (``filter_reason``, ``detail``, ``file``, ``line``);
- ``excluded/dropped_<rank>.jsonl``: dropped documents (``filter_reason``, ``catalyst_score``);
- ``logs/<pass>/``: datatrove's logs, per-rank stats and completions; ``logs/reduce/result.json``;
- ``stats.json``: the accounting, written by :func:`mda_curate.pipelines.run.run_plan`.

A plan records the content it reads (:attr:`Plan.content`: each input file's and the classifier's
fingerprint), so a rerun into the same output resumes only over the same content. Gzip output has a
zero header time and no file name in it, so identical runs write identical bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import fsspec.compression

from mda_curate.errors import UserError
from mda_curate.pipelines.reader import LOCATION_KEY, AccountedReader, find_input_files
from mda_curate.pipelines.scan import (
    Reduce,
    ScanLog,
    mix_rates,
    target_share_bands,
    top_fraction_bands,
    top_fraction_cutoff,
)
from mda_curate.pipelines.steps import (
    CatalystFilter,
    CatalystScorer,
    CatalystUpsampler,
    Deferred,
    RandomScorer,
    SourceMixer,
    classifier_fingerprint,
)

SCAN, REDUCE, MAIN = "scan", "reduce", "main"


def _reproducible_gzip(handle, mode: str = "rb", **kwargs):
    from gzip import GzipFile

    return GzipFile(filename="", fileobj=handle, mode=mode, mtime=0, **kwargs)


# registered on import, so also on workers (their pipelines import this module)
fsspec.compression.register_compression("gzip", _reproducible_gzip, "gz", force=True)


@dataclass(frozen=True)
class Layout:
    """Where a plan writes (see the module docstring); ``fmt`` is ``jsonl`` or ``parquet``, ``compression``
    ``None``, ``gzip`` or ``zstd`` (JSONL only; exclusions are always JSONL)."""

    output: str
    fmt: str = "jsonl"
    compression: str | None = None

    def logs(self, pass_name: str) -> str:
        return f"{self.output}/logs/{pass_name}"

    @property
    def scan_records(self) -> str:
        return f"{self.logs(SCAN)}/records"

    @property
    def reduced(self) -> str:
        return f"{self.logs(REDUCE)}/result.json"

    def writer(self):
        from datatrove.pipeline.writers import JsonlWriter, ParquetWriter

        if self.fmt == "parquet":
            return ParquetWriter(self.output, output_filename="${rank}.parquet", adapter=kept_record)
        return JsonlWriter(
            self.output, output_filename="${rank}.jsonl", compression=self.compression, adapter=kept_record
        )

    def excluded(self, kind: str):
        from datatrove.pipeline.writers import JsonlWriter

        folder = f"{self.output}/excluded"
        return JsonlWriter(
            folder, output_filename=f"{kind}_${{rank}}.jsonl", compression=self.compression, adapter=excluded_record
        )


def kept_record(writer, document) -> dict:
    """The output writers' adapter: datatrove's default record without the reader's ``location`` and without
    its deep copy of the document, which costs as much as the serialization (the record is serialized at once)."""
    metadata = {key: value for key, value in document.metadata.items() if key != LOCATION_KEY}
    return _record(writer, document, metadata)


def excluded_record(writer, document) -> dict:
    """The exclusion writers' adapter: as :func:`kept_record`, with the reader's ``location`` as ``file`` and
    ``line`` in the metadata (rejected lines have them already)."""
    metadata = {key: value for key, value in document.metadata.items() if key != LOCATION_KEY}
    return _record(writer, document, {**metadata, **document.metadata.get(LOCATION_KEY, {})})


def _record(writer, document, metadata: dict) -> dict:
    if document.media or writer.expand_metadata:
        return writer._default_adapter(replace(document, metadata=metadata))
    record = {"text": document.text, "id": document.id, "metadata": metadata}
    return {key: value for key, value in record.items() if value}


@dataclass
class Pass:
    name: str
    pipeline: list
    tasks: int


@dataclass
class Plan:
    """The passes of one pipeline run, the settings recorded with its stats and the content it reads
    (fingerprints of the inputs and the classifier, see :mod:`mda_curate.fingerprint`)."""

    pipeline: str
    layout: Layout
    passes: list[Pass]
    settings: dict = field(default_factory=dict)
    content: dict = field(default_factory=dict)

    @property
    def tasks(self) -> int:
        return self.passes[-1].tasks


@dataclass(frozen=True)
class Inputs:
    """Input files (see :func:`find_input_files`) and, for a mix, the INPUT each came from."""

    files: list[tuple[str, str]]
    sources: list[str] | None = None

    @classmethod
    def find(cls, specs: Sequence[str], tag_sources: bool = False) -> Inputs:
        """The files of ``specs``, each read once; with ``tag_sources``, a file in two INPUTs is refused."""
        groups = [find_input_files([spec]) for spec in specs]
        files, sources, first_spec = [], [], {}
        for spec, group in zip(specs, groups):
            for url, label in group:
                if url in first_spec:
                    if tag_sources and first_spec[url] != spec:
                        raise UserError(f"{url}: in two mix sources ({first_spec[url]} and {spec}); list it in one")
                    continue
                first_spec[url] = spec
                files.append((url, label))
                sources.append(spec)
        return cls(files, sources if tag_sources else None)

    def fingerprint(self) -> dict[str, dict]:
        from mda_curate.fingerprint import fingerprint

        return fingerprint(url for url, _ in self.files)

    def reader(self, layout: Layout | None = None) -> AccountedReader:
        """A reader; with ``layout``, rejected lines go to its exclusion output."""
        excluded = layout.excluded("rejected") if layout else None
        return AccountedReader(self.files, exclusion_writer=excluded, sources=self.sources)


def score_plan(inputs: Inputs, layout: Layout, classifier: str | None = None, tasks: int | None = None) -> Plan:
    """Keep every valid document, annotated with ``catalyst_score``."""
    steps = [inputs.reader(layout), CatalystScorer(classifier), layout.writer()]
    passes = [Pass(MAIN, steps, tasks or len(inputs.files))]
    return Plan("score", layout, passes, {"classifier": classifier}, _content(inputs, classifier))


def filter_plan(
    inputs: Inputs,
    layout: Layout,
    classifier: str | None = None,
    threshold: float | None = None,
    top_fraction: float | None = None,
    tasks: int | None = None,
) -> Plan:
    """Keep documents scoring at least ``threshold``, or exactly the ``top_fraction`` best over all ranks."""
    tasks = tasks or len(inputs.files)
    settings = {"classifier": classifier, "threshold": threshold, "top_fraction": top_fraction}
    dropped = layout.excluded("dropped")
    if top_fraction is None:
        step = CatalystFilter(threshold, exclusion_writer=dropped)
        main = _main(inputs, layout, CatalystScorer(classifier), step, tasks)
        return Plan("filter", layout, [main], settings, _content(inputs, classifier))
    step = CatalystFilter(Deferred(layout.reduced, "threshold"), Deferred(layout.reduced, "tie_key"), dropped)
    scorer = CatalystScorer(classifier)
    passes = _scan_and_reduce(inputs, layout, [scorer], tasks, top_fraction_cutoff, fraction=top_fraction)
    main = _main(inputs, layout, scorer, step, tasks)
    return Plan("filter", layout, passes + [main], settings, _content(inputs, classifier))


def upsample_plan(
    inputs: Inputs,
    layout: Layout,
    classifier: str | None = None,
    bands: Sequence[tuple[float, float]] | None = None,
    target_share: float | None = None,
    threshold: float = 0.5,
    seed: int = 0,
    tasks: int | None = None,
    top_fraction: float | None = None,
    random: bool = False,
) -> Plan:
    """Repeat documents by score band (``bands = [(min_score, factor), ...]``); or repeat the documents
    scoring at least ``threshold`` until they make ``target_share`` of the output's characters; or repeat
    exactly the ``top_fraction`` best-scoring documents by the one band's factor. ``random`` scores each
    document by a hash of (``seed``, id) instead of the classifier: the pipeline's random control."""
    tasks = tasks or len(inputs.files)
    settings = {"classifier": None if random else classifier, "bands": bands, "target_share": target_share}
    settings |= {"threshold": threshold, "seed": seed}
    settings |= {"top_fraction": top_fraction} if top_fraction is not None else {}  # absent: older plans resume
    settings |= {"random": True} if random else {}
    scorer = RandomScorer(seed) if random else CatalystScorer(classifier)
    content = {"inputs": inputs.fingerprint(), "classifier": "random"} if random else _content(inputs, classifier)
    dropped = layout.excluded("dropped")
    if target_share is None and top_fraction is None:
        step = CatalystUpsampler(bands, seed=seed, exclusion_writer=dropped)
        return Plan("upsample", layout, [_main(inputs, layout, scorer, step, tasks)], settings, content)
    if top_fraction is None:
        reduce, reduce_settings = target_share_bands, dict(share=target_share, threshold=threshold)
    else:
        if bands is None or len(bands) != 1:
            raise UserError(f"upsample with a top fraction takes one factor (got the bands {bands})")
        reduce, reduce_settings = top_fraction_bands, dict(fraction=top_fraction, factor=bands[0][1])
    deferred = Deferred(layout.reduced, "bands"), Deferred(layout.reduced, "tie_key")
    step = CatalystUpsampler(deferred[0], seed=seed, exclusion_writer=dropped, tie_key=deferred[1])
    passes = _scan_and_reduce(inputs, layout, [scorer], tasks, reduce, **reduce_settings)
    return Plan("upsample", layout, passes + [_main(inputs, layout, scorer, step, tasks)], settings, content)


def mix_plan(
    inputs: Inputs,
    layout: Layout,
    weights: dict[str, float],
    size: int | None = None,
    seed: int = 0,
    tasks: int | None = None,
) -> Plan:
    """Resample each source (``inputs.sources``) so that it makes ``weights[source]`` of the output's
    characters; ``size`` is the output's size in characters (default: the largest mix that repeats nothing)."""
    tasks = tasks or len(inputs.files)
    step = SourceMixer(Deferred(layout.reduced, "rates"), seed=seed, exclusion_writer=layout.excluded("dropped"))
    passes = _scan_and_reduce(inputs, layout, [], tasks, mix_rates, weights=weights, size=size)
    main = Pass(MAIN, [inputs.reader(layout), step, layout.writer()], tasks)
    settings = {"weights": weights, "size": size, "seed": seed}
    return Plan("mix", layout, passes + [main], settings, {"inputs": inputs.fingerprint()})


def _content(inputs: Inputs, classifier: str | None) -> dict:
    return {"inputs": inputs.fingerprint(), "classifier": classifier_fingerprint(classifier)}


def _main(inputs: Inputs, layout: Layout, scorer, step, tasks: int) -> Pass:
    return Pass(MAIN, [inputs.reader(layout), scorer, step, layout.writer()], tasks)


def _scan_and_reduce(inputs: Inputs, layout: Layout, steps: list, tasks: int, function, **settings) -> list[Pass]:
    """A scan pass (read, ``steps``, record) and a 1-task pass writing ``function(records, **settings)``."""
    scan = Pass(SCAN, [inputs.reader(), *steps, ScanLog(layout.scan_records)], tasks)
    reduce = Pass(REDUCE, [Reduce(layout.scan_records, layout.reduced, function, **settings)], 1)
    return [scan, reduce]
