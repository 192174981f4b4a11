"""``prepare``: align every face of a raw dataset onto faceforge's template and cache crops and labels.

The cache written by :func:`prepare` (``faceforge prepare NAME --root RAW --out DIR``)::

    DIR/meta.json                      dataset, crop size, margin, AU list, prepare options, "complete"
    DIR/index.jsonl                    one JSON object per cached face: key, shard, row, subject, labels
    DIR/skipped.jsonl                  one JSON object per skipped raw item: key, source, reason
    DIR/shards/images_00000.npy        (n, S, S, 3) uint8 aligned crops, S = size + 2 * margin
    DIR/shards/landmarks_00000.npy     (n, 68, 2) float32 landmarks in crop pixels (NaN where unknown)

Why uint8 ``.npy`` shards rather than one PNG per face: the crops are small (128 x 128), so a PNG decode
costs more than the read itself, while a memory-mapped shard row is a plain copy; a few hundred shard files
instead of ~150,000 per-frame files (BP4D, DISFA) are kind to network file systems and quick to copy; and a
shard is written atomically (temporary file, then rename) *before* its index lines are appended, so an
interrupted ``prepare`` loses at most the one shard it was filling and resumes from the index. The price is
disk space: crops are stored uncompressed (48 KiB per face at 128 x 128).

Faces are aligned onto faceforge's canonical template (:func:`faceforge.face.template.canonical_landmarks`)
with the dataset's own 68 landmarks where the dataset ships them (CK+), else with landmarks from an optional
side folder (``--landmarks DIR``: ``DIR/<image path relative to RAW, suffix .txt>``, 68 lines ``x y`` in photo
pixels, the CK+ format), else with dlib through :func:`faceforge.face.pipeline.find_faces` (largest face).
Items where no face is found, or whose image cannot be read, are logged to ``skipped.jsonl`` and skipped.
"""

from __future__ import annotations

import json
import multiprocessing
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from faceforge.data.datasets.base import DatasetSpec, RawItem, logger, read_landmark_file, require_dir
from faceforge.errors import DatasetLayoutError, FaceForgeError

CACHE_VERSION = 1


@dataclass
class PrepareReport:
    """Counts of one :func:`prepare` run."""

    out: Path
    total: int  # raw items found by the scan
    cached: int  # faces cached by this run
    already_done: int  # items found done (cached or skipped) by an earlier, interrupted run
    skipped: int  # items skipped by this run (no face, unreadable image)

    def summary(self, name: str) -> str:
        parts = [f"prepared {name}: {self.cached} faces cached"]
        if self.already_done:
            parts.append(f"{self.already_done} already done by an earlier run")
        if self.skipped:
            parts.append(f"{self.skipped} skipped (listed in {self.out / 'skipped.jsonl'})")
        return ", ".join(parts) + f"; cache in {self.out}"


@dataclass(frozen=True)
class _Task:
    key: str
    image: Path
    landmarks: np.ndarray | None
    side_landmarks: Path | None
    aligned: bool
    size: int
    margin: int


def _detect_landmarks(image: np.ndarray) -> np.ndarray:
    """68 photo landmarks of the largest face dlib finds; tight crops are retried in an edge-padded frame."""
    from faceforge.face.pipeline import find_faces  # dlib loads lazily, only when a face must be found

    faces = find_faces(image, max_faces=1)
    if faces:
        return np.asarray(faces[0].landmarks, dtype=np.float64)
    pad = max(image.shape[:2]) // 4  # a face filling the frame (a pre-cropped image) is missed by HOG
    faces = find_faces(np.pad(image, ((pad, pad), (pad, pad), (0, 0)), mode="edge"), max_faces=1)
    if faces:
        return np.asarray(faces[0].landmarks, dtype=np.float64) - pad
    raise _Skip("no face found")


class _Skip(Exception):
    """An item that cannot be cached; the message is the reason written to ``skipped.jsonl``."""


