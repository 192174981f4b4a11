"""Reading photos into (H, W, 3) uint8 RGB arrays, and the working-size downscale used for detection.

Every entry point of the photo pipeline (app, CLI, dataset preparation) reads images through
:func:`load_image`, so they all agree on orientation (EXIF), colour handling and size limits, and all
report unreadable input with the same :class:`~faceforge.errors.ImageReadError` messages.

Coordinates follow faceforge's convention: pixel centres at integers, x to the right, y downwards.
"""

from __future__ import annotations

import io
import math
import os
import warnings
from typing import BinaryIO, Literal

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from faceforge.errors import ImageReadError, ImageTooLargeError

DEFAULT_MAX_PIXELS = 50_000_000
"""Hard limit on width * height (50 MP): larger inputs raise :class:`ImageTooLargeError` before decoding."""

DEFAULT_WORKING_SIDE = 2048
"""Images whose long side exceeds this are downscaled for detection (see :func:`to_working_size`)."""

ImageSource = str | os.PathLike | bytes | bytearray | BinaryIO | Image.Image | np.ndarray
AlphaMode = Literal["white", "drop"]


def load_image(
    src: ImageSource,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    alpha: AlphaMode = "white",
) -> np.ndarray:
    """Read an image from a path, bytes, binary file object, PIL image or numpy array as RGB uint8.

    Conversions:
        * EXIF orientation is applied (the array is upright as a viewer shows it).
        * Grayscale and bilevel images are repeated over three channels; palette images are expanded.
        * 16-bit images (``I;16`` grayscale, 16-bit PNG) are scaled to 8 bits (``round(v / 257)``), not
          clipped. 32-bit integer (``I``) images are read as 8-bit if their values fit in [0, 255], as 16-bit
          if they fit in [0, 65535], and are min-max scaled otherwise; float (``F``) images likewise as
          [0, 1], [0, 255] or min-max.
        * CMYK, YCbCr, LAB and HSV images are converted with PIL.
        * Transparency (RGBA, LA, palette with a transparent colour): ``alpha="white"`` (default) composites
          the image over a white background, so transparent areas come out white as a viewer shows them;
          ``alpha="drop"`` discards the alpha channel and keeps the stored colours.

    Numpy arrays may be (H, W), (H, W, 1), (H, W, 2) gray + alpha, (H, W, 3) RGB or (H, W, 4) RGBA; uint8
    as is, uint16 scaled to 8 bits, bool as 0/255, other integers in [0, 255], floats in [0, 1].

    Args:
        src: file path, encoded bytes, binary file object, PIL image or numpy array.
        max_pixels: hard limit on width * height. Files are checked from their header, before the pixel
            data is decoded (decompression-bomb protection).
        alpha: ``"white"`` or ``"drop"``, see above.

    Returns:
        (H, W, 3) uint8 RGB array (a new, C-contiguous array).

    Raises:
        ImageReadError: missing, empty, corrupt or unsupported input, with the reason.
        ImageTooLargeError: more than ``max_pixels`` pixels.
    """
    if alpha not in ("white", "drop"):
        raise ValueError(f"alpha must be 'white' or 'drop', got {alpha!r}")
    if isinstance(src, np.ndarray):
        return _from_array(src, max_pixels=max_pixels, alpha=alpha)
    if isinstance(src, Image.Image):
        _check_pixels(src.width, src.height, max_pixels)
        return _from_pil(_upright(src), alpha=alpha)
    return _from_pil(_open_and_decode(src, max_pixels=max_pixels), alpha=alpha)


def to_working_size(image: np.ndarray, *, max_side: int = DEFAULT_WORKING_SIDE) -> tuple[np.ndarray, float]:
    """Downscale ``image`` so its long side is at most ``max_side`` (no-op when it already fits).

    Args:
        image: (H, W, 3) uint8.
        max_side: limit on the long side of the returned image.

    Returns:
        ``(working, scale)``: the (h, w, 3) uint8 working image and the factor with
        ``x_working = (x + 0.5) * scale - 0.5`` (pixel centres at integers). Map results back with
        :func:`from_working_coords`. ``scale == 1.0`` and the input itself when no resize was needed.
    """
    if max_side <= 0:
        raise ValueError(f"max_side must be positive, got {max_side}")
    h, w = image.shape[:2]
    long_side = max(h, w)
    if long_side <= max_side:
        return image, 1.0
    scale = max_side / long_side
    new_w, new_h = max(1, math.floor(w * scale + 1e-6)), max(1, math.floor(h * scale + 1e-6))
    # Resize from the box (0, 0, new_w / scale, new_h / scale), at most the whole image, so both axes
    # share one scale factor (the last partial pixel row or column is left out).
    box = (0.0, 0.0, min(float(w), new_w / scale), min(float(h), new_h / scale))
    resized = Image.fromarray(image).resize((new_w, new_h), Image.Resampling.BOX, box=box)
    return np.asarray(resized), scale


