"""The Dataset that streams a prepared cache: split and fold selection, labels as tensors, pairs."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from faceforge.data.datasets.base import SPLITS, DatasetSpec
from faceforge.data.datasets.cache import open_cache

# Labels the loader turns into tensors; every other label key is passed through as an extra.
_AU_KEYS = ("au_occurrence", "au_intensity")
_EXTRA_TYPES = (int, float, str)


class PreparedFaces(Dataset):
    """Faces of a prepared cache, one sample per cached face; streams crops from memory-mapped shards.

    Samples (dicts) have, where the dataset has them:

        * ``image``: (3, S, S) float32 in [0, 1].
        * ``landmarks``: (68, 2) float32 in crop pixels (absent when the cache holds pre-aligned crops).
        * ``au_occurrence``: (A,) float32 in {0, 1} over :attr:`aus`; ``au_intensity``: (A,) float32;
          ``au_mask``: (A,) float32, 1 where the AU occurrence (or, without occurrences, the intensity) is
          known; unknown labels read 0.
        * ``expression``: int, index into :data:`faceforge.face.expressions.EXPRESSIONS` (-1: unknown).
        * ``intensity``: float in [0, 1].
        * ``identity``: int, index into :attr:`identities` (the subject ids of the whole cache, sorted).
        * ``key``: str, and dataset extras such as ``frame`` (int), ``sequence`` (str), ``phase`` (str).

    Works with DataLoader workers: shards are opened lazily in each process and never pickled.

    Args:
        root: the prepared cache folder.
        spec: the dataset family.
        split: ``"train"``, ``"test"``, ``"all"``, or ``"val"`` where the labels name one (``folder``).
        fold: the family's fold (see :func:`faceforge.data.datasets.build_dataset`).
        size: resize crops (and landmarks) to this side; None keeps the cached size.
        transform: optional callable applied to each sample dict.
        filters: family-specific filters (e.g. CK+ ``phases``), see the family's ``keep``.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        *,
        spec: DatasetSpec,
        split: str = "train",
        fold: Any = None,
        size: int | None = None,
        transform: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
        **filters: Any,
    ):
        self.root = Path(root)
        self.spec = spec
        self.meta, records = open_cache(self.root, spec)
        self.aus: tuple[int, ...] = tuple(self.meta.get("aus", ()))
        subjects = sorted({r["subject"] for r in records if r.get("subject") is not None})
        self.identities: tuple[str, ...] = tuple(subjects)
        self._identity = {s: i for i, s in enumerate(subjects)}
        self.split = split
        self.fold = _select_fold(spec, split, fold)
        spec.check_filters(filters)
        self.records = [
            r for r in _select_split(spec, records, split, self.fold, subjects) if spec.keep(r, **filters)
        ]
        if not self.records:
            raise ValueError(
                f"{spec.name}: split={split!r}, fold={self.fold!r} selects no faces from {self.root}"
            )
        self.size = size
        self.transform = transform
        self._has_landmarks = bool(self.meta.get("landmarks", True))
        self._columns = _label_columns(self.records, len(self.aus), self._identity)
        self._rows = np.array([(r["shard"], r["row"]) for r in self.records], np.int64)
        self._shards: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def identity_of(self, subject: str) -> int:
        """The ``identity`` int of a subject id (e.g. ``"F001"``)."""
        return self._identity[subject]

    def __len__(self) -> int:
        return len(self.records)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_shards"] = {}  # memory maps are reopened in each DataLoader worker
        return state

    def _shard(self, shard: int) -> tuple[np.ndarray, np.ndarray]:
        if shard not in self._shards:
            folder = self.root / "shards"
            self._shards[shard] = (
                np.load(folder / f"images_{shard:05d}.npy", mmap_mode="r"),
                np.load(folder / f"landmarks_{shard:05d}.npy", mmap_mode="r"),
            )
        return self._shards[shard]

    def __getitem__(self, index: int) -> dict[str, Any]:
        sample = self.sample(index)
        return self.transform(sample) if self.transform is not None else sample

    def sample(self, index: int) -> dict[str, Any]:
        """The sample at ``index`` before ``transform``."""
        shard, row = self._rows[index].tolist()
        images, landmarks = self._shard(shard)
        image = torch.from_numpy(np.array(images[row])).permute(2, 0, 1).float().div_(255.0)
        points = torch.from_numpy(np.array(landmarks[row], dtype=np.float32))
        if self.size is not None and self.size != image.shape[-1]:
            scale = self.size / image.shape[-1]
            image = torch.nn.functional.interpolate(
                image[None], size=(self.size, self.size), mode="bilinear", antialias=True, align_corners=False
            )[0].clamp_(0.0, 1.0)
            points = (points + 0.5) * scale - 0.5
        sample: dict[str, Any] = {"image": image}
        if self._has_landmarks:
            sample["landmarks"] = points
        for name, column in self._columns.items():
            value = column[index]
            if isinstance(value, np.ndarray):
                sample[name] = torch.from_numpy(value.copy())
            else:
                sample[name] = value.item() if isinstance(value, np.generic) else value
        return sample


