"""FaceForge-Synth: expression sampling, the public ``render_face`` and the datasets.

A sample is fully determined by ``(seed, split, index)``: the identity comes from the split's identity range,
and the expression, intensity, AU jitter, pose and camera noise from a generator seeded with those numbers.
The renderer (``version``) only changes the image: renderer 2 draws from that generator exactly as renderer 1
does, so every label, the landmarks included, is the same under both.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from faceforge.data.synth.appearance import Identity, sample_identity
from faceforge.data.synth.geometry import AU_POSITION, deform, identity_landmarks
from faceforge.data.synth.render import render
from faceforge.data.synth.render3d import render3d
from faceforge.data.synth.textures import sample_look
from faceforge.face.aus import FACEFORGE_AUS, OCCURRENCE_THRESHOLD
from faceforge.face.expressions import EXPRESSIONS, UNILATERAL, expression_index

N_AUS = len(FACEFORGE_AUS)

# Peak AU intensities (0-5) of each expression at intensity 1, after the EMFACS prototypes
# (faceforge.face.expressions.EMFACS_PROTOTYPES) with the optional AUs commonly coded with them.
PEAK_AUS: dict[str, dict[int, float]] = {
    "neutral": {},
    "anger": {4: 4.5, 5: 2.2, 7: 3.5, 23: 3.5, 24: 3.5, 17: 2.0},
    "disgust": {9: 4.5, 10: 4.0, 15: 2.6, 17: 2.6, 4: 2.0, 7: 1.5, 25: 1.5},
    "fear": {1: 4.0, 2: 3.2, 4: 3.2, 5: 4.2, 7: 2.0, 20: 4.5, 25: 3.5, 26: 2.2},
    "happiness": {6: 3.8, 12: 4.6, 25: 3.0, 26: 1.0},
    "sadness": {1: 4.2, 4: 3.2, 15: 4.2, 17: 3.0},
    "surprise": {1: 4.5, 2: 4.5, 5: 4.0, 25: 4.5, 26: 4.6},
    "contempt": {12: 3.8, 14: 4.2},
}

# Bumped whenever a change to the geometry or the renderer changes the pixels or labels of a sample, so
# caches of rendered faces (faceforge.data.cache) are rebuilt.
RENDER_VERSION = 2

# The renderers: 2 = the shaded 3-D height-field renderer with skin texture and a camera
# (faceforge.data.synth.render3d, the default); 1 = the first, 2-D polygon renderer (faceforge.data.synth.render),
# kept so that figures of models trained on it can be reproduced. Samples have the same labels under both.
RENDERERS = (1, 2)
DEFAULT_RENDERER = 2

SPLITS = ("train", "val", "test")
N_IDENTITIES = {"train": 1600, "val": 200, "test": 200}
_SPLIT_OFFSET = {"train": 0, "val": 1600, "test": 1800}
_SPLIT_CODE = {"train": 1, "val": 2, "test": 3}
DEFAULT_LENGTH = {"train": 24000, "val": 2000, "test": 2000}
MAX_POSE = (12.0, 8.0, 6.0)  # yaw, pitch, roll in degrees (uniform in +-)


def check_version(version: int | None) -> int:
    """``version`` as an int (None: the default renderer), or a ValueError naming the renderers."""
    if version is None:
        return DEFAULT_RENDERER
    if isinstance(version, bool) or version not in RENDERERS:
        raise ValueError(f"renderer version must be one of {RENDERERS} (1: 2-D polygons, 2: shaded 3-D), "
                         f"got {version!r}")
    return int(version)


@functools.lru_cache(maxsize=4096)
def _identity(identity: int, seed: int) -> tuple[Identity, np.ndarray]:
    ident = sample_identity(identity, seed)
    return ident, identity_landmarks(ident.shape)


def split_identities(split: str) -> range:
    """The identity ids of a split (identity-disjoint: train 0-1599, val 1600-1799, test 1800-1999)."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    start = _SPLIT_OFFSET[split]
    return range(start, start + N_IDENTITIES[split])


