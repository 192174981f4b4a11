"""RAF-DB basic (Li et al., CVPR 2017): 15,339 in-the-wild faces, seven expressions, fixed train / test split.

Raw layout read by ``faceforge prepare rafdb --root RAW``::

    RAW/EmoLabel/list_patition_label.txt     lines "train_00001.jpg 5" (RAF-DB's spelling of "partition")
    RAW/Image/aligned/train_00001_aligned.jpg    100 x 100 aligned faces
    RAW/Image/original/train_00001.jpg           (optional) the original photos, used by --realign

RAF-DB's labels 1-7 are surprise, fear, disgust, happiness, sadness, anger, neutral; they are mapped onto
faceforge's expression indices. The split is the file-name prefix (``train_`` / ``test_``); there are no folds
and no subject ids (samples have no ``identity``).

Alignment: RAF-DB's aligned crops are framed by RAF-DB's own five-point alignment, not faceforge's template
(the face sits at a different scale and height). Two modes:

* default: the aligned crops are resized (bicubic) to the cache size, keeping RAF-DB's framing; no dlib is
  run and samples have no ``landmarks``. Fast, and the usual way RAF-DB is used for recognition.
* ``--realign``: each face is found with dlib and aligned onto faceforge's template like every other dataset
  (from ``Image/original`` when present, which has more pixels, else from the aligned crop); samples then have
  ``landmarks``. Faces dlib misses are logged and skipped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from faceforge.data.datasets.base import DatasetSpec, RawItem, Scan, require_dir
from faceforge.errors import DatasetLayoutError
from faceforge.face.expressions import expression_index

RAFDB_LABELS: dict[int, str] = {
    1: "surprise",
    2: "fear",
    3: "disgust",
    4: "happiness",
    5: "sadness",
    6: "anger",
    7: "neutral",
}
"""RAF-DB basic's label numbers and the expressions they stand for."""


class RAFDB(DatasetSpec):
    name: ClassVar[str] = "rafdb"
    title: ClassVar[str] = (
        "RAF-DB basic: 7 expressions in the wild, official train/test split (aligned 100x100)"
    )
    prepare_options: ClassVar[dict[str, Any]] = {"realign": False}
    split_from_labels = True

    def scan(self, root: Path, *, realign: bool = False) -> Scan:
        label_file = root / "EmoLabel" / "list_patition_label.txt"
        if not label_file.is_file():
            raise DatasetLayoutError(
                f"{label_file}: no such file; expected RAF-DB's label list (EmoLabel/list_patition_label.txt)"
            )
        aligned_dir = require_dir(
            root / "Image" / "aligned", "RAF-DB's aligned faces (Image/aligned/train_00001_aligned.jpg)"
        )
        original_dir = root / "Image" / "original"
        items: list[RawItem] = []
        for line_no, line in enumerate(label_file.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                name, label = line.split()[:2]
                expression = expression_index(RAFDB_LABELS[int(label)])
            except (ValueError, KeyError) as err:
                raise DatasetLayoutError(
                    f"{label_file}, line {line_no}: expected 'train_00001.jpg 1..7', got {line!r}"
                ) from err
            stem = Path(name).stem
            split = stem.split("_")[0]
            if split not in ("train", "test"):
                raise DatasetLayoutError(
                    f"{label_file}, line {line_no}: file names start with train_ or test_, got {name!r}"
                )
            image = aligned_dir / f"{stem}_aligned.jpg"
            if realign and (original_dir / name).is_file():
                image = original_dir / name
            items.append(
                RawItem(stem, image, None, {"expression": expression, "split": split}, aligned=not realign)
            )
        return Scan(items)
