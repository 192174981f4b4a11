"""Textures and per-identity looks for FaceForge-Synth v2 (``faceforge.data.synth.render3d``).

Everything here is deterministic: a shared bank of noise fields (built once per process and output size from a
fixed seed; each identity reads its own crop of it), background photographs from ``skimage.data`` (bundled with
scikit-image, nothing is downloaded) and a ``Look`` per identity drawn from its own generator, so the v1
``Identity`` (``faceforge.data.synth.appearance``) and therefore the v1 images stay exactly as they were.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

# skimage.data images without faces in them (bundled with the wheel): background crops.
BACKGROUND_PHOTOS = ("brick", "grass", "gravel", "coffee", "rocket", "coins", "hubble_deep_field",
                     "immunohistochemistry", "moon", "page", "text", "clock", "cell")


@dataclass(frozen=True)
class Look:
    """v2-only appearance of one identity: 3-D shape details, skin detail, light, camera and background."""

    # Shape (pixels at 128, added to landmark depths or as bumps of the height field).
    brow_ridge: float
    cheekbone: float
    nose_bridge: float  # multiplies the nose's depth
    nose_tip: float
    lip_fullness: float
    chin: float
    socket: float  # eye-socket depth
    # Skin.
    pores: float  # amplitude of the high-frequency normal noise
    mottle: float  # low-frequency colour variation
    freckles: float  # 0 for most identities
    stubble: float  # 0 for most identities
    specular: float  # skin specular strength
    shininess: float
    # Light (the key light's azimuth and strength come from the v1 identity).
    elevation: float  # degrees above the horizon
    key_colour: tuple[float, float, float]
    fill: float
    fill_colour: tuple[float, float, float]
    ambient: float
    # Camera and background.
    background: int  # index into BACKGROUND_PHOTOS, or -1 for a procedural scene
    bg_crop: tuple[float, float, float]  # x, y (fractions) and side (fraction of the short side)
    bg_blur: float
    exposure: float  # stops
    white_balance: tuple[float, float]  # red and blue gains
    defocus: float  # Gaussian sigma in pixels at 128
    texture_offset: tuple[int, int]  # where this identity's crop of the noise bank starts


def colour_temperature(kelvin: float) -> np.ndarray:
    """Linear RGB of a light of colour temperature ``kelvin`` (approximate black body), green normalised to 1."""
    t = kelvin / 100.0
    r = 255.0 if t <= 66 else 329.7 * (t - 60) ** -0.1332
    g = 99.47 * np.log(t) - 161.1 if t <= 66 else 288.1 * (t - 60) ** -0.0755
    b = 255.0 if t >= 66 else (0.0 if t <= 19 else 138.5 * np.log(t - 10) - 305.0)
    rgb = (np.clip(np.array([r, g, b]), 1, 255) / 255.0) ** 2.2
    return rgb / rgb[1]


@functools.lru_cache(maxsize=8192)
def sample_look(identity: int, seed: int = 0) -> Look:
    """The v2 look of identity ``identity`` in the face set seeded with ``seed`` (deterministic)."""
    rng = np.random.default_rng([seed, identity, 0x3D])
    n, u = rng.normal, rng.uniform
    key_k, fill_k = u(3200, 6500), u(4500, 9000)
    return Look(
        brow_ridge=float(np.clip(n(2.5, 0.8), 0.5, 5)), cheekbone=float(np.clip(n(3.0, 1.0), 0.5, 6)),
        nose_bridge=float(np.clip(n(1.0, 0.12), 0.7, 1.3)), nose_tip=float(np.clip(n(2.0, 0.8), 0, 4)),
        lip_fullness=float(np.clip(n(1.0, 0.2), 0.5, 1.5)), chin=float(np.clip(n(3.0, 1.0), 0.5, 6)),
        socket=float(np.clip(n(4.0, 1.0), 1.5, 7)),
        pores=float(u(0.15, 0.4)), mottle=float(u(0.04, 0.12)),
        freckles=float(u(0.3, 1.0)) if rng.random() < 0.15 else 0.0,
        stubble=float(u(0.3, 1.0)) if rng.random() < 0.2 else 0.0,
        specular=float(u(0.05, 0.14)), shininess=float(u(12, 35)),
        elevation=float(u(5, 35)), key_colour=tuple(colour_temperature(key_k)),
        fill=float(u(0.08, 0.25)), fill_colour=tuple(colour_temperature(fill_k)), ambient=float(u(0.05, 0.14)),
        background=int(rng.integers(len(BACKGROUND_PHOTOS))) if rng.random() < 0.6 else -1,
        bg_crop=(float(u()), float(u()), float(u(0.3, 0.9))), bg_blur=float(u(1.0, 4.0)),
        exposure=float(n(0, 0.2)), white_balance=(float(u(0.9, 1.1)), float(u(0.9, 1.1))),
        defocus=float(u(0.0, 0.45)), texture_offset=(int(rng.integers(0, 1 << 16)), int(rng.integers(0, 1 << 16))),
    )


def _normalised(field: np.ndarray) -> np.ndarray:
    field = field - field.mean()
    return (field / (field.std() + 1e-8)).astype(np.float32)


@functools.lru_cache(maxsize=4)
def noise_bank(size: int) -> dict[str, np.ndarray]:
    """Noise fields (each (2n, 2n) float32, zero mean, unit std, n = ``size``) shared by every identity.

    ``pores``: high-frequency; ``mid``: medium; ``low`` (3 channels): blotchy colour variation; ``strands``:
    vertical streaks (hair); ``brow``: horizontal streaks (eyebrows); ``dots``: sparse spots in [0, 1]
    (freckles, stubble); ``iris``: angular streak pattern source.
    """
    n = 2 * size
    s = size / 128.0
    rng = np.random.default_rng(0xBA7C)
    white = rng.standard_normal((6, n, n)).astype(np.float32)
    bank = {
        "pores": _normalised(ndimage.gaussian_filter(white[0], 0.6 * s, mode="wrap")),
        "mid": _normalised(ndimage.gaussian_filter(white[1], 2.0 * s, mode="wrap")),
        "low": np.stack([_normalised(ndimage.gaussian_filter(white[2 + c], 9.0 * s, mode="wrap"))
                         for c in range(3)], -1),
        "strands": _normalised(ndimage.gaussian_filter(white[5], (5.0 * s, 0.45 * s), mode="wrap")),
        "brow": _normalised(ndimage.gaussian_filter(white[0].T, (0.4 * s, 2.0 * s), mode="wrap")),
    }
    dots = ndimage.gaussian_filter((rng.random((n, n)) < 0.012).astype(np.float32), 0.5 * s, mode="wrap")
    bank["dots"] = np.clip(dots / (dots.max() + 1e-8) * 2.0, 0, 1).astype(np.float32)
    return bank


def texture(look: Look, name: str, shape: tuple[int, int], size: int) -> np.ndarray:
    """This identity's crop of the bank's field ``name``, ``shape`` (H, W) (the bank wraps around)."""
    field = noise_bank(size)[name]
    n = field.shape[0]
    oy, ox = (v % n for v in look.texture_offset)
    ys = (np.arange(shape[0]) + oy) % n
    xs = (np.arange(shape[1]) + ox) % n
    return field[np.ix_(ys, xs)]


@functools.lru_cache(maxsize=len(BACKGROUND_PHOTOS))
def _photo(name: str) -> np.ndarray:
    import skimage.data

    img = np.asarray(getattr(skimage.data, name)())
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    img = img[..., :3].astype(np.float32) / 255.0
    step = max(1, min(img.shape[:2]) // 256)  # keep it small: it is blurred anyway
    return np.ascontiguousarray(img[::step, ::step]) ** 2.2


def background(look: Look, n: int, size: int) -> np.ndarray:
    """(n, n, 3) linear RGB background: a blurred crop of a skimage.data photo, or a procedural scene."""
    from skimage.transform import resize

    s = size / 128.0
    if look.background >= 0:
        photo = _photo(BACKGROUND_PHOTOS[look.background])
        h, w, _ = photo.shape
        side = max(8, int(min(h, w) * look.bg_crop[2]))
        y0, x0 = int((h - side) * look.bg_crop[1]), int((w - side) * look.bg_crop[0])
        crop = resize(photo[y0:y0 + side, x0:x0 + side], (n, n), order=1, anti_aliasing=False)
        tint = 0.55 + 0.45 * np.asarray(look.white_balance[::-1] + (1.0,))[[0, 2, 1]]
        bg = crop * tint.astype(np.float32) * 0.8
    else:  # a room: a wall gradient, a bright window or door rectangle, a floor line
        rng = np.random.default_rng(look.texture_offset)
        wall = rng.uniform(0.05, 0.7, 3) ** 1.5
        yy, xx = np.mgrid[0:n, 0:n].astype(np.float32) / n
        bg = wall * (0.7 + 0.5 * (xx if rng.random() < 0.5 else 1 - xx))[..., None]
        x0, y0 = rng.uniform(-0.2, 0.8, 2)
        win = ((xx > x0) & (xx < x0 + rng.uniform(0.15, 0.5)) & (yy > y0) & (yy < y0 + rng.uniform(0.2, 0.6)))
        bg = np.where(win[..., None], rng.uniform(0.4, 1.0, 3) ** 1.5, bg)
        bg = bg * (1 - 0.3 * (yy > rng.uniform(0.7, 1.1))[..., None])
    bg = ndimage.gaussian_filter(bg.astype(np.float32), (look.bg_blur * s, look.bg_blur * s, 0))
    return bg.astype(np.float32)
