"""Geometry of FaceForge-Synth faces: identity shape, FACS action-unit deformation and head pose.

Everything is in the coordinates of the canonical 128x128 crop (``faceforge.face.template``): pixel centres
at integers, x to the right, y down. A face is the template's 68 landmarks plus a few extra points
(head outline, ears, neck), all deformed together and then rotated in 3-D by the head pose and projected
orthographically, so the returned landmarks are exactly the points the renderer draws around.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from faceforge.face.aus import FACEFORGE_AUS
from faceforge.face.landmarks import FLIP_INDEX
from faceforge.face.template import CENTRE, _template_128

TEMPLATE = _template_128()
AU_POSITION = {au: i for i, au in enumerate(FACEFORGE_AUS)}
_LEFT = TEMPLATE[:, 0] < CENTRE - 1e-6  # image-left points (the subject's right side)
_RIGHT = TEMPLATE[:, 0] > CENTRE + 1e-6
_MID = ~(_LEFT | _RIGHT)

# Depth (towards the camera, pixels at 128) of each landmark, for the head-pose rotation.
_DEPTH = np.zeros(68)
_DEPTH[0:17] = -34 * np.cos(np.linspace(-np.pi / 2, np.pi / 2, 17)) ** 1.5 + 4  # jaw sides recede, chin +4
_DEPTH[17:27] = [-12, -4, 2, 5, 6, 6, 5, 2, -4, -12]  # brows
_DEPTH[27:31] = [6, 12, 18, 24]  # nose bridge to tip
_DEPTH[31:36] = [10, 15, 17, 15, 10]  # nostrils
_DEPTH[36:48] = [-6, -1, 0, 0, 0, -1, 0, 0, -1, -6, -1, 0]  # eyes
_DEPTH[48:68] = [4, 9, 12, 13, 12, 9, 4, 9, 12, 13, 12, 9, 5, 10, 11, 10, 5, 10, 11, 10]  # lips

# Head outline above the jaw (for the forehead / skull): the upper half of an ellipse joining jaw points 16 -> 0.
_HEAD_ANGLES = np.linspace(0.0, -np.pi, 15)[1:-1]
N_HEAD = len(_HEAD_ANGLES)


def _mirror_displacements(left: dict[int, tuple[float, float]]) -> np.ndarray:
    """(68, 2) displacements from the image-left (and midline) points; the right side is mirrored."""
    disp = np.zeros((68, 2))
    for i, (dx, dy) in left.items():
        disp[i] = (dx, dy)
        j = FLIP_INDEX[i]
        if j != i:
            disp[j] = (-dx, dy)
    return disp


# FACS deformations at intensity 5 (level E), image-left side given, mirrored to the right.
# Pixel units at 128x128 for an average face. AU43 (eyes closed) is applied separately: it moves the upper
# lids onto the lower lids, whatever AU5/AU7 did to them.
_AU_LEFT: dict[int, dict[int, tuple[float, float]]] = {
    # AU1 inner brow raiser (frontalis, pars medialis): inner brows up.
    1: {21: (0.4, -6.5), 20: (0.0, -5.0), 19: (0.0, -3.0), 18: (0.0, -1.4), 17: (0.0, -0.4)},
    # AU2 outer brow raiser (frontalis, pars lateralis): outer brows up, upper lid slightly exposed.
    2: {17: (-0.6, -6.5), 18: (0.0, -6.0), 19: (0.0, -4.0), 20: (0.0, -2.0), 21: (0.0, -0.6), 37: (0.0, -0.4)},
    # AU4 brow lowerer (corrugator, depressor supercilii): brows down and drawn together.
    4: {17: (0.5, 1.2), 18: (1.0, 2.2), 19: (1.8, 3.4), 20: (2.8, 5.0), 21: (3.6, 6.4), 37: (0.0, 0.6),
        38: (0.0, 0.8)},  # the inner ends drop most: the brows slant into a V
    # AU5 upper lid raiser (levator palpebrae superioris): upper lids up, more sclera above the iris.
    5: {37: (0.0, -3.4), 38: (0.0, -3.4), 36: (-0.3, -0.4), 39: (0.0, -0.2)},
    # AU6 cheek raiser (orbicularis oculi, pars orbitalis): cheeks up, lower lids pushed up, crow's feet.
    6: {40: (0.0, -1.9), 41: (0.0, -2.2), 36: (0.3, -0.9), 37: (0.0, -0.4), 17: (0.0, 0.9), 48: (0.0, -0.8),
        1: (-0.3, -0.8), 2: (-0.4, -1.0)},
    # AU7 lid tightener (orbicularis oculi, pars palpebralis): lower lids up and straightened.
    7: {40: (0.0, -2.4), 41: (0.0, -2.4), 37: (0.0, 1.0), 38: (0.0, 1.0), 36: (0.3, 0.0), 39: (-0.3, 0.0)},
    # AU9 nose wrinkler (levator labii superioris alaeque nasi): nose wings and upper lip up, brows down.
    9: {31: (0.5, -3.2), 32: (0.2, -2.6), 33: (0.0, -2.4), 28: (0.0, -1.0), 29: (0.0, -1.6), 30: (0.0, -1.8),
        49: (0.0, -2.0), 50: (0.0, -2.2), 51: (0.0, -1.8), 61: (0.0, -1.4), 62: (0.0, -1.2),
        21: (0.8, 2.6), 20: (0.5, 1.6), 40: (0.0, -1.0), 41: (0.0, -1.0)},
    # AU10 upper lip raiser (levator labii superioris): upper lip up, upper teeth show.
    10: {49: (0.0, -3.6), 50: (0.0, -4.2), 51: (0.0, -4.2), 61: (0.0, -3.8), 62: (0.0, -3.9), 48: (0.0, -1.0),
         60: (0.0, -1.6), 31: (0.0, -1.0), 32: (0.0, -0.8), 33: (0.0, -0.6)},
    # AU12 lip corner puller (zygomaticus major): lip corners up and out, cheeks raised.
    12: {48: (-6.5, -7.5), 60: (-6.0, -6.6), 49: (-3.2, -3.6), 59: (-3.8, -5.0), 61: (-1.6, -1.8),
         67: (-2.2, -2.6), 58: (-1.2, -2.0), 50: (-1.0, -0.8), 2: (-0.5, -1.0), 3: (-0.5, -1.0),
         40: (0.0, -0.8), 41: (0.0, -0.8)},  # the lower lip's middle stays: the mouth curves into a U
    # AU14 dimpler (buccinator): lip corners tightened inwards, dimples beside them.
    14: {48: (1.6, -0.6), 60: (1.5, -0.5), 49: (0.5, 0.0), 59: (0.5, 0.0)},
    # AU15 lip corner depressor (depressor anguli oris): lip corners down.
    15: {48: (-0.5, 5.0), 60: (-0.3, 4.2), 49: (0.0, 1.5), 59: (0.0, 2.0), 58: (0.0, 1.0), 61: (0.0, 1.0),
         67: (0.0, 1.5)},
    # AU17 chin raiser (mentalis): chin boss and lower lip pushed up.
    17: {57: (0.0, -3.0), 58: (0.0, -2.7), 59: (0.0, -1.5), 66: (0.0, -1.0), 67: (0.0, -0.9),
         8: (0.0, -2.5), 7: (0.0, -2.0), 6: (0.0, -1.0)},
    # AU20 lip stretcher (risorius): lip corners pulled straight out, lips flattened.
    20: {48: (-6.0, 1.5), 60: (-5.5, 1.2), 49: (-3.0, 0.3), 59: (-3.0, 0.6), 61: (-1.5, 0.3), 67: (-1.5, 0.3),
         50: (-0.8, 0.3), 58: (-0.8, 0.0), 51: (0.0, 0.8), 57: (0.0, -0.8)},
    # AU23 lip tightener (orbicularis oris): red of the lips narrowed, mouth tightened.
    23: {49: (0.3, 1.2), 50: (0.0, 1.5), 51: (0.0, 1.5), 59: (0.3, -1.0), 58: (0.0, -1.5), 57: (0.0, -1.5),
         48: (1.0, 0.0), 60: (1.0, 0.0)},
    # AU24 lip presser (orbicularis oris): lips pressed together, thinned, bulge below.
    24: {50: (0.0, 2.2), 51: (0.0, 2.2), 49: (0.3, 1.5), 58: (0.0, -2.2), 57: (0.0, -2.2), 59: (0.3, -1.5),
         48: (1.2, 0.0), 60: (1.0, 0.0)},
    # AU25 lips part (depressor labii / relaxed mentalis): lips apart, teeth show.
    25: {61: (0.0, -0.8), 62: (0.0, -1.0), 67: (0.0, 2.8), 66: (0.0, 3.2), 58: (0.0, 2.2), 57: (0.0, 2.5),
         59: (0.0, 1.5), 60: (0.3, 0.2)},
    # AU26 jaw drop (masseter relaxed, pterygoids): mandible lowered, mouth open, face longer.
    26: {66: (0.0, 8.5), 67: (0.0, 8.0), 57: (0.0, 9.0), 58: (0.0, 8.5), 59: (0.0, 6.5), 48: (0.8, 3.5),
         60: (0.8, 3.5), 8: (0.0, 9.0), 7: (0.0, 8.5), 6: (0.3, 7.0), 5: (0.6, 5.0), 4: (0.6, 3.0),
         3: (0.4, 1.5), 2: (0.2, 0.5)},
}
AU_DISPLACEMENT: dict[int, np.ndarray] = {au: _mirror_displacements(d) for au, d in _AU_LEFT.items()}
AU_DISPLACEMENT[43] = np.zeros((68, 2))  # applied as lid closure in deform()

# Upper-lid points and the lower-lid points they close onto (AU43).
_LID_PAIRS = np.array([[37, 41], [38, 40], [43, 47], [44, 46]])


@dataclass(frozen=True)
class ShapeParams:
    """Identity-specific shape, all zero-mean so the mean neutral face is the template."""

    face_width: float = 1.0  # multiplies the jaw's horizontal extent
    face_length: float = 1.0  # multiplies the jaw's vertical extent below eye level
    eye_size: float = 1.0
    eye_spacing: float = 0.0  # px each eye moves outwards
    eye_height: float = 0.0  # px, down
    eye_tilt: float = 0.0  # px outer corner up
    brow_height: float = 0.0  # px, up
    brow_arch: float = 0.0  # px, middle points up
    nose_length: float = 1.0
    nose_width: float = 1.0
    mouth_width: float = 1.0
    mouth_height: float = 0.0  # px, down
    upper_lip: float = 1.0  # lip thickness multipliers
    lower_lip: float = 1.0
    head_height: float = 60.0  # px from ear level to the skull top
    scale: float = 1.0  # overall AU displacement scale (bigger faces move more)


def identity_landmarks(p: ShapeParams) -> np.ndarray:
    """(68, 2) neutral frontal landmarks of one identity."""
    lm = TEMPLATE.copy()
    cx = CENTRE
    # Jaw: widen/lengthen about the face centre at ear level (y = 50).
    lm[0:17, 0] = cx + (lm[0:17, 0] - cx) * p.face_width
    lm[0:17, 1] = 50 + (lm[0:17, 1] - 50) * p.face_length
    # Eyes: size about each eye centre, then spacing / height / tilt.
    for idx, side in ((slice(36, 42), -1), (slice(42, 48), 1)):
        centre = lm[idx].mean(0)
        lm[idx] = centre + (lm[idx] - centre) * p.eye_size
        lm[idx, 0] += side * p.eye_spacing
        lm[idx, 1] += p.eye_height
        outer = 36 if side < 0 else 45
        lm[outer, 1] -= p.eye_tilt
    # Brows: height and arch.
    lm[17:27, 1] -= p.brow_height
    lm[[18, 19, 24, 25], 1] -= p.brow_arch
    lm[[20, 23], 1] -= 0.5 * p.brow_arch
    # Nose: length about the bridge top (y = 53); the base follows the tip.
    tip_shift = (lm[30, 1] - 53) * (p.nose_length - 1)
    lm[28:31, 1] = 53 + (lm[28:31, 1] - 53) * p.nose_length
    lm[31:36, 1] += tip_shift
    lm[31:36, 0] = cx + (lm[31:36, 0] - cx) * p.nose_width
    # Mouth: width, height, lip thickness (outer lip points about the inner line).
    lm[48:68, 0] = cx + (lm[48:68, 0] - cx) * p.mouth_width
    lm[49:54, 1] = 97.6 + (lm[49:54, 1] - 97.6) * p.upper_lip
    lm[55:60, 1] = 98.6 + (lm[55:60, 1] - 98.6) * p.lower_lip
    lm[48:68, 1] += p.mouth_height + tip_shift * 0.5
    return lm


def deform(
    neutral: np.ndarray, au_left: np.ndarray, au_right: np.ndarray, *, scale: float = 1.0
) -> np.ndarray:
    """Apply AU intensities (0-5, one vector per face side, ordered as FACEFORGE_AUS) to neutral landmarks.

    Args:
        neutral: (68, 2) neutral landmarks.
        au_left: (n_aus,) intensities on the image-left side (the subject's right).
        au_right: (n_aus,) intensities on the image-right side.
        scale: multiplies every displacement (identity size).

    Returns:
        (68, 2) deformed landmarks.
    """
    side_weights = (_LEFT + 0.5 * _MID)[:, None], (_RIGHT + 0.5 * _MID)[:, None]
    lm = neutral.copy()
    for au, disp in AU_DISPLACEMENT.items():
        k = AU_POSITION[au]
        a, b = au_left[k], au_right[k]
        if a or b:
            lm += scale * disp * (a / 5.0 * side_weights[0] + b / 5.0 * side_weights[1])
    # Lips never cross: the lower inner lip stays at or below the upper inner lip.
    upper_inner, lower_inner = np.array([61, 62, 63]), np.array([67, 66, 65])
    lm[lower_inner, 1] = np.maximum(lm[lower_inner, 1], lm[upper_inner, 1])
    # AU43 eyes closed: upper lids travel onto the lower lids.
    k43 = AU_POSITION[43]
    for (up, low), closure in zip(_LID_PAIRS, (au_left[k43], au_left[k43], au_right[k43], au_right[k43])):
        if closure:
            lm[up] += (lm[low] - lm[up]) * min(closure / 5.0, 1.0)
    # AU5/AU7 must not invert the lids either.
    for up, low in _LID_PAIRS:
        lm[low, 1] = max(lm[low, 1], lm[up, 1])
    return lm


def head_outline(lm: np.ndarray, head_height: float) -> np.ndarray:
    """(N_HEAD, 2) points of the skull outline from above jaw point 16 over the top to above jaw point 0."""
    cx, cy = (lm[0, 0] + lm[16, 0]) / 2, (lm[0, 1] + lm[16, 1]) / 2
    half_width = (lm[16, 0] - lm[0, 0]) / 2 * 1.02
    c, s = np.cos(_HEAD_ANGLES), np.sin(_HEAD_ANGLES)
    return np.stack([cx + half_width * np.sign(c) * np.abs(c) ** 0.8, cy + head_height * s], axis=1)


def rotation_matrix(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """3x3 rotation for head pose in degrees: yaw about the vertical axis (positive turns the face to the
    image right), pitch about the horizontal axis (positive tilts the chin down), roll in the image plane
    (positive is clockwise on screen)."""
    y, p, r = np.deg2rad([yaw, pitch, roll])
    ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    rx = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
    rz = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
    return rz @ rx @ ry


POSE_CENTRE = np.array([CENTRE, 72.0, -30.0])  # the head rotates about a point inside the skull


def project(points: np.ndarray, depth: np.ndarray, pose: tuple[float, float, float]) -> np.ndarray:
    """Rotate (N, 2) points with depths (N,) by ``pose`` (yaw, pitch, roll degrees), project orthographically."""
    if not any(pose):
        return points.copy()
    p3 = np.concatenate([points, depth[:, None]], axis=1) - POSE_CENTRE
    return (p3 @ rotation_matrix(*pose).T + POSE_CENTRE)[:, :2]


def landmark_depth() -> np.ndarray:
    return _DEPTH
