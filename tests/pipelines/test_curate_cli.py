"""``mda-curate curate``: the output contract, the accounting identity, exact upsampling, resumption."""

import gzip
import json
import os
from collections import Counter

import pyarrow.parquet as pq
import pytest

from mda_curate import cli


def curate(*args) -> int:
    return cli.main(["curate", *map(str, args)])


def curate_corpus(pipeline: str, corpus, out, classifier, *args) -> int:
    """Run ``pipeline`` on the test shards in-process (one worker) with the test classifier."""
    return curate(pipeline, corpus.folder, "--output", out, "--classifier", classifier.path, "--workers", 1, *args)


def load_stats(out) -> dict:
    stats = json.loads((out / "stats.json").read_text())
    assert stats["kept"] + stats["dropped"] + stats["rejected"] == stats["lines_read"]
    return stats


def assert_rejections_accounted(stats, corpus, out, read_jsonl):
    assert stats["lines_read"] == corpus.lines
    assert stats["rejected_by_reason"] == dict(Counter(reason for _, _, reason in corpus.bad))
    rejected = [r["metadata"] for r in read_jsonl(out / "excluded", "rejected_*.jsonl")]
    assert {(r["file"].rsplit("/", 1)[-1], r["line"], r["filter_reason"]) for r in rejected} == set(corpus.bad)


