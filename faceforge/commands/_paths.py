"""Output paths of the sub-commands: a set of files per input photo (``align``, ``restore``) or one result file
(``recognize``)."""

from __future__ import annotations

import os
from pathlib import Path

from faceforge.errors import FaceForgeError


class OutputFolderError(FaceForgeError, OSError):
    """The folder for a command's results cannot be created or written to."""


def output_folder(path: Path, *, option: str = "--out") -> Path:
    """Create ``path`` (and its parents) for a command's results; return it.

    Raises:
        OutputFolderError: ``path`` is a file, cannot be created or is not writable; the message names
            ``option`` and the reason.
    """
    if path.exists() and not path.is_dir():
        raise OutputFolderError(f"{option} {path} is a file, not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputFolderError(f"cannot create the folder {option} {path}: {err.strerror or err}") from err
    if not os.access(path, os.W_OK | os.X_OK):
        raise OutputFolderError(f"cannot write to the folder {option} {path}: permission denied")
    return path


def output_file(path: Path, *, option: str = "--out") -> Path:
    """Create the folder of the file ``path`` a command writes its result to; return ``path``.

    Raises:
        OutputFolderError: ``path`` is a folder, its folder cannot be created or it cannot be written; the message
            names ``option`` and the reason.
    """
    if path.is_dir():
        raise OutputFolderError(f"{option} {path} is a folder; give the name of the file to write")
    folder = path.parent
    if folder.exists() and not folder.is_dir():
        raise OutputFolderError(f"{option} {path}: {folder} is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputFolderError(f"cannot create the folder of {option} {path}: {err.strerror or err}") from err
    if not os.access(folder, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise OutputFolderError(f"cannot write {option} {path}: permission denied")
    return path


def unique_stem(stem: str, used: set[str]) -> str:
    """``stem``, or ``stem-2``, ``stem-3``, ... if an earlier photo of this run had the same name; adds it to
    ``used``, so photos from different folders with the same name never overwrite each other's results."""
    candidate, n = stem, 1
    while candidate in used:
        n += 1
        candidate = f"{stem}-{n}"
    used.add(candidate)
    return candidate


def photo_message(path: Path, err: Exception) -> str:
    """``err``'s message about the photo ``path``, starting with the path once (messages about a file already
    start with it; others, such as "no face was found", get it prepended)."""
    message = str(err)
    return message if message.startswith(str(path)) else f"{path}: {message}"


def write_json(path: Path, report: dict) -> None:
    """Write ``report`` as indented JSON to ``path`` whole and then rename it into place: an interrupted run never
    leaves half a JSON file behind."""
    import json

    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        partial.write_text(json.dumps(report, indent=2) + "\n")
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
