"""Dispatch a validation experiment's arm-runs through Ray or Slurm instead of the local process pool.

Each is an ``executor`` for :func:`mda_curate.validation.runner.run_experiment`: the harness plans the
experiment (base runs, scores, schedules) and skips finished arm-runs as with the local pool; the executor
trains and scores the pending ones with :func:`~mda_curate.validation.runner.train_and_score`, writing the
same files. Both need the output folder, the spec's data and the base runs on a file system every worker
sees, and ``mda_curate`` importable there; an arm-run trains on the spec's ``train.device`` (``cuda``: one
GPU per arm-run).

- :class:`RayExecutor`: one Ray task per arm-run, on the cluster at ``address`` (or ``RAY_ADDRESS``), else
  on a local cluster of ``workers`` task slots.
- :class:`SlurmExecutor`: one job script per arm-run in ``OUT/slurm/``, running ``mda-curate validate SPEC
  --out OUT --only seed<S>/<arm>``; submitted with ``sbatch`` when ``submit`` is set. Rerunning the harness
  after the jobs collects their results (and lists the arm-runs still missing).
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from mda_curate.console import console, progress
from mda_curate.errors import UserError
from mda_curate.validation.runner import ArmRun, limit_threads, report_finished, train_and_score, worker_threads
from mda_curate.validation.spec import ExperimentSpec


def _gpus(spec: ExperimentSpec) -> int:
    """GPUs an arm-run asks for: one when the spec trains on CUDA."""
    return 1 if spec.train.device.startswith("cuda") else 0


def _arm_run_task(spec: ExperimentSpec, run: ArmRun, threads: int) -> float:
    """A Ray task's body: one arm-run at ``threads`` threads; returns its seconds."""
    limit_threads(threads)
    return train_and_score(spec, run, threads)


@dataclass(frozen=True)
class RayExecutor:
    """One Ray task per arm-run, each asking for its threads as CPUs (and one GPU for ``cuda``)."""

    workers: int = 1
    address: str | None = None

    def __call__(self, spec: ExperimentSpec, out: Path, runs: list[ArmRun], show_progress: bool = True) -> None:
        if not runs:
            return
        import ray

        threads = worker_threads(spec, self.workers)
        started = self._connect(ray, threads)
        try:
            remote = ray.remote(num_cpus=threads, num_gpus=_gpus(spec))(_arm_run_task)
            pending = {remote.remote(spec, run, threads): run for run in runs}
            with progress(disable=not show_progress) as bar:
                task = bar.add_task("arm-runs (ray)", total=len(runs))
                while pending:
                    [ref], _ = ray.wait(list(pending))
                    report_finished(pending.pop(ref), ray.get(ref), bar, task)
        finally:
            if started:
                ray.shutdown()

    def _connect(self, ray, threads: int) -> bool:
        """Join ``address`` (or ``RAY_ADDRESS``), else start a local cluster with ``workers`` task slots;
        returns whether this call started Ray (an already initialised Ray is used as it is)."""
        if ray.is_initialized():
            return False
        address = self.address or os.environ.get("RAY_ADDRESS")
        if address:
            console.print(f"ray: joining the cluster at {address}")
            ray.init(address=address, logging_level="warning")
        else:
            ray.init(num_cpus=self.workers * threads, include_dashboard=False, logging_level="warning")
        return True


@dataclass(frozen=True)
class SlurmExecutor:
    """One sbatch job script per arm-run in ``OUT/slurm/``; with ``submit``, each is submitted with sbatch
    (an arm-run whose earlier job is still queued or running is not submitted again)."""

    submit: bool = False
    sbatch_options: tuple[str, ...] = ()

    def __call__(self, spec: ExperimentSpec, out: Path, runs: list[ArmRun], show_progress: bool = True) -> None:
        if not runs:
            return
        scripts = [write_job_script(spec, out, run, self.sbatch_options) for run in runs]
        if not self.submit:
            console.print(
                f"wrote {len(scripts)} Slurm job scripts to {out / 'slurm'}; submit them with\n"
                f'  for job in {shlex.quote(str(out / "slurm"))}/*.sh; do sbatch "$job"; done\n'
                "(or rerun with --slurm-submit)"
            )
            return
        for script in scripts:
            submit_job(script)


def job_script(spec: ExperimentSpec, out: Path, run: ArmRun, sbatch_options: tuple[str, ...] = ()) -> str:
    """The sbatch script that trains and scores ``run`` alone, logging to ``OUT/slurm/<seed>_<arm>.log``."""
    out = out.resolve()
    stem = _stem(run)
    options = [
        f"--job-name={spec.name.replace(' ', '_')}-{stem}",
        f"--output={out / 'slurm' / stem}.log",
        "--ntasks=1",
    ]
    if spec.train.threads:
        options.append(f"--cpus-per-task={spec.train.threads}")
    if _gpus(spec):
        options.append(f"--gres=gpu:{_gpus(spec)}")
    command = [
        sys.executable,
        "-m",
        "mda_curate.cli",
        "validate",
        str(spec.source),
        "--out",
        str(out),
        "--only",
        run.name,
    ]
    lines = [
        "#!/bin/bash",
        *(f"#SBATCH {option}" for option in [*options, *sbatch_options]),
        "set -euo pipefail",
        f"cd {shlex.quote(os.getcwd())}",
        f"exec {shlex.join(command)}",
    ]
    return "\n".join(lines) + "\n"


def write_job_script(spec: ExperimentSpec, out: Path, run: ArmRun, sbatch_options: tuple[str, ...] = ()) -> Path:
    path = out / "slurm" / f"{_stem(run)}.sh"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(job_script(spec, out, run, sbatch_options))
    return path


def _stem(run: ArmRun) -> str:
    """``seed<S>_<arm>``: the file names of the arm-run's job script, log and job id."""
    return run.name.replace("/", "_")


def submit_job(script: Path) -> str | None:
    """``sbatch`` the script unless its last job (``<script>.jobid``) is still queued or running; returns
    the new job id (None: not submitted)."""
    job_file = script.with_suffix(".jobid")
    earlier = job_file.read_text().strip() if job_file.is_file() else None
    if earlier and _queued(earlier):
        console.print(f"{script.name}: job {earlier} still queued or running; not submitted again")
        return None
    if shutil.which("sbatch") is None:
        raise UserError("--slurm-submit: sbatch is not on PATH (submit the scripts where Slurm is, or drop the flag)")
    done = subprocess.run(["sbatch", "--parsable", str(script)], capture_output=True, text=True)
    if done.returncode != 0:
        raise UserError(f"{script}: sbatch failed: {done.stderr.strip() or done.stdout.strip()}")
    job = done.stdout.strip().split(";")[0]
    job_file.write_text(job + "\n")
    console.print(f"{script.name}: submitted as job {job}")
    return job


def _queued(job: str) -> bool:
    """Whether Slurm still lists ``job`` (pending or running)."""
    if shutil.which("squeue") is None:
        return False
    listed = subprocess.run(["squeue", "--noheader", "--jobs", job, "--format=%T"], capture_output=True, text=True)
    return listed.returncode == 0 and bool(listed.stdout.strip())
