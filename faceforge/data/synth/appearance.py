"""Identity sampling for FaceForge-Synth: shape, colours, hair, glasses, lighting, deterministic from (seed, id)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from faceforge.data.synth.geometry import ShapeParams

# Skin tones from light to dark (sRGB), roughly spanning the Fitzpatrick scale.
SKIN_TONES = np.array(
    [[246, 214, 190], [236, 196, 164], [226, 178, 142], [208, 156, 118], [186, 132, 96], [160, 108, 74],
     [128, 84, 58], [96, 62, 44]], dtype=np.float64)
HAIR_COLOURS = np.array(
    [[24, 20, 18], [48, 34, 26], [78, 52, 34], [112, 78, 48], [168, 128, 78], [206, 170, 112],
     [130, 60, 30], [150, 146, 140], [210, 208, 204]], dtype=np.float64)
HAIR_WEIGHTS = np.array([0.22, 0.22, 0.16, 0.1, 0.08, 0.07, 0.05, 0.06, 0.04])
IRIS_COLOURS = np.array(
    [[70, 44, 26], [96, 64, 36], [40, 28, 20], [120, 96, 52], [70, 110, 150], [80, 120, 90], [110, 120, 126]],
    dtype=np.float64)
HAIR_STYLES = ("short", "long", "fringe", "cropped", "bun")


@dataclass(frozen=True)
class Identity:
    """Everything that stays fixed for one synthetic person."""

    identity: int
    shape: ShapeParams
    skin: tuple[float, float, float]
    lips: tuple[float, float, float]
    iris: tuple[float, float, float]
    hair: tuple[float, float, float]
    brow: tuple[float, float, float]
    hair_style: str
    hairline: float  # y of the hairline centre at 128x128
    hair_part: float  # -1..1, where the parting sits
    background: tuple[tuple[float, float, float], tuple[float, float, float]]
    clothes: tuple[float, float, float]
    glasses: tuple[float, float, float] | None
    light_azimuth: float  # degrees; negative = light from the image left
    light_strength: float
    age: float  # 0..1, depth of the permanent folds
    brow_thickness: float
    noise_sigma: float  # camera noise, in [0, 1] image units


def _colour(rng: np.random.Generator, base: np.ndarray, jitter: float) -> tuple[float, float, float]:
    return tuple(float(v) for v in np.clip(base + rng.normal(0, jitter, 3), 0, 255))


def sample_identity(identity: int, seed: int = 0) -> Identity:
    """The identity with integer id ``identity`` of the face set seeded with ``seed`` (deterministic)."""
    rng = np.random.default_rng([seed, identity, 0xFACE])
    n = rng.normal
    shape = ShapeParams(
        face_width=1 + 0.045 * n(), face_length=1 + 0.04 * n(), eye_size=1 + 0.07 * n(),
        eye_spacing=1.0 * n(), eye_height=1.0 * n(), eye_tilt=0.8 * n(), brow_height=1.2 * n(),
        brow_arch=0.9 * n(), nose_length=1 + 0.07 * n(), nose_width=1 + 0.09 * n(),
        mouth_width=1 + 0.06 * n(), mouth_height=1.0 * n(), upper_lip=1 + 0.15 * n(),
        lower_lip=1 + 0.15 * n(), head_height=60 + 3 * n(), scale=1 + 0.05 * n(),
    )
    tone = rng.uniform(0, len(SKIN_TONES) - 1)
    lo = int(tone)
    skin_base = SKIN_TONES[lo] * (1 - (tone - lo)) + SKIN_TONES[min(lo + 1, len(SKIN_TONES) - 1)] * (tone - lo)
    skin = np.clip(skin_base + n(0, 5, 3), 0, 255)
    lips = skin * np.array([0.86, 0.62, 0.62]) + np.array([26, 0, 4]) + n(0, 6, 3)
    hair = HAIR_COLOURS[rng.choice(len(HAIR_COLOURS), p=HAIR_WEIGHTS)]
    brow = np.minimum(hair, skin * 0.55) if hair.mean() > 140 else hair
    bg1 = rng.uniform(40, 230, 3)
    bg2 = np.clip(bg1 * rng.uniform(0.5, 1.1) + n(0, 25, 3), 0, 255)
    has_glasses = rng.random() < 0.15
    glasses = _colour(rng, np.array([30.0, 30, 34]) + rng.uniform(0, 120), 20) if has_glasses else None
    style = HAIR_STYLES[rng.choice(len(HAIR_STYLES), p=[0.35, 0.3, 0.12, 0.15, 0.08])]
    return Identity(
        identity=identity, shape=shape, skin=tuple(map(float, skin)),
        lips=tuple(map(float, np.clip(lips, 0, 255))), iris=_colour(rng, IRIS_COLOURS[rng.integers(7)], 8),
        hair=_colour(rng, hair, 8), brow=_colour(rng, brow, 6), hair_style=style,
        hairline=float(np.clip(rng.normal(15, 3.5), 6, 22) if style != "fringe" else rng.uniform(17, 23)),
        hair_part=float(rng.uniform(-0.6, 0.6)),
        background=(tuple(map(float, bg1)), tuple(map(float, bg2))),
        clothes=_colour(rng, rng.uniform(20, 220, 3), 10), glasses=glasses,
        light_azimuth=float(rng.uniform(-45, 45)), light_strength=float(rng.uniform(0.25, 0.5)),
        age=float(rng.beta(2, 4)), brow_thickness=float(np.clip(rng.normal(1, 0.18), 0.6, 1.5)),
        noise_sigma=float(rng.uniform(0.004, 0.02)),
    )
