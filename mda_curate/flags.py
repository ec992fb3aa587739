"""Flags built from settings dataclasses, and the way back from a field to its flag.

A setting is declared once, on its dataclass field: its default and, in ``metadata["help"]``, its help
(kronfluence's ``arguments.py`` style). A command adds what belongs to the command line: the flag's name
when it is not the field's, its metavar, and how text is parsed. The flag's help shows the field's default;
the parsed value lands in ``args.<field>``, so an error naming the field is shown under its flag.
"""

from __future__ import annotations

import argparse
import dataclasses
import typing

SCALARS = (int, float, str)


def add_setting(parser, settings: type, name: str, flag: str | None = None, **options) -> argparse.Action:
    """Add the flag of field ``name`` of the dataclass ``settings`` (``--name-with-dashes`` unless ``flag``).

    The field gives the help (its default appended unless it is ``None``, whose meaning the help states), the
    default (``default=None`` in ``options`` keeps a flag left out apart from one given), ``required`` when
    the field has no default, and the type when it is int, float or str; ``options`` (metavar, choices,
    type, ...) go to ``add_argument``."""
    field = next((f for f in dataclasses.fields(settings) if f.name == name), None)
    if field is None:
        raise TypeError(f"{settings.__name__} has no field {name!r}")
    if field.default is dataclasses.MISSING:
        options.setdefault("required", True)
    else:
        options.setdefault("default", field.default)
    if "type" not in options and "choices" not in options:
        kind = scalar_type(settings, name)
        if kind is not str:
            options["type"] = kind
    help_text = options.pop("help", None) or field.metadata["help"]  # help=: a field without metadata
    if field.default not in (None, dataclasses.MISSING):
        help_text += f" (default {shown(field.default)})"
    return parser.add_argument(
        flag or f"--{name.replace('_', '-')}", dest=name, help=help_text.replace("%", "%%"), **options
    )


def scalar_type(settings: type, name: str) -> type:
    """The int, float or str of a field annotated ``T`` or ``T | None``."""
    hint = typing.get_type_hints(settings)[name]
    kinds = [kind for kind in typing.get_args(hint) or (hint,) if kind is not type(None)]
    if len(kinds) != 1 or kinds[0] not in SCALARS:
        raise TypeError(f"{settings.__name__}.{name}: {hint} needs a type= to be read from the command line")
    return kinds[0]


def shown(value) -> str:
    """A default as the command line spells it: a tuple's items separated by spaces."""
    return " ".join(map(str, value)) if isinstance(value, tuple) else str(value)


def flag_of(parser: argparse.ArgumentParser, args: argparse.Namespace, dest: str) -> str | None:
    """The flag that sets ``args.<dest>`` in the (sub)command that parsed ``args``, or ``None``."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return flag_of(action.choices[getattr(args, action.dest)], args, dest)
    flags = [a.option_strings for a in parser._actions if a.dest == dest and a.option_strings]
    return max(flags[0], key=len) if flags else None


class SettingsParser(argparse.ArgumentParser):
    """A parser of flags outside the command line (a file's list of flags): a bad one is a UserError."""

    def error(self, message: str):
        from mda_curate.errors import UserError

        raise UserError(message)
