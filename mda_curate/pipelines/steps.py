"""Catalyst steps for any datatrove pipeline: score, filter, and repeat (or subsample) documents.

Every step is cheap to pickle: the classifier is loaded on the worker at first use, and values that
an earlier pass computes over all ranks (a top-fraction cutoff, a repeat factor, mix rates) are
:class:`Deferred` and read on the worker when the step first needs them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
from abc import abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.filters.base_filter import BaseFilter
from datatrove.pipeline.writers.disk_base import DiskWriter
from datatrove.utils.batching import batched
from datatrove.utils.typeshelper import StatHints

from mda_curate.pipelines.reader import SOURCE_KEY

SCORE_KEY = "catalyst_score"
REPEAT_KEY = "repeat_index"


def load_scorer(path: str | None) -> Callable[[list[str]], Sequence[float]]:
    """The one seam to the classifier: ``texts -> catalyst probabilities`` (``None``: the shipped default)."""
    from mda_curate.classifier import load_classifier

    classifier = load_classifier(path)
    return lambda texts: classifier.score(texts, batch_size=len(texts))


def classifier_fingerprint(path: str | None) -> dict[str, dict]:
    """The identity of the classifier's model and card (``None``: the shipped default), for resume checks."""
    from pathlib import Path

    from mda_curate.classifier.model import CARD_JSON, DEFAULT_CLASSIFIER, MODEL_FILE
    from mda_curate.fingerprint import file_identity

    folder = Path(path) if path is not None else DEFAULT_CLASSIFIER
    folder = folder.parent if folder.is_file() else folder
    return {name: file_identity(str(folder / name)) for name in (MODEL_FILE, CARD_JSON)}


def unit_hash(*parts: object) -> int:
    """A 64-bit hash of ``parts`` that is the same in every process (unlike ``hash``)."""
    digest = hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


@dataclass(frozen=True)
class Deferred:
    """A value an earlier pass writes to the JSON file ``path`` under ``key``, read where it is used.

    A file with an ``error`` (the pass refused the data) raises it as a UserError."""

    path: str
    key: str

    def resolve(self):
        return read_reduced(self.path)[self.key]


def read_reduced(path: str) -> dict:
    """The values a reduce pass wrote to ``path``; a UserError when it refused the data."""
    import fsspec

    from mda_curate.errors import UserError

    with fsspec.open(path, "rt") as handle:
        values = json.load(handle)
    if "error" in values:
        raise UserError(values["error"])
    return values


def resolve(value):
    """``value``, or what a :class:`Deferred` value holds."""
    return value.resolve() if isinstance(value, Deferred) else value


class CatalystScorer(PipelineStep):
    """Annotate ``metadata["catalyst_score"]`` (a probability; higher = more catalyst), in batches.

    ``classifier`` is a classifier folder (``None``: the shipped default), loaded on the worker.
    """

    name = "🧪 Catalyst scorer"
    type = "🔢 - ANNOTATOR"

    def __init__(self, classifier: str | None = None, batch_size: int = 256):
        super().__init__()
        self.classifier = classifier
        self.batch_size = batch_size
        self._score = None

    def __getstate__(self):
        return {**self.__dict__, "_score": None}

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        for batch in batched(data, self.batch_size):
            with self.track_time("batch"):
                if self._score is None:
                    self._score = load_scorer(self.classifier)
                scores = self._score([doc.text for doc in batch])
            self.stat_update("batches")
            self.stat_update(StatHints.total, StatHints.forwarded, value=len(batch), unit="batch")
            for doc, score in zip(batch, scores):
                doc.metadata[SCORE_KEY] = float(score)
                yield doc


class RandomScorer(PipelineStep):
    """Annotate ``metadata["catalyst_score"]`` with a uniform draw in [0, 1) from a hash of (``seed``, id):
    the random control of a catalyst pipeline, which then selects documents exactly as it would by the
    classifier's scores (the same number under a top fraction), but regardless of their text."""

    name = "🎲 Random scorer"
    type = "🔢 - ANNOTATOR"

    def __init__(self, seed: int = 0):
        super().__init__()
        self.seed = seed

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        for doc in data:
            self.stat_update(StatHints.total, StatHints.forwarded)
            doc.metadata[SCORE_KEY] = unit_hash("random", self.seed, doc.id) / 2**64
            yield doc


def catalyst_score(doc: Document) -> float:
    try:
        return doc.metadata[SCORE_KEY]
    except KeyError:
        raise ValueError(f"document {doc.id} has no {SCORE_KEY!r}: put a CatalystScorer before this step") from None


