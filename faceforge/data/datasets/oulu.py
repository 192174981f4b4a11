"""Oulu-CASIA NIR&VIS (Zhao et al., IVC 2011): 80 subjects x 6 expressions, sequences neutral to peak.

Raw layout read by ``faceforge prepare oulu --root RAW`` (visible-light camera)::

    RAW/OriginalImg/VL/Strong/P001/Anger/000.jpeg     frames numbered from 000, first to last

Illumination (``--illumination``): ``strong`` (default; the normal, well-lit condition GroupGAN evaluates
on, also accepted as ``normal``), ``weak`` or ``dark``: the folders ``Strong``, ``Weak``, ``Dark``. Expression
folders: Anger, Disgust, Fear, Happiness, Sadness, Surprise. Faces are aligned with dlib (or a ``--landmarks``
side folder). Frames, phases and folds: see :mod:`faceforge.data.datasets.sequences`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from faceforge.data.datasets.base import Scan, numbered_images, require_dir
from faceforge.data.datasets.sequences import SequenceSpec, sequence_items
from faceforge.errors import DatasetLayoutError
from faceforge.face.expressions import expression_index

OULU_EXPRESSIONS: tuple[str, ...] = ("Anger", "Disgust", "Fear", "Happiness", "Sadness", "Surprise")
ILLUMINATIONS: dict[str, str] = {"strong": "Strong", "normal": "Strong", "weak": "Weak", "dark": "Dark"}


class OuluCASIA(SequenceSpec):
    name: ClassVar[str] = "oulu"
    title: ClassVar[str] = (
        "Oulu-CASIA VIS: 6 expressions, sequences neutral to peak, weak / peak frames, 5 folds"
    )
    prepare_options: ClassVar[dict[str, Any]] = {"illumination": "strong"}

    def scan(self, root: Path, *, illumination: str = "strong") -> Scan:
        if illumination.lower() not in ILLUMINATIONS:
            raise ValueError(
                f"oulu: illumination must be one of {', '.join(ILLUMINATIONS)}, got {illumination!r}"
            )
        light = ILLUMINATIONS[illumination.lower()]
        base = require_dir(
            root / "OriginalImg" / "VL" / light,
            f"Oulu-CASIA's visible-light frames (OriginalImg/VL/{light}/P001/Anger/000.jpeg)",
        )
        items = []
        for subject_dir in sorted(p for p in base.iterdir() if p.is_dir()):
            for name in OULU_EXPRESSIONS:
                frames = numbered_images(subject_dir / name)
                if frames:
                    items += sequence_items(
                        [frames[k] for k in sorted(frames)],
                        subject=subject_dir.name,
                        sequence=f"{subject_dir.name}/{name}",
                        expression=expression_index(name),
                    )
        if not items:
            raise DatasetLayoutError(f"{base}: no P001/Anger/000.jpeg sequences")
        return Scan(items)
