"""AU intensity labels from OpenFace 2 output CSVs for editing datasets (RaFD, ``folder``), as in GANimation.

OpenFace writes the 17 regression outputs ``AU01_r`` ... ``AU45_r`` (intensity 0-5). Its CSV headers and
values are separated by ``", "``, so the raw column names carry a leading space (``" AU01_r"``); they are
stripped here. faceforge scales the intensities to [0, 1] by dividing by 5, as GANimation (Pumarola et al.,
ECCV 2018) does, and clips them to that range.

Two OpenFace outputs are read:

* a folder of per-image CSVs (``FaceLandmarkImg -fdir IMAGES -out_dir DIR``): ``DIR/<image stem>.csv``; when a
  CSV holds several faces, the row with the highest ``confidence`` is used;
* one CSV for a whole folder (``FeatureExtraction -fdir IMAGES``): its ``frame`` column (1-based) counts the
  image files of that folder in sorted name order, so the image names must be given (``images``); a CSV with
  a ``file`` / ``filename`` / ``image`` column is matched by that column instead.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from faceforge.data.datasets.base import RawItem
from faceforge.errors import DatasetLayoutError

OPENFACE_AUS: tuple[int, ...] = (1, 2, 4, 5, 6, 7, 9, 10, 12, 14, 15, 17, 20, 23, 25, 26, 45)
"""The AUs OpenFace 2 regresses (``AU01_r`` ... ``AU45_r``), in its column order."""

_NAME_COLUMNS = ("file", "filename", "image", "input")


def read_openface_csv(path: str | os.PathLike) -> list[dict[str, str]]:
    """Rows of an OpenFace CSV as dicts keyed by the column names with OpenFace's padding spaces stripped."""
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.reader(f)
            header = [name.strip() for name in next(reader, [])]
            return [{k: v.strip() for k, v in zip(header, row)} for row in reader if row]
    except OSError as err:
        raise DatasetLayoutError(f"{path}: cannot read the OpenFace CSV ({err})") from err


def _intensities(row: dict[str, str], path: Path, *, scale: bool) -> np.ndarray:
    try:
        values = np.array([float(row[f"AU{au:02d}_r"]) for au in OPENFACE_AUS], dtype=np.float32)
    except KeyError as err:
        raise DatasetLayoutError(f"{path}: no OpenFace intensity column {err.args[0]}") from err
    except ValueError as err:
        raise DatasetLayoutError(f"{path}: non-numeric AU intensity ({err})") from err
    return np.clip(values / 5.0, 0.0, 1.0) if scale else values


def openface_au_intensities(
    source: str | os.PathLike, *, images: Sequence[str] | None = None, scale: bool = True
) -> dict[str, np.ndarray]:
    """AU intensities per image from OpenFace output (a folder of per-image CSVs, or one CSV).

    Args:
        source: folder of ``<image stem>.csv`` files, or one CSV (see the module docstring).
        images: for a single CSV without a file-name column: the image file names its ``frame`` numbers count,
            in the order OpenFace read them (sorted by name); they are sorted here.
        scale: divide by 5 and clip to [0, 1] (GANimation's scaling); False keeps OpenFace's 0-5 values.

    Returns:
        ``{image stem: (17,) float32 over OPENFACE_AUS}``. Rows where OpenFace reports ``success`` 0 are left
        out.

    Raises:
        DatasetLayoutError: missing files or columns.
    """
    source = Path(source)
    result: dict[str, np.ndarray] = {}
    if source.is_dir():
        for path in sorted(source.glob("*.csv")):
            rows = [r for r in read_openface_csv(path) if r.get("success", "1") not in ("0", "0.0")]
            if rows:
                best = max(rows, key=lambda r: float(r.get("confidence") or 0.0))
                result[path.stem] = _intensities(best, path, scale=scale)
        if not result:
            raise DatasetLayoutError(f"{source}: no OpenFace CSV with a detected face found")
        return result
    if not source.is_file():
        raise DatasetLayoutError(f"{source}: no such OpenFace CSV file or folder")
    rows = read_openface_csv(source)
    name_column = next((c for c in _NAME_COLUMNS if rows and c in rows[0]), None)
    ordered = sorted(images) if images is not None else None
    best: dict[str, float] = {}
    if name_column is None and ordered is None:
        raise DatasetLayoutError(
            f"{source}: this OpenFace CSV has no file-name column, "
            "so the images its frame numbers count must be given"
        )
    for row in rows:
        if row.get("success", "1") in ("0", "0.0"):
            continue
        if name_column is not None:
            name = row[name_column]
        else:
            frame = int(float(row["frame"]))
            if not 1 <= frame <= len(ordered):  # type: ignore[arg-type]
                raise DatasetLayoutError(f"{source}: frame {frame} is past the {len(ordered)} images given")
            name = ordered[frame - 1]  # type: ignore[index]
        stem = Path(name.replace("\\", "/")).stem
        confidence = float(row.get("confidence") or 0.0)
        if confidence >= best.get(stem, -1.0):  # several faces in one image: the most confident one
            best[stem] = confidence
            result[stem] = _intensities(row, source, scale=scale)
    return result


def openface_labels(items: list[RawItem], openface: str | None) -> tuple[int, ...]:
    """Add ``au_intensity`` from OpenFace output to ``items`` (in place); the AU list, () without OpenFace."""
    if openface is None:
        return ()
    aus = openface_au_intensities(openface, images=[item.image.name for item in items])
    for item in items:
        values = aus.get(item.image.stem)
        item.labels["au_intensity"] = (
            [None] * len(OPENFACE_AUS) if values is None else [float(v) for v in values]
        )
    return OPENFACE_AUS
