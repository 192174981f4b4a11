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
    """Run a sub-command; returns its exit code.

    Every failure a user can cause ends in one line ``faceforge COMMAND: error: MESSAGE`` on stderr and exit
    code 2, never a traceback: a :class:`~faceforge.errors.FaceForgeError` (a model that cannot be loaded, a bad
    config, an output folder that cannot be written) or an ``OSError`` (a file that cannot be read or written).
    Commands report failures of single photos themselves (exit code 1). Ctrl-C exits with 130.
    """
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print(f"faceforge {args.command}: interrupted", file=sys.stderr)
        return 130
    except FaceForgeError as err:
        print(f"faceforge {args.command}: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        print(f"faceforge {args.command}: error: {_os_message(err)}", file=sys.stderr)
        return 2


def _os_message(err: OSError) -> str:
    """``PATH: reason`` (``No such file or directory``...) without Python's ``[Errno N]``."""
    if err.filename is None or not err.strerror:
        return str(err) or type(err).__name__
    names = " -> ".join(str(f) for f in (err.filename, err.filename2) if f is not None)
    return f"{names}: {err.strerror}"


if __name__ == "__main__":
    sys.exit(main())
