"""``mda-curate augment``: mine a motif profile from influence scores, generate synthetic catalyst documents
from it, schedule their insertion into training, and draw the matched random-document control."""

from __future__ import annotations

import argparse
import json
from dataclasses import fields
from functools import partial
from pathlib import Path

from mda_curate.augment.settings import DEFAULT_DOC_TOKENS, MIN_DOC_TOKENS, GenerationSettings, MiningSettings
from mda_curate.errors import UserError
from mda_curate.flags import add_setting


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "augment",
        help="mine motifs of top-influence samples; generate, schedule and control synthetic catalyst data",
        description="Mechanistic data augmentation: 'mine' a motif profile from influence scores (top vs bottom "
        "samples), 'generate' synthetic documents with that profile, 'schedule' their insertion into a training "
        "run, and draw the 'control': random natural documents of the same token count.",
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    _register_mine(actions)
    _register_generate(actions)
    _register_schedule(actions)
    _register_control(actions)


def _register_mine(actions) -> None:
    mine = actions.add_parser(
        "mine",
        help="measure the structure of the top-influence samples against the bottom ones: a JSON motif profile",
        description="Read influence scores (mda-curate influence), take the top and bottom fractions by score and "
        "measure repeat motifs (span length, copies, distance), line structure (LaTeX, markup, records, lists, "
        "logs, code) and the token-frequency profile of each set. Samples come from a training run's steps "
        "(--run, --steps; scores keyed by sample_index) or from a document file (--data; keyed by doc_id).",
    )
    mine.add_argument(
        "--scores", required=True, metavar="SCORES.parquet", help="influence scores with a 'score' column"
    )
    mine.add_argument("--run", metavar="RUN", help="the training run folder the scored samples come from")
    mine.add_argument("--steps", metavar="A:B", help="with --run: the scored window of steps (as given to influence)")
    mine.add_argument("--data", metavar="FILE", help="JSONL/parquet documents the scores' doc_id column refers to")
    mine.add_argument(
        "--top-fraction",
        type=float,
        default=0.1,
        metavar="F",
        help="top share of scored rows (default %(default)s)",
    )
    mine.add_argument(
        "--bottom-fraction", type=float, metavar="F", help="bottom share compared against (default: --top-fraction)"
    )
    mine.add_argument(
        "--tokenizer", metavar="DIR", help="tokenizer (default: the run's; with --data, none: word units)"
    )
    mining = partial(add_setting, mine, MiningSettings, metavar="N")
    mining("min_length")
    mining("max_distance")
    mine.add_argument("--out", required=True, metavar="PROFILE.json", help="where to write the motif profile")
    mine.set_defaults(func=run_mine)


def _register_generate(actions) -> None:
    generate = actions.add_parser(
        "generate",
        help="write synthetic catalyst documents with a motif profile's kinds and shapes, to a token budget",
        description="Stream documents (repeated spans, LaTeX tables, XML/HTML records, key-value records, lists, "
        "logs) in the proportions of the profile's top set, with its repeat motifs, until the token budget: the "
        "total never exceeds it and falls short only by what no further document fits into. Tokens are "
        "counted with --tokenizer, "
        "or estimated as ceil(characters / --chars-per-token) without one. Deterministic given --seed.",
    )
    generate.add_argument("--profile", required=True, metavar="PROFILE.json", help="a profile from 'augment mine'")
    add_setting(generate, GenerationSettings, "tokens", metavar="N")
    generate.add_argument(
        "--out", required=True, metavar="FILE", help="output .jsonl, .jsonl.gz or .parquet (id, text, domain, ...)"
    )
    add_setting(generate, GenerationSettings, "seed")
    generate.add_argument(
        "--tokenizer", metavar="DIR", help="count tokens with this tokenizer (and draw words from its vocabulary)"
    )
    add_setting(generate, GenerationSettings, "chars_per_token", metavar="C")
    add_setting(generate, GenerationSettings, "doc_tokens", metavar="N")
    generate.set_defaults(func=run_generate)


