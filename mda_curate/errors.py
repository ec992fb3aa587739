"""The one exception type for user errors: the CLI prints it as one line and exits 2."""


class UserError(Exception):
    """Bad input from the user (a file, a line, an option); shown without a traceback."""


def where(path, line: int | None = None) -> str:
    """Format a location for an error message: ``path`` or ``path:line``."""
    return f"{path}:{line}" if line is not None else str(path)


class FieldChecker:
    """Validation of a parsed file whose errors name the file and the field: ``SOURCE: FIELD message``."""

    def __init__(self, source):
        self.source = source

    def fail(self, name: str, message: str):
        raise UserError(f"{self.source}: {name + ' ' if name else ''}{message}")

    def that(self, name: str, ok: bool, message: str) -> None:
        if not ok:
            self.fail(name, message)

    def keys(self, name: str, table: dict, allowed: set[str]) -> None:
        unknown = sorted(set(table) - allowed)
        if unknown:
            field = f"{name}.{unknown[0]}" if name else unknown[0]
            self.fail(field, f"is not a known field (known: {', '.join(sorted(allowed))})")
