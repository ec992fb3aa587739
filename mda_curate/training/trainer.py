"""The training loop: a preset's model (GPT-NeoX or Llama-style) on a fixed data order, with checkpoints that
resume exactly.

A run folder holds::

    config.json        the run's arguments (train config, data, tokenizer, schedule, init_from) and the
                       content fingerprints of the data and tokenizer files (checked on --resume)
    order.npy, sources.json, streams.npz   the data order (see ``training.data``)
    log.jsonl          one line per ``log_every`` steps: step, loss, lr, tokens_per_s
    step_<N>/          the model after N updates (``save_pretrained`` + tokenizer, loads with
                       ``from_pretrained``) and ``trainer_state.pt`` (step, AdamW state, RNG states)

Step ``s`` (0-based) trains on batch ``s``: samples ``s * batch_size ... (s + 1) * batch_size - 1`` of the
order plus the schedule's extra rows; ``step_<N>`` is saved after steps ``0 .. N-1``. A resumed run
gives bit-identical weights to an uninterrupted one (same device and thread count).
"""

from __future__ import annotations

import json
import math
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from mda_curate.errors import UserError
from mda_curate.fingerprint import content_change, file_identity, fingerprint
from mda_curate.training.config import TrainConfig
from mda_curate.training.data import DataOrder, PackedSource, open_corpora
from mda_curate.training.schedule import NO_SCHEDULE, Schedule, StepBatch, StepBatches

STATE_FILE = "trainer_state.pt"
COSINE_FLOOR = 0.1  # cosine decays to 10% of the peak learning rate, as Pythia
SHAPE_FIELDS = (  # what a checkpoint to start from must share with the preset
    "model_type",
    "vocab_size",
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "num_key_value_heads",
    "intermediate_size",
    "use_parallel_residual",
    "partial_rotary_factor",
)


