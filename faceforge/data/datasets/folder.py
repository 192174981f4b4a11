"""A user's own face images with a CSV of labels: ``faceforge prepare folder --root RAW [--labels CSV]``.

The CSV (default ``RAW/labels.csv``; one header row, comma separated) has the columns:

    ``file``            (required) image path relative to RAW, e.g. ``alice/smile.jpg``
    ``expression``      (optional) a name (``happiness``, ``happy``, ``angry``, ...) or a faceforge index 0-7
    ``identity``        (optional) any subject id (``alice``); samples get its ``identity`` int
    ``split``           (optional) ``train``, ``val`` or ``test``; without it only ``split="all"`` loads
    ``AU12`` / ``AU12_c`` (optional) occurrence 0 / 1 of AU 12 (any AU numbers, any zero padding)
    ``AU12_r``          (optional) intensity 0-5 of AU 12 (OpenFace's naming)

Empty cells are unknown: ``expression`` -1, AU labels masked (``au_mask`` 0). The AU list (``.aus``) is every
AU with a column, sorted. ``au_occurrence`` comes from the occurrence columns, or, for an AU with only an
intensity column, from intensity >= 2; ``au_intensity`` (0-5, 0 where unknown) appears when any ``_r`` column
does; ``au_mask`` marks the known occurrences.

``--openface PATH`` instead takes ``au_intensity`` in [0, 1] over OpenFace's 17 AUs from OpenFace output
(see :mod:`~faceforge.data.datasets.openface`; not together with AU columns). ``--aligned`` treats the images
as faces already aligned onto faceforge's template (they are only resized); otherwise faces are found with
dlib (or a ``--landmarks`` side folder) and aligned.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Any, ClassVar

from faceforge.data.datasets.base import SPLITS, DatasetSpec, RawItem, Scan
from faceforge.data.datasets.openface import openface_labels
from faceforge.errors import DatasetLayoutError
from faceforge.face.aus import OCCURRENCE_THRESHOLD
from faceforge.face.expressions import EXPRESSIONS, expression_index

AU_COLUMN = re.compile(r"^AU0*(?P<au>\d+)(?P<kind>_[rc])?$", re.IGNORECASE)


def parse_expression(value: str) -> int:
    """An expression cell: a name (aliases accepted) or an index 0-7; empty = -1 (unknown)."""
    value = value.strip()
    if not value:
        return -1
    if value.lstrip("-").isdigit():
        index = int(value)
        if not -1 <= index < len(EXPRESSIONS):
            raise ValueError(f"expression index {index} is outside 0-{len(EXPRESSIONS) - 1}")
        return index
    return expression_index(value)


def _number(value: str) -> float | None:
    return float(value) if value.strip() else None


class Folder(DatasetSpec):
    name: ClassVar[str] = "folder"
    title: ClassVar[str] = "Your own images + a labels CSV (file, expression, identity, split, AU columns)"
    prepare_options: ClassVar[dict[str, Any]] = {"labels": None, "openface": None, "aligned": False}
    split_from_labels = True

    def scan(
        self, root: Path, *, labels: str | None = None, openface: str | None = None, aligned: bool = False
    ) -> Scan:
        path = Path(labels) if labels is not None else root / "labels.csv"
        if not path.is_file():
            raise DatasetLayoutError(
                f"{path}: no such labels CSV; expected a CSV with a 'file' column "
                "(columns documented in faceforge/data/datasets/folder.py)"
            )
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.DictReader(f))
        header = [h.strip() for h in (rows[0].keys() if rows else [])]
        if "file" not in header:
            raise DatasetLayoutError(
                f"{path}: the CSV has no 'file' column (columns: {', '.join(header) or 'none'})"
            )
        occ_cols: dict[int, str] = {}
        int_cols: dict[int, str] = {}
        for column in header:
            match = AU_COLUMN.match(column)
            if match:
                (int_cols if (match["kind"] or "").lower() == "_r" else occ_cols)[int(match["au"])] = column
        aus = tuple(sorted(set(occ_cols) | set(int_cols)))
        if aus and openface is not None:
            raise ValueError("folder: the labels CSV has AU columns; do not also give --openface")
        items = []
        for line, row in enumerate(rows, 2):
            row = {k.strip(): (v or "") for k, v in row.items() if k is not None}
            try:
                item = self._item(root, row, aus, occ_cols, int_cols, aligned=aligned)
            except ValueError as err:
                raise DatasetLayoutError(f"{path}, line {line}: {err}") from err
            items.append(item)
        if not items:
            raise DatasetLayoutError(f"{path}: the CSV lists no images")
        return Scan(items, aus or openface_labels(items, openface))

    @staticmethod
    def _item(
        root: Path,
        row: dict[str, str],
        aus: tuple[int, ...],
        occ_cols: dict[int, str],
        int_cols: dict[int, str],
        *,
        aligned: bool,
    ) -> RawItem:
        file = row["file"].strip()
        if not file:
            raise ValueError("empty file name")
        labels: dict[str, Any] = {}
        if "expression" in row:
            labels["expression"] = parse_expression(row["expression"])
        if "split" in row:
            split = row["split"].strip().lower()
            if split not in SPLITS or split == "all":
                raise ValueError(f"split must be train, val or test, got {row['split']!r}")
            labels["split"] = split
        if aus:
            intensity = [_number(row[int_cols[au]]) if au in int_cols else None for au in aus]
            occurrence = []
            for au, value in zip(aus, intensity):
                if au in occ_cols:
                    code = _number(row[occ_cols[au]])
                    if code not in (None, 0.0, 1.0):
                        raise ValueError(f"AU{au} occurrence must be 0 or 1, got {code}")
                    occurrence.append(None if code is None else int(code))
                else:
                    occurrence.append(None if value is None else int(value >= OCCURRENCE_THRESHOLD))
            labels["au_occurrence"] = occurrence
            if int_cols:
                labels["au_intensity"] = intensity
        subject = row.get("identity", "").strip() or None
        return RawItem(Path(file).as_posix(), root / file, subject, labels, aligned=aligned)
