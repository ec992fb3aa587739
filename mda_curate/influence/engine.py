"""Influence of every training sample on a unit's probe: ``I(z) = -∇L(z)ᵀ (F + λI)⁻¹ ∇f``.

Positive scores mean that upweighting the sample increases ``f`` (for ``query-loss``, where
``f = -loss``, it decreases the query loss: kronfluence's sign for a loss measurement).

Scoring is exact and batched. For each block the preconditioned probe gradient ``Q̃ = (F + λI)⁻¹ ∇f``
is computed once; a sample's gradient ``Σ_t g_t x_tᵀ`` is never formed because
``⟨Σ_t g_t x_tᵀ, Q̃⟩ = Σ_t g_tᵀ Q̃ x_t``. One forward and one backward per batch, stopping at the
earliest target layer, give every sample's score at once: the loss is a sum over samples, so each
sample's output gradients are its own.

Work is split into shards of ``InfluenceJob.shard_size`` samples; rank ``r`` of ``world_size`` scores shards
``r, r + world_size, ...`` (``RANK``/``WORLD_SIZE`` from ``torchrun``, or datatrove-style task
ids). Finished shards are parquet files; a killed run resumes from them. Working files live in
``<out stem>.influence/`` beside the output: ``arguments.json``, ``factors/`` (with the arguments
that made them), ``shards/`` and ``summary.json``. The arguments hold the content fingerprints of the
model folder (weights, config, tokenizer) and of the data (see :mod:`mda_curate.fingerprint`): a rerun
after any of them changed is refused instead of returning the old scores.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from mda_curate.errors import FieldError, UserError
from mda_curate.influence.blocks import Block
from mda_curate.influence.capture import Capture
from mda_curate.influence.factors import fit_factors, load_factors, precondition, save_factors
from mda_curate.influence.probes import Probe, probe_gradient, summed_lm_loss
from mda_curate.influence.samples import Batches, Samples
from mda_curate.influence.scores import scored_rows
from mda_curate.influence.settings import InfluenceSettings

# The scores file's columns and their pyarrow types.
COLUMN_TYPES = {
    "sample_index": "int64",
    "doc_id": "string",
    "domain": "string",
    "score": "float64",
    "loss": "float64",
    "n_tokens": "int64",
    "skipped": "string",
}
COLUMNS = tuple(COLUMN_TYPES)


def scores_schema():
    """The pyarrow schema of a scores file (one row per training sample)."""
    import pyarrow as pa

    return pa.schema([(name, getattr(pa, kind)()) for name, kind in COLUMN_TYPES.items()])


@dataclass
class InfluenceJob:
    """Everything that determines a score table; ``arguments()`` is saved beside the outputs."""

    model: object
    model_name: str
    blocks: list[Block]
    unit: str
    probe: Probe
    train: Samples
    factor_data: Samples
    settings: InfluenceSettings
    pad_id: int
    shard_size: int = 256
    model_content: dict = field(default_factory=dict)  # fingerprint of the model folder (weights, tokenizer)

    def factor_arguments(self) -> dict:
        return {
            "model": self.model_name,
            "model_content": self.model_content,
            "blocks": [b.name for b in self.blocks],
            "factor_data": self.factor_data.describe,
            "factor_data_content": self.factor_data.content,
            "factor_samples": self.factor_samples(),
            **{k: v for k, v in self.settings.to_json().items() if k != "damping"},
        }

    def arguments(self) -> dict:
        return {
            **self.factor_arguments(),
            "unit": self.unit,
            "probe": self.probe.info,
            "train": self.train.describe,
            "train_content": self.train.content,
            "train_samples": len(self.train),
            "damping": self.settings.damping if self.settings.damping is not None else "0.1mean",
            "shard_size": self.shard_size,
        }

    @property
    def device(self):
        return next(self.model.parameters()).device

    def factor_samples(self) -> int:
        cap = self.settings.factor_max_samples
        return len(self.factor_data) if cap is None else min(cap, len(self.factor_data))


def job_preconditioned_probe(job: InfluenceJob, work: Path, progress=None) -> dict[str, torch.Tensor]:
    """The job's preconditioned probe gradient, fitting its factors (or reusing those saved with the same
    arguments)."""
    factors_dir = work / "factors"
    factors = load_factors(factors_dir, job.factor_arguments())
    if factors is None:
        batches = Batches(
            job.factor_data, range(job.factor_samples()), job.settings.batch_size, job.pad_id, job.device
        )
        factors = fit_factors(job.model, job.blocks, batches, job.settings, progress)
        save_factors(factors, factors_dir, job.factor_arguments())
    return preconditioned_probe(job.model, job.blocks, job.probe, factors, job.settings.damping)


def preconditioned_probe(
    model, blocks: list[Block], probe: Probe, factors, damping: float | None
) -> dict[str, torch.Tensor]:
    """``Q̃ = (F + λI)⁻¹ ∇f`` per block, in the model's dtype."""
    gradient, _ = probe_gradient(model, blocks, probe)
    dtype = next(model.parameters()).dtype
    return {
        name: precondition(grad, {k: v.to(grad.device) for k, v in factors.get(name, {}).items()}, damping).to(dtype)
        for name, grad in gradient.items()
    }