def expression_aus(
    expression: str | int, intensity: float, *, rng: np.random.Generator | None = None, jitter: float = 0.15,
    extra_au_prob: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-side AU intensities (left, right), each (18,) in [0, 5], of an expression at ``intensity`` in [0, 1].

    With ``rng``, each prototype AU is scaled by ``1 + U(-jitter, jitter)`` and, with probability
    ``extra_au_prob`` each, other AUs are added at a low intensity (1-2.5), as spontaneous faces show.
    """
    name = EXPRESSIONS[expression] if isinstance(expression, int) else EXPRESSIONS[expression_index(expression)]
    if not 0.0 <= intensity <= 1.0:
        raise ValueError(f"expression intensity must be in [0, 1], got {intensity}")
    left, right = np.zeros(N_AUS), np.zeros(N_AUS)
    for au, peak in PEAK_AUS[name].items():
        v = peak * intensity * (1 + rng.uniform(-jitter, jitter) if rng is not None else 1.0)
        k = AU_POSITION[au]
        if au in UNILATERAL.get(name, ()):
            left[k] = v  # FACS "R": the subject's right side, drawn on the image left
        else:
            left[k] = right[k] = v
    if rng is not None and extra_au_prob > 0:
        extra = (rng.random(N_AUS) < extra_au_prob) & (left == 0) & (right == 0)
        extra[AU_POSITION[43]] &= name != "surprise"
        level = rng.uniform(1.0, 2.5, N_AUS)
        left = np.where(extra, level, left)
        right = np.where(extra, level, right)
    return np.clip(left, 0, 5), np.clip(right, 0, 5)


@dataclass
class RenderedFace:
    """One rendered face and its ground truth."""

    image: np.ndarray  # (H, W, 3) uint8 RGB
    landmarks: np.ndarray  # (68, 2) float64 pixels, pixel centres at integers
    au_intensity: np.ndarray  # (18,) float, 0-5, over FACEFORGE_AUS (max of the two sides)
    expression: int
    intensity: float
    identity: int
    pose: tuple[float, float, float]


def _render(
    identity: int, left: np.ndarray, right: np.ndarray, pose, *, size: int, margin: int, seed: int,
    noise_rng: np.random.Generator | None, version: int = DEFAULT_RENDERER,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if size < 16:
        raise ValueError(f"size must be at least 16, got {size}")
    ident, neutral = _identity(int(identity), int(seed))
    lm = deform(neutral, left, right, scale=ident.shape.scale)
    au = np.maximum(left, right)
    pose = tuple(float(p) for p in pose)
    if version == 2:
        img, out_lm = render3d(ident, sample_look(int(identity), int(seed)), lm, au, pose, size=size,
                               margin=margin, noise_rng=noise_rng)
    else:
        img, out_lm = render(ident, lm, au, pose, size=size, margin=margin, noise_rng=noise_rng)
    return img, out_lm, au


def render_face(
    *,
    identity: int = 0,
    aus: dict[int, float] | None = None,
    expression: str | int | None = None,
    intensity: float = 1.0,
    pose: tuple[float, float, float] = (0.0, 0.0, 0.0),
    size: int = 128,
    margin: int = 0,
    seed: int = 0,
    noise: bool = True,
    version: int = DEFAULT_RENDERER,
) -> RenderedFace:
    """Render one synthetic face.

    Args:
        identity: identity id (any non-negative int; the splits use 0-1999).
        aus: AU intensities 0-5 by AU number, added on top of the expression (both sides).
        expression: an expression name or index (``faceforge.face.expressions.EXPRESSIONS``); None = neutral.
        intensity: expression intensity in [0, 1] (scales its AUs; no jitter here).
        pose: (yaw, pitch, roll) in degrees.
        size: output side; the face is framed as the canonical template scaled to ``size``.
        margin: extra border in output pixels on every side.
        seed: face-set seed (identities differ between seeds) and camera-noise seed.
        noise: add the identity's camera noise (v2: sensor noise and JPEG compression).
        version: the renderer, 2 (shaded 3-D height field, the default) or 1 (the first, 2-D polygons).

    Returns:
        RenderedFace with a uint8 image and exact landmarks.
    """
    version = check_version(version)
    expr = expression_index(expression) if isinstance(expression, str) else int(expression or 0)
    left, right = expression_aus(expr, intensity if expr else 0.0)
    for au, value in (aus or {}).items():
        if au not in AU_POSITION:
            raise ValueError(f"AU{au} is not rendered; choose from {FACEFORGE_AUS}")
        if not 0 <= value <= 5:
            raise ValueError(f"AU intensities are 0-5, got AU{au}={value}")
        k = AU_POSITION[au]
        left[k], right[k] = max(left[k], value), max(right[k], value)
    rng = np.random.default_rng([seed, identity, 0xCA3]) if noise else None
    img, lm, au = _render(identity, left, right, pose, size=size, margin=margin, seed=seed, noise_rng=rng,
                           version=version)
    return RenderedFace(
        image=(img * 255 + 0.5).astype(np.uint8), landmarks=lm, au_intensity=au, expression=expr,
        intensity=float(intensity if expr else 0.0), identity=int(identity), pose=tuple(map(float, pose)),
    )


def _sample_dict(img: np.ndarray, lm: np.ndarray, au: np.ndarray, expr: int, intensity: float, identity: int,
                 pose: np.ndarray) -> dict[str, torch.Tensor | int | float]:
    return {
        "image": torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1))),
        "landmarks": torch.from_numpy(lm.astype(np.float32)),
        "au_intensity": torch.from_numpy(au.astype(np.float32)),
        "au_occurrence": torch.from_numpy((au >= OCCURRENCE_THRESHOLD).astype(np.float32)),
        "expression": int(expr),
        "intensity": float(intensity),
        "identity": int(identity),
        "pose": torch.from_numpy(np.asarray(pose, dtype=np.float32)),
    }


class _SynthBase(Dataset):
    def __init__(self, split: str = "train", *, size: int = 128, margin: int = 0, length: int | None = None,
                 seed: int = 0, max_pose: tuple[float, float, float] = MAX_POSE, noise: bool = True,
                 version: int = DEFAULT_RENDERER):
        self.version = check_version(version)
        self.identities = split_identities(split)
        self.split, self.size, self.margin, self.seed = split, int(size), int(margin), int(seed)
        self.length = DEFAULT_LENGTH[split] if length is None else int(length)
        if self.length < 0:
            raise ValueError(f"length must be >= 0, got {length}")
        self.max_pose = np.asarray(max_pose, dtype=np.float64)
        self.noise = noise

    def __len__(self) -> int:
        return self.length

    def _rng(self, index: int, stream: int = 0) -> np.random.Generator:
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for a dataset of {self.length}")
        return np.random.default_rng([self.seed, _SPLIT_CODE[self.split], index, stream])

    def _identity_of(self, index: int) -> int:
        return self.identities[index % len(self.identities)]

    def _pose(self, rng: np.random.Generator) -> np.ndarray:
        return rng.uniform(-1, 1, 3) * self.max_pose

    def _draw(self, identity: int, left, right, pose, rng) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return _render(identity, left, right, pose, size=self.size, margin=self.margin, seed=self.seed,
                       noise_rng=rng if self.noise else None, version=self.version)


class SynthFaces(_SynthBase):
    """Single synthetic faces with ground truth.

    Samples are dicts: ``image`` (3, H, W) float32 in [0, 1]; ``landmarks`` (68, 2) float32 pixels;
    ``au_intensity`` (18,) float32 0-5 over ``FACEFORGE_AUS``; ``au_occurrence`` (18,) float32 (intensity >= 2);
    ``expression`` int (index into ``EXPRESSIONS``); ``intensity`` float in [0, 1]; ``identity`` int;
    ``pose`` (3,) float32 yaw/pitch/roll degrees.

    Args:
        split: "train", "val" or "test" (identity-disjoint).
        size: image side (the canonical framing scaled); margin adds a border (e.g. 144 = 128 + 2 * 8).
        length: number of samples (identities are cycled); defaults 24000 / 2000 / 2000.
        seed: face-set seed.
        intensity_range: expression intensities are drawn uniformly from it (neutral faces have 0).
        extra_au_prob: probability of each non-prototype AU appearing at a low intensity.
        expressions: restrict to these expression names (default all eight, uniformly).
        max_pose: pose drawn uniformly in +- these degrees (yaw, pitch, roll).
        noise: camera noise on/off.
        version: the renderer, 2 (shaded 3-D, the default) or 1 (2-D polygons); labels are the same under both.
    """

    def __init__(self, split: str = "train", *, size: int = 128, margin: int = 0, length: int | None = None,
                 seed: int = 0, intensity_range: tuple[float, float] = (0.15, 1.0), extra_au_prob: float = 0.06,
                 expressions: tuple[str, ...] | None = None, max_pose=MAX_POSE, noise: bool = True,
                 version: int = DEFAULT_RENDERER):
        super().__init__(split, size=size, margin=margin, length=length, seed=seed, max_pose=max_pose, noise=noise,
                         version=version)
        lo, hi = intensity_range
        if not 0 <= lo <= hi <= 1:
            raise ValueError(f"intensity_range must be within [0, 1], got {intensity_range}")
        self.intensity_range = (float(lo), float(hi))
        self.extra_au_prob = float(extra_au_prob)
        self.expressions = tuple(expression_index(e) for e in (expressions or EXPRESSIONS))

    def __getitem__(self, index: int) -> dict:
        rng = self._rng(index)
        expr = self.expressions[rng.integers(len(self.expressions))]
        intensity = float(rng.uniform(*self.intensity_range)) if expr else 0.0
        left, right = expression_aus(expr, intensity, rng=rng, extra_au_prob=self.extra_au_prob)
        pose = self._pose(rng)
        identity = self._identity_of(index)
        img, lm, au = self._draw(identity, left, right, pose, rng)
        return _sample_dict(img, lm, au, expr, intensity, identity, pose)


class SynthPairs(_SynthBase):
    """Pairs of one identity with two different expressions (for expression editing, with the true target).

    Samples are ``{"source": sample, "target": sample}`` with the keys of ``SynthFaces``; both share identity,
    pose and camera; the source is neutral with probability ``neutral_source``.
    """

    def __init__(self, split: str = "train", *, neutral_source: float = 0.5, **kwargs):
        super().__init__(split, **kwargs)
        self.neutral_source = float(neutral_source)

    def __getitem__(self, index: int) -> dict:
        rng = self._rng(index)
        identity = self._identity_of(index)
        pose = self._pose(rng)
        src = 0 if rng.random() < self.neutral_source else int(rng.integers(1, len(EXPRESSIONS)))
        tgt = int(rng.choice([e for e in range(len(EXPRESSIONS)) if e != src]))
        out = {}
        for key, expr in (("source", src), ("target", tgt)):
            intensity = float(rng.uniform(0.5, 1.0)) if expr else 0.0
            left, right = expression_aus(expr, intensity, rng=rng)
            img, lm, au = self._draw(identity, left, right, pose, rng)
            out[key] = _sample_dict(img, lm, au, expr, intensity, identity, pose)
        return out


class SynthSequences(_SynthBase):
    """Sequences neutral -> peak of one identity and one non-neutral expression, as CK+ / Oulu-CASIA.

    Samples: ``images`` (T, 3, H, W), ``landmarks`` (T, 68, 2), ``au_intensity`` (T, 18), ``au_occurrence``
    (T, 18), ``intensities`` (T,) rising from 0 to the peak, ``expression`` int, ``identity`` int, ``pose`` (3,),
    ``weak_frames`` (the 0-based indices of the weak frames: 6-8 in 1-based CK+ numbering, as GroupGAN uses)
    and ``peak_frame`` (the last).
    """

    WEAK_FRAMES = (5, 6, 7)  # frames 6, 7, 8 in 1-based numbering

    def __init__(self, split: str = "train", *, frames: int = 16, **kwargs):
        super().__init__(split, **kwargs)
        if frames < max(self.WEAK_FRAMES) + 2:
            raise ValueError(f"sequences need at least {max(self.WEAK_FRAMES) + 2} frames, got {frames}")
        self.frames = int(frames)

    def __getitem__(self, index: int) -> dict:
        rng = self._rng(index)
        identity = self._identity_of(index)
        expr = int(rng.integers(1, len(EXPRESSIONS)))
        pose = self._pose(rng)
        peak = float(rng.uniform(0.85, 1.0))
        # Onset: intensity eases in from neutral to the peak, so the early frames hold weak expressions.
        t = np.linspace(0, 1, self.frames)
        intensities = peak * t**2
        scale = 1 + rng.uniform(-0.15, 0.15, N_AUS)
        frames = []
        for v in intensities:
            left, right = expression_aus(expr, float(v))
            left, right = np.clip(left * scale, 0, 5), np.clip(right * scale, 0, 5)
            frames.append(self._draw(identity, left, right, pose, rng))
        imgs, lms, aus = map(np.stack, zip(*frames))
        return {
            "images": torch.from_numpy(np.ascontiguousarray(imgs.transpose(0, 3, 1, 2))),
            "landmarks": torch.from_numpy(lms.astype(np.float32)),
            "au_intensity": torch.from_numpy(aus.astype(np.float32)),
            "au_occurrence": torch.from_numpy((aus >= OCCURRENCE_THRESHOLD).astype(np.float32)),
            "intensities": torch.from_numpy(intensities.astype(np.float32)),
            "expression": expr,
            "identity": identity,
            "pose": torch.from_numpy(pose.astype(np.float32)),
            "weak_frames": torch.tensor(self.WEAK_FRAMES),
            "peak_frame": self.frames - 1,
        }
