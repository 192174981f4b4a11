"""Real face datasets: one entry point, :func:`build_dataset`, over a prepared cache of aligned faces.

Each real dataset is prepared once from its raw files (``faceforge prepare NAME --root RAW --out DIR`` or
:func:`prepare_dataset`), which aligns every face onto faceforge's canonical template and caches crops and
labels (see :mod:`faceforge.data.datasets.cache` for the cache format); the loaders then stream from that
cache. ``"synth"`` is faceforge's synthetic face set, built on the fly.

Example:
    >>> report = prepare_dataset("bp4d", root="/data/BP4D", out="/data/cache/bp4d")
    >>> train = build_dataset("bp4d", root="/data/cache/bp4d", split="train", fold="igcn")
    >>> train[0]["au_occurrence"].shape, train.aus
    (torch.Size([12]), (1, 2, 4, 6, 7, 10, 12, 14, 15, 17, 23, 24))

Datasets (module docstrings give each raw layout, label mapping and protocol):

    ======== ========================== ==================================================================
    name     folds (default first)      samples
    ======== ========================== ==================================================================
    bp4d     "igcn" (28/13), 1, 2, 3    au_occurrence / au_mask (12 AUs), identity, sequence, task, frame
    disfa    "igcn" (18/9), 1, 2, 3     au_intensity 0-5, au_occurrence (>= 2), au_mask (8 AUs), frame
    rafdb    none (official split)      expression
    ckplus   1-5                        expression, intensity, phase (neutral / weak / peak), AUs at peak
    oulu     1-5                        expression, intensity, phase
    rafd     1-10                       expression, identity, gaze (+ OpenFace au_intensity); pairs
    folder   none (CSV split column)    whatever the CSV gives
    synth    none                       see :class:`faceforge.data.synth.SynthFaces`
    ======== ========================== ==================================================================
"""

from __future__ import annotations

import os
from typing import Any

from torch.utils.data import Dataset

from faceforge.data.datasets.base import DatasetSpec
from faceforge.data.datasets.bp4d import BP4D
from faceforge.data.datasets.cache import PrepareReport, prepare
from faceforge.data.datasets.ckplus import CKPlus
from faceforge.data.datasets.disfa import DISFA
from faceforge.data.datasets.folder import Folder
from faceforge.data.datasets.loader import PairedFaces, PreparedFaces
from faceforge.data.datasets.openface import OPENFACE_AUS, openface_au_intensities
from faceforge.data.datasets.oulu import OuluCASIA
from faceforge.data.datasets.rafd import RaFD
from faceforge.data.datasets.rafdb import RAFDB

DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec for spec in (BP4D(), DISFA(), RAFDB(), CKPlus(), OuluCASIA(), RaFD(), Folder())
}
"""The real dataset families by name (``synth`` is not prepared and is not listed here)."""


def list_datasets() -> list[str]:
    """Names :func:`build_dataset` accepts: the real datasets and ``"synth"``."""
    return [*DATASETS, "synth"]


def get_spec(name: str) -> DatasetSpec:
    """The :class:`~faceforge.data.datasets.base.DatasetSpec` of a real dataset."""
    try:
        return DATASETS[name.lower()]
    except KeyError:
        raise ValueError(f"unknown dataset {name!r}; expected one of {', '.join(list_datasets())}") from None


def build_dataset(
    name: str,
    root: str | os.PathLike | None = None,
    split: str = "train",
    fold: int | str | None = None,
    *,
    pairs: bool = False,
    **kwargs: Any,
) -> Dataset:
    """A torch Dataset of one dataset's split, with samples keyed like the synthetic set's.

    Args:
        name: one of :func:`list_datasets`.
        root: the prepared cache folder (``faceforge prepare NAME --out ROOT``); unused for ``"synth"``.
        split: ``"train"``, ``"test"`` or ``"all"`` (``"val"`` for ``synth`` and ``folder`` CSVs naming it).
        fold: the dataset's fold or protocol (table in the module docstring); None: its default.
        pairs: pair datasets (``rafd``: two expressions of one identity; ``ckplus`` / ``oulu``: a weak
            frame and its peak frame), the target's keys prefixed ``target_``.
        kwargs: ``size`` (resize crops), ``transform`` (callable on each sample dict) and the dataset's
            filters (``bp4d``: ``drop_unknown``; ``ckplus`` / ``oulu``: ``phases``, ``labelled_only``;
            ``rafd``: ``gaze``); for ``synth``, the keyword arguments of ``SynthFaces``.

    Returns:
        a :class:`~faceforge.data.datasets.loader.PreparedFaces` (``.aus``, ``.identities``), a
        :class:`~faceforge.data.datasets.loader.PairedFaces` when ``pairs``, or a ``SynthFaces``.

    Raises:
        ValueError: unknown name, split, fold or option.
        DatasetLayoutError: ``root`` is not a complete prepared cache of this dataset.
    """
    if name.lower() == "synth":
        if fold is not None or pairs:
            raise ValueError("synth has no folds and no pairs")
        from faceforge.data.synth import (
            SynthFaces,
        )  # imported lazily: the renderer is not needed for real data

        return SynthFaces(split=split, **kwargs)
    spec = get_spec(name)
    if root is None:
        raise ValueError(
            f"{spec.name}: give root, the folder prepared with faceforge prepare {spec.name} --out ROOT"
        )
    faces = PreparedFaces(root, spec=spec, split=split, fold=fold, **kwargs)
    if not pairs:
        return faces
    if not spec.pairs_supported:
        raise ValueError(f"{spec.name} has no pairs (pairs=True works for rafd, ckplus and oulu)")
    return PairedFaces(faces, spec.pairs(faces.records))


def prepare_dataset(
    name: str,
    root: str | os.PathLike,
    out: str | os.PathLike,
    **kwargs: Any,
) -> PrepareReport:
    """Prepare a raw dataset into a cache :func:`build_dataset` reads (align, cache, resumable).

    Args:
        name: a real dataset (not ``synth``).
        root: the raw dataset folder.
        out: the cache folder.
        kwargs: ``size``, ``margin``, ``landmarks``, ``workers``, ``shard_size``, ``retry_skipped``,
            ``progress`` (see :func:`faceforge.data.datasets.cache.prepare`) and ``options``: the dataset's
            own prepare options (``rafdb``: ``realign``; ``disfa``: ``camera``, ``frame_base``; ``oulu``:
            ``illumination``; ``rafd``: ``camera``, ``openface``; ``folder``: ``labels``, ``openface``,
            ``aligned``).
    """
    return prepare(get_spec(name), root, out, **kwargs)


__all__ = [
    "DATASETS",
    "OPENFACE_AUS",
    "PairedFaces",
    "PrepareReport",
    "PreparedFaces",
    "build_dataset",
    "get_spec",
    "list_datasets",
    "openface_au_intensities",
    "prepare_dataset",
]