def influence_scores(
    model,
    blocks: list[Block],
    probe: Probe,
    train: Samples,
    settings: InfluenceSettings,
    factor_data: Samples | None = None,
    pad_id: int = 0,
) -> np.ndarray:
    """In memory: every training sample's score (NaN for skipped samples); factors fitted on ``factor_data``
    (default ``train``)."""
    factor_data = train if factor_data is None else factor_data
    cap = settings.factor_max_samples or len(factor_data)
    device = next(model.parameters()).device
    batches = Batches(factor_data, range(min(cap, len(factor_data))), settings.batch_size, pad_id, device)
    factors = fit_factors(model, blocks, batches, settings)
    preconditioned = preconditioned_probe(model, blocks, probe, factors, settings.damping)
    scores = np.full(len(train), np.nan)
    with Capture(model, blocks) as capture:
        for batch in Batches(train, range(len(train)), settings.batch_size, pad_id, device):
            batch_scores, _ = score_batch(model, capture, preconditioned, batch.input_ids, batch.attention_mask)
            scores[batch.positions] = batch_scores.numpy()
    return scores


def score_batch(
    model, capture: Capture, preconditioned, input_ids, attention_mask
) -> tuple[torch.Tensor, torch.Tensor]:
    """Each sample's influence score and summed loss (batch,), from one forward and one backward."""
    losses = summed_lm_loss(model, input_ids, attention_mask)
    scores = torch.zeros(len(input_ids), dtype=torch.float64, device=input_ids.device)
    for name, calls in capture.backward(losses.sum()).items():
        q = preconditioned[name]
        for x, g in calls:
            scores -= (g * (x @ q.T)).sum(dim=(1, 2)).double()  # an einsum here costs transposed copies
    return scores.cpu(), losses.detach().cpu()


def score_shards(
    job: InfluenceJob, preconditioned, shard_dir: Path, rank: int = 0, world_size: int = 1, progress=None
) -> None:
    """Score this rank's unfinished shards into ``shard_dir`` (one parquet file per shard)."""
    shard_dir.mkdir(parents=True, exist_ok=True)
    n_shards = num_shards(len(job.train), job.shard_size)
    mine = [k for k in range(rank, n_shards, world_size) if not shard_path(shard_dir, k).is_file()]
    task = progress.add_task(f"scoring (rank {rank}/{world_size})", total=len(mine)) if progress else None
    with Capture(job.model, job.blocks) as capture:
        for k in mine:
            indices = range(k * job.shard_size, min((k + 1) * job.shard_size, len(job.train)))
            results = {}
            for batch in Batches(job.train, indices, job.settings.batch_size, job.pad_id, job.device):
                scores, losses = score_batch(job.model, capture, preconditioned, batch.input_ids, batch.attention_mask)
                for i, sample, score, loss in zip(batch.positions, batch.samples, scores.tolist(), losses.tolist()):
                    results[i] = (score, loss / (len(sample.tokens) - 1))
            _write_shard(job.train, indices, results, shard_path(shard_dir, k))
            if progress:
                progress.advance(task)