def build_model(config: TrainConfig, vocab_size: int):
    """A freshly initialised model of the config's preset (seed it with ``torch.manual_seed`` first)."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING

    vocab = config.vocab_size or config.model_preset.vocab_size or vocab_size  # as TrainConfig documents
    model_config = config.model_preset.build_config(vocab, config.ctx)
    return MODEL_FOR_CAUSAL_LM_MAPPING[type(model_config)](model_config)


def learning_rate(step: int, config: TrainConfig) -> float:
    """Linear warm-up over ``warmup_steps``, then constant or cosine down to ``COSINE_FLOOR * lr``."""
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    if config.lr_schedule == "constant":
        return config.lr
    progress = (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps)
    return config.lr * (COSINE_FLOOR + (1 - COSINE_FLOOR) * 0.5 * (1 + math.cos(math.pi * progress)))


def weighted_loss(model, tokens: torch.Tensor, weights: torch.Tensor, nominal_tokens: int):
    """Next-token loss summed over rows weighted by ``weights``, divided by ``nominal_tokens``.

    Returns ``(loss, mean)``: the loss to backpropagate and the mean token loss of the weighted rows.
    Dividing by the nominal ``batch_size * ctx`` (not by the rows present) keeps every sample's gradient
    the same whether other samples are masked or inserted."""
    inputs, labels = tokens[:, :-1], tokens[:, 1:]
    logits = model(input_ids=inputs, use_cache=False).logits
    token_loss = F.cross_entropy(logits.flatten(0, 1).float(), labels.flatten(), reduction="none")
    row_loss = token_loss.view(labels.shape).sum(dim=1) * weights
    mean = row_loss.detach().sum() / (weights.sum() * labels.shape[1]).clamp(min=1)
    return row_loss.sum() / nominal_tokens, mean


class Trainer:
    """Set up (or resume) a run in ``run_dir`` and train it with :meth:`train`."""

    def __init__(
        self,
        config: TrainConfig,
        run_dir: str | Path,
        tokenizer,
        data: list[str | Path],
        schedule: Schedule = NO_SCHEDULE,
        init_from: str | Path | None = None,
        resume: bool = False,
    ):
        self.config, self.run_dir, self.tokenizer = config, Path(run_dir), tokenizer
        self.device = torch.device(config.device)
        if config.threads:
            torch.set_num_threads(config.threads)
        run_args = {
            "train": config.to_dict(),
            "data": [str(Path(p).resolve()) for p in data],
            "tokenizer": str(tokenizer.name_or_path),
            "schedule": schedule.to_dict(),
            "init_from": str(Path(init_from).resolve()) if init_from else None,
            "content": run_content(data, tokenizer.name_or_path, schedule),
        }
        self._check_run_dir(run_args, resume)
        corpora = open_corpora(data, tokenizer, self.run_dir / "tokenized")
        self.order = DataOrder.build(
            corpora,
            config.ctx,
            config.steps * config.batch_size,
            config.seed,
            config.mix,
            config.catalyst_share,
            vocab_size=len(tokenizer),
            eos_id=tokenizer.eos_token_id,
        )
        inserts = [self._insert_source(i, insert.path) for i, insert in enumerate(schedule.insert)]
        self.batches = StepBatches(self.order, config.batch_size, schedule, inserts)

        torch.manual_seed(config.seed)
        self.model = build_model(config, len(tokenizer)).to(self.device)
        if self.model.config.vocab_size < len(tokenizer):
            raise UserError(
                f"vocab_size {self.model.config.vocab_size} is below the tokenizer's {len(tokenizer)} tokens"
            )
        self.optimizer = torch.optim.AdamW(
            self.model.parameters(), lr=config.lr, betas=config.betas, weight_decay=config.weight_decay
        )
        self.step = 0
        if resume:
            self._load(self._latest_checkpoint())
            self._check_order(self.run_dir / "order.npy")
            self._truncate_log()
        elif init_from:
            self._load(Path(init_from))
            self._check_order(Path(init_from).parent / "order.npy")
            first = schedule.first_step(config.batch_size)
            if first is not None and first < self.step:
                raise UserError(f"schedule: changes step {first}, before step {self.step} the arm starts from")
        self.run_dir.mkdir(parents=True, exist_ok=True)
        (self.run_dir / "config.json").write_text(json.dumps(run_args, indent=2) + "\n")
        self.order.save(self.run_dir)

    def batch(self, step: int) -> StepBatch:
        """The rows, loss weights and sample ids of step ``step``."""
        return self.batches(step)

    def train_step(self, step: int, batch: StepBatch) -> torch.Tensor:
        """One AdamW update on ``batch``; returns the mean token loss of its weighted rows."""
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate(step, self.config)
        tokens = torch.from_numpy(batch.tokens).to(self.device)
        weights = torch.from_numpy(batch.weights).to(self.device)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.config.dtype == "bfloat16"):
            loss, mean = weighted_loss(self.model, tokens, weights, self.config.batch_size * self.config.ctx)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return mean

    def train(
        self, show_progress: bool = True, until: int | None = None, stop: Callable[[Path], bool] | None = None
    ) -> dict:
        """Train from the current step to ``config.steps`` (or stop after step ``until``, with a checkpoint
        there, to resume later); returns a summary of this session.

        ``stop``, when given, is called with every checkpoint this session saves; training ends after the
        first checkpoint for which it returns True."""
        from transformers.utils import logging as transformers_logging

        from mda_curate.console import progress

        transformers_logging.disable_progress_bar()  # one rich bar, not one tqdm bar per checkpoint save
        config, start = self.config, self.step
        end = config.steps if until is None else min(until, config.steps)
        checkpoints = config.checkpoint_steps() | {end}
        if start == 0:
            self.save_checkpoint()
        self.model.train()
        losses, interval_tokens, total_tokens, logged = [], 0, 0, {}
        started = last_log = time.perf_counter()
        bar = progress()
        bar.disable = not show_progress  # no live display (nor its refresh thread) when hidden
        with bar, open(self.run_dir / "log.jsonl", "a") as log:
            task = bar.add_task("train", total=end, completed=start)
            for step in range(start, end):
                batch = self.batch(step)
                losses.append(self.train_step(step, batch))
                interval_tokens += batch.tokens.shape[0] * config.ctx
                self.step = step + 1
                if self.step % config.log_every == 0 or self.step == end:
                    now = time.perf_counter()
                    logged = {
                        "step": step,
                        "loss": torch.stack(losses).mean().item(),
                        "lr": learning_rate(step, config),
                        "tokens_per_s": interval_tokens / (now - last_log),
                    }
                    log.write(json.dumps(logged) + "\n")
                    log.flush()
                    bar.update(
                        task, description=f"train · loss {logged['loss']:.3f} · {logged['tokens_per_s']:,.0f} tok/s"
                    )
                    total_tokens += interval_tokens
                    losses, interval_tokens, last_log = [], 0, now
                bar.update(task, completed=self.step)
                if self.step in checkpoints:
                    checkpoint = self.save_checkpoint()
                    if stop is not None and stop(checkpoint):
                        break
        seconds = time.perf_counter() - started
        return {
            "steps": self.step - start,
            "tokens": total_tokens,
            "final_loss": logged.get("loss"),
            "tokens_per_s": total_tokens / seconds,
            "seconds": seconds,
            "run_dir": str(self.run_dir),
        }

    def save_checkpoint(self) -> Path:
        """Save ``step_<N>``: model and tokenizer (``from_pretrained``-loadable) and the trainer state."""
        final = self.run_dir / f"step_{self.step}"
        partial = self.run_dir / f"step_{self.step}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        self.model.save_pretrained(partial)
        self.tokenizer.save_pretrained(partial)
        state = {
            "step": self.step,
            "optimizer": self.optimizer.state_dict(),
            "rng_cpu": torch.get_rng_state(),
            "rng_cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        }
        torch.save(state, partial / STATE_FILE)
        shutil.rmtree(final, ignore_errors=True)
        partial.rename(final)
        return final

    def _load(self, checkpoint: Path) -> None:
        """Load weights from ``checkpoint``; with a ``trainer_state.pt`` also the optimizer, RNG and step."""
        from transformers import AutoModelForCausalLM

        from mda_curate.models import has_model

        if not has_model(checkpoint):
            raise UserError(f"{checkpoint}: no model here (a step_<N> folder of a run is needed)")
        loaded = AutoModelForCausalLM.from_pretrained(checkpoint, dtype=torch.float32)
        for name in SHAPE_FIELDS:
            mine, theirs = _shape_field(self.model.config, name), _shape_field(loaded.config, name)
            if mine != theirs:
                raise UserError(f"{checkpoint}: {name} is {theirs}, the {self.config.preset} preset has {mine}")
        self.model.load_state_dict(loaded.state_dict())
        state_path = checkpoint / STATE_FILE
        if not state_path.is_file():
            return  # weights only (e.g. a published checkpoint): a fresh optimizer from step 0
        state = torch.load(state_path, weights_only=True, map_location=self.device)
        self.optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["rng_cpu"].cpu())
        if state["rng_cuda"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all([s.cpu() for s in state["rng_cuda"]])
        self.step = int(state["step"])
        if self.step > self.config.steps:
            raise UserError(f"{checkpoint}: is at step {self.step}, beyond the run's steps ({self.config.steps})")

    def _check_run_dir(self, run_args: dict, resume: bool) -> None:
        """A fresh run needs a folder without a run; a resumed one its own unchanged settings."""
        config_path = self.run_dir / "config.json"
        if not resume:
            if config_path.exists():
                raise UserError(f"{self.run_dir}: already holds a run (resume it, or train into another folder)")
            return
        if not config_path.is_file():
            raise UserError(f"{self.run_dir}: nothing to resume (no config.json)")
        saved = json.loads(config_path.read_text())
        changes = TrainConfig.from_dict(saved["train"]).differences(self.config)
        # data and tokenizer are compared by content where the run recorded it (so a moved checkout resumes);
        # older runs recorded only their paths
        by_content = ("data", "tokenizer") if "content" in saved else ()
        paths = {k: v for k, v in run_args.items() if k not in ("train", "content", *by_content)}
        changes += [f"{k}: {saved[k]!r} -> {v!r}" for k, v in paths.items() if saved[k] != v]
        if by_content and (change := content_change(saved["content"], run_args["content"])):
            changes.append(f"content of {change} (the data or tokenizer files changed)")
        if changes:
            raise UserError(f"{self.run_dir}: resuming needs the run's own settings; changed {changes[0]}")

    def _latest_checkpoint(self) -> Path:
        steps = [
            int(p.name[5:]) for p in self.run_dir.glob("step_*") if p.name[5:].isdigit() and (p / STATE_FILE).is_file()
        ]
        if not steps:
            raise UserError(f"{self.run_dir}: no checkpoint with a {STATE_FILE} to resume from")
        return self.run_dir / f"step_{max(steps)}"

    def _truncate_log(self) -> None:
        """Drop log lines of steps after the checkpoint a resume starts from (they will be redone)."""
        log = self.run_dir / "log.jsonl"
        if log.is_file():
            resumed = int(self._latest_checkpoint().name[5:])
            lines = [line for line in log.read_text().splitlines() if json.loads(line)["step"] < resumed]
            log.write_text("".join(line + "\n" for line in lines))

    def _check_order(self, saved: Path) -> None:
        """A resumed run, or an arm branching from another run, must read the same data order."""
        if saved.is_file() and not np.array_equal(np.load(saved), self.order.order):
            raise UserError(
                f"{saved}: the data order differs (resuming or branching needs the same data, seed, mix, "
                "catalyst share, steps and batch size)"
            )

    def _insert_source(self, index: int, path: str) -> PackedSource:
        (corpus,) = open_corpora([path], self.tokenizer, self.run_dir / "tokenized" / f"insert_{index}")
        docs = np.stack([np.zeros(len(corpus), dtype=np.int64), np.arange(len(corpus))], axis=1)
        source = PackedSource(f"insert[{index}]", [corpus], docs, self.config.ctx)
        if source.num_windows == 0:
            raise UserError(
                f"insert[{index}].path: {path} holds fewer than {self.config.ctx + 1} tokens, less than one window"
            )
        return source


def run_content(data: list[str | Path], tokenizer: str | Path, schedule: Schedule) -> dict:
    """Fingerprints of what a run reads: its data and insert files and the files of its tokenizer folder."""
    from mda_curate.models import TOKENIZER_FILES

    folder = Path(str(tokenizer))
    tokenizer_files = [folder / name for name in TOKENIZER_FILES if (folder / name).is_file()]
    return {
        "data": fingerprint([*data, *(insert.path for insert in schedule.insert)]),
        "tokenizer": {path.name: file_identity(path) for path in tokenizer_files},
    }


def _shape_field(model_config, name: str):
    if name == "partial_rotary_factor":
        return model_config.rope_parameters.get(name)
    return getattr(model_config, name, None)  # None where the family has no such field
