"""What the app's events receive, checked by faceforge before anything runs.

The events take their inputs unprocessed (``preprocess=False``): Gradio neither opens an uploaded picture (it
would convert 16-bit and float images to 8-bit RGB and drop alpha, and its own errors read "The upstream Gradio
app has raised an exception") nor coerces a number. Each value is read here instead, and anything wrong becomes
a :class:`~faceforge.errors.FaceForgeError` with faceforge's own message, the one the command line prints. An
uploaded file is named by the name it was uploaded with, never by its path on the server.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from faceforge.errors import FaceForgeError

# Uploads larger than this are refused by the server before they are stored (``FACEFORGE_MAX_UPLOAD_MB``).
DEFAULT_MAX_UPLOAD_MB = 50


class InputError(FaceForgeError, ValueError):
    """An app input that faceforge cannot use (missing, of the wrong kind, out of range)."""


def positive_setting(name: str, default: float, unit: str) -> float:
    """A positive number from the environment variable ``name`` (``default`` when unset).

    Raises:
        InputError: the variable is not a positive number.
    """
    value = os.environ.get(name, str(default))
    try:
        number_ = float(value)
    except ValueError:
        raise InputError(f"{name} must be a number of {unit}, got {value!r}") from None
    if not number_ > 0:
        raise InputError(f"{name} must be positive, got {value!r}")
    return number_


def max_upload_mb() -> float:
    """The upload cap in MB (``FACEFORGE_MAX_UPLOAD_MB``, default 50)."""
    return positive_setting("FACEFORGE_MAX_UPLOAD_MB", DEFAULT_MAX_UPLOAD_MB, "megabytes")


def uploaded_file(payload: Any, *, what: str = "photo") -> tuple[str, str]:
    """``(path on the server, name to show)`` of an uploaded file, as an event with ``preprocess=False`` gets it.

    Accepts Gradio's file payload (a mapping or an object with ``path`` and ``orig_name``). A plain string is a
    path only where it lies in Gradio's upload cache or the app's examples; anything else is refused, so an API
    caller cannot make the server read its own files.

    Raises:
        InputError: no file, a payload of another kind, or a path outside the allowed folders.
    """
    if payload is None or payload == "":
        raise InputError(f"Upload a {what} or pick an example first.")
    if isinstance(payload, dict):
        path, name = payload.get("path"), payload.get("orig_name")
    elif hasattr(payload, "path"):
        path, name = payload.path, getattr(payload, "orig_name", None)
    elif isinstance(payload, str | os.PathLike):
        path, name = str(payload), None
    else:
        raise InputError(f"the {what} must be an uploaded file, got {type(payload).__name__}")
    if not isinstance(path, str) or not path:
        raise InputError(f"the {what} must be an uploaded file")
    resolved = Path(path).resolve()
    if not any(resolved.is_relative_to(root) for root in _allowed_roots()):
        raise InputError(f"the {what} must be uploaded to the app; files on the server cannot be named")
    if not resolved.is_file():
        raise InputError(f"the uploaded {what} is no longer on the server; upload it again")
    shown = Path(str(name)).name if name else resolved.name
    return str(resolved), shown


def _allowed_roots() -> list[Path]:
    """Gradio's upload folder and the folder of the app's examples."""
    from gradio.utils import get_upload_folder

    from faceforge.demo.examples import examples_folder

    return [Path(get_upload_folder()).resolve(), examples_folder().resolve()]


def choice(value: Any, choices: Sequence[tuple[str, str]] | Sequence[str], *, what: str) -> str:
    """``value`` if it is one of ``choices`` (values of ``(label, value)`` pairs, or plain strings)."""
    allowed = [c[1] if isinstance(c, tuple) else c for c in choices]
    if not isinstance(value, str) or value not in allowed:
        raise InputError(f"{what} must be one of {', '.join(allowed)}, got {value!r}")
    return value


def boolean(value: Any, *, what: str) -> bool:
    """A checkbox value: a bool (``None`` is False)."""
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    raise InputError(f"{what} must be true or false, got {value!r}")


def number(value: Any, *, what: str, minimum: float | None = None, maximum: float | None = None,
           integer: bool = False, default: float | None = None) -> float:
    """A number input (a number or its text), within ``[minimum, maximum]``; ``None`` gives ``default``."""
    if value is None or value == "":
        if default is None:
            raise InputError(f"{what} is missing")
        return default
    if isinstance(value, bool):
        raise InputError(f"{what} must be a number, got {value!r}")
    try:
        number_ = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{what} must be a number, got {value!r}") from None
    if not math.isfinite(number_):
        raise InputError(f"{what} must be a finite number, got {value!r}")
    if integer:
        if not number_.is_integer():
            raise InputError(f"{what} must be a whole number, got {value!r}")
    if minimum is not None and number_ < minimum or maximum is not None and number_ > maximum:
        bounds = f"between {minimum:g} and {maximum:g}" if minimum is not None and maximum is not None else (
            f"at least {minimum:g}" if minimum is not None else f"at most {maximum:g}")
        raise InputError(f"{what} must be {bounds}, got {value!r}")
    return int(number_) if integer else number_


def public_message(err: Exception, *, path: str | None = None, shown: str | None = None) -> str:
    """``err``'s message with the server's path of an upload replaced by the name it was uploaded with, and any
    other absolute path of the server reduced to its file name."""
    message = str(err)
    if path:
        message = message.replace(path, shown or Path(path).name)
        message = message.replace(str(Path(path).parent), "")
    for root in _allowed_roots():
        message = message.replace(str(root) + os.sep, "")
    return message



MAX_DRAWING_SIDE = 4096  # an editor layer larger than this is refused before it is decoded


def drawn_mask(payload: Any, size: int, *, what: str = "occlusion drawing") -> Any:
    """The (size, size) bool mask a user painted in a ``gr.ImageEditor``, as an event with ``preprocess=False``
    gets it (``{"background", "layers", "composite"}``, each an uploaded file): True wherever a layer has paint
    (alpha > 0), resized from the editor's canvas to ``size`` (nearest).

    Raises:
        InputError: no drawing, a payload of another kind, a layer that is not a readable picture, or nothing
            painted.
    """
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    layers = payload.get("layers") if isinstance(payload, dict) else getattr(payload, "layers", None)
    painted = np.zeros((size, size), bool)
    for layer in layers or []:
        path, shown = uploaded_file(layer, what=what)
        try:
            with Image.open(path) as image:
                if max(image.size) > MAX_DRAWING_SIDE:
                    raise InputError(f"the {what} is {image.size[0]}x{image.size[1]}; at most {MAX_DRAWING_SIDE} "
                                     f"pixels a side")
                alpha = np.asarray(image.convert("RGBA").getchannel("A").resize((size, size),
                                                                             Image.Resampling.NEAREST)) > 0
        except InputError:
            raise
        except (UnidentifiedImageError, OSError, ValueError) as err:
            raise InputError(f"the {what} ({shown}) is not a readable picture: {err}") from None
        painted |= alpha
    if not painted.any():
        raise InputError(f"the {what} is empty: paint the region to occlude over the face")
    return painted
