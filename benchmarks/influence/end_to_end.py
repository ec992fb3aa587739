"""End to end: ``mda-curate influence`` against kronfluence 1.0.1 as whole processes, fit and score.

What a user waits for is the whole job: process start-up and imports, loading the model, tokenizing,
fitting the curvature factors, scoring and writing the scores. Both tools run as fresh processes
(``kronfluence_job.py`` for the peer) on the same model and documents: module mode (every Linear of the
transformer layers), EK-FAC, empirical Fisher, damping 0.1 x mean eigenvalue, the query-loss probe of
``--queries`` held-out documents. The factors are fitted on the scored documents, and (``factors-data``
rows) on a separate set of as many documents, as users do. Documents are character windows of the shipped
sample corpus that reach ``--length`` tokens, truncated to it (kronfluence's task takes unpadded rows).
Rounds alternate which tool goes first, so this machine's drift hits both; each process's CPU time (user +
system) is recorded beside its wall time. The two score vectors are checked to agree (Spearman).
Command behind ``benchmarks/influence/end_to_end.json`` (machine otherwise idle):

    OMP_NUM_THREADS=2 python benchmarks/influence/end_to_end.py --sizes 160 2000 20000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
MODEL = ROOT / "examples" / "demo_checkpoint"
WINDOW_CHARS = 512


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[160, 2000, 20000])
    parser.add_argument("--length", type=int, default=64, help="tokens per document")
    parser.add_argument("--queries", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--model", default=str(MODEL))
    parser.add_argument("--out", default=str(HERE / "end_to_end.json"))
    args = parser.parse_args()

    from mda_curate.models import load_tokenizer

    tokenizer = load_tokenizer(args.model)
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        windows = long_windows(ROOT / "examples/data/train.parquet", tokenizer, args.length, 2 * max(args.sizes))
        write_jsonl(
            work / "query.jsonl",
            long_windows(ROOT / "examples/data/heldout.parquet", tokenizer, args.length, args.queries),
        )
        for n in args.sizes:
            write_jsonl(work / f"train{n}.jsonl", windows[:n])
            write_jsonl(work / f"factors{n}.jsonl", windows[-n:])
            for variant, factors in (
                ("factors on the scored set", None),
                ("factors-data", work / f"factors{n}.jsonl"),
            ):
                rows[f"{n} {variant}"] = compare(args, work, n, factors)
                print(json.dumps({f"{n} {variant}": rows[f"{n} {variant}"]["ratio"]}), flush=True)
    write(args, rows)


def long_windows(path: Path, tokenizer, length: int, count: int) -> list[dict]:
    """The first ``count`` character windows of the file's documents that reach ``length`` tokens."""
    import pyarrow.parquet as pq

    found = []
    for doc_id, text in zip(*pq.read_table(path, columns=["id", "text"]).to_pydict().values()):
        for start in range(0, len(text) - WINDOW_CHARS // 2, WINDOW_CHARS):
            piece = text[start : start + WINDOW_CHARS]
            if len(tokenizer(piece, add_special_tokens=False)["input_ids"]) >= length:
                found.append({"id": f"{doc_id}@{start}", "text": piece})
                if len(found) == count:
                    return found
    raise SystemExit(f"{path}: only {len(found)} windows of {length} tokens, {count} wanted")


def write_jsonl(path: Path, docs: list[dict]) -> None:
    path.write_text("".join(json.dumps(doc) + "\n" for doc in docs))


def compare(args, work: Path, n: int, factors: Path | None) -> dict:
    shared = ["--model", args.model, "--train", str(work / f"train{n}.jsonl"), "--query", str(work / "query.jsonl")]
    shared += ["--max-length", str(args.length)] + (["--factors-data", str(factors)] if factors else [])
    commands = {
        "mda-curate": [sys.executable, "-m", "mda_curate.cli", "influence", *shared, "--modules", "all-linear"]
        + ["--probe", "query-loss", "--strategy", "ekfac", "--fisher", "empirical", "--damping", "0.1mean"]
        + ["--out", str(work / "ours.parquet")],
        "kronfluence": [
            sys.executable,
            str(HERE / "kronfluence_job.py"),
            *shared,
            "--out",
            str(work / "peer.parquet"),
        ],
    }
    runs: dict[str, list[dict]] = {name: [] for name in commands}
    for r in range(args.rounds):
        for name in list(commands)[:: 1 if r % 2 == 0 else -1]:
            shutil.rmtree(work / "ours.influence", ignore_errors=True)  # its resume state: every run starts cold
            runs[name].append(timed(commands[name]))
    wall = {name: [run["wall_s"] for run in timings] for name, timings in runs.items()}
    return {
        "documents": n,
        "tokens": n * args.length,
        "runs": runs,
        "ratio": float(np.mean(np.array(wall["kronfluence"]) / np.array(wall["mda-curate"]))),
        "spearman": agreement(work / "ours.parquet", work / "peer.parquet"),
    }


def timed(command: list[str]) -> dict:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2)}


def agreement(ours: Path, peer: Path) -> float:
    import pyarrow.parquet as pq
    from scipy.stats import spearmanr

    a, b = (pq.read_table(p, columns=["doc_id", "score"]).to_pydict() for p in (ours, peer))
    if a["doc_id"] != b["doc_id"]:
        raise SystemExit("the two tools scored different documents")
    return float(spearmanr(a["score"], b["score"]).statistic)


def write(args, rows: dict) -> None:
    import kronfluence
    import torch
    import transformers

    result = {
        "what": "whole-process fit + score time, mda-curate influence vs kronfluence 1.0.1 (module mode, EK-FAC)",
        "command": f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '')} python benchmarks/influence/end_to_end.py "
        + " ".join(sys.argv[1:]),
        "model": Path(args.model).name,
        "tokens_per_document": args.length,
        "query_documents": args.queries,
        "rounds": args.rounds,
        "results": rows,
        "machine": {"nproc": os.cpu_count(), "processor": platform.processor() or platform.machine()},
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "kronfluence": kronfluence.__version__,
        },
    }
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
