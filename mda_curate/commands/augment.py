"""``mda-curate augment``: mine a motif profile from influence scores, generate synthetic catalyst documents
from it, schedule their insertion into training, and draw the matched random-document control."""

from __future__ import annotations

import argparse
import json
from dataclasses import fields
from functools import partial
from pathlib import Path

from mda_curate.augment.generators import GenerationSettings
from mda_curate.augment.profile import MiningSettings
from mda_curate.commands._flags import add_setting
from mda_curate.errors import UserError


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
    mine.add_argument("--scores", required=True, metavar="SCORES.parquet", help="influence scores with a 'score' column")
    mine.add_argument("--run", metavar="RUN", help="the training run folder the scored samples come from")
    mine.add_argument("--steps", metavar="A:B", help="with --run: the scored window of steps (as given to influence)")
    mine.add_argument("--data", metavar="FILE", help="JSONL/parquet documents the scores' doc_id column refers to")
    mine.add_argument(
        "--top-fraction", type=float, default=0.1, metavar="F", help="top share of scored rows (default %(default)s)",
    )
    mine.add_argument("--bottom-fraction", type=float, metavar="F", help="bottom share compared against (default: --top-fraction)")
    mine.add_argument("--tokenizer", metavar="DIR", help="tokenizer (default: the run's; with --data, none: word units)")
    mining = partial(add_setting, mine, MiningSettings, metavar="N")
    mining("min_length", help="shortest repeat span counted, in tokens")
    mining("max_distance", help="farthest earlier occurrence looked for")
    mine.add_argument("--out", required=True, metavar="PROFILE.json", help="where to write the motif profile")
    mine.set_defaults(func=run_mine)


def _register_generate(actions) -> None:
    generate = actions.add_parser(
        "generate",
        help="write synthetic catalyst documents with a motif profile's kinds and shapes, to a token budget",
        description="Stream documents (repeated spans, LaTeX tables, XML/HTML records, key-value records, lists, "
        "logs) in the proportions of the profile's top set, with its repeat motifs, until the token budget: the "
        "total never exceeds it and falls short only by what no further document fits into. Tokens are counted with --tokenizer, "
        "or estimated as ceil(characters / --chars-per-token) without one. Deterministic given --seed.",
    )
    generate.add_argument("--profile", required=True, metavar="PROFILE.json", help="a profile from 'augment mine'")
    add_setting(generate, GenerationSettings, "tokens", metavar="N")
    generate.add_argument("--out", required=True, metavar="FILE", help="output .jsonl, .jsonl.gz or .parquet (id, text, domain, ...)")
    add_setting(generate, GenerationSettings, "seed")
    generate.add_argument("--tokenizer", metavar="DIR", help="count tokens with this tokenizer (and draw words from its vocabulary)")
    add_setting(generate, GenerationSettings, "chars_per_token", metavar="C")
    add_setting(generate, GenerationSettings, "doc_tokens", metavar="N")
    generate.set_defaults(func=run_generate)


def _register_schedule(actions) -> None:
    schedule = actions.add_parser(
        "schedule",
        help="write the trainer schedule that inserts a document file from a step (mda-curate train --schedule)",
        description="Write {\"insert\": [{\"path\", \"start\", \"rows_per_step\" | \"share\", \"end\"?}]}: the file's "
        "documents are packed into windows and inserted as extra rows from --start until --end or until they run out. "
        "The path is written relative to the schedule's folder.",
    )
    schedule.add_argument("--synthetic", required=True, metavar="FILE", help="the documents to insert (JSONL/parquet)")
    schedule.add_argument("--start", required=True, type=int, metavar="S", help="first step with inserted rows")
    schedule.add_argument("--end", type=int, metavar="E", help="step to stop at (exclusive; default: until the file runs out)")
    rows = schedule.add_mutually_exclusive_group(required=True)
    rows.add_argument("--rows-per-step", type=int, metavar="R", help="extra rows per step")
    rows.add_argument("--share", type=float, metavar="F", help="extra rows as a share of the batch")
    schedule.add_argument("--out", required=True, metavar="SCHEDULE.json", help="where to write the schedule")
    schedule.set_defaults(func=run_schedule)


def _register_control(actions) -> None:
    control = actions.add_parser(
        "control",
        help="draw random natural documents with the same token count as a synthetic set (the control arm)",
        description="Count the tokens of --synthetic, then draw documents of --corpus in a seeded random order until "
        "they hold as many (the last one cut to fit), counted the same way (--tokenizer, or the characters estimate).",
    )
    control.add_argument("--synthetic", required=True, metavar="FILE", help="the synthetic set to match")
    control.add_argument("--corpus", required=True, nargs="+", metavar="FILE", help="natural JSONL/parquet documents")
    control.add_argument("--out", required=True, metavar="FILE", help="output .jsonl, .jsonl.gz or .parquet")
    control.add_argument("--domains", nargs="+", metavar="DOMAIN", help="draw only documents of these domains "
                         "(e.g. the training mix's; default: all)")
    control.add_argument("--seed", type=int, default=0, help="seed (default %(default)s)")
    control.add_argument("--tokenizer", metavar="DIR", help="count tokens with this tokenizer")
    add_setting(control, GenerationSettings, "chars_per_token", metavar="C")
    control.set_defaults(func=run_control)


