"""``mda-curate classifier``: train the catalyst classifier, score documents with it, report on it."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from mda_curate.classifier.settings import FeatureSettings, TrainSettings
from mda_curate.data.documents import ReadStats
from mda_curate.errors import UserError
from mda_curate.flags import add_setting

PROXY_DOMAINS = ("code", "latex", "markup", "records")
MAX_LISTED_REJECTS = 20


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "classifier", help="catalyst classifier: train on influence scores, score documents, report"
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    _register_train(actions)
    _register_score(actions)
    _register_report(actions)


def _register_train(actions) -> None:
    train = actions.add_parser(
        "train",
        help="train a classifier on influence scores (top vs bottom fractions) or proxy domain labels",
        description="Label documents from influence scores (the top --fraction by score = 1, the bottom "
        "--fraction = 0; null scores are dropped and counted) or, with --proxy-domains, by domain; split "
        "train/validation by source document, fit logistic regression and histogram gradient boosting, keep "
        "the better on validation AUROC, calibrate it, and save model.skops, card.json and card.md in --out. "
        "With --run, the documents are the training run's samples that --scores scored (from `mda-curate "
        "influence --train RUN --steps A:B`, matched by sample_index), decoded with the run's tokenizer, with "
        "their domain and source document; the card names the run, unit, checkpoint and window.",
    )
    documents = train.add_mutually_exclusive_group(required=True)
    documents.add_argument("--data", nargs="+", metavar="FILE", help="JSONL/parquet corpus with id, text, domain")
    documents.add_argument("--run", metavar="RUN", help="a training run folder whose window --scores scored")
    labels = train.add_mutually_exclusive_group(required=True)
    labels.add_argument(
        "--scores",
        metavar="PARQUET",
        help="influence scores: columns doc_id, score (higher = more influence); with --run: sample_index, score",
    )
    labels.add_argument(
        "--proxy-domains",
        metavar="D,D",
        type=_domain_list,
        help=f"label by domain instead: these domains = 1, all others = 0 (e.g. {','.join(PROXY_DOMAINS)})",
    )
    train.add_argument(
        "--fraction",
        type=float,
        default=0.2,
        help="top and bottom fraction labelled 1 and 0 (default %(default)s)",
    )
    add_setting(train, TrainSettings, "validation_fraction", "--validation", metavar="VALIDATION")
    train.add_argument("--seed", type=int, default=0, help="split and model seed (default %(default)s)")
    add_setting(train, FeatureSettings, "max_chars")
    train.add_argument(
        "--skip-bad", action="store_true", help="count and skip malformed corpus lines instead of failing"
    )
    train.add_argument("--out", required=True, metavar="DIR", help="output folder, e.g. classifiers/NAME")
    train.set_defaults(func=run_train)


def _register_score(actions) -> None:
    score = actions.add_parser(
        "score",
        help="score JSONL/parquet documents; writes doc_id, score (higher = more catalyst)",
        description="Score every document of the FILEs (JSONL or parquet with 'text' and 'id') and write one "
        "row per document (doc_id, score) to --out. Lines that are not documents (malformed JSON, invalid "
        "UTF-8, missing or non-string text) are counted and listed with file:line and reason on stderr.",
    )
    score.add_argument("files", nargs="+", metavar="FILE", help="JSONL or parquet files")
    score.add_argument("--out", required=True, metavar="PARQUET", help="output parquet file")
    score.add_argument("--classifier", metavar="DIR", help="classifier folder (default: classifiers/catalyst-default)")
    score.add_argument("--batch-size", type=int, default=256, help="documents per feature batch (default %(default)s)")
    score.add_argument("--summary", metavar="JSON", help="also write counts and every rejected line to this JSON file")
    score.set_defaults(func=run_score)


def _register_report(actions) -> None:
    report = actions.add_parser(
        "report",
        help="per-domain catalyst rates and top features of a classifier on some data, with a PNG",
        description="Score the documents of --data (default: the sample corpus's heldout.parquet) and print "
        "per-domain catalyst rates (score >= 0.5) and score quantiles, and the features most correlated with "
        "the score; save both as a PNG.",
    )
    report.add_argument(
        "--classifier", metavar="DIR", help="classifier folder (default: classifiers/catalyst-default)"
    )
    report.add_argument("--data", nargs="+", metavar="FILE", help="JSONL/parquet files with text and domain")
    report.add_argument(
        "--out",
        default="classifier-report.png",
        metavar="PNG",
        help="figure path (default %(default)s)",
    )
    report.add_argument("--top", type=int, default=12, help="number of features listed (default %(default)s)")
    report.set_defaults(func=run_report)


def _domain_list(text: str) -> tuple[str, ...]:
    domains = tuple(d.strip() for d in text.split(",") if d.strip())
    if not domains:
        raise argparse.ArgumentTypeError("give at least one domain")
    return domains


# ---- train --------------------------------------------------------------------------------------------------


def run_train(args: argparse.Namespace) -> int:
    from mda_curate.classifier.labels import window_labelled
    from mda_curate.classifier.train import train_and_save, train_command

    # settings first: a bad --max-chars fails before the corpus is read
    features = FeatureSettings(max_chars=args.max_chars)
    settings = TrainSettings(validation_fraction=args.validation_fraction, features=features)
    if args.run and not args.scores:
        raise UserError("--run needs --scores: the influence scores of the run's window (sample_index, score)")
    labelled = window_labelled(args.run, args.scores, args.fraction) if args.run else _corpus_labelled(args)
    command = train_command(
        args.out,
        args.scores,
        args.run,
        args.data or (),
        args.proxy_domains or (),
        args.fraction,
        args.validation_fraction,
        args.seed,
        args.max_chars,
        args.skip_bad,
    )
    train_and_save(labelled, args.out, args.seed, settings, command)
    return 0


def _corpus_labelled(args):
    """Documents of --data with labels, their split groups, the label rule for the card, and data counts."""
    from mda_curate.classifier.labels import Labelled, document_group
    from mda_curate.console import console
    from mda_curate.data.documents import read_documents

    stats = ReadStats()
    docs = list(read_documents(args.data, skip_bad=args.skip_bad, stats=stats, skip_option="--skip-bad"))
    if stats.total_rejected:
        console.print(f"skipped {stats.total_rejected} malformed corpus lines: {dict(stats.rejected)}")
    if not docs:
        raise UserError(f"{', '.join(args.data)}: no documents")
    docs, labels, rule, data = _labelled(args, docs)
    data = {"files": list(args.data), "documents_read": stats.kept, **data}
    return Labelled(docs, [document_group(d.doc_id) for d in docs], labels, rule, data)


def _labelled(args, docs):
    """Documents with labels, the label rule for the card, and data counts."""
    import numpy as np

    from mda_curate.classifier.labels import domain_labels, read_influence_scores, top_bottom_labels

    if args.proxy_domains:
        labels = domain_labels([d.domain for d in docs], args.proxy_domains)
        rule = {
            "kind": "proxy-domain",
            "source": "domain",
            "description": f"label 1 for documents of the domains {', '.join(args.proxy_domains)}, 0 for all others.",
            "proxy": "These are not influence labels: the domains stand in for them, following the paper's finding "
            "that top-influence samples for induction heads are LaTeX, markup, code and records. `mda-curate "
            "classifier train --run RUN --scores SCORES` trains on influence labels instead.",
        }
        return docs, labels, rule, {}
    scores = read_influence_scores(args.scores)
    scored = [d for d in docs if d.doc_id in scores.by_id]
    if not scored:
        raise UserError(f"{args.scores}: no doc_id matches a document of {', '.join(args.data)}")
    matched_ids = {d.doc_id for d in scored}
    chosen, labels = top_bottom_labels([scores.by_id[d.doc_id] for d in scored], args.fraction)
    rule = {
        "kind": "influence-top-bottom",
        "source": "influence",
        "fraction": args.fraction,
        "description": f"influence scores from {args.scores}: the top {args.fraction:.0%} of scored documents by "
        f"score = 1, the bottom {args.fraction:.0%} = 0, the middle left out; ties broken by corpus order.",
    }
    data = {
        "scores": args.scores,
        "scores_rows": scores.rows,
        "scores_null": scores.null,
        "scores_unmatched": len(set(scores.by_id) - matched_ids),
        "documents_unscored": len(docs) - len(scored),
    }
    return [scored[i] for i in chosen.tolist()], np.asarray(labels), rule, data


# ---- score --------------------------------------------------------------------------------------------------


def run_score(args: argparse.Namespace) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from mda_curate.classifier import load_classifier
    from mda_curate.console import console, progress
    from mda_curate.data.documents import read_documents

    if args.batch_size < 1:
        raise UserError("--batch-size must be at least 1")
    missing = [f for f in args.files if not Path(f).is_file()]
    if missing:
        raise UserError(f"{missing[0]}: no such file")
    classifier = load_classifier(args.classifier)
    stats = _AllRejects()
    ids, scores, capped = [], [], 0
    batch = []
    with progress() as bar:
        task = bar.add_task("scoring", total=None)
        for doc in read_documents(args.files, skip_bad=True, stats=stats):
            batch.append(doc)
            if len(batch) == args.batch_size * 16:
                capped += _score_batch(classifier, batch, ids, scores, args.batch_size)
                bar.advance(task, len(batch))
                batch = []
        capped += _score_batch(classifier, batch, ids, scores, args.batch_size)
        bar.advance(task, len(batch))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    table = pa.table({"doc_id": pa.array(ids, pa.string()), "score": pa.array(scores, pa.float64())})
    pq.write_table(table, args.out)
    _report_score_run(stats, capped, classifier.settings.max_chars, args, console)
    return 0


def _score_batch(classifier, docs, ids, scores, batch_size) -> int:
    """Append the batch's ids and scores; return how many documents were longer than the scored prefix."""
    ids.extend(d.doc_id for d in docs)
    scores.extend(classifier.score([d.text for d in docs], batch_size).tolist())
    return sum(len(d.text) > classifier.settings.max_chars for d in docs)


