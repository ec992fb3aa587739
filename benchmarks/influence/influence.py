"""Influence engine: agreement with kronfluence, speed against peers, and memory against sample count.

On a formation-window checkpoint of the CPU recipe (``benchmarks/formation_window/formation_window.py`` makes the run),
over the run's own training samples (129 tokens each):

- module mode (every Linear of the layers, empirical Fisher, damping 0.1 x mean) vs kronfluence 1.0.1 on
  the same model, modules, samples and query: Spearman and max relative difference;
- scoring throughput in training-sample tokens/s: mda-curate module mode vs kronfluence pairwise scoring
  (same modules), mda-curate per-head (Q/K/V/O of one head) batched vs its own batch-1 loop, and vs one plain
  training step (forward, backward, AdamW) on the same batch, the physical floor;
- peak RSS of ``mda-curate influence`` (a fresh process each) vs the number of scored samples.

Exact command behind the committed ``benchmarks/influence/influence.json`` (machine otherwise idle if possible), on
the seed-1 formation run: the validation base run ``runs/formation/share0.6_seed1`` (trained to step
3,000) copied to ``runs/bench/`` and resumed to step 6,250 with ``mda-curate train --recipe cpu-formation
--seed 1 --data examples/data/train.parquet --tokenizer $PWD/examples/tokenizer --out
runs/bench/share0.6_seed1 --resume --until 6250`` (the tokenizer path as the run saved it):

    OMP_NUM_THREADS=2 python benchmarks/influence/influence.py --run runs/bench/share0.6_seed1 --checkpoint 6250 --unit 1.2
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import transformers
from scipy.stats import spearmanr

from mda_curate.influence.blocks import head_blocks, module_blocks, parse_unit
from mda_curate.influence.capture import Capture
from mda_curate.influence.engine import preconditioned_probe, score_batch
from mda_curate.influence.factors import fit_factors
from mda_curate.influence.kronfluence_compat import kronfluence_scores
from mda_curate.influence.probes import induction_probe, query_loss_probe
from mda_curate.influence.samples import Batches, Sample, Samples, open_samples
from mda_curate.influence.settings import InfluenceSettings
from mda_curate.models import load_causal_lm

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", default="runs/formation/share0.6_seed1")
    parser.add_argument("--checkpoint", type=int, default=6250)
    parser.add_argument("--unit", default="1.2")
    parser.add_argument("--samples", type=int, default=512, help="training samples for agreement and speed")
    parser.add_argument("--rss-samples", type=int, nargs="+", default=[256, 1024, 4096])
    parser.add_argument("--out", default=str(HERE / "influence.json"))
    args = parser.parse_args()

    run = Path(args.run)
    model, tokenizer = load_causal_lm(str(run / f"step_{args.checkpoint}"))
    batch_size = json.loads((run / "config.json").read_text())["train"]["batch_size"]
    first_step = args.checkpoint
    window = open_samples(run, steps=(first_step, first_step + -(-args.samples // batch_size)))
    rows = torch.stack([torch.from_numpy(window[i].tokens) for i in range(args.samples)])
    before = open_samples(run, steps=(first_step - 1, first_step))  # query: 4 samples of the step before
    query_rows = torch.stack([torch.from_numpy(before[i].tokens) for i in range(4)])
    result = {
        "what": "influence engine vs kronfluence 1.0.1, a batch-1 loop and a plain training step; RSS vs samples",
        "command": "OMP_NUM_THREADS="
        + os.environ.get("OMP_NUM_THREADS", "")
        + " python benchmarks/influence/influence.py "
        + " ".join(sys.argv[1:]),
        "model": f"{run}/step_{args.checkpoint}",
        "samples": args.samples,
        "tokens_per_sample": int(rows.shape[1]),
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
    }
    result["kronfluence"] = against_kronfluence(model, rows, query_rows, batch_size)
    result["per_head"] = per_head_speed(model, tokenizer, rows, parse_unit(args.unit), batch_size)
    result["training_step_tokens_per_s"] = training_step_speed(model, rows, batch_size)
    result["ratios"] = ratios(result)
    result["peak_rss_mb"] = peak_rss(run, args.checkpoint, args.unit, args.rss_samples, batch_size)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["ratios"], indent=2))


def as_samples(rows: torch.Tensor) -> Samples:
    return Samples("rows", len(rows), lambda i: Sample(i, f"row-{i}", "x", rows[i].numpy()))


def score_all(model, blocks, preconditioned, samples: Samples, batch_size: int) -> tuple[np.ndarray, float]:
    scores = []
    started = time.perf_counter()
    with Capture(model, blocks) as capture:
        for batch in Batches(samples, range(len(samples)), batch_size, 0):
            scores.extend(
                score_batch(model, capture, preconditioned, batch.input_ids, batch.attention_mask)[0].tolist()
            )
    return np.array(scores), time.perf_counter() - started


def against_kronfluence(model, rows, query_rows, batch_size) -> dict:
    settings = InfluenceSettings(strategy="ekfac", fisher="empirical", batch_size=batch_size)
    blocks = module_blocks(model)
    started = time.perf_counter()
    factors = fit_factors(model, blocks, Batches(as_samples(rows), range(len(rows)), batch_size, 0), settings)
    factor_seconds = time.perf_counter() - started
    probe = query_loss_probe(as_samples(query_rows), len(query_rows), 0)
    preconditioned = preconditioned_probe(model, blocks, probe, factors, None)
    ours, score_seconds = score_all(model, blocks, preconditioned, as_samples(rows), batch_size)
    with tempfile.TemporaryDirectory() as work:
        peer = kronfluence_scores(model, rows, query_rows, Path(work), "ekfac", empirical=True, batch_size=batch_size)
    theirs = peer.scores.double().numpy()
    tokens = rows.numel()
    return {
        "spearman": float(spearmanr(ours, theirs).statistic),
        "max_relative_difference": float(np.abs(ours - theirs).max() / np.abs(theirs).max()),
        "ours": {
            "factor_seconds": factor_seconds,
            "score_seconds": score_seconds,
            "score_tokens_per_s": tokens / score_seconds,
        },
        "kronfluence": {
            "factor_seconds": peer.factor_seconds,
            "score_seconds": peer.score_seconds,
            "score_tokens_per_s": tokens / peer.score_seconds,
        },
    }


def per_head_speed(model, tokenizer, rows, unit, batch_size) -> dict:
    blocks = head_blocks(model, *unit, "qkvo")
    settings = InfluenceSettings(strategy="ekfac", fisher="true", batch_size=batch_size)
    factors = fit_factors(model, blocks, Batches(as_samples(rows), range(len(rows)), batch_size, 0), settings)
    preconditioned = preconditioned_probe(model, blocks, induction_probe(tokenizer), factors, None)
    batched, seconds = score_all(model, blocks, preconditioned, as_samples(rows), batch_size)
    subset = rows[:64]
    single, single_seconds = score_all(model, blocks, preconditioned, as_samples(subset), 1)
    paper, paper_seconds = paper_style_loop(model, blocks, preconditioned, subset)
    return {
        "unit": f"{unit[0]}.{unit[1]}",
        "batched_tokens_per_s": rows.numel() / seconds,
        "batch1_tokens_per_s": subset.numel() / single_seconds,
        "paper_style_batch1_tokens_per_s": subset.numel() / paper_seconds,
        "batched_equals_batch1_max_relative": float(np.abs(batched[:64] - single).max() / np.abs(single).max()),
        "batched_equals_paper_style_max_relative": float(np.abs(batched[:64] - paper).max() / np.abs(paper).max()),
    }


def paper_style_loop(model, blocks, preconditioned, rows) -> tuple[np.ndarray, float]:
    """The released code's way: one sample at a time, a full backward to every parameter's ``.grad``,
    then the head's gradient slices dotted with the preconditioned probe gradient."""
    from mda_curate.influence.probes import summed_lm_loss

    for parameter in model.parameters():
        parameter.requires_grad_(True)
    scores = []
    started = time.perf_counter()
    for row in rows:
        model.zero_grad(set_to_none=True)
        summed_lm_loss(model, row[None], torch.ones_like(row[None])).sum().backward()
        scores.append(-sum(float((b.weight_grad() * preconditioned[b.name]).sum()) for b in blocks))
    seconds = time.perf_counter() - started
    model.zero_grad(set_to_none=True)
    return np.array(scores), seconds