def run_mine(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from mda_curate.augment.profile import mine_motifs
    from mda_curate.augment.scored import document_texts, run_tokenizer, run_tokens, select_extremes
    from mda_curate.console import console, progress

    if bool(args.run) == bool(args.data):
        raise UserError("give either --run RUN --steps A:B or --data FILE")
    if args.run and not args.steps:
        raise UserError("--run needs --steps A:B (the window the scores cover)")
    settings = MiningSettings(min_length=args.min_length, max_distance=args.max_distance)
    bottom_fraction = args.top_fraction if args.bottom_fraction is None else args.bottom_fraction
    selection = select_extremes(args.scores, "sample_index" if args.run else "doc_id", args.top_fraction, bottom_fraction)
    tokenizer_dir = args.tokenizer or (run_tokenizer(args.run) if args.run else None)
    if args.run:
        from mda_curate.influence.samples import parse_steps

        steps = parse_steps(args.steps)
        with console.status(f"reading {len(selection.top_keys) + len(selection.bottom_keys)} samples of {args.run}"):
            top, bottom = run_tokens(args.run, steps, selection.top_keys), run_tokens(args.run, steps, selection.bottom_keys)
    else:
        top, bottom = document_texts(args.data, selection.top_keys), document_texts(args.data, selection.bottom_keys)
    tokenizer = _tokenizer(tokenizer_dir)
    source = {
        "scores": str(args.scores), "run": args.run, "steps": args.steps, "data": args.data, "tokenizer": tokenizer_dir,
        "scored_rows": selection.rows, "top_fraction": args.top_fraction, "bottom_fraction": bottom_fraction,
        "top_scores": _range(selection.top_scores), "bottom_scores": _range(selection.bottom_scores),
    }
    with progress() as bar:
        task = bar.add_task("mining motifs", total=len(top) + len(bottom))
        profile = mine_motifs(top, bottom, tokenizer, settings, source, on_document=lambda: bar.advance(task))
    examples = [{**e, "key": _key(selection, e), "score": _score(selection, e)} for e in profile.examples]
    profile = replace(profile, examples=examples)
    profile.save(args.out)
    _print_profile(profile)
    console.print(f"wrote {args.out}")
    return 0


def run_generate(args: argparse.Namespace) -> int:
    from collections import Counter

    from mda_curate.augment.generators import TokenCounter, generate
    from mda_curate.augment.insertion import write_documents
    from mda_curate.augment.profile import MotifProfile
    from mda_curate.console import console, progress, table

    settings = GenerationSettings(**{f.name: getattr(args, f.name) for f in fields(GenerationSettings)})
    profile = MotifProfile.load(args.profile)
    tokenizer = _tokenizer(args.tokenizer)
    kinds, kind_tokens = Counter(), Counter()
    with progress() as bar:
        task = bar.add_task("generating tokens", total=args.tokens)

        def tally(stream):
            for record in stream:
                kinds[record["motif"]] += 1
                kind_tokens[record["motif"]] += record["n_tokens"]
                bar.advance(task, record["n_tokens"])
                yield record

        docs, tokens = write_documents(tally(generate(profile, settings, tokenizer)), args.out)
    rows = [[kind, kinds[kind], kind_tokens[kind]] for kind in sorted(kinds)]
    console.print(table(f"synthetic documents in {args.out}", ["motif", "documents", "tokens"], rows))
    console.print(f"{docs} documents, {tokens} tokens of a budget of {args.tokens} ({TokenCounter(tokenizer, args.chars_per_token).describe()})")
    return 0


def run_schedule(args: argparse.Namespace) -> int:
    from mda_curate.augment.insertion import insertion_schedule, write_schedule
    from mda_curate.console import console
    from mda_curate.data.documents import read_documents

    schedule = insertion_schedule(args.synthetic, args.start, args.rows_per_step, args.share, args.end, Path(args.out).parent)
    docs = sum(1 for _ in read_documents([args.synthetic]))
    write_schedule(schedule, args.out)
    console.print(f"wrote {args.out}: insert the {docs} documents of {args.synthetic} from step {args.start}")
    console.print(json.dumps(schedule))
    return 0


def run_control(args: argparse.Namespace) -> int:
    from mda_curate.augment.generators import TokenCounter
    from mda_curate.augment.insertion import count_tokens, random_documents, write_documents
    from mda_curate.console import console

    counter = TokenCounter(_tokenizer(args.tokenizer), args.chars_per_token)
    synthetic_docs, tokens = count_tokens(args.synthetic, counter)
    with console.status(f"drawing {tokens} tokens of random documents"):
        docs, written = write_documents(random_documents(args.corpus, tokens, args.seed, counter, args.domains), args.out)
    console.print(f"wrote {args.out}: {docs} random documents, {written} tokens (synthetic: {synthetic_docs} documents, "
                  f"{tokens} tokens; {counter.describe()})")
    return 0


def _tokenizer(folder: str | None):
    if folder is None:
        return None
    from mda_curate.models import load_tokenizer

    return load_tokenizer(folder)


def _range(scores: list[float]) -> list[float] | None:
    return [min(scores), max(scores)] if scores else None


def _key(selection, example: dict):
    keys = selection.top_keys if example["set"] == "top" else selection.bottom_keys
    return keys[example["rank"]]


def _score(selection, example: dict) -> float:
    scores = selection.top_scores if example["set"] == "top" else selection.bottom_scores
    return scores[example["rank"]]


def _print_profile(profile) -> None:
    from mda_curate.console import console, table

    rows = [[name, *("-" if v is None else v for v in values)] for name, *values in profile.contrast()]
    console.print(table("motif profile: top vs bottom influence", ["measure", "top", "bottom"], rows))
    top_motifs = [[length, copies, distance, n] for length, copies, distance, n in profile.top.repeats["motifs"][:5]]
    console.print(table("most frequent top motifs", ["length", "copies", "distance", "count"], top_motifs))
