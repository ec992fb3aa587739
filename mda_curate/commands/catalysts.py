"""``mda-curate catalysts``: what data carries a unit, from its influence scores on a run's window."""

from __future__ import annotations

import argparse
import shlex
import time

from mda_curate.errors import UserError


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "catalysts", help="what data carries a unit: influence by domain, source package and document feature"
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    report = actions.add_parser(
        "report",
        help="report influence of a run's window samples by domain, source package and feature (Markdown, PNG, JSON)",
        description="Decode the samples of --run that each --scores file scored (from `mda-curate influence --train "
        "RUN --steps A:B`, matched by sample_index) and report, per file: per domain and per source package the "
        "share of the window and of the top --top-fraction, and the mean influence percentile with a 95% "
        "t-interval; per classifier feature the Spearman correlation with influence and a held-out R^2 (split by "
        "source document); the top and bottom samples with text. Give several files (the window start and near "
        "formation; the induction head and the previous-token head) to get a section each and their agreement. "
        "Writes report.md, report.json and one PNG per file in --out.",
    )
    report.add_argument("--run", required=True, metavar="RUN", help="the training run folder the scores are of")
    report.add_argument(
        "--scores", nargs="+", required=True, metavar="PARQUET", help="influence scores files (sample_index, score)"
    )
    report.add_argument(
        "--names", nargs="+", metavar="NAME", help="a section name per scores file (default: the file names)"
    )
    report.add_argument(
        "--top-fraction", type=float, default=0.1, help="the top share compared with the window (default %(default)s)"
    )
    report.add_argument(
        "--examples",
        type=int,
        default=10,
        metavar="K",
        help="top and bottom samples listed with text (default %(default)s)",
    )
    report.add_argument("--seed", type=int, default=0, help="seed of the held-out split for R^2 (default %(default)s)")
    report.add_argument("--out", required=True, metavar="DIR", help="output folder")
    report.set_defaults(func=run_report)


def run_report(args: argparse.Namespace) -> int:
    from pathlib import Path

    from mda_curate.classifier.catalysts import catalyst_report, score_agreement, write_catalyst_report
    from mda_curate.console import console
    from mda_curate.influence.window import load_run_tokenizer, scored_window

    names = args.names or [Path(s).stem for s in args.scores]
    if len(names) != len(args.scores) or len(set(names)) != len(names):
        raise UserError(f"--names: give {len(args.scores)} distinct names, one per --scores file")
    if args.examples < 0:
        raise UserError("--examples must be at least 0")
    tokenizer = load_run_tokenizer(args.run)
    windows, reports = [], []
    for name, scores in zip(names, args.scores):
        started = time.perf_counter()
        with console.status(f"{name}: decoding the window and computing features"):
            window = scored_window(args.run, scores, tokenizer)
            reports.append(catalyst_report(window, name, args.top_fraction, args.examples, seed=args.seed))
        reports[-1]["seconds"] = round(time.perf_counter() - started, 1)  # wall time of this file's report
        windows.append((name, window))
        print_report(reports[-1])
    agreement = score_agreement(windows)
    for pair in agreement:
        rho = "n/a" if pair["spearman"] is None else f"{pair['spearman']:+.3f}"
        console.print(f"{pair['a']} vs {pair['b']}: Spearman {rho} over {pair['shared_samples']:,} shared samples")
    written = write_catalyst_report(reports, agreement, args.out, _command(args))
    console.print(f"wrote {written['markdown']}, {written['json']} and {len(written['plots'])} PNG(s)")
    return 0


def print_report(report: dict, sources: int = 15, features: int = 12) -> None:
    from mda_curate.console import console, table

    columns = ["group", "n", "window share", "top share", "lift", "mean pct", "95% CI"]

    def rows(entries):
        return [
            [
                r["group"],
                r["n"],
                r["window_share"],
                r["top_share"],
                r["lift"],
                r["mean_percentile"],
                "-" if r["ci_low"] is None else f"[{r['ci_low']:.3f}, {r['ci_high']:.3f}]",
            ]
            for r in entries
        ]

    title = f"{report['name']}: {report['samples']:,} samples, top {report['top_fraction']:.0%}"
    console.print(table(f"{title}, by domain", columns, rows(report["by_domain"])))
    console.print(table(f"{title}, by source package (first {sources})", columns, rows(report["by_source"][:sources])))
    correlations = [
        [f["feature"], "n/a" if f["spearman"] is None else f["spearman"]] for f in report["features"][:features]
    ]
    console.print(table("features: Spearman with influence", ["feature", "Spearman"], correlations))
    model = report["feature_model"]
    if "r2" in model:
        console.print(
            "held-out R² of the percentile ("
            + ", ".join(f"{k} {v:.3f}" for k, v in model["r2"].items())
            + f"; {model['test']:,} held-out samples)"
        )
    else:
        console.print(f"held-out R²: {model['skipped']}")


def _command(args: argparse.Namespace) -> str:
    parts = ["mda-curate", "catalysts", "report", "--run", args.run, "--scores", *args.scores]
    parts += ["--names", *args.names] if args.names else []
    parts += ["--top-fraction", str(args.top_fraction), "--examples", str(args.examples), "--seed", str(args.seed)]
    return shlex.join(parts + ["--out", args.out])
