"""One influence computation as a value, and the function that runs it.

:class:`InfluenceRequest` holds what ``mda-curate influence`` is asked (the model, the training data, the
unit, the probe, the settings); :func:`compute_influence` builds the
:class:`~mda_curate.influence.engine.InfluenceJob`,
runs it and prints the top samples and the per-domain distribution. The command, the demo and the
validation harness all call it::

    compute_influence(InfluenceRequest("runs/base/step_6250", "runs/base", "scores.parquet", steps=(6250, 6500),
                                       unit="1.2", settings=InfluenceSettings(factor_max_samples=2000)))
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from functools import partial
from pathlib import Path

from mda_curate.errors import FieldError
from mda_curate.flags import SettingsParser, add_setting, flag_of
from mda_curate.influence.settings import FISHERS, STRATEGIES, InfluenceSettings, parse_damping

PROBE_METRIC = {"induction": "induction", "previous_token": "previous_token"}


@dataclass(frozen=True)
class InfluenceRequest:
    """The inputs of one influence computation: the flags of ``mda-curate influence`` (:func:`add_request_flags`),
    parsed by :func:`request_from_args`."""

    model: str = field(metadata={"help": "a GPT-NeoX, Llama, OLMo 2 or Qwen2 model folder (with its tokenizer)"})
    train: str = field(
        metadata={
            "help": "JSONL/parquet documents (text), a tokenized folder, a training run folder or a Pythia .bin/.idx "
            "prefix"
        }
    )
    out: str = field(default="scores.parquet", metadata={"help": "output parquet"})
    steps: tuple[int, int] | None = field(
        default=None, metadata={"help": "with a run folder or Pythia prefix: score the samples of steps A..B-1"}
    )
    unit: str | None = field(
        default=None, metadata={"help": "the head, layer.head from 0 (default: the best head for the probe)"}
    )
    blocks: str = field(default="qkvo", metadata={"help": "the head's blocks"})
    modules: str | None = field(default=None, metadata={"help": "score whole modules instead of one head"})
    probe: str = field(default="induction", metadata={"help": "what the unit is measured by"})
    query: str | None = field(default=None, metadata={"help": "JSONL/parquet query documents of the query-loss probe"})
    probe_sequences: int = field(default=32, metadata={"help": "probe sequences"})
    probe_length: int = field(default=32, metadata={"help": "random tokens per copy"})
    factors_data: str | None = field(
        default=None, metadata={"help": "data for the curvature (default: the training data)"}
    )
    factor_steps: tuple[int, int] | None = field(
        default=None, metadata={"help": "the steps of the curvature data (default: the scored steps)"}
    )
    shard_size: int = field(default=256, metadata={"help": "samples per output shard"})
    device: str = field(default="cpu", metadata={"help": "torch device"})
    top: int = field(default=10, metadata={"help": "samples shown in the summary"})
    settings: InfluenceSettings = field(default_factory=InfluenceSettings)


def add_request_flags(parser) -> None:
    """Add the flags of an :class:`InfluenceRequest` and its settings to ``parser``: those of
    ``mda-curate influence``, which a validation spec's ``[influence] args`` also take."""
    request = partial(add_setting, parser, InfluenceRequest)
    request("model", metavar="DIR")
    request("train", metavar="DATA")
    request("steps", type=str, metavar="A:B")
    request("unit", metavar="L.H")
    request("blocks", choices=["qk", "qkvo"])
    request("modules", choices=["all-linear"])
    request("probe", choices=["induction", "previous_token", "query-loss"])
    request("query", metavar="FILE")
    request("probe_sequences", metavar="N")
    request("probe_length", metavar="N")
    setting = partial(add_setting, parser, InfluenceSettings)
    setting("strategy", choices=STRATEGIES)
    setting("fisher", choices=FISHERS)
    setting("damping", type=str, default="0.1mean", metavar="FLOAT|0.1mean")
    setting("max_length", metavar="N")
    request("factors_data", metavar="DATA")
    request("factor_steps", type=str, metavar="A:B")
    setting("factor_max_samples", "--factor-samples", metavar="N")
    setting("batch_size", metavar="N")
    setting("seed")
    request("shard_size", metavar="N")
    request("device")
    request("top", metavar="K")
    request("out", metavar="FILE")


