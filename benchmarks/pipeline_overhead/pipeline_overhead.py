"""Wall time of ``curate filter`` (score + filter) vs a plain datatrove read -> write pipeline, same shards.

The shipped corpus (``examples/data/train.parquet``) is replicated into ``--shards`` JSONL shards (ids
made unique per copy). Every variant runs on datatrove's LocalPipelineExecutor with one task per shard
and one worker (one core), after one uncounted warm-up run of each (imports and first loads happen once per
process), rounds alternating the order:

- ``plain``: datatrove's JsonlReader -> JsonlWriter;
- ``machinery``: the ``curate filter --threshold 0.5`` plan (AccountedReader, CatalystScorer,
  CatalystFilter with its exclusion writer, writer, stats.json) with a constant scorer in place of the
  classifier, i.e. the cost of the pipeline itself;
- ``score_filter``: the same plan with the classifier (``--classifier``, default the shipped one).

Ratios are medians of wall seconds over ``plain`` (also: of process CPU seconds, which a busy or stolen core
disturbs less, of the fastest rounds, and of each round's own ratio with their range: this VM's core speed
drifts by up to 1.6x between runs, and a round's variants run back to back); MB/s per core = uncompressed
input JSONL MB / median seconds. With ``--compression gzip`` the shards are ``.jsonl.gz`` and every variant
writes gzip (datatrove's JsonlWriter default), as stored pretraining shards usually are. Writes
``benchmarks/pipeline_overhead/pipeline_overhead.json`` (or ``pipeline_overhead_gzip.json``, or ``--out``):

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/pipeline_overhead/pipeline_overhead.py --shards 4 --rounds 13
    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/pipeline_overhead/pipeline_overhead.py --shards 4 --rounds 9 --compression gzip
    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/pipeline_overhead/pipeline_overhead.py --shards 4 --rounds 13 \
        --classifier classifiers/catalyst-1536 --out benchmarks/pipeline_overhead/pipeline_overhead_max1536.json  # see the README
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

import orjson
import pyarrow.parquet as pq

from mda_curate.pipelines import steps
from mda_curate.pipelines.recipes import Inputs, Layout, filter_plan
from mda_curate.pipelines.run import Launch, run_plan
from mda_curate.resources import sample_corpus_dir

HERE = Path(__file__).resolve().parent
VARIANTS = ("plain", "machinery", "score_filter")
WHAT = (
    "wall time, one core, datatrove LocalPipelineExecutor (one task per shard, one worker), median of alternating "
    "rounds after one uncounted warm-up run of each variant, on the shipped corpus replicated into JSONL shards: "
    "plain = datatrove JsonlReader -> JsonlWriter; "
    "machinery = the curate filter --threshold 0.5 plan with a constant scorer (the pipeline's own cost); "
    "score_filter = the same plan with the classifier"
)


def write_shards(folder: Path, shards: int, compression: str | None) -> tuple[int, int]:
    """Replicate the shipped corpus into ``shards`` JSONL files; returns their total uncompressed bytes and
    documents."""
    rows = pq.read_table(sample_corpus_dir() / "train.parquet", columns=["id", "text", "domain"]).to_pylist()
    folder.mkdir(parents=True)
    total = 0
    for k in range(shards):
        lines = [orjson.dumps({**row, "id": f"{row['id']}-copy{k}"}) for row in rows]
        data = b"\n".join(lines) + b"\n"
        total += len(data)
        if compression == "gzip":
            (folder / f"shard{k:03d}.jsonl.gz").write_bytes(gzip.compress(data))
        else:
            (folder / f"shard{k:03d}.jsonl").write_bytes(data)
    return total, shards * len(rows)


def run_plain(inputs: Path, output: Path, tasks: int, compression: str | None) -> None:
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter

    pipeline = [
        JsonlReader(str(inputs)),
        JsonlWriter(str(output), output_filename="${rank}.jsonl", compression=compression),
    ]
    LocalPipelineExecutor(pipeline, tasks=tasks, workers=1, logging_dir=str(output / "logs")).run()


def run_filter(inputs: Path, output: Path, tasks: int, classifier: str | None, compression: str | None) -> None:
    layout = Layout(str(output), compression=compression)
    plan = filter_plan(Inputs.find([str(inputs)]), layout, classifier, threshold=0.5, tasks=tasks)
    run_plan(plan, Launch(workers=1, show_progress=False))


def constant_scorer(path):
    return lambda texts: [0.5] * len(texts)


def time_variant(name: str, inputs: Path, work: Path, tasks: int, args) -> tuple[float, float]:
    """Wall and CPU seconds of one run (one worker: datatrove runs the tasks in this process)."""
    output = work / f"{name}-{time.monotonic_ns()}"
    real_loader = steps.load_scorer
    if name == "machinery":
        steps.load_scorer = constant_scorer
    start, start_cpu = time.perf_counter(), time.process_time()
    try:
        if name == "plain":
            run_plain(inputs, output, tasks, args.compression)
        else:
            run_filter(inputs, output, tasks, args.classifier, args.compression)
        return time.perf_counter() - start, time.process_time() - start_cpu
    finally:
        steps.load_scorer = real_loader
        shutil.rmtree(output)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--classifier", help="classifier folder (default: the shipped one)")
    parser.add_argument("--compression", choices=["gzip"], help="gzip input shards and outputs (default: none)")
    parser.add_argument("--out", help="result file (default: pipeline_overhead[_gzip].json next to this script)")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from loguru import logger

    logger.remove()  # datatrove re-adds its task loggers; keep the driver quiet between runs
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        input_bytes, documents = write_shards(work / "input", args.shards, args.compression)
        for name in VARIANTS:  # warm-up, not counted: imports and first loads happen once per process
            time_variant(name, work / "input", work, args.shards, args)
        seconds, cpu_seconds = {name: [] for name in VARIANTS}, {name: [] for name in VARIANTS}
        for round_ in range(args.rounds):
            order = VARIANTS if round_ % 2 == 0 else VARIANTS[::-1]
            for name in order:
                wall, cpu = time_variant(name, work / "input", work, args.shards, args)
                seconds[name].append(wall)
                cpu_seconds[name].append(cpu)
                print(f"round {round_} {name}: {wall:.2f} s ({cpu:.2f} s CPU)", file=sys.stderr)
    write(seconds, cpu_seconds, input_bytes, documents, args)


def _describe_classifier(path: str | None) -> dict:
    from mda_curate.classifier import load_classifier

    card = load_classifier(path).card
    return {
        "path": path or "default",
        "model": card.get("model", {}).get("chosen"),
        "features": card.get("features", {}).get("settings"),
        "sha256": card.get("artifact", {}).get("sha256"),
    }


def write(
    seconds: dict[str, list[float]], cpu_seconds: dict[str, list[float]], input_bytes: int, documents: int, args
) -> None:
    median = {name: statistics.median(values) for name, values in seconds.items()}
    median_cpu = {name: statistics.median(values) for name, values in cpu_seconds.items()}
    per_round = [filtered / plain for filtered, plain in zip(seconds["score_filter"], seconds["plain"])]
    mb = input_bytes / 1e6
    result = {
        "what": WHAT,
        "command": " ".join(
            ["HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/pipeline_overhead/pipeline_overhead.py", *sys.argv[1:]]
        ),
        "goal": "score_filter / plain <= 1.3",
        "ratio_score_filter_vs_plain": round(median["score_filter"] / median["plain"], 3),
        "ratio_machinery_vs_plain": round(median["machinery"] / median["plain"], 3),
        "ratio_score_filter_vs_plain_cpu": round(median_cpu["score_filter"] / median_cpu["plain"], 3),
        "ratio_score_filter_vs_plain_fastest": round(min(seconds["score_filter"]) / min(seconds["plain"]), 3),
        "ratio_score_filter_vs_plain_per_round": {
            "median": round(statistics.median(per_round), 3),
            "range": [round(min(per_round), 3), round(max(per_round), 3)],
        },
        "mb_per_s_per_core": {name: round(mb / median[name], 2) for name in VARIANTS},
        "input": {
            "shards": args.shards,
            "jsonl_mb": round(mb, 1),
            "documents": documents,
            "compression": args.compression,
        },
        "classifier": _describe_classifier(args.classifier),
        "median_seconds": {name: round(value, 3) for name, value in median.items()},
        "seconds": seconds,
        "median_cpu_seconds": {name: round(value, 3) for name, value in median_cpu.items()},
        "cpu_seconds": cpu_seconds,
        "machine": {"nproc": os.cpu_count(), "processor": platform.machine(), "load_average": os.getloadavg()},
        "versions": {
            "python": platform.python_version(),
            **{package: version(package) for package in ("datatrove", "orjson", "pyarrow", "numpy", "mda-curate")},
        },
    }
    out = (
        Path(args.out)
        if args.out
        else HERE / ("pipeline_overhead_gzip.json" if args.compression else "pipeline_overhead.json")
    )
    out.write_text(json.dumps(result, indent=2) + "\n")
    headline = (
        "ratio_score_filter_vs_plain",
        "ratio_score_filter_vs_plain_cpu",
        "ratio_score_filter_vs_plain_fastest",
        "ratio_score_filter_vs_plain_per_round",
        "ratio_machinery_vs_plain",
        "mb_per_s_per_core",
    )
    print(json.dumps({key: result[key] for key in headline}))


if __name__ == "__main__":
    main()
