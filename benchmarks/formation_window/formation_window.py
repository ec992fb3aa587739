"""Formation step of the induction head vs catalyst share, on the CPU formation-window recipe.

For every (catalyst share, seed) it trains the ``cpu-formation`` recipe (``mda_curate.training.config.RECIPES``)
on the shipped sample corpus, scores every checkpoint (``mda_curate.units``) and records the interpolated
formation step (``mda_curate.units.formation``). Runs resume after a kill; finished runs are reused. Each
run leaves ``result.json`` in its folder, and after every run the script collects all results under
``--work`` into ``benchmarks/formation_window/formation_window.json`` and ``.png``, so several processes (one per seed,
``OMP_NUM_THREADS=1``) can share the work. These are the exact commands behind the committed results:

    OMP_NUM_THREADS=1 python benchmarks/formation_window/formation_window.py --shares 0.6 0.9 0.3 0.75 0.45 --seeds 1 --steps 8000 --work runs/formation &
    OMP_NUM_THREADS=1 python benchmarks/formation_window/formation_window.py --shares 0.6 0.9 0.3 0.75 0.45 --seeds 0 --steps 8000 --work runs/formation
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import torch
import transformers

from mda_curate.data.documents import read_documents
from mda_curate.demo import FORMATION_RECIPE, train_base_run
from mda_curate.resources import sample_corpus_dir, sample_tokenizer_dir
from mda_curate.units.formation import SCORE_THRESHOLD, formation_step, has_formed, summarize_steps
from mda_curate.units.trajectory import find_checkpoints, score_checkpoints
from mda_curate.validation.stats import FORMATION_RULE

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shares", type=float, nargs="+", default=[0.3, 0.45, 0.6, 0.75, 0.9])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--steps", type=int, default=FORMATION_RECIPE.steps)
    parser.add_argument(
        "--margin", type=int, default=1000, help="steps to train past a formed checkpoint (default 1000)"
    )
    parser.add_argument("--work", default="runs/formation", help="folder for the training runs")
    parser.add_argument("--out", default=str(HERE / "formation_window"), help="output prefix (.json, .png)")
    args = parser.parse_args()

    corpus, tokenizer = sample_corpus_dir(), sample_tokenizer_dir()
    heldout = [d.text for d in read_documents([corpus / "heldout.parquet"]) if d.domain == "prose"]
    for share in args.shares:
        for seed in args.seeds:
            config = replace(FORMATION_RECIPE, catalyst_share=share, seed=seed, steps=args.steps)
            run_dir = Path(args.work) / f"share{share}_seed{seed}"
            if not (run_dir / "result.json").is_file():
                started = time.perf_counter()
                train_until_formed(config, corpus / "train.parquet", tokenizer, run_dir, args.margin)
                seconds = time.perf_counter() - started
                rows, _, _ = score_checkpoints(run_dir, run_dir / "unit_scores", icl_texts=heldout)
                result = run_result(share, seed, config, summarize_steps(rows), seconds, run_dir)
                (run_dir / "result.json").write_text(json.dumps(result, indent=2) + "\n")
            write(collect(Path(args.work)), args)


def train_until_formed(config, data: Path, tokenizer: Path, run_dir: Path, margin: int) -> None:
    """Train until a checkpoint has formed (``units.formation.has_formed``), then ``margin`` more steps."""
    train_base_run(config, data, tokenizer, run_dir, stop=has_formed)
    formed = next((step for step, path in find_checkpoints(run_dir) if has_formed(path)), config.steps)
    train_base_run(config, data, tokenizer, run_dir, until=formed + margin)


def collect(work: Path) -> list[dict]:
    """Every finished run's result under ``work``, by share and seed."""
    results = [json.loads(p.read_text()) for p in work.glob("*/result.json")]
    return sorted(results, key=lambda r: (r["catalyst_share"], r["seed"]))


def run_result(share, seed, config, steps, seconds, run_dir) -> dict:
    log = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]
    formed = formation_step(steps)
    return {
        "catalyst_share": share,
        "seed": seed,
        "steps": config.steps,
        "steps_trained": steps[-1].step,
        "formation_step": formed,
        "formation_tokens": None if formed is None else formed * config.batch_size * config.ctx,
        "final_best_induction": steps[-1].best_induction,
        "final_best_previous_token": steps[-1].best_previous_token,
        "final_induction_loss_drop": steps[-1].induction_loss_drop,
        "final_icl_score": steps[-1].icl_score,
        "train_seconds_this_session": round(seconds, 1),
        "median_tokens_per_s": sorted(r["tokens_per_s"] for r in log)[len(log) // 2],
        "trajectory": [
            {
                "step": s.step,
                "best_induction": s.best_induction,
                "best_previous_token": s.best_previous_token,
                "induction_loss_drop": s.induction_loss_drop,
                "icl_score": s.icl_score,
            }
            for s in steps
        ],
    }


def write(results: list[dict], args) -> None:
    out = {
        "what": "formation step of the induction head vs catalyst (repeated-span) share; recipe = RECIPES['cpu-formation'] (mda_curate.training.config)",
        "formation_rule": FORMATION_RULE,
        "recipe": asdict(FORMATION_RECIPE),
        "command": f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '')} python benchmarks/formation_window/formation_window.py "
        + " ".join(sys.argv[1:])
        + "  (results of every process sharing --work are collected; see the docstring)",
        "machine": {
            "nproc": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
            "torch_threads": torch.get_num_threads(),
        },
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "transformers": transformers.__version__,
        },
        "runs": results,
    }
    partial = Path(args.out + f".json.{os.getpid()}")
    partial.write_text(json.dumps(out, indent=2) + "\n")
    partial.replace(args.out + ".json")  # atomic: processes sharing the work never leave a torn file
    plot(results, Path(args.out + ".png"))


def plot(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for run in results:
        traj = run["trajectory"]
        label = f"share {run['catalyst_share']}, seed {run['seed']}"
        left.plot([t["step"] for t in traj], [t["best_induction"] for t in traj], label=label)
    left.set(xlabel="step", ylabel="best head prefix-matching score", title="induction score vs step")
    left.axhline(SCORE_THRESHOLD, color="grey", linestyle=":")
    left.legend(fontsize="x-small")
    formed = [r for r in results if r["formation_step"] is not None]
    missing = [r for r in results if r["formation_step"] is None]
    right.scatter([r["catalyst_share"] for r in formed], [r["formation_step"] for r in formed], label="formed")
    right.scatter(
        [r["catalyst_share"] for r in missing],
        [r["steps"] for r in missing],
        marker="^",
        label="not formed by the last step",
    )
    right.set(xlabel="catalyst share", ylabel="formation step", title="formation step vs catalyst share")
    right.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
