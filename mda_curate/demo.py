"""The closed loop on the shipped sample corpus, stage by stage; each stage leaves a folder its own
command can reuse (``mda-curate train --resume``, ``mda-curate units --checkpoints``).

Stages so far: (1) train the base run on the CPU formation-window recipe, (2) score every head of every
checkpoint and find when the induction head forms, (3) write ``summary.json`` and plots. Influence,
classifier, curation and validation stages join as those capabilities land.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, replace
from pathlib import Path

from mda_curate.console import console, table
from mda_curate.training.config import RECIPES, TrainConfig

FORMATION_RECIPE = RECIPES["cpu-formation"]
QUICK_RECIPE = replace(FORMATION_RECIPE, steps=300, checkpoint_every=50)


def run_demo(output: str | Path, quick: bool = False) -> dict:
    """Run every available stage into ``output``; returns (and writes) ``summary.json``."""
    from mda_curate.resources import sample_corpus_dir, sample_tokenizer_dir

    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    config = QUICK_RECIPE if quick else FORMATION_RECIPE
    corpus, tokenizer_dir = sample_corpus_dir(), sample_tokenizer_dir()
    started = time.perf_counter()
    run_dir = train_base_run(config, corpus / "train.parquet", tokenizer_dir, output / "run")
    units = score_trajectory(run_dir, corpus / "heldout.parquet", output / "units")
    summary = {
        "quick": quick,
        "corpus": str(corpus),
        "tokenizer": str(tokenizer_dir),
        "recipe": asdict(config),
        "stages": {"train": str(run_dir), "units": units.pop("files")},
        **units,
        "seconds": round(time.perf_counter() - started, 1),
    }
    (output / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print_summary(summary)
    return summary


def train_base_run(config: TrainConfig, data: Path, tokenizer_dir: Path, run_dir: Path) -> Path:
    """Train (or resume, after a kill) the base run of ``config`` on ``data``."""
    from transformers.utils import logging as transformers_logging

    from mda_curate.models import load_tokenizer
    from mda_curate.training.trainer import Trainer

    transformers_logging.disable_progress_bar()
    resume = (run_dir / "config.json").is_file() and any(run_dir.glob("step_*/trainer_state.pt"))
    console.rule(f"[bold]1. train: {config.preset}, {config.steps} steps, catalyst share {config.catalyst_share}")
    trainer = Trainer(config, run_dir, load_tokenizer(str(tokenizer_dir)), [data], resume=resume)
    if trainer.step < config.steps:
        trainer.train()
    return run_dir


def score_trajectory(run_dir: Path, heldout: Path, out_dir: Path) -> dict:
    """Score every checkpoint's heads and ICL; find the formation step of the induction head."""
    from mda_curate.data.documents import read_documents
    from mda_curate.units.formation import formation_step, summarize_steps
    from mda_curate.units.trajectory import score_checkpoints

    console.rule("[bold]2. units: head scores and ICL score at every checkpoint")
    texts = [doc.text for doc in read_documents([heldout]) if doc.domain == "prose"]
    rows, table_path, plot_path = score_checkpoints(run_dir, out_dir / "trajectory", icl_texts=texts)
    steps = summarize_steps(rows)
    first, last = steps[0], steps[-1]
    return {
        "formation_step": formation_step(steps),
        "induction": {"first": first.best_induction, "last": last.best_induction, "head": list(last.best_induction_head)},
        "previous_token": {
            "first": first.best_previous_token,
            "last": last.best_previous_token,
            "head": list(last.best_previous_token_head),
        },
        "induction_loss_drop": {"first": first.induction_loss_drop, "last": last.induction_loss_drop},
        "icl_score": {"first": first.icl_score, "last": last.icl_score},
        "files": {"table": str(table_path), "plot": str(plot_path)},
    }


def print_summary(summary: dict) -> None:
    rows = [
        ["formation step", summary["formation_step"] if summary["formation_step"] is not None else "not yet"],
        *[
            [f"{name} ({'L%dH%d' % tuple(summary[name]['head'])})", f"{summary[name]['first']:.3f} → {summary[name]['last']:.3f}"]
            for name in ("induction", "previous_token")
        ],
        ["induction-loss drop (nats)", _change(summary["induction_loss_drop"])],
        ["ICL score (nats)", _change(summary["icl_score"])],
        ["seconds", summary["seconds"]],
    ]
    console.print(table("mda-curate demo", ["", "value"], rows))


def _change(values: dict) -> str:
    if values["first"] is None or values["last"] is None:
        return "-"
    return f"{values['first']:.3f} → {values['last']:.3f}"