def _process(task: _Task) -> tuple[str, np.ndarray, np.ndarray] | tuple[str, str]:
    """Load, align and crop one item: ``(key, crop, landmarks)`` or ``(key, reason)`` when it is skipped."""
    from faceforge.face.align import align_face
    from faceforge.face.io import load_image

    try:
        image = load_image(task.image)
        if task.aligned:
            crop = resize_crop(image, task.size + 2 * task.margin)
            return task.key, crop, np.full((68, 2), np.nan, np.float32)
        if task.landmarks is not None:
            points = task.landmarks
        elif task.side_landmarks is not None and task.side_landmarks.is_file():
            points = read_landmark_file(task.side_landmarks)
        else:
            points = _detect_landmarks(image)
        try:
            face = align_face(image, points, size=task.size, margin=task.margin)
        except ValueError as err:  # degenerate or non-finite landmarks
            raise _Skip(f"unusable landmarks ({err})") from err
        return (
            task.key,
            np.ascontiguousarray(face.image, dtype=np.uint8),
            np.asarray(face.landmarks, np.float32),
        )
    except _Skip as err:
        return task.key, str(err)
    except FaceForgeError as err:  # unreadable image, no face, bad landmark file: logged and skipped
        return task.key, str(err)


def resize_crop(image: np.ndarray, side: int) -> np.ndarray:
    """Resize an (H, W, 3) uint8 crop to (side, side, 3) with a bicubic filter (pre-aligned datasets)."""
    from PIL import Image

    if image.shape[:2] == (side, side):
        return np.ascontiguousarray(image)
    return np.asarray(Image.fromarray(image).resize((side, side), Image.Resampling.BICUBIC))


class _ShardWriter:
    """Buffers crops and writes them as numbered shards, appending their index lines after each shard."""

    def __init__(self, out: Path, *, shard_size: int, next_shard: int):
        self.dir = out / "shards"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.index = out / "index.jsonl"
        self.shard_size = shard_size
        self.shard = next_shard
        self.images: list[np.ndarray] = []
        self.landmarks: list[np.ndarray] = []
        self.records: list[dict[str, Any]] = []

    def add(self, crop: np.ndarray, landmarks: np.ndarray, record: dict[str, Any]) -> None:
        record = {"key": record["key"], "shard": self.shard, "row": len(self.images), **record}
        self.images.append(crop)
        self.landmarks.append(landmarks)
        self.records.append(record)
        if len(self.images) >= self.shard_size:
            self.flush()

    def flush(self) -> None:
        if not self.images:
            return
        _save_atomic(self.dir / f"images_{self.shard:05d}.npy", np.stack(self.images))
        _save_atomic(
            self.dir / f"landmarks_{self.shard:05d}.npy", np.stack(self.landmarks).astype(np.float32)
        )
        _append_jsonl(self.index, self.records)  # only after the shard is safely on disk
        self.shard += 1
        self.images, self.landmarks, self.records = [], [], []


