"""Run an experiment: base runs and influence scores checked (or made), every arm-run trained and scored.

The output folder holds::

    spec.toml, spec.json         the spec as given and as resolved (a rerun must use the same spec)
    seed<S>/<arm>/schedule.json  the arm's intervention (``mda_curate.training.schedule``)
    seed<S>/<arm>/run/           the arm's training run, branched from the base run's window-start checkpoint
                                 (to ``until``, or with ``arms.stop_after_formation`` that many steps past
                                 its first formed checkpoint)
    seed<S>/<arm>/metrics.parquet  every head's metrics at every checkpoint: written last, marks the arm-run done

A killed harness resumes: finished arm-runs (with ``metrics.parquet``) are skipped, a partial one
resumes from its last checkpoint (bit-identically, at the same thread count). Once an arm-run is scored,
the optimizer states of its checkpoints but the last are deleted (the weights stay). Run one harness
per output folder at a time (``--workers`` parallelises within it); arm-runs finished by an earlier
``--arms`` or ``--seeds`` selection stay in the report, and seeds added to the spec later join the same
folder. Arm-runs may instead be dispatched through Ray or Slurm
(``mda_curate.validation.executors``): every executor runs each arm-run with :func:`train_and_score`.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import MISSING, dataclass, fields, replace
from pathlib import Path

from mda_curate.console import console, progress
from mda_curate.errors import FieldError, UserError
from mda_curate.fingerprint import content_change, first_difference
from mda_curate.validation.spec import ARMS, TARGETED, ArmSettings, ExperimentSpec, MetricSettings, SeedSpec

STATE_FILE = "trainer_state.pt"  # as mda_curate.training.trainer, without importing torch here
PR_SET_PDEATHSIG = 1  # prctl(2): the signal a process gets when its parent dies


@dataclass(frozen=True)
class ArmRun:
    """One arm of one seed, in its folder under the output directory."""

    seed: SeedSpec
    arm: str
    folder: Path

    @property
    def run_dir(self) -> Path:
        return self.folder / "run"

    @property
    def schedule_path(self) -> Path:
        return self.folder / "schedule.json"

    @property
    def metrics_path(self) -> Path:
        return self.folder / "metrics.parquet"

    @property
    def done(self) -> bool:
        return self.metrics_path.is_file()

    @property
    def name(self) -> str:
        """``seed<S>/<arm>``: the folder under the output directory, as ``validate --only`` takes it."""
        return f"seed{self.seed.seed}/{self.arm}"


Executor = Callable[[ExperimentSpec, Path, list[ArmRun], bool], None]


def run_experiment(
    spec: ExperimentSpec,
    out: str | Path,
    arms: tuple[str, ...] | None = None,
    workers: int = 1,
    show_progress: bool = True,
    executor: Executor | None = None,
    seeds: tuple[int, ...] | None = None,
) -> dict | None:
    """Run (or resume) ``arms`` (default: the spec's; the baseline is always included) of ``seeds`` (default:
    the spec's) into ``out``; write the report and return ``summary.json``'s content. ``executor``
    dispatches the pending arm-runs (default: :func:`execute` with ``workers`` processes); when it leaves
    some unfinished (Slurm jobs not run yet), they are listed and no report is written (None): a rerun
    collects them."""
    from mda_curate.validation.report import write_report

    if workers < 1:
        raise FieldError("workers", f"must be at least 1 (got {workers})")
    out = Path(out)
    save_spec(spec, out)
    arms = tuple(a for a in ARMS if a == "baseline" or a in (arms or spec.arms.run))
    runs = plan(spec, out, arms, show_progress, seeds)
    pending = [run for run in runs if not run.done]
    if len(pending) < len(runs):
        console.print(f"{len(runs) - len(pending)} of {len(runs)} arm-runs already done; skipping them")
    if executor is None:
        execute(spec, pending, workers, show_progress)
    else:
        executor(spec, out, pending, show_progress)
    unfinished = [run.name for run in pending if not run.done]
    if unfinished:
        console.print(
            f"{len(unfinished)} of {len(runs)} arm-runs not finished yet: {', '.join(unfinished)}; "
            "rerun this command once they are, to collect them and write the report"
        )
        return None
    everything = sorted(
        runs + finished_elsewhere(spec, out, runs), key=lambda r: (spec.seeds.index(r.seed), ARMS.index(r.arm))
    )
    return write_report(spec, out, everything)


def finished_elsewhere(spec: ExperimentSpec, out: Path, runs: list[ArmRun]) -> list[ArmRun]:
    """Finished arm-runs of the spec not run now (an earlier ``--arms`` or ``--seeds``): the report covers them."""
    now = {run.name for run in runs}
    every = [ArmRun(seed, arm, out / f"seed{seed.seed}" / arm) for seed in spec.seeds for arm in ARMS]
    return [run for run in every if run.name not in now and run.done]


def save_spec(spec: ExperimentSpec, out: Path) -> None:
    """Write ``spec.toml`` and ``spec.json``; refuse a folder holding another experiment. Seeds the spec has
    left out keep their saved settings, so that they are checked again if they come back."""
    check_same_experiment(spec, out)
    resolved = spec.to_dict()
    if (out / "spec.json").is_file():
        present = {seed["seed"] for seed in resolved["seeds"]}
        saved = json.loads((out / "spec.json").read_text())["seeds"]
        resolved["seeds"] += [seed for seed in saved if seed["seed"] not in present]
    out.mkdir(parents=True, exist_ok=True)
    partial = out / "spec.json.partial"
    partial.write_text(json.dumps(resolved, indent=2) + "\n")
    partial.replace(out / "spec.json")  # atomic: a Slurm job of this experiment may be reading it
    shutil.copyfile(spec.source, out / "spec.toml")


def check_same_experiment(spec: ExperimentSpec, out: Path) -> bool:
    """Refuse a folder whose ``spec.json`` holds another experiment; returns whether it holds one."""
    saved_path = out / "spec.json"
    if not saved_path.is_file():
        return False
    saved, current = json.loads(saved_path.read_text()), spec.to_dict()
    common = {seed["seed"] for seed in saved["seeds"]} & {seed["seed"] for seed in current["seeds"]}
    changed = first_difference(_comparable(saved, common), _comparable(current, common))
    if changed:
        raise UserError(f"{out}: holds an experiment with another spec (changed {changed}); use another output folder")
    return True


def _comparable(resolved: dict, seeds: set[int]) -> dict:
    """A resolved spec without what may change between reruns of one experiment (the arm list, the spec's
    path, seeds added or left out: only ``seeds`` are compared); arm and seed settings added since it was
    saved take their defaults."""
    arm_defaults = {f.name: f.default for f in fields(ArmSettings)}
    seed_defaults = {f.name: f.default for f in fields(SeedSpec) if f.default is not MISSING}
    return {
        **resolved,
        "arms": {**arm_defaults, **resolved["arms"], "run": None},
        "source": None,
        "seeds": {
            f"seed{seed['seed']}": {**seed_defaults, **seed} for seed in resolved["seeds"] if seed["seed"] in seeds
        },
    }


def plan(
    spec: ExperimentSpec,
    out: Path,
    arms: tuple[str, ...],
    show_progress: bool = True,
    seeds: tuple[int, ...] | None = None,
) -> list[ArmRun]:
    """Check (or train) the base run of each of ``seeds`` (default: the spec's), check (or compute) its
    influence scores, and write every arm's schedule; returns the arm-runs in seed, arm order."""
    from mda_curate.models import load_tokenizer
    from mda_curate.training.data import DataOrder
    from mda_curate.validation.arms import UPSAMPLING, arm_schedules

    tokenizer = load_tokenizer(str(spec.tokenizer))
    runs = []
    for i, seed in enumerate(spec.seeds):
        if seeds is not None and seed.seed not in seeds:
            continue
        prepare_base_run(spec, seed, f"seeds[{i}]", tokenizer, show_progress)
        if set(arms) & set(TARGETED):
            ensure_scores(spec, seed, f"seeds[{i}]")
        order = DataOrder.load(seed.run) if set(arms) & set(UPSAMPLING) else None
        curation = out / f"seed{seed.seed}" / "curation"
        for arm, schedule in arm_schedules(spec, seed, arms, order, tokenizer, curation).items():
            runs.append(write_schedule(ArmRun(seed, arm, out / f"seed{seed.seed}" / arm), schedule, spec))
    return runs


def prepare_base_run(spec: ExperimentSpec, seed: SeedSpec, name: str, tokenizer, show_progress: bool = True) -> None:
    """Check the base run was trained with the spec's recipe and data; rebuild its data order when it was
    copied with its checkpoints only (as the committed runs are); train it up to the window start when it has
    no checkpoint (with optimizer state) there, and on to ``influence_step`` when that is later."""
    from mda_curate.training.trainer import Trainer

    if (seed.run / "config.json").is_file():
        check_base_run(spec, seed, name)
    if _checkpoint_steps(seed.run) and not (seed.run / "order.npy").is_file():
        console.print(f"seed {seed.seed}: rebuilding the data order of {seed.run} (a run copied without it)")
        Trainer(spec.config(seed), seed.run, tokenizer, list(spec.data), resume=True)
    for step, field, weights_only in (
        (seed.window[0], "window", False),
        (seed.attributed_step, "influence_step", True),
    ):
        if step in _checkpoint_steps(seed.run, weights=weights_only):
            continue
        trained = _checkpoint_steps(seed.run)
        if trained and max(trained) > step:
            raise UserError(f"{name}.{field}: {seed.run} has no checkpoint at step {step} (it has {sorted(trained)})")
        console.print(f"seed {seed.seed}: training the base run {seed.run} up to step {step}")
        trainer = Trainer(spec.config(seed), seed.run, tokenizer, list(spec.data), resume=bool(trained))
        trainer.train(show_progress=show_progress, until=step)


def check_base_run(spec: ExperimentSpec, seed: SeedSpec, name: str) -> None:
    """The base run must be a plain run of the spec's recipe (with this seed), data and tokenizer: no schedule
    (it may start from a checkpoint, ``init_from``, as the quick demo's run does; its arms branch from its own)."""
    from mda_curate.training.config import TrainConfig
    from mda_curate.training.schedule import Schedule
    from mda_curate.training.trainer import run_content

    saved = json.loads((seed.run / "config.json").read_text())
    differences = TrainConfig.from_dict(saved["train"]).differences(spec.config(seed))
    if differences:
        raise UserError(f"{name}.run: {seed.run} was trained with another config than the spec's ({differences[0]})")
    if "content" in saved:  # by content, so that a base run committed in another checkout is accepted
        content = run_content(list(spec.data), spec.tokenizer, Schedule())
        if change := content_change(saved["content"], content):
            raise UserError(f"{name}.run: {seed.run} was trained on other content than the spec's (changed: {change})")
    elif [Path(p).resolve() for p in saved["data"]] != [p.resolve() for p in spec.data]:  # older runs: paths only
        raise UserError(f"{name}.run: {seed.run} was trained on {saved['data']}, not the spec's data")
    elif Path(saved["tokenizer"]).resolve() != spec.tokenizer.resolve():
        raise UserError(
            f"{name}.run: {seed.run} was trained with the tokenizer {saved['tokenizer']}, not {spec.tokenizer}"
        )
    if any(saved["schedule"].values()):
        raise UserError(f"{name}.run: {seed.run} is itself an arm (it has a schedule), not a base run")


def ensure_scores(spec: ExperimentSpec, seed: SeedSpec, name: str) -> None:
    """With ``[influence] compute = true``, compute a missing scores file: the ``mda-curate influence`` of
    :func:`~mda_curate.validation.arms.influence_argv` with the spec's ``args``, run in this process."""
    from mda_curate.influence.request import compute_influence, parse_request
    from mda_curate.validation.arms import influence_argv

    if seed.scores is None or seed.scores.is_file() or not spec.influence.compute:
        return  # the targeted arms' own checks explain what is missing
    argv = [*influence_argv(seed), *spec.influence.args]
    if "--device" not in spec.influence.args:
        argv += ["--device", spec.train.device]
    try:
        request = parse_request(argv[2:])
    except UserError as err:
        raise UserError(f"{spec.source}: influence.args: {err}") from None
    console.print(f"seed {seed.seed}: computing influence scores: {shlex.join(argv)}")
    seed.scores.parent.mkdir(parents=True, exist_ok=True)
    try:
        compute_influence(request)
    except UserError as err:
        raise UserError(f"{name}.scores: computing {seed.scores} failed: {err}") from None


def write_schedule(run: ArmRun, schedule: dict, spec: ExperimentSpec) -> ArmRun:
    """Write the arm's schedule, validated; an existing, different one means the inputs changed."""
    from mda_curate.training.schedule import Schedule

    config = spec.arm_config(run.seed)
    validated = Schedule.from_dict(schedule, config.steps, config.batch_size, source=f"{run.arm} schedule").to_dict()
    text = json.dumps(validated, indent=1) + "\n"
    if run.schedule_path.is_file():
        if run.schedule_path.read_text() == text:
            return run  # left as it is: an arm-run's Slurm job may be reading it
        raise UserError(
            f"{run.schedule_path}: differs from the schedule computed now (the influence scores, classifier or "
            f"synthetic file changed); remove {run.folder} to rerun this arm"
        )
    run.folder.mkdir(parents=True, exist_ok=True)
    run.schedule_path.write_text(text)
    return run


def execute(spec: ExperimentSpec, runs: list[ArmRun], workers: int, show_progress: bool = True) -> None:
    """Train and score ``runs``, ``workers`` at a time in separate processes (in this one for 1)."""
    if not runs:
        return
    threads = worker_threads(spec, workers)
    with progress(disable=not show_progress) as bar:
        task = bar.add_task("arm-runs", total=len(runs))
        if workers == 1:
            for run in runs:
                report_finished(run, train_and_score(spec, run, threads), bar, task)
            return
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed

        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(min(workers, len(runs)), context, _start_worker, (threads,)) as pool:
            futures = {pool.submit(train_and_score, spec, run, threads): run for run in runs}
            for future in as_completed(futures):
                report_finished(futures[future], future.result(), bar, task)


def worker_threads(spec: ExperimentSpec, workers: int) -> int:
    """Threads per arm-run: the spec's ``threads``, else this machine's cores shared by ``workers``."""
    return spec.train.threads or max(1, (os.cpu_count() or 1) // workers)


def run_one(spec: ExperimentSpec, out: str | Path, only: str) -> None:
    """Train and score the arm-run ``only`` (``seed<S>/<arm>``) of the experiment planned in ``out``, alone
    (a Slurm job's command); an arm-run already done is left as it is. Threads: the spec's, else the
    cores this process may use."""
    out = Path(out)
    if not check_same_experiment(spec, out):
        raise UserError(f"{out}: holds no experiment (no spec.json); run the whole experiment first to plan it")
    run = _named_run(spec, out, only)
    if run.done:
        console.print(f"{only}: already done ({run.metrics_path})")
        return
    if not run.schedule_path.is_file():
        raise UserError(f"{run.schedule_path}: missing; run the whole experiment first to plan {only}")
    threads = spec.train.threads or _usable_cores()
    limit_threads(threads)
    report_finished(run, train_and_score(spec, run, threads))


def _usable_cores() -> int:
    """The cores this process may run on (a Slurm job's allocation), where the platform says so."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _named_run(spec: ExperimentSpec, out: Path, name: str) -> ArmRun:
    seed_part, _, arm = name.partition("/")
    seeds = {f"seed{seed.seed}": seed for seed in spec.seeds}
    if seed_part not in seeds or arm not in ARMS:
        expected = f"an arm-run of the spec, seed<S>/<arm> with seeds {', '.join(seeds)}"
        raise FieldError("only", f"must be {expected} (got {name!r})")
    return ArmRun(seeds[seed_part], arm, out / name)


def train_and_score(spec: ExperimentSpec, run: ArmRun, threads: int) -> float:
    """Train (or resume) one arm-run to its ``until`` step, score every checkpoint, write ``metrics.parquet``;
    returns the seconds it took."""
    from transformers.utils import logging as transformers_logging

    from mda_curate.models import load_tokenizer

    started = time.perf_counter()
    transformers_logging.disable_progress_bar()
    tokenizer = load_tokenizer(str(spec.tokenizer))
    config = replace(spec.arm_config(run.seed), threads=threads)
    margin = spec.arms.stop_after_formation
    train_arm(config, run, tokenizer, None if margin is None else formation_stop(margin, spec.metrics))
    rows = score_arm_run(spec, run, tokenizer, config)
    _write_parquet(rows, run.metrics_path)
    _prune_optimizer_states(run.run_dir)
    return time.perf_counter() - started


def train_arm(config, run: ArmRun, tokenizer, stop: Callable[[Path], bool] | None = None) -> None:
    """Branch from the base run's window-start checkpoint (or resume the arm's last checkpoint) and train
    to ``until``, or to the first checkpoint where ``stop`` holds (a resumed run replays its checkpoints
    through ``stop`` first). A run folder killed before its first checkpoint is started again."""
    from mda_curate.training.schedule import Schedule
    from mda_curate.training.trainer import Trainer

    resume = bool(_checkpoint_steps(run.run_dir))
    if not resume and run.run_dir.exists():
        shutil.rmtree(run.run_dir)
    if (
        resume
        and stop is not None
        and any(stop(run.run_dir / f"step_{s}") for s in sorted(_checkpoint_steps(run.run_dir, weights=True)))
    ):
        return
    schedule = Schedule.load(run.schedule_path, config.steps, config.batch_size)
    init_from = run.seed.run / f"step_{run.seed.window[0]}"
    trainer = Trainer(config, run.run_dir, tokenizer, base_run_data(run.seed.run), schedule, init_from, resume)
    if trainer.step < run.seed.until:
        trainer.train(show_progress=False, until=run.seed.until, stop=stop)


def formation_stop(margin: int, metrics: MetricSettings) -> Callable[[Path], bool]:
    """A ``stop`` for :func:`train_arm`: true at the first checkpoint ``margin`` steps or more after the
    first checkpoint where both formation criteria hold (``units.formation.has_formed``, on the probe the
    metrics use)."""
    from mda_curate.units.formation import has_formed
    from mda_curate.units.sequences import ProbeSettings

    probe = ProbeSettings(metrics.probe_sequences, metrics.probe_lengths)
    formed_at: list[int] = []

    def stop(checkpoint: Path) -> bool:
        step = int(checkpoint.name.removeprefix("step_"))
        if not formed_at and has_formed(checkpoint, probe):
            formed_at.append(step)
        return bool(formed_at) and step >= formed_at[0] + margin

    return stop


def base_run_data(run_dir: Path) -> list[Path]:
    """The base run's data as the arms open it: its tokenized folders, then its own ``tokenized/`` copy
    of its document files (so that arms do not tokenize the corpus again; the order is checked equal)."""
    from mda_curate.data.tokenized import is_tokenized

    data = json.loads((run_dir / "config.json").read_text())["data"]
    folders = [Path(p) for p in data if is_tokenized(p)]
    return folders + ([run_dir / "tokenized"] if len(folders) < len(data) else [])


def score_arm_run(spec: ExperimentSpec, run: ArmRun, tokenizer, config) -> list[dict]:
    """Metrics of the branch checkpoint and of every arm checkpoint up to ``until``, one row per head."""
    from mda_curate.validation.metrics import checkpoint_metrics, prepare_probes

    start = run.seed.window[0]
    checkpoints = {start: run.seed.run / f"step_{start}"}
    checkpoints.update(
        {
            s: run.run_dir / f"step_{s}"
            for s in _checkpoint_steps(run.run_dir, weights=True)
            if start < s <= run.seed.until
        }
    )
    probes = prepare_probes(tokenizer, spec.metrics, config.ctx)
    return [
        {"arm": run.arm, "seed": run.seed.seed, "step": step, **row}
        for step, path in sorted(checkpoints.items())
        for row in checkpoint_metrics(path, tokenizer, probes, config.device)
    ]


def _checkpoint_steps(run_dir: Path, weights: bool = False) -> set[int]:
    """Steps of the ``step_<N>`` checkpoints with optimizer state (``weights``: with a saved model)."""
    required = "config.json" if weights else STATE_FILE
    return {int(p.name[5:]) for p in run_dir.glob("step_*") if p.name[5:].isdigit() and (p / required).is_file()}


def _prune_optimizer_states(run_dir: Path) -> None:
    steps = sorted(_checkpoint_steps(run_dir))
    for step in steps[:-1]:
        (run_dir / f"step_{step}" / STATE_FILE).unlink()


def _write_parquet(rows: list[dict], path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    partial = path.with_name(path.name + ".partial")
    pq.write_table(pa.Table.from_pylist(rows), partial)
    partial.replace(path)  # atomic: a killed harness never leaves a torn "done" marker


def _start_worker(threads: int) -> None:
    """Limit a worker's threads, and on Linux end it with the harness, so that a killed harness leaves no
    worker training on (a rerun would then train the same arm-run twice)."""
    if sys.platform == "linux":
        import ctypes
        import signal

        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    limit_threads(threads)


def limit_threads(threads: int) -> None:
    """Set this process's (and its numerical libraries') thread count."""
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[name] = str(threads)
    import torch

    torch.set_num_threads(threads)


def report_finished(run: ArmRun, seconds: float, bar=None, task=None) -> None:
    """Print that ``run`` is trained and scored, and advance ``bar``'s ``task``."""
    last = max(_checkpoint_steps(run.run_dir, weights=True))
    console.print(f"seed {run.seed.seed} {run.arm}: trained to step {last} and scored ({seconds:.0f} s)")
    if bar is not None:
        bar.advance(task)
