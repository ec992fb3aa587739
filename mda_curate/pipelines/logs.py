"""datatrove's own log lines go to the run's log files, not to the terminal.

datatrove logs with loguru: each task's launch, its pipeline, its steps' stats and any error to
``<logging_dir>/logs/task_<rank>.log`` and, at the same time, to stderr, where they would interleave with
mda-curate's progress bars and tables; its executors log the tasks skipped, completed and their merged
stats to stderr only. Here a task logs to its file only (:class:`LocalExecutor`, :class:`RayExecutor`:
datatrove's executors with that one change), and :func:`executor_log` sends the executor's own lines to
``<logging_dir>/logs/executor.log`` while it runs. Slurm jobs are left as they are: their stderr is
already a file.
"""

from __future__ import annotations

import contextlib

import datatrove.executor.base
import datatrove.executor.ray
from datatrove.executor import LocalPipelineExecutor
from datatrove.executor.ray import RayPipelineExecutor
from datatrove.utils.logging import setup_default_logger
from loguru import logger

# datatrove's task log format (datatrove.utils.logging.add_task_logger), so the files read as before
FORMAT = "{time:YYYY-MM-DD HH:mm:ss.SSS} | {level: <8} | {name}:{function}:{line} - {message}"


def task_logger(logging_dir, rank: int, local_rank: int = 0, node_rank: int = -1):
    """datatrove's ``add_task_logger`` without the stderr sink: the task's lines go to its file only."""
    logger.remove()
    logfile = logging_dir.open(f"logs/task_{rank:05d}.log", "w")
    prefix = f"[NODE {node_rank}] " if node_rank != -1 else ""
    logger.add(logfile, colorize=False, level="DEBUG", format=prefix + FORMAT)
    logger.info(f"Launching pipeline for {rank=}")
    return logfile


def close_task_logger(logfile) -> None:
    """datatrove's ``close_task_logger``, but lines logged between tasks go to :func:`executor_log`'s file in
    this process, and nowhere in a worker process, instead of stderr."""
    logger.complete()
    _log_between_tasks()
    logfile.close()


_between_tasks: list = []  # the open executor.log of this process's executor_log, if any


def _log_between_tasks() -> None:
    logger.remove()
    for handle in _between_tasks[-1:]:
        logger.add(handle, colorize=False, level="DEBUG", format=FORMAT)


@contextlib.contextmanager
def _tasks_log_to_files():
    """datatrove's executors (base and Ray: each has its own ``_run_for_rank``) set up task logs with
    :func:`task_logger` and :func:`close_task_logger` while it runs."""
    modules = (datatrove.executor.base, datatrove.executor.ray)
    saved = [(module.add_task_logger, module.close_task_logger) for module in modules]
    for module in modules:
        module.add_task_logger, module.close_task_logger = task_logger, close_task_logger
    _log_between_tasks()  # a worker process's "rank skipped" line goes nowhere rather than to stderr
    try:
        yield
    finally:
        for module, (add, close) in zip(modules, saved):
            module.add_task_logger, module.close_task_logger = add, close


class LocalExecutor(LocalPipelineExecutor):
    """datatrove's local executor, its tasks logging to their files only."""

    def _run_for_rank(self, rank: int, local_rank: int = 0, node_rank: int = -1):
        with _tasks_log_to_files():
            return super()._run_for_rank(rank, local_rank, node_rank)


class RayExecutor(RayPipelineExecutor):
    """datatrove's Ray executor, its tasks logging to their files only."""

    def _run_for_rank(self, rank: int, local_rank: int = 0, node_rank: int = -1):
        with _tasks_log_to_files():
            return super()._run_for_rank(rank, local_rank, node_rank)


@contextlib.contextmanager
def executor_log(logging_dir):
    """While it runs, this process's loguru lines (an executor's, and those of tasks run in this process
    between them) go to ``<logging_dir>/logs/executor.log``; afterwards to stderr again, as
    datatrove sets them up."""
    with logging_dir.open("logs/executor.log", "w") as handle:
        _between_tasks.append(handle)
        _log_between_tasks()
        try:
            yield
        finally:
            logger.complete()
            _between_tasks.pop()
            setup_default_logger()
