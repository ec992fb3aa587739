"""``mda-curate train``: train a GPT-NeoX or Llama-style preset on a fixed data order, with interventions."""

from __future__ import annotations

import argparse
from dataclasses import replace

from mda_curate.errors import UserError
from mda_curate.training.config import LR_SCHEDULES, PRESETS, RECIPES, TrainConfig

DEFAULTS = TrainConfig()
CONFIG_FLAGS = (  # TrainConfig fields set by flags; a flag left out keeps the recipe's (or the default) value
    "preset", "context_length", "vocab_size", "steps", "batch_size", "lr", "warmup_steps", "lr_schedule",
    "weight_decay", "grad_clip", "seed", "mix", "catalyst_share", "checkpoint_every", "log_every", "device",
    "dtype", "threads",
)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train a GPT-NeoX or Llama-style model on a fixed, saved data order (mask/duplicate/insert arms)",
        description=(
            "Train a GPT-NeoX or Llama-style model (--preset) from scratch (or from a checkpoint) on a Pythia-style "
            "fixed data order: each domain's documents are packed into windows of ctx+1 tokens and every sample "
            "index of the run is assigned a (domain, window), saved in OUT. Checkpoints OUT/step_<N> load with "
            "from_pretrained. A --schedule file masks, duplicates or inserts samples while every other sample stays "
            "identical."
        ),
    )
    parser.add_argument("--data", nargs="*", default=[], metavar="PATH", help="tokenized corpus folders, or JSONL/parquet files (tokenized into OUT/tokenized)")
    parser.add_argument("--tokenizer", required=True, metavar="DIR", help="the HF tokenizer folder the data was (or is to be) tokenized with")
    parser.add_argument("--out", required=True, metavar="RUN", help="run folder: config, data order, log and step_<N> checkpoints")
    parser.add_argument(
        "--recipe",
        choices=list(RECIPES),
        help="start from a named recipe (cpu-formation: the CPU formation-window recipe, see the README); other flags override it",
    )
    parser.add_argument("--preset", choices=list(PRESETS), help=f"model shape (default {DEFAULTS.preset})")
    parser.add_argument("--context-length", type=int, metavar="N", help="tokens per sample (default: the preset's; 128 for cpu-tiny)")
    parser.add_argument("--vocab-size", type=int, metavar="N", help="model vocabulary (default: the preset's; the tokenizer's for cpu-tiny)")
    parser.add_argument("--steps", type=int, help=f"optimizer steps (default {DEFAULTS.steps})")
    parser.add_argument("--batch-size", type=int, help=f"samples per step (default {DEFAULTS.batch_size})")
    parser.add_argument("--lr", type=float, help=f"peak learning rate (default {DEFAULTS.lr})")
    parser.add_argument("--warmup-steps", type=int, help=f"linear warm-up steps (default {DEFAULTS.warmup_steps})")
    parser.add_argument("--lr-schedule", choices=LR_SCHEDULES, help="after warm-up: constant, or cosine to 10%% of --lr (default constant)")
    parser.add_argument("--weight-decay", type=float, help=f"AdamW weight decay (default {DEFAULTS.weight_decay})")
    parser.add_argument("--grad-clip", type=float, help=f"gradient-norm clip (default {DEFAULTS.grad_clip})")
    parser.add_argument("--mix", type=_mix, metavar="DOMAIN=W,...", help="relative weights of the data's domains, e.g. prose=15,code=10 (default: proportional to tokens; unnamed domains are left out)")
    parser.add_argument("--catalyst-share", type=float, metavar="F", help="share of synthetic repeated-span samples (default 0)")
    parser.add_argument("--schedule", metavar="FILE", help="JSON interventions: mask, duplicate, insert (see mda_curate/training/schedule.py)")
    parser.add_argument("--init-from", metavar="CKPT", help="start from a checkpoint folder (with its optimizer state and step when it has a trainer_state.pt): arms branch from a shared checkpoint")
    parser.add_argument("--until", type=int, metavar="STEP", help="stop after step STEP with a checkpoint (continue later with --resume); the data order still spans --steps")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its latest checkpoint, exactly")
    parser.add_argument("--seed", type=int, help=f"seed of the data order, the catalyst and the initialisation (default {DEFAULTS.seed})")
    parser.add_argument("--checkpoint-every", type=int, metavar="N", help=f"checkpoint every N steps, besides steps 0, 1, 2, 4, ..., 512 and the last (default {DEFAULTS.checkpoint_every})")
    parser.add_argument("--log-every", type=int, metavar="N", help=f"log the mean loss every N steps (default {DEFAULTS.log_every})")
    parser.add_argument("--device", help="torch device: cpu or cuda (default cpu)")
    parser.add_argument("--dtype", choices=["float32", "bfloat16"], help="float32, or bfloat16 autocast (default float32)")
    parser.add_argument("--threads", type=int, metavar="N", help="CPU threads (default: torch's, i.e. OMP_NUM_THREADS or the physical cores; on a shared machine fewer threads than cores avoids a collapse)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mda_curate.console import console, table
    from mda_curate.models import load_tokenizer
    from mda_curate.training.schedule import Schedule
    from mda_curate.training.trainer import Trainer

    if args.resume and args.init_from:
        raise UserError("--resume and --init-from exclude each other (an arm is a new run folder)")
    config = train_config(args)
    if args.until is not None and not 0 <= args.until <= config.steps:
        raise UserError(f"--until {args.until}: must be in 0..{config.steps} (--steps {config.steps})")
    schedule = Schedule.load(args.schedule, config.steps, config.batch_size) if args.schedule else Schedule()
    tokenizer = load_tokenizer(args.tokenizer)
    with console.status("preparing the run (tokenizing, building the data order)"):
        trainer = Trainer(config, args.out, tokenizer, args.data, schedule, args.init_from, args.resume)
    summary = trainer.train(until=args.until)
    sources = trainer.order.sources
    counts = [int((trainer.order.order[:, 0] == i).sum()) for i in range(len(sources))]
    rows = [
        ["steps (this session)", summary["steps"]],
        ["tokens (this session)", summary["tokens"]],
        ["final loss", summary["final_loss"] if summary["final_loss"] is not None else "-"],
        ["tokens/s (checkpoints included)", round(summary["tokens_per_s"])],
        ["seconds", summary["seconds"]],
        *[[f"samples: {s.name}", n] for s, n in zip(sources, counts)],
        ["masked / duplicated / inserted", _intervention_counts(schedule)],
        ["run folder", summary["run_dir"]],
    ]
    console.print(table(f"train {config.preset}", ["", "value"], rows))
    return 0


def train_config(args: argparse.Namespace) -> TrainConfig:
    """The named ``--recipe`` (or the defaults) with every flag given on the command line applied."""
    base = RECIPES[args.recipe] if args.recipe else DEFAULTS
    overrides = {name: getattr(args, name) for name in CONFIG_FLAGS if getattr(args, name) is not None}
    return replace(base, **overrides)


def _intervention_counts(schedule) -> str:
    duplicated = sum(len(d.samples) * d.copies for d in schedule.duplicate)
    inserts = ", ".join(f"{i.rows_per_step}/step from {i.start}" for i in schedule.insert) or "0"
    return f"{len(schedule.mask)} / {duplicated} / {inserts}"


def _mix(text: str) -> dict[str, float]:
    mix = {}
    for item in text.split(","):
        domain, sep, weight = item.partition("=")
        try:
            mix[domain.strip()] = float(weight)
        except ValueError:
            sep = ""
        if not sep or not domain.strip():
            raise argparse.ArgumentTypeError(f"{item!r} is not DOMAIN=WEIGHT")
    return mix
