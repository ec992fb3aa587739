"""``mda-curate influence``: EK-FAC influence of training samples on one head's probe (or on whole modules)."""

from __future__ import annotations

import argparse
import os


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "influence",
        help="influence of every training sample on a unit (one head's Q/K/V/O) or on whole modules",
        description=(
            "Score every training sample by I(z) = -grad L(z)^T (F + damping)^-1 grad f, with f the unit's probe "
            "and F an EK-FAC Fisher restricted to one attention head's slices (--unit L.H: its Q rows, its KV "
            "group's K and V rows, its O columns, in GPT-NeoX's fused weights or Llama-style q/k/v/o_proj), or to "
            "every Linear of the transformer layers (--modules all-linear, as kronfluence). "
            "Positive = upweighting the sample increases f (for query-loss: lowers the query loss). Writes one row "
            "per training sample, in input order: doc_id, score, plus sample_index, domain, loss, n_tokens, skipped."
        ),
    )
    parser.add_argument(
        "--model", required=True, metavar="DIR",
        help="a GPT-NeoX, Llama, OLMo 2 or Qwen2 model folder (with its tokenizer)",
    )
    parser.add_argument(
        "--train", required=True, metavar="DATA",
        help="JSONL/parquet documents (text), a tokenized folder, a training run folder or a Pythia .bin/.idx prefix",
    )
    parser.add_argument("--steps", metavar="A:B", help="with a run folder or Pythia prefix: score the samples of steps A..B-1")
    parser.add_argument("--unit", metavar="L.H", help="the head, layer.head from 0 (default: the best head for --probe)")
    parser.add_argument("--blocks", default="qkvo", choices=["qk", "qkvo"], help="the head's blocks (default qkvo)")
    parser.add_argument("--modules", choices=["all-linear"], help="score whole modules instead of one head")
    parser.add_argument("--probe", default="induction", choices=["induction", "previous_token", "query-loss"])
    parser.add_argument("--query", metavar="FILE", help="JSONL/parquet query documents for --probe query-loss")
    parser.add_argument("--probe-sequences", type=int, default=32, metavar="N", help="probe sequences (default 32)")
    parser.add_argument("--probe-length", type=int, default=32, metavar="N", help="random tokens per copy (default 32)")
    parser.add_argument("--strategy", default="ekfac", choices=["identity", "diagonal", "kfac", "ekfac"])
    parser.add_argument("--fisher", default="true", choices=["true", "empirical"], help="labels for the curvature")
    parser.add_argument("--damping", default="0.1mean", metavar="FLOAT|0.1mean", help="default 0.1 x mean eigenvalue")
    parser.add_argument("--max-length", type=int, default=512, metavar="N", help="tokens per document (default 512)")
    parser.add_argument("--factors-data", metavar="DATA", help="data for the curvature (default: --train)")
    parser.add_argument("--factor-steps", metavar="A:B", help="--steps for --factors-data (default: --steps)")
    parser.add_argument("--factor-samples", type=int, metavar="N", help="use at most N samples for the curvature")
    parser.add_argument("--batch-size", type=int, default=8, metavar="N", help="samples per forward/backward (default 8)")
    parser.add_argument("--seed", type=int, default=0, help="seed for probe tokens and sampled Fisher labels")
    parser.add_argument("--shard-size", type=int, default=256, metavar="N", help="samples per output shard (default 256)")
    parser.add_argument("--rank", type=int, help="this worker's rank (default $RANK or 0)")
    parser.add_argument("--world-size", type=int, help="number of workers (default $WORLD_SIZE or 1)")
    parser.add_argument("--device", default="cpu", help="torch device (default cpu)")
    parser.add_argument("--top", type=int, default=10, metavar="K", help="samples shown in the summary (default 10)")
    parser.add_argument("--out", default="scores.parquet", metavar="FILE", help="output parquet (default scores.parquet)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mda_curate.influence.request import InfluenceRequest, compute_influence
    from mda_curate.influence.samples import parse_steps
    from mda_curate.influence.settings import InfluenceSettings, parse_damping

    settings = InfluenceSettings(
        strategy=args.strategy, fisher=args.fisher, damping=parse_damping(args.damping), max_length=args.max_length,
        batch_size=args.batch_size, factor_max_samples=args.factor_samples, seed=args.seed,
    )
    request = InfluenceRequest(
        model=args.model, train=args.train, out=args.out, steps=parse_steps(args.steps) if args.steps else None,
        unit=args.unit, blocks=args.blocks, modules=args.modules, probe=args.probe, query=args.query,
        probe_sequences=args.probe_sequences, probe_length=args.probe_length, factors_data=args.factors_data,
        factor_steps=parse_steps(args.factor_steps) if args.factor_steps else None, shard_size=args.shard_size,
        device=args.device, top=args.top, settings=settings,
    )
    rank = args.rank if args.rank is not None else int(os.environ.get("RANK", "0"))
    world_size = args.world_size if args.world_size is not None else int(os.environ.get("WORLD_SIZE", "1"))
    compute_influence(request, rank, world_size)
    return 0
