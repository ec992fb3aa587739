"""``mda-curate influence``: EK-FAC influence of training samples on one head's probe (or on whole modules)."""

from __future__ import annotations

import argparse
import os
from dataclasses import fields
from functools import partial
from pathlib import Path

from mda_curate.commands._flags import add_setting
from mda_curate.errors import UserError
from mda_curate.influence.settings import FISHERS, STRATEGIES, InfluenceSettings

PROBE_METRIC = {"induction": "induction", "previous_token": "previous_token"}


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
    from mda_curate.influence.engine import run_influence

    job, tokenizer = build_job(args)
    rank = args.rank if args.rank is not None else int(os.environ.get("RANK", "0"))
    world_size = args.world_size if args.world_size is not None else int(os.environ.get("WORLD_SIZE", "1"))
    out = Path(args.out)
    table = run_influence(job, out, rank, world_size)
    if table is None:
        from mda_curate.console import console

        console.print(f"rank {rank}: shards done; {out} is written when every rank has finished")
        return 0
    show_summary(table, job, tokenizer, out, args.top)
    return 0


def build_job(args: argparse.Namespace):
    from mda_curate.fingerprint import fingerprint
    from mda_curate.influence.blocks import head_blocks, module_blocks, parse_unit
    from mda_curate.influence.engine import InfluenceJob
    from mda_curate.influence.samples import open_samples, parse_steps
    from mda_curate.influence.settings import parse_damping
    from mda_curate.models import load_causal_lm

    if args.probe == "query-loss" and not args.query:
        raise UserError("--probe query-loss needs --query FILE")
    if args.modules and args.probe == "previous_token":
        raise UserError("--probe previous_token measures one head: give --unit, not --modules")
    given = {f.name: getattr(args, f.name) for f in fields(InfluenceSettings)}
    settings = InfluenceSettings(**{**given, "damping": parse_damping(args.damping)})
    model, tokenizer = load_causal_lm(args.model, device=args.device)
    steps = parse_steps(args.steps) if args.steps else None
    train = open_samples(args.train, tokenizer, settings.max_length, steps)
    factor_steps = parse_steps(args.factor_steps, "factor_steps") if args.factor_steps else steps
    factor_data = open_samples(args.factors_data, tokenizer, settings.max_length, factor_steps) if args.factors_data else train
    unit = "modules:all-linear" if args.modules else args.unit or best_head(model, tokenizer, args)
    blocks = module_blocks(model) if args.modules else head_blocks(model, *parse_unit(unit), args.blocks)
    probe = make_probe(args, model, tokenizer, unit, settings)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    if args.shard_size < 1:
        raise UserError(f"--shard-size {args.shard_size}: must be at least 1")
    job = InfluenceJob(
        model, str(Path(args.model).resolve()), blocks, unit, probe, train, factor_data, settings, pad or 0,
        args.shard_size, model_content=fingerprint([args.model]) if Path(args.model).is_dir() else {},
    )
    return job, tokenizer


def best_head(model, tokenizer, args) -> str:
    """The head that scores highest on the probe's metric (``mda_curate.units``)."""
    from mda_curate.console import console
    from mda_curate.units.heads import score_heads
    from mda_curate.units.scoring import probe_sequences
    from mda_curate.units.sequences import ProbeSettings

    if args.probe not in PROBE_METRIC:
        raise UserError("--probe query-loss: give the head with --unit L.H (or --modules all-linear)")
    length = (args.probe_length, args.probe_length)
    sequences, _ = probe_sequences(tokenizer, ProbeSettings(args.probe_sequences, length, seed=args.seed))
    scores = getattr(score_heads(model, sequences), PROBE_METRIC[args.probe])
    layer, head = divmod(int(scores.argmax()), scores.shape[1])
    console.print(f"unit: L{layer}H{head}, the best {args.probe} head ({float(scores[layer, head]):.3f})")
    return f"{layer}.{head}"


def make_probe(args, model, tokenizer, unit: str, settings):
    from mda_curate.influence.blocks import parse_unit
    from mda_curate.influence.probes import induction_probe, previous_token_probe, query_loss_probe
    from mda_curate.influence.samples import open_samples

    if args.probe == "induction":
        return induction_probe(tokenizer, args.probe_sequences, args.probe_length, args.seed)
    if args.probe == "previous_token":
        return previous_token_probe(tokenizer, *parse_unit(unit), args.probe_sequences, args.probe_length, args.seed)
    query = open_samples(args.query, tokenizer, settings.max_length)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    return query_loss_probe(query, settings.batch_size, pad or 0)


def show_summary(table, job, tokenizer, out: Path, top: int) -> None:
    """Top samples with a text snippet, and the score distribution per domain."""
    import json

    from mda_curate.console import console
    from mda_curate.console import table as rich_table

    summary = json.loads((out.with_name(out.stem + ".influence") / "summary.json").read_text())
    rows = sorted((r for r in table.to_pylist() if r["score"] is not None), key=lambda r: -r["score"])[:top]
    console.print(rich_table(
        f"top {len(rows)} samples by influence on {job.unit} ({job.probe.name})",
        ["doc_id", "domain", "score", "snippet"],
        [[r["doc_id"], r["domain"], r["score"], _snippet(tokenizer, job, r)] for r in rows],
    ))
    console.print(rich_table(
        "score distribution per domain",
        ["domain", "samples", "mean", "median", f"in top {summary['top_fraction']:.0%}"],
        [[d, s["n"], s["mean"], s["median"], f"{s['top_share']:.1%}"] for d, s in summary["per_domain"].items()],
    ))
    share = summary["top_share_of_positive_influence"]
    console.print(
        f"{summary['scored']} samples scored, {summary['skipped']} skipped (shorter than 2 tokens); "
        f"top {summary['top_fraction']:.0%} carry {share:.1%} of the positive influence" if share is not None
        else f"{summary['scored']} samples scored, {summary['skipped']} skipped; no positive influence"
    )
    console.print(f"wrote {out}")


def _snippet(tokenizer, job, row: dict, width: int = 60) -> str:
    position = row["sample_index"] - job.train[0].index
    text = tokenizer.decode(job.train[position].tokens[:64].tolist())
    return " ".join(text.split())[:width]
