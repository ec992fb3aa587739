"""``mda-curate units``: score every attention head of a model, or of every checkpoint of a run."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from mda_curate.errors import UserError

METRIC_COLUMNS = ("induction", "previous_token", "duplicate_token")


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "units",
        help="score every head (induction, previous-token, duplicate-token) and the ICL score of a model",
        description=(
            "Score every attention head of a GPT-NeoX (Pythia), Llama, OLMo 2 or Qwen2 model on [BOS] + x + x "
            "probes of random mid-frequency tokens: induction (attention to the token after the earlier occurrence), "
            "previous-token and duplicate-token attention; plus the loss on both copies and the ICL score "
            "on held-out text. With --checkpoints, score every checkpoint of a run and plot the trajectories."
        ),
    )
    parser.add_argument(
        "model", nargs="?", metavar="MODEL", help="a local model folder or a hub id (e.g. EleutherAI/pythia-14m)"
    )
    parser.add_argument(
        "--revision", help="hub revision of MODEL, e.g. step1000 (hub ids only; must be cached when offline)"
    )
    parser.add_argument("--json", metavar="OUT", help="write the scores as JSON to OUT ('-' for stdout)")
    parser.add_argument(
        "--checkpoints", metavar="DIR", help="score every step_<N> / checkpoint-<N> subfolder of DIR instead of MODEL"
    )
    parser.add_argument(
        "--out",
        metavar="PREFIX",
        help="with --checkpoints: write PREFIX.parquet and PREFIX.png (default DIR/unit_scores)",
    )
    # ProbeSettings' fields (units.sequences; its torch import is left to the handler), checked in the tests
    parser.add_argument(
        "--sequences",
        dest="n_sequences",
        type=int,
        default=32,
        metavar="N",
        help="number of probe sequences (default %(default)s)",
    )
    parser.add_argument(
        "--seq-len",
        dest="lengths",
        type=_length_range,
        default=(32, 50),
        metavar="LEN",
        help="length of x: a number, or MIN-MAX drawn uniformly per sequence (default 32-50)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed for the probe tokens (default %(default)s)")
    parser.add_argument(
        "--band",
        type=float,
        nargs=2,
        default=(0.1, 0.9),
        metavar=("LO", "HI"),
        help="mid-frequency band as fractions of the ranked candidate tokens (default 0.1 0.9)",
    )
    parser.add_argument(
        "--band-data",
        metavar="FILE",
        help="JSONL/parquet text whose token counts rank the band (default: rank by token id, i.e. BPE merge order)",
    )
    parser.add_argument(
        "--icl-data",
        metavar="FILE",
        help="JSONL/parquet held-out text for the ICL score (default: the shipped sample corpus's heldout.parquet)",
    )
    parser.add_argument("--no-icl", action="store_true", help="skip the ICL score")
    parser.add_argument(
        "--icl-ctx", type=int, metavar="N", help="ICL context length (default min(512, the model's maximum))"
    )
    parser.add_argument(
        "--icl-contexts",
        type=int,
        default=64,
        metavar="N",
        help="number of held-out contexts for the ICL score (default %(default)s)",
    )
    parser.add_argument(
        "--top",
        type=int,
        default=10,
        metavar="N",
        help="number of heads shown in the terminal table (default %(default)s)",
    )
    parser.add_argument("--device", default="cpu", help="torch device (default %(default)s)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    _check_mode(args)
    from mda_curate.units.sequences import ProbeSettings

    settings = ProbeSettings(n_sequences=args.n_sequences, lengths=args.lengths, band=tuple(args.band), seed=args.seed)
    if args.checkpoints:
        return _run_checkpoints(args, settings)
    return _run_model(args, settings)


def _run_model(args, settings) -> int:
    from mda_curate.console import console
    from mda_curate.models import load_causal_lm
    from mda_curate.units.scoring import score_model

    model, tokenizer = load_causal_lm(args.model, args.revision, args.device)
    icl_texts, icl_note = _icl_texts(args)
    with console.status(f"scoring {args.model}"):
        scores = score_model(
            model, tokenizer, settings, _band_counts(args, tokenizer), icl_texts, args.icl_ctx, args.icl_contexts
        )
    report = {**scores.to_json(args.model), "revision": args.revision}
    if icl_note:
        report["icl"]["note"] = icl_note
    _print_summary(report, args.top)
    _write_json(report, args.json)
    return 0


def _run_checkpoints(args, settings) -> int:
    from mda_curate.console import console, table
    from mda_curate.models import load_tokenizer
    from mda_curate.units.trajectory import score_checkpoints, tokenizer_folder

    counts = _band_counts(args, load_tokenizer(str(tokenizer_folder(args.checkpoints)))) if args.band_data else None
    icl_texts, icl_note = _icl_texts(args)
    rows, _, _ = score_checkpoints(
        args.checkpoints, args.out, settings, counts, icl_texts, args.icl_ctx, args.icl_contexts, args.device
    )
    steps = sorted({row["step"] for row in rows})
    summary = [_step_summary([r for r in rows if r["step"] == step]) for step in steps]
    columns = ["step", "best induction", "best previous-token", "loss 1st copy", "loss 2nd copy", "ICL score"]
    console.print(table("units by checkpoint", columns, summary))
    if icl_note:
        console.print(f"ICL score: {icl_note}")
    return 0


def _check_mode(args) -> None:
    if bool(args.model) == bool(args.checkpoints):
        raise UserError("give either MODEL or --checkpoints DIR")
    if args.checkpoints and (args.json or args.revision):
        raise UserError("--json and --revision apply to MODEL, not to --checkpoints (which writes --out PREFIX)")
    if args.out and not args.checkpoints:
        raise UserError("--out applies to --checkpoints; use --json OUT for one model")
    if args.n_sequences < 1 or args.icl_contexts < 1:
        raise UserError("--sequences and --icl-contexts must be at least 1")


def _length_range(text: str) -> tuple[int, int]:
    try:
        low, _, high = text.partition("-")
        bounds = (int(low), int(high or low))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a number or MIN-MAX") from None
    if not 2 <= bounds[0] <= bounds[1]:
        raise argparse.ArgumentTypeError(f"{text!r}: need 2 <= MIN <= MAX")
    return bounds


def _read_texts(path: str) -> list[str]:
    from mda_curate.data.documents import read_documents

    return [doc.text for doc in read_documents([path])]


def _band_counts(args, tokenizer):
    if not args.band_data:
        return None
    from mda_curate.units.sequences import token_frequencies

    return token_frequencies(tokenizer, _read_texts(args.band_data))


def _icl_texts(args) -> tuple[list[str] | None, str | None]:
    """Held-out texts for the ICL score, or None and why not."""
    if args.no_icl:
        return None, "skipped (--no-icl)"
    if args.icl_data:
        return _read_texts(args.icl_data), None
    from mda_curate.resources import sample_corpus_dir

    heldout = sample_corpus_dir() / "heldout.parquet"
    if heldout.is_file():
        return _read_texts(str(heldout)), None
    return None, f"no held-out text: pass --icl-data FILE ({heldout} does not exist)"


def _print_summary(report: dict, top: int) -> None:
    from mda_curate.console import console, table

    ranked = sorted(report["heads"], key=lambda h: max(h[m] for m in METRIC_COLUMNS), reverse=True)[:top]
    rows = [[h["layer"], h["head"], *(h[m] for m in METRIC_COLUMNS)] for h in ranked]
    name = report["model"] + (f"@{report['revision']}" if report.get("revision") else "")
    columns = ["layer", "head", "induction", "previous-token", "duplicate-token"]
    console.print(table(f"top heads of {name}", columns, rows))
    loss, icl, details = report["induction_loss"], report["icl_score"], report["icl"]
    if icl is None:
        icl_text = f"n/a ({details.get('note')})"
    else:
        icl_text = (
            f"{icl:.4g} (loss at {details['late']} minus mean loss at {details['early'][0]}..{details['early'][1]})"
        )
    console.print(
        f"induction loss: first copy {loss['first']:.4g}, second copy {loss['second']:.4g}; ICL score: {icl_text}"
    )


def _step_summary(rows: list[dict]) -> list:
    best_induction = max(rows, key=lambda r: r["induction"])
    best_previous = max(rows, key=lambda r: r["previous_token"])
    first = rows[0]
    return [
        first["step"],
        f"L{best_induction['layer']}H{best_induction['head']} {best_induction['induction']:.3f}",
        f"L{best_previous['layer']}H{best_previous['head']} {best_previous['previous_token']:.3f}",
        first["induction_loss_first"],
        first["induction_loss_second"],
        first["icl_score"] if first["icl_score"] is not None else "n/a",
    ]


def _write_json(report: dict, out: str | None) -> None:
    if out is None:
        return
    text = json.dumps(report, indent=2)
    if out == "-":
        print(text)
        return
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(text + "\n")
