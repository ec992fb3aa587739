"""Linear datamodeling score (LDS) of window influence scores: retrain on random halves of the window.

For subset j, a random ``--alpha`` share of the scored window's samples is masked (zero loss weight, the
paper's deletion) and the base run is retrained from the window start to ``--end`` on the identical data
order; the probe the scores were computed for (read from ``<scores>.influence/arguments.json``) is then
measured on the retrained model. Each scores file predicts subset j's probe as the sum of the scores of
the samples it kept; LDS is the Spearman correlation of prediction and measurement over the subsets
(Park et al., 2023), with a bootstrap 95% interval over subsets; the LDS of random scores gives the chance
level.
The retraining is shared by every scores file, so strategies are compared on the same ground truth; a
subset is trained as ``influence_ground_truth.py`` trains its arms (a sibling script, imported).

Subsets resume after a kill, and several processes can share them (``--part``); whoever finishes the
last one writes the JSON. Commands behind ``benchmarks/influence/influence_lds.json``:

    mda-curate influence --model runs/formation/share0.6_seed1/step_6250 --train runs/formation/share0.6_seed1 \\
        --steps 6250:6500 --unit 1.2 --strategy identity --batch-size 32 --out runs/influence/window_s1_identity.parquet
    OMP_NUM_THREADS=1 python benchmarks/influence/influence_lds.py --subsets 64 --part 0:32 &
    OMP_NUM_THREADS=1 python benchmarks/influence/influence_lds.py --subsets 64 --part 32:64
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
from influence_ground_truth import train_arm
from scipy.stats import spearmanr

from mda_curate.errors import UserError
from mda_curate.models import load_causal_lm, load_tokenizer
from mda_curate.training.config import TrainConfig

HERE = Path(__file__).resolve().parent
DEFAULT_SCORES = ["runs/influence/window_s1.parquet", "runs/influence/window_s1_identity.parquet"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", default="runs/formation/share0.6_seed1")
    parser.add_argument(
        "--scores", nargs="+", default=DEFAULT_SCORES, help="scores files of the same window and probe"
    )
    parser.add_argument("--start", type=int, default=6250, help="the checkpoint the subsets branch from")
    parser.add_argument("--end", type=int, default=6500, help="the step at which the probe is measured")
    parser.add_argument("--subsets", type=int, default=64)
    parser.add_argument("--alpha", type=float, default=0.5, help="share of the window's samples masked per subset")
    parser.add_argument("--part", default=None, help="a:b: only subsets a..b-1 (default all)")
    parser.add_argument("--work", default="runs/lds")
    parser.add_argument("--out", default=str(HERE / "influence_lds.json"))
    args = parser.parse_args()

    tables = {
        Path(path).stem: pq.read_table(path, columns=["sample_index", "score"]).to_pandas() for path in args.scores
    }
    window = np.sort(next(iter(tables.values()))["sample_index"].to_numpy())
    for path, table in zip(args.scores, tables.values()):
        if not np.array_equal(np.sort(table["sample_index"].to_numpy()), window):
            raise UserError(f"{path}: scores another set of samples than {args.scores[0]}")
    probe_info = json.loads(Path(args.scores[0]).with_suffix(".influence").joinpath("arguments.json").read_text())
    first, last = map(int, args.part.split(":")) if args.part else (0, args.subsets)
    for j in range(first, last):
        measure_subset(args, j, masked_samples(window, args.alpha, j), probe_info)
    done = [Path(args.work) / f"subset_{j}" / "probe.json" for j in range(args.subsets)]
    if all(path.is_file() for path in done):
        write(args, tables, window, [json.loads(path.read_text())["probe"] for path in done], probe_info)


def masked_samples(window: np.ndarray, alpha: float, j: int) -> np.ndarray:
    rng = np.random.default_rng(1000 + j)
    return np.sort(rng.choice(window, size=round(alpha * len(window)), replace=False))


def measure_subset(args, j: int, masked: np.ndarray, probe_info: dict) -> None:
    """Retrain subset j from the window start to ``--end`` and store its probe value."""
    subset_dir = Path(args.work) / f"subset_{j}"
    result = subset_dir / "probe.json"
    if result.is_file():
        return
    run = Path(args.run)
    base = json.loads((run / "config.json").read_text())
    config = replace(TrainConfig.from_dict(base["train"]), checkpoint_every=args.end - args.start)
    train_arm(
        config,
        subset_dir,
        load_tokenizer(base["tokenizer"]),
        base["data"],
        masked.tolist(),
        run / f"step_{args.start}",
        args.end,
    )
    value = probe_value(subset_dir / f"step_{args.end}", probe_info)
    result.write_text(json.dumps({"subset": j, "masked": len(masked), "probe": value}) + "\n")


def probe_value(checkpoint: Path, probe_info: dict) -> float:
    """The scores' probe (induction or previous-token, with their own settings) on one checkpoint."""
    from mda_curate.influence.blocks import parse_unit
    from mda_curate.influence.probes import induction_probe, previous_token_probe

    model, tokenizer = load_causal_lm(str(checkpoint))
    settings = probe_info["probe"]
    if settings["probe"] == "induction":
        probe = induction_probe(tokenizer, settings["sequences"], settings["length"], settings["seed"])
    else:
        layer, head = parse_unit(probe_info["unit"])
        probe = previous_token_probe(
            tokenizer, layer, head, settings["sequences"], settings["length"], settings["seed"]
        )
    with torch.no_grad():
        return float(sum(probe.objective(model, ids, mask) for ids, mask in probe.batches))


