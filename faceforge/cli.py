"""The ``faceforge`` console script."""

from __future__ import annotations

import argparse
import importlib
import sys

from faceforge._version import __version__
from faceforge.commands import command_modules
from faceforge.errors import FaceForgeError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="faceforge", description="Facial-expression-aware face restoration, recognition and editing."
    )
    parser.add_argument("--version", action="version", version=f"faceforge {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in command_modules():
        importlib.import_module(module).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except FaceForgeError as err:
        print(f"faceforge {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