def _report_score_run(stats, capped: int, max_chars: int, args, console) -> None:
    console.print(
        f"read {stats.read:,} lines from {len(args.files)} file(s): scored {stats.kept:,} documents, "
        f"rejected {stats.total_rejected:,}; wrote {args.out}"
    )
    for reason, count in sorted(stats.rejected.items()):
        console.print(f"  rejected ({reason}): {count:,}")
    for line in stats.locations[:MAX_LISTED_REJECTS]:
        console.print(f"  {line}", markup=False, highlight=False, soft_wrap=True)
    if len(stats.locations) > MAX_LISTED_REJECTS:
        more = len(stats.locations) - MAX_LISTED_REJECTS
        console.print(
            f"  ... and {more:,} more rejected lines"
            + (f" (all in {args.summary})" if args.summary else " (--summary lists all)")
        )
    if capped:
        console.print(
            f"{capped:,} documents longer than {max_chars:,} characters were scored on their first {max_chars:,}"
        )
    if args.summary:
        summary = {
            "files": list(args.files),
            "out": args.out,
            "lines_read": stats.read,
            "scored": stats.kept,
            "rejected": dict(stats.rejected),
            "rejected_lines": stats.locations,
            "scored_on_prefix": capped,
            "max_chars": max_chars,
        }
        Path(args.summary).write_text(json.dumps(summary, indent=2) + "\n")


