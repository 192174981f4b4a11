"""Reading photos into (H, W, 3) uint8 RGB arrays, and the working-size downscale used for detection.

Every entry point of the photo pipeline (app, CLI, dataset preparation) reads images through
:func:`load_image`, so they all agree on orientation (EXIF), colour handling and size limits, and all
report unreadable input with the same :class:`~faceforge.errors.ImageReadError` messages.

Large photos are decoded once and kept in uint8: every conversion (alpha compositing, 16-bit, float and
wide-integer pixels, palette and CMYK expansion, EXIF rotation) runs over strips of rows written straight
into the one output array, so reading a photo takes about its uint8 size on top of the decoder's own copy.

Coordinates follow faceforge's convention: pixel centres at integers, x to the right, y downwards.
"""

from __future__ import annotations

import io
import math
import os
import re
import warnings
from collections.abc import Iterator
from typing import BinaryIO, Literal

import numpy as np
from PIL import Image, UnidentifiedImageError

from faceforge.errors import ImageReadError, ImageTooLargeError

DEFAULT_MAX_PIXELS = 50_000_000
"""Hard limit on width * height (50 MP): larger inputs raise :class:`ImageTooLargeError` before decoding."""

DEFAULT_WORKING_SIDE = 2048
"""Images whose long side exceeds this are downscaled for detection (see :func:`to_working_size`)."""

STRIP_PIXELS = 1 << 18
"""Pixels per strip of rows in the chunked conversions (bounds their temporary arrays to a few MB)."""

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
        (H, W, 3) uint8 RGB array (a new, C-contiguous array). Besides this array, reading allocates only
        the decoder's own copy of the pixels and strip-sized temporaries (no full-size float copy).

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
        return _from_pil(src, alpha=alpha, orientation=_orientation(src))
    return _open_and_decode(src, max_pixels=max_pixels, alpha=alpha)


