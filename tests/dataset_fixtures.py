"""Tiny raw datasets in the exact layouts of BP4D, DISFA, RAF-DB, CK+, Oulu-CASIA and RaFD.

The images are FaceForge-Synth faces (dlib finds them); each writer also stores the faces' exact landmarks in
a side folder mirroring the raw tree (``--landmarks``), so most tests prepare without running dlib.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
from PIL import Image

from faceforge.data.synth import render_face

PHOTO = 64  # face size of the fixture photos; the photo is PHOTO + 2 * BORDER pixels square
BORDER = 24


@functools.cache
def face(
    identity: int = 0, expression: str | None = None, intensity: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """A synthetic face photo (H, W, 3) uint8 and its exact (68, 2) landmarks."""
    rendered = render_face(
        identity=identity, expression=expression, intensity=intensity, size=PHOTO, margin=BORDER
    )
    return rendered.image, np.asarray(rendered.landmarks, dtype=np.float64)


def write_face(
    root: Path,
    rel: str,
    *,
    identity: int = 0,
    expression: str | None = None,
    intensity: float = 1.0,
    landmarks_dir: Path | None = None,
    gray: bool = False,
) -> np.ndarray:
    """Save a face at ``root / rel`` (format from the suffix), its landmarks under ``landmarks_dir``."""
    image, points = face(identity, expression, intensity)
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    pil = Image.fromarray(image).convert("L") if gray else Image.fromarray(image)
    pil.save(path, quality=95) if path.suffix.lower() in (".jpg", ".jpeg") else pil.save(path)
    if landmarks_dir is not None:
        write_landmarks(landmarks_dir / Path(rel).with_suffix(".txt"), points)
    return points


def write_landmarks(path: Path, points: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savetxt(path, points, fmt="%.7e")


def write_text(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------------------------------- BP4D
BP4D_HEADER_AUS = tuple(range(1, 40))  # the real CSVs have a column for every AU number, coded or not


def write_bp4d(
    root: Path, landmarks_dir: Path, codes: dict[tuple[str, str], dict[int, dict[int, int]]]
) -> None:
    """``codes[(subject, task)][frame] = {au: 0/1/9}`` (others 0); images for every frame but 99."""
    for (subject, task), frames in codes.items():
        lines = [",".join(["0", *map(str, BP4D_HEADER_AUS)])]
        for frame, aus in frames.items():
            lines.append(",".join([str(frame), *(str(aus.get(au, 0)) for au in BP4D_HEADER_AUS)]))
            if frame != 99:
                write_face(
                    root,
                    f"2D_Images/{subject}/{task}/{frame:04d}.jpg",
                    identity=len(subject) + frame % 3,
                    landmarks_dir=landmarks_dir,
                )
        write_text(root / "AUCoding" / "AU_OCC" / f"{subject}_{task}.csv", "\n".join(lines) + "\n")


# -------------------------------------------------------------------------------------------------- DISFA
def write_disfa(root: Path, landmarks_dir: Path, intensities: dict[str, dict[int, dict[int, int]]]) -> None:
    """``intensities[subject][au][frame] = 0-5`` over DISFA's 8 AUs; frames numbered from 1 (%05d)."""
    for subject, per_au in intensities.items():
        frames = sorted(set().union(*per_au.values()))
        for au, values in per_au.items():
            write_text(
                root / "ActionUnit_Labels" / subject / f"{subject}_au{au}.txt",
                "".join(f"{frame},{value}\n" for frame, value in sorted(values.items())),
            )
        for frame in frames:
            write_face(
                root,
                f"Images_LeftCamera/{subject}/{frame:05d}.png",
                identity=frame,
                landmarks_dir=landmarks_dir,
            )


# ------------------------------------------------------------------------------------------------- RAF-DB
def write_rafdb(root: Path, labels: dict[str, int], *, originals: tuple[str, ...] = ()) -> None:
    """``labels[file name] = 1..7``; aligned 100 x 100 crops, and photos for the names in ``originals``."""
    write_text(
        root / "EmoLabel" / "list_patition_label.txt", "".join(f"{n} {v}\n" for n, v in labels.items())
    )
    for i, name in enumerate(labels):
        stem = Path(name).stem
        crop = render_face(identity=i, size=100).image
        path = root / "Image" / "aligned" / f"{stem}_aligned.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(crop).save(path, quality=95)
        if name in originals:
            write_face(root, f"Image/original/{name}", identity=i)


# ---------------------------------------------------------------------------------------------------- CK+
def write_ckplus(root: Path, sequences: dict[tuple[str, str], tuple[int, int | None, str | None]]) -> None:
    """``sequences[(subject, seq)] = (frames, emotion code or None, FACS file text or None)``; gray PNGs."""
    for (subject, seq), (n, emotion, facs) in sequences.items():
        for t in range(1, n + 1):
            stem = f"{subject}_{seq}_{t:08d}"
            points = write_face(
                root,
                f"cohn-kanade-images/{subject}/{seq}/{stem}.png",
                identity=int(subject[1:]),
                expression="happiness",
                intensity=(t - 1) / (n - 1),
                gray=True,
            )
            write_landmarks(root / "Landmarks" / subject / seq / f"{stem}_landmarks.txt", points)
        last = f"{subject}_{seq}_{n:08d}"
        if emotion is not None:
            write_text(root / "Emotion" / subject / seq / f"{last}_emotion.txt", f"   {emotion:.7e}\n")
        if facs is not None:
            write_text(root / "FACS" / subject / seq / f"{last}_facs.txt", facs)


# --------------------------------------------------------------------------------------------- Oulu-CASIA
def write_oulu(
    root: Path, landmarks_dir: Path, sequences: dict[tuple[str, str], int], light: str = "Strong"
) -> None:
    """``sequences[(subject, expression)] = frames``: ``OriginalImg/VL/<light>/P001/Anger/000.jpeg``."""
    for (subject, expression), n in sequences.items():
        for t in range(n):
            write_face(
                root,
                f"OriginalImg/VL/{light}/{subject}/{expression}/{t:03d}.jpeg",
                identity=int(subject[1:]),
                expression=expression.lower(),
                intensity=t / (n - 1),
                landmarks_dir=landmarks_dir,
            )


# --------------------------------------------------------------------------------------------------- RaFD
def rafd_name(model: int, expression: str, gaze: str, camera: int = 90) -> str:
    return (
        f"Rafd{camera:03d}_{model:02d}_Caucasian_{'female' if model % 2 else 'male'}_{expression}_{gaze}.jpg"
    )


def write_openface_csv(
    path: Path, intensities: dict[int, float], *, confidence: float = 0.98, faces: int = 1
) -> None:
    """An OpenFace 2 FaceLandmarkImg CSV (", "-separated: every header but the first has a leading space)."""
    from faceforge.data.datasets.openface import OPENFACE_AUS

    columns = [
        "face",
        "confidence",
        *(f"AU{au:02d}_r" for au in OPENFACE_AUS),
        *(f"AU{au:02d}_c" for au in OPENFACE_AUS),
    ]
    rows = []
    for f in range(faces):  # extra faces: lower confidence, all-5 intensities that must not be picked
        values = [intensities.get(au, 0.0) if f == 0 else 5.0 for au in OPENFACE_AUS]
        rows.append(
            [str(f), f"{confidence - 0.5 * f:.3f}", *(f"{v:.2f}" for v in values), *("1.00" for _ in values)]
        )
    write_text(path, ", ".join(columns) + "\n" + "".join(", ".join(r) + "\n" for r in rows))
