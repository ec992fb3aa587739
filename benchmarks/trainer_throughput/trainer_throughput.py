"""Trainer throughput vs a bare PyTorch loop, in the same process, alternating.

Both train the same cpu-tiny GPT-NeoX (same init, same batches, AdamW, grad clip) for the same steps.
The trainer's time includes everything ``Trainer.train`` does (batch assembly from the memmapped data
order, the weighted loss, logging; the progress bar is off); checkpoint saving (steps 0, 1, 2, 4, ...
and the last) is timed separately and reported both ways. Rounds alternate which loop goes first. Writes ``benchmarks/trainer_throughput/trainer_throughput.json``.

    OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/trainer_throughput/trainer_throughput.py --steps 50 --rounds 4
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from mda_curate.data.documents import Document
from mda_curate.data.tokenized import tokenize_documents
from mda_curate.data.tokenizer import train_tokenizer
from mda_curate.training.config import TrainConfig
from mda_curate.training.trainer import Trainer, build_model

OUT = Path(__file__).with_suffix(".json")


def stdlib_documents(limit: int = 200) -> list[Document]:
    """Python standard-library sources as a small natural corpus (always on disk)."""
    files = sorted(Path(os.__file__).parent.glob("*.py"))[:limit]
    return [Document(f.name, f.read_text(errors="ignore")[:20000], "code") for f in files]


def time_trainer(config: TrainConfig, tokenizer, corpus: Path, work: Path) -> tuple[float, float]:
    """Seconds of ``Trainer.train`` and of its checkpoint saves within it."""
    trainer = Trainer(config, work / f"run{time.monotonic_ns()}", tokenizer, [corpus])
    saving = [0.0]
    real_save = trainer.save_checkpoint

    def timed_save():
        t = time.perf_counter()
        real_save()
        saving[0] += time.perf_counter() - t

    trainer.save_checkpoint = timed_save
    start = time.perf_counter()
    trainer.train(show_progress=False)
    return time.perf_counter() - start, saving[0]


def time_bare_loop(config: TrainConfig, vocab_size: int, batches: list[torch.Tensor]) -> float:
    """Seconds of the textbook loop: forward, mean cross-entropy, backward, clip, AdamW step."""
    torch.manual_seed(config.seed)
    model = build_model(config, vocab_size).train()
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.lr, betas=config.betas, weight_decay=config.weight_decay
    )
    start = time.perf_counter()
    for tokens in batches:
        logits = model(input_ids=tokens[:, :-1]).logits
        loss = F.cross_entropy(logits.flatten(0, 1), tokens[:, 1:].flatten())
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    loss.item()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    config = TrainConfig(steps=args.steps, catalyst_share=0.6, log_every=10, checkpoint_every=10**6)
    tokens_per_run = config.steps * config.batch_size * config.ctx
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        docs = stdlib_documents()
        tokenizer = train_tokenizer([d.text for d in docs], 1024, work / "tokenizer")
        tokenize_documents(docs, tokenizer, work / "corpus")
        probe = Trainer(config, work / "probe", tokenizer, [work / "corpus"])
        batches = [torch.from_numpy(probe.batch(step).tokens) for step in range(config.steps)]
        trainer_s, saving_s, bare_s = [], [], []
        for round_ in range(args.rounds):  # alternate which goes first, so that drifting load cancels
            if round_ % 2:
                bare_s.append(time_bare_loop(config, len(tokenizer), batches))
            total, saving = time_trainer(config, tokenizer, work / "corpus", work)
            trainer_s.append(total)
            saving_s.append(saving)
            if not round_ % 2:
                bare_s.append(time_bare_loop(config, len(tokenizer), batches))
    loop_s = [total - saving for total, saving in zip(trainer_s, saving_s)]
    result = {
        "what": "cpu-tiny GPT-NeoX (2 layers, d=128, vocab 1024), ctx 128, batch 32, AdamW, grad clip 1.0; "
        "60% repeated_spans + 40% stdlib code; alternating rounds; progress bar off; ratio = trainer / bare tokens/s",
        "steps_per_run": config.steps,
        "rounds": args.rounds,
        "tokens_per_run": tokens_per_run,
        "bare_loop_tokens_per_s": round(tokens_per_run / statistics.median(bare_s)),
        "trainer_tokens_per_s_without_checkpoint_saves": round(tokens_per_run / statistics.median(loop_s)),
        "trainer_tokens_per_s_with_checkpoint_saves": round(tokens_per_run / statistics.median(trainer_s)),
        "ratio_median_without_checkpoint_saves": round(statistics.median(bare_s) / statistics.median(loop_s), 3),
        "ratio_median_with_checkpoint_saves": round(statistics.median(bare_s) / statistics.median(trainer_s), 3),
        "ratio_fastest_without_checkpoint_saves": round(min(bare_s) / min(loop_s), 3),
        "ratio_fastest_with_checkpoint_saves": round(min(bare_s) / min(trainer_s), 3),
        "checkpoint_saves_per_run": len(config.checkpoint_steps()),
        "seconds": {"trainer": trainer_s, "trainer_checkpoint_saves": saving_s, "bare_loop": bare_s},
        "machine": {
            "nproc": os.cpu_count(),
            "cpu": _cpu_model(),
            "torch_threads": torch.get_num_threads(),
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
            "note": "shared 2-core machine: other agents' jobs ran at the same time",
        },
        "versions": {"python": platform.python_version(), "torch": torch.__version__, "transformers": _transformers()},
        "command": f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '')} HF_HUB_OFFLINE=1 "
        f"{Path(sys.executable).name} benchmarks/trainer_throughput/trainer_throughput.py --steps {args.steps} --rounds {args.rounds}",
    }
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def _transformers() -> str:
    import transformers

    return transformers.__version__


if __name__ == "__main__":
    main()
