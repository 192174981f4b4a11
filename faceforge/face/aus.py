"""Facial action units (FACS): the AU sets faceforge and the papers' datasets use, their metadata, and the
landmark-based AU centres and attention maps.

The attention maps are the ones MPENet (*Face Super-Resolution with Progressive Embedding of Multi-scale Face
Priors*, Zhang and Liu, IJCB 2022, Sec. 3, "AU Detection Branch") multiplies its AU feature
maps with: "we utilize the landmarks estimated in the previous step to generate AU attention maps following
the rules in [36]", [36] being JAA-Net (Shao et al., IJCV 2021), which refines the rules of EAC-Net
(Li et al., 2017):

* every AU has two centres, one per face side (or upper and lower lip for the midline AUs), each a landmark
  (or the mean of a few) moved by a fixed multiple of ``scale``, the distance between the inner eye corners
  (points 39 and 42 of the 68);
* the map value at a pixel is ``max(0, 1 - d * xi / (zeta * l))`` with ``d`` the Manhattan distance in map
  pixels to the nearest centre, ``l`` the map width, ``xi = 0.56`` and ``zeta = 0.14``: the weight is 1 at
  the centre and reaches 0 at a Manhattan distance of ``zeta / xi = 1/4`` of the map width, whatever the
  map size (on JAA-Net's 44x44 maps a slope of 0.091 per pixel, close to EAC-Net's ``1 - 0.095 d``);
* JAA-Net only fills a square of width ``zeta * l`` around each centre; the rest of the map is 0.

The landmark rules of JAA-Net (written for the 49-point layout, translated here to the 68-point one) cover the
twelve BP4D AUs and AU9/25/26 of DISFA. Centres for the other AUs are faceforge's own, picked from where FACS
says the appearance change shows; each rule in ``AU_CENTRE_RULES`` says which.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import torch

from faceforge.face.landmarks import FLIP_INDEX

# Every AU the synthetic face set renders and the AU detectors predict, in this order.
FACEFORGE_AUS: tuple[int, ...] = (1, 2, 4, 5, 6, 7, 9, 10, 12, 14, 15, 17, 20, 23, 24, 25, 26, 43)
BP4D_AUS: tuple[int, ...] = (1, 2, 4, 6, 7, 10, 12, 14, 15, 17, 23, 24)
DISFA_AUS: tuple[int, ...] = (1, 2, 4, 6, 9, 12, 25, 26)
OCCURRENCE_THRESHOLD = 2.0  # intensity >= 2 (FACS level B) counts as present, as the papers binarise DISFA

REGIONS: tuple[str, ...] = ("brows", "eyes", "nose", "cheeks", "mouth", "chin")

# ---------------------------------------------------------------------------------------------------------
# Metadata
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ActionUnit:
    """One FACS action unit.

    Attributes:
        number: the FACS number (12 for AU12).
        name: the FACS name ("Lip corner puller").
        muscles: the muscular basis.
        appearance: one line on what changes in the face.
        region: where the change shows, one of ``REGIONS``.
    """

    number: int
    name: str
    muscles: str
    appearance: str
    region: str

    @property
    def label(self) -> str:
        """``"AU12 Lip corner puller"``."""
        return f"AU{self.number} {self.name}"


def _au(number: int, name: str, muscles: str, appearance: str, region: str) -> tuple[int, ActionUnit]:
    assert region in REGIONS, region
    return number, ActionUnit(number, name, muscles, appearance, region)


# FACS (Ekman, Friesen & Hager, 2002) names and muscular bases.
ACTION_UNITS: dict[int, ActionUnit] = dict(
    [
        _au(1, "Inner brow raiser", "frontalis, pars medialis",
            "raises the inner ends of the brows, wrinkling the centre of the forehead", "brows"),
        _au(2, "Outer brow raiser", "frontalis, pars lateralis",
            "raises the outer ends of the brows into an arch, wrinkling the sides of the forehead", "brows"),
        _au(4, "Brow lowerer", "corrugator supercilii, depressor supercilii, procerus",
            "lowers the brows and draws them together, with vertical furrows between them", "brows"),
        _au(5, "Upper lid raiser", "levator palpebrae superioris",
            "raises the upper lid, widening the eye and showing white above the iris", "eyes"),
        _au(6, "Cheek raiser", "orbicularis oculi, pars orbitalis",
            "lifts the cheeks, bagging the skin below the eyes and adding crow's-feet", "cheeks"),
        _au(7, "Lid tightener", "orbicularis oculi, pars palpebralis",
            "tightens the lids, raising the lower lid and narrowing the eye", "eyes"),
        _au(9, "Nose wrinkler", "levator labii superioris alaeque nasi",
            "wrinkles the sides and bridge of the nose and lifts the nostril wings", "nose"),
        _au(10, "Upper lip raiser", "levator labii superioris",
            "raises the upper lip and deepens the nasolabial furrow", "mouth"),
        _au(12, "Lip corner puller", "zygomaticus major",
            "pulls the lip corners up and back, as in a smile", "mouth"),
        _au(14, "Dimpler", "buccinator",
            "tightens the lip corners and pulls them inwards, forming dimples", "mouth"),
        _au(15, "Lip corner depressor", "depressor anguli oris (triangularis)",
            "pulls the lip corners down", "mouth"),
        _au(16, "Lower lip depressor", "depressor labii inferioris",
            "pulls the lower lip down and slightly out", "mouth"),
        _au(17, "Chin raiser", "mentalis",
            "pushes the chin boss and the lower lip up, wrinkling the chin", "chin"),
        _au(18, "Lip pucker", "incisivii labii superioris and inferioris",
            "pushes the lips forward into a pucker, drawing the corners in", "mouth"),
        _au(20, "Lip stretcher", "risorius with platysma",
            "stretches the lips sideways, flattening and elongating the mouth", "mouth"),
        _au(23, "Lip tightener", "orbicularis oris",
            "tightens the lips, making their red parts thinner", "mouth"),
        _au(24, "Lip pressor", "orbicularis oris",
            "presses the lips together, bulging the skin around them", "mouth"),
        _au(25, "Lips part", "depressor labii inferioris, or relaxation of mentalis or orbicularis oris",
            "parts the lips, showing the teeth or the mouth's inside", "mouth"),
        _au(26, "Jaw drop", "relaxation of masseter, temporalis and internal pterygoid",
            "lets the jaw fall so the mouth opens and the chin moves down", "chin"),
        _au(27, "Mouth stretch", "pterygoids, digastric",
            "pulls the jaw far down, stretching the mouth wide open", "mouth"),
        _au(28, "Lip suck", "orbicularis oris",
            "sucks the lips in between the teeth", "mouth"),
        _au(43, "Eyes closed",
            "relaxation of levator palpebrae superioris; orbicularis oculi, pars palpebralis",
            "the upper lids drop until the eyes are closed", "eyes"),
        _au(45, "Blink",
            "relaxation of levator palpebrae superioris; orbicularis oculi, pars palpebralis",
            "the eyes close and reopen quickly", "eyes"),
    ]
)


def action_unit(number: int) -> ActionUnit:
    """The ``ActionUnit`` of a FACS number; ``ValueError`` for an AU faceforge has no metadata for."""
    try:
        return ACTION_UNITS[int(number)]
    except KeyError:
        raise ValueError(f"unknown action unit AU{number}; known: {sorted(ACTION_UNITS)}") from None


def au_name(number: int) -> str:
    """FACS name of an AU: ``au_name(12) == "Lip corner puller"``."""
    return action_unit(number).name


def au_label(number: int) -> str:
    """Display label of an AU: ``au_label(12) == "AU12 Lip corner puller"``."""
    return action_unit(number).label


def au_index(aus: Sequence[int], subset: Sequence[int]) -> tuple[int, ...]:
    """Positions of the AUs of ``subset`` within ``aus``, in ``subset``'s order.

    ``au_index(FACEFORGE_AUS, BP4D_AUS)`` selects the BP4D columns from faceforge's (..., 18) AU vectors:
    ``y[..., list(BP4D_INDEX)]``.

    Raises:
        ValueError: an AU of ``subset`` is not in ``aus``.
    """
    position = {int(au): i for i, au in enumerate(aus)}
    missing = [au for au in subset if int(au) not in position]
    if missing:
        raise ValueError(f"AUs {missing} are not among {tuple(aus)}")
    return tuple(position[int(au)] for au in subset)


BP4D_INDEX: tuple[int, ...] = au_index(FACEFORGE_AUS, BP4D_AUS)  # (0, 1, 2, 4, 5, 7, 8, 9, 10, 11, 13, 14)
DISFA_INDEX: tuple[int, ...] = au_index(FACEFORGE_AUS, DISFA_AUS)  # (0, 1, 2, 4, 6, 8, 15, 16)

# FACS intensity scoring: 0 (not scored, absent) and the five levels A (trace) to E (maximum).
INTENSITY_LETTERS: tuple[str, ...] = ("", "A", "B", "C", "D", "E")
INTENSITY_NAMES: tuple[str, ...] = ("absent", "trace", "slight", "marked", "severe", "maximum")


def _intensity_level(intensity: float) -> int:
    level = int(np.floor(float(intensity) + 0.5))  # nearest level, halves up (2.5 -> C)
    if not 0 <= level <= 5:
        raise ValueError(f"AU intensity must be within [0, 5], got {intensity}")
    return level


def intensity_letter(intensity: float) -> str:
    """FACS letter of an intensity on the 0-5 scale, rounded to the nearest level: 0 -> "" (absent), 1 -> "A",
    ..., 5 -> "E"; 2.6 -> "C"."""
    return INTENSITY_LETTERS[_intensity_level(intensity)]


def intensity_name(intensity: float) -> str:
    """FACS word for an intensity on the 0-5 scale: "absent", "trace", "slight", "marked", "severe" or
    "maximum"."""
    return INTENSITY_NAMES[_intensity_level(intensity)]


def intensity_from_letter(letter: str) -> int:
    """Level 1-5 of a FACS letter "A"-"E" (case-insensitive); "" or "0" gives 0."""
    key = letter.strip().upper()
    if key in ("", "0"):
        return 0
    if key not in INTENSITY_LETTERS:
        raise ValueError(f"FACS intensity letters are A-E, got {letter!r}")
    return INTENSITY_LETTERS.index(key)


def au_code(number: int, intensity: float | None = None) -> str:
    """FACS code of a scored AU: ``au_code(12, 3) == "AU12C"``, ``au_code(12) == "AU12"``, absent ``""``."""
    action_unit(number)
    if intensity is None:
        return f"AU{number}"
    letter = intensity_letter(intensity)
    return f"AU{number}{letter}" if letter else ""


# ---------------------------------------------------------------------------------------------------------
# AU centres
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CentreRule:
    """Where an AU's two centres sit, in terms of the 68 landmarks.

    Attributes:
        first: landmark indices averaged for the first centre (image-left side, or the upper lip).
        second: landmark indices averaged for the second centre (image-right side, or the lower lip).
        offset: (dx, dy) added to the first centre, in units of ``scale`` (the inner-eye-corner distance);
            y points down, so dy < 0 moves up. The second centre gets (-dx, dy): the mirror image.
        source: "JAA-Net" when the rule is JAA-Net's, "faceforge" when it is faceforge's own choice.
    """

    first: tuple[int, ...]
    second: tuple[int, ...]
    offset: tuple[float, float] = (0.0, 0.0)
    source: str = "JAA-Net"

    @property
    def bilateral(self) -> bool:
        """True when the two centres are the left and right sides (mirror images under a horizontal flip)."""
        return tuple(sorted(FLIP_INDEX[i] for i in self.first)) == tuple(sorted(self.second))


_LIP_CORNERS = CentreRule((48,), (54,))
_LIP_CENTRES = CentreRule((51,), (57,))  # middle of the upper and of the lower lip
_BELOW_LOWER_LIP = CentreRule((58,), (56,), (0.0, 0.5))
_EYE_CENTRES = CentreRule((36, 37, 38, 39, 40, 41), (42, 43, 44, 45, 46, 47), source="faceforge")

# JAA-Net's rules (49-point indices i map to 68-point i + 17 up to the outer lips, and 43.. to 61, 62, 63, 65,
# 66, 67). Offsets: AU1 1/2 scale above the inner brow ends; AU2 1/3 scale above the outer brow; AU4 1/3 scale
# below the middle of the brow; AU6 1 scale below the lower lid; AU7 on the upper lid; AU9 1/2 scale above the
# nostril wings; AU10 on the upper inner lip; AU12/14/15 on the lip corners; AU17 (and DISFA's AU26) 1/2 scale
# below the lower lip; AU23/24 (and DISFA's AU25) on the middle of the upper and lower lips.
AU_CENTRE_RULES: dict[int, CentreRule] = {
    1: CentreRule((21,), (22,), (0.0, -1 / 2)),
    2: CentreRule((18,), (25,), (0.0, -1 / 3)),
    4: CentreRule((19,), (24,), (0.0, 1 / 3)),
    # AU5 (faceforge): the middle of the upper lid, 1/6 scale up, over the lid fold the raised lid hides.
    5: CentreRule((37, 38), (43, 44), (0.0, -1 / 6), source="faceforge"),
    6: CentreRule((41,), (46,), (0.0, 1.0)),
    7: CentreRule((38,), (43,)),
    9: CentreRule((32,), (34,), (0.0, -1 / 2)),
    10: CentreRule((61,), (63,)),
    12: _LIP_CORNERS,
    14: _LIP_CORNERS,
    15: _LIP_CORNERS,
    # AU16 (faceforge): on the lower lip, halfway between its middle and the corners, which it pulls down.
    16: CentreRule((58,), (56,), source="faceforge"),
    17: _BELOW_LOWER_LIP,
    # AU18 (faceforge): the lips just inside the corners, where the pucker draws them in.
    18: CentreRule((49, 59), (53, 55), source="faceforge"),
    # AU20 (faceforge): 1/3 scale outwards from the lip corners, over the skin the corners are stretched into.
    20: CentreRule((48,), (54,), (-1 / 3, 0.0), source="faceforge"),
    23: _LIP_CENTRES,
    24: _LIP_CENTRES,
    25: _LIP_CENTRES,
    26: _BELOW_LOWER_LIP,
    # AU27 (faceforge): the two sides of the mouth opening, the middle of each inner-lip side.
    27: CentreRule((61, 67), (63, 65), source="faceforge"),
    28: CentreRule((51,), (57,), source="faceforge"),
    # AU43 / AU45 (faceforge): the eye centres (mean of each eye's six points), the lids cover the eye.
    43: _EYE_CENTRES,
    45: _EYE_CENTRES,
}

INNER_EYE_CORNERS: tuple[int, int] = (39, 42)

ArrayOrTensor = TypeVar("ArrayOrTensor", np.ndarray, torch.Tensor)


def _rule_matrices(aus: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """(n_aus * 2, 68) landmark weights and (n_aus * 2, 2) offsets in scale units, for ``aus`` in order."""
    weights = np.zeros((len(aus), 2, 68))
    offsets = np.zeros((len(aus), 2, 2))
    for k, au in enumerate(aus):
        if int(au) not in AU_CENTRE_RULES:
            raise ValueError(f"no centre rule for AU{au}; rules exist for {sorted(AU_CENTRE_RULES)}")
        rule = AU_CENTRE_RULES[int(au)]
        weights[k, 0, list(rule.first)] = 1.0 / len(rule.first)
        weights[k, 1, list(rule.second)] = 1.0 / len(rule.second)
        dx, dy = rule.offset
        offsets[k] = ((dx, dy), (-dx, dy))
    return weights.reshape(-1, 68), offsets.reshape(-1, 2)


def landmark_scale(landmarks: ArrayOrTensor) -> ArrayOrTensor:
    """EAC-Net / JAA-Net's ``scale``: the distance between the inner eye corners (points 39 and 42).

    Args:
        landmarks: (..., 68, 2) pixel coordinates, numpy or torch.

    Returns:
        (...,) of the same kind. JAA-Net measures the x distance only; the Euclidean one used here is the
        same on aligned faces and does not shrink with head roll.
    """
    i, j = INNER_EYE_CORNERS
    diff = landmarks[..., j, :] - landmarks[..., i, :]
    if isinstance(diff, torch.Tensor):
        return torch.linalg.vector_norm(diff, dim=-1)
    return np.linalg.norm(diff, axis=-1)


def au_centres(landmarks: ArrayOrTensor, aus: Sequence[int] = FACEFORGE_AUS) -> ArrayOrTensor:
    """The two centres of each AU from 68 landmarks (rules in ``AU_CENTRE_RULES``).

    Args:
        landmarks: (..., 68, 2) x, y pixel coordinates, e.g. (68, 2) or (B, 68, 2); numpy array or torch
            tensor.
        aus: the AUs, in the output order (default ``FACEFORGE_AUS``).

    Returns:
        (..., n_aus, 2, 2): for each AU its [first, second] centre as (x, y), in the input's pixels, kind,
        device and (floating) dtype. The first centre is on the image left (the subject's right), the second
        on the image right; for AU23/24/25/28 they are the middle of the upper and of the lower lip.
    """
    if not isinstance(landmarks, torch.Tensor):
        landmarks = np.asarray(landmarks)
    if tuple(landmarks.shape[-2:]) != (68, 2):
        raise ValueError(f"landmarks must be (..., 68, 2), got {tuple(landmarks.shape)}")
    weights, offsets = _rule_matrices(aus)
    n_aus = len(aus)
    if isinstance(landmarks, torch.Tensor):
        lm = landmarks if landmarks.is_floating_point() else landmarks.float()
        w = torch.as_tensor(weights, dtype=lm.dtype, device=lm.device)
        o = torch.as_tensor(offsets, dtype=lm.dtype, device=lm.device)
    else:
        lm = np.asarray(landmarks, dtype=np.result_type(landmarks.dtype, np.float32))
        w, o = weights.astype(lm.dtype), offsets.astype(lm.dtype)
    # Centre = mean of its landmarks + offset * scale (JAA-Net: e.g. AU1 = inner brow end - scale / 2 in y).
    centres = w @ lm + o * landmark_scale(lm)[..., None, None]
    return centres.reshape(*lm.shape[:-2], n_aus, 2, 2)


# ---------------------------------------------------------------------------------------------------------
# AU attention maps
# ---------------------------------------------------------------------------------------------------------

JAA_DECAY = 0.56  # JAA-Net's xi
JAA_REGION = 0.14  # JAA-Net's zeta: region width as a fraction of the map width


def _pair(value: int | Sequence[int], what: str) -> tuple[int, int]:
    h, w = (value, value) if isinstance(value, int) else tuple(value)
    if h <= 0 or w <= 0:
        raise ValueError(f"{what} must be positive, got {value}")
    return int(h), int(w)


def au_attention_maps(
    landmarks: torch.Tensor | np.ndarray,
    *,
    aus: Sequence[int] = FACEFORGE_AUS,
    map_size: int | Sequence[int] | None = None,
    image_size: int | Sequence[int] = 128,
    reach: float = JAA_REGION / JAA_DECAY,
    region: float | None = JAA_REGION,
) -> torch.Tensor:
    """AU attention maps from landmarks, as JAA-Net builds them and MPENet uses them (Sec. 3).

    Each AU's map is the maximum of its two centres' maps ``max(0, 1 - (|dx| / w + |dy| / h) / reach)``, with
    (dx, dy) the offset in map pixels from the centre: 1 at the centre, falling linearly with the Manhattan
    distance to 0 at ``reach`` times the map size. With ``region`` set, only the pixels within a square of
    side ``region`` times the map size (``region * (size - 1) / 2`` each way) around a centre are filled.
    The defaults are JAA-Net's ``xi = 0.56``, ``zeta = 0.14``: ``reach = 1/4``, ``region = 0.14``; for
    EAC-Net's ``w = 1 - 0.095 d`` on a 44x44 map use ``reach=1 / (0.095 * 44)`` and ``region=None``.

    Centres are not rounded to pixels (JAA-Net rounds them): the maps move smoothly with the landmarks.
    JAA-Net's maps are square; on a non-square map each axis is measured relative to its own length (the
    ``|dx| / w`` and ``|dy| / h`` above), so the fall-off is a true diamond on square maps only.

    Args:
        landmarks: (B, 68, 2) (or any (..., 68, 2)) x, y pixel coordinates in an image of ``image_size``,
            pixel centres at integers; torch tensor (any device) or numpy array.
        aus: the AUs, one map each, in this order (default ``FACEFORGE_AUS``).
        map_size: (h, w) or side of the maps, e.g. the feature map's size; default ``image_size``.
        image_size: (h, w) or side of the image the landmarks are in (default 128). Map pixel centres cover
            the same area as the image's: x_map = (x + 0.5) * w / image_w - 0.5.
        reach: Manhattan distance, as a fraction of the map size, where the weight reaches 0.
        region: side of the square around each centre that is filled, as a fraction of the map size; ``None``
            fills the whole map.

    Returns:
        (..., n_aus, h, w) float tensor in [0, 1] on the landmarks' device (float32 for numpy input).
    """
    if reach <= 0:
        raise ValueError(f"reach must be positive, got {reach}")
    if region is not None and region <= 0:
        raise ValueError(f"region must be positive or None, got {region}")
    img_h, img_w = _pair(image_size, "image_size")
    map_h, map_w = (img_h, img_w) if map_size is None else _pair(map_size, "map_size")
    if isinstance(landmarks, torch.Tensor):
        lm = landmarks if landmarks.is_floating_point() else landmarks.float()
    else:
        lm = torch.as_tensor(np.asarray(landmarks, dtype=np.float32))
    centres = au_centres(lm, aus)  # (..., n, 2, 2)
    # Image pixels -> map pixels, keeping pixel centres aligned.
    factor = torch.tensor([map_w / img_w, map_h / img_h], dtype=lm.dtype, device=lm.device)
    centres = (centres + 0.5) * factor - 0.5
    cx, cy = centres[..., 0, None, None], centres[..., 1, None, None]  # (..., n, 2, 1, 1)
    xs = torch.arange(map_w, dtype=lm.dtype, device=lm.device)
    ys = torch.arange(map_h, dtype=lm.dtype, device=lm.device)[:, None]
    dx, dy = (xs - cx).abs(), (ys - cy).abs()  # (..., n, 2, 1, w), (..., n, 2, h, 1)
    # JAA-Net: v = max(0, 1 - d * xi / (zeta * l)), d the Manhattan distance in map pixels, l the map width;
    # here the distance is in units of reach * map size, one row and one column at a time.
    du, dv = dx / (reach * map_w), dy / (reach * map_h)
    if region is not None:  # outside JAA-Net's square the distance is infinite, the weight 0
        du = du.masked_fill(dx > region * (map_w - 1) / 2, float("inf"))
        dv = dv.masked_fill(dy > region * (map_h - 1) / 2, float("inf"))
    # The larger of the two centres' maps, max(0, 1 - d1) v max(0, 1 - d2) = max(0, 1 - min(d1, d2)).
    nearest = (du + dv).amin(dim=-3)  # (..., n, h, w)
    return (1.0 - nearest).clamp_(min=0.0)
