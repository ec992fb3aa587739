"""Linear datamodeling score (LDS; Park et al. 2023): how well influence scores predict retraining.

For each share ``alpha`` of a scored window's samples and each of ``subsets`` random draws, the drawn
samples are removed (masked: zero loss weight) and the base run is retrained from the window's first step
on its own data order to step ``end``; the probe the scores were computed for is measured on each
retrained model. Retrain seed 0 keeps the window's order; seed ``r > 0`` trains the same samples in a
seeded order (``schedule.shuffle``), so ``retrain_seeds >= 2`` measures how far the probe moves with the
order alone. A scores file predicts subset ``j``'s probe by the sum of the scores of the samples it keeps;
its LDS is the Spearman correlation of prediction and measurement (the mean over retrain seeds) over the
subsets of one ``alpha``, with a bootstrap interval over subsets. Random Gaussian scores give the chance
level; the Spearman of two retrain seeds' measurements is the noise floor's measure (the retrainings'
agreement with each other, which no scores can be expected to beat).

The output folder holds ``settings.json`` (the run's and scores' content and the settings: another
measurement is refused), one ``alpha<a>/subset<j>_seed<r>.json`` per retraining (written last: a killed
run resumes, and processes given different ``part`` s share the work) and ``lds.json`` once all are done.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from mda_curate.errors import SETTINGS, UserError
from mda_curate.fingerprint import fingerprint, first_difference

if TYPE_CHECKING:
    import numpy as np

CHANCE_DRAWS = 200  # random score vectors behind the chance level


@dataclass(frozen=True)
class LdsSettings:
    """What is retrained and how the score is summarised."""

    alphas: tuple[float, ...] = field(default=(0.5, 0.1), metadata={"help": "shares of the window removed"})
    subsets: int = field(default=100, metadata={"help": "random subsets per share"})
    retrain_seeds: int = field(
        default=2, metadata={"help": "retrainings per subset: the window's order, then seeded shuffles of it"}
    )
    end: int | None = field(
        default=None, metadata={"help": "the step the probe is measured at (default: the window's end)"}
    )
    seed: int = field(default=0, metadata={"help": "seed of the subsets' draws and the chance level"})
    bootstrap: int = field(default=1000, metadata={"help": "bootstrap draws over subsets for the intervals"})

    def __post_init__(self) -> None:
        check = SETTINGS
        check.require("alphas", self.alphas, lambda v: len(v) >= 1 and all(0 < a < 1 for a in v), "shares in (0, 1)")
        check.require("subsets", self.subsets, lambda v: v >= 3, "at least 3")
        check.require("retrain_seeds", self.retrain_seeds, lambda v: v >= 1, "at least 1")
        check.require("bootstrap", self.bootstrap, lambda v: v >= 1, "at least 1")


@dataclass(frozen=True)
class Window:
    """The scored window: its samples (global indices, sorted) and steps ``start .. stop - 1``."""

    samples: np.ndarray
    start: int
    stop: int


def run_lds(
    run: str | Path,
    scores: list[str | Path],
    out: str | Path,
    settings: LdsSettings,
    part: tuple[int, int] = (0, 1),
    threads: int | None = None,
    show_progress: bool = True,
) -> dict | None:
    """Retrain this ``part`` (``(i, n)``: every n-th retraining from the i-th) of the subsets of ``run``'s
    window scored by ``scores``, and write and return ``lds.json``'s content once every part is done
    (None before)."""
    from mda_curate.console import progress

    run, out, scores = Path(run), Path(out), [Path(p) for p in scores]
    config = json.loads(_read(run / "config.json"))
    window = scored_window(scores, config["train"]["batch_size"])
    arguments = json.loads(_read(scores[0].with_suffix(".influence") / "arguments.json"))
    end = settings.end or window.stop
    if end < window.stop:
        raise UserError(f"end: must be at least the window's end, step {window.stop} (got {end})")
    save_settings(out, run, scores, settings, end)
    jobs = [job for job in retrainings(settings) if job[3] % part[1] == part[0]]
    with progress(disable=not show_progress) as bar:
        task = bar.add_task("LDS retrainings", total=len(jobs))
        for alpha, j, r, _ in jobs:
            path = result_path(out, alpha, j, r)
            if not path.is_file():
                removed = removed_samples(window, alpha, j, settings.seed)
                value = retrain_and_measure(run, window, end, removed, r, arguments, path.with_suffix(""), threads)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(json.dumps({"alpha": alpha, "subset": j, "retrain_seed": r, "probe": value}) + "\n")
            bar.advance(task)
    if not all(result_path(out, a, j, r).is_file() for a, j, r, _ in retrainings(settings)):
        return None
    result = summarize(out, run, scores, window, settings, end, arguments)
    (out / "lds.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


def scored_window(scores: list[Path], batch_size: int) -> Window:
    """The samples every scores file scores (they must agree) and the steps they span."""
    import numpy as np
    import pyarrow.parquet as pq

    found = None
    for path in scores:
        samples = np.sort(pq.read_table(_exists(path), columns=["sample_index"]).column(0).to_numpy())
        if found is not None and not np.array_equal(samples, found):
            raise UserError(f"{path}: scores other samples than {scores[0]}")
        found = samples
    start, stop = int(found[0]) // batch_size, int(found[-1]) // batch_size + 1
    if len(found) != (stop - start) * batch_size:
        raise UserError(f"{scores[0]}: does not score every sample of steps {start}:{stop} (a window of a run)")
    return Window(found, start, stop)


def retrainings(settings: LdsSettings) -> list[tuple[float, int, int, int]]:
    """``(alpha, subset, retrain seed, number)`` of every retraining, in a fixed order."""
    jobs = [
        (alpha, j, r)
        for alpha in settings.alphas
        for j in range(settings.subsets)
        for r in range(settings.retrain_seeds)
    ]
    return [(*job, n) for n, job in enumerate(jobs)]


def removed_samples(window: Window, alpha: float, subset: int, seed: int) -> np.ndarray:
    """The ``round(alpha * n)`` window samples subset ``subset`` of share ``alpha`` removes (sorted)."""
    import numpy as np

    rng = np.random.default_rng([seed, round(alpha * 1_000_000), subset])
    return np.sort(rng.choice(window.samples, size=round(alpha * len(window.samples)), replace=False))


def result_path(out: Path, alpha: float, subset: int, retrain_seed: int) -> Path:
    return out / f"alpha{alpha:g}" / f"subset{subset:03d}_seed{retrain_seed}.json"


def retrain_and_measure(
    run: Path, window: Window, end: int, removed: np.ndarray, retrain_seed: int, arguments: dict, work: Path, threads
) -> float:
    """Retrain ``run`` from the window's start to ``end`` without ``removed`` (the window shuffled by
    ``retrain_seed`` when > 0), measure the probe at ``end``, delete the retrained run; return the probe."""
    from dataclasses import replace

    from mda_curate.models import load_tokenizer
    from mda_curate.training.config import TrainConfig
    from mda_curate.training.schedule import Schedule
    from mda_curate.training.trainer import Trainer
    from mda_curate.validation.runner import base_run_data

    saved = json.loads((run / "config.json").read_text())
    config = TrainConfig.from_dict(saved["train"])
    config = replace(config, checkpoint_every=end - window.start, threads=threads or config.threads)
    schedule = {"mask": removed.tolist()}
    if retrain_seed > 0:
        schedule["shuffle"] = {"start": window.start, "end": window.stop, "seed": retrain_seed}
    tokenizer = load_tokenizer(str(run / f"step_{window.start}"))  # checkpoints carry their tokenizer
    resume = any(work.glob("step_*/trainer_state.pt"))
    if not resume and work.exists():
        shutil.rmtree(work)
    trainer = Trainer(
        config,
        work,
        tokenizer,
        base_run_data(run),
        Schedule.from_dict(schedule, config.steps, config.batch_size),
        run / f"step_{window.start}",
        resume,
    )
    if trainer.step < end:
        trainer.train(show_progress=False, until=end)
    value = probe_value(work / f"step_{end}", arguments)
    shutil.rmtree(work)
    return value


def probe_value(checkpoint: Path, arguments: dict) -> float:
    """The probe of the scores' ``arguments`` (``<scores>.influence/arguments.json``) on one checkpoint."""
    import torch

    from mda_curate.influence.request import rebuild_probe
    from mda_curate.models import load_causal_lm

    model, tokenizer = load_causal_lm(str(checkpoint))
    probe = rebuild_probe(arguments, tokenizer)
    with torch.no_grad():
        return float(sum(probe.objective(model, ids, mask) for ids, mask in probe.batches))