def request_from_args(args) -> InfluenceRequest:
    """The request of the parsed flags of :func:`add_request_flags`."""
    from mda_curate.influence.samples import parse_steps

    given = {f.name: getattr(args, f.name) for f in fields(InfluenceSettings)}
    settings = InfluenceSettings(**{**given, "damping": parse_damping(args.damping)})
    parsed = {
        "steps": parse_steps(args.steps) if args.steps else None,
        "factor_steps": parse_steps(args.factor_steps, "factor_steps") if args.factor_steps else None,
    }
    named = {f.name: getattr(args, f.name) for f in fields(InfluenceRequest) if f.name != "settings"}
    return InfluenceRequest(**{**named, **parsed, "settings": settings})


def parse_request(argv: list[str]) -> InfluenceRequest:
    """The request of ``mda-curate influence`` flags; a bad or unknown flag is a UserError naming it."""
    parser = SettingsParser(prog="influence", add_help=False)
    add_request_flags(parser)
    args = parser.parse_args(argv)
    try:
        return request_from_args(args)
    except FieldError as err:
        raise err.renamed(flag_of(parser, args, err.field) or err.field) from None


def compute_influence(request: InfluenceRequest, rank: int = 0, world_size: int = 1):
    """Score this rank's shards of ``request`` and, once every rank's are there, write ``request.out`` and
    print its summary; returns the score table (None while other ranks have shards to finish)."""
    from mda_curate.console import console
    from mda_curate.influence.engine import run_influence

    job, tokenizer = build_job(request)
    out = Path(request.out)
    table = run_influence(job, out, rank, world_size)
    if table is None:
        console.print(f"rank {rank}: shards done; {out} is written when every rank has finished")
        return None
    show_summary(table, job, tokenizer, out, request.top)
    return table


def build_job(request: InfluenceRequest):
    """The engine's job for ``request`` (the model loaded, the samples opened), and the model's tokenizer."""
    from mda_curate.families import parse_unit
    from mda_curate.fingerprint import fingerprint
    from mda_curate.influence.blocks import head_blocks, module_blocks
    from mda_curate.influence.engine import InfluenceJob
    from mda_curate.influence.samples import open_samples
    from mda_curate.models import load_causal_lm

    if request.probe == "query-loss" and not request.query:
        raise FieldError("query", "is required by the query-loss probe (query documents)")
    if request.modules and request.probe == "previous_token":
        raise FieldError("modules", "cannot be used by the previous_token probe, which measures one head: give a unit")
    settings = request.settings
    model, tokenizer = load_causal_lm(request.model, device=request.device)
    train = open_samples(request.train, tokenizer, settings.max_length, request.steps)
    factor_steps = request.factor_steps or request.steps
    factor_data = (
        open_samples(request.factors_data, tokenizer, settings.max_length, factor_steps)
        if request.factors_data
        else train
    )
    unit = "modules:all-linear" if request.modules else request.unit or best_head(model, tokenizer, request)
    blocks = module_blocks(model) if request.modules else head_blocks(model, *parse_unit(unit), request.blocks)
    probe = make_probe(request, tokenizer, unit)
    if request.shard_size < 1:
        raise FieldError("shard_size", f"must be at least 1 (got {request.shard_size})")
    job = InfluenceJob(
        model,
        str(Path(request.model).resolve()),
        blocks,
        unit,
        probe,
        train,
        factor_data,
        settings,
        pad_id(tokenizer),
        request.shard_size,
        model_content=fingerprint([request.model]) if Path(request.model).is_dir() else {},
    )
    return job, tokenizer


