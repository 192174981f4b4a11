"""Large results written by the app itself, strip by strip, into Gradio's cache.

Handing Gradio a (H, W, 3) array makes it copy the array into a PIL image and encode the whole PNG in memory
(about 2.3 times the array for a 48-megapixel photo). :func:`write_png` streams the rows through zlib instead,
and :func:`cache_file` names a file inside Gradio's cache folder, where Gradio serves it as it is and deletes it
on the app's cache schedule (``delete_cache``). :func:`pixelated` enlarges a small model input for showing.
"""

from __future__ import annotations

import struct
import uuid
import zlib
from pathlib import Path

import numpy as np

STRIP_ROWS_PIXELS = 1 << 20  # about a megapixel of rows is filtered and compressed at a time


def cache_file(name: str) -> Path:
    """A new path ``<Gradio cache>/faceforge-<random>/<name>`` (the folder is created)."""
    from gradio.utils import get_upload_folder

    folder = Path(get_upload_folder()) / f"faceforge-{uuid.uuid4().hex}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / Path(name).name


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def write_png(image: np.ndarray, path: str | Path, *, level: int = 6) -> Path:
    """Write an (H, W, 3) or (H, W) uint8 image as a PNG without copying it whole.

    Every row uses PNG's "Sub" filter (each byte minus the byte one pixel to its left), which suits photos;
    rows are filtered and compressed a strip at a time.

    Args:
        image: (H, W, 3) RGB or (H, W) gray, uint8.
        path: the file to write.
        level: zlib compression level (0-9).

    Returns:
        The path.
    """
    if image.dtype != np.uint8 or image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] != 3):
        raise ValueError(f"write_png takes (H, W, 3) or (H, W) uint8, got {image.dtype} {image.shape}")
    height, width = image.shape[:2]
    channels = 1 if image.ndim == 2 else 3
    path = Path(path)
    compressor = zlib.compressobj(level)
    rows_per_strip = max(1, STRIP_ROWS_PIXELS // max(1, width))
    with path.open("wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2 if channels == 3 else 0, 0, 0, 0)))
        for y0 in range(0, height, rows_per_strip):
            rows = image[y0:y0 + rows_per_strip].reshape(-1, width * channels)
            filtered = np.empty((rows.shape[0], 1 + width * channels), np.uint8)
            filtered[:, 0] = 1  # Sub
            filtered[:, 1:1 + channels] = rows[:, :channels]
            np.subtract(rows[:, channels:], rows[:, :-channels], out=filtered[:, 1 + channels:])  # wraps mod 256
            data = compressor.compress(filtered.tobytes())
            if data:
                f.write(_chunk(b"IDAT", data))
        f.write(_chunk(b"IDAT", compressor.flush()))
        f.write(_chunk(b"IEND", b""))
    return path


def pixelated(image: np.ndarray, side: int) -> np.ndarray:
    """An (h, w, ...) image enlarged by pixel repetition to at most ``side`` (a whole factor, at least 1), so that
    a small model input shows its pixels."""
    factor = max(1, side // image.shape[0])
    return np.repeat(np.repeat(image, factor, axis=0), factor, axis=1)


def png_in_cache(image: np.ndarray, name: str) -> str:
    """``image`` written as a PNG under a new, unique path in Gradio's cache; the path, for an output component.

    Gradio names a file it writes itself after its content, so two requests that give the same picture write the
    same file at the same time, and one of them can serve it half-written; a path of its own per request cannot
    collide.
    """
    return str(write_png(np.ascontiguousarray(image), cache_file(name)))
