"""FaceForge-Synth v2 renderer: a shaded height-field face under a 3-D head pose, with skin texture and a camera.

The face is a height field ``Z(x, y)`` over the frontal image plane (pixels of the output crop, depth towards
the camera): a rounded head profile from the face outline, the AU-deformed landmarks' depths
(``geometry.landmark_depth``, with identity variation of the nose, lips and brows) spread over their
neighbourhood, identity bumps (brow ridge, cheekbones, chin, eye sockets, eyeballs) and AU relief (furrows,
crow's feet, nasolabial folds, cheek bulge, chin boss) as grooves and bulges that shade rather than drawn lines.

Shading happens in the head's frame: per-pixel normals from ``Z`` plus pore noise, a key light (Lambert +
Blinn-Phong), a fill light and ambient light of random colour temperatures, soft cast shadows marched over the
height field, ambient occlusion from the height field's local concavity and a subsurface look (irradiance
blurred more in red than in green and blue). The shaded frontal layer is then rotated by the head pose
(``geometry.rotation_matrix``) about ``geometry.POSE_CENTRE`` and projected orthographically: each output
pixel finds its surface point by a damped fixed-point iteration of the projection of ``(x, y, Zw(x, y))``,
where ``Zw`` is the smoothed surface bent (``_pin``) to pass through every landmark at its depth
(``geometry.landmark_depth``). The 68 landmarks returned are therefore the projections of surface points, through
the same mapping the pixels go through, and equal renderer 1's projected landmarks bit for bit (the labels do
not depend on the renderer). Poses beyond the data sets' range (about 15 degrees of yaw) fold the height field
and smear the face's sides. A camera adds a background (blurred ``skimage.data`` photos or a procedural room), exposure,
white balance, defocus, sensor noise and JPEG compression.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

from faceforge.data.synth.appearance import Identity
from faceforge.data.synth.geometry import (
    AU_POSITION,
    N_HEAD,
    POSE_CENTRE,
    head_outline,
    landmark_depth,
    project,
    rotation_matrix,
)
from faceforge.data.synth.render import catmull_rom
from faceforge.data.synth.textures import Look, background, texture

# Bumped whenever a change to this renderer changes its pixels, so caches of v2 faces are rebuilt.
REVISION = 2

F32 = np.float32
_SS = 2  # mask supersampling


def _lin(colour) -> np.ndarray:
    return (np.asarray(colour, dtype=F32) / 255.0) ** 2.2


class _Masks:
    """Anti-aliased coverage masks of polygons and lines in output pixels (supersampled PIL rasterisation)."""

    def __init__(self, n: int):
        self.n = n

    def _new(self):
        img = Image.new("L", (self.n * _SS, self.n * _SS), 0)
        return img, ImageDraw.Draw(img)

    def _pts(self, p: np.ndarray) -> list[tuple[float, float]]:
        return list(map(tuple, ((np.asarray(p, dtype=np.float64) + 0.5) * _SS - 0.5).tolist()))

    def _done(self, img) -> np.ndarray:
        return np.asarray(img.reduce(_SS), dtype=F32) / 255.0

    def polygon(self, *polys: np.ndarray) -> np.ndarray:
        img, draw = self._new()
        for p in polys:
            if len(p) >= 3:
                draw.polygon(self._pts(p), fill=255)
        return self._done(img)

    def line(self, p: np.ndarray, width: float) -> np.ndarray:
        img, draw = self._new()
        draw.line(self._pts(p), fill=255, width=max(1, round(width * _SS)), joint="curve")
        return self._done(img)

    def ellipse(self, centre, radii) -> np.ndarray:
        img, draw = self._new()
        (x, y), (rx, ry) = self._pts(np.asarray(centre)[None])[0], (radii[0] * _SS, radii[1] * _SS)
        draw.ellipse([x - rx, y - ry, x + rx, y + ry], fill=255)
        return self._done(img)


def _gauss(X, Y, centre, sx, sy=None) -> np.ndarray:
    sy = sx if sy is None else sy
    return np.exp(-0.5 * (((X - centre[0]) / sx) ** 2 + ((Y - centre[1]) / sy) ** 2)).astype(F32)


def _groove(Z: np.ndarray, pts: np.ndarray, depth: float, sigma: float) -> None:
    """Add a groove (depth > 0) or ridge (depth < 0) of Gaussian cross-section along a polyline, in place."""
    if abs(depth) < 1e-3:
        return
    pts = np.asarray(pts, dtype=F32)
    pad = 3 * sigma
    x0, y0 = (max(int(v), 0) for v in np.floor(pts.min(0) - pad))
    x1 = min(int(np.ceil(pts[:, 0].max() + pad)) + 1, Z.shape[1])
    y1 = min(int(np.ceil(pts[:, 1].max() + pad)) + 1, Z.shape[0])
    if x1 <= x0 or y1 <= y0:
        return
    Y, X = np.mgrid[y0:y1, x0:x1].astype(F32)
    d2 = np.full(X.shape, np.inf, F32)
    for a, b in zip(pts[:-1], pts[1:]):
        ab = b - a
        t = np.clip(((X - a[0]) * ab[0] + (Y - a[1]) * ab[1]) / max(float(ab @ ab), 1e-6), 0, 1)
        d2 = np.minimum(d2, (X - a[0] - t * ab[0]) ** 2 + (Y - a[1] - t * ab[1]) ** 2)
    Z[y0:y1, x0:x1] -= depth * np.exp(-0.5 * d2 / sigma**2)


def _pin(field: np.ndarray, points: np.ndarray, values: np.ndarray, X, Y, sigma: float,
         passes: int = 6) -> np.ndarray:
    """A smooth correction that makes ``field + correction`` take ``values`` at ``points`` (within a few hundredths):
    normalised Gaussian weights, applied repeatedly to the remaining residual."""
    w = np.exp(-0.5 * ((X[None] - points[:, 0, None, None]) ** 2 + (Y[None] - points[:, 1, None, None]) ** 2)
               / sigma**2).astype(F32)
    norm = 1 / (w.sum(0) + 0.05)
    fade = _smooth01(w.sum(0) * 3)
    corr = np.zeros(field.shape, F32)
    coords = [points[:, 1], points[:, 0]]
    for _ in range(passes):
        resid = values - ndimage.map_coordinates(field + corr, coords, order=1, mode="nearest")
        corr += np.tensordot(resid.astype(F32), w, axes=1) * norm * fade
    return corr


def _smooth01(x):
    x = np.clip(x, 0, 1)
    return x * x * (3 - 2 * x)


def _hair_polygons(P: np.ndarray, head: np.ndarray, ident: Identity, s: float) -> tuple[np.ndarray, np.ndarray | None]:
    """The hair cap in front of the head (out to the skull outline) and the hair behind it (long, bun)."""
    cx = P[27, 0]
    top = ident.hairline * s + (P[27, 1] - 53.0 * s)
    temple_l = np.array([P[0, 0] + 2.0 * s, P[0, 1] - 8.0 * s])
    temple_r = np.array([P[16, 0] - 2.0 * s, P[16, 1] - 8.0 * s])
    part = cx + ident.hair_part * 18 * s
    if ident.hair_style == "fringe":
        hairline = np.array([temple_l, [P[17, 0] + 2 * s, top + 2 * s], [cx - 10 * s, top], [cx + 10 * s, top + s],
                             [P[26, 0] - 2 * s, top + 2 * s], temple_r])
    elif ident.hair_style == "cropped":
        hairline = np.array([temple_l + [s, -3 * s], [cx - 22 * s, top - s], [cx, top - 2 * s],
                             [cx + 22 * s, top - s], temple_r + [-s, -3 * s]])
    else:
        hairline = np.array([temple_l, [cx - 24 * s, top + 3 * s], [part, top - s], [cx + 24 * s, top + 3 * s],
                             temple_r])
    centre = head.mean(0)
    volume = (head - centre) * (1.04 if ident.hair_style == "cropped" else 1.1) + centre
    cap = np.concatenate([catmull_rom(hairline, closed=False, steps=4)[::-1], [temple_l + [-6 * s, 4 * s]],
                          volume[::-1], [temple_r + [6 * s, 4 * s]]])
    back = None
    if ident.hair_style == "long":
        vol = centre + (head - centre) * np.array([1.14, 1.1])
        left = np.array([[P[0, 0] - 9 * s, P[0, 1]], [P[2, 0] - 11 * s, P[2, 1] + 20 * s], [P[3, 0] - 12 * s, 1e4]])
        right = np.array([[P[16, 0] + 9 * s, P[16, 1]], [P[14, 0] + 11 * s, P[14, 1] + 20 * s],
                          [P[13, 0] + 12 * s, 1e4]])
        back = np.concatenate([right[::-1], vol, left])
    return cap, back


def render3d(
    ident: Identity,
    look: Look,
    lm: np.ndarray,
    au: np.ndarray,
    pose: tuple[float, float, float],
    *,
    size: int = 128,
    margin: int = 0,
    noise_rng: np.random.Generator | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Render one v2 face.

    Args:
        ident: the identity (v1 colours, hair, glasses, key-light azimuth and strength, noise level).
        look: its v2 look (``textures.sample_look``).
        lm: (68, 2) frontal landmarks after AU deformation, template frame (128 px).
        au: (n_aus,) AU intensities 0-5 (max over the two sides).
        pose: (yaw, pitch, roll) degrees.
        size: crop size; margin: extra border in output pixels.
        noise_rng: camera noise (sensor noise, JPEG quality); None renders without either. It is drawn from
            exactly as the v1 renderer draws from it, so dataset labels do not depend on the renderer.

    Returns:
        image (H, W, 3) float32 in [0, 1], landmarks (68, 2) in output pixels (the projected surface points).
    """
    s = size / 128.0
    n = size + 2 * margin
    off = 0.5 * s - 0.5 + margin
    a = {k: float(au[i]) / 5.0 for k, i in AU_POSITION.items()}
    L = lm * s + off  # frontal landmarks in output pixels
    head = head_outline(lm, ident.shape.head_height) * s + off
    Y, X = np.mgrid[0:n, 0:n].astype(F32)
    mk = _Masks(n)

    # ---- coverage masks (frontal) ----
    outline = catmull_rom(np.concatenate([L[0:17], head]), closed=True, steps=3)
    face = mk.polygon(outline)
    ears = mk.polygon(*[catmull_rom(np.array([L[j] + [side * dx * s, dy * s] for dx, dy in
                                              ((0, -14), (5, -13), (7, -4), (4, 6), (0, 5))]), closed=True)
                        for j, side in ((1, -1), (15, 1))])
    cxn = (L[3, 0] + L[13, 0]) / 2
    half = (L[13, 0] - L[3, 0]) * 0.36
    bottom = n + 20 * s
    neck = mk.polygon(np.array([[cxn - half, L[4, 1] - 10 * s], [cxn - half * 1.05, 124 * s + off],
                                [cxn - half * 1.3, bottom], [cxn + half * 1.3, bottom],
                                [cxn + half * 1.05, 124 * s + off], [cxn + half, L[12, 1] - 10 * s]]))
    clothes = mk.polygon(np.array([[-30 * s, bottom], [-30 * s, 128 * s + off], [cxn - 2.2 * half, 118 * s + off],
                                   [cxn + 2.2 * half, 118 * s + off], [n + 30 * s, 128 * s + off],
                                   [n + 30 * s, bottom]]))
    cap, back = _hair_polygons(L, head, ident, s)
    strands = texture(look, "strands", (n, n), size)
    # The hair's edge is ragged: single strands end at different places.
    soft = ndimage.gaussian_filter(mk.polygon(cap), 0.8 * s)
    hair = (np.clip((soft - 0.5 + 0.35 * strands) * 2.5 + 0.5, 0, 1) * (soft > 0.05)).astype(F32)
    hair_back = mk.polygon(back) if back is not None else np.zeros((n, n), F32)
    if ident.hair_style == "bun":
        hair_back = np.maximum(hair_back, mk.ellipse(head[len(head) // 2] + [0, -6 * s], (16 * s, 12 * s)))
    eye_polys = [catmull_rom(L[36:42], closed=True, steps=4), catmull_rom(L[42:48], closed=True, steps=4)]
    eyes = mk.polygon(*eye_polys)
    lips_outer = mk.polygon(catmull_rom(L[48:60], closed=True, steps=4))
    inner = catmull_rom(L[60:68], closed=True, steps=4)
    opening = float(np.mean(L[[65, 66, 67], 1] - L[[63, 62, 61], 1]))
    mouth = mk.polygon(inner) if opening > 0.25 * s else np.zeros((n, n), F32)
    lips = np.clip(lips_outer - mouth, 0, 1)
    brows = np.zeros((n, n), F32)
    for brow, flip in ((L[17:22], False), (L[22:27], True)):
        curve = catmull_rom(brow, closed=False, steps=3)
        prof = np.linspace(1.2, 2.6, len(curve)) * ident.brow_thickness * s
        prof = prof if flip else prof[::-1]
        t = np.gradient(curve, axis=0)
        t /= np.linalg.norm(t, axis=1, keepdims=True) + 1e-9
        nrm = np.stack([t[:, 1], -t[:, 0]], 1)
        upper, lower = curve + nrm * (prof * 0.6)[:, None], curve - nrm * (prof * 0.45)[:, None]
        brows = np.maximum(brows, mk.polygon(np.concatenate([upper, lower[::-1]])))
    skin_m = np.clip(np.maximum(face, ears), 0, 1)

    # ---- height field (frontal, output pixels, towards the camera) ----
    depth = landmark_depth().astype(F32) * s
    depth[27:36] *= look.nose_bridge
    depth[30] += look.nose_tip * s
    depth[48:68] = depth[48:68] + (look.lip_fullness - 1) * 3 * s
    depth[17:27] += look.brow_ridge * 0.3 * s
    # Base: a head rounded across each row (a cylinder narrowing with the jaw), rounded at the top and chin.
    solid = face > 0.5
    rows = solid.any(1)
    xl = np.where(rows, solid.argmax(1), 0).astype(F32)
    xr = np.where(rows, n - 1 - solid[:, ::-1].argmax(1), 0).astype(F32)
    cx_row, hw = (xl + xr) / 2, np.maximum((xr - xl) / 2 + 1, 1)
    u = np.clip((X - cx_row[:, None]) / hw[:, None], -1, 1)
    edge = ndimage.distance_transform_edt(solid).astype(F32)
    base = -30 * s + 34 * s * np.sqrt(1 - 0.92 * u**2) * np.sqrt(_smooth01(edge / (14 * s)))
    brow_y = float(L[17:27, 1].mean())
    base -= 14 * s * _smooth01((brow_y - 6 * s - Y) / (60 * s)) ** 1.5  # forehead slopes back to the crown
    Z = np.where(solid, base, -30 * s).astype(F32)
    Z = ndimage.gaussian_filter(Z, 1.5 * s)
    # Landmark depths spread over their neighbourhood (normalised Gaussian weights, fading to the base).
    idx = np.arange(17, 68)
    Zi = ndimage.map_coordinates(Z, [L[idx, 1], L[idx, 0]], order=1)
    resid = depth[idx] - Zi
    sig = np.where((idx >= 27) & (idx <= 35), 3.2, 3.8).astype(F32) * s
    x0, y0 = int(max(L[17:27, 0].min() - 12 * s, 0)), int(max(L[17:27, 1].min() - 14 * s, 0))
    x1, y1 = int(min(L[17:27, 0].max() + 12 * s, n)), int(min(L[48:68, 1].max() + 12 * s, n))
    Xw, Yw = X[y0:y1, x0:x1], Y[y0:y1, x0:x1]
    w = np.exp(-0.5 * ((Xw[None] - L[idx, 0, None, None]) ** 2 + (Yw[None] - L[idx, 1, None, None]) ** 2)
               / sig[:, None, None] ** 2)
    wsum = w.sum(0)
    Z[y0:y1, x0:x1] += (w * resid[:, None, None]).sum(0) / (wsum + 0.25) * _smooth01(wsum * 2)
    # Identity bumps and hollows.
    for eye, side in ((L[36:42], -1), (L[42:48], 1)):
        ec = eye.mean(0)
        ew = np.linalg.norm(eye[3] - eye[0])
        Z -= look.socket * s * _gauss(X, Y, ec + [0, -1.0 * s], 0.55 * ew, 0.4 * ew)
        Z += (look.cheekbone * s * (1 + 0.5 * a[6] + 0.3 * a[12])
              * _gauss(X, Y, ec + [side * 4 * s, (13 - 3 * a[6] - 2 * a[12]) * s], 7 * s, 5 * s))
        Z += 2.2 * s * _gauss(X, Y, ec, 0.32 * ew, 0.22 * ew) * eyes  # the eyeball under the lids
    chin_c = L[8] + [0, -7 * s]
    Z += (look.chin + 2.0 * a[17]) * s * _gauss(X, Y, chin_c, 6 * s, 4.5 * s)
    _groove(Z, np.array([L[33] + [0, 1 * s], (L[33] + L[51]) / 2]), 0.8 * s, 1.0 * s)  # philtrum
    _groove(Z, L[[58, 57, 56]] + [0, 5.0 * s], (0.7 + 1.2 * a[17] + 0.6 * a[24]) * s, 1.3 * s)  # mentolabial sulcus
    # AU relief.
    age = ident.age
    brow_top = L[17:27, 1].min()
    for row in range(3):  # AU1 (centre) / AU2 (sides): forehead furrows above raised brows
        yv = brow_top - (5.0 + 4.2 * row) * s
        xs = np.linspace(L[18, 0], L[25, 0], 9)
        cw = np.exp(-(((xs - L[27, 0]) / (14.0 * s)) ** 2))
        strength = (a[1] * cw + a[2] * (1 - cw)).mean() + 0.15 * age
        sag = 1.6 * s * np.cos((xs - L[27, 0]) / (40.0 * s))
        _groove(Z, np.stack([xs, yv - sag], 1), 0.9 * s * strength * (1 - 0.2 * row), 0.9 * s)
    for x_off in (-3.0, 3.0):  # AU4: glabellar furrows and the bunched brows
        top = [L[27, 0] + x_off * 1.1 * s, (L[21, 1] + L[22, 1]) / 2 - 5 * s]
        _groove(Z, np.array([top, [L[27, 0] + x_off * 0.8 * s, L[27, 1] - 3 * s]]), 1.2 * s * a[4], 0.8 * s)
    Z += 1.5 * s * a[4] * (_gauss(X, Y, L[21] + [0, 1 * s], 4 * s, 3 * s) + _gauss(X, Y, L[22] + [0, 1 * s], 4 * s,
                                                                                    3 * s))
    for corner, side in ((L[36], -1), (L[45], 1)):  # AU6: crow's feet
        for ang in (-25, 0, 25):
            d = np.array([side * np.cos(np.deg2rad(ang)), -np.sin(np.deg2rad(ang))])
            _groove(Z, np.array([corner + d * 3.0 * s, corner + d * 8.0 * s]), (0.9 * a[6] + 0.15 * age) * s,
                    0.6 * s)
    for lower in (L[[36, 41, 40, 39]], L[[42, 47, 46, 45]]):  # AU6/AU7: infraorbital furrow, lid bulge
        _groove(Z, catmull_rom(lower, closed=False, steps=3) + [0, 2.8 * s],
                (0.8 * a[7] + 0.7 * a[6] + 0.2 * age) * s, 0.8 * s)
    for row in range(3):  # AU9: nose-root wrinkles
        yv = L[27, 1] + (2 + 2.4 * row) * s
        _groove(Z, np.array([[L[27, 0] - 4 * s, yv + 0.6 * s], [L[27, 0], yv], [L[27, 0] + 4 * s, yv + 0.6 * s]]),
                0.8 * s * a[9], 0.6 * s)
    fold = 0.1 + 0.25 * age + 1.0 * a[12] + 0.8 * a[10] + 0.6 * a[9] + 0.3 * a[6]
    for wing, corner, side in ((L[31], L[48], -1), (L[35], L[54], 1)):
        start, end = wing + [side * 3.0 * s, -2.0 * s], corner + [side * 3.5 * s, 2.5 * s]
        mid = (start + end) / 2 + [side * 3.0 * s, 0]
        curve = catmull_rom(np.array([start, mid, end]), closed=False, steps=4)
        _groove(Z, curve, 1.4 * s * fold, 1.0 * s)  # nasolabial fold, with the cheek bulging above it
        Z += 1.4 * s * fold * _gauss(X, Y, mid + [side * 3.5 * s, -2 * s], 3.5 * s, 5 * s)
        Z -= 1.6 * s * a[14] * _gauss(X, Y, corner + [side * 4.0 * s, 0], 1.3 * s, 2.0 * s)  # AU14 dimples
        _groove(Z, np.array([corner + [side * 1.0 * s, 2.0 * s], corner + [side * 2.0 * s, 8.0 * s]]),
                1.0 * s * a[15], 0.8 * s)
        _groove(Z, np.array([corner + [side * 2.0 * s, 0.5 * s], corner + [side * 6.5 * s, 1.0 * s]]),
                0.9 * s * a[20], 0.7 * s)
    Z -= 9 * s * mouth  # the mouth's interior
    Z = np.where(np.maximum(skin_m, hair) > 0.02, Z, -30 * s).astype(F32)
    Z += 2.5 * s * hair * (1 - face * 0.5)  # hair volume

    # ---- albedo (linear RGB), specular strength and exponent ----
    shape2 = (n, n)
    low = texture(look, "low", shape2, size)
    mid = texture(look, "mid", shape2, size)
    pores = texture(look, "pores", shape2, size)
    dots = texture(look, "dots", shape2, size)
    skin_c = _lin(ident.skin)
    blotch = low[..., :1] * np.array([1.0, 1.15, 1.25], F32) + 0.5 * low[..., 1:2] * np.array([0.6, -0.3, -0.3], F32)
    albedo = skin_c * (1 + look.mottle * blotch + 0.03 * mid[..., None])
    red = (_gauss(X, Y, (L[31] + L[2]) / 2, 9 * s, 7 * s) + _gauss(X, Y, (L[35] + L[14]) / 2, 9 * s, 7 * s)
           + 0.7 * _gauss(X, Y, L[30], 4 * s) + 0.4 * _gauss(X, Y, (L[17] + L[26]) / 2 + [0, -12 * s], 20 * s, 8 * s))
    albedo = albedo * (1 + 0.12 * red[..., None] * np.array([0.3, -0.5, -0.4], F32))
    if look.freckles:
        fr = dots * look.freckles * _gauss(X, Y, L[29], 22 * s, 10 * s)
        albedo *= 1 - 0.35 * fr[..., None] * np.array([0.6, 0.8, 1.0], F32)
    if look.stubble:
        beard = np.clip(_gauss(X, Y, (L[57] + L[8]) / 2, 20 * s, 12 * s) + _gauss(X, Y, L[51] + [0, -3 * s], 9 * s,
                                                                                     3 * s), 0, 1) * (1 - lips_outer)
        beard = beard * _smooth01(pores * 0.6 + 0.2) * look.stubble
        albedo = albedo * (1 - 0.55 * beard[..., None]) + 0.55 * beard[..., None] * _lin(ident.hair) * 0.6
    # Lips, with a darker line where they meet.
    lip_c = _lin(ident.lips) * np.array([0.95, 0.72, 0.75], F32) * (1 + 0.08 * mid[..., None])
    lips_soft = ndimage.gaussian_filter(lips, 0.5 * s) * (1 - mouth)
    albedo = albedo * (1 - lips_soft[..., None]) + lip_c * lips_soft[..., None]
    seam = mk.line(catmull_rom(L[[48, 60, 61, 62, 63, 64, 54]], closed=False, steps=4), 0.9 * s)
    seam = np.maximum(seam, mk.line(catmull_rom(L[[48, 60, 67, 66, 65, 64, 54]], closed=False, steps=4), 0.6 * s))
    albedo *= 1 - 0.7 * seam[..., None]  # the shadowed gap where the lips meet
    corners = _gauss(X, Y, L[48], 1.2 * s) + _gauss(X, Y, L[54], 1.2 * s)
    albedo *= 1 - 0.6 * np.clip(corners, 0, 1)[..., None]  # the mouth's corners are in shadow
    border = catmull_rom(L[48:60], closed=True, steps=4)
    border = mk.line(np.concatenate([border, border[:1]]), 0.7 * s)
    albedo *= 1 - 0.25 * border[..., None]  # the vermilion border
    # Mouth interior: dark, with upper (and for wide openings lower) teeth.
    if mouth.any():
        top_y = np.interp(X, L[[60, 61, 62, 63, 64], 0], L[[60, 61, 62, 63, 64], 1])
        bot_y = np.interp(X, L[[60, 67, 66, 65, 64], 0], L[[60, 67, 66, 65, 64], 1])
        teeth_h = min(4.0 * s, opening * 0.6)
        gap = 0.75 + 0.25 * np.abs(np.cos(np.pi * (X - L[51, 0]) / (2.6 * s)))
        teeth = _smooth01((top_y + teeth_h - Y) / (0.8 * s)) * gap
        if opening > 7 * s:
            teeth = np.maximum(teeth, 0.85 * _smooth01((Y - (bot_y - 2.5 * s)) / (0.8 * s)) * gap)
        teeth *= _smooth01(1 - np.abs(X - L[51, 0]) / (0.42 * (L[64, 0] - L[60, 0]) + 1e-3))
        interior = np.array([0.05, 0.008, 0.01], F32) + teeth[..., None] * np.array([0.62, 0.56, 0.45], F32)
        albedo = albedo * (1 - mouth[..., None]) + interior * mouth[..., None]
    # Brows: strands.
    strands_b = texture(look, "brow", shape2, size)
    brow_a = ndimage.gaussian_filter(brows, 0.5 * s) * np.clip(0.75 + 0.35 * strands_b, 0, 1)
    albedo = albedo * (1 - brow_a[..., None]) + _lin(ident.brow) * (1 + 0.3 * strands_b[..., None]) * brow_a[..., None]
    # Eyes: sclera, textured iris, pupil; lashes along the upper lid.
    eye_alb = np.zeros((n, n, 3), F32)
    for eye in (L[36:42], L[42:48]):
        ec = eye.mean(0)
        ew = np.linalg.norm(eye[3] - eye[0])
        r = 0.22 * ew
        dx, dy = X - ec[0], Y - ec[1]
        rr = np.sqrt(dx**2 + dy**2) / r
        ang = np.arctan2(dy, dx)
        streak = 0.75 + 0.25 * np.sin(ang * 23 + 3 * np.sin(ang * 7)) * np.sin(ang * 11 + 1.3)
        iris_c = _lin(ident.iris) * (streak * (0.65 + 0.5 * rr))[..., None]
        iris_c = iris_c * (1 - 0.55 * _smooth01((rr - 0.8) / 0.2))[..., None]  # limbal ring
        pupil = _smooth01((0.4 - rr) / 0.08)
        iris_a = _smooth01((1.0 - rr) / 0.08)
        sclera = np.array([0.62, 0.58, 0.54], F32) * (1 - 0.12 * _smooth01(np.abs(dx) / (0.5 * ew)))[..., None]
        col = sclera * (1 - iris_a[..., None]) + iris_c * iris_a[..., None]
        col = col * (1 - pupil[..., None]) + 0.01 * pupil[..., None]
        col = col * (0.55 + 0.45 * _smooth01((dy + 0.25 * ew) / (0.3 * ew)))[..., None]  # the upper lid's shadow
        near = (np.abs(dx) < 0.7 * ew) & (np.abs(dy) < 0.6 * ew)
        eye_alb = np.where(near[..., None], col, eye_alb)
    albedo = albedo * (1 - eyes[..., None]) + eye_alb * eyes[..., None]
    lash = np.maximum(mk.line(catmull_rom(L[36:40], closed=False, steps=4), 1.4 * s),
                      mk.line(catmull_rom(L[42:46], closed=False, steps=4), 1.4 * s))
    for a_, b_ in ((36, 39), (45, 42)):  # the lashes run a little past the outer corner
        out = L[a_] + (L[a_] - L[b_]) / np.linalg.norm(L[a_] - L[b_]) * 1.6 * s + [0, -0.4 * s]
        lash = np.maximum(lash, mk.line(np.array([L[a_], out]), 0.8 * s))
    lower_lid = np.maximum(mk.line(catmull_rom(L[[39, 40, 41, 36]], closed=False, steps=4), 0.7 * s),
                           mk.line(catmull_rom(L[[45, 46, 47, 42]], closed=False, steps=4), 0.7 * s))
    albedo *= 1 - np.maximum(0.92 * lash, 0.5 * lower_lid)[..., None]
    # Hair: a strand-textured colour.
    hair_c = _lin(ident.hair) * np.clip(0.75 + 0.35 * strands, 0.2, 2)[..., None]
    albedo = albedo * (1 - hair[..., None]) + hair_c * hair[..., None]
    # Neck, clothes, hair behind the head.
    fabric = _lin(ident.clothes) * (1 + 0.08 * mid[..., None])

    ks = look.specular * (1 + 0.6 * _gauss(X, Y, L[28], 6 * s, 22 * s)) * skin_m * (1 - brow_a) * (1 - eyes)
    ks = ks + 0.25 * lips + 0.12 * hair * np.clip(0.6 + 0.5 * strands, 0, 2)  # eyes: catchlights below
    shin = np.where(eyes > 0.5, 60.0, np.where(lips > 0.5, 45.0, np.where(hair > 0.5, 25.0, look.shininess)))

    # ---- normals, light, shadows (head frame) ----
    bump = pores * look.pores * 0.35 * s * skin_m * (1 - lips) * (1 - eyes)
    bump = bump + strands * 0.4 * s * hair
    Zs = Z + bump
    gy, gx = np.gradient(Zs)
    inv = 1 / np.sqrt(gx**2 + gy**2 + 1)
    N = np.stack([-gx * inv, -gy * inv, inv], -1)
    R = rotation_matrix(*pose)
    az, el = np.deg2rad(ident.light_azimuth), np.deg2rad(look.elevation)
    key = np.array([np.sin(az) * np.cos(el), -np.sin(el), np.cos(az) * np.cos(el)]) @ R
    fill = np.array([-np.sin(az) * 0.9, 0.25, 0.7])  # fill and bounce light, from below the key
    fill = (fill / np.linalg.norm(fill)) @ R
    view = np.array([0.0, 0.0, 1.0]) @ R
    half_v = (key + view) / np.linalg.norm(key + view)
    ndl = np.clip(N @ key.astype(F32), 0, 1)
    # Soft cast shadows: march towards the light over the smooth height field.
    shadow = np.ones((n, n), F32)
    lxy = np.hypot(key[0], key[1])
    if lxy > 1e-3:
        dirx, diry, rise = key[0] / lxy, key[1] / lxy, key[2] / lxy
        for t in (1.5, 3, 5, 8, 12, 17):
            t *= s
            ahead = ndimage.shift(Z, (-diry * t, -dirx * t), order=1, mode="nearest")
            shadow = np.minimum(shadow, 1 - _smooth01((ahead - Z - t * rise) / (2.5 * s)))
        shadow = ndimage.gaussian_filter(shadow, 0.8 * s)
    # Ambient occlusion from the concavity of the height field.
    ao = 1 - 0.05 / s * np.maximum(ndimage.gaussian_filter(Z, 3 * s) - Z, 0)
    ao -= 0.02 / s * np.maximum(ndimage.gaussian_filter(Z, 8 * s) - Z, 0)
    ao = np.clip(ao, 0.3, 1)[..., None]
    strength = 0.75 + 1.3 * ident.light_strength
    key_c = np.asarray(look.key_colour, F32) * strength
    irr = (key_c * (ndl**1.3 * shadow)[..., None] * (0.55 + 0.45 * ao)
           + np.asarray(look.fill_colour, F32) * look.fill * np.clip(N @ fill.astype(F32), 0, 1)[..., None] * ao
           + np.asarray(look.fill_colour, F32) * look.ambient * ao)
    # Subsurface scattering look: light bleeds further in red than in green and blue.
    sss = skin_m[..., None] * (1 - eyes[..., None])
    blurred = np.stack([ndimage.gaussian_filter(irr[..., c], sg * s) for c, sg in enumerate((1.6, 0.9, 0.7))], -1)
    irr = irr * (1 - sss) + blurred * sss
    spec = ks * np.clip(N @ half_v.astype(F32), 0, 1) ** shin * (shin + 8) / 40 * shadow * (ndl > 0)
    colour = albedo * irr + (spec[..., None] * key_c)
    # Grazing-angle falloff towards the face's outline (stronger than the smoothed height field gives).
    rim = 0.5 + 0.5 * _smooth01(edge / (7 * s))
    colour *= rim[..., None] * face[..., None] + (1 - face[..., None])
    # Catchlights: the key light's reflection on each cornea, offset from the iris centre towards the light.
    for eye in (L[36:42], L[42:48]):
        ew = np.linalg.norm(eye[3] - eye[0])
        spot = eye.mean(0) + 0.13 * ew * np.array([key[0], key[1]]) / max(np.hypot(key[0], key[1]), 0.3)
        glint = _gauss(X, Y, spot, 0.025 * ew + 0.15 * s) * eyes
        colour = colour + (1.2 * glint)[..., None] * key_c
    # Body layers (not part of the height field): lit flat, shaded under the chin.
    jaw_y = np.interp(X, L[2:15, 0], L[2:15, 1])  # the head's shadow on the neck, darkest under the jaw
    neck_shade = 0.04 + 0.3 * _smooth01((Y - jaw_y - 3 * s) / (40 * s)) + 0.04 * _smooth01((Y - jaw_y) / (6 * s))
    body = (skin_c * neck_shade[..., None] * neck[..., None] + fabric * (0.6 + 0.06 * mid[..., None])
            * clothes[..., None] * (1 - neck[..., None]))
    body = body * (0.6 + 0.4 * strength)
    back_c = _lin(ident.hair) * (0.5 + 0.25 * strands[..., None]) * strength
    head_a = np.clip(skin_m + hair, 0, 1)
    layer = back_c * hair_back[..., None]
    alpha = hair_back.copy()
    body_a = np.maximum(neck, clothes)
    layer = layer * (1 - body_a[..., None]) + body * body_a[..., None]
    alpha = alpha + body_a * (1 - alpha)
    layer = layer * (1 - head_a[..., None]) + colour * head_a[..., None]
    alpha = alpha + head_a * (1 - alpha)
    if ident.glasses is not None:
        layer, alpha = _glasses(layer, alpha, L, ident.glasses, s, mk, key_c)

    # ---- pose: rotate the surface and project ----
    # The surface the pixels are moved with: the shading surface, smoothed, bent to pass through every landmark at
    # its depth (geometry.landmark_depth), so the projected landmarks are v1's to the bit (the labels do not depend
    # on the renderer) and each rendered feature lands on its landmark.
    Zw = ndimage.gaussian_filter(np.where(head_a > 0.02, Z - bump, -30 * s), 2.0 * s).astype(F32)
    Zw += _pin(Zw, L, landmark_depth() * s, X, Y, 5.0 * s)
    centre = np.array([POSE_CENTRE[0] * s + off, POSE_CENTRE[1] * s + off, POSE_CENTRE[2] * s])
    posed = project(np.concatenate([lm, head_outline(lm, ident.shape.head_height)]),
                    np.concatenate([landmark_depth(), -30.0 * np.ones(N_HEAD)]), pose)[:68]
    posed = (posed + 0.5) * s - 0.5 + margin  # as renderer 1 computes them
    if any(pose):
        M, b = R[:2, :2], R[:2, 2]
        Minv = np.linalg.inv(M)
        uv = np.stack([X - centre[0], Y - centre[1]], -1)
        p = uv @ Minv.T
        for k in range(8):  # damped fixed-point iteration of p = M^-1 (uv - b (Z(p) - c_z))
            z = ndimage.map_coordinates(Zw, [p[..., 1] + centre[1], p[..., 0] + centre[0]], order=1, mode="nearest")
            step = 1.0 if k == 0 else 0.6
            p = p + step * ((uv - (z - centre[2])[..., None] * b) @ Minv.T - p)
        coords = [p[..., 1] + centre[1], p[..., 0] + centre[0]]
        layer = np.stack([ndimage.map_coordinates(layer[..., c], coords, order=1, mode="nearest")
                          for c in range(3)], -1)
        alpha = ndimage.map_coordinates(alpha, coords, order=1, mode="nearest")

    # ---- camera ----
    img = layer * alpha[..., None] + background(look, n, size) * (1 - alpha[..., None])
    # Auto exposure on the face (it meters the skin, so the face is neither burnt out nor murky), then the
    # identity's exposure error and white balance.
    lum = np.array([0.2126, 0.7152, 0.0722], F32)
    metered = float((colour @ lum * face).sum() / max(face.sum(), 1.0))
    target = 0.5 * float(skin_c @ lum) + 0.07
    gain = float(np.clip(target / max(metered, 1e-4), 0.5, 2.0))
    img = img * (gain * 2.0 ** look.exposure) * np.array([look.white_balance[0], 1.0, look.white_balance[1]], F32)
    img = np.stack([ndimage.gaussian_filter(img[..., c], look.defocus * s) for c in range(3)], -1)
    img = np.clip(img, 0, None) ** (1 / 2.2)
    img = img / (1 + 0.12 * img)  # a soft shoulder instead of hard clipping
    img = img.astype(F32)
    if noise_rng is not None and ident.noise_sigma > 0:
        noise = noise_rng.standard_normal(img.shape, dtype=F32)  # the same draw as v1's sensor noise
        grain = 0.6 * noise.mean(-1, keepdims=True) + 0.4 * noise
        img += grain * F32(ident.noise_sigma) * np.sqrt(np.clip(img, 0.02, 1)) * 1.2
        camera = np.random.default_rng(np.frombuffer(noise[:2].tobytes()[:16], dtype=np.uint32))
        img = _jpeg(img, int(camera.integers(70, 97)))
    np.clip(img, 0.0, 1.0, out=img)
    return img, posed


def _glasses(layer, alpha, L, colour, s, mk: _Masks, key_c):
    """Frames (dark, with a highlight) and slightly reflective lenses over the eyes."""
    lens = np.zeros(alpha.shape, F32)
    rim = np.zeros(alpha.shape, F32)
    for eye in (L[36:42], L[42:48]):
        c = eye.mean(0)
        w = np.linalg.norm(eye[3] - eye[0]) * 0.85
        box = np.array([[c[0] - w, c[1] - 7 * s], [c[0] + w, c[1] - 7 * s], [c[0] + w, c[1] + 7 * s],
                        [c[0] - w, c[1] + 7 * s]])
        lens = np.maximum(lens, mk.polygon(box))
        rim = np.maximum(rim, mk.line(np.concatenate([box, box[:1]]), 1.1 * s))
    y = (L[39, 1] + L[42, 1]) / 2 - 3 * s
    rim = np.maximum(rim, mk.line(np.array([[L[39, 0] + 2 * s, y], [L[27, 0], y - 1.5 * s], [L[42, 0] - 2 * s, y]]),
                                  1.1 * s))
    rim = np.maximum(rim, mk.line(np.array([L[36] + [-11 * s, -5 * s], L[0] + [0, -3 * s]]), 1.1 * s))
    rim = np.maximum(rim, mk.line(np.array([L[45] + [11 * s, -5 * s], L[16] + [0, -3 * s]]), 1.1 * s))
    frame = _lin(colour) * np.asarray(key_c, F32) * 0.8
    layer = layer * (1 - 0.12 * lens[..., None]) + 0.12 * lens[..., None] * np.array([0.5, 0.6, 0.7], F32)
    layer = layer * (1 - rim[..., None]) + frame * rim[..., None]
    return layer, np.maximum(alpha, rim)


def _jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray((np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)).save(buf, "JPEG", quality=quality)
    buf.seek(0)
    return np.asarray(Image.open(buf).convert("RGB"), dtype=F32) / 255.0
