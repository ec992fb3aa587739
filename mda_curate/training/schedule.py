"""Interventions as data: a schedule of masked, duplicated and inserted samples, and the batches it yields.

A schedule is a JSON file (every key optional)::

    {
      "mask": [1200, 1201],                                   # global sample indices whose loss is excluded
      "duplicate": [{"samples": [1500, 1600], "step": 40,    # sample indices added again (default step:
                     "copies": 1}],                           #   each sample's own step; copies default 1)
      "insert": [{"path": "extra.jsonl", "start": 30,         # extra documents (JSONL/parquet/tokenized
                  "end": 60, "rows_per_step": 4}],            #   folder; relative to the schedule file)
      "shuffle": {"start": 20, "end": 40, "seed": 1}         # the samples of steps 20-39 in a seeded order
    }

``insert`` takes ``rows_per_step`` or ``share`` (extra rows as a share of ``batch_size``), from step
``start`` until ``end`` (exclusive; default: the run's end) or until the file's windows run out; the
file's documents are packed in file order and each window is used once.

Every other sample stays exactly as in the baseline: step ``s`` always holds the ``batch_size`` rows
``g = s * batch_size + row`` of the data order, unless ``shuffle`` permutes the samples of its steps
among them (the same samples, another order: a retraining that differs only in order). Masks and
duplicates name samples, wherever the shuffle puts them; a duplicate's default step is the sample's step
in the data order. A masked sample keeps its row with loss weight 0 (the
paper's deletion); duplicated and inserted samples are appended as extra rows of weight 1. The loss is
normalised by the *nominal* token count ``batch_size * ctx``, not by the rows present, so masking or
inserting never rescales the gradient of any other sample. (Gradient clipping and AdamW's
normalisation still see the total gradient, as in any retraining.)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mda_curate.errors import FieldChecker, UserError
from mda_curate.training.data import DataOrder, PackedSource

KEYS = {"mask", "duplicate", "insert", "shuffle"}
DUPLICATE_KEYS = {"samples", "step", "copies"}
INSERT_KEYS = {"path", "start", "end", "rows_per_step", "share"}
SHUFFLE_KEYS = {"start", "end", "seed"}
INSERTED = -1  # sample id of an inserted row


@dataclass(frozen=True)
class Duplicate:
    samples: tuple[int, ...]
    step: int | None = None  # None: each sample's own step
    copies: int = 1


@dataclass(frozen=True)
class Insert:
    path: str
    start: int
    rows_per_step: int
    end: int | None = None  # exclusive; None: the run's end


@dataclass(frozen=True)
class Shuffle:
    start: int
    end: int  # exclusive
    seed: int

    def order(self, batch_size: int) -> np.ndarray:
        """The samples of steps ``start .. end - 1``, in the order they are trained."""
        first, last = self.start * batch_size, self.end * batch_size
        return first + np.random.default_rng(self.seed).permutation(last - first)


@dataclass(frozen=True)
class Schedule:
    """A validated schedule (see the module docstring); the empty schedule is the baseline."""

    mask: frozenset[int] = frozenset()
    duplicate: tuple[Duplicate, ...] = ()
    insert: tuple[Insert, ...] = ()
    shuffle: Shuffle | None = None

    @classmethod
    def load(cls, path: str | Path, steps: int, batch_size: int) -> Schedule:
        """Read and validate a schedule file; insert paths are taken relative to its folder."""
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise UserError(f"{path}: no such schedule file") from None
        except json.JSONDecodeError as err:
            raise UserError(f"{path}: malformed JSON ({err.msg}, line {err.lineno})") from None
        return cls.from_dict(data, steps, batch_size, source=str(path), base_dir=path.parent)

    @classmethod
    def from_dict(
        cls, data, steps: int, batch_size: int, source: str = "schedule", base_dir: Path = Path(".")
    ) -> Schedule:
        check = _Checker(source, steps * batch_size)
        check.that("", isinstance(data, dict), "must be a JSON object")
        check.keys("", data, KEYS)
        mask = frozenset(check.samples("mask", data.get("mask", [])))
        duplicate = tuple(
            check.duplicate(f"duplicate[{i}]", d, steps) for i, d in enumerate(check.list("duplicate", data))
        )
        for i, dup in enumerate(duplicate):
            also_masked = sorted(set(dup.samples) & mask)
            if also_masked:
                check.fail(f"duplicate[{i}].samples", f"sample {also_masked[0]} is also masked")
        insert = tuple(
            check.insert(f"insert[{i}]", entry, steps, batch_size, base_dir)
            for i, entry in enumerate(check.list("insert", data))
        )
        shuffle = check.shuffle("shuffle", data["shuffle"], steps) if data.get("shuffle") is not None else None
        return cls(mask, duplicate, insert, shuffle)

    def first_step(self, batch_size: int) -> int | None:
        """The earliest step the schedule changes (``None`` for the empty schedule)."""
        steps = [g // batch_size for g in self.mask]
        steps += [d.step if d.step is not None else g // batch_size for d in self.duplicate for g in d.samples]
        steps += [i.start for i in self.insert]
        steps += [self.shuffle.start] if self.shuffle else []
        return min(steps, default=None)

    def to_dict(self) -> dict:
        out = {
            "mask": sorted(self.mask),
            "duplicate": [{"samples": list(d.samples), "step": d.step, "copies": d.copies} for d in self.duplicate],
            "insert": [vars(i) for i in self.insert],
        }
        if self.shuffle is not None:  # only when set: schedules written before it existed read back equal
            out["shuffle"] = vars(self.shuffle)
        return out


NO_SCHEDULE = Schedule()  # the baseline: nothing masked, duplicated or inserted


@dataclass
class StepBatch:
    """One step's rows: ``tokens`` (rows, ctx + 1), loss ``weights`` (rows,), and ``sample_ids`` (rows,):
    the global sample index of a base or duplicated row, ``INSERTED`` for an inserted one."""

    tokens: np.ndarray
    weights: np.ndarray
    sample_ids: np.ndarray


class StepBatches:
    """Step ``s``'s batch: the data order's rows ``s * batch_size ...``, then the schedule's extra rows."""

    def __init__(
        self, order: DataOrder, batch_size: int, schedule: Schedule = NO_SCHEDULE, inserts: list[PackedSource] = ()
    ):
        self.order, self.batch_size, self.schedule, self.inserts = order, batch_size, schedule, list(inserts)
        self.duplicates_at: dict[int, list[int]] = {}
        for dup in schedule.duplicate:
            for g in dup.samples:
                step = g // batch_size if dup.step is None else dup.step
                self.duplicates_at.setdefault(step, []).extend([g] * dup.copies)
        self.shuffled = None if schedule.shuffle is None else schedule.shuffle.order(batch_size)

    def __call__(self, step: int) -> StepBatch:
        base = self._base_samples(step)
        ids = base + self.duplicates_at.get(step, [])
        rows = [self.order.sample(g) for g in ids]
        weights = [0.0 if g in self.schedule.mask else 1.0 for g in base] + [1.0] * (len(ids) - len(base))
        for insert, source in zip(self.schedule.insert, self.inserts):
            for k in self._insert_windows(insert, source, step):
                rows.append(source.window(k))
                ids.append(INSERTED)
                weights.append(1.0)
        return StepBatch(np.stack(rows), np.asarray(weights, dtype=np.float32), np.asarray(ids, dtype=np.int64))

    def _base_samples(self, step: int) -> list[int]:
        shuffle = self.schedule.shuffle
        if shuffle is None or not shuffle.start <= step < shuffle.end:
            return list(range(step * self.batch_size, (step + 1) * self.batch_size))
        first = (step - shuffle.start) * self.batch_size
        return self.shuffled[first : first + self.batch_size].tolist()

    @staticmethod
    def _insert_windows(insert: Insert, source: PackedSource, step: int) -> range:
        if step < insert.start or (insert.end is not None and step >= insert.end):
            return range(0)
        first = (step - insert.start) * insert.rows_per_step
        return range(min(first, source.num_windows), min(first + insert.rows_per_step, source.num_windows))