def num_shards(n: int, shard_size: int) -> int:
    return -(-n // shard_size)


def shard_path(shard_dir: Path, k: int) -> Path:
    return shard_dir / f"shard-{k:06d}.parquet"


def merge_shards(shard_dir: Path, n: int, shard_size: int, out: Path):
    """Concatenate all shards (in input order) into ``out``; ``None`` while some are missing."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    paths = [shard_path(shard_dir, k) for k in range(num_shards(n, shard_size))]
    if not all(p.is_file() for p in paths):
        return None
    table = pa.concat_tables([pq.read_table(p) for p in paths])
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    pq.write_table(table, tmp)
    tmp.replace(out)
    return table


def _write_shard(samples: Samples, indices: range, results: dict, path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = {column: [] for column in COLUMNS}
    for i in indices:
        sample = samples[i]
        score, loss = results.get(i, (None, None))
        for column, value in zip(
            COLUMNS, (sample.index, sample.doc_id, sample.domain, score, loss, len(sample.tokens), sample.skipped)
        ):
            rows[column].append(value)
    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(pa.table(rows, schema=scores_schema()), tmp)
    tmp.replace(path)


def check_arguments(work: Path, arguments: dict) -> None:
    """A working folder belongs to one set of arguments: resume it only with the same ones."""
    path = work / "arguments.json"
    if path.is_file():
        saved = json.loads(path.read_text())
        changed = sorted(k for k in set(saved) | set(arguments) if saved.get(k) != arguments.get(k))
        if changed:
            changes = ", ".join(changed)
            raise UserError(f"{work}: holds a run with other arguments ({changes}); remove it or pick another output")
    work.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(arguments, indent=2) + "\n")


def summarize(table, top_fraction: float = 0.1) -> dict:
    """Score distribution overall and per domain, and the share of positive influence in the top 10%."""
    scores = np.asarray(table.column("score").to_numpy(zero_copy_only=False), dtype=float)
    domains = np.asarray(table.column("domain").to_pylist(), dtype=object)
    valid = scored_rows(table)
    ranked = np.sort(scores[valid])[::-1]
    top = ranked[: max(1, round(top_fraction * len(ranked)))] if len(ranked) else ranked
    positive = ranked[ranked > 0].sum()
    per_domain = {}
    cutoff = top[-1] if len(top) else np.inf
    for domain in sorted(set(domains[valid])):
        s = scores[valid & (domains == domain)]
        per_domain[domain] = {
            "n": len(s),
            "mean": float(s.mean()),
            "median": float(np.median(s)),
            "top_share": float((s >= cutoff).mean()),
        }
    return {
        "samples": len(scores),
        "scored": int(valid.sum()),
        "skipped": int((~valid).sum()),
        "top_fraction": top_fraction,
        "top_share_of_positive_influence": float(top[top > 0].sum() / positive) if positive > 0 else None,
        "per_domain": per_domain,
    }


def run_influence(job: InfluenceJob, out: Path, rank: int = 0, world_size: int = 1, show_progress: bool = True):
    """Fit (or reuse) factors, score this rank's shards, and merge when all shards exist.

    Returns the merged table, or ``None`` when other ranks still have shards to finish."""
    from mda_curate.console import progress

    if world_size < 1:
        raise FieldError("world_size", f"must be at least 1 (got {world_size})")
    if not 0 <= rank < world_size:
        raise FieldError("rank", f"must be in 0..{world_size - 1} with world_size {world_size} (got {rank})")
    work = out.with_name(out.stem + ".influence")
    check_arguments(work, job.arguments())
    with progress(disable=not show_progress) as bar:
        preconditioned = job_preconditioned_probe(job, work, bar)
        score_shards(job, preconditioned, work / "shards", rank, world_size, bar)
    table = merge_shards(work / "shards", len(job.train), job.shard_size, out)
    if table is not None:
        (work / "summary.json").write_text(json.dumps(summarize(table), indent=2) + "\n")
    return table