def training_step_speed(model, rows, batch_size, repeats: int = 3) -> float:
    import copy

    from mda_curate.influence.probes import summed_lm_loss

    twin = copy.deepcopy(model).train()
    optimizer = torch.optim.AdamW(twin.parameters(), lr=1e-4)
    mask = torch.ones_like(rows[:batch_size])
    started = time.perf_counter()
    for _ in range(repeats):
        for start in range(0, len(rows), batch_size):
            ids = rows[start : start + batch_size]
            loss = summed_lm_loss(twin, ids, mask[: len(ids)]).sum() / ids.numel()
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
    return repeats * rows.numel() / (time.perf_counter() - started)


def ratios(result: dict) -> dict:
    k, head = result["kronfluence"], result["per_head"]
    return {
        "spearman_vs_kronfluence": k["spearman"],
        "module_scoring_vs_kronfluence": k["ours"]["score_tokens_per_s"] / k["kronfluence"]["score_tokens_per_s"],
        "head_scoring_vs_batch1_loop": head["batched_tokens_per_s"] / head["batch1_tokens_per_s"],
        "head_scoring_vs_paper_style_batch1_loop": head["batched_tokens_per_s"]
        / head["paper_style_batch1_tokens_per_s"],
        "head_scoring_vs_training_step": head["batched_tokens_per_s"] / result["training_step_tokens_per_s"],
        "module_scoring_vs_training_step": k["ours"]["score_tokens_per_s"] / result["training_step_tokens_per_s"],
    }


def peak_rss(run: Path, checkpoint: int, unit: str, counts: list[int], batch_size: int) -> dict:
    """Peak resident memory of a fresh ``mda-curate influence`` process per sample count (factors on 256)."""
    out = {}
    with tempfile.TemporaryDirectory() as work:
        for n in counts:
            steps = f"{checkpoint}:{checkpoint + -(-n // batch_size)}"
            command = [
                sys.executable,
                "-c",
                "import resource, sys; from mda_curate.cli import main; code = main(sys.argv[1:]); "
                "print('RSS', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss); sys.exit(code)",
                "influence",
                "--model",
                str(run / f"step_{checkpoint}"),
                "--train",
                str(run),
                "--steps",
                steps,
                "--unit",
                unit,
                "--factor-samples",
                "256",
                "--batch-size",
                str(batch_size),
                "--out",
                f"{work}/s{n}.parquet",
            ]
            done = subprocess.run(command, capture_output=True, text=True, check=True)
            out[str(n)] = int(done.stdout.split("RSS")[-1].split()[0]) / 1024
    return out


if __name__ == "__main__":
    main()
