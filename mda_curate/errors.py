"""The one exception type for user errors (the CLI prints it as one line and exits 2), and the one checker of
named fields, for settings dataclasses and parsed files alike."""

from __future__ import annotations


class UserError(Exception):
    """Bad input from the user (a file, a line, an option); shown without a traceback."""


class FieldError(UserError):
    """A bad value of one named field: ``FIELD: PROBLEM``, e.g. ``lr: must be > 0 (got -1.0)``. The CLI shows
    the field's flag in its place (``--lr: must be > 0 (got -1.0)``); library code never names a flag."""

    def __init__(self, field: str, problem: str):
        super().__init__(f"{field}: {problem}")
        self.field, self.problem = field, problem

    def renamed(self, name: str) -> FieldError:
        """The same problem under another name: a flag, or the field's path in a file."""
        return FieldError(name, self.problem)


def where(path, line: int | None = None) -> str:
    """Format a location for an error message: ``path`` or ``path:line``."""
    return f"{path}:{line}" if line is not None else str(path)


class FieldChecker:
    """Validation whose errors name the field: ``FIELD: must be ... (got ...)`` for a settings dataclass
    (``source=None``, a :class:`FieldError`), ``SOURCE: FIELD message`` for a parsed file."""

    def __init__(self, source=None):
        self.source = source

    def fail(self, name: str, message: str):
        if self.source is None:
            raise FieldError(name, message)
        raise UserError(f"{self.source}: {name + ' ' if name else ''}{message}")

    def that(self, name: str, ok: bool, message: str) -> None:
        if not ok:
            self.fail(name, message)

    def require(self, name: str, value, ok, expectation: str) -> None:
        """``ok(value)`` or fail with ``NAME: must be EXPECTATION (got VALUE)``; a TypeError in ``ok`` fails."""
        try:
            valid = ok(value)
        except TypeError:
            valid = False
        if not valid:
            self.fail(name, f"must be {expectation} (got {value!r})")

    def choice(self, name: str, value, choices) -> None:
        self.require(name, value, lambda v: v in choices, f"one of {', '.join(choices)}")

    def keys(self, name: str, table: dict, allowed: set[str]) -> None:
        unknown = sorted(set(table) - allowed)
        if unknown:
            field = f"{name}.{unknown[0]}" if name else unknown[0]
            self.fail(field, f"is not a known field (known: {', '.join(sorted(allowed))})")


SETTINGS = FieldChecker()  # the checker of settings dataclasses: errors name the field alone
