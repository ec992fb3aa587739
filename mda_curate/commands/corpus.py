"""``mda-curate corpus``: build the sample corpus from pinned Debian packages, and per-domain statistics."""

from __future__ import annotations

import argparse
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "corpus", help="build the sample corpus from Debian packages; per-domain statistics"
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    _register_build(actions)
    _register_stats(actions)
    _register_tokenize(actions)


def _register_build(actions) -> None:
    build = actions.add_parser(
        "build",
        help="build train/heldout parquet files and SOURCES.md from pinned .deb files",
        description="Read the .deb files named in the manifest (checking each sha256), extract the files its "
        "rules select, split them into documents and write train.parquet, heldout.parquet and SOURCES.md. "
        "The same packages give the same bytes.",
    )
    build.add_argument(
        "--debs", required=True, metavar="DIR", help="folder holding the .deb files (as apt-get download names them)"
    )
    build.add_argument(
        "--manifest",
        default=str(EXAMPLES / "corpus_sources.toml"),
        help="TOML manifest of packages, versions, sha256 and extraction rules (default: "
        "examples/corpus_sources.toml)",
    )
    build.add_argument(
        "--out", default=str(EXAMPLES / "data"), metavar="DIR", help="output folder (default: examples/data)"
    )
    build.add_argument(
        "--download",
        action="store_true",
        help="first run 'apt-get download NAME=VERSION' into --debs for packages not there yet (needs apt)",
    )
    build.set_defaults(func=run_build)


def _register_stats(actions) -> None:
    stats = actions.add_parser(
        "stats",
        help="documents, characters, bytes (and tokens) per domain of JSONL/parquet files",
        description="Print a table of per-domain statistics over JSONL or parquet document files.",
    )
    stats.add_argument(
        "files", nargs="+", metavar="FILE", help="JSONL or parquet files with a 'text' field (and optional 'domain')"
    )
    stats.add_argument("--tokenizer", metavar="DIR", help="also count tokens with this HF tokenizer folder")
    stats.add_argument("--skip-bad", action="store_true", help="count and skip malformed lines instead of failing")
    stats.set_defaults(func=run_stats)


def _register_tokenize(actions) -> None:
    tokenize = actions.add_parser(
        "tokenize",
        help="tokenize JSONL/parquet documents into the project's tokenized format",
        description="Write a tokenized folder (tokens.bin, docs.parquet with doc_id/domain/offset/length, "
        "meta.json) that training and influence read by memory map.",
    )
    tokenize.add_argument("files", nargs="+", metavar="FILE", help="JSONL or parquet files with a 'text' field")
    tokenize.add_argument("--tokenizer", required=True, metavar="DIR", help="HF tokenizer folder or hub id")
    tokenize.add_argument("--out", required=True, metavar="DIR", help="output folder")
    tokenize.add_argument("--skip-bad", action="store_true", help="count and skip malformed lines instead of failing")
    tokenize.set_defaults(func=run_tokenize)


def run_build(args: argparse.Namespace) -> int:
    from mda_curate.console import console, progress, table
    from mda_curate.data.sample_corpus import DOMAINS, download_debs, load_manifest, verify_debs, write_corpus

    manifest = load_manifest(args.manifest)
    if args.download:
        with console.status(f"apt-get download of {len(manifest.packages)} packages into {args.debs}"):
            download_debs(manifest, Path(args.debs))
    with console.status("checking the sha256 of every .deb"):
        debs = verify_debs(manifest, Path(args.debs))
    with progress() as bar:
        task = bar.add_task("reading packages", total=len(manifest.packages))
        result = write_corpus(manifest, debs, Path(args.out), on_package=lambda _: bar.advance(task))
    rows = []
    for domain in DOMAINS:
        docs = sum(report.docs[domain] for report in result.reports)
        size = sum(report.bytes[domain] for report in result.reports)
        rows.append([domain, docs, round(size / 1e6, 2)])
    console.print(table("corpus build: text per domain", ["domain", "docs", "MB"], rows))
    for name, path in result.outputs.items():
        console.print(
            f"{name}: {path}" + (f" ({result.split_docs[name]} documents)" if name in result.split_docs else "")
        )
    return 0


def run_stats(args: argparse.Namespace) -> int:
    from mda_curate.console import console, table
    from mda_curate.data.corpus_stats import domain_stats, total
    from mda_curate.data.documents import ReadStats, read_documents
    from mda_curate.models import load_tokenizer

    tokenizer = load_tokenizer(args.tokenizer) if args.tokenizer else None
    read = ReadStats()
    with console.status("reading documents"):
        docs = read_documents(args.files, skip_bad=args.skip_bad, stats=read, skip_option="--skip-bad")
        stats = domain_stats(docs, tokenizer)
    columns = ["domain", "docs", "chars", "MB"] + (["tokens", "chars/token"] if tokenizer else [])
    rows = [_stats_row(domain, entry, tokenizer) for domain, entry in sorted(stats.items())]
    rows.append(_stats_row("total", total(stats), tokenizer))
    console.print(table("corpus stats", columns, rows))
    if read.total_rejected:
        reasons = ", ".join(f"{n} {reason}" for reason, n in sorted(read.rejected.items()))
        console.print(f"skipped {read.total_rejected} of {read.read} records: {reasons}")
    return 0


def _stats_row(name: str, entry, tokenizer) -> list[object]:
    row: list[object] = [name, entry.docs, entry.chars, round(entry.bytes / 1e6, 3)]
    if tokenizer is not None:
        row += [entry.tokens, entry.chars / entry.tokens if entry.tokens else 0.0]
    return row


def run_tokenize(args: argparse.Namespace) -> int:
    from mda_curate.console import console, table
    from mda_curate.data.documents import ReadStats, read_documents
    from mda_curate.data.tokenized import tokenize_documents
    from mda_curate.models import load_tokenizer

    tokenizer = load_tokenizer(args.tokenizer)
    read = ReadStats()
    with console.status(f"tokenizing into {args.out}"):
        docs = read_documents(args.files, skip_bad=args.skip_bad, stats=read, skip_option="--skip-bad")
        corpus = tokenize_documents(docs, tokenizer, args.out)
    skipped = read.kept - len(corpus)
    rows = [
        ["records read", read.read],
        ["rejected (malformed)", read.total_rejected],
        ["skipped (no tokens)", skipped],
        ["documents", len(corpus)],
        ["tokens (EOS included)", int(corpus.tokens.size)],
        ["saved to", args.out],
    ]
    console.print(table("corpus tokenize", ["", "value"], rows))
    return 0
