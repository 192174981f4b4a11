"""BP4D-Spontaneous (Zhang et al., IVC 2014): 41 subjects x 8 tasks, frame-level occurrence of 12 AUs.

Raw layout read by ``faceforge prepare bp4d --root RAW``::

    RAW/AUCoding/AU_OCC/F001_T1.csv    header: frame column, then AU numbers (1, 2, 3, ...); values 0/1/9
    RAW/2D_Images/F001/T1/0123.jpg       one image per frame, named by frame number (any zero padding)

Only frames that have both an AU row and an image are prepared (frames coded in the CSV whose image is
missing are logged and skipped, and vice versa uncoded images are ignored). A value of 9 means the AU could
not be coded (e.g. occluded): it becomes ``au_mask = 0`` (``au_occurrence`` 0) rather than a label; pass
``drop_unknown=True`` to the loader to leave out the frames with any unknown AU instead, as OpenFace's BP4D
evaluation does. BP4D's own 2D features (49 points) are not the 68-point layout, so faces are aligned with
dlib landmarks (or a ``--landmarks`` side folder).

Splits: subject-exclusive 3-fold cross-validation with the subject partition used across the AU-detection
literature (DRML, JAA-Net, ME-GraphAU, MPENet [Zhang & Liu] "following the settings of [20, 36]"): fold k
tests on part k and trains on the other two. ``fold="igcn"`` is the 28 / 13 subject train / test split of
the IGCN paper (Liu et al., MMM 2020; settings "similar with" EAC-Net): parts 1 + 2 (28 subjects) train,
part 3 (13 subjects) tests, i.e. the same subjects as ``fold=3``.

Samples: ``au_occurrence`` / ``au_mask`` over :data:`~faceforge.face.aus.BP4D_AUS`, ``identity``, and the
extras ``sequence`` (``"F001_T1"``), ``task`` (``"T1"``) and ``frame`` (int).
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from faceforge.data.datasets.base import PartitionSpec, RawItem, Scan, logger, numbered_images, require_dir
from faceforge.errors import DatasetLayoutError
from faceforge.face.aus import BP4D_AUS

BP4D_PARTS: tuple[tuple[str, ...], ...] = (
    (
        "F001",
        "M007",
        "F018",
        "F008",
        "F002",
        "M004",
        "F010",
        "F009",
        "M012",
        "M001",
        "F016",
        "M014",
        "F023",
        "M008",
    ),
    (
        "M011",
        "F003",
        "M010",
        "M002",
        "F005",
        "F022",
        "M018",
        "M017",
        "F013",
        "M016",
        "F020",
        "F011",
        "M013",
        "M005",
    ),
    ("F007", "F015", "F006", "F019", "M006", "M009", "F012", "M003", "F004", "F021", "F017", "M015", "F014"),
)
"""The standard subject-exclusive partition of BP4D's 41 subjects (14 / 14 / 13)."""

UNKNOWN = 9  # BP4D's code for an AU that could not be coded in a frame


def read_au_occ(path: Path, aus: tuple[int, ...] = BP4D_AUS) -> dict[int, list[int | None]]:
    """One ``AU_OCC`` CSV: ``{frame: [0 / 1 / None (unknown) per AU in aus]}``."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        rows = list(csv.reader(f))
    if not rows:
        raise DatasetLayoutError(f"{path}: empty AU occurrence file")
    header = [cell.strip() for cell in rows[0]]
    column = {int(name): i for i, name in enumerate(header[1:], 1) if name.isdigit()}
    missing = [au for au in aus if au not in column]
    if missing:
        raise DatasetLayoutError(f"{path}: the header has no column for AU(s) {missing}; expected AU numbers")
    frames: dict[int, list[int | None]] = {}
    for line, row in enumerate(rows[1:], 2):
        if not row or not row[0].strip():
            continue
        try:
            frame = int(float(row[0]))
            codes = [int(float(row[column[au]])) for au in aus]
        except (ValueError, IndexError) as err:
            raise DatasetLayoutError(
                f"{path}, line {line}: not a frame number and 0/1/9 codes ({err})"
            ) from err
        frames[frame] = [c if c in (0, 1) else None for c in codes]
    return frames


class BP4D(PartitionSpec):
    name: ClassVar[str] = "bp4d"
    title: ClassVar[str] = (
        "BP4D-Spontaneous: 12 AU occurrences per frame, 41 subjects, 3 folds + IGCN 28/13 split"
    )
    parts = BP4D_PARTS
    named_folds: ClassVar[dict[str, int]] = {"igcn": 3}
    folds = (1, 2, 3, "igcn")
    default_fold = "igcn"

    def scan(self, root: Path, **options: Any) -> Scan:
        labels_dir = require_dir(
            root / "AUCoding" / "AU_OCC", "BP4D's AU occurrence CSVs (AUCoding/AU_OCC/F001_T1.csv)"
        )
        images_dir = require_dir(root / "2D_Images", "BP4D's frames (2D_Images/F001/T1/0001.jpg)")
        csvs = sorted(labels_dir.glob("*_*.csv"))
        if not csvs:
            raise DatasetLayoutError(f"{labels_dir}: no <Subject>_<Task>.csv AU occurrence files")
        items: list[RawItem] = []
        missing = 0
        for path in csvs:
            subject, task = path.stem.split("_", 1)
            images = numbered_images(images_dir / subject / task)
            for frame, codes in sorted(read_au_occ(path).items()):
                if frame not in images:
                    missing += 1
                    continue
                labels = {"au_occurrence": codes, "sequence": path.stem, "task": task, "frame": frame}
                items.append(RawItem(f"{subject}/{task}/{frame:05d}", images[frame], subject, labels))
        if missing:
            logger.warning(
                "bp4d: %d coded frame(s) have no image under %s and are left out", missing, images_dir
            )
        return Scan(items, BP4D_AUS)

    def keep(self, record: Mapping[str, Any], *, drop_unknown: bool = False) -> bool:
        """``drop_unknown``: leave out frames where any AU is unknown (coded 9)."""
        return not drop_unknown or None not in record["au_occurrence"]