def kept_mask(window: np.ndarray, args) -> np.ndarray:
    """``[subsets, window]``: 1 where subset j keeps the sample."""
    kept = np.ones((args.subsets, len(window)))
    for j in range(args.subsets):
        kept[j, np.searchsorted(window, masked_samples(window, args.alpha, j))] = 0.0
    return kept


def lds(predicted: np.ndarray, measured: np.ndarray, seed: int = 0) -> dict:
    """Spearman of predicted vs measured probe values, with a bootstrap 95% interval over subsets."""
    rng = np.random.default_rng(seed)
    draws = [
        spearmanr(predicted[b], measured[b]).statistic for b in rng.integers(0, len(measured), (1000, len(measured)))
    ]
    return {
        "lds": float(spearmanr(predicted, measured).statistic),
        "ci95": [float(np.nanpercentile(draws, 2.5)), float(np.nanpercentile(draws, 97.5))],
    }


def chance_level(kept: np.ndarray, measured: np.ndarray, draws: int = 1000) -> dict:
    """LDS of random Gaussian scores: its mean and central 95% over ``draws`` score vectors."""
    rng = np.random.default_rng(0)
    values = [spearmanr(kept @ rng.standard_normal(kept.shape[1]), measured).statistic for _ in range(draws)]
    return {
        "mean": float(np.mean(values)),
        "central95": [float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))],
    }


def without_part(argv: list[str]) -> list[str]:
    """The arguments minus ``--part a:b`` (each process has its own; the result does not depend on it)."""
    argv = list(argv)
    if "--part" in argv:
        del argv[argv.index("--part") : argv.index("--part") + 2]
    return argv


def write(args, tables: dict, window: np.ndarray, measured: list[float], probe_info: dict) -> None:
    measured, kept = np.array(measured), kept_mask(window, args)
    results = {}
    for name, table in tables.items():
        by_sample = dict(zip(table["sample_index"].tolist(), table["score"].fillna(0.0).tolist()))
        results[name] = lds(kept @ np.array([by_sample[s] for s in window.tolist()]), measured)
    out = {
        "what": "LDS: Spearman of predicted (sum of kept samples' scores) vs retrained probe over random window halves",
        "command": "OMP_NUM_THREADS=1 python benchmarks/influence/influence_lds.py "
        + " ".join(without_part(sys.argv[1:])),
        "run": args.run,
        "window": [args.start, args.end],
        "window_samples": len(window),
        "subsets": args.subsets,
        "alpha": args.alpha,
        "probe": probe_info["probe"],
        "unit": probe_info["unit"],
        "probe_before_and_unmasked_after": [
            probe_value(Path(args.run) / f"step_{step}", probe_info) for step in (args.start, args.end)
        ],
        "measured_probe": {"mean": float(measured.mean()), "std": float(measured.std()), "values": measured.tolist()},
        "scores": {name: str(path) for name, path in zip(tables, args.scores)},
        "lds": results,
        "chance_level_random_scores": chance_level(kept, measured),
        "machine": {"nproc": os.cpu_count(), "processor": platform.processor() or platform.machine()},
        "versions": {"python": platform.python_version(), "torch": torch.__version__},
    }
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
