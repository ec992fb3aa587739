"""Shared rich console, progress bars and tables for long-running work."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

console = Console(stderr=True)


def progress(disable: bool = False) -> Progress:
    """A progress bar with count, elapsed and remaining time, drawn on stderr (``disable``: draw nothing)."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
        disable=disable,
    )


def table(title: str, columns: Sequence[str], rows: Iterable[Sequence[object]]) -> Table:
    """Build a rich table; numbers are right-aligned and floats shown with 4 significant digits."""
    out = Table(title=title)
    rows = [list(r) for r in rows]
    for i, name in enumerate(columns):
        numeric = bool(rows) and all(isinstance(r[i], (int, float)) for r in rows)
        out.add_column(name, justify="right" if numeric else "left")
    for row in rows:
        out.add_row(*(f"{v:.4g}" if isinstance(v, float) else str(v) for v in row))
    return out
