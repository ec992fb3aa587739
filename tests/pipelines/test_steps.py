"""The steps on their own: the accounted reader, the scorer, the filter's tie-break and the resamplers."""

import gzip
import json
import pickle

import numpy as np
import pytest
from datatrove.data import Document
from datatrove.pipeline.writers import JsonlWriter

from mda_curate.errors import UserError
from mda_curate.pipelines import (
    AccountedReader,
    CatalystFilter,
    CatalystScorer,
    CatalystUpsampler,
    SourceMixer,
    find_input_files,
)
from mda_curate.pipelines.scan import top_fraction_cutoff
from mda_curate.pipelines.steps import unit_hash


def _stats(step) -> dict:
    return {name: int(value.total) for name, value in step.stats.stats.items()}


def test_reader_turns_every_bad_line_into_a_rejection_with_file_and_line(corpus, tmp_path, read_jsonl):
    excluded = tmp_path / "excluded"
    reader = AccountedReader(find_input_files([str(corpus.folder)]), JsonlWriter(str(excluded), compression=None))
    docs = list(reader.run())
    assert {doc.id: doc.text for doc in docs} == corpus.docs
    stats = _stats(reader)
    assert stats["lines_read"] == corpus.lines and stats["documents"] == len(corpus.docs)
    assert stats["rejected"] == len(corpus.bad) == 8
    records = read_jsonl(excluded, "*.jsonl")
    rejected = {(r["metadata"]["file"].rsplit("/", 1)[-1], r["metadata"]["line"]): r for r in records}
    assert {(*where, r["metadata"]["filter_reason"]) for where, r in rejected.items()} == set(corpus.bad)
    invalid_utf8 = next(r for r in rejected.values() if r["metadata"]["filter_reason"] == "invalid_utf8")
    assert invalid_utf8["text"] == '{"text": "caf\ufffd"}' and invalid_utf8["metadata"]["detail"] == "byte offset 13"
    assert {f"rejected_{reason}" for _, _, reason in corpus.bad} <= set(stats)


def test_reader_shards_files_by_rank_and_reads_compressed_jsonl(tmp_path):
    for k in range(3):
        with gzip.open(tmp_path / f"f{k}.jsonl.gz", "wt") as handle:
            handle.write(json.dumps({"text": f"document {k}"}) + "\n")
    files = find_input_files([str(tmp_path / "*.jsonl.gz")])
    reader = AccountedReader(files)
    assert [d.text for d in reader.run(rank=1, world_size=2)] == ["document 1"]
    assert [d.id for d in reader.run(rank=0, world_size=2)] == ["f0.jsonl.gz/1", "f2.jsonl.gz/1"]


def test_both_readers_take_every_document_suffix(tmp_path):
    import zstandard

    from mda_curate.data.documents import JSONL_SUFFIXES, read_documents

    compress = {".gz": gzip.compress, ".zst": zstandard.ZstdCompressor().compress}
    for k, suffix in enumerate(JSONL_SUFFIXES):
        line = (json.dumps({"id": suffix, "text": f"document {k}"}) + "\n").encode()
        (tmp_path / f"f{k}{suffix}").write_bytes(compress.get(suffix[suffix.rfind(".") :], bytes)(line))
    files = find_input_files([str(tmp_path)])
    assert sorted(d.id for d in AccountedReader(files).run()) == sorted(JSONL_SUFFIXES)
    assert sorted(d.doc_id for d in read_documents([tmp_path / label for _, label in files])) == sorted(JSONL_SUFFIXES)


def test_missing_input_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="no such file"):
        find_input_files([str(tmp_path / "nothing.jsonl")])


def test_scorer_annotates_in_batches_and_pickles_without_its_classifier(classifier):
    scorer = CatalystScorer(classifier.path, batch_size=2)
    docs = [Document(text=t, id=str(i)) for i, t in enumerate(["ab" * 50, "a quick brown fox", "xyz " * 30])]
    out = list(scorer.run(iter(docs)))
    assert [d.metadata["catalyst_score"] for d in out] == pytest.approx(classifier.score([d.text for d in docs]))
    assert _stats(scorer)["batches"] == 2
    assert pickle.loads(pickle.dumps(scorer))._score is None


def _scored(scores: dict[str, float]) -> list[Document]:
    return [Document(text="x", id=i, metadata={"catalyst_score": s}) for i, s in scores.items()]


def test_top_fraction_cutoff_keeps_exactly_k_even_with_ties():
    scores = {f"d{i}": s for i, s in enumerate([0.9, 0.5, 0.5, 0.5, 0.5, 0.1])}
    records = {"score": np.array(list(scores.values())), "tie_key": np.array(list(map(unit_hash, scores)), "uint64")}
    cutoff = top_fraction_cutoff(records, 0.5)
    step = CatalystFilter(cutoff["threshold"], cutoff["tie_key"])
    kept = [d.id for d in step.run(iter(_scored(scores)))]
    tied = sorted((i for i, s in scores.items() if s == 0.5), key=unit_hash)
    assert kept == [i for i in scores if i in {"d0", *tied[:2]}]
    assert _stats(step)["dropped_below_threshold"] == 3


def test_upsampler_repeats_exactly_the_documents_in_each_band():
    docs = _scored({"low": 0.2, "mid": 0.6, "high": 0.95})
    out = list(CatalystUpsampler([(0.5, 2), (0.9, 3)]).run(iter(docs)))
    assert [(d.id, d.metadata["repeat_index"]) for d in out] == [
        ("low", 0),
        ("mid", 0),
        ("mid#1", 1),
        ("high", 0),
        ("high#1", 1),
        ("high#2", 2),
    ]


def test_fractional_rates_are_rounded_per_document_by_seed():
    def run(seed):
        step = CatalystUpsampler([(0.5, 1.5)], seed=seed)
        out = [d.id for d in step.run(iter(_scored({f"d{i}": 0.9 for i in range(2000)})))]
        assert len(out) == 2000 + _stats(step)["upsampled"]
        return out

    assert run(3) == run(3) != run(4)
    assert 900 < len(run(3)) - 2000 < 1100


def test_source_mixer_subsamples_with_a_reason(tmp_path, read_jsonl):
    docs = [Document(text="t", id=f"d{i}", metadata={"mix_source": "a" if i < 100 else "b"}) for i in range(200)]
    step = SourceMixer({"a": 1.0, "b": 0.25}, exclusion_writer=JsonlWriter(str(tmp_path), compression=None))
    kept = [d.id for d in step.run(iter(docs))]
    assert kept[:100] == [f"d{i}" for i in range(100)]
    stats = _stats(step)
    assert stats["dropped"] == stats["dropped_subsampled"] == 200 - len(kept) == len(read_jsonl(tmp_path, "*.jsonl"))
    assert 10 < len(kept) - 100 < 40
