"""Contact sheets of FaceForge-Synth faces and landmark overlays, for people to look at."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from faceforge.data.synth.faces import DEFAULT_RENDERER, render_face, split_identities
from faceforge.face.expressions import EXPRESSIONS
from faceforge.face.landmarks import GROUPS

GROUP_COLOURS = {
    "jaw": (255, 255, 0), "brow_l": (255, 128, 0), "brow_r": (255, 128, 0), "nose_bridge": (0, 255, 255),
    "nose_base": (0, 255, 255), "eye_l": (0, 255, 0), "eye_r": (0, 255, 0), "lips_outer": (255, 0, 255),
    "lips_inner": (255, 80, 160),
}


def draw_landmarks(image: np.ndarray, landmarks: np.ndarray, *, zoom: int = 4) -> Image.Image:
    """Upscale ``image`` (H, W, 3) uint8 by ``zoom`` (nearest) and draw the 68 landmarks on it, coloured by group."""
    h, w, _ = image.shape
    big = Image.fromarray(image).resize((w * zoom, h * zoom), Image.NEAREST)
    draw = ImageDraw.Draw(big)
    r = max(1.5, zoom * 0.45)
    for name, idx in GROUPS.items():
        for x, y in landmarks[list(idx)]:
            cx, cy = (x + 0.5) * zoom, (y + 0.5) * zoom  # pixel centre of the upscaled pixel
            draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=GROUP_COLOURS[name], outline=(0, 0, 0))
    return big


def contact_sheet(
    *, identities: int = 6, size: int = 128, intensity: float = 1.0, split: str = "test", seed: int = 0,
    version: int = DEFAULT_RENDERER,
) -> Image.Image:
    """Rows of the eight expressions (neutral first) x columns of identities from ``split``, labelled;
    ``version`` picks the renderer (1 or 2)."""
    ids = list(split_identities(split))[:: max(1, len(split_identities(split)) // identities)][:identities]
    label_w = 78
    sheet = Image.new("RGB", (label_w + identities * size, len(EXPRESSIONS) * size), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    for row, expr in enumerate(EXPRESSIONS):
        draw.text((6, row * size + size // 2 - 6), expr, fill=(0, 0, 0))
        for col, ident in enumerate(ids):
            face = render_face(identity=ident, expression=expr, intensity=intensity, size=size, seed=seed,
                               version=version)
            sheet.paste(Image.fromarray(face.image), (label_w + col * size, row * size))
    return sheet


def comparison_sheet(
    *, identities: tuple[int, ...] = (1800, 1866, 1933, 1999), expressions: tuple[str, ...] = (
        "neutral", "happiness", "surprise", "anger", "sadness"), size: int = 128, seed: int = 0,
    poses: tuple[tuple[float, float, float], ...] | None = None,
) -> Image.Image:
    """Renderer 1 and renderer 2 side by side: a row per identity, a column pair (v1 | v2) per expression.

    ``poses`` gives each identity's head pose (default frontal).
    """
    gap, label_h = 6, 16
    pair_w = 2 * size + gap
    sheet = Image.new("RGB", (len(expressions) * (pair_w + gap), label_h + len(identities) * size),
                      (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    for col, expr in enumerate(expressions):
        x = col * (pair_w + gap)
        draw.text((x + 4, 2), f"{expr}: v1 | v2", fill=(0, 0, 0))
        for row, ident in enumerate(identities):
            pose = poses[row] if poses else (0.0, 0.0, 0.0)
            for k, version in enumerate((1, 2)):
                face = render_face(identity=ident, expression=expr, size=size, seed=seed, pose=pose,
                                   version=version)
                sheet.paste(Image.fromarray(face.image), (x + k * (size + gap), label_h + row * size))
    return sheet
