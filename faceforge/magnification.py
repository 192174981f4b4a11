"""Weak-expression magnification (GroupGAN) on aligned crops, photos and videos.

    import faceforge
    from faceforge.magnification import magnify_photo, magnify_video

    model = faceforge.from_pretrained("groupgan").eval()
    result = magnify_photo("face.jpg", model)           # PhotoMagnification: every face, the photo pasted back
    result.faces[0].expression_after, result.faces[0].after["happy"]
    video = magnify_video("clip.mp4", model)            # every frame, faces tracked by position

A face is aligned onto the template (as every faceforge pipeline aligns it), framed as the model was trained
(:attr:`~faceforge.models.groupgan.GroupGANConfig.context`: resized, centre-cropped to the model's side), magnified
by G and classified by C before and after. What is pasted back is the aligned crop at its own resolution plus G's
change brought up to it (magnified minus weak, upsampled), so the face keeps its detail where G changed nothing.
The heat map is Eq. (22) of the paper: per pixel, the sum over colour channels of the squared change.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from faceforge.face.detect import FaceDetector
from faceforge.face.io import ImageSource, load_image
from faceforge.face.paste import paste_back
from faceforge.face.pipeline import DetectorKind, Face, find_faces
from faceforge.pipelines import as_face_crop, heat_map

ALIGNED_SIDE = 128  # photos' faces are aligned at this side (the other pipelines' crops); the model sees its own
TRACK_IOU = 0.3  # a face in a video frame continues the track whose last box overlaps it at least this much


def change_map(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """Eq. (22): (H, W) float32, per pixel the sum over channels of the squared change between two (H, W, 3) uint8
    faces, on the [0, 1] scale (0 to 3)."""
    diff = after.astype(np.float32) / 255 - before.astype(np.float32) / 255
    return (diff**2).sum(-1)


def change_heat_map(before: np.ndarray, after: np.ndarray, *, scale: float | None = None) -> np.ndarray:
    """:func:`change_map` as an (H, W, 3) uint8 heat picture, divided by ``scale`` (default: its own maximum, so that
    the largest change is the brightest)."""
    values = change_map(before, after)
    top = float(values.max()) if scale is None else float(scale)
    return heat_map(values / top if top > 0 else values)


@dataclass(frozen=True)
class FaceMagnification:
    """One magnified face.

    Attributes:
        face: where it was found (None for an aligned crop given as such).
        weak: (S, S, 3) uint8 the face as the model saw it (S: the model's side).
        magnified: (S, S, 3) uint8 G's magnification of it.
        result: (A, A, 3) uint8 the aligned crop with G's change added at its resolution (what is pasted back).
        before: C's probability of each expression on ``weak``.
        after: C's probability of each expression on ``magnified`` (the model's recognition).
    """

    face: Face | None
    weak: np.ndarray
    magnified: np.ndarray
    result: np.ndarray
    before: dict[str, float]
    after: dict[str, float]

    @property
    def expression_before(self) -> str:
        return max(self.before, key=self.before.get)

    @property
    def expression_after(self) -> str:
        return max(self.after, key=self.after.get)

    @property
    def change(self) -> np.ndarray:
        """Eq. (22)'s map of the change, (S, S) float32."""
        return change_map(self.weak, self.magnified)

    def heat_picture(self, scale: float | None = None) -> np.ndarray:
        """(S, S, 3) uint8: the change as a heat map (:func:`change_heat_map`)."""
        return change_heat_map(self.weak, self.magnified, scale=scale)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types: ``box`` (photo pixels, None for a crop), ``before`` / ``after`` (probabilities),
        ``expression_before`` / ``expression_after`` and ``change`` (the mean of Eq. (22)'s map)."""
        box = None if self.face is None else [round(float(v), 1) for v in self.face.box]
        return {"box": box, "expression_before": self.expression_before, "expression_after": self.expression_after,
                "before": {k: round(v, 4) for k, v in self.before.items()},
                "after": {k: round(v, 4) for k, v in self.after.items()},
                "change": round(float(self.change.mean()), 6)}


@dataclass(frozen=True)
class PhotoMagnification:
    """A photo with every face magnified: ``faces`` (largest first) and ``photo`` (H, W, 3) uint8 with them pasted
    back (the result crop for an aligned input)."""

    faces: tuple[FaceMagnification, ...]
    photo: np.ndarray

    def to_dict(self) -> dict[str, Any]:
        return {"photo_size": [int(self.photo.shape[1]), int(self.photo.shape[0])],
                "faces": [f.to_dict() for f in self.faces]}


def _magnifier(model: torch.nn.Module):
    from faceforge.models.groupgan import GroupGAN

    if not isinstance(model, GroupGAN):
        raise TypeError(f"{type(model).__name__} is not an expression magnifier (faceforge.models.groupgan.GroupGAN)")
    return model


def _resize(x: torch.Tensor, side: int) -> torch.Tensor:
    if x.shape[-1] == side and x.shape[-2] == side:
        return x
    return F.interpolate(x, size=(side, side), mode="bilinear", antialias=True, align_corners=False).clamp(0, 1)


def framed(crops: torch.Tensor, side: int, context: float) -> tuple[torch.Tensor, int, int]:
    """The model's view of aligned crops (B, 3, A, A): resized to round(side * context), centre ``side`` crop.
    Returns (faces, resized side L, top-left offset)."""
    load = round(side * context)
    margin = (load - side) // 2
    return _resize(crops, load)[..., margin:margin + side, margin:margin + side], load, margin


@torch.no_grad()
def magnify_crops(model: torch.nn.Module, crops: np.ndarray | Sequence[np.ndarray], *, batch_size: int = 16,
                  faces: Sequence[Face | None] | None = None) -> list[FaceMagnification]:
    """Magnify aligned face crops ((N, A, A, 3) uint8, any side A; template framing).

    Raises:
        TypeError: ``model`` is not a :class:`~faceforge.models.groupgan.GroupGAN`.
        ValueError: crops that are not (N, A, A, 3).
    """
    model = _magnifier(model)
    crops = np.asarray(crops)
    if crops.ndim != 4 or crops.shape[1] != crops.shape[2] or crops.shape[3] != 3:
        raise ValueError(f"crops must be (N, A, A, 3) uint8, got {crops.shape}")
    cfg = model.config
    side, classes = cfg.generator.image_size, cfg.classifier.classes
    device = next(model.parameters()).device
    out: list[FaceMagnification] = []
    for start in range(0, len(crops), batch_size):
        chunk = torch.from_numpy(np.ascontiguousarray(crops[start:start + batch_size])).permute(0, 3, 1, 2)
        aligned = chunk.float().div(255).to(device)
        weak, load, margin = framed(aligned, side, cfg.context)
        magnified = model.magnify(weak).float().clamp(0, 1)
        before = model.classifier(weak).float().softmax(1).cpu().numpy()
        after = model.classifier(magnified).float().softmax(1).cpu().numpy()
        # G's change, at the aligned crop's resolution, added to the crop's window the model saw
        a = aligned.shape[-1]
        top, window = round(margin * a / load), round(side * a / load)
        delta = _resize(magnified - weak + 0.5, window) - 0.5  # shifted into [0, 1] for the antialiased resize
        result = aligned.clone()
        result[..., top:top + window, top:top + window] = (result[..., top:top + window, top:top + window]
                                                           + delta).clamp(0, 1)
        to_uint8 = lambda t: (t.mul(255).round().byte().permute(0, 2, 3, 1).cpu().numpy())  # noqa: E731
        for i, (w, m, r) in enumerate(zip(to_uint8(weak), to_uint8(magnified), to_uint8(result), strict=True)):
            out.append(FaceMagnification(
                face=None if faces is None else faces[start + i], weak=w, magnified=m, result=r,
                before={c: float(p) for c, p in zip(classes, before[i], strict=True)},
                after={c: float(p) for c, p in zip(classes, after[i], strict=True)}))
    return out


def magnify_photo(image: ImageSource, model: torch.nn.Module, *, aligned: bool = False, max_faces: int | None = None,
                  detector: FaceDetector | DetectorKind | None = None, require: bool = True) -> PhotoMagnification:
    """Find every face of a photo, magnify its expression and paste it back.

    Args:
        image: a photo (path, bytes, PIL image or (H, W, 3) uint8 array).
        model: a :class:`~faceforge.models.groupgan.GroupGAN` in eval mode.
        aligned: the image is one aligned face crop (square): no detection.
        max_faces: magnify only the largest ones.
        detector: see :func:`~faceforge.face.pipeline.find_faces`.
        require: raise when no face is found (else return the photo unchanged with no faces).

    Raises:
        NoFaceFoundError: ``require`` and no face in the photo.
        NotAFaceCropError: ``aligned`` and the image is not square.
        ImageReadError, ImageTooLargeError: the image cannot be read.
        TypeError: ``model`` is not a GroupGAN.
    """
    _magnifier(model)
    if aligned:
        (result,) = magnify_crops(model, as_face_crop(image, ALIGNED_SIDE)[None])
        return PhotoMagnification(faces=(result,), photo=result.result)
    photo = load_image(image)
    owned = not (isinstance(image, np.ndarray) and np.shares_memory(photo, image))
    found = find_faces(photo, size=ALIGNED_SIDE, detector=detector, max_faces=max_faces, require=require)
    if not found:
        return PhotoMagnification(faces=(), photo=photo)
    results = magnify_crops(model, np.stack([f.crop for f in found]), faces=found)
    canvas = photo if owned else photo.copy()
    for r in results:
        canvas = paste_back(canvas, r.result, r.face.matrix, crop_size=ALIGNED_SIDE, out=canvas)
    return PhotoMagnification(faces=tuple(results), photo=canvas)


# --- video ----------------------------------------------------------------------------------------------------------
def _iou(a: Sequence[float], b: Sequence[float]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def track_faces(boxes_per_frame: Sequence[Sequence[Sequence[float]]], *, iou: float = TRACK_IOU) -> list[list[int]]:
    """Track ids of each frame's boxes, by position: a box continues the track (seen in an earlier frame) whose last
    box overlaps it most, if at least ``iou``, and each track takes one box a frame; other boxes start new tracks
    (ids from 0 in order of appearance)."""
    last: dict[int, Sequence[float]] = {}
    ids_per_frame = []
    for boxes in boxes_per_frame:
        pairs = sorted(((_iou(box, last[t]), i, t) for i, box in enumerate(boxes) for t in last), reverse=True)
        ids: dict[int, int] = {}
        for overlap, i, t in pairs:  # greedily, the largest overlaps first
            if overlap >= iou and i not in ids and t not in ids.values():
                ids[i] = t
        for i in range(len(boxes)):
            if i not in ids:
                ids[i] = len(last)  # a new track
                last[ids[i]] = boxes[i]
        for i, box in enumerate(boxes):
            last[ids[i]] = box
        ids_per_frame.append([ids[i] for i in range(len(boxes))])
    return ids_per_frame


@dataclass(frozen=True)
class VideoMagnification:
    """A clip with every face of every frame magnified.

    Attributes:
        frames: (H, W, 3) uint8 per frame, the faces pasted back (empty when they were written to a file).
        fps: the clip's frame rate.
        faces: per frame, its magnified faces (largest first).
        tracks: per frame, the track id of each of its faces (:func:`track_faces`).
        truncated: frames past the limit were left out.
    """

    frames: tuple[np.ndarray, ...]
    fps: float
    faces: tuple[tuple[FaceMagnification, ...], ...]
    tracks: tuple[tuple[int, ...], ...]
    truncated: bool = False

    def to_dict(self) -> dict[str, Any]:
        """``fps``, ``frames`` (count), ``truncated`` and per frame the faces' :meth:`FaceMagnification.to_dict`
        with their ``track``."""
        return {"fps": self.fps, "frame_count": len(self.faces), "truncated": self.truncated,
                "frames": [{"frame": i, "faces": [{"track": t, **f.to_dict()} for f, t in zip(fs, ts, strict=True)]}
                           for i, (fs, ts) in enumerate(zip(self.faces, self.tracks, strict=True))]}

    def track_series(self, track: int = 0) -> dict[str, list[float | None]]:
        """Per expression, the track's probability after magnification in every frame (None where it is absent)."""
        classes = next((list(f.after) for fs in self.faces for f in fs), [])
        series: dict[str, list[float | None]] = {c: [] for c in classes}
        for fs, ts in zip(self.faces, self.tracks, strict=True):
            face = next((f for f, t in zip(fs, ts, strict=True) if t == track), None)
            for c in classes:
                series[c].append(None if face is None else face.after[c])
        return series


def magnify_video(video: str | Path, model: torch.nn.Module, *, out: str | Path | None = None,
                  max_frames: int | None = None, truncate: bool = False, max_faces: int | None = None,
                  detector: FaceDetector | DetectorKind | None = None) -> VideoMagnification:
    """Magnify every face of every frame of a video (frames without a face pass through unchanged).

    Frames are decoded, magnified and (with ``out``) encoded one at a time, so a long clip is never held whole: with
    ``out`` the result's ``frames`` is empty and the magnified clip is the MP4 at ``out``, written under a private
    name and renamed into place only when complete.

    Raises:
        VideoReadError: not a video, no frame, or more than ``max_frames`` frames (not ``truncate``).
        NoFaceFoundError: no face in any frame.
        TypeError: ``model`` is not a GroupGAN.
    """
    import os

    from faceforge.errors import NoFaceFoundError
    from faceforge.face.video import DEFAULT_MAX_FRAMES, VideoWriter, iter_frames, video_rate

    _magnifier(model)
    limit = max_frames or DEFAULT_MAX_FRAMES
    fps = video_rate(video)
    frames, faces = [], []
    truncated = False
    partial = None if out is None else Path(out).with_name(f".{Path(out).name}.{os.getpid()}.partial.mp4")
    try:
        with contextlib.ExitStack() as stack:
            writer = None if partial is None else stack.enter_context(VideoWriter(partial, fps=fps))
            for frame in iter_frames(video, max_frames=limit + 1 if truncate else limit, truncate=truncate):
                if len(faces) == limit:
                    truncated = True
                    break
                result = magnify_photo(frame, model, max_faces=max_faces, detector=detector, require=False)
                faces.append(result.faces)
                if writer is None:
                    frames.append(result.photo)
                else:
                    writer.write(result.photo)
            if not any(faces):
                raise NoFaceFoundError(f"no face found in any of the {len(faces)} frames of {Path(video).name}")
        if partial is not None:
            partial.replace(out)
    finally:
        if partial is not None:
            partial.unlink(missing_ok=True)
    tracks = track_faces([[f.face.box for f in fs] for fs in faces])
    return VideoMagnification(frames=tuple(frames), fps=fps, faces=tuple(faces),
                              tracks=tuple(tuple(t) for t in tracks), truncated=truncated)
