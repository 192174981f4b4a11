"""faceforge's canonical 68-landmark alignment template.

The template is the mean neutral, frontal landmark layout of the FaceForge-Synth face set at 128x128
(``faceforge.data.synth`` builds every synthetic identity as a zero-mean variation of this layout, and a
test checks that the empirical mean matches it). The photo pipeline aligns real faces onto the same
template with a similarity transform, so real and synthetic faces line up pixel for pixel.

Coordinates are pixels with pixel centres at integers: x in [0, size - 1], left to right; y downwards.
"""

from __future__ import annotations

import functools

import numpy as np

TEMPLATE_SIZE = 128
CENTRE = (TEMPLATE_SIZE - 1) / 2.0  # 63.5, the vertical symmetry axis


def _mirror(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    return [(2 * CENTRE - x, y) for x, y in points]


@functools.lru_cache(maxsize=1)
def _template_128() -> np.ndarray:
    # Jaw 0..16: the lower half of a superellipse (exponent 2.6, squarer than an ellipse) from ear level
    # on the image left, through the chin (8), to ear level on the image right.
    cx, cy, ax, by, n = CENTRE, 50.0, 52.0, 73.0, 2.6
    theta = np.pi - np.arange(17) * np.pi / 16
    c, s = np.cos(theta), np.sin(theta)
    taper = 1 - 0.16 * np.clip(s, 0, 1) ** 3  # the lower jaw narrows towards the chin
    jaw = np.stack(
        [cx + ax * taper * np.sign(c) * np.abs(c) ** (2 / n), cy + by * np.sign(s) * np.abs(s) ** (2 / n)], axis=1
    )
    brow_l = [(23.0, 44.0), (30.5, 39.0), (39.0, 37.0), (47.5, 37.8), (55.5, 40.2)]  # outer -> inner
    brow_r = _mirror(brow_l[::-1])  # inner -> outer
    nose_bridge = [(CENTRE, 53.0), (CENTRE, 61.0), (CENTRE, 69.0), (CENTRE, 77.0)]
    nose_base = [(54.5, 81.0), (58.5, 83.2), (CENTRE, 84.3)]
    nose_base = nose_base + _mirror(nose_base[:2][::-1])
    eye_l = [(32.0, 54.0), (37.5, 50.8), (45.0, 50.6), (51.5, 54.2), (45.0, 57.2), (37.5, 57.2)]
    # Right eye in dlib order: inner corner 42, upper 43-44, outer corner 45, lower 46-47.
    mirrored = _mirror(eye_l)
    eye_r = [mirrored[3], mirrored[2], mirrored[1], mirrored[0], mirrored[5], mirrored[4]]
    upper_l = [(46.5, 98.0), (52.0, 94.6), (58.2, 92.6), (CENTRE, 93.6)]
    upper = upper_l + _mirror(upper_l[:3][::-1])  # 48..54
    lower_r = [(75.0, 102.6), (69.5, 105.2), (CENTRE, 105.8)]  # 55..57
    lower = lower_r + _mirror(lower_r[:2][::-1])  # 55..59
    inner_upper_l = [(49.5, 98.0), (57.5, 97.4), (CENTRE, 97.8)]  # 60..62
    inner_upper = inner_upper_l + _mirror(inner_upper_l[:2][::-1])  # 60..64
    inner_lower = [(69.5, 97.4), (CENTRE, 97.8), (57.5, 97.4)]  # 65..67: closed lips at rest
    pts = np.concatenate(
        [
            jaw,
            np.array(brow_l + brow_r + nose_bridge + nose_base + eye_l + eye_r),
            np.array(upper + lower + inner_upper + inner_lower),
        ]
    )
    assert pts.shape == (68, 2)
    return pts


def canonical_landmarks(size: int = TEMPLATE_SIZE, *, margin: float = 0.0) -> np.ndarray:
    """The canonical (68, 2) template for a ``size`` x ``size`` face crop.

    Args:
        size: side of the square crop the face is aligned into (128 is the native size; 100 gives RAF-DB's
            aligned crops at the same framing).
        margin: extra border in pixels of the output, on every side, around the ``size`` crop: the returned
            points then describe a ``size + 2 * margin`` image with the face at the same scale (e.g. 144
            from 128 with margin 8, for random 128 crops).

    Returns:
        float64 array (68, 2) of x, y pixel coordinates (pixel centres at integers).
    """
    if size <= 0:
        raise ValueError(f"size must be positive, got {size}")
    scale = size / TEMPLATE_SIZE
    return (_template_128() + 0.5) * scale - 0.5 + margin


CANONICAL_TEMPLATE_128: np.ndarray = canonical_landmarks(128)
CANONICAL_TEMPLATE_128.setflags(write=False)
