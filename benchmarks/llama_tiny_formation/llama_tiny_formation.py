"""Does the CPU formation-window recipe form an induction head in ``llama-tiny`` (Llama blocks, 4 query heads
on 2 KV heads) as it does in ``cpu-tiny``?

The run is the demo's full recipe (``cpu-formation`` at catalyst share 0.75, seed 1) with the model swapped;
this script scores every checkpoint of it (``mda_curate.units``), applies the formation rule
(``mda_curate.units.formation``) and sets the result beside cpu-tiny's run with the same share and seed in
``benchmarks/formation_window/formation_window.json``. The exact commands behind ``benchmarks/llama_tiny_formation/llama_tiny_formation.json``:

    mda-curate train --recipe cpu-formation --preset llama-tiny --catalyst-share 0.75 --threads 1 \\
        --data examples/data/train.parquet --tokenizer examples/tokenizer --out runs/llama-formation
    python benchmarks/llama_tiny_formation/llama_tiny_formation.py --run runs/llama-formation

and behind ``llama_tiny_formation_lr3e-3.json``, the same at the learning rate that formed the natural head:

    mda-curate train --recipe cpu-formation --preset llama-tiny --lr 3e-3 --catalyst-share 0.75 --threads 1 \
        --data examples/data/train.parquet --tokenizer examples/tokenizer --out runs/llama-formation-lr3e-3 --until 6000
    python benchmarks/llama_tiny_formation/llama_tiny_formation.py --run runs/llama-formation-lr3e-3 \
        --out benchmarks/llama_tiny_formation/llama_tiny_formation_lr3e-3

(training may be stopped early; the steps trained are recorded).
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
from pathlib import Path

import torch
import transformers

from mda_curate.data.documents import read_documents
from mda_curate.resources import sample_corpus_dir
from mda_curate.training.config import TrainConfig
from mda_curate.units.formation import DROP_THRESHOLD, SCORE_THRESHOLD, summarize_steps
from mda_curate.units.trajectory import score_checkpoints

HERE = Path(__file__).resolve().parent
SWEEP = HERE.parent / "formation_window"  # the cpu-tiny sweep this run is set beside
sys.path.insert(0, str(SWEEP))

from formation_window import run_result  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", default="runs/llama-formation", help="the llama-tiny run folder")
    parser.add_argument("--out", default=str(HERE / "llama_tiny_formation"), help="output prefix (.json, .png)")
    args = parser.parse_args()

    run = Path(args.run)
    config = TrainConfig.from_dict(json.loads((run / "config.json").read_text())["train"])
    heldout = [d.text for d in read_documents([sample_corpus_dir() / "heldout.parquet"]) if d.domain == "prose"]
    rows, _, plot = score_checkpoints(run, run / "unit_scores", icl_texts=heldout)
    seconds = train_seconds(run, config)
    result = run_result(config.catalyst_share, config.seed, config, summarize_steps(rows), seconds, run)
    out = {
        "what": f"formation of the induction head in {config.preset}, recipe cpu-formation at catalyst share "
        f"{config.catalyst_share}, lr {config.lr}, seed {config.seed}; cpu-tiny's run with the same share and seed "
        "beside it",
        "formation_rule": f"best head induction >= {SCORE_THRESHOLD} and induction-loss drop >= {DROP_THRESHOLD} "
        "nats, interpolated",
        "recipe": config.to_dict(),
        "command": "see the docstring of benchmarks/llama_tiny_formation/llama_tiny_formation.py",
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "transformers": transformers.__version__,
        },
        "run": result,
        "cpu_tiny": cpu_tiny_reference(config),
    }
    Path(args.out + ".json").write_text(json.dumps(out, indent=2) + "\n")
    shutil.copyfile(plot, args.out + ".png")
    shutil.copyfile(run / "unit_scores.parquet", args.out + "_units.parquet")  # every head at every checkpoint
    print(json.dumps({k: out["run"][k] for k in ("formation_step", "steps_trained")} | {"cpu_tiny": out["cpu_tiny"]}))


def train_seconds(run: Path, config: TrainConfig) -> float:
    """Training time from the log: tokens of each logged interval over its throughput."""
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    tokens = config.log_every * config.batch_size * config.ctx
    return sum(tokens / line["tokens_per_s"] for line in log)


def cpu_tiny_reference(config: TrainConfig) -> dict | None:
    """cpu-tiny's formation step at the same catalyst share and seed (benchmarks/formation_window/formation_window.json)."""
    runs = json.loads((SWEEP / "formation_window.json").read_text())["runs"]
    same = [r for r in runs if (r["catalyst_share"], r["seed"]) == (config.catalyst_share, config.seed)]
    return {k: same[0][k] for k in ("formation_step", "steps_trained", "final_best_induction")} if same else None


if __name__ == "__main__":
    main()
