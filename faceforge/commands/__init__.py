"""Sub-commands of the ``faceforge`` console script, one module each.

Each module defines ``register(subparsers)``, which adds its parser and sets ``func`` (called with the
parsed namespace, returning an exit code).
"""

COMMANDS: tuple[str, ...] = (
    "synth",
    "prepare",
    "eval",
    "align",
    "restore",
    "push",
)