def _save_atomic(path: Path, array: np.ndarray) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        np.save(f, array)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _append_jsonl(path: Path, records: Iterable[Mapping[str, Any]]) -> None:
    text = "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records)
    with open(path, "a", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The records of a JSON-lines file; a torn last line (an interrupted write) is ignored."""
    if not path.is_file():
        return []
    records = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                if line.endswith("\n"):
                    raise DatasetLayoutError(f"{path}: corrupt line {len(records) + 1}") from None
    return records


def _truncate_torn_line(path: Path) -> None:
    if path.is_file():
        data = path.read_bytes()
        if data and not data.endswith(b"\n"):
            path.write_bytes(data[: data.rfind(b"\n") + 1])


def _cache_settings(spec: DatasetSpec, size: int, margin: int, options: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "version": CACHE_VERSION,
        "dataset": spec.name,
        "size": size,
        "margin": margin,
        "options": dict(options),
    }


def prepare(
    spec: DatasetSpec,
    root: str | os.PathLike,
    out: str | os.PathLike,
    *,
    size: int = 128,
    margin: int = 0,
    landmarks: str | os.PathLike | None = None,
    workers: int = 0,
    shard_size: int = 1024,
    retry_skipped: bool = False,
    progress: bool = True,
    options: Mapping[str, Any] | None = None,
) -> PrepareReport:
    """Align every face of a raw dataset onto the canonical template and cache crops and labels in ``out``.

    Resumable: items already in ``out/index.jsonl`` or ``out/skipped.jsonl`` are not processed again, so an
    interrupted run continues where it stopped (at most the shard being filled, ``shard_size`` faces, is
    redone).

    Args:
        spec: the dataset family.
        root: the raw dataset folder, in the layout the family documents.
        out: the cache folder (created).
        size: side of the aligned face in pixels (128: faceforge's template size).
        margin: extra border in pixels on every side; crops are ``size + 2 * margin`` square.
        landmarks: optional side folder of 68-point landmark files (``DIR/<relative image path>.txt``), used
            before dlib.
        workers: processes that load and align images (0: in this process).
        shard_size: faces per shard file.
        retry_skipped: process the items an earlier run skipped again.
        progress: show a tqdm progress bar.
        options: the family's prepare options (see ``spec.prepare_options``); they are part of the cache's
            identity: resuming with different options is refused.

    Returns:
        a :class:`PrepareReport`.

    Raises:
        DatasetLayoutError: ``root`` does not have the family's layout, or ``out`` holds a cache prepared with
            other settings.
    """
    if size <= 0 or shard_size <= 0 or margin < 0:
        raise ValueError(
            f"size and shard_size must be positive and margin >= 0; got {size}, {shard_size}, {margin}"
        )
    options = resolve_options(spec, options)
    root, out = Path(root), Path(out)
    require_dir(root, f"the raw {spec.name} dataset")
    scan = spec.scan(root, **options)
    if not scan.items:
        raise DatasetLayoutError(f"{root}: found no {spec.name} images to prepare")
    keys = [item.key for item in scan.items]
    if len(set(keys)) != len(keys):  # a bug in the family's scan, not in the data
        raise AssertionError(f"{spec.name} scan produced duplicate keys")

    out.mkdir(parents=True, exist_ok=True)
    settings = _cache_settings(spec, size, margin, options)
    meta_path = out / "meta.json"
    if meta_path.is_file():
        old = json.loads(meta_path.read_text(encoding="utf-8"))
        if {k: old.get(k) for k in settings} != settings:
            raise DatasetLayoutError(
                f"{out} holds a cache prepared with other settings ({_describe(old)}); this run asks for "
                f"{_describe(settings)}. Use another --out folder, or delete {out} to start over."
            )
    _write_meta(out, {**settings, "aus": list(scan.aus), "complete": False})

    index_path, skipped_path = out / "index.jsonl", out / "skipped.jsonl"
    for path in (index_path, skipped_path):
        _truncate_torn_line(path)
    done_records = read_jsonl(index_path)
    skipped_records = read_jsonl(skipped_path)
    if retry_skipped and skipped_records:
        skipped_path.unlink()
        skipped_records = []
    done = {r["key"] for r in done_records} | {r["key"] for r in skipped_records}
    next_shard = 1 + max((r["shard"] for r in done_records), default=-1)

    side_dir = Path(landmarks) if landmarks is not None else None
    if side_dir is not None:
        require_dir(side_dir, "a folder of landmark files (--landmarks)")
    todo = [item for item in scan.items if item.key not in done]
    by_key = {item.key: item for item in todo}
    tasks = [_task(item, root, side_dir, size, margin) for item in todo]

    writer = _ShardWriter(out, shard_size=shard_size, next_shard=next_shard)
    cached = skipped = 0
    bar = _progress(len(scan.items), len(scan.items) - len(todo), spec.name, enabled=progress)
    try:
        for result in _run(tasks, workers):
            item = by_key[result[0]]
            if len(result) == 2:
                skipped += 1
                reason = result[1]
                logger.info("%s: skipped %s (%s)", spec.name, item.key, reason)
                _append_jsonl(
                    skipped_path, [{"key": item.key, "source": _relative(item.image, root), "reason": reason}]
                )
            else:
                _, crop, points = result
                writer.add(crop, points, _record(item, root))
                cached += 1
            bar.update(1)
            bar.set_postfix(skipped=skipped, refresh=False)
        writer.flush()
    finally:
        bar.close()

    _remove_orphan_shards(out, writer.shard)
    index = read_jsonl(index_path)
    if not index:
        raise DatasetLayoutError(f"{root}: no face could be cached; see {skipped_path} for the reasons")
    all_skipped = len(read_jsonl(skipped_path))
    if skipped:
        logger.warning(
            "%s: %d item(s) skipped (no face found or unreadable); see %s", spec.name, skipped, skipped_path
        )
    _write_meta(
        out,
        {
            **settings,
            "aus": list(scan.aus),
            "complete": True,
            "faces": len(index),
            "skipped": all_skipped,
            "shards": writer.shard,
            "crop_size": size + 2 * margin,
            "landmarks": bool(any(not item.aligned for item in scan.items)),
        },
    )
    return PrepareReport(
        out=out, total=len(scan.items), cached=cached, already_done=len(done & set(keys)), skipped=skipped
    )


def resolve_options(spec: DatasetSpec, options: Mapping[str, Any] | None) -> dict[str, Any]:
    """The family's prepare options with defaults filled in; unknown options raise ``ValueError``.

    Options are part of a cache's identity (see :func:`prepare`), so whole numbers given as text (from the
    command line) are converted to the type of their default.
    """
    options = {k: v for k, v in (options or {}).items() if v is not None}
    unknown = sorted(set(options) - set(spec.prepare_options))
    if unknown:
        accepted = ", ".join(sorted(spec.prepare_options)) or "none"
        raise ValueError(
            f"{spec.name} does not take the prepare option(s) {', '.join(unknown)} (it takes: {accepted})"
        )
    resolved = dict(spec.prepare_options)
    for name, value in options.items():
        default = spec.prepare_options[name]
        if isinstance(value, str) and isinstance(default, int) and not isinstance(default, bool):
            try:  # a number given as text (from the command line) is the same option as the number
                value = int(value)
            except ValueError:
                raise ValueError(
                    f"{spec.name}: option {name} must be a whole number, got {value!r}"
                ) from None
        resolved[name] = value
    return resolved


def _describe(settings: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={settings.get(k)!r}" for k in ("dataset", "size", "margin", "options"))


def _write_meta(out: Path, meta: Mapping[str, Any]) -> None:
    tmp = out / "meta.json.tmp"
    tmp.write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, out / "meta.json")


def _relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def _task(item: RawItem, root: Path, side_dir: Path | None, size: int, margin: int) -> _Task:
    side = None
    if side_dir is not None and item.landmarks is None and not item.aligned:
        side = side_dir / Path(_relative(item.image, root)).with_suffix(".txt")
    return _Task(item.key, item.image, item.landmarks, side, item.aligned, size, margin)


def _record(item: RawItem, root: Path) -> dict[str, Any]:
    return {"key": item.key, "subject": item.subject, "source": _relative(item.image, root), **item.labels}


def _run(tasks: list[_Task], workers: int) -> Iterator[tuple]:
    if workers <= 0 or len(tasks) < 2:
        yield from map(_process, tasks)
        return
    with multiprocessing.get_context().Pool(workers) as pool:
        yield from pool.imap(_process, tasks, chunksize=8)


def _progress(total: int, initial: int, name: str, *, enabled: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc=f"prepare {name}", unit="face", disable=not enabled)


def _remove_orphan_shards(out: Path, next_shard: int) -> None:
    """Shards numbered past the last indexed one were written by a run interrupted before indexing them."""
    for path in (out / "shards").glob("*.npy*"):
        number = path.name.split("_")[-1].split(".")[0]
        if path.name.endswith(".tmp") or (number.isdigit() and int(number) >= next_shard):
            path.unlink()


def open_cache(root: str | os.PathLike, spec: DatasetSpec) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Read ``meta.json`` and ``index.jsonl`` of a prepared cache; check it is complete and ``spec``'s."""
    root = Path(root)
    meta_path = root / "meta.json"
    if not meta_path.is_file():
        raise DatasetLayoutError(
            f"{root}: not a prepared faceforge cache (no meta.json). Prepare the raw dataset first: "
            f"faceforge prepare {spec.name} --root RAW --out {root}"
        )
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    if meta.get("dataset") != spec.name:
        raise DatasetLayoutError(f"{root}: this cache holds {meta.get('dataset')!r}, not {spec.name!r}")
    if meta.get("version") != CACHE_VERSION:
        raise DatasetLayoutError(
            f"{root}: cache version {meta.get('version')} is not {CACHE_VERSION}; prepare it again"
        )
    if not meta.get("complete"):
        raise DatasetLayoutError(
            f"{root}: the prepare step did not finish; "
            "run the same faceforge prepare command again to resume it"
        )
    return meta, read_jsonl(root / "index.jsonl")