def from_working_coords(points: np.ndarray, scale: float) -> np.ndarray:
    """Map (..., 2) pixel coordinates from a :func:`to_working_size` image back to the original image."""
    return (np.asarray(points, dtype=np.float64) + 0.5) / scale - 0.5


def _check_pixels(width: int, height: int, max_pixels: int, *, prefix: str = "") -> None:
    if width * height > max_pixels:
        raise ImageTooLargeError(
            f"{prefix}the image is {width}x{height} = {width * height / 1e6:.1f} megapixels, more than the "
            f"limit of {max_pixels / 1e6:.1f} megapixels"
        )


def _open_and_decode(src: ImageSource, *, max_pixels: int) -> Image.Image:
    """Open lazily, check the size from the header, then decode and apply EXIF orientation."""
    name = ""
    if isinstance(src, (str, os.PathLike)):
        name = os.fspath(src)
        if not os.path.exists(name):
            raise ImageReadError(f"{name}: no such file")
        if os.path.isdir(name):
            raise ImageReadError(f"{name}: is a folder, not an image file")
        if os.path.getsize(name) == 0:
            raise ImageReadError(f"{name}: the file is empty")
        fp: BinaryIO | str = name
    elif isinstance(src, (bytes, bytearray, memoryview)):
        if len(src) == 0:
            raise ImageReadError("the image data is empty (0 bytes)")
        fp = io.BytesIO(bytes(src))
    elif hasattr(src, "read"):
        fp = src
    else:
        raise ImageReadError(f"cannot read an image from a {type(src).__name__}")
    prefix = f"{name}: " if name else ""
    try:
        with warnings.catch_warnings():
            # faceforge applies its own pixel limit; PIL's warning below its hard limit is noise here.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(fp) as img:  # reads the header only
                _check_pixels(img.width, img.height, max_pixels, prefix=prefix)
                img.load()
                return _upright(img)
    except ImageTooLargeError:
        raise
    except Image.DecompressionBombError as err:
        raise ImageTooLargeError(f"{prefix}{err}") from err
    except UnidentifiedImageError as err:
        if hasattr(fp, "seek") and hasattr(fp, "tell") and _is_empty_stream(fp):
            raise ImageReadError(f"{prefix}the file is empty") from err
        raise ImageReadError(f"{prefix}not a recognised image format (corrupt or unsupported file)") from err
    except (OSError, SyntaxError, ValueError, EOFError) as err:
        raise ImageReadError(f"{prefix}the image data is corrupt or truncated ({err})") from err


def _is_empty_stream(fp: BinaryIO) -> bool:
    try:
        fp.seek(0, os.SEEK_END)
        return fp.tell() == 0
    except (OSError, ValueError):
        return False


def _upright(img: Image.Image) -> Image.Image:
    """Apply EXIF orientation; a malformed EXIF block leaves the image as stored."""
    try:
        return ImageOps.exif_transpose(img)
    except Exception:  # noqa: BLE001 - broken metadata must not make a readable image unreadable
        return img.copy()


def _composite(rgb: np.ndarray, a: np.ndarray | None, alpha: AlphaMode) -> np.ndarray:
    """(H, W, 3) float colours and (H, W) float alpha in [0, 1] -> (H, W, 3) uint8."""
    if a is not None and alpha == "white":
        rgb = rgb * a[..., None] + 255.0 * (1.0 - a[..., None])
    return np.ascontiguousarray(np.clip(np.rint(rgb), 0, 255).astype(np.uint8))


