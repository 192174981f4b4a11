"""Sub-commands of the ``faceforge`` console script, one module each.

Each module defines ``register(subparsers)``, which adds its parser and sets ``func`` (called with the
parsed namespace, returning an exit code). ``CORE_COMMANDS`` work on data, faces and model folders of any
family; a model family adds its own (``faceforge restore`` ...) in its declaration (``commands=``).
"""

from __future__ import annotations

CORE_COMMANDS: tuple[str, ...] = (
    "faceforge.commands.synth",
    "faceforge.commands.prepare",
    "faceforge.commands.eval",
    "faceforge.commands.align",
    "faceforge.commands.push",
)


def command_modules() -> tuple[str, ...]:
    """Every sub-command module: the core ones, then the families'."""
    from faceforge.registry import command_modules as family_commands

    return (*CORE_COMMANDS, *family_commands())
