"""Ground truth for the influence scores: mask the top-k vs random-k window samples and retrain.

From the base run's checkpoint at the window start, arms retrain to ``--until`` on the identical data
order, except that the arm's k samples of the scored window get zero loss weight (the paper's
deletion). ``targeted`` masks the k highest-influence samples on the unit's induction probe,
``random-<d>`` masks k samples drawn uniformly from the window (draw seed d); ``baseline`` masks
nothing; it retrains the base run's steps (``baseline_vs_base_run_max_abs_diff`` compares the unit
score where both have a checkpoint: equal up to float differences between thread counts). The unit's induction score, the best head's score and the
induction-loss drop are compared at the arms' checkpoints after the window start; the effect is the
arm's mean over them minus the baseline's.

Exact command behind ``benchmarks/influence/influence_ground_truth.json`` (scores from ``mda-curate influence``):

    mda-curate influence --model runs/formation/share0.6_seed1/step_6250 --train runs/formation/share0.6_seed1 \\
        --steps 6250:6500 --unit 1.2 --factor-samples 2000 --batch-size 32 --out runs/influence/window_s1.parquet
    OMP_NUM_THREADS=2 python benchmarks/influence/influence_ground_truth.py --run runs/formation/share0.6_seed1 \\
        --scores runs/influence/window_s1.parquet --start 6250 --until 7000 --unit 1.2 --fraction 0.1 --random-draws 2
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import torch

from mda_curate.data.documents import read_documents
from mda_curate.families import parse_unit
from mda_curate.models import load_tokenizer
from mda_curate.resources import sample_corpus_dir
from mda_curate.training.config import TrainConfig
from mda_curate.training.schedule import Schedule
from mda_curate.training.trainer import Trainer
from mda_curate.units.formation import formation_step, summarize_steps
from mda_curate.units.trajectory import score_checkpoints

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True)
    parser.add_argument("--scores", required=True)
    parser.add_argument("--start", type=int, required=True, help="the checkpoint the arms branch from")
    parser.add_argument("--until", type=int, required=True)
    parser.add_argument("--unit", default="1.2")
    parser.add_argument("--fraction", type=float, default=0.1)
    parser.add_argument("--random-draws", type=int, default=2)
    parser.add_argument("--checkpoint-every", type=int, default=50)
    parser.add_argument("--work", default="runs/ground_truth")
    parser.add_argument("--out", default=str(HERE / "influence_ground_truth.json"))
    args = parser.parse_args()

    run, work = Path(args.run), Path(args.work)
    scores = pq.read_table(args.scores).to_pandas().dropna(subset=["score"])
    k = round(args.fraction * len(scores))
    arms = {"baseline": [], "targeted": scores.nlargest(k, "score")["sample_index"].tolist()}
    for draw in range(args.random_draws):
        arms[f"random-{draw}"] = scores.sample(n=k, random_state=draw)["sample_index"].tolist()
    base = json.loads((run / "config.json").read_text())
    config = replace(TrainConfig.from_dict(base["train"]), checkpoint_every=args.checkpoint_every)
    tokenizer = load_tokenizer(base["tokenizer"])
    heldout = [d.text for d in read_documents([sample_corpus_dir() / "heldout.parquet"]) if d.domain == "prose"]
    layer, head = parse_unit(args.unit, "--unit")
    results, trajectories = {}, {}
    for name, masked in arms.items():
        arm_dir = work / name
        train_arm(config, arm_dir, tokenizer, base["data"], masked, run / f"step_{args.start}", args.until)
        trajectories[name], _, _ = score_checkpoints(arm_dir, arm_dir / "unit_scores", icl_texts=heldout)
    common = {r["step"] for r in trajectories["baseline"]}
    for name, rows in trajectories.items():
        results[name] = arm_result(rows, arms[name], layer, head, common)
    base_rows = pq.read_table(run / "unit_scores.parquet").to_pylist()
    write(results, args, k, len(scores), baseline_difference(base_rows, trajectories["baseline"], layer, head))


def train_arm(config, arm_dir: Path, tokenizer, data, masked, init_from: Path, until: int) -> None:
    resume = any(arm_dir.glob("step_*/trainer_state.pt"))
    schedule = Schedule(mask=frozenset(int(g) for g in masked))
    trainer = Trainer(config, arm_dir, tokenizer, data, schedule, init_from, resume=resume)
    if trainer.step < until:
        trainer.train(until=until)


def baseline_difference(base_rows, arm_rows, layer, head) -> float:
    """Largest difference of the unit score between the baseline arm and the base run at shared checkpoints."""

    def unit(rows):
        return {r["step"]: r["induction"] for r in rows if r["layer"] == layer and r["head"] == head}

    base, arm = unit(base_rows), unit(arm_rows)
    return max(abs(base[s] - arm[s]) for s in set(base) & set(arm))


def arm_result(rows, masked, layer, head, common: set[int]) -> dict:
    """Formation step and unit and best-head scores at the ``common`` checkpoints (all after the start)."""
    unit = sorted(
        (r["step"], r["induction"]) for r in rows if r["layer"] == layer and r["head"] == head and r["step"] in common
    )
    steps = [s for s in summarize_steps(rows) if s.step in common]
    return {
        "masked": len(masked),
        "formation_step": formation_step(summarize_steps(rows)),
        "unit_induction": {str(s): v for s, v in unit},
        "unit_induction_mean": float(np.mean([v for _, v in unit])),
        "best_induction_mean": float(np.mean([s.best_induction for s in steps])),
        "induction_loss_drop_mean": float(np.mean([s.induction_loss_drop for s in steps])),
    }


def write(results: dict, args, k: int, window: int, baseline_difference: float) -> None:
    base = results["baseline"]
    randoms = [v for n, v in results.items() if n.startswith("random")]
    effects = {
        name: {
            metric: value[metric] - base[metric]
            for metric in ("unit_induction_mean", "best_induction_mean", "induction_loss_drop_mean")
        }
        for name, value in results.items()
        if name != "baseline"
    }
    out = {
        "what": "mask top-k vs random-k influence samples of the window, retrain, compare the unit to the baseline",
        "command": f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '')} python benchmarks/influence/influence_ground_truth.py "
        + " ".join(sys.argv[1:]),
        "window_samples": window,
        "k": k,
        "baseline_vs_base_run_max_abs_diff": baseline_difference,
        "arms": results,
        "effect_vs_baseline": effects,
        "targeted_moves_more_than_random": all(
            abs(effects["targeted"]["unit_induction_mean"]) > abs(effects[n]["unit_induction_mean"])
            for n in effects
            if n.startswith("random")
        )
        if randoms
        else None,
        "machine": {
            "nproc": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
            "torch_threads": torch.get_num_threads(),
        },
        "versions": {"python": platform.python_version(), "torch": torch.__version__},
    }
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(effects, indent=2))


if __name__ == "__main__":
    main()