def _wide_to_8bit(values: np.ndarray, *, is_float: bool) -> np.ndarray:
    """32-bit integer or float pixel values -> float values in [0, 255] (rules in :func:`load_image`)."""
    values = values.astype(np.float64)
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        raise ImageReadError("the image has no finite pixel values")
    lo, hi = float(finite.min()), float(finite.max())
    values = np.nan_to_num(values, nan=lo, posinf=hi, neginf=lo)
    if is_float and lo >= 0 and hi <= 1.0:
        return values * 255.0
    if lo >= 0 and hi <= 255:
        return values
    if lo >= 0 and hi <= 65535:
        return values / 257.0
    return (values - lo) * (255.0 / max(hi - lo, 1e-12))


def _from_pil(img: Image.Image, *, alpha: AlphaMode) -> np.ndarray:
    mode = img.mode
    if mode == "RGB":
        return np.array(img, dtype=np.uint8)
    if mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
        mode = img.mode
    if mode in ("PA", "La", "RGBa"):
        img = img.convert("RGBA")
        mode = "RGBA"
    if mode in ("RGBA", "LA"):
        arr = np.asarray(img, dtype=np.float64)
        colour = arr[..., :3] if mode == "RGBA" else np.repeat(arr[..., :1], 3, axis=-1)
        return _composite(colour, arr[..., -1] / 255.0, alpha)
    if mode == "L":
        return np.ascontiguousarray(np.repeat(np.asarray(img, dtype=np.uint8)[..., None], 3, axis=-1))
    if mode == "1":
        return _from_pil(img.convert("L"), alpha=alpha)
    if mode.startswith("I;16") or mode in ("I", "F"):
        arr = np.asarray(img)
        if mode.startswith("I;16"):
            gray = arr.astype(np.float64) / 257.0  # 65535 -> 255 exactly
        else:
            gray = _wide_to_8bit(arr, is_float=mode == "F")
        return _composite(np.repeat(gray[..., None], 3, axis=-1), None, alpha)
    try:
        return np.array(img.convert("RGB"), dtype=np.uint8)
    except (ValueError, OSError) as err:
        raise ImageReadError(f"unsupported image mode {mode!r}: {err}") from err


def _from_array(arr: np.ndarray, *, max_pixels: int, alpha: AlphaMode) -> np.ndarray:
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[-1] not in (1, 2, 3, 4)):
        raise ImageReadError(
            f"expected an image array of shape (H, W), (H, W, 1), (H, W, 2), (H, W, 3) or (H, W, 4); got "
            f"{tuple(arr.shape)}"
        )
    if arr.size == 0:
        raise ImageReadError(f"the image array is empty (shape {tuple(arr.shape)})")
    _check_pixels(arr.shape[1], arr.shape[0], max_pixels)
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.dtype == np.uint8:
        values = arr.astype(np.float64)
    elif arr.dtype == np.bool_:
        values = arr.astype(np.float64) * 255.0
    elif arr.dtype == np.uint16:
        values = arr.astype(np.float64) / 257.0
    elif np.issubdtype(arr.dtype, np.integer):
        lo, hi = int(arr.min()), int(arr.max())
        if lo < 0 or hi > 255:
            raise ImageReadError(
                f"integer image arrays of type {arr.dtype} must hold values in [0, 255]; got [{lo}, {hi}]"
            )
        values = arr.astype(np.float64)
    elif np.issubdtype(arr.dtype, np.floating):
        if not np.all(np.isfinite(arr)):
            raise ImageReadError("the float image array contains NaN or infinite values")
        lo, hi = float(arr.min()), float(arr.max())
        tol = 1e-6
        if lo < -tol or hi > 1.0 + tol:
            raise ImageReadError(
                f"float image arrays must hold values in [0, 1]; got [{lo:.4g}, {hi:.4g}] "
                "(divide 8-bit values by 255 first)"
            )
        values = np.clip(arr.astype(np.float64), 0.0, 1.0) * 255.0
    else:
        raise ImageReadError(f"unsupported image array type {arr.dtype}")
    channels = values.shape[-1]
    if channels in (1, 2):
        colour = np.repeat(values[..., :1], 3, axis=-1)
    else:
        colour = values[..., :3]
    a = values[..., -1] / 255.0 if channels in (2, 4) else None
    return _composite(colour, a, alpha)