class _AllRejects(ReadStats):
    """ReadStats that keeps every rejected line's location and reason, not only the first ten."""

    def __init__(self):
        super().__init__()
        self.locations: list[str] = []

    def reject(self, reason: str, location: str, detail: str = "") -> None:
        super().reject(reason, location, detail)
        self.locations.append(f"{location}: {reason}" + (f" ({detail})" if detail else ""))


# ---- report -------------------------------------------------------------------------------------------------


def run_report(args: argparse.Namespace) -> int:
    from mda_curate.classifier import load_classifier
    from mda_curate.classifier.report import classifier_report, plot_report
    from mda_curate.console import console, table
    from mda_curate.data.documents import read_documents

    if args.top < 1:
        raise UserError("--top must be at least 1")
    classifier = load_classifier(args.classifier)
    files = args.data or [str(_heldout())]
    docs = list(read_documents(files))
    if not docs:
        raise UserError(f"{', '.join(files)}: no documents")
    report = classifier_report(classifier, docs, top=args.top)
    rule = classifier.card.get("label_rule", {})
    console.print(
        f"classifier {classifier.card.get('name', args.classifier)}: {rule.get('kind', 'unknown labels')}; "
        f"validation AUROC {classifier.card.get('metrics', {}).get('auroc')}"
    )
    rows = [
        [d, m["n"], m["catalyst_rate"], m["mean"], m["quantiles"]["p10"], m["quantiles"]["p50"], m["quantiles"]["p90"]]
        for d, m in report["per_domain"].items()
    ]
    console.print(
        table(
            f"catalyst rate (score >= 0.5) on {', '.join(files)}",
            ["domain", "docs", "catalyst rate", "mean", "p10", "p50", "p90"],
            rows,
        )
    )
    rows = [[f["feature"], f["correlation"]] for f in report["top_features"]]
    console.print(table("features most correlated with the score (logit)", ["feature", "correlation"], rows))
    plot_report(report, args.out)
    console.print(f"wrote {args.out}")
    return 0


def _heldout() -> Path:
    from mda_curate.resources import sample_corpus_dir

    return sample_corpus_dir() / "heldout.parquet"
