"""Render a synthetic split once into uint8 arrays on disk, then train epochs from a memory map.

Rendering costs about 4 ms a face; a training epoch should not pay it again. ``cached_synth`` renders
``SynthFaces(split, size=..., length=..., seed=...)`` with a DataLoader over every core into
``<cache>/synth-<split>-<size>-<length>-<seed>/`` (``images.npy`` (N, H, W, 3) uint8 plus ``labels.npz``)
and returns a Dataset with the same sample keys. The cache root is ``$FACEFORGE_CACHE`` or
``~/.cache/faceforge``. A render goes to a private folder first and is renamed into place when complete, so an
interrupted
render is redone and concurrent renders never see each other's half-written files.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import torch
from threadpoolctl import threadpool_limits
from torch.utils.data import DataLoader, Dataset

LABEL_KEYS = ("landmarks", "au_intensity", "au_occurrence", "expression", "intensity", "identity", "pose")


def cache_root() -> Path:
    return Path(os.environ.get("FACEFORGE_CACHE", Path.home() / ".cache" / "faceforge"))


class ArrayFaces(Dataset):
    """Faces from ``images.npy`` (memory-mapped uint8) and ``labels.npz``, as dicts like ``SynthFaces``'s.

    Args:
        folder: a folder written by ``write_arrays``.
        prefix: the side of a pair folder to read (``"target_"``; ``""``: the faces, or a pair's sources).
        hflip: flip images (and landmarks, with the point order mirrored) at random with probability 0.5;
            AU and expression labels are left-right symmetric and stay as they are.
    """

    def __init__(self, folder: str | os.PathLike, *, hflip: bool = False, prefix: str = ""):
        self.folder = Path(folder)
        self.images = np.load(self.folder / f"{prefix}images.npy", mmap_mode="r")
        with np.load(self.folder / "labels.npz") as z:
            self.labels = {k[len(prefix):]: z[k] for k in z.files if k.startswith(prefix) and k[len(prefix):]
                           in LABEL_KEYS}
        self.hflip = hflip

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> dict:
        img = torch.from_numpy(np.array(self.images[index])).permute(2, 0, 1).float().div_(255)
        out = {k: torch.as_tensor(v[index]) for k, v in self.labels.items()}
        out["expression"], out["identity"] = int(out["expression"]), int(out["identity"])
        out["intensity"] = float(out["intensity"])
        if self.hflip and torch.rand(()) < 0.5:
            from faceforge.face.landmarks import flip_landmarks

            img = img.flip(-1)
            out["landmarks"] = torch.from_numpy(flip_landmarks(out["landmarks"].numpy(), img.shape[-1])).float()
        out["image"] = img
        return out


def write_arrays(dataset: Dataset, folder: Path, *, num_workers: int | None = None, batch_size: int = 64,
                 prefixes: tuple[str, ...] = ("",)) -> Path:
    """Render every sample of ``dataset`` into ``folder`` (images.npy, labels.npz, meta.json, done).

    ``prefixes``: the faces each sample holds, as key prefixes (a pair, :class:`FlatPairs`: ``("", "target_")``);
    each prefix's images go to ``<prefix>images.npy`` and its labels to ``labels.npz`` under prefixed names.
    """
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "done").unlink(missing_ok=True)
    n = len(dataset)
    first = dataset[0]
    h, w = first["image"].shape[-2:]
    images = {p: np.lib.format.open_memmap(folder / f"{p}images.npy", mode="w+", dtype=np.uint8, shape=(n, h, w, 3))
              for p in prefixes}
    labels: dict[str, list] = {p + k: [] for p in prefixes for k in LABEL_KEYS}
    workers = (os.cpu_count() or 1) if num_workers is None else num_workers
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=workers, shuffle=False)
    pos = 0
    # One BLAS thread per rendering process (the workers are forked inside this block and inherit it): with one
    # worker per core, each renderer-2 face's small matrix products would otherwise start a thread pool over every
    # core, oversubscribing the machine several times over.
    with threadpool_limits(1):
        for batch in loader:
            b = batch["image"].shape[0]
            for p, array in images.items():
                array[pos : pos + b] = (batch[f"{p}image"].permute(0, 2, 3, 1).numpy() * 255 + 0.5).astype(np.uint8)
            for k in labels:
                labels[k].append(np.asarray(batch[k]))
            pos += b
    for array in images.values():
        array.flush()
    np.savez(folder / "labels.npz", **{k: np.concatenate(v) for k, v in labels.items()})
    (folder / "meta.json").write_text(json.dumps({"length": n, "size": [int(h), int(w)]}))
    (folder / "done").touch()
    return folder


class FlatPairs(Dataset):
    """``SynthPairs`` samples as one flat dict: the source's keys, and the target's prefixed ``target_`` (the layout
    ``write_arrays(..., prefixes=("", "target_"))`` stores)."""

    def __init__(self, pairs: Dataset):
        self.pairs = pairs

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> dict:
        pair = self.pairs[index]
        return {**pair["source"], **{f"target_{k}": v for k, v in pair["target"].items()}}


class ArrayPairs(Dataset):
    """Pairs from a folder ``write_arrays`` wrote from :class:`FlatPairs`, as ``SynthPairs``'s samples
    ``{"source": face, "target": face}``."""

    def __init__(self, folder: str | os.PathLike, *, length: int | None = None):
        self.source, self.target = ArrayFaces(folder), ArrayFaces(folder, prefix="target_")
        self.length = len(self.source) if length is None else min(length, len(self.source))

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict:
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for {self.length} pairs")
        return {"source": self.source[index], "target": self.target[index]}


def cache_name(split: str, size: int, length: int, seed: int, version: int | None = None, **synth_kwargs) -> str:
    """The cache folder name of a rendered split: every argument and the renderer's version and revision.

    Renderer 1 keeps the names it always had (``synth-v<revision>-...``); renderer 2 adds ``-r2.<revision>``.
    """
    from faceforge.data.synth.faces import RENDER_VERSION, check_version
    from faceforge.data.synth.render3d import REVISION

    renderer = "" if check_version(version) == 1 else f"-r2.{REVISION}"
    extra = "".join(f"-{k}={v}" for k, v in sorted(synth_kwargs.items())).replace(" ", "")
    return f"synth-v{RENDER_VERSION}{renderer}-{split}-{size}-{length}-{seed}{extra}"


def cached_synth(split: str, *, size: int = 128, length: int | None = None, seed: int = 0, hflip: bool = False,
                 num_workers: int | None = None, root: Path | None = None, version: int | None = None,
                 **synth_kwargs) -> ArrayFaces:
    """``SynthFaces(split, size=size, length=length, seed=seed, version=version, **synth_kwargs)`` rendered
    once into the cache (a folder named by every argument and the renderer version, ``cache_name``), returned
    as ``ArrayFaces``. ``version``: the renderer, 2 (shaded 3-D) or 1 (2-D polygons); None: the default (2)."""
    from faceforge.data.synth import SynthFaces
    from faceforge.data.synth.faces import check_version

    version = check_version(version)
    dataset = SynthFaces(split, size=size, length=length, seed=seed, version=version, **synth_kwargs)
    folder = (root or cache_root()) / cache_name(split, size, len(dataset), seed, version, **synth_kwargs)
    return ArrayFaces(_rendered(dataset, folder, num_workers=num_workers), hflip=hflip)


def _rendered(dataset: Dataset, folder: Path, *, num_workers: int | None, prefixes: tuple[str, ...] = ("",)) -> Path:
    """``folder``, rendered from ``dataset`` unless a complete render is there."""
    return _complete(folder, lambda tmp: write_arrays(dataset, tmp, num_workers=num_workers, prefixes=prefixes))


def _complete(folder: Path, write) -> Path:
    """``folder``, written by ``write(private_folder)`` unless a complete one (holding ``done``) is there."""
    if not (folder / "done").is_file():
        # Render into a private folder and rename it into place, so processes that render the same split at
        # the same time (several trainings, several ranks) never read or write a half-written cache.
        tmp = folder.with_name(f"{folder.name}.tmp-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        write(tmp)
        if (folder / "done").is_file():  # another process finished first: use its copy
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            shutil.rmtree(folder, ignore_errors=True)  # an incomplete render left by an interrupted run
            os.replace(tmp, folder)
    return folder


def cached_synth_pairs(split: str, *, size: int = 128, length: int | None = None, seed: int = 0,
                       num_workers: int | None = None, root: Path | None = None, version: int | None = None,
                       **synth_kwargs) -> ArrayPairs:
    """``SynthPairs(split, size=size, length=length, seed=seed, version=version, **synth_kwargs)`` rendered once
    into the cache (``cache_name`` with ``pairs`` after the split), returned as :class:`ArrayPairs`."""
    from faceforge.data.synth import SynthPairs
    from faceforge.data.synth.faces import check_version

    version = check_version(version)
    pairs = SynthPairs(split, size=size, length=length, seed=seed, version=version, **synth_kwargs)
    root = root or cache_root()
    # A pair depends on its index alone, not on the length: a longer complete render holds these pairs first.
    pattern = cache_name(f"{split}-pairs", size, 0, seed, version, **synth_kwargs).split(f"-{size}-0-")
    for folder in root.glob(f"{pattern[0]}-{size}-*-{pattern[1]}"):
        rendered = folder.name[len(pattern[0]) + len(str(size)) + 2:].split("-", 1)[0]
        if rendered.isdigit() and int(rendered) >= len(pairs) and (folder / "done").is_file():
            return ArrayPairs(folder, length=len(pairs))
    folder = root / cache_name(f"{split}-pairs", size, len(pairs), seed, version, **synth_kwargs)
    return ArrayPairs(_rendered(FlatPairs(pairs), folder, num_workers=num_workers, prefixes=("", "target_")))


# --- sequences: only the frames a task reads --------------------------------------------------------------------------
class _KeyFrames(Dataset):
    """A ``SynthSequences``'s samples cut to the frames GroupGAN reads: ``weak`` (3, 3, H, W) (frames 6-8), ``peak``
    (3, H, W) (the last), ``expression``, ``identity``."""

    def __init__(self, sequences: Dataset):
        self.sequences = sequences

    def __len__(self) -> int:
        return len(self.sequences)

    def __getitem__(self, index: int) -> dict:
        sample = self.sequences[index]
        images = sample["images"]
        return {"weak": images[sample["weak_frames"]], "peak": images[int(sample["peak_frame"])],
                "expression": int(sample["expression"]), "identity": int(sample["identity"])}


class ArraySequenceFrames(Dataset):
    """Sequences' key frames from a folder :func:`cached_synth_sequence_frames` wrote, with the attributes
    :class:`~faceforge.training.tasks.groupgan.SynthSequencePairs` reads (``identities``, ``WEAK_FRAMES``).

    Samples: ``weak`` (3, 3, H, W) and ``peak`` (3, H, W), uint8; ``expression``, ``identity``.
    """

    def __init__(self, folder: str | os.PathLike):
        folder = Path(folder)
        meta = json.loads((folder / "meta.json").read_text())
        self.identities = list(meta["identities"])
        self.WEAK_FRAMES = tuple(meta["weak_frames"])
        self.weak = np.load(folder / "weak.npy", mmap_mode="r")
        self.peak = np.load(folder / "peak.npy", mmap_mode="r")
        labels = np.load(folder / "labels.npz")
        self.expression, self.identity = labels["expression"], labels["identity"]

    def __len__(self) -> int:
        return len(self.peak)

    def __getitem__(self, index: int) -> dict:
        return {"weak": torch.from_numpy(np.array(self.weak[index])),
                "peak": torch.from_numpy(np.array(self.peak[index])), "expression": int(self.expression[index]),
                "identity": int(self.identity[index])}


def _write_key_frames(sequences: Dataset, folder: Path, *, num_workers: int | None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    frames = _KeyFrames(sequences)
    n, first = len(frames), frames[0]
    h, w = first["peak"].shape[-2:]
    k = first["weak"].shape[0]
    weak = np.lib.format.open_memmap(folder / "weak.npy", mode="w+", dtype=np.uint8, shape=(n, k, 3, h, w))
    peak = np.lib.format.open_memmap(folder / "peak.npy", mode="w+", dtype=np.uint8, shape=(n, 3, h, w))
    labels: dict[str, list] = {"expression": [], "identity": []}
    workers = (os.cpu_count() or 1) if num_workers is None else num_workers
    pos = 0
    with threadpool_limits(1):
        for batch in DataLoader(frames, batch_size=8, num_workers=workers, shuffle=False):
            b = batch["peak"].shape[0]
            weak[pos : pos + b] = (batch["weak"].numpy() * 255 + 0.5).astype(np.uint8)
            peak[pos : pos + b] = (batch["peak"].numpy() * 255 + 0.5).astype(np.uint8)
            for key in labels:
                labels[key].append(np.asarray(batch[key]))
            pos += b
    weak.flush()
    peak.flush()
    np.savez(folder / "labels.npz", **{key: np.concatenate(v) for key, v in labels.items()})
    (folder / "meta.json").write_text(json.dumps({"length": n, "size": [int(h), int(w)],
                                                  "identities": [int(i) for i in sequences.identities],
                                                  "weak_frames": [int(t) for t in sequences.WEAK_FRAMES]}))
    (folder / "done").touch()
    return folder


def cached_synth_sequence_frames(split: str, *, size: int = 128, length: int | None = None, frames: int = 16,
                                 seed: int = 0, num_workers: int | None = None, root: Path | None = None,
                                 version: int | None = None) -> ArraySequenceFrames:
    """The weak frames (6-8) and the peak frame of ``SynthSequences(split, size=size, length=length, frames=frames,
    seed=seed, version=version)``, rendered once into the cache (a sequence costs 16 faces; a GroupGAN run reads
    four of them, and the tables train dozens of runs on the same sequences)."""
    from faceforge.data.synth import SynthSequences
    from faceforge.data.synth.faces import check_version

    version = check_version(version)
    sequences = SynthSequences(split, size=size, length=length, frames=frames, seed=seed, version=version)
    folder = (root or cache_root()) / cache_name(f"{split}-sequences{frames}", size, len(sequences), seed, version)
    return ArraySequenceFrames(_complete(folder, lambda tmp: _write_key_frames(sequences, tmp,
                                                                               num_workers=num_workers)))