class PairedFaces(Dataset):
    """Pairs of faces of one cache: the source sample's keys plus the target's, prefixed ``target_``.

    Used for editing (RaFD: same identity, two expressions) and magnification (CK+, Oulu-CASIA: a weak frame
    and the peak frame of its sequence). The dataset's ``transform`` is applied to the joined pair dict.
    """

    def __init__(self, faces: PreparedFaces, pairs: Sequence[tuple[int, int]]):
        if not pairs:
            raise ValueError(f"{faces.spec.name}: the selection has no pairs")
        self.faces = faces
        self.pairs = list(pairs)
        self.aus, self.identities = faces.aus, faces.identities

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> dict[str, Any]:
        i, j = self.pairs[index]
        source, target = self.faces.sample(i), self.faces.sample(j)
        sample = {**source, **{f"target_{k}": v for k, v in target.items() if k != "identity"}}
        return self.faces.transform(sample) if self.faces.transform is not None else sample


def _select_fold(spec: DatasetSpec, split: str, fold: Any) -> Any:
    if split not in SPLITS:
        raise ValueError(f"{spec.name}: unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    if split == "val" and not spec.split_from_labels:
        raise ValueError(
            f"{spec.name} has no validation split (its protocol has train and test); "
            "use split='train' or 'test'"
        )
    if spec.split_from_labels:
        if fold is not None:
            raise ValueError(f"{spec.name} has fixed train/test splits and no folds; leave fold unset")
        return None
    return None if split == "all" and fold is None else spec.check_fold(fold)


def _select_split(
    spec: DatasetSpec, records: list[dict[str, Any]], split: str, fold: Any, subjects: list[str]
) -> list[dict[str, Any]]:
    if split == "all":
        return records
    if spec.split_from_labels:
        if any("split" not in r for r in records):
            raise ValueError(f"{spec.name}: these labels have no split column; use split='all'")
        return [r for r in records if r["split"] == split]
    chosen = spec.test_subjects(subjects, fold) if split == "test" else spec.train_subjects(subjects, fold)
    return [r for r in records if r.get("subject") in chosen]


def _label_columns(
    records: list[dict[str, Any]], n_aus: int, identity: Mapping[str, int]
) -> dict[str, np.ndarray | list[Any]]:
    """Per-sample labels as columns, built once.

    (N, A) AU arrays and their mask, (N,) expression, intensity and identity arrays, and lists of extras.
    Samples read these, not the records, so DataLoader workers do not touch (and copy) the record dicts.
    """
    columns: dict[str, np.ndarray | list[Any]] = {}
    masks = []
    for name in _AU_KEYS:
        if n_aus and any(name in r for r in records):
            values = np.zeros((len(records), n_aus), np.float32)
            known = np.zeros((len(records), n_aus), np.float32)
            for i, r in enumerate(records):
                for j, v in enumerate(r.get(name) or [None] * n_aus):
                    if v is not None:
                        values[i, j], known[i, j] = v, 1.0
            columns[name] = values
            masks.append(known)
    if masks:  # the mask of au_occurrence, or of au_intensity where there are no occurrences
        columns["au_mask"] = masks[0]
    if any("expression" in r for r in records):
        columns["expression"] = np.array([r.get("expression", -1) for r in records], np.int64)
    if any("intensity" in r for r in records):
        columns["intensity"] = np.array([r.get("intensity", 0.0) for r in records], np.float64)
    if identity and all(r.get("subject") is not None for r in records):
        columns["identity"] = np.array([identity[r["subject"]] for r in records], np.int64)
    reserved = {"key", "shard", "row", "subject", "source", "split", "expression", "intensity", *_AU_KEYS}
    extras = sorted(
        {k for r in records for k, v in r.items() if k not in reserved and isinstance(v, _EXTRA_TYPES)}
    )
    for name in [*extras, "key"]:
        if all(name in r for r in records):
            columns[name] = [r[name] for r in records]
    return columns
