"""``mda-curate influence``: EK-FAC influence of training samples on one head's probe (or on whole modules)."""

from __future__ import annotations

import argparse
import os
from dataclasses import fields
from functools import partial

from mda_curate.commands._flags import add_setting
from mda_curate.influence.settings import FISHERS, STRATEGIES, InfluenceSettings


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
    parser.add_argument(
        "--blocks", default="qkvo", choices=["qk", "qkvo"], help="the head's blocks (default %(default)s)",
    )
    parser.add_argument("--modules", choices=["all-linear"], help="score whole modules instead of one head")
    parser.add_argument("--probe", default="induction", choices=["induction", "previous_token", "query-loss"])
    parser.add_argument("--query", metavar="FILE", help="JSONL/parquet query documents for --probe query-loss")
    parser.add_argument(
        "--probe-sequences", type=int, default=32, metavar="N", help="probe sequences (default %(default)s)",
    )
    parser.add_argument(
        "--probe-length", type=int, default=32, metavar="N", help="random tokens per copy (default %(default)s)",
    )
    setting = partial(add_setting, parser, InfluenceSettings)
    setting("strategy", choices=STRATEGIES)
    setting("fisher", choices=FISHERS)
    setting("damping", type=str, default="0.1mean", metavar="FLOAT|0.1mean")
    setting("max_length", metavar="N")
    parser.add_argument("--factors-data", metavar="DATA", help="data for the curvature (default: --train)")
    parser.add_argument("--factor-steps", metavar="A:B", help="--steps for --factors-data (default: --steps)")
    setting("factor_max_samples", "--factor-samples", metavar="N")
    setting("batch_size", metavar="N")
    setting("seed")
    parser.add_argument(
        "--shard-size", type=int, default=256, metavar="N", help="samples per output shard (default %(default)s)",
    )
    parser.add_argument("--rank", type=int, help="this worker's rank (default $RANK or 0)")
    parser.add_argument("--world-size", type=int, help="number of workers (default $WORLD_SIZE or 1)")
    parser.add_argument("--device", default="cpu", help="torch device (default %(default)s)")
    parser.add_argument(
        "--top", type=int, default=10, metavar="K", help="samples shown in the summary (default %(default)s)",
    )
    parser.add_argument("--out", default="scores.parquet", metavar="FILE", help="output parquet (default %(default)s)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mda_curate.influence.request import InfluenceRequest, compute_influence
    from mda_curate.influence.samples import parse_steps
    from mda_curate.influence.settings import parse_damping

    given = {f.name: getattr(args, f.name) for f in fields(InfluenceSettings)}
    settings = InfluenceSettings(**{**given, "damping": parse_damping(args.damping)})
    request = InfluenceRequest(
        model=args.model, train=args.train, out=args.out, steps=parse_steps(args.steps) if args.steps else None,
        unit=args.unit, blocks=args.blocks, modules=args.modules, probe=args.probe, query=args.query,
        probe_sequences=args.probe_sequences, probe_length=args.probe_length, factors_data=args.factors_data,
        factor_steps=parse_steps(args.factor_steps, "factor_steps") if args.factor_steps else None, shard_size=args.shard_size,
        device=args.device, top=args.top, settings=settings,
    )
    rank = args.rank if args.rank is not None else int(os.environ.get("RANK", "0"))
    world_size = args.world_size if args.world_size is not None else int(os.environ.get("WORLD_SIZE", "1"))
    compute_influence(request, rank, world_size)
    return 0
