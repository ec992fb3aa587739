"""Line-level structure of a document's text: which motif each line shows, and the document's kind.

A non-empty line is counted for every kind whose pattern it matches (``LINE_PATTERNS``):

* ``latex``: a command (``\\name``), a ``\\\\`` line end or an unescaped ``&``;
* ``markup``: an XML/HTML tag (``<name ...>``, ``</name>``, ``<!...>``, ``<?...>``);
* ``records``: ``key: value`` or ``key = value`` with a one-word key, or a row with at least two ``|`` or
  tab separators;
* ``list``: a bullet (``-``, ``*``, ``+``, ``•``) or an enumerator (``1.``, ``2)``, ``a.``) and text;
* ``log``: a leading date-time stamp (``2024-01-31 12:00``, ``[2024-01-31T12:00:00``) or clock (``12:00:00``);
* ``code``: a Python/C statement keyword at the line's start, or a line ending in ``{``, ``}`` or ``;``.

A document's **kind** is the line kind matched by the largest share of its non-empty lines, if that
share is at least ``KIND_THRESHOLD`` and at least ``MIN_LINES`` lines match (structure spans lines: a
one-line window of random tokens that happens to hold a ``\\`` is no table); else ``repeated_spans`` if
its repeat coverage (see :mod:`~mda_curate.augment.repeats`) is at least ``KIND_THRESHOLD``; else
``other``. On the trainer's own windows of ``runs/formation/share0.6_seed1`` this labels 94% of the
``repeated_spans`` windows, 74% of the LaTeX and 85% of the markup windows with their source domain.
A line's **template** is the line with digit runs replaced by ``0`` and letter runs by ``a``.
"""

from __future__ import annotations

import re
from collections import Counter

LINE_PATTERNS = {
    "latex": re.compile(r"\\[A-Za-z]+|\\\\\s*$|(?<!\\)&"),
    "markup": re.compile(r"<(?:/?[A-Za-z][\w:.-]*(?:\s[^<>]*)?/?|![^<>]*|\?[^<>]*)>"),
    "records": re.compile(r"^\s*[\w.-]+\s*[:=]\s*\S|^[^|\t]*(?:[|\t][^|\t]*){2,}$"),
    "list": re.compile(r"^\s*(?:[-*+•]|\d+[.)]|[a-z][.)])\s+\S"),
    "log": re.compile(r"^\s*\[?(?:\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}|\d{2}:\d{2}:\d{2})"),
    "code": re.compile(
        r"^\s*(?:def|class|import|from|return|if|elif|else|for|while|try|except|with|int|void|static|#include)\b"
        r"|[{};]\s*$"
    ),
}
REPEATS = "repeated_spans"
OTHER = "other"
KINDS = (REPEATS, *LINE_PATTERNS, OTHER)
KIND_THRESHOLD = 0.3
MIN_LINES = 3
TAG = re.compile(r"<(/?)([A-Za-z][\w:.-]*)")
LATEX_ENVIRONMENT = re.compile(r"\\begin\{([^}]*)\}")


def nonempty_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def line_counts(lines: list[str]) -> dict[str, int]:
    """Number of ``lines`` that match each kind's pattern."""
    return {kind: sum(bool(p.search(line)) for line in lines) for kind, p in LINE_PATTERNS.items()}


def document_kind(counts: dict[str, int], n_lines: int, repeat_coverage: float) -> str:
    """The motif that dominates a document (see the module docstring)."""
    kind = max(LINE_PATTERNS, key=lambda k: counts.get(k, 0))
    if counts.get(kind, 0) >= max(MIN_LINES, KIND_THRESHOLD * n_lines):
        return kind
    return REPEATS if repeat_coverage >= KIND_THRESHOLD else OTHER


def template(line: str) -> str:
    return re.sub(r"[A-Za-z]+", "a", re.sub(r"\d+", "0", " ".join(line.split())))


def table_columns(lines: list[str]) -> list[int]:
    """Columns (``&`` count + 1) of each LaTeX table row: a line with ``&`` that ends in ``\\\\``."""
    return [
        line.count("&") - line.count(r"\&") + 1 for line in lines if "&" in line and line.rstrip().endswith("\\\\")
    ]


def tag_names(text: str) -> Counter:
    """Opening-tag names of ``text`` and their counts."""
    return Counter(name for closing, name in TAG.findall(text) if not closing)


def environments(text: str) -> Counter:
    return Counter(LATEX_ENVIRONMENT.findall(text))


def record_fields(lines: list[str]) -> list[int]:
    """Lengths of the runs of consecutive ``key: value`` / ``key = value`` lines (one run per record)."""
    runs, current = [], 0
    for line in lines + [""]:
        if LINE_PATTERNS["records"].search(line):
            current += 1
        elif current:
            runs.append(current)
            current = 0
    return runs