def test_filter_by_threshold_keeps_exactly_the_documents_above_it(corpus, classifier, tmp_path, read_jsonl):
    scores = classifier.scores(corpus)
    threshold = sorted(scores.values())[len(scores) // 2]
    out = tmp_path / "out"
    assert curate_corpus("filter", corpus, out, classifier, "--threshold", threshold) == 0
    stats = load_stats(out)
    assert_rejections_accounted(stats, corpus, out, read_jsonl)
    kept = read_jsonl(out)
    assert {d["id"] for d in kept} == {i for i, s in scores.items() if s >= threshold}
    assert all(d["metadata"]["catalyst_score"] == pytest.approx(scores[d["id"]]) for d in kept)
    dropped = read_jsonl(out / "excluded", "dropped_*.jsonl")
    assert {d["id"] for d in dropped} == {i for i, s in scores.items() if s < threshold}
    assert {d["metadata"]["filter_reason"] for d in dropped} == {"below_threshold"}
    assert (stats["kept"], stats["dropped"], stats["written"]) == (len(kept), len(dropped), len(kept))
    assert stats["tasks"] == 4


def test_score_keeps_every_valid_document_as_parquet(corpus, classifier, tmp_path, read_jsonl):
    out = tmp_path / "out"
    assert curate_corpus("score", corpus, out, classifier, "--format", "parquet", "--tasks", 2) == 0
    stats = load_stats(out)
    assert_rejections_accounted(stats, corpus, out, read_jsonl)
    rows = [row for path in sorted(out.glob("*.parquet")) for row in pq.read_table(path).to_pylist()]
    assert {r["id"]: r["text"] for r in rows} == corpus.docs
    scores = classifier.scores(corpus)
    assert all(r["metadata"]["catalyst_score"] == pytest.approx(scores[r["id"]]) for r in rows)
    assert stats["dropped"] == 0 and stats["kept"] == len(corpus.docs)


def test_top_fraction_is_exact_over_all_ranks(corpus, classifier, tmp_path, read_jsonl):
    from mda_curate.pipelines.steps import unit_hash

    scores = classifier.scores(corpus)
    out = tmp_path / "out"
    assert curate_corpus("filter", corpus, out, classifier, "--top-fraction", 0.3) == 0
    ranked = sorted(scores, key=lambda i: (-scores[i], unit_hash(i)))
    keep = round(0.3 * len(scores))
    assert {d["id"] for d in read_jsonl(out)} == set(ranked[:keep])
    stats = load_stats(out)
    assert stats["kept"] == keep and stats["reduced"]["documents"] == len(scores)
    assert_rejections_accounted(stats, corpus, out, read_jsonl)


def test_upsample_by_factor_repeats_exactly_the_catalysts(corpus, classifier, tmp_path, read_jsonl):
    scores = classifier.scores(corpus)
    threshold = sorted(scores.values())[len(scores) * 2 // 3]
    out = tmp_path / "out"
    assert curate_corpus("upsample", corpus, out, classifier, "--factor", 3, "--threshold", threshold) == 0
    written = Counter(d["id"].split("#")[0] for d in read_jsonl(out))
    assert written == {i: 3 if s >= threshold else 1 for i, s in scores.items()}
    copies = {d["id"]: d["metadata"]["repeat_index"] for d in read_jsonl(out) if "#" in d["id"]}
    assert all(copies[i] == int(i.rsplit("#", 1)[1]) for i in copies)
    stats = load_stats(out)
    assert stats["upsampled"] == 2 * sum(s >= threshold for s in scores.values()) == len(copies)
    assert stats["kept"] == len(corpus.docs) and stats["written"] == len(corpus.docs) + stats["upsampled"]


def test_upsample_of_a_top_fraction_repeats_exactly_the_best_documents(corpus, classifier, tmp_path, read_jsonl):
    from mda_curate.pipelines.steps import unit_hash

    scores = classifier.scores(corpus)
    out = tmp_path / "out"
    assert curate_corpus("upsample", corpus, out, classifier, "--top-fraction", 0.3, "--factor", 3) == 0
    ranked = sorted(scores, key=lambda i: (-scores[i], unit_hash(i)))
    best = set(ranked[: round(0.3 * len(scores))])
    written = Counter(d["id"].split("#")[0] for d in read_jsonl(out))
    assert written == {i: 3 if i in best else 1 for i in scores}
    assert load_stats(out)["upsampled"] == 2 * len(best)


def test_random_upsampling_repeats_as_many_documents_chosen_by_id_alone(corpus, classifier, tmp_path, read_jsonl):
    """The random control: the same pipeline and count as the classifier's top fraction, its choice a
    seeded hash of the id (so it does not follow the scores, and another seed chooses another set)."""
    keep = round(0.3 * len(corpus.docs))
    chosen = {}
    for seed in (0, 1):
        out = tmp_path / f"random{seed}"
        args = ["--output", out, "--workers", 1, "--random", "--seed", seed, "--top-fraction", 0.3, "--factor", 2]
        assert curate("upsample", corpus.folder, *args) == 0
        chosen[seed] = {d["id"].split("#")[0] for d in read_jsonl(out) if "#" in d["id"]}
        assert len(chosen[seed]) == keep and load_stats(out)["upsampled"] == keep
    scores = classifier.scores(corpus)
    best = set(sorted(scores, key=scores.get, reverse=True)[:keep])
    assert chosen[0] != chosen[1] and chosen[0] != best


def test_random_upsampling_refuses_a_classifier(corpus, classifier, tmp_path, capsys):
    assert curate_corpus("upsample", corpus, tmp_path / "out", classifier, "--random", "--factor", 2) == 2
    assert "--random" in capsys.readouterr().err


def test_upsample_to_a_target_share(corpus, classifier, tmp_path, read_jsonl):
    scores = classifier.scores(corpus)
    threshold = sorted(scores.values())[len(scores) * 3 // 4]
    total = sum(len(t) for t in corpus.docs.values())
    catalyst = sum(len(corpus.docs[i]) for i, s in scores.items() if s >= threshold)
    share = 4 * catalyst / (4 * catalyst + total - catalyst)  # a factor of 4 reaches it
    out = tmp_path / "out"
    assert curate_corpus("upsample", corpus, out, classifier, "--target-share", share, "--threshold", threshold) == 0
    written = read_jsonl(out)
    catalyst_chars = sum(len(d["text"]) for d in written if d["metadata"]["catalyst_score"] >= threshold)
    assert catalyst_chars / sum(len(d["text"]) for d in written) == pytest.approx(share)
    assert load_stats(out)["reduced"]["bands"][0][1] == pytest.approx(4)


def test_mix_resamples_each_source_to_its_weight(corpus, tmp_path, read_jsonl):
    first, last = corpus.shards[0], corpus.shards[-1]  # a JSONL shard and the parquet shard
    chars = Counter()
    for doc_id, origin in corpus.origin.items():
        chars[origin] += len(corpus.docs[doc_id])
    size = {path: chars[path.name] for path in (first, last)}
    out = tmp_path / "out"
    weights = [3 * size[first], size[last]]  # 3 copies of the first source, 1 of the other
    args = ["--weights", *weights, "--size", sum(weights), "--workers", 1]
    assert curate("mix", first, last, "--output", out, *args) == 0
    written = Counter(d["id"].split("#")[0] for d in read_jsonl(out))
    copies = {first.name: 3, last.name: 1}
    assert written == {i: copies[origin] for i, origin in corpus.origin.items() if origin in copies}
    assert {d["metadata"]["mix_source"] for d in read_jsonl(out)} == {str(first), str(last)}


def test_mix_by_default_repeats_nothing(corpus, tmp_path):
    first, last = corpus.shards[0], corpus.shards[-1]
    out = tmp_path / "out"
    assert curate("mix", first, last, "--output", out, "--weights", 1, 1, "--workers", 1, "--compression", "gzip") == 0
    stats = load_stats(out)
    with gzip.open(out / "00000.jsonl.gz", "rt") as handle:
        assert {json.loads(line)["metadata"]["mix_source"] for line in handle} == {str(first)}
    assert stats["upsampled"] == 0 and stats["dropped"] == stats["dropped_by_reason"]["subsampled"] > 0
    assert min(stats["reduced"]["rates"].values()) < 1 == max(stats["reduced"]["rates"].values())


def test_rerun_skips_completed_ranks_and_reproduces_the_output(corpus, classifier, tmp_path):
    out = tmp_path / "out"
    args = ["filter", corpus, out, classifier, "--threshold", 0.3]
    assert curate_corpus(*args) == 0
    first = {p.relative_to(out): p.read_bytes() for p in out.rglob("*.jsonl")}
    untouched = (out / "00000.jsonl").stat().st_mtime_ns
    os.remove(out / "logs" / "main" / "completions" / "00002")  # as if rank 2 had died
    (out / "00002.jsonl").write_text("partial")
    assert curate_corpus(*args) == 0
    assert {p.relative_to(out): p.read_bytes() for p in out.rglob("*.jsonl")} == first
    assert (out / "00000.jsonl").stat().st_mtime_ns == untouched
    assert curate_corpus(*args, "--tasks", 2) == 2  # a different task count would mix shardings


def test_datatrove_logs_go_to_the_logs_folder_not_the_terminal(corpus, classifier, tmp_path):
    import subprocess
    import sys

    out = tmp_path / "out"
    argv = [
        sys.executable,
        "-m",
        "mda_curate.cli",
        "curate",
        "filter",
        str(corpus.folder),
        "--output",
        str(out),
        "--classifier",
        str(classifier.path),
        "--top-fraction",
        "0.5",
        "--workers",
        "2",
    ]
    done = subprocess.run(
        argv, capture_output=True, text=True, check=False, env={**os.environ, "PYTHONPATH": os.getcwd()}
    )
    assert done.returncode == 0, done.stderr
    datatrove_lines = ("Launching pipeline", "PIPELINE", "Processing done", "tasks completed", "| INFO", "| SUCCESS")
    assert not [line for line in done.stderr.splitlines() if any(mark in line for mark in datatrove_lines)]
    assert "curate filter" in done.stderr  # the project's own table
    for pass_ in ("scan", "reduce", "main"):
        task_log = (out / "logs" / pass_ / "logs" / "task_00000.log").read_text()
        assert "Launching pipeline for rank=0" in task_log and "Processing done for rank=0" in task_log
        assert "tasks" in (out / "logs" / pass_ / "logs" / "executor.log").read_text()


def test_slurm_queues_the_passes_in_order(corpus, classifier, tmp_path, monkeypatch, capsys):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    sbatch = bin_dir / "sbatch"
    log = tmp_path / "sbatch.log"
    sbatch.write_text(f'#!/bin/sh\necho "$@" >> {log}\necho "Submitted batch job $(wc -l < {log})"\n')
    sbatch.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    out = tmp_path / "out"
    args = ["--executor", "slurm", "--slurm-partition", "cpu", "--slurm-time", "1:00:00", "--top-fraction", 0.5]
    assert curate("filter", corpus.folder, "--output", out, "--classifier", classifier.path, *args) == 0
    assert "run the same command again" in capsys.readouterr().err
    scripts = {p: (out / "logs" / p / "launch_script.slurm").read_text() for p in ("scan", "reduce", "main")}
    assert "--array=0-3" in scripts["scan"] and "--array=0-0" in scripts["reduce"] and "--array=0-3" in scripts["main"]
    assert "--partition=cpu" in scripts["main"] and "bin/activate" in scripts["main"]
    # jobs 1, 3, 5 are the passes (2, 4, 6 merge datatrove's stats): each waits for the previous one
    sbatch_calls = log.read_text().splitlines()
    assert [call.split()[1] for call in sbatch_calls[2::2]] == ["--dependency=afterok:1", "--dependency=afterok:3"]
    assert not (out / "stats.json").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["filter", "missing.jsonl"], "no such file"),
        (["mix", "a.jsonl", "--weights", "1", "2"], "2 weights for 1 INPUTs"),
        (["filter", "x.jsonl", "--executor", "slurm"], "--slurm-partition and --slurm-time"),
    ],
)
def test_user_errors_are_one_line(args, message, tmp_path, monkeypatch, capsys, classifier):
    monkeypatch.chdir(tmp_path)
    for name in ("a.jsonl", "x.jsonl"):
        (tmp_path / name).write_text('{"text": "t"}\n')
    classifier_args = [] if args[0] == "mix" else ["--classifier", classifier.path]
    assert curate(*args, "--output", tmp_path / "out", *classifier_args) == 2
    assert message in capsys.readouterr().err
