"""What every dataset family shares: raw items, the family spec with its splits and folds, layout readers.

A dataset family (one module each) only says how to *scan* its raw layout into :class:`RawItem` s and how
its splits are made; :mod:`~faceforge.data.datasets.cache` aligns and caches the items the same way for every
family, and :mod:`~faceforge.data.datasets.loader` streams the cache.
"""

from __future__ import annotations

import inspect
import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from faceforge.errors import DatasetLayoutError

logger = logging.getLogger("faceforge.data.datasets")

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
SPLITS = ("train", "val", "test", "all")


@dataclass(eq=False)
class RawItem:
    """One face image of a raw dataset, as a dataset family's ``scan`` finds it.

    Attributes:
        key: unique, stable name of the item inside its dataset (the resume key), e.g. ``"F001/T1/0123"``.
        image: path of the raw image.
        subject: subject id as the dataset writes it (``"F001"``), or None where the dataset has none.
        labels: JSON-serialisable labels: ``expression`` (faceforge index, -1 unknown), ``intensity``,
            ``au_occurrence`` / ``au_intensity`` (lists over the dataset's AU list, None = unknown),
            ``split``, and extras (``frame``, ``sequence``, ``phase``, ...), copied into the samples as is.
        landmarks: (68, 2) photo-pixel landmarks shipped with the dataset, or None (side folder or dlib).
        aligned: the image is already an aligned face crop: it is resized to the cache size, not aligned.
    """

    key: str
    image: Path
    subject: str | None = None
    labels: dict[str, Any] = field(default_factory=dict)
    landmarks: np.ndarray | None = None
    aligned: bool = False


@dataclass
class Scan:
    """What a dataset family's ``scan`` returns: the items and the AU numbers their AU labels are over."""

    items: list[RawItem]
    aus: tuple[int, ...] = ()


class DatasetSpec:
    """One dataset family: how to scan its raw layout, its splits and folds, and its loader options.

    Subclasses set the class attributes and implement :meth:`scan`; splits are subject-exclusive by default
    (:meth:`test_subjects`), or come from a ``split`` label (:attr:`split_from_labels`).
    """

    name: ClassVar[str]
    title: ClassVar[str]  # one line for ``list_datasets`` and the CLI help
    prepare_options: ClassVar[dict[str, Any]] = {}  # option -> default, passed to scan
    folds: ClassVar[tuple[Any, ...]] = ()  # accepted ``fold`` values
    default_fold: ClassVar[Any] = None
    split_from_labels: ClassVar[bool] = False  # splits come from each item's "split" label
    pairs_supported: ClassVar[bool] = False

    def scan(self, root: Path, **options: Any) -> Scan:
        """Find every item under ``root``; raise :class:`DatasetLayoutError` when the layout is wrong."""
        raise NotImplementedError

    def test_subjects(self, subjects: Sequence[str], fold: Any) -> set[str]:
        """The subjects of the test split of ``fold`` (subject-exclusive protocols)."""
        raise ValueError(f"{self.name} has no subject folds")

    def train_subjects(self, subjects: Sequence[str], fold: Any) -> set[str]:
        """The subjects of the train split of ``fold``: by default every subject not in the test split."""
        return set(subjects) - self.test_subjects(subjects, fold)

    def keep(self, record: Mapping[str, Any]) -> bool:
        """Whether a record passes the family's loader filters, applied after the split.

        Subclasses add keyword-only filters (e.g. CK+ ``phases``). Default: keep every record.
        """
        return True

    def check_filters(self, filters: Mapping[str, Any]) -> None:
        """Raise ``TypeError``, naming the accepted options, for filters :meth:`keep` does not take."""
        signature = inspect.signature(self.keep)
        try:
            signature.bind({}, **filters)
        except TypeError:
            accepted = ", ".join(name for name in signature.parameters if name != "record") or "none"
            raise TypeError(
                f"{self.name} takes no loader option(s) {', '.join(sorted(filters))} (it takes: {accepted})"
            ) from None

    def pairs(self, records: Sequence[Mapping[str, Any]]) -> list[tuple[int, int]]:
        """(source, target) record index pairs for ``pairs=True``; only for :attr:`pairs_supported`."""
        raise ValueError(f"{self.name} has no pairs")

    # ---------------------------------------------------------------------------------------------- helpers
    def check_fold(self, fold: Any) -> Any:
        fold = self.default_fold if fold is None else fold
        if fold not in self.folds:
            choices = ", ".join(repr(f) for f in self.folds)
            raise ValueError(f"{self.name}: unknown fold {fold!r}; expected one of {choices}")
        return fold


class PartitionSpec(DatasetSpec):
    """A family with published subject partitions: fold k tests on part k and trains on the other parts.

    Named protocols (:attr:`named_folds`) map to a part number, e.g. ``"igcn"`` for the train/test split of
    the IGCN paper. Subjects in no part (not in the published lists) belong to split ``"all"`` only.
    """

    parts: ClassVar[tuple[tuple[str, ...], ...]]
    named_folds: ClassVar[dict[str, int]] = {}

    def test_subjects(self, subjects: Sequence[str], fold: Any) -> set[str]:
        part = self.named_folds.get(fold, fold)
        return set(self.parts[part - 1]) & set(subjects)

    def train_subjects(self, subjects: Sequence[str], fold: Any) -> set[str]:
        part = self.named_folds.get(fold, fold)
        listed = {s for i, p in enumerate(self.parts, 1) if i != part for s in p}
        return listed & set(subjects)


class RoundRobinSpec(DatasetSpec):
    """A family split into :attr:`n_folds` subject-exclusive folds by :func:`round_robin_folds`."""

    n_folds: ClassVar[int]

    def test_subjects(self, subjects: Sequence[str], fold: Any) -> set[str]:
        return {s for s, f in round_robin_folds(subjects, self.n_folds).items() if f == fold}


def round_robin_folds(subjects: Iterable[str], k: int) -> dict[str, int]:
    """Deterministic subject-exclusive folds 1..k: the sorted subjects dealt in turn (1, 2, ..., k, 1...)."""
    return {s: i % k + 1 for i, s in enumerate(sorted(set(subjects)))}


def require_dir(path: Path, what: str) -> Path:
    """``path`` if it is a folder, else a :class:`DatasetLayoutError` naming what was expected there."""
    if not path.is_dir():
        raise DatasetLayoutError(f"{path}: no such folder; expected {what}")
    return path


def numbered_images(folder: Path) -> dict[int, Path]:
    """Images of ``folder`` named by a frame number (any zero padding: ``12.jpg``, ``0012.jpg``) by number."""
    found: dict[int, Path] = {}
    if folder.is_dir():
        for entry in os.scandir(folder):
            stem, suffix = os.path.splitext(entry.name)
            if suffix.lower() in IMAGE_SUFFIXES and stem.isdigit():
                found[int(stem)] = Path(entry.path)
    return found


def read_landmark_file(path: Path) -> np.ndarray:
    """A 68-line ``x y`` text file (the CK+ ``_landmarks.txt`` format) as (68, 2) float64 photo pixels."""
    try:
        points = np.loadtxt(path, dtype=np.float64, ndmin=2)
    except (OSError, ValueError) as err:
        raise DatasetLayoutError(f"{path}: unreadable landmark file ({err})") from err
    if points.shape != (68, 2):
        raise DatasetLayoutError(f"{path}: expected 68 lines of 'x y', got an array of shape {points.shape}")
    return points
