"""The ``mda-curate`` command line: one entry point, one module per subcommand under ``commands/``.

Each ``mda_curate.commands.<name>`` module defines ``register(subparsers)``, which adds its parser and
sets ``func`` to a handler taking the parsed ``argparse.Namespace``. Flags of settings are built from their
dataclass fields (``flags.py``); an error naming a field is shown under its flag. Handlers import heavy
libraries (torch, transformers, datatrove) lazily so that ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from mda_curate import __version__
from mda_curate.errors import FieldError, UserError
from mda_curate.flags import flag_of

COMMANDS = [
    "corpus",
    "tokenizer",
    "units",
    "train",
    "influence",
    "catalysts",
    "classifier",
    "curate",
    "validate",
    "lds",
    "augment",
    "demo",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mda-curate",
        description="Mechanistic Data Attribution for pretraining-data curation.",
    )
    parser.add_argument("--version", action="version", version=f"mda-curate {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"mda_curate.commands.{name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args) or 0
    except FieldError as err:  # a settings field: shown under its flag
        flag = flag_of(parser, args, err.field)
        print(f"mda-curate {args.command}: error: {err.renamed(flag) if flag else err}", file=sys.stderr)
        return 2
    except UserError as err:
        print(f"mda-curate {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"mda-curate {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