def save_settings(out: Path, run: Path, scores: list[Path], settings: LdsSettings, end: int) -> None:
    """Write ``settings.json``; refuse a folder measured with other inputs or settings."""
    record = {
        "run": fingerprint([run / name for name in ("config.json", "order.npy")]),
        "scores": fingerprint(scores),
        "settings": {**asdict(settings), "end": end, "alphas": list(settings.alphas)},
    }
    record = json.loads(json.dumps(record))
    path = out / "settings.json"
    if path.is_file():
        saved = json.loads(path.read_text())
        changed = first_difference(_comparable(saved), _comparable(record))
        if changed:
            raise UserError(f"{out}: holds an LDS measurement of other inputs or settings (changed {changed})")
    out.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2) + "\n")


def _comparable(record: dict) -> dict:
    """A record by content, not by path: the files' identities in order."""
    return {**record, "run": list(record["run"].values()), "scores": list(record["scores"].values())}


def summarize(out: Path, run: Path, scores: list[Path], window: Window, settings, end: int, arguments) -> dict:
    import numpy as np
    import pyarrow.parquet as pq

    rng = np.random.default_rng(settings.seed)
    per_alpha = {}
    for alpha in settings.alphas:
        measured = np.array(
            [
                [json.loads(result_path(out, alpha, j, r).read_text())["probe"] for r in range(settings.retrain_seeds)]
                for j in range(settings.subsets)
            ]
        )
        kept = kept_matrix(window, alpha, settings)
        target = measured.mean(axis=1)
        entry = {
            "subsets": settings.subsets,
            "removed_per_subset": round(alpha * len(window.samples)),
            "measured": {"mean": float(target.mean()), "std": float(target.std())},
            "lds": {},
        }
        for path in scores:
            table = pq.read_table(path, columns=["sample_index", "score"])
            order = np.argsort(table.column("sample_index").to_numpy())
            vector = np.nan_to_num(table.column("score").to_numpy(zero_copy_only=False)[order])  # skipped: 0
            entry["lds"][path.stem] = spearman_interval(kept @ vector, target, settings.bootstrap, rng)
        chance = [spearman(kept @ rng.standard_normal(len(window.samples)), target) for _ in range(CHANCE_DRAWS)]
        entry["chance"] = {"mean": float(np.mean(chance)), "central95": np.percentile(chance, [2.5, 97.5]).tolist()}
        if settings.retrain_seeds >= 2:
            entry["noise_floor"] = spearman_interval(measured[:, 0], measured[:, 1], settings.bootstrap, rng)
        per_alpha[f"{alpha:g}"] = entry
    return {
        "what": "LDS: Spearman of predicted (sum of kept samples' scores) vs retrained probe over random subsets",
        "run": str(run),
        "window": [window.start, window.stop],
        "end": end,
        "unit": arguments.get("unit"),
        "probe": arguments.get("probe"),
        "settings": {**asdict(settings), "end": end, "alphas": list(settings.alphas)},
        "scores": {path.stem: str(path) for path in scores},
        "alphas": per_alpha,
    }


