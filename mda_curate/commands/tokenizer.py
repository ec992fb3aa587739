"""``mda-curate tokenizer``: train the project's byte-level BPE on a corpus."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    parser = subparsers.add_parser("tokenizer", help="train a byte-level BPE tokenizer on a corpus")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    train = actions.add_parser(
        "train",
        help="train a byte-level BPE and save it as an HF tokenizer folder",
        description="Train a GPT-NeoX-style byte-level BPE on JSONL/parquet documents; the output folder "
        "loads with transformers.AutoTokenizer.from_pretrained.",
    )
    train.add_argument("data", nargs="+", help="JSONL or parquet files with a 'text' field (and optional 'domain')")
    train.add_argument("--out", required=True, help="output folder for the tokenizer")
    train.add_argument(
        "--vocab-size",
        type=int,
        default=1024,
        help="vocabulary size, special tokens included (default %(default)s)",
    )
    train.add_argument(
        "--domains",
        default=None,
        help="comma-separated domains to train on (default: all); e.g. prose,code,latex,markup",
    )
    train.add_argument("--skip-bad", action="store_true", help="count and skip malformed lines instead of failing")
    train.set_defaults(func=run_train)


def run_train(args: argparse.Namespace) -> int:
    from mda_curate.console import console, table
    from mda_curate.data.documents import ReadStats, read_documents
    from mda_curate.data.tokenizer import train_tokenizer

    domains = set(args.domains.split(",")) if args.domains else None
    stats = ReadStats()
    texts = [
        doc.text
        for doc in read_documents(args.data, skip_bad=args.skip_bad, stats=stats, skip_option="--skip-bad")
        if domains is None or doc.domain in domains
    ]
    with console.status(f"training a {args.vocab_size}-token BPE on {len(texts)} documents"):
        tokenizer = train_tokenizer(texts, args.vocab_size, args.out)
    rows = [["documents read", stats.read], ["documents used", len(texts)], ["rejected", stats.total_rejected]]
    rows += [[f"rejected: {reason}", n] for reason, n in sorted(stats.rejected.items())]
    rows += [["vocabulary", len(tokenizer)], ["saved to", args.out]]
    console.print(table("tokenizer train", ["", "value"], rows))
    return 0