class CatalystFilter(BaseFilter):
    """Keep documents whose catalyst score is at least ``threshold``; drop the rest (reason
    ``below_threshold``). With ``tie_key``, a score equal to ``threshold`` is kept only when the
    document's id hash (:func:`unit_hash`) is at most ``tie_key``: that makes a top-fraction cutoff
    exact even with tied scores (see :func:`mda_curate.pipelines.scan.top_fraction_cutoff`).
    """

    name = "🧪 Catalyst filter"

    def __init__(
        self,
        threshold: float | Deferred,
        tie_key: int | Deferred | None = None,
        exclusion_writer: DiskWriter | None = None,
    ):
        super().__init__(exclusion_writer)
        self.threshold = threshold
        self.tie_key = tie_key

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        self.threshold, self.tie_key = resolve(self.threshold), resolve(self.tie_key)
        yield from super().run(data, rank, world_size)

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        return True if reaches(doc, self.threshold, self.tie_key) else (False, "below_threshold")


def reaches(doc: Document, threshold: float, tie_key: int | None = None) -> bool:
    """Whether ``doc``'s catalyst score is at least ``threshold``; with ``tie_key``, a score equal to it
    counts only when the id hash is at most ``tie_key`` (an exact top-fraction cutoff)."""
    score = catalyst_score(doc)
    return score > threshold or (score == threshold and (tie_key is None or unit_hash(doc.id) <= tie_key))


class Resampler(PipelineStep):
    """Emit each document ``rate(doc)`` times on average: ``floor(rate)`` copies plus one more with
    probability ``rate - floor(rate)``, decided by a hash of (seed, id) so every run agrees.

    The original keeps its id and gets ``metadata["repeat_index"] = 0``; copy k gets the id
    ``<id>#<k>`` and ``repeat_index = k``. A document with no copies is dropped (``dropped_<reason>``,
    and to ``exclusion_writer``). Stats: ``total``, ``forwarded``, ``dropped``, ``upsampled`` (extra copies).
    """

    type = "🔁 - RESAMPLER"
    drop_reason = "subsampled"

    def __init__(self, seed: int = 0, exclusion_writer: DiskWriter | None = None):
        super().__init__()
        self.seed = seed
        self.exclusion_writer = exclusion_writer

    @abstractmethod
    def rate(self, doc: Document) -> float:
        """The expected number of copies of ``doc``."""

    def resolve_settings(self) -> None:
        """Read :class:`Deferred` settings; called on the worker before the first document."""

    def copies(self, doc: Document) -> int:
        rate = self.rate(doc)
        whole = math.floor(rate)
        return whole + (unit_hash(self.seed, doc.id) / 2**64 < rate - whole)

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        self.resolve_settings()
        with self.exclusion_writer if self.exclusion_writer else contextlib.nullcontext() as writer:
            for doc in data:
                self.stat_update(StatHints.total)
                with self.track_time():
                    copies = self.copies(doc)
                if copies == 0:
                    self.stat_update(StatHints.dropped, f"dropped_{self.drop_reason}")
                    if writer:
                        doc.metadata["filter_reason"] = self.drop_reason
                        writer.write(doc, rank)
                    continue
                self.stat_update(StatHints.forwarded)
                self.stat_update("upsampled", value=copies - 1)
                doc.metadata[REPEAT_KEY] = 0
                repeats = [_repeat(doc, k) for k in range(1, copies)]  # before a later step can change doc
                yield doc
                yield from repeats


def _repeat(doc: Document, k: int) -> Document:
    return replace(doc, id=f"{doc.id}#{k}", metadata={**doc.metadata, REPEAT_KEY: k})


class CatalystUpsampler(Resampler):
    """Repeat documents by catalyst-score band: ``bands = [(min_score, factor), ...]``; a document takes
    the factor of the highest band whose ``min_score`` its score reaches, else 1. Factors below 1
    subsample; fractional factors are rounded per document (see :class:`Resampler`). With ``tie_key``
    (a top-fraction cutoff, one band), a score equal to the band's ``min_score`` reaches it only when the
    id hash is at most ``tie_key``, as in :class:`CatalystFilter`.
    """

    name = "🧪 Catalyst upsampler"

    def __init__(
        self,
        bands: Sequence[tuple[float, float]] | Deferred,
        seed: int = 0,
        exclusion_writer: DiskWriter | None = None,
        tie_key: int | Deferred | None = None,
    ):
        super().__init__(seed, exclusion_writer)
        self.bands = bands
        self.tie_key = tie_key

    def resolve_settings(self) -> None:
        self.bands = sorted(map(tuple, resolve(self.bands)))
        self.tie_key = resolve(self.tie_key)

    def rate(self, doc: Document) -> float:
        return next((factor for low, factor in reversed(self.bands) if reaches(doc, low, self.tie_key)), 1.0)


class SourceMixer(Resampler):
    """Resample each source (``metadata["mix_source"]``, set by the reader) at its own ``rates[source]``."""

    name = "🥣 Source mixer"

    def __init__(
        self, rates: Mapping[str, float] | Deferred, seed: int = 0, exclusion_writer: DiskWriter | None = None
    ):
        super().__init__(seed, exclusion_writer)
        self.rates = rates

    def resolve_settings(self) -> None:
        self.rates = resolve(self.rates)

    def rate(self, doc: Document) -> float:
        return self.rates[doc.metadata[SOURCE_KEY]]
