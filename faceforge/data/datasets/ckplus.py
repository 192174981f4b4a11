"""CK+ (Lucey et al., CVPRW 2010): 593 posed sequences of 123 subjects, neutral to peak, 327 emotion-labelled.

Raw layout read by ``faceforge prepare ckplus --root RAW`` (the four archives of the distribution, unpacked)::

    RAW/cohn-kanade-images/S005/001/S005_001_00000001.png     frames, numbered from 1
    RAW/Landmarks/S005/001/S005_001_00000001_landmarks.txt    68 lines "x y" (AAM tracks), one file per frame
    RAW/Emotion/S005/001/S005_001_00000011_emotion.txt        one number 0-7 for the peak (last) frame
    RAW/FACS/S005/001/S005_001_00000011_facs.txt              lines "AU intensity" for the peak frame

Emotion codes: 0 neutral, 1 anger, 2 contempt, 3 disgust, 4 fear, 5 happy, 6 sadness, 7 surprise; a sequence
without an Emotion file has no emotion label (-1). Faces are aligned with CK+'s own landmarks (dlib only for a
frame without a landmark file). Frames, phases and folds: see :mod:`faceforge.data.datasets.sequences`.

AUs: the FACS file codes the peak frame only. Its AUs among :data:`~faceforge.face.aus.FACEFORGE_AUS` give
``au_occurrence`` of the peak frame (1 when listed, 0 otherwise; all known); on neutral and weak frames the AU
labels are unknown (``au_mask`` 0). AUs outside faceforge's 18 are dropped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from faceforge.data.datasets.base import IMAGE_SUFFIXES, Scan, read_landmark_file, require_dir
from faceforge.data.datasets.sequences import SequenceSpec, sequence_items
from faceforge.errors import DatasetLayoutError
from faceforge.face.aus import FACEFORGE_AUS
from faceforge.face.expressions import expression_index

CKPLUS_EMOTIONS: tuple[str, ...] = (
    "neutral",
    "anger",
    "contempt",
    "disgust",
    "fear",
    "happy",
    "sadness",
    "surprise",
)
"""CK+'s emotion codes 0-7."""


def _label_file(folder: Path, suffix: str) -> Path | None:
    found = sorted(folder.glob(f"*_{suffix}.txt")) if folder.is_dir() else []
    return found[-1] if found else None


def read_emotion(path: Path) -> int:
    """A CK+ ``_emotion.txt`` file as a faceforge expression index."""
    try:
        code = int(float(path.read_text(encoding="utf-8").split()[0]))
        return expression_index(CKPLUS_EMOTIONS[code])
    except (ValueError, IndexError) as err:
        raise DatasetLayoutError(f"{path}: expected one emotion code 0-7") from err


def read_facs(path: Path) -> list[int]:
    """A CK+ ``_facs.txt`` file as ``au_occurrence`` over FACEFORGE_AUS (listed AUs 1, others 0)."""
    try:
        codes = np.loadtxt(path, dtype=np.float64, ndmin=2)
    except ValueError as err:
        raise DatasetLayoutError(f"{path}: expected lines of 'AU intensity'") from err
    present = {round(float(au)) for au in codes[:, 0]} if codes.size else set()
    return [int(au in present) for au in FACEFORGE_AUS]


class CKPlus(SequenceSpec):
    name: ClassVar[str] = "ckplus"
    title: ClassVar[str] = (
        "CK+: posed sequences neutral to peak, 7 emotions, weak (frames 6-8) / peak frames, 5 folds"
    )

    def scan(self, root: Path, **options: Any) -> Scan:
        images_dir = require_dir(
            root / "cohn-kanade-images", "CK+'s frames (cohn-kanade-images/S005/001/S005_001_00000001.png)"
        )
        items = []
        for subject_dir in sorted(p for p in images_dir.iterdir() if p.is_dir() and p.name.startswith("S")):
            for seq_dir in sorted(p for p in subject_dir.iterdir() if p.is_dir()):
                frames = sorted(
                    p
                    for p in seq_dir.iterdir()
                    if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")
                )
                rel = seq_dir.relative_to(images_dir)
                emotion = _label_file(root / "Emotion" / rel, "emotion")
                facs = _label_file(root / "FACS" / rel, "facs")
                landmark_dir = root / "Landmarks" / rel

                def landmarks(path: Path, landmark_dir: Path = landmark_dir) -> np.ndarray | None:
                    file = landmark_dir / f"{path.stem}_landmarks.txt"
                    return read_landmark_file(file) if file.is_file() else None

                items += sequence_items(
                    frames,
                    subject=subject_dir.name,
                    sequence=f"{subject_dir.name}/{seq_dir.name}",
                    expression=read_emotion(emotion) if emotion else -1,
                    landmarks=landmarks,
                    peak_labels={"au_occurrence": read_facs(facs)} if facs else None,
                    n_aus=len(FACEFORGE_AUS),
                )
        if not items:
            raise DatasetLayoutError(f"{images_dir}: no S005/001/*.png sequences")
        return Scan(items, FACEFORGE_AUS)
