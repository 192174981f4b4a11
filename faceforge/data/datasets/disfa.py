"""DISFA (Mavadati et al., TAC 2013): 27 subjects, 4,845 video frames each, intensities 0-5 of 8 AUs.

Raw layout read by ``faceforge prepare disfa --root RAW``::

    RAW/ActionUnit_Labels/SN001/SN001_au1.txt     lines "frame,intensity" (frame from 1, intensity 0-5)
    RAW/Images_LeftCamera/SN001/00001.png         the left-camera video's frames, numbered like the labels

DISFA ships videos (``Videos_LeftCamera/LeftVideoSN001_comp.avi``), not frames; extract each subject's frames
once, numbered from 1 as the label files count them (ffmpeg's default)::

    ffmpeg -i RAW/Videos_LeftCamera/LeftVideoSN001_comp.avi RAW/Images_LeftCamera/SN001/%05d.png

Any zero padding and .png / .jpg work. Frames extracted numbered from 0 are read with the prepare option
``--frame-base 0``; ``--camera right`` reads ``Images_RightCamera`` instead.

Labels: ``au_intensity`` (0-5, as coded) and ``au_occurrence`` (intensity >= 2, FACS level B, as the IGCN and
MPENet papers binarise DISFA) over :data:`~faceforge.face.aus.DISFA_AUS`; a frame missing from an AU's label
file is unknown there (``au_mask`` 0). Faces are aligned with dlib (DISFA's own 66-point tracks are not the
68-point layout) or a ``--landmarks`` side folder.

Splits: the standard subject partition into three parts of 9 (as in JAA-Net / ME-GraphAU); fold k tests on
part k. ``fold="igcn"``: the 18 / 9 subject train / test split of the IGCN and MPENet papers, parts 1 + 2
train and part 3 tests (the same subjects as ``fold=3``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from faceforge.data.datasets.base import PartitionSpec, RawItem, Scan, logger, numbered_images, require_dir
from faceforge.errors import DatasetLayoutError
from faceforge.face.aus import DISFA_AUS, OCCURRENCE_THRESHOLD

DISFA_PARTS: tuple[tuple[str, ...], ...] = (
    ("SN002", "SN010", "SN001", "SN026", "SN027", "SN032", "SN030", "SN009", "SN016"),
    ("SN013", "SN018", "SN011", "SN028", "SN012", "SN006", "SN031", "SN021", "SN024"),
    ("SN003", "SN029", "SN023", "SN025", "SN008", "SN005", "SN007", "SN017", "SN004"),
)
"""The standard subject-exclusive partition of DISFA's 27 subjects (9 / 9 / 9)."""


def read_au_intensity(path: Path) -> dict[int, float]:
    """One ``SN001_au1.txt`` label file: ``{frame: intensity}``."""
    frames: dict[int, float] = {}
    with open(path, encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                frame, value = line.replace(" ", "").split(",")[:2]
                frames[int(float(frame))] = float(value)
            except ValueError as err:
                raise DatasetLayoutError(
                    f"{path}, line {line_no}: expected 'frame,intensity', got {line.strip()!r}"
                ) from err
    return frames


class DISFA(PartitionSpec):
    name: ClassVar[str] = "disfa"
    title: ClassVar[str] = (
        "DISFA: 8 AU intensities (0-5) per frame, 27 subjects, 3 folds + IGCN/MPENet 18/9 split"
    )
    prepare_options: ClassVar[dict[str, Any]] = {"camera": "left", "frame_base": 1}
    parts = DISFA_PARTS
    named_folds: ClassVar[dict[str, int]] = {"igcn": 3}
    folds = (1, 2, 3, "igcn")
    default_fold = "igcn"

    def scan(self, root: Path, *, camera: str = "left", frame_base: int = 1) -> Scan:
        if camera not in ("left", "right") or frame_base not in (0, 1):
            raise ValueError(
                f"disfa: camera must be 'left' or 'right' and frame_base 0 or 1; "
                f"got {camera!r}, {frame_base!r}"
            )
        labels_dir = require_dir(
            root / "ActionUnit_Labels", "DISFA's label files (ActionUnit_Labels/SN001/SN001_au1.txt)"
        )
        side = camera.capitalize()
        images_dir = root / f"Images_{side}Camera"
        if not images_dir.is_dir():
            hint = ""
            if (root / f"Videos_{side}Camera").is_dir():
                hint = (
                    f"; extract the frames of each video first, e.g. ffmpeg -i {root}/Videos_{side}Camera/"
                    f"{side}VideoSN001_comp.avi {images_dir}/SN001/%05d.png"
                )
            raise DatasetLayoutError(
                f"{images_dir}: no such folder; "
                f"expected DISFA's frames ({images_dir.name}/SN001/00001.png){hint}"
            )
        subjects = sorted(p.name for p in labels_dir.iterdir() if p.is_dir() and p.name.startswith("SN"))
        if not subjects:
            raise DatasetLayoutError(f"{labels_dir}: no SN0xx subject folders")
        items: list[RawItem] = []
        missing = 0
        for subject in subjects:
            per_au = []
            for au in DISFA_AUS:
                path = labels_dir / subject / f"{subject}_au{au}.txt"
                if not path.is_file():
                    raise DatasetLayoutError(f"{path}: no such label file")
                per_au.append(read_au_intensity(path))
            images = numbered_images(images_dir / subject)
            for frame in sorted(set().union(*per_au)):
                image = images.get(frame - 1 + frame_base)
                if image is None:
                    missing += 1
                    continue
                intensity = [labels.get(frame) for labels in per_au]
                labels = {
                    "au_intensity": intensity,
                    "au_occurrence": [
                        None if v is None else int(v >= OCCURRENCE_THRESHOLD) for v in intensity
                    ],
                    "sequence": subject,
                    "frame": frame,
                }
                items.append(RawItem(f"{subject}/{frame:05d}", image, subject, labels))
        if missing:
            logger.warning(
                "disfa: %d labelled frame(s) have no image under %s and are left out", missing, images_dir
            )
        return Scan(items, DISFA_AUS)
