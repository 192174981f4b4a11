"""Example pictures of the app, written once into the faceforge cache (nothing is downloaded).

* ``synthetic-group.png``: two FaceForge-Synth test identities (happy and surprised) as portraits on one
  textured canvas, at two sizes: a "photo" with two faces, made by the renderer (``RENDERER``).
* ``synthetic-aligned.png``: one aligned 128x128 FaceForge-Synth test face (use with "aligned face").
* ``synthetic-small-faces.png``: six FaceForge-Synth test identities, each with another expression, as small
  portraits (faces about 40 px across) on one textured canvas, captioned as synthetic: a group photo whose faces
  are low-resolution already.
* ``synthetic-weak.png``: one FaceForge-Synth test face with a weak expression (happiness at 0.2 of its peak, as
  frames 6-8 of a neutral-to-peak sequence), with a margin around it.
* ``synthetic-sequence.mp4``: a FaceForge-Synth test identity going from neutral to peak surprise in 16 frames (the
  intensity rising as the square of time, as the training sequences do), at 8 frames a second.
* ``astronaut.png``: a real photograph, scikit-image's ``astronaut`` (Eileen Collins, NASA, public domain).
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
from PIL import Image

from faceforge.data.cache import cache_root

EXAMPLES_VERSION = 2  # bump when the pictures change (2: the synthetic pictures come from renderer 2)
RENDERER = 2  # the FaceForge-Synth renderer of the synthetic pictures (changing it changes them: bump the above)


def _group_photo() -> np.ndarray:
    from faceforge.data.synth import render_face

    h, w = 300, 460
    yy, xx = np.mgrid[0:h, 0:w] / w
    canvas = np.array([96, 120, 150]) + 30 * np.stack([np.sin(5 * xx + c) * np.cos(3 * yy - c) for c in range(3)], -1)
    canvas = canvas.astype(np.uint8)
    photo = Image.fromarray(canvas)
    for identity, expression, side, (x, y) in ((1812, "happiness", 208, (14, 46)),
                                                (1877, "surprise", 176, (262, 70))):
        face = render_face(identity=identity, expression=expression, intensity=1.0, margin=32, pose=(8, 0, -4),
                           version=RENDERER)
        photo.paste(Image.fromarray(face.image).resize((side, side), Image.Resampling.LANCZOS), (x, y))
    return np.asarray(photo)


# (identity, expression, portrait side, (x, y)) of the small-faces picture: faces 37-45 px across, which dlib's
# detector finds with its automatic upsampling.
SMALL_FACES = ((1805, "happiness", 64, (12, 30)), (1822, "surprise", 72, (90, 140)), (1848, "anger", 80, (168, 30)),
               (1861, "sadness", 68, (246, 140)), (1889, "disgust", 76, (324, 30)), (1903, "fear", 70, (402, 140)))


def _small_faces_photo() -> np.ndarray:
    from PIL import ImageDraw, ImageFont

    from faceforge.data.synth import render_face

    h, w = 260, 480
    yy, xx = np.mgrid[0:h, 0:w] / w
    canvas = np.array([120, 132, 110]) + 28 * np.stack([np.sin(4 * xx + 2 * c) * np.cos(6 * yy - c)
                                                        for c in range(3)], -1)
    photo = Image.fromarray(canvas.astype(np.uint8))
    for identity, expression, side, (x, y) in SMALL_FACES:
        face = render_face(identity=identity, expression=expression, intensity=1.0, margin=32, version=RENDERER)
        photo.paste(Image.fromarray(face.image).resize((side, side), Image.Resampling.LANCZOS), (x, y))
    ImageDraw.Draw(photo).text((8, h - 22), "SYNTHETIC: FaceForge-Synth faces, not real people",
                               fill=(255, 255, 255), font=ImageFont.load_default(size=14))
    return np.asarray(photo)


def _aligned_face() -> np.ndarray:
    from faceforge.data.synth import render_face

    return render_face(identity=1843, expression="happiness", intensity=0.9, version=RENDERER).image


def _weak_face() -> np.ndarray:
    from faceforge.data.synth import render_face

    return render_face(identity=1836, expression="happiness", intensity=0.2, margin=32, version=RENDERER).image


def _sequence() -> list[np.ndarray]:
    from faceforge.data.synth import render_face

    return [render_face(identity=1877, expression="surprise", intensity=0.95 * float(t) ** 2, margin=32,
                        version=RENDERER).image for t in np.linspace(0, 1, 16)]


def _astronaut() -> np.ndarray:
    from skimage import data

    return data.astronaut()


EXAMPLES = {
    "synthetic-group.png": _group_photo,
    "synthetic-aligned.png": _aligned_face,
    "synthetic-small-faces.png": _small_faces_photo,
    "synthetic-weak.png": _weak_face,
    "synthetic-sequence.mp4": _sequence,
    "astronaut.png": _astronaut,
}


def examples_folder() -> Path:
    """The folder the example pictures are written to."""
    return cache_root() / f"demo-examples-v{EXAMPLES_VERSION}"


@functools.cache
def example_path(name: str) -> str:
    """The path of one example picture (written on first use)."""
    if name not in EXAMPLES:
        raise KeyError(f"unknown example {name!r}; examples: {', '.join(EXAMPLES)}")
    folder = examples_folder()
    path = folder / name
    if not path.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{id(path)}.tmp{path.suffix}")
        if path.suffix == ".mp4":
            from faceforge.face.video import write_video

            write_video(EXAMPLES[name](), tmp, fps=8)
        else:
            Image.fromarray(EXAMPLES[name]()).save(tmp)
        tmp.replace(path)  # atomic: concurrent app processes never read half a file
    return str(Path(path))
