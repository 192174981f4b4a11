"""Rasterise a FaceForge-Synth face: PIL polygons at a supersampled resolution, box-downsampled, then
numpy lighting and camera noise.

Every shape is built from the posed 68 landmarks (plus the head outline), so the landmarks returned with an
image are exactly the points its eyes, brows, nose, lips and jaw are drawn through. AU appearance changes
(FACS "appearance changes": furrows, wrinkles, bulges, teeth) are drawn around the landmarks of the face
region FACS assigns them to, with strength proportional to the AU intensity.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from faceforge.data.synth.appearance import Identity
from faceforge.data.synth.geometry import AU_POSITION, N_HEAD, head_outline, landmark_depth, project

Colour = tuple[float, float, float]


def catmull_rom(points: np.ndarray, *, closed: bool, steps: int = 4) -> np.ndarray:
    """Smooth curve through (N, 2) control points (it passes through every point exactly)."""
    p = np.asarray(points, dtype=np.float64)
    if closed:
        ext = np.concatenate([p[-1:], p, p[:2]])
    else:
        ext = np.concatenate([2 * p[:1] - p[1:2], p, 2 * p[-1:] - p[-2:-1]])
    t = np.linspace(0, 1, steps, endpoint=False)[:, None, None]
    p0, p1, p2, p3 = ext[:-3], ext[1:-2], ext[2:-1], ext[3:]
    curve = 0.5 * (
        2 * p1 + (-p0 + p2) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t**2 + (-p0 + 3 * p1 - 3 * p2 + p3) * t**3
    )
    out = curve.transpose(1, 0, 2).reshape(-1, 2)
    return out if closed else np.concatenate([out, p[-1:]])


_RAMP = np.linspace(0, 1, 16, dtype=np.float32)
_GRADIENT = (0.75 * _RAMP[:, None] + 0.25 * _RAMP[None, :])[..., None]


def _rgba(colour: Colour | np.ndarray, alpha: float = 255) -> tuple[int, int, int, int]:
    r, g, b = (min(max(int(v), 0), 255) for v in colour)
    return r, g, b, min(max(int(alpha), 0), 255)


def _shade(colour: Colour, factor: float) -> np.ndarray:
    return np.asarray(colour, dtype=np.float64) * factor


class Canvas:
    """A supersampled RGB canvas that takes points in output-pixel coordinates of the 128 template frame."""

    def __init__(self, size: int, margin: int, ss: int, background: tuple[Colour, Colour]):
        self.out = size + 2 * margin
        self.ss = ss
        self.k = ss * size / 128.0  # canvas pixels per template pixel
        # Template point p -> output pixel (p + 0.5) * size/128 - 0.5 + margin -> canvas (out + 0.5) * ss - 0.5.
        self.offset = ((0.5 * size / 128.0 - 0.5 + margin) + 0.5) * ss - 0.5
        n = self.out * ss
        c1, c2 = (np.asarray(c, dtype=np.float32) for c in background)
        small = c1 + (c2 - c1) * _GRADIENT  # a smooth diagonal gradient, drawn small and upsampled
        self.image = Image.fromarray(small.astype(np.uint8), "RGB").resize((n, n), Image.BILINEAR)
        self.draw = ImageDraw.Draw(self.image, "RGBA")

    def pts(self, p: np.ndarray) -> list[tuple[float, float]]:
        q = np.asarray(p, dtype=np.float64) * self.k + self.offset
        return list(map(tuple, q.tolist()))

    def polygon(self, p: np.ndarray, colour, alpha: float = 255) -> None:
        if len(p) >= 3:
            self.draw.polygon(self.pts(p), fill=_rgba(colour, alpha))

    def line(self, p: np.ndarray, colour, width: float, alpha: float = 255) -> None:
        if alpha >= 2:
            self.draw.line(self.pts(p), fill=_rgba(colour, alpha), width=max(1, round(width * self.k)), joint="curve")

    def ellipse(self, centre, radii, colour, alpha: float = 255) -> None:
        if alpha < 2:
            return
        (x, y), (rx, ry) = self.pts(np.asarray(centre)[None])[0], (radii[0] * self.k, radii[1] * self.k)
        self.draw.ellipse([x - rx, y - ry, x + rx, y + ry], fill=_rgba(colour, alpha))

    def soft_ellipse(self, centre, radii, colour, alpha: float, rings: int = 4) -> None:
        """A blurred-looking blob: concentric ellipses whose alphas add up to ``alpha`` at the centre."""
        if alpha < 2 * rings:
            return
        for i in range(rings):
            f = 1.0 - i / rings
            self.ellipse(centre, (radii[0] * f, radii[1] * f), colour, alpha / rings)

    def clipped(self, region: np.ndarray, paint) -> None:
        """Run ``paint(canvas)`` but keep its strokes only inside the polygon ``region``."""
        q = np.asarray(self.pts(region))
        x0, y0 = np.floor(q.min(0)).astype(int) - 1
        x1, y1 = np.ceil(q.max(0)).astype(int) + 2
        x0, y0 = max(x0, 0), max(y0, 0)
        x1, y1 = min(x1, self.image.width), min(y1, self.image.height)
        if x1 - x0 < 2 or y1 - y0 < 2:
            return
        before = self.image.crop((x0, y0, x1, y1))
        paint(self)
        mask = Image.new("L", (x1 - x0, y1 - y0), 0)
        ImageDraw.Draw(mask).polygon([(x - x0, y - y0) for x, y in q.tolist()], fill=255)
        after = self.image.crop((x0, y0, x1, y1))
        self.image.paste(Image.composite(after, before, mask), (x0, y0))

    def finish(self) -> np.ndarray:
        small = self.image.reduce(self.ss) if self.ss > 1 else self.image
        return np.asarray(small, dtype=np.float32) / 255.0


def _offset_curve(p: np.ndarray, d: float) -> np.ndarray:
    """Shift an open polyline by ``d`` along its normals (positive = to the left of the direction of travel,
    i.e. up for a curve drawn left to right)."""
    t = np.gradient(p, axis=0)
    t /= np.linalg.norm(t, axis=1, keepdims=True) + 1e-9
    normal = np.stack([t[:, 1], -t[:, 0]], axis=1)
    return p + np.asarray(d, dtype=np.float64).reshape(-1, 1) * normal


def render(
    ident: Identity,
    lm: np.ndarray,
    au: np.ndarray,
    pose: tuple[float, float, float],
    *,
    size: int = 128,
    margin: int = 0,
    supersample: int = 2,
    noise_rng: np.random.Generator | None = None,
    mouth_au: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw one face.

    Args:
        ident: the identity (colours, hair, glasses, ...).
        lm: (68, 2) frontal landmarks after AU deformation, template frame.
        au: (n_aus,) AU intensities 0-5 (max over the two sides), for appearance changes.
        pose: (yaw, pitch, roll) degrees.
        size: output crop size; the face is framed as the 128 template scaled to ``size``.
        margin: extra border (output pixels) around the crop.
        supersample: canvas oversampling factor before box downsampling.
        noise_rng: source of camera noise; None renders without noise.

    Returns:
        image (H, W, 3) float32 in [0, 1], landmarks (68, 2) in output pixels.
    """
    s = ident.shape
    head = head_outline(lm, s.head_height)
    depth = landmark_depth()
    head_depth = -30.0 * np.ones(N_HEAD)
    posed = project(np.concatenate([lm, head]), np.concatenate([depth, head_depth]), pose)
    P, head = posed[:68], posed[68:]
    a = {k: au[i] / 5.0 for k, i in AU_POSITION.items()}

    cv = Canvas(size, margin, supersample, ident.background)
    skin = np.asarray(ident.skin)
    hair = np.asarray(ident.hair)
    face_outline = np.concatenate([P[0:17], head])
    head_centre = face_outline.mean(0)

    _draw_body(cv, P, ident, skin)
    _draw_hair_back(cv, P, head, head_centre, ident, hair)
    # Ears: behind the face outline, beside jaw points 1-3 / 13-15.
    for j, side in ((1, -1), (15, 1)):
        c = P[j] + np.array([side * 2.0, -4.0])
        cv.ellipse(c, (5.0, 11.0), _shade(skin, 0.9))
        cv.ellipse(c + np.array([side * 0.8, 0]), (2.6, 7.0), _shade(skin, 0.72), 140)
    cv.polygon(catmull_rom(face_outline, closed=True, steps=3), skin)
    _draw_shading(cv, P, ident, skin, a)
    _draw_wrinkles(cv, P, ident, skin, a)
    _draw_nose(cv, P, skin)
    _draw_brows(cv, P, ident)
    for idx in (range(36, 42), range(42, 48)):
        _draw_eye(cv, P[list(idx)], ident, skin)
    _draw_mouth(cv, P, ident, a)
    if ident.glasses is not None:
        _draw_glasses(cv, P, ident.glasses)
    _draw_hair_front(cv, P, head, ident, hair)

    img = cv.finish()
    scale = size / 128.0
    out_lm = (P + 0.5) * scale - 0.5 + margin
    img = _light(img, out_lm, ident, scale, margin)
    if noise_rng is not None and ident.noise_sigma > 0:
        img += noise_rng.standard_normal(img.shape, dtype=np.float32) * np.float32(ident.noise_sigma)
    np.clip(img, 0.0, 1.0, out=img)
    return img, out_lm


