"""Run a :class:`~mda_curate.pipelines.recipes.Plan` on datatrove's executors and account for every line.

``local``, ``ray`` and ``slurm`` map to datatrove's ``LocalPipelineExecutor``, ``RayPipelineExecutor``
(connects with ``ray.init()``: ``RAY_ADDRESS`` or a local instance) and ``SlurmPipelineExecutor``
(passes chained with ``depends=``; the command returns once the jobs are queued, and running it again
after they finish writes ``stats.json``). The one-task reduce pass runs in-process except on slurm.
Completed ranks (datatrove completions) are skipped on a re-run, which must use the same plan over the
same content (``logs/plan.json`` records the options and the fingerprints of the inputs and the
classifier). A rerun with other options or content is refused once a main-pass rank has finished; before
that, the unfinished run is discarded and the new one starts afresh. Processes forked here (datatrove's
multiprocessing manager) end with this one, even when it is killed. datatrove's own log lines go to
``logs/<pass>/logs/`` rather than the terminal (:mod:`mda_curate.pipelines.logs`).

The accounting (``stats.json``) sums the main pass's per-rank stats over all ranks, including ranks
completed by an earlier run: ``lines_read`` and ``rejected`` from the reader, ``dropped`` and
``upsampled`` from the steps, ``written`` from the writer, and ``kept = written - upsampled``, which
must satisfy ``kept + dropped + rejected == lines_read``.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import sys
import threading
from collections import Counter
from dataclasses import dataclass, field

from mda_curate.errors import UserError
from mda_curate.fingerprint import first_difference
from mda_curate.pipelines.recipes import MAIN, REDUCE, Pass, Plan
from mda_curate.pipelines.steps import read_reduced

RANK_OUTPUT = re.compile(r"(excluded/(rejected|dropped)_)?\d{5}\.(jsonl(\.gz|\.zst)?|parquet)")
PR_SET_PDEATHSIG = 1  # linux prctl option: the signal a process gets when its parent ends


@dataclass(frozen=True)
class Launch:
    """How to run: ``executor`` (local, ray, slurm), concurrent ``workers`` (default: one per CPU, at most
    one per task) and, for slurm, SlurmPipelineExecutor arguments (``partition`` and ``time`` at least)."""

    executor: str = "local"
    workers: int | None = None
    slurm: dict = field(default_factory=dict)
    show_progress: bool = True


def run_plan(plan: Plan, launch: Launch = Launch()) -> dict | None:
    """Run every pass and write ``stats.json``; ``None`` while slurm jobs are still to finish."""
    _check_same_plan(plan)
    if launch.executor == "slurm":
        return _run_slurm(plan, launch)
    if launch.executor == "ray":
        _init_ray()
    end_children_with_this_process()
    from mda_curate.pipelines.logs import executor_log

    for pass_ in plan.passes:
        executor = _executor(plan, pass_, launch)
        with _progress(plan, pass_, executor, launch.show_progress), executor_log(executor.logging_dir):
            executor.run()
        if incomplete := executor.get_incomplete_ranks(skip_completed=True):
            logs = f"{executor.logging_dir.path}/logs"
            raise UserError(f"{plan.pipeline} {pass_.name} pass: ranks {incomplete} failed; see {logs}")
        if pass_.name == REDUCE:
            read_reduced(plan.layout.reduced)  # a UserError when the reduce refused the data
    return write_summary(plan)


def print_summary(pipeline: str, output: str, summary: dict | None) -> None:
    """The accounting of a run into ``output`` (``run_plan``'s summary) as a table; None: slurm jobs queued."""
    from mda_curate.console import console, table

    if summary is None:
        console.print(f"slurm jobs queued; when they finish, run the same command again to write {output}/stats.json")
        return
    rows = [[name.replace("_", " "), summary[name]] for name in ("lines_read", "kept", "dropped", "rejected")]
    rows += [[f"  dropped: {reason}", n] for reason, n in summary["dropped_by_reason"].items()]
    rows += [[f"  rejected: {reason}", n] for reason, n in summary["rejected_by_reason"].items()]
    rows += [["upsampled copies", summary["upsampled"]], ["documents written", summary["written"]]]
    console.print(table(f"curate {pipeline} -> {output}", ["", "count"], rows))
    console.print(f"kept + dropped + rejected = lines read; details in {output}/stats.json")


@functools.cache  # once per process
def end_children_with_this_process() -> None:
    """Have every process forked from here (datatrove's multiprocessing manager, pool workers) get SIGKILL
    when this process ends, so that a killed run leaves nothing behind (Linux; elsewhere a no-op)."""
    if sys.platform.startswith("linux"):
        import multiprocess.util

        parent = functools.partial(_die_with_parent, os.getpid())
        multiprocess.util.register_after_fork(end_children_with_this_process, parent)


def _die_with_parent(parent: int, _) -> None:
    import ctypes
    import signal

    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent was killed before the line above
        os._exit(1)


def _executor(plan: Plan, pass_: Pass, launch: Launch, depends=None):
    logging_dir = plan.layout.logs(pass_.name)
    if pass_.name == REDUCE and launch.executor != "slurm":
        from mda_curate.pipelines.logs import LocalExecutor

        return LocalExecutor(pass_.pipeline, tasks=1, workers=1, logging_dir=logging_dir)
    workers = launch.workers or min(pass_.tasks, os.cpu_count() or 1)
    if launch.executor == "local":
        from mda_curate.pipelines.logs import LocalExecutor

        return LocalExecutor(pass_.pipeline, tasks=pass_.tasks, workers=workers, logging_dir=logging_dir)
    if launch.executor == "ray":
        from mda_curate.pipelines.logs import RayExecutor

        return RayExecutor(pass_.pipeline, tasks=pass_.tasks, workers=workers, logging_dir=logging_dir)
    from datatrove.executor import SlurmPipelineExecutor

    return SlurmPipelineExecutor(
        pass_.pipeline,
        tasks=pass_.tasks,
        workers=launch.workers or -1,
        logging_dir=logging_dir,
        depends=depends,
        job_name=f"mda-{plan.pipeline}-{pass_.name}",
        **launch.slurm,
    )


def _run_slurm(plan: Plan, launch: Launch) -> dict | None:
    executors = []
    for pass_ in plan.passes:
        executors.append(_executor(plan, pass_, launch, depends=executors[-1] if executors else None))
    from mda_curate.pipelines.logs import executor_log

    with executor_log(executors[-1].logging_dir):
        executors[-1].run()
    if any(executor.get_incomplete_ranks(skip_completed=True) for executor in executors):
        return None
    return write_summary(plan)


def _init_ray() -> None:
    try:
        import ray
    except ImportError:
        raise UserError("the ray executor needs the [ray] extra: pip install 'mda-curate[ray]'") from None
    if not ray.is_initialized():
        ray.init()


@contextlib.contextmanager
def _progress(plan: Plan, pass_: Pass, executor, show: bool):
    """A rich bar of completed ranks, polled from the pass's completions folder."""
    if not show:
        yield
        return
    from mda_curate.console import progress

    def completed() -> int:
        return pass_.tasks - len(executor.get_incomplete_ranks(skip_completed=True))

    stop = threading.Event()
    with progress() as bar:
        task = bar.add_task(f"{plan.pipeline}: {pass_.name} pass (ranks)", total=pass_.tasks, completed=completed())

        def poll() -> None:
            while not stop.wait(0.5):
                bar.update(task, completed=completed())

        thread = threading.Thread(target=poll, daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()
            bar.update(task, completed=completed())


def _check_same_plan(plan: Plan) -> None:
    """A re-run into the same output must use the same pipeline, settings, task count and content; an
    unfinished run of another plan is discarded (see the module docstring)."""
    from datatrove.io import get_datafolder

    from mda_curate.console import console

    layout = {"format": plan.layout.fmt, "compression": plan.layout.compression}
    record = {"pipeline": plan.pipeline, "tasks": plan.tasks, "settings": plan.settings, "output": layout}
    record = json.loads(json.dumps({**record, "content": plan.content}))  # tuples -> lists, as read back
    folder = get_datafolder(plan.layout.logs(""))
    if folder.isfile("plan.json"):
        with folder.open("plan.json", "rt") as handle:
            previous = json.load(handle)
        if previous == record:
            return
        output, change = plan.layout.output, first_difference(previous, record)
        if _has_finished_ranks(plan):
            raise UserError(
                f"{output} holds a finished run with other options or content (changed: {change}); write to a new "
                f"output folder, or delete {output} to start afresh"
            )
        console.print(f"{output}: discarding an unfinished run with other options or content (changed: {change})")
        _discard_run(plan)
    with folder.open("plan.json", "wt") as handle:
        json.dump(record, handle, indent=2)


def _has_finished_ranks(plan: Plan) -> bool:
    from datatrove.io import get_datafolder

    main = get_datafolder(plan.layout.logs(MAIN))
    return get_datafolder(plan.layout.output).isfile("stats.json") or (
        main.isdir("completions") and bool(main.ls("completions", detail=False))
    )


def _discard_run(plan: Plan) -> None:
    """Remove the logs (completions of every pass) and the rank outputs of an unfinished run."""
    from datatrove.io import get_datafolder

    folder = get_datafolder(plan.layout.output)
    folder.rm("logs", recursive=True)
    for path in folder.find("", maxdepth=2):
        if RANK_OUTPUT.fullmatch(path):
            folder.rm(path)


def write_summary(plan: Plan) -> dict:
    """Sum the main pass's stats over all ranks into the accounting and write ``output/stats.json``."""
    from datatrove.io import get_datafolder

    steps = _merged_step_stats(plan.layout.logs(MAIN), plan.tasks)
    reader, middle, writer = steps[0], steps[1:-1], steps[-1]
    summary = {
        "pipeline": plan.pipeline,
        "tasks": plan.tasks,
        "settings": plan.settings,
        "lines_read": reader["lines_read"],
        "kept": writer["total"] - sum(step["upsampled"] for step in middle),
        "dropped": sum(step["dropped"] for step in middle),
        "rejected": reader["rejected"],
        "upsampled": sum(step["upsampled"] for step in middle),
        "written": writer["total"],
        "rejected_by_reason": _by_reason(reader, "rejected_"),
        "dropped_by_reason": _by_reason(sum(middle, Counter()), "dropped_"),
    }
    if len(plan.passes) > 1:
        with get_datafolder(plan.layout.logs(REDUCE)).open("result.json", "rt") as handle:
            summary["reduced"] = json.load(handle)
    if summary["kept"] + summary["dropped"] + summary["rejected"] != summary["lines_read"]:
        raise RuntimeError(f"accounting does not add up (a bug): {summary}")
    with get_datafolder(plan.layout.output).open("stats.json", "wt") as handle:
        json.dump(summary, handle, indent=2)
    return summary


def _merged_step_stats(logging_dir: str, tasks: int) -> list[Counter]:
    """Per pipeline step, the totals of its stats summed over ranks ``0..tasks-1``."""
    from datatrove.io import get_datafolder

    folder = get_datafolder(logging_dir)
    merged: list[Counter] = []
    for rank in range(tasks):
        with folder.open(f"stats/{rank:05d}.json", "rt") as handle:
            steps = json.load(handle)
        merged = merged or [Counter() for _ in steps]
        for total, step in zip(merged, steps):
            total.update({name: _total(value) for name, value in step["stats"].items()})
    return merged


def _total(value) -> int:
    return int(value["total"] if isinstance(value, dict) else value)


def _by_reason(stats: Counter, prefix: str) -> dict[str, int]:
    return {name[len(prefix) :]: count for name, count in sorted(stats.items()) if name.startswith(prefix)}