def as_photo(image: ImageSource, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """``image`` itself when it already is an (H, W, 3) uint8 array, else :func:`load_image` of it.

    The pipeline's entry points take either a decoded photo or anything :func:`load_image` reads; a decoded
    photo is used as it is (no copy, unless it is not C-contiguous), after the same pixel-limit check.

    Args:
        image: (H, W, 3) uint8 RGB array, or anything :func:`load_image` reads.
        max_pixels: hard limit on width * height.

    Returns:
        (H, W, 3) uint8 C-contiguous RGB array; ``image`` itself when it already was one.

    Raises:
        ImageReadError, ImageTooLargeError: as :func:`load_image`.
    """
    if isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3:
        if image.size == 0:
            raise ImageReadError(f"the image array is empty (shape {tuple(image.shape)})")
        _check_pixels(image.shape[1], image.shape[0], max_pixels)
        return np.ascontiguousarray(image)
    return load_image(image, max_pixels=max_pixels)


def to_working_size(image: np.ndarray, *, max_side: int = DEFAULT_WORKING_SIDE) -> tuple[np.ndarray, float]:
    """Downscale ``image`` so its long side is at most ``max_side`` (no-op when it already fits).

    Box filter (PIL ``BOX``), computed over strips of rows so that a large photo is never copied whole. The
    result is that of one PIL resize of the whole image, except that where a box edge falls exactly on an
    input pixel centre, floating-point rounding may give that pixel row to the other box.

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
    box_w, box_h = min(float(w), new_w / scale), min(float(h), new_h / scale)
    step = box_h / new_h  # input rows per output row
    out_rows = max(1, math.floor(STRIP_PIXELS / (w * step)))
    if out_rows >= new_h:
        resized = Image.fromarray(image).resize((new_w, new_h), Image.Resampling.BOX, box=(0.0, 0.0, box_w, box_h))
        return np.asarray(resized), scale
    out = np.empty((new_h, new_w, *image.shape[2:]), np.uint8)
    for j0 in range(0, new_h, out_rows):
        j1 = min(j0 + out_rows, new_h)
        # The box filter of output row j reads input rows around (j + 0.5) * step; two rows of slack.
        a, b = max(0, math.floor(j0 * step) - 2), min(h, math.ceil(j1 * step) + 2)
        strip = Image.fromarray(np.ascontiguousarray(image[a:b]))
        box = (0.0, j0 * step - a, box_w, j1 * step - a)
        out[j0:j1] = np.asarray(strip.resize((new_w, j1 - j0), Image.Resampling.BOX, box=box))
    return out, scale


def from_working_coords(points: np.ndarray, scale: float) -> np.ndarray:
    """Map (..., 2) pixel coordinates from a :func:`to_working_size` image back to the original image."""
    return (np.asarray(points, dtype=np.float64) + 0.5) / scale - 0.5


def _check_pixels(width: int, height: int, max_pixels: int, *, prefix: str = "") -> None:
    if width * height > max_pixels:
        raise ImageTooLargeError(
            f"{prefix}the image is {width}x{height} = {width * height / 1e6:.1f} megapixels, more than the "
            f"limit of {max_pixels / 1e6:.1f} megapixels"
        )


def _strips(height: int, width: int) -> Iterator[tuple[int, int]]:
    """Row ranges ``[y0, y1)`` of about :data:`STRIP_PIXELS` pixels each, covering ``height`` rows."""
    rows = max(1, STRIP_PIXELS // max(1, width))
    for y0 in range(0, height, rows):
        yield y0, min(y0 + rows, height)


def _open_and_decode(src: ImageSource, *, max_pixels: int, alpha: AlphaMode) -> np.ndarray:
    """Open lazily, check the size from the header, then decode and convert to upright RGB uint8."""
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
        fp = io.BytesIO(src)
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
                # Converted while the decoded image is open; closing it frees the decoder's copy.
                return _from_pil(img, alpha=alpha, orientation=_orientation(img))
    except (ImageTooLargeError, ImageReadError):
        raise
    except Image.DecompressionBombError as err:  # refused by PIL from the header, before faceforge's check
        found = re.search(r"\((\d+) pixels\)", str(err))
        size = f"{int(found.group(1)) / 1e6:.1f} megapixels" if found else "too many pixels"
        raise ImageTooLargeError(f"{prefix}the image is {size}, more than the limit of {max_pixels / 1e6:.1f} "
                                 f"megapixels") from err
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


def _orientation(img: Image.Image) -> int:
    """The EXIF orientation (1-8, as :func:`PIL.ImageOps.exif_transpose` reads it); 1 when absent or broken."""
    try:
        value = img.getexif().get(0x0112, 1)  # ExifTags.Base.Orientation
        return value if isinstance(value, int) and 1 <= value <= 8 else 1
    except Exception:  # noqa: BLE001 - broken metadata must not make a readable image unreadable
        return 1


def _stored_view(out: np.ndarray, orientation: int) -> np.ndarray:
    """A view of the upright output in the stored (pre-EXIF) layout: writing stored pixels to it places
    them where :func:`PIL.ImageOps.exif_transpose` would."""
    if orientation == 2:  # FLIP_LEFT_RIGHT
        return out[:, ::-1]
    if orientation == 3:  # ROTATE_180
        return out[::-1, ::-1]
    if orientation == 4:  # FLIP_TOP_BOTTOM
        return out[::-1]
    if orientation == 5:  # TRANSPOSE
        return out.swapaxes(0, 1)
    if orientation == 6:  # ROTATE_270 (upright = stored turned 90 degrees clockwise)
        return np.rot90(out, 1)
    if orientation == 7:  # TRANSVERSE
        return out[::-1, ::-1].swapaxes(0, 1)
    if orientation == 8:  # ROTATE_90 (upright = stored turned 90 degrees anticlockwise)
        return np.rot90(out, -1)
    return out


def _upright_output(height: int, width: int, orientation: int) -> tuple[np.ndarray, np.ndarray]:
    """A new (H', W', 3) uint8 upright array for a stored ``height x width`` image, and its stored view."""
    shape = (width, height, 3) if orientation >= 5 else (height, width, 3)
    out = np.empty(shape, np.uint8)
    return out, _stored_view(out, orientation)


def _composite_into(out: np.ndarray, values: np.ndarray, alpha: AlphaMode) -> None:
    """Write (h, w, C) pixel values in [0, 255] into the (h, w, 3) uint8 ``out``.

    C is 1 (gray), 2 (gray + alpha), 3 (RGB) or 4 (RGBA). uint8 values are composited over white in uint16
    arithmetic, ``round((c * a + 255 * (255 - a)) / 255)``, float values with the same formula in float64;
    both give the same result (the quotient is never a tie).
    """
    channels = values.shape[-1]
    colour = values[..., :1] if channels in (1, 2) else values[..., :3]  # gray broadcasts over RGB
    if channels in (1, 3) or alpha == "drop":
        if values.dtype == np.uint8:
            out[...] = colour
        else:
            out[...] = np.clip(np.rint(colour), 0, 255)
        return
    if values.dtype == np.uint8:
        # (c * a + 255 * (255 - a)) / 255 = 255 - a * (255 - c) / 255; in uint16, t = a * (255 - c) + 127 <= 65152
        # and floor(t / 255) = (t + 1 + (t >> 8)) >> 8 (exact for t < 65535).
        t = np.subtract(255, colour, dtype=np.uint16)
        t *= values[..., -1:]
        t += 127
        t += t >> 8
        t += 1
        t >>= 8
        np.subtract(255, t, out=out, casting="unsafe")
        return
    a = values[..., -1:] / 255.0
    out[...] = np.clip(np.rint(colour * a + 255.0 * (1.0 - a)), 0, 255)


def _wide_range(img: Image.Image) -> tuple[float, float]:
    """Min and max of the finite values of a 32-bit integer or float image (one pass over strips)."""
    lo, hi = math.inf, -math.inf
    for y0, y1 in _strips(img.height, img.width):
        arr = np.asarray(img.crop((0, y0, img.width, y1)))
        finite = arr[np.isfinite(arr)] if arr.dtype.kind == "f" else arr
        if finite.size:
            lo, hi = min(lo, float(finite.min())), max(hi, float(finite.max()))
    if lo > hi:
        raise ImageReadError("the image has no finite pixel values")
    return lo, hi


def _wide_to_8bit(values: np.ndarray, lo: float, hi: float, *, is_float: bool) -> np.ndarray:
    """32-bit integer or float pixel values -> float values in [0, 255] (rules in :func:`load_image`).

    ``lo`` and ``hi`` are the min and max of the finite values of the whole image (:func:`_wide_range`).
    """
    values = np.nan_to_num(values.astype(np.float64), nan=lo, posinf=hi, neginf=lo)
    if is_float and lo >= 0 and hi <= 1.0:
        return values * 255.0
    if lo >= 0 and hi <= 255:
        return values
    if lo >= 0 and hi <= 65535:
        return values / 257.0
    return (values - lo) * (255.0 / max(hi - lo, 1e-12))


def _pil_strip_values(strip: Image.Image, mode: str, wide: tuple[float, float] | None) -> np.ndarray:
    """(h, w, C) pixel values of a strip of a PIL image: uint8, or float64 in [0, 255].

    ``wide`` is the finite (min, max) of the whole image for 32-bit ``I`` and ``F`` images (else the strip's).
    """
    if mode == "P":
        strip = strip.convert("RGBA" if "transparency" in strip.info else "RGB")
    elif mode in ("PA", "La", "RGBa"):
        strip = strip.convert("RGBA")
    elif mode == "1":
        strip = strip.convert("L")
    elif mode.startswith("I;16"):
        return (np.asarray(strip).astype(np.float64) / 257.0)[..., None]  # 65535 -> 255 exactly
    elif mode in ("I", "F"):
        lo, hi = wide if wide is not None else _wide_range(strip)
        return _wide_to_8bit(np.asarray(strip), lo, hi, is_float=mode == "F")[..., None]
    elif mode not in ("RGB", "RGBA", "LA", "L"):
        try:
            strip = strip.convert("RGB")
        except (ValueError, OSError) as err:
            raise ImageReadError(f"unsupported image mode {mode!r}: {err}") from err
    arr = np.asarray(strip, dtype=np.uint8)
    return arr if arr.ndim == 3 else arr[..., None]


def _from_pil(img: Image.Image, *, alpha: AlphaMode, orientation: int = 1) -> np.ndarray:
    """A (loaded) PIL image -> upright (H, W, 3) uint8, converted strip by strip into one output array."""
    mode = img.mode
    width, height = img.size
    wide = _wide_range(img) if mode in ("I", "F") else None
    out, stored = _upright_output(height, width, orientation)
    for y0, y1 in _strips(height, width):
        strip = img if (y0, y1) == (0, height) else img.crop((0, y0, width, y1))
        _composite_into(stored[y0:y1], _pil_strip_values(strip, mode, wide), alpha)
    return out


def _array_strip_values(arr: np.ndarray) -> np.ndarray:
    """(h, w, C) strip of a validated image array -> uint8 or float64 values in [0, 255]."""
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == np.bool_:
        return arr.astype(np.float64) * 255.0
    if arr.dtype == np.uint16:
        return arr.astype(np.float64) / 257.0
    if np.issubdtype(arr.dtype, np.integer):
        return arr.astype(np.float64)
    return np.clip(arr.astype(np.float64), 0.0, 1.0) * 255.0


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
    if arr.dtype == np.uint8 and arr.shape[-1] == 3:
        return np.array(arr, order="C")  # a copy, already in the right form
    height, width = arr.shape[:2]
    if arr.dtype in (np.uint8, np.bool_, np.uint16):
        pass
    elif np.issubdtype(arr.dtype, np.integer):
        lo, hi = int(arr.min()), int(arr.max())
        if lo < 0 or hi > 255:
            raise ImageReadError(
                f"integer image arrays of type {arr.dtype} must hold values in [0, 255]; got [{lo}, {hi}]"
            )
    elif np.issubdtype(arr.dtype, np.floating):
        if not all(np.isfinite(arr[y0:y1]).all() for y0, y1 in _strips(height, width)):
            raise ImageReadError("the float image array contains NaN or infinite values")
        lo, hi = float(arr.min()), float(arr.max())
        tol = 1e-6
        if lo < -tol or hi > 1.0 + tol:
            raise ImageReadError(
                f"float image arrays must hold values in [0, 1]; got [{lo:.4g}, {hi:.4g}] "
                "(divide 8-bit values by 255 first)"
            )
    else:
        raise ImageReadError(f"unsupported image array type {arr.dtype}")
    out = np.empty((height, width, 3), np.uint8)
    for y0, y1 in _strips(height, width):
        _composite_into(out[y0:y1], _array_strip_values(arr[y0:y1]), alpha)
    return out
