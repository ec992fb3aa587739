"""``mda-curate train``: train a GPT-NeoX or Llama-style preset on a fixed data order, with interventions."""

from __future__ import annotations

import argparse
from dataclasses import fields, replace
from functools import partial

from mda_curate.errors import UserError
from mda_curate.flags import add_setting
from mda_curate.training.config import DTYPES, LR_SCHEDULES, PRESETS, RECIPES, TrainConfig

DEFAULTS = TrainConfig()


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
    parser.add_argument(
        "--data",
        nargs="*",
        default=[],
        metavar="PATH",
        help="tokenized corpus folders, or JSONL/parquet files (tokenized into OUT/tokenized)",
    )
    parser.add_argument(
        "--tokenizer",
        required=True,
        metavar="DIR",
        help="the HF tokenizer folder the data was (or is to be) tokenized with",
    )
    parser.add_argument(
        "--out", required=True, metavar="RUN", help="run folder: config, data order, log and step_<N> checkpoints"
    )
    parser.add_argument(
        "--recipe",
        choices=list(RECIPES),
        help="start from a named recipe (cpu-formation: synthetic catalyst; natural-formation: natural text only; "
        "docs/formation.md); other flags override it",
    )
    # TrainConfig fields: a flag left out (None) keeps the recipe's (or the default) value
    config = partial(add_setting, parser, TrainConfig, default=None)
    config("preset", choices=list(PRESETS))
    config("context_length", metavar="N")
    config("vocab_size", metavar="N")
    config("steps")
    config("batch_size")
    config("lr")
    config("warmup_steps")
    config("lr_schedule", choices=LR_SCHEDULES)
    config("weight_decay")
    config("grad_clip")
    config("mix", type=_mix, metavar="DOMAIN=W,...")
    config("catalyst_share", metavar="F")
    parser.add_argument(
        "--schedule",
        metavar="FILE",
        help="JSON interventions: mask, duplicate, insert (see mda_curate/training/schedule.py)",
    )
    parser.add_argument(
        "--init-from",
        metavar="CKPT",
        help="start from a checkpoint folder (with its optimizer state and step when it has a "
        "trainer_state.pt): arms branch from a shared checkpoint",
    )
    parser.add_argument(
        "--until",
        type=int,
        metavar="STEP",
        help="stop after step STEP with a checkpoint (continue later with --resume); the data order still "
        "spans --steps",
    )
    parser.add_argument(
        "--resume", action="store_true", help="continue the run in --out from its latest checkpoint, exactly"
    )
    config("seed")
    config("checkpoint_every", metavar="N")
    config("log_every", metavar="N")
    config("device")
    config("dtype", choices=DTYPES)
    config("threads", metavar="N")
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
    given = {f.name: getattr(args, f.name, None) for f in fields(TrainConfig)}
    return replace(base, **{name: value for name, value in given.items() if value is not None})


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
