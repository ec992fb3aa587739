"""Unit scores across training: score every checkpoint folder of a run, write a table and a plot.

Checkpoint folders are ``step_<N>`` (also ``step<N>``) or Hugging Face ``checkpoint-<N>`` subfolders
holding a saved model; the step is taken from the name. All checkpoints are scored on the same
probe sequences, drawn with the tokenizer of the first checkpoint that has one (else of ``DIR``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from mda_curate.console import console, progress
from mda_curate.errors import UserError
from mda_curate.models import has_model, has_tokenizer, load_causal_lm, load_tokenizer
from mda_curate.units.heads import METRICS, score_heads
from mda_curate.units.scoring import DEFAULT_ICL_CONTEXTS, model_icl_score, probe_sequences
from mda_curate.units.sequences import ProbeSettings

CHECKPOINT_NAME = re.compile(r"^(?:step_?|checkpoint-)(\d+)$")
TOP_HEADS = 6


def find_checkpoints(directory: str | Path) -> list[tuple[int, Path]]:
    """``(step, folder)`` of every checkpoint subfolder holding a model, by step."""
    directory = Path(directory)
    if not directory.is_dir():
        raise UserError(f"{directory}: no such folder")
    found = [
        (int(match.group(1)), sub)
        for sub in directory.iterdir()
        if (match := CHECKPOINT_NAME.match(sub.name)) and has_model(sub)
    ]
    if not found:
        raise UserError(f"{directory}: no step_<N> or checkpoint-<N> subfolders with a saved model")
    return sorted(found)


def score_checkpoints(
    directory: str | Path,
    out_prefix: str | Path | None = None,
    settings: ProbeSettings = ProbeSettings(),
    token_counts: Sequence[int] | None = None,
    icl_texts: Sequence[str] | None = None,
    icl_ctx: int | None = None,
    icl_max_contexts: int = DEFAULT_ICL_CONTEXTS,
    device: str = "cpu",
) -> tuple[list[dict], Path, Path]:
    """Score every checkpoint under ``directory``; write ``<out_prefix>.parquet`` and ``<out_prefix>.png``.

    Returns ``(rows, table_path, plot_path)``; one row per (step, layer, head) with the head's scores
    and the step's ``induction_loss_first``/``induction_loss_second`` and ``icl_score``.
    ``out_prefix`` defaults to ``<directory>/unit_scores``.
    """
    checkpoints = find_checkpoints(directory)
    tokenizer_source = tokenizer_folder(directory)
    sequences, _ = probe_sequences(load_tokenizer(str(tokenizer_source)), settings, token_counts)
    rows: list[dict] = []
    with progress() as bar:
        task = bar.add_task("scoring checkpoints", total=len(checkpoints))
        for step, path in checkpoints:
            model, tokenizer = load_causal_lm(str(path), device=device, tokenizer_from=str(tokenizer_source))
            heads = score_heads(model, sequences)
            icl, _ = model_icl_score(model, tokenizer, icl_texts, icl_ctx, icl_max_contexts)
            per_step = {
                "induction_loss_first": heads.induction_loss_first,
                "induction_loss_second": heads.induction_loss_second,
                "icl_score": icl,
            }
            rows.extend({"step": step, **head, **per_step} for head in heads.rows())
            bar.advance(task)
    prefix = Path(out_prefix) if out_prefix is not None else Path(directory) / "unit_scores"
    prefix.parent.mkdir(parents=True, exist_ok=True)
    table_path, plot_path = Path(f"{prefix}.parquet"), Path(f"{prefix}.png")
    write_table(rows, table_path)
    plot_trajectories(rows, plot_path)
    console.print(f"wrote {table_path} and {plot_path}")
    return rows, table_path, plot_path


def write_table(rows: list[dict], path: Path) -> None:
    """Write trajectory rows as parquet."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(rows), path)


def top_heads(rows: list[dict], metric: str, k: int = TOP_HEADS) -> list[tuple[int, int]]:
    """The ``k`` heads ``(layer, head)`` with the highest ``metric`` at any step."""
    best: dict[tuple[int, int], float] = {}
    for row in rows:
        key = (row["layer"], row["head"])
        best[key] = max(best.get(key, float("-inf")), row[metric])
    return sorted(best, key=best.get, reverse=True)[:k]


def plot_trajectories(rows: list[dict], path: Path, metrics: Sequence[str] = METRICS) -> None:
    """One panel per metric: score vs step, one line per top head."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 4), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        for layer, head in top_heads(rows, metric):
            points = sorted((r["step"], r[metric]) for r in rows if (r["layer"], r["head"]) == (layer, head))
            ax.plot(*zip(*points), marker="o", markersize=3, label=f"L{layer}H{head}")
        ax.set(title=metric.replace("_", "-"), xlabel="step", ylabel="score", ylim=(0, 1.02))
        ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def tokenizer_folder(directory: str | Path) -> Path:
    """The folder whose tokenizer a run's probes use: the first checkpoint with one, else ``directory``."""
    for folder in [*(path for _, path in find_checkpoints(directory)), Path(directory)]:
        if has_tokenizer(folder):
            return folder
    raise UserError(f"{directory}: no tokenizer in the checkpoint folders or in the folder itself")
