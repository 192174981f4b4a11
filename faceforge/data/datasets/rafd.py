"""RaFD (Langner et al., 2010): 67 models x 8 expressions x 3 gazes x 5 cameras, for expression editing.

Raw layout read by ``faceforge prepare rafd --root RAW``: the images, in one folder or in sub-folders, named::

    Rafd090_01_Caucasian_female_angry_frontal.jpg
    Rafd<camera angle>_<model>_<group>_<gender>_<expression>_<gaze>.jpg

Only the 90-degree (frontal) camera is used, as Cascade EF-GAN does (1,608 images); ``--camera`` picks
another. Expressions (angry, contemptuous, disgusted, fearful, happy, neutral, sad, surprised) map onto
faceforge's names; ``identity`` is the model number, ``gaze`` (frontal, left, right) an extra. Faces are
aligned with dlib (or a ``--landmarks`` side folder).

AU intensities: ``--openface PATH`` adds ``au_intensity`` in [0, 1] over
:data:`~faceforge.data.datasets.openface.OPENFACE_AUS` from OpenFace output (see
:mod:`~faceforge.data.datasets.openface`: a folder of per-image CSVs, or one CSV whose frames count the
prepared images, those of the chosen camera, in name order); images OpenFace has no face for get
``au_mask`` 0.

Splits: Cascade EF-GAN samples 90% of the images for training at random; faceforge keeps test identities
unseen instead: 10 subject-exclusive folds (:func:`~faceforge.data.datasets.base.round_robin_folds`), fold k
tests on about 7 models. ``pairs=True`` gives every ordered pair of two different expressions of the same
model and gaze (``target_*`` keys: the editing target).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from faceforge.data.datasets.base import RawItem, RoundRobinSpec, Scan
from faceforge.data.datasets.openface import openface_labels
from faceforge.errors import DatasetLayoutError
from faceforge.face.expressions import expression_index

RAFD_NAME = re.compile(
    r"^Rafd(?P<camera>\d{3})_(?P<model>\d+)_(?P<group>[A-Za-z]+)_(?P<gender>[A-Za-z]+)_"
    r"(?P<expression>[a-z]+)_(?P<gaze>[a-z]+)$",
    re.IGNORECASE,
)


class RaFD(RoundRobinSpec):
    name: ClassVar[str] = "rafd"
    title: ClassVar[str] = (
        "RaFD: 8 posed expressions of 67 models (90-degree camera), identity pairs for editing"
    )
    prepare_options: ClassVar[dict[str, Any]] = {"camera": 90, "openface": None}
    n_folds: ClassVar[int] = 10
    folds = tuple(range(1, 11))
    default_fold = 1
    pairs_supported = True

    def scan(self, root: Path, *, camera: int = 90, openface: str | None = None) -> Scan:
        items = []
        for path in sorted(root.rglob("*")):
            match = RAFD_NAME.match(path.stem)
            if (
                not match
                or path.suffix.lower() not in (".jpg", ".jpeg", ".png")
                or int(match["camera"]) != int(camera)
            ):
                continue
            try:
                expression = expression_index(match["expression"])
            except ValueError as err:
                raise DatasetLayoutError(f"{path}: {err}") from err
            labels = {"expression": expression, "gaze": match["gaze"].lower()}
            items.append(RawItem(path.stem, path, f"{int(match['model']):02d}", labels))
        if not items:
            raise DatasetLayoutError(
                f"{root}: no RaFD images of camera {int(camera):03d} "
                f"(Rafd{int(camera):03d}_01_Caucasian_female_angry_frontal.jpg)"
            )
        return Scan(items, openface_labels(items, openface))

    def keep(self, record: Mapping[str, Any], *, gaze: str | None = None) -> bool:
        """``gaze``: keep one gaze direction ("frontal", "left", "right"); None keeps all."""
        return gaze is None or record["gaze"] == gaze

    def pairs(self, records: Sequence[Mapping[str, Any]]) -> list[tuple[int, int]]:
        """Every ordered pair of different expressions of one model and gaze."""
        groups: dict[tuple[str, str], list[int]] = {}
        for i, r in enumerate(records):
            groups.setdefault((r["subject"], r["gaze"]), []).append(i)
        return [
            (i, j)
            for members in groups.values()
            for i in members
            for j in members
            if records[i]["expression"] != records[j]["expression"]
        ]