def _draw_body(cv: Canvas, P: np.ndarray, ident: Identity, skin: np.ndarray) -> None:
    bottom = 150.0
    cx = (P[3, 0] + P[13, 0]) / 2
    half = (P[13, 0] - P[3, 0]) * 0.36
    cv.polygon(np.array([[-30, bottom], [-30, 128], [cx - 2.2 * half, 118], [cx + 2.2 * half, 118],
                         [157, 128], [157, bottom]]), ident.clothes)
    neck = np.array([[cx - half, P[4, 1] - 10], [cx - half * 1.05, 124], [cx - half * 1.3, bottom],
                     [cx + half * 1.3, bottom], [cx + half * 1.05, 124], [cx + half, P[12, 1] - 10]])
    cv.polygon(neck, _shade(skin, 0.82))
    cv.soft_ellipse(P[8] + np.array([0, 3]), (half * 1.1, 6.0), _shade(skin, 0.5), 90)


def _draw_hair_back(cv: Canvas, P, head, head_centre, ident: Identity, hair) -> None:
    if ident.hair_style not in ("long", "bun"):
        return
    volume = head_centre + (head - head_centre) * np.array([1.14, 1.1])
    if ident.hair_style == "long":
        left = np.array([[P[0, 0] - 9, P[0, 1]], [P[2, 0] - 11, 110], [P[3, 0] - 12, 150]])
        right = np.array([[P[16, 0] + 9, P[16, 1]], [P[14, 0] + 11, 110], [P[13, 0] + 12, 150]])
        cv.polygon(np.concatenate([right[::-1], volume, left]), _shade(hair, 0.8))
    else:  # a bun on top
        cv.ellipse(head[N_HEAD // 2] + np.array([0, -6]), (16, 12), _shade(hair, 0.85))


def _draw_shading(cv: Canvas, P: np.ndarray, ident: Identity, skin: np.ndarray, a: dict) -> None:
    blush = skin * np.array([1.0, 0.78, 0.78])
    for eye, corners, side in ((range(36, 42), [36, 39], -1), (range(42, 48), [42, 45], 1)):
        e = P[list(eye)].mean(0)
        cheek = P[corners].mean(0) + np.array([side * 3.0, 19.0 - 3.0 * a[6] - 2.0 * a[12]])
        cv.soft_ellipse(cheek, (11, 8), blush, 34 + 30 * a[6])
        # AU6: the raised cheek bulges under the eye (highlight) with a furrow below the lower lid.
        if a[6] > 0 or a[12] > 0:
            bulge = max(a[6], 0.6 * a[12])
            cv.soft_ellipse(cheek + np.array([0, -1.0]), (9, 5.5), _shade(skin, 1.15), 95 * bulge)
            cv.line(catmull_rom(np.array([cheek + [-side * 9, 5], cheek + [0, 7.5], cheek + [side * 8, 4]]),
                                closed=False), _shade(skin, 0.7), 0.8, 110 * bulge)  # shadow under the bulge
        # Eye socket shadow between brow and upper lid.
        brow = P[17:22] if side < 0 else P[22:27]
        cv.soft_ellipse((brow.mean(0) + e) / 2 + np.array([0, 1.5]), (11, 5.5), _shade(skin, 0.7), 40)
    # Chin and lower-lip shadows.
    cv.soft_ellipse(P[57] + np.array([0, 4.5]), (7, 2.6), _shade(skin, 0.7), 45 + 60 * a[17])
    cv.soft_ellipse(P[8] + np.array([0, -7]), (9, 5), _shade(skin, 1.1), 35)


def _line_alpha(x: float) -> float:
    return float(np.clip(x, 0, 1)) * 150


def _draw_wrinkles(cv: Canvas, P: np.ndarray, ident: Identity, skin: np.ndarray, a: dict) -> None:
    dark = _shade(skin, 0.6)
    age = ident.age
    bl, br = P[17:22], P[22:27]
    brow_top = min(bl[:, 1].min(), br[:, 1].min())
    # AU1 (centre) / AU2 (sides): horizontal forehead furrows above the raised brows.
    for row in range(3):
        y = brow_top - 5.0 - 4.2 * row
        xs = np.linspace(P[19, 0], P[24, 0], 9)
        centre_w = np.exp(-(((xs - P[27, 0]) / 14.0) ** 2))
        strength = a[1] * centre_w + a[2] * (1 - centre_w) + 0.15 * age
        sag = 1.6 * np.cos((xs - P[27, 0]) / 40.0)
        for i in range(len(xs) - 1):
            seg = np.array([[xs[i], y - sag[i]], [xs[i + 1], y - sag[i + 1]]])
            cv.line(seg, dark, 0.7, _line_alpha((strength[i] + strength[i + 1]) / 2) * (1 - 0.2 * row))
    # AU4: vertical glabellar furrows between the lowered inner brows, and the brows' bulge.
    for x_off in (-3.0, 3.0):
        top = np.array([P[27, 0] + x_off * 1.1, (P[21, 1] + P[22, 1]) / 2 - 5])
        cv.line(np.array([top, [P[27, 0] + x_off * 0.8, P[27, 1] - 3]]), dark, 0.8, _line_alpha(a[4] * 1.1))
    cv.line(np.array([[P[39, 0] + 2, P[27, 1] - 1.5], [P[42, 0] - 2, P[27, 1] - 1.5]]), dark, 0.6,
            _line_alpha(a[4] * 0.7 + a[9] * 0.6))
    for eye_outer, side in ((P[36], -1), (P[45], 1)):
        # AU6: crow's feet radiating from the outer eye corners.
        for ang in (-25, 0, 25):
            d = np.array([side * np.cos(np.deg2rad(ang)), -np.sin(np.deg2rad(ang))])
            seg = np.array([eye_outer + d * 3.0, eye_outer + d * 7.5])
            cv.line(seg, dark, 0.6, _line_alpha(a[6] * 1.1 + 0.1 * age))
    for lower in (P[[36, 41, 40, 39]], P[[42, 47, 46, 45]]):
        # AU7 lower-lid bulge / AU6 infraorbital furrow under the lower lid.
        curve = catmull_rom(lower, closed=False, steps=3) + np.array([0, 2.6])
        cv.line(curve, dark, 0.6, _line_alpha(0.8 * a[7] + 0.7 * a[6] + 0.15 * age))
    # AU9: horizontal wrinkles across the nose root.
    for row in range(3):
        y = P[27, 1] + 2 + 2.4 * row
        cv.line(np.array([[P[27, 0] - 4, y + 0.6], [P[27, 0], y], [P[27, 0] + 4, y + 0.6]]), dark, 0.6,
                _line_alpha(a[9] * 1.2))
    # Nasolabial folds, deepened by AU12, AU10, AU9 and AU6.
    fold = 0.25 + 0.3 * age + 0.9 * a[12] + 0.7 * a[10] + 0.6 * a[9] + 0.2 * a[6]
    for wing, corner, side in ((P[31], P[48], -1), (P[35], P[54], 1)):
        start = wing + np.array([side * 3.0, -2.0])
        end = corner + np.array([side * 3.5, 2.5])
        mid = (start + end) / 2 + np.array([side * 3.0, 0])
        curve = catmull_rom(np.array([start, mid, end]), closed=False, steps=4)
        cv.line(curve, dark, 0.9, _line_alpha(fold * 0.8))
        # AU14: dimples beside the lip corners.
        cv.soft_ellipse(corner + np.array([side * 4.0, 0.0]), (1.6, 2.4), dark, 140 * a[14], rings=2)
        # AU15: lines running down from the depressed lip corners.
        cv.line(np.array([corner + np.array([side * 1.0, 2.0]), corner + np.array([side * 2.0, 8.0])]), dark, 0.7,
                _line_alpha(a[15] * 1.1))
        # AU20: horizontal stretch lines beside the corners.
        cv.line(np.array([corner + np.array([side * 2.0, 0.5]), corner + np.array([side * 6.5, 1.0])]), dark, 0.6,
                _line_alpha(a[20] * 1.1))
    # AU17: chin boss wrinkling and the deepened furrow under the lower lip.
    chin = P[8] + np.array([0, -7.5])
    cv.line(catmull_rom(np.array([P[58] + [0, 4.0], P[57] + [0, 5.0], P[56] + [0, 4.0]]), closed=False),
            dark, 0.8, _line_alpha(a[17] * 1.2 + a[24] * 0.6))
    for dx, dy in ((-3, 0), (2.5, -1), (0, 2), (-1.5, 3), (3, 2.5)):
        cv.ellipse(chin + np.array([dx, dy]), (0.7, 0.7), dark, 140 * a[17])


def _draw_nose(cv: Canvas, P: np.ndarray, skin: np.ndarray) -> None:
    dark = _shade(skin, 0.62)
    # Side shadow of the bridge and the wings.
    bridge = P[27:31]
    cv.polygon(np.concatenate([bridge + np.array([3.5, 0]), (bridge + np.array([6.5, 0]))[::-1]]),
               _shade(skin, 0.8), 60)
    cv.soft_ellipse(P[30] + np.array([0, -1.0]), (4.0, 3.2), _shade(skin, 1.12), 60)
    for wing, side in ((P[31], -1), (P[35], 1)):
        arc = np.array([wing + [side * -0.5, -4.0], wing + [side * 1.5, -1.5], wing, wing + [side * -2.0, 1.2]])
        cv.line(catmull_rom(arc, closed=False, steps=3), dark, 0.9, 150)
    for j in (32, 34):
        c = (P[j] + P[33]) / 2 + np.array([(P[j, 0] - P[33, 0]) * 0.6, -1.0])
        cv.ellipse(c, (2.0, 1.1), _shade(skin, 0.35), 220)
    cv.line(catmull_rom(P[31:36], closed=False, steps=3), dark, 0.6, 90)


def _draw_brows(cv: Canvas, P: np.ndarray, ident: Identity) -> None:
    thick = 1.0 * ident.brow_thickness
    for brow, inner_first in ((P[17:22], False), (P[22:27], True)):
        curve = catmull_rom(brow, closed=False, steps=3)
        n = len(curve)
        prof = np.linspace(2.6, 1.2, n) if not inner_first else np.linspace(1.2, 2.6, n)
        if not inner_first:
            prof = prof[::-1]  # the image-left brow runs outer -> inner: thick at the inner end
        prof = prof * thick
        upper, lower = _offset_curve(curve, prof * 0.6), _offset_curve(curve, -prof * 0.4)
        cv.polygon(np.concatenate([upper, lower[::-1]]), ident.brow, 235)


def _draw_eye(cv: Canvas, E: np.ndarray, ident: Identity, skin: np.ndarray) -> None:
    """E: the six eye points in dlib order (corner, two upper, corner, two lower)."""
    outline = catmull_rom(E, closed=True, steps=4)
    open_h = (E[4, 1] + E[5, 1] - E[1, 1] - E[2, 1]) / 2
    width = np.linalg.norm(E[3] - E[0])
    centre = (E[0] + E[3]) / 2 + np.array([0, 0.2])
    if open_h > 0.35:
        cv.polygon(outline, (236, 232, 226))
        r = width * 0.24

        def paint(c: Canvas) -> None:
            c.ellipse(centre, (r, r), ident.iris)
            c.ellipse(centre, (r * 0.72, r * 0.72), _shade(ident.iris, 0.75), 120)
            c.ellipse(centre, (r * 0.42, r * 0.42), (12, 10, 10))
            c.ellipse(centre + np.array([-r * 0.35, -r * 0.35]), (r * 0.18, r * 0.18), (250, 250, 250), 220)
            upper = catmull_rom(E[[0, 1, 2, 3]], closed=False, steps=4)
            c.line(upper + np.array([0, 0.6]), (40, 30, 30), 1.2, 70)  # lid shadow on the eyeball

        cv.clipped(outline, paint)
    # Upper lid margin with lashes, lower lid, and the lid crease above.
    upper = catmull_rom(E[[0, 1, 2, 3]], closed=False, steps=4)
    lower = catmull_rom(E[[3, 4, 5, 0]], closed=False, steps=4)
    cv.line(upper, (28, 22, 22), 1.1, 235)
    cv.line(lower, _shade(skin, 0.55), 0.6, 170)
    crease = _offset_curve(upper, 2.4 if upper[0, 0] < upper[-1, 0] else -2.4)
    cv.line(crease[2:-2], _shade(skin, 0.66), 0.6, 120)


def _draw_mouth(cv: Canvas, P: np.ndarray, ident: Identity, a: dict) -> None:
    lips = np.asarray(ident.lips)
    inner = catmull_rom(P[60:68], closed=True, steps=4)
    upper_lip = np.concatenate([catmull_rom(P[48:55], closed=False, steps=4),
                                catmull_rom(P[[64, 63, 62, 61, 60]], closed=False, steps=4)])
    lower_lip = np.concatenate([catmull_rom(P[[54, 55, 56, 57, 58, 59, 48]], closed=False, steps=4),
                                catmull_rom(P[[60, 67, 66, 65, 64]], closed=False, steps=4)])
    cv.polygon(lower_lip, lips)
    cv.polygon(upper_lip, _shade(lips, 0.88))
    gap = (P[65:68, 1] - P[[63, 62, 61], 1]).max()
    if gap > 0.3:
        cv.polygon(inner, (52, 16, 20))
        width = P[64, 0] - P[60, 0]
        top, bottom = P[62], P[66]

        def teeth(c: Canvas) -> None:
            # Upper incisors hang from under the upper lip; lower teeth show when the jaw drops.
            up = np.array([[P[60, 0] + width * 0.08, top[1] - 1], [P[64, 0] - width * 0.08, top[1] - 1],
                           [P[64, 0] - width * 0.12, top[1] + 3.4], [P[60, 0] + width * 0.12, top[1] + 3.4]])
            c.polygon(up, (238, 234, 222))
            for x in np.linspace(P[60, 0] + width * 0.3, P[64, 0] - width * 0.3, 4):
                c.line(np.array([[x, top[1]], [x, top[1] + 3.2]]), (170, 160, 150), 0.35, 160)
            if bottom[1] - top[1] > 7:
                low = np.array([[P[60, 0] + width * 0.2, bottom[1] - 2.4], [P[64, 0] - width * 0.2, bottom[1] - 2.4],
                                [P[64, 0] - width * 0.2, bottom[1] + 1], [P[60, 0] + width * 0.2, bottom[1] + 1]])
                c.polygon(low, (220, 214, 204))
                c.ellipse(bottom + np.array([0, -1.0]), (width * 0.22, 2.2), (160, 70, 80), 200)  # tongue

        cv.clipped(inner, teeth)
    # Lip line / inner outline, and a highlight on the lower lip.
    cv.line(catmull_rom(P[[60, 61, 62, 63, 64]], closed=False, steps=4), _shade(lips, 0.45), 0.8, 220)
    cv.soft_ellipse((P[57] + P[66]) / 2 + np.array([0, 0.2]), (4.0, 1.3), (255, 255, 255), 45, rings=2)


def _draw_glasses(cv: Canvas, P: np.ndarray, colour: Colour) -> None:
    for eye in (P[36:42], P[42:48]):
        c = eye.mean(0)
        w = np.linalg.norm(eye[3] - eye[0]) * 0.85
        rim = np.array([[c[0] - w, c[1] - 7], [c[0] + w, c[1] - 7], [c[0] + w, c[1] + 7], [c[0] - w, c[1] + 7]])
        cv.polygon(rim, (200, 220, 240), 28)
        cv.line(np.concatenate([rim, rim[:1]]), colour, 1.0, 240)
    left_in, right_in = P[36:42].mean(0)[0] + 12, P[42:48].mean(0)[0] - 12
    y = (P[39, 1] + P[42, 1]) / 2 - 3
    cv.line(np.array([[left_in, y], [P[27, 0], y - 1.5], [right_in, y]]), colour, 1.0, 240)
    cv.line(np.array([[P[36, 0] - 11, P[36, 1] - 5], [P[0, 0], P[0, 1] - 3]]), colour, 1.0, 240)
    cv.line(np.array([[P[45, 0] + 11, P[45, 1] - 5], [P[16, 0], P[16, 1] - 3]]), colour, 1.0, 240)


def _draw_hair_front(cv: Canvas, P: np.ndarray, head: np.ndarray, ident: Identity, hair: np.ndarray) -> None:
    cx = P[27, 0]
    top = ident.hairline + (P[27, 1] - 53.0)  # follows the head's pitch
    temple_l = np.array([P[0, 0] + 2.0, P[0, 1] - 8.0])
    temple_r = np.array([P[16, 0] - 2.0, P[16, 1] - 8.0])
    part = cx + ident.hair_part * 18
    if ident.hair_style == "fringe":
        hairline = np.array([temple_l, [P[17, 0] + 2, top + 2], [cx - 10, top], [cx + 10, top + 1],
                             [P[26, 0] - 2, top + 2], temple_r])
    elif ident.hair_style == "cropped":
        hairline = np.array([temple_l + [1, -3], [cx - 22, top - 1], [cx, top - 2], [cx + 22, top - 1],
                             temple_r + [-1, -3]])
    else:
        hairline = np.array([temple_l, [cx - 24, top + 3], [part, top - 1], [cx + 24, top + 3], temple_r])
    volume = (head - head.mean(0)) * (1.04 if ident.hair_style == "cropped" else 1.1) + head.mean(0)
    cap = np.concatenate([catmull_rom(hairline, closed=False, steps=4)[::-1],
                          [temple_l + [-6, 4]], volume[::-1], [temple_r + [6, 4]]])
    cv.polygon(cap[::-1], hair)
    # A few strands for texture.
    for dx in (-16, -6, 6, 16):
        x0 = part + dx
        cv.line(np.array([[x0, top - 3], [x0 + dx * 0.5, top - 14]]), _shade(hair, 0.7 if hair.mean() > 60 else 1.6),
                0.5, 90)


def _light(img: np.ndarray, lm: np.ndarray, ident: Identity, scale: float, margin: int) -> np.ndarray:
    """Lambertian shading of the face as an ellipsoid lit from ``light_azimuth``, plus ambient light."""
    h, w, _ = img.shape
    # Only AU-stable points (ear-level jaw ends, nose root) place the head, so expressions don't relight it.
    cx = (lm[0, 0] + lm[16, 0]) / 2
    half_width = (lm[16, 0] - lm[0, 0]) / 2
    cy = lm[27, 1] + 8 * scale
    rx, ry = half_width * 1.15, half_width * 1.35
    ys = (np.arange(h, dtype=np.float32) - cy) / ry
    xs = (np.arange(w, dtype=np.float32) - cx) / rx
    r2 = np.minimum(xs[None, :] ** 2 + ys[:, None] ** 2, 1.0)
    nz = np.sqrt(1.0 - r2)
    az = np.deg2rad(ident.light_azimuth)
    lx, ly, lz = np.sin(az) * 0.8, -0.35, np.cos(az)
    norm = np.sqrt(lx * lx + ly * ly + lz * lz)
    lambert = np.maximum(xs[None, :] * lx + ys[:, None] * ly + nz * lz, 0) / norm
    k = ident.light_strength
    shade = (1 - k) + k * 1.15 * lambert
    # Outside the head the background only gets a gentle gradient.
    inside = r2 < 1.0
    shade = np.where(inside, shade, 1 - k * 0.25 + k * 0.25 * (xs[None, :] * np.sign(lx) * 0.15 + 0.85))
    return img * shade[..., None].astype(np.float32)
