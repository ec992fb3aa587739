"""The one exception type for user errors: the CLI prints it as one line and exits 2."""


class UserError(Exception):
    """Bad input from the user (a file, a line, an option); shown without a traceback."""


def where(path, line: int | None = None) -> str:
    """Format a location for an error message: ``path`` or ``path:line``."""
    return f"{path}:{line}" if line is not None else str(path)