def best_head(model, tokenizer, request: InfluenceRequest) -> str:
    """The head that scores highest on the probe's metric (``mda_curate.units``)."""
    from mda_curate.console import console
    from mda_curate.units.heads import score_heads
    from mda_curate.units.scoring import probe_sequences
    from mda_curate.units.sequences import ProbeSettings

    if request.probe not in PROBE_METRIC:
        raise FieldError("unit", f"is required by the {request.probe} probe: a head L.H (or give modules)")
    length = (request.probe_length, request.probe_length)
    sequences, _ = probe_sequences(
        tokenizer, ProbeSettings(request.probe_sequences, length, seed=request.settings.seed)
    )
    scores = getattr(score_heads(model, sequences), PROBE_METRIC[request.probe])
    layer, head = divmod(int(scores.argmax()), scores.shape[1])
    console.print(f"unit: L{layer}H{head}, the best {request.probe} head ({float(scores[layer, head]):.3f})")
    return f"{layer}.{head}"


def make_probe(request: InfluenceRequest, tokenizer, unit: str):
    """The request's probe."""
    if request.probe == "query-loss":
        info = {"probe": "query-loss", "query": request.query}
    else:
        info = {
            "probe": request.probe,
            "sequences": request.probe_sequences,
            "length": request.probe_length,
            "seed": request.settings.seed,
        }
    return probe_of(info, unit, tokenizer, request.settings.max_length, request.settings.batch_size)


def rebuild_probe(arguments: dict, tokenizer):
    """The probe a scores file was computed for, from its ``arguments.json`` (to measure it on other models)."""
    return probe_of(arguments["probe"], arguments["unit"], tokenizer, arguments["max_length"], arguments["batch_size"])


def probe_of(info: dict, unit: str, tokenizer, max_length: int, batch_size: int):
    """The probe ``info`` describes (a probe's ``info``: its kind and settings, or its query file)."""
    from mda_curate.families import parse_unit
    from mda_curate.influence.probes import induction_probe, previous_token_probe, query_loss_probe
    from mda_curate.influence.samples import open_samples

    if info["probe"] == "induction":
        return induction_probe(tokenizer, info["sequences"], info["length"], info["seed"])
    if info["probe"] == "previous_token":
        return previous_token_probe(tokenizer, *parse_unit(unit), info["sequences"], info["length"], info["seed"])
    return query_loss_probe(open_samples(info["query"], tokenizer, max_length), batch_size, pad_id(tokenizer))


def pad_id(tokenizer) -> int:
    """The tokenizer's padding id (its end-of-text id when it has none, else 0)."""
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    return pad or 0


def show_summary(table, job, tokenizer, out: Path, top: int) -> None:
    """Top samples with a text snippet, and the score distribution per domain."""
    import json

    from mda_curate.console import console
    from mda_curate.console import table as rich_table
    from mda_curate.influence.scores import ranked, scored_rows

    summary = json.loads((out.with_name(out.stem + ".influence") / "summary.json").read_text())
    scored = [row for row, valid in zip(table.to_pylist(), scored_rows(table)) if valid]
    rows = [scored[i] for i in ranked([r["score"] for r in scored])[:top]]
    console.print(
        rich_table(
            f"top {len(rows)} samples by influence on {job.unit} ({job.probe.name})",
            ["doc_id", "domain", "score", "snippet"],
            [[r["doc_id"], r["domain"], r["score"], _snippet(tokenizer, job, r)] for r in rows],
        )
    )
    console.print(
        rich_table(
            "score distribution per domain",
            ["domain", "samples", "mean", "median", f"in top {summary['top_fraction']:.0%}"],
            [[d, s["n"], s["mean"], s["median"], f"{s['top_share']:.1%}"] for d, s in summary["per_domain"].items()],
        )
    )
    share = summary["top_share_of_positive_influence"]
    console.print(
        f"{summary['scored']} samples scored, {summary['skipped']} skipped (shorter than 2 tokens); "
        f"top {summary['top_fraction']:.0%} carry {share:.1%} of the positive influence"
        if share is not None
        else f"{summary['scored']} samples scored, {summary['skipped']} skipped; no positive influence"
    )
    console.print(f"wrote {out}")


def _snippet(tokenizer, job, row: dict, width: int = 60) -> str:
    position = row["sample_index"] - job.train[0].index
    text = tokenizer.decode(job.train[position].tokens[:64].tolist())
    return " ".join(text.split())[:width]