def kept_matrix(window: Window, alpha: float, settings: LdsSettings) -> np.ndarray:
    """``(subsets, samples)``: 1 where the subset keeps the window's sample."""
    import numpy as np

    kept = np.ones((settings.subsets, len(window.samples)))
    for j in range(settings.subsets):
        kept[j, np.searchsorted(window.samples, removed_samples(window, alpha, j, settings.seed))] = 0.0
    return kept


def spearman_interval(predicted: np.ndarray, measured: np.ndarray, draws: int, rng) -> dict:
    """Spearman of the two over subsets, with a percentile bootstrap 95% interval over subsets (n = subsets)."""
    import numpy as np

    n = len(measured)
    values = [spearman(predicted[b], measured[b]) for b in rng.integers(0, n, (draws, n))]
    return {
        "spearman": spearman(predicted, measured),
        "ci95": [float(np.nanpercentile(values, 2.5)), float(np.nanpercentile(values, 97.5))],
        "n": n,
    }


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation; NaN for a constant input (a bootstrap draw of one subset repeated)."""
    import warnings

    from scipy.stats import ConstantInputWarning, spearmanr

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConstantInputWarning)
        return float(spearmanr(a, b).statistic)


def _exists(path: Path) -> Path:
    if not path.is_file():
        raise UserError(f"{path}: no such scores file")
    return path


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except FileNotFoundError:
        raise UserError(
            f"{path}: missing (an LDS needs a training run folder and scores made by mda-curate influence)"
        ) from None