class _Checker(FieldChecker):
    """Validation helpers whose errors name the schedule file and the field."""

    def __init__(self, source: str, num_samples: int):
        super().__init__(source)
        self.num_samples = num_samples

    def list(self, name: str, data: dict) -> list:
        value = data.get(name, [])
        self.that(name, isinstance(value, list), "must be a list")
        return value

    def integer(self, name: str, value, lo: int, hi: int | None) -> int:
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= lo and (hi is None or value < hi)
        self.that(name, ok, f"must be an integer in [{lo}, {hi if hi is not None else 'inf'}) (got {value!r})")
        return value

    def samples(self, name: str, values) -> list[int]:
        self.that(name, isinstance(values, list), "must be a list of sample indices")
        return [self.integer(f"{name}[{i}]", v, 0, self.num_samples) for i, v in enumerate(values)]

    def duplicate(self, name: str, entry, steps: int) -> Duplicate:
        self.that(name, isinstance(entry, dict), "must be an object with 'samples'")
        self.keys(name, entry, DUPLICATE_KEYS)
        self.that(f"{name}.samples", "samples" in entry, "is required")
        step = entry.get("step")
        return Duplicate(
            samples=tuple(self.samples(f"{name}.samples", entry["samples"])),
            step=None if step is None else self.integer(f"{name}.step", step, 0, steps),
            copies=self.integer(f"{name}.copies", entry.get("copies", 1), 1, None),
        )

    def shuffle(self, name: str, entry, steps: int) -> Shuffle:
        self.that(name, isinstance(entry, dict), "must be an object with 'start', 'end' and 'seed'")
        self.keys(name, entry, SHUFFLE_KEYS)
        for key in SHUFFLE_KEYS:
            self.that(f"{name}.{key}", key in entry, "is required")
        start = self.integer(f"{name}.start", entry["start"], 0, steps)
        end = self.integer(f"{name}.end", entry["end"], start + 1, steps + 1)
        return Shuffle(start, end, self.integer(f"{name}.seed", entry["seed"], 0, None))

    def insert(self, name: str, entry, steps: int, batch_size: int, base_dir: Path) -> Insert:
        self.that(name, isinstance(entry, dict), "must be an object with 'path' and 'start'")
        self.keys(name, entry, INSERT_KEYS)
        for key in ("path", "start"):
            self.that(f"{name}.{key}", key in entry, "is required")
        self.that(f"{name}.path", isinstance(entry["path"], str), "must be a string")
        self.that(
            name, ("rows_per_step" in entry) != ("share" in entry), "needs exactly one of 'rows_per_step' and 'share'"
        )
        if "share" in entry:
            share = entry["share"]
            ok = isinstance(share, (int, float)) and not isinstance(share, bool) and share > 0
            self.that(
                f"{name}.share",
                ok and round(share * batch_size) >= 1,
                f"must give at least one row of {batch_size} (got {share!r})",
            )
            rows = round(share * batch_size)
        else:
            rows = self.integer(f"{name}.rows_per_step", entry["rows_per_step"], 1, None)
        start = self.integer(f"{name}.start", entry["start"], 0, steps)
        end = entry.get("end")
        end = None if end is None else self.integer(f"{name}.end", end, start + 1, steps + 1)
        path = Path(entry["path"])
        path = path if path.is_absolute() else base_dir / path
        self.that(f"{name}.path", path.exists(), f"{path}: no such file or folder")
        return Insert(str(path), start, rows, end)
