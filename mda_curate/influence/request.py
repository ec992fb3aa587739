"""One influence computation as a value, and the function that runs it.

:class:`InfluenceRequest` holds what ``mda-curate influence`` is asked (the model, the training data, the
unit, the probe, the settings); :func:`compute_influence` builds the :class:`~mda_curate.influence.engine.InfluenceJob`,
runs it and prints the top samples and the per-domain distribution. The command, the demo and the
validation harness all call it::

    compute_influence(InfluenceRequest("runs/base/step_6250", "runs/base", "scores.parquet", steps=(6250, 6500),
                                       unit="1.2", settings=InfluenceSettings(factor_max_samples=2000)))
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from mda_curate.errors import FieldError
from mda_curate.influence.settings import InfluenceSettings

PROBE_METRIC = {"induction": "induction", "previous_token": "previous_token"}


@dataclass(frozen=True)
class InfluenceRequest:
    """The inputs of one influence computation (the flags of ``mda-curate influence``, parsed)."""

    model: str  # a model folder, with its tokenizer
    train: str  # documents, a tokenized folder, a training run folder or a Pythia .bin/.idx prefix
    out: str = "scores.parquet"
    steps: tuple[int, int] | None = None  # with a run folder or Pythia prefix: the samples of these steps
    unit: str | None = None  # the head "layer.head" (None: the best head for the probe)
    blocks: str = "qkvo"
    modules: str | None = None  # "all-linear": score whole modules instead of one head
    probe: str = "induction"
    query: str | None = None  # query documents of the query-loss probe
    probe_sequences: int = 32
    probe_length: int = 32
    factors_data: str | None = None  # data for the curvature (None: train)
    factor_steps: tuple[int, int] | None = None  # steps of factors_data (None: steps)
    shard_size: int = 256
    device: str = "cpu"
    top: int = 10  # samples shown in the summary
    settings: InfluenceSettings = field(default_factory=InfluenceSettings)


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
        open_samples(request.factors_data, tokenizer, settings.max_length, factor_steps) if request.factors_data else train
    )
    unit = "modules:all-linear" if request.modules else request.unit or best_head(model, tokenizer, request)
    blocks = module_blocks(model) if request.modules else head_blocks(model, *parse_unit(unit), request.blocks)
    probe = make_probe(request, model, tokenizer, unit)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    if request.shard_size < 1:
        raise FieldError("shard_size", f"must be at least 1 (got {request.shard_size})")
    job = InfluenceJob(
        model, str(Path(request.model).resolve()), blocks, unit, probe, train, factor_data, settings, pad or 0,
        request.shard_size, model_content=fingerprint([request.model]) if Path(request.model).is_dir() else {},
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
    sequences, _ = probe_sequences(tokenizer, ProbeSettings(request.probe_sequences, length, seed=request.settings.seed))
    scores = getattr(score_heads(model, sequences), PROBE_METRIC[request.probe])
    layer, head = divmod(int(scores.argmax()), scores.shape[1])
    console.print(f"unit: L{layer}H{head}, the best {request.probe} head ({float(scores[layer, head]):.3f})")
    return f"{layer}.{head}"


def make_probe(request: InfluenceRequest, model, tokenizer, unit: str):
    from mda_curate.families import parse_unit
    from mda_curate.influence.probes import induction_probe, previous_token_probe, query_loss_probe
    from mda_curate.influence.samples import open_samples

    seed = request.settings.seed
    if request.probe == "induction":
        return induction_probe(tokenizer, request.probe_sequences, request.probe_length, seed)
    if request.probe == "previous_token":
        return previous_token_probe(tokenizer, *parse_unit(unit), request.probe_sequences, request.probe_length, seed)
    query = open_samples(request.query, tokenizer, request.settings.max_length)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    return query_loss_probe(query, request.settings.batch_size, pad or 0)


def show_summary(table, job, tokenizer, out: Path, top: int) -> None:
    """Top samples with a text snippet, and the score distribution per domain."""
    import json

    from mda_curate.console import console
    from mda_curate.console import table as rich_table
    from mda_curate.influence.scores import ranked, scored_rows

    summary = json.loads((out.with_name(out.stem + ".influence") / "summary.json").read_text())
    scored = [row for row, valid in zip(table.to_pylist(), scored_rows(table)) if valid]
    rows = [scored[i] for i in ranked([r["score"] for r in scored])[:top]]
    console.print(rich_table(
        f"top {len(rows)} samples by influence on {job.unit} ({job.probe.name})",
        ["doc_id", "domain", "score", "snippet"],
        [[r["doc_id"], r["domain"], r["score"], _snippet(tokenizer, job, r)] for r in rows],
    ))
    console.print(rich_table(
        "score distribution per domain",
        ["domain", "samples", "mean", "median", f"in top {summary['top_fraction']:.0%}"],
        [[d, s["n"], s["mean"], s["median"], f"{s['top_share']:.1%}"] for d, s in summary["per_domain"].items()],
    ))
    share = summary["top_share_of_positive_influence"]
    console.print(
        f"{summary['scored']} samples scored, {summary['skipped']} skipped (shorter than 2 tokens); "
        f"top {summary['top_fraction']:.0%} carry {share:.1%} of the positive influence" if share is not None
        else f"{summary['scored']} samples scored, {summary['skipped']} skipped; no positive influence"
    )
    console.print(f"wrote {out}")


def _snippet(tokenizer, job, row: dict, width: int = 60) -> str:
    position = row["sample_index"] - job.train[0].index
    text = tokenizer.decode(job.train[position].tokens[:64].tolist())
    return " ".join(text.split())[:width]
