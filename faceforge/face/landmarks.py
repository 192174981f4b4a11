"""The 68-point landmark layout (iBUG 300-W / dlib order), 0-based.

Left and right are *image* left and right (the subject's right side is on the image left), as in dlib.
"""

from __future__ import annotations

import numpy as np

JAW = tuple(range(0, 17))
BROW_L = tuple(range(17, 22))  # image-left brow, outer -> inner
BROW_R = tuple(range(22, 27))  # image-right brow, inner -> outer
NOSE_BRIDGE = tuple(range(27, 31))  # top -> tip (30)
NOSE_BASE = tuple(range(31, 36))  # image-left nostril wing -> image-right
EYE_L = tuple(range(36, 42))  # 36 outer corner, 37-38 upper lid, 39 inner corner, 40-41 lower lid
EYE_R = tuple(range(42, 48))  # 42 inner corner, 43-44 upper lid, 45 outer corner, 46-47 lower lid
LIPS_OUTER = tuple(range(48, 60))  # 48 left corner, 51 top centre, 54 right corner, 57 bottom centre
LIPS_INNER = tuple(range(60, 68))  # 60 left corner, 62 top centre, 64 right corner, 66 bottom centre

GROUPS: dict[str, tuple[int, ...]] = {
    "jaw": JAW,
    "brow_l": BROW_L,
    "brow_r": BROW_R,
    "nose_bridge": NOSE_BRIDGE,
    "nose_base": NOSE_BASE,
    "eye_l": EYE_L,
    "eye_r": EYE_R,
    "lips_outer": LIPS_OUTER,
    "lips_inner": LIPS_INNER,
}

# Index of each point's mirror image under a horizontal flip (used by flip augmentation).
FLIP_INDEX: tuple[int, ...] = tuple(
    [16 - i for i in range(17)]
    + [26 - (i - 17) for i in range(17, 27)]
    + [27, 28, 29, 30]
    + [35 - (i - 31) for i in range(31, 36)]
    + [45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40]
    + [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55]
    + [64, 63, 62, 61, 60, 67, 66, 65]
)


def flip_landmarks(landmarks: np.ndarray, width: int) -> np.ndarray:
    """Mirror (..., 68, 2) pixel landmarks of an image ``width`` pixels wide and reorder them.

    Pixel centres are at integer coordinates, so x maps to ``width - 1 - x``.
    """
    out = np.asarray(landmarks, dtype=np.float64)[..., FLIP_INDEX, :].copy()
    out[..., 0] = (width - 1) - out[..., 0]
    return out


def eye_centres(landmarks: np.ndarray) -> np.ndarray:
    """(..., 2, 2): the image-left and image-right eye centres (mean of each eye's six points)."""
    lm = np.asarray(landmarks, dtype=np.float64)
    return np.stack([lm[..., EYE_L, :].mean(-2), lm[..., EYE_R, :].mean(-2)], axis=-2)