def _register_schedule(actions) -> None:
    schedule = actions.add_parser(
        "schedule",
        help="write the trainer schedule that inserts a document file from a step (mda-curate train --schedule)",
        description='Write {"insert": [{"path", "start", "rows_per_step" | "share", "end"?}]}: the file\'s '
        "documents are packed into windows and inserted as extra rows from --start until --end or until they run out. "
        "The path is written relative to the schedule's folder.",
    )
    schedule.add_argument("--synthetic", required=True, metavar="FILE", help="the documents to insert (JSONL/parquet)")
    schedule.add_argument("--start", required=True, type=int, metavar="S", help="first step with inserted rows")
    schedule.add_argument(
        "--end", type=int, metavar="E", help="step to stop at (exclusive; default: until the file runs out)"
    )
    rows = schedule.add_mutually_exclusive_group(required=True)
    rows.add_argument("--rows-per-step", type=int, metavar="R", help="extra rows per step")
    rows.add_argument("--share", type=float, metavar="F", help="extra rows as a share of the batch")
    schedule.add_argument("--out", required=True, metavar="SCHEDULE.json", help="where to write the schedule")
    schedule.set_defaults(func=run_schedule)


def _register_control(actions) -> None:
    control = actions.add_parser(
        "control",
        help="draw random natural documents, or generic copy data, with the same token count as a synthetic set "
        "(the control arms)",
        description="Count the tokens of --synthetic, then draw documents of --corpus in a seeded random order until "
        "they hold as many (the last one cut to fit), counted the same way (--tokenizer, or the characters estimate); "
        "or, with --generic, write as many tokens of generic copy data: random words in spans of 10-60, each written "
        "2-3 times back to back (the training recipe's synthetic catalyst as text), with no mined motif.",
    )
    control.add_argument("--synthetic", required=True, metavar="FILE", help="the synthetic set to match")
    source = control.add_mutually_exclusive_group(required=True)
    source.add_argument("--corpus", nargs="+", metavar="FILE", help="natural JSONL/parquet documents")
    source.add_argument(
        "--generic", action="store_true", help="generic copy data (repeated random-word spans) instead of --corpus"
    )
    control.add_argument("--out", required=True, metavar="FILE", help="output .jsonl, .jsonl.gz or .parquet")
    control.add_argument(
        "--domains",
        nargs="+",
        metavar="DOMAIN",
        help="draw only documents of these domains (e.g. the training mix's; default: all)",
    )
    control.add_argument("--seed", type=int, default=0, help="seed (default %(default)s)")
    control.add_argument("--tokenizer", metavar="DIR", help="count tokens with this tokenizer")
    add_setting(control, GenerationSettings, "chars_per_token", metavar="C")
    add_setting(
        control,
        GenerationSettings,
        "doc_tokens",
        metavar="N",
        help=f"with --generic: tokens per document (default {DEFAULT_DOC_TOKENS})",
    )
    control.set_defaults(func=run_control)


def run_mine(args: argparse.Namespace) -> int:
    from mda_curate.augment.stages import mine_profile
    from mda_curate.influence.samples import parse_steps

    settings = MiningSettings(min_length=args.min_length, max_distance=args.max_distance)
    steps = parse_steps(args.steps) if args.steps and args.run else None
    mine_profile(
        args.scores,
        args.out,
        args.run,
        steps,
        args.data,
        args.top_fraction,
        args.bottom_fraction,
        args.tokenizer,
        settings,
    )
    return 0


def run_generate(args: argparse.Namespace) -> int:
    from mda_curate.augment.stages import generate_documents

    settings = GenerationSettings(**{f.name: getattr(args, f.name) for f in fields(GenerationSettings)})
    generate_documents(args.profile, args.out, settings, args.tokenizer)
    return 0


def run_schedule(args: argparse.Namespace) -> int:
    from mda_curate.augment.insertion import insertion_schedule, write_schedule
    from mda_curate.console import console
    from mda_curate.data.documents import read_documents

    schedule = insertion_schedule(
        args.synthetic, args.start, args.rows_per_step, args.share, args.end, Path(args.out).parent
    )
    docs = sum(1 for _ in read_documents([args.synthetic]))
    write_schedule(schedule, args.out)
    console.print(f"wrote {args.out}: insert the {docs} documents of {args.synthetic} from step {args.start}")
    console.print(json.dumps(schedule))
    return 0


def run_control(args: argparse.Namespace) -> int:
    from mda_curate.augment.stages import draw_control, draw_generic_control

    if args.generic:
        if args.domains:
            raise UserError("--domains applies to --corpus, not to --generic")
        doc_tokens = DEFAULT_DOC_TOKENS if args.doc_tokens is None else args.doc_tokens
        if doc_tokens < MIN_DOC_TOKENS:
            raise UserError(f"--doc-tokens must be at least {MIN_DOC_TOKENS} (got {doc_tokens})")
        draw_generic_control(args.synthetic, args.out, args.seed, args.tokenizer, args.chars_per_token, doc_tokens)
    else:
        draw_control(
            args.synthetic, args.corpus, args.out, args.seed, args.tokenizer, args.chars_per_token, args.domains
        )
    return 0
