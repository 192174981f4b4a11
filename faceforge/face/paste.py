"""Pasting a processed face crop back into the photo it was aligned from.

The crop is warped back with the inverse of the alignment similarity and blended through a soft mask:
1 in the middle of the crop, falling smoothly to 0 over a band along the crop's edges (eroded inwards a
little first), so no seam shows where the model's output meets the photo. Pixels the crop does not cover
are left exactly as they were. The blend runs over strips of rows of the covered rectangle, so pasting a
face that fills much of a large photo needs only strip-sized temporaries.
"""

from __future__ import annotations

import numpy as np

from faceforge.face.align import apply_affine, invert_affine, rescale_matrix, warp_affine
from faceforge.face.io import STRIP_PIXELS

DEFAULT_FEATHER = 0.1
DEFAULT_ERODE = 0.02


def paste_back(
    photo: np.ndarray,
    face: np.ndarray,
    matrix: np.ndarray,
    *,
    crop_size: int | None = None,
    feather: float = DEFAULT_FEATHER,
    erode: float = DEFAULT_ERODE,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Blend a (processed) face crop back into the photo.

    Args:
        photo: (H, W, 3) uint8 RGB photo the face was aligned from (not modified unless it is ``out``).
        face: (S', S', 3) uint8 crop to paste, e.g. a model's restored face.
        matrix: (2, 3) photo -> crop similarity from the alignment (:class:`~faceforge.face.align.AlignedFace`
            ``.matrix``).
        crop_size: side S of the crop the alignment produced; default ``S'``. When the crop to paste has a
            different size (a 128 restoration of a face aligned at 16), the matrix is rescaled by ``S' / S``.
        feather: width of the soft edge as a fraction of the crop side (0 gives a hard edge).
        erode: how far the mask is pulled in from the crop's edges, as a fraction of the crop side.
        out: (H, W, 3) uint8 array to write the result into; ``photo`` itself pastes in place, without
            copying the photo (e.g. to paste several faces into one large photo). Default: a new array.

    Returns:
        (H, W, 3) uint8: ``out``, or a new photo, with the face blended in. Pixels outside the warped crop are
        unchanged.
    """
    photo = np.asarray(photo)
    face = np.asarray(face)
    if photo.ndim != 3 or photo.shape[2] != 3 or photo.dtype != np.uint8:
        raise ValueError(f"photo must be (H, W, 3) uint8, got {photo.shape} {photo.dtype}")
    if face.ndim != 3 or face.shape[2] != 3 or face.shape[0] != face.shape[1] or face.dtype != np.uint8:
        raise ValueError(f"face must be a square (S, S, 3) uint8 crop, got {face.shape} {face.dtype}")
    if feather < 0 or erode < 0:
        raise ValueError(f"feather and erode must be non-negative, got {feather}, {erode}")
    if out is None:
        out = photo.copy()
    elif not isinstance(out, np.ndarray) or out.shape != photo.shape or out.dtype != np.uint8:
        raise ValueError(f"out must be a {photo.shape} uint8 array like the photo")
    elif out is not photo:
        np.copyto(out, photo)
    side = face.shape[0]
    to_crop = np.asarray(matrix, dtype=np.float64)
    if crop_size is not None and crop_size != side:
        to_crop = rescale_matrix(to_crop, side / crop_size)

    # The photo rectangle the crop covers.
    h, w = photo.shape[:2]
    edges = np.array([[-0.5, -0.5], [side - 0.5, -0.5], [-0.5, side - 0.5], [side - 0.5, side - 0.5]])
    covered = apply_affine(invert_affine(to_crop), edges)
    x0, y0 = np.maximum(np.floor(covered.min(axis=0)).astype(int), 0).tolist()
    x1, y1 = np.minimum(np.ceil(covered.max(axis=0)).astype(int) + 1, (w, h)).tolist()
    if x0 >= x1 or y0 >= y1:
        return out
    rows = max(1, STRIP_PIXELS // 4 // (x1 - x0))  # the blend's float64 temporaries take ~200 bytes a pixel
    for top in range(y0, y1, rows):
        _blend_rows(out, face, to_crop, (x0, top, x1, min(top + rows, y1)), feather=feather, erode=erode)
    return out


def _blend_rows(
    out: np.ndarray,
    face: np.ndarray,
    to_crop: np.ndarray,
    rect: tuple[int, int, int, int],
    *,
    feather: float,
    erode: float,
) -> None:
    """Blend the crop into the photo rectangle ``rect = (x0, y0, x1, y1)`` of ``out``, in place."""
    x0, y0, x1, y1 = rect
    side = face.shape[0]
    # Crop coordinates of every photo pixel in the rectangle, and the mask there.
    ys, xs = np.mgrid[y0:y1, x0:x1]
    uv = apply_affine(to_crop, np.stack([xs, ys], axis=-1).astype(np.float64))
    mask = soft_square_mask(uv, side, feather=feather * side, erode=erode * side)
    if not np.any(mask > 0):
        return

    # Warp the crop into the rectangle: photo-rectangle -> crop coordinates is ``to_crop`` after shifting.
    shift = np.array([[1.0, 0.0, x0], [0.0, 1.0, y0]])
    rect_to_crop = to_crop @ np.vstack([shift, [0.0, 0.0, 1.0]])
    warped = warp_affine(face, invert_affine(rect_to_crop), (x1 - x0, y1 - y0), border="edge")

    region = out[y0:y1, x0:x1].astype(np.float64)
    m = mask[..., None]
    blended = region * (1.0 - m) + warped.astype(np.float64) * m
    out[y0:y1, x0:x1] = np.clip(np.rint(blended), 0, 255).astype(np.uint8)


def soft_square_mask(uv: np.ndarray, side: int, *, feather: float, erode: float) -> np.ndarray:
    """Blend weight of crop points: 1 inside, a smoothstep ramp to 0 near the crop's edges.

    Args:
        uv: (..., 2) crop pixel coordinates (pixel centres at integers).
        side: crop side S.
        feather: ramp width in crop pixels.
        erode: distance in crop pixels from the crop edge at which the ramp reaches 0.

    Returns:
        (...) float64 in [0, 1]; 0 outside the crop.
    """
    uv = np.asarray(uv, dtype=np.float64)
    # Distance to the nearest crop edge (edges at -0.5 and S - 0.5); negative outside the crop.
    dist = np.minimum(uv + 0.5, side - 0.5 - uv).min(axis=-1)
    if feather <= 0:
        return (dist > erode).astype(np.float64)
    t = np.clip((dist - erode) / feather, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)
