"""Read and write short videos as (H, W, 3) uint8 RGB frames (PyAV, whose wheels carry their own FFmpeg).

    clip = read_video("clip.mp4", max_frames=300)       # Clip(frames, fps)
    write_video(clip.frames, "out.mp4", fps=clip.fps)   # H.264 in MP4, which every browser plays
    for frame in iter_frames("clip.mp4"): ...           # one frame at a time (VideoWriter writes that way)
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from faceforge.errors import ImageTooLargeError, VideoReadError
from faceforge.face.io import DEFAULT_MAX_PIXELS

DEFAULT_MAX_FRAMES = 300  # ten seconds at 30 frames a second
VIDEO_SUFFIXES = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg")


@dataclass(frozen=True)
class Clip:
    """Decoded frames, (H, W, 3) uint8 RGB each, and their rate; ``truncated``: frames past the limit were left."""

    frames: tuple[np.ndarray, ...]
    fps: float
    truncated: bool = False


def is_video(path: str | os.PathLike) -> bool:
    """Whether a path names a video by its suffix (what ``faceforge magnify`` decides photo or video by)."""
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


def video_rate(path: str | os.PathLike) -> float:
    """A video's frame rate (25 when the file does not say).

    Raises:
        VideoReadError: the file is missing, not a video or holds no video stream.
    """
    import av

    path = Path(path)
    if not path.is_file():
        raise VideoReadError(f"no video at {path}")
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise VideoReadError(f"{path.name} holds no video stream")
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate
            return float(rate) if rate else 25.0
    except av.error.FFmpegError as err:
        raise VideoReadError(f"{path.name} cannot be read as a video: {err}") from err


def iter_frames(path: str | os.PathLike, *, max_frames: int = DEFAULT_MAX_FRAMES, truncate: bool = False,
                max_pixels: int = DEFAULT_MAX_PIXELS) -> Iterator[np.ndarray]:
    """A video's frames one at a time ((H, W, 3) uint8 RGB), so that a long clip is never held whole.

    Raises (while iterating; see :func:`read_video`): VideoReadError, ImageTooLargeError.
    """
    import av

    if max_frames < 1:
        raise ValueError(f"max_frames must be >= 1, got {max_frames}")
    path = Path(path)
    fps = video_rate(path)
    count = 0
    try:
        with av.open(str(path)) as container:
            for frame in container.decode(container.streams.video[0]):
                if count == max_frames:
                    if truncate:
                        return
                    raise VideoReadError(f"{path.name} has more than {max_frames} frames (about "
                                         f"{max_frames / fps:.0f} s); trim it or raise the limit")
                if frame.width * frame.height > max_pixels:
                    raise ImageTooLargeError(f"{path.name}: {frame.width}x{frame.height} frames exceed the "
                                             f"{max_pixels:,}-pixel limit")
                count += 1
                yield frame.to_ndarray(format="rgb24")
    except av.error.FFmpegError as err:
        raise VideoReadError(f"{path.name} cannot be read as a video: {err}") from err
    if count == 0:
        raise VideoReadError(f"{path.name} holds no frame")


def read_video(path: str | os.PathLike, *, max_frames: int = DEFAULT_MAX_FRAMES, truncate: bool = False,
               max_pixels: int = DEFAULT_MAX_PIXELS) -> Clip:
    """Decode a video's first stream whole.

    Args:
        path: a video file (anything FFmpeg reads).
        max_frames: the most frames decoded.
        truncate: past ``max_frames``, keep the first ones (``Clip.truncated``) instead of raising.
        max_pixels: the largest frame (pixels) accepted.

    Raises:
        VideoReadError: the file is missing, not a video, holds no frame, or (not ``truncate``) more than
            ``max_frames`` frames.
        ImageTooLargeError: a frame larger than ``max_pixels``.
    """
    frames = tuple(iter_frames(path, max_frames=max_frames + 1 if truncate else max_frames, truncate=truncate,
                               max_pixels=max_pixels))
    truncated = len(frames) > max_frames
    return Clip(frames=frames[:max_frames], fps=video_rate(path), truncated=truncated)


class VideoWriter:
    """Frames written one at a time as H.264 (yuv420p) in MP4, which every browser plays; odd sides are cut by a
    pixel (the codec needs even ones). A context manager: the file is complete when it exits.

        with VideoWriter("out.mp4", fps=25) as writer:
            for frame in frames:
                writer.write(frame)
    """

    def __init__(self, path: str | os.PathLike, *, fps: float = 25.0):
        self.path, self.fps = Path(path), float(fps)
        self.frames = 0
        self._container = self._stream = None
        self._size: tuple[int, int] | None = None

    def __enter__(self) -> VideoWriter:
        import av

        self._container = av.open(str(self.path), mode="w")
        return self

    def write(self, image: np.ndarray) -> None:
        import av

        if self._stream is None:
            from fractions import Fraction

            h, w = (s - s % 2 for s in image.shape[:2])
            if h < 2 or w < 2:
                raise ValueError(f"frames of {image.shape[1]}x{image.shape[0]} are too small for a video")
            self._size = (h, w)
            self._stream = self._container.add_stream("libx264", rate=Fraction(self.fps).limit_denominator(1001))
            self._stream.width, self._stream.height, self._stream.pix_fmt = w, h, "yuv420p"
            self._stream.options = {"crf": "20", "preset": "veryfast"}
        h, w = self._size
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image[:h, :w]), format="rgb24")
        self._container.mux(self._stream.encode(frame))
        self.frames += 1

    def __exit__(self, *exc) -> None:
        try:
            if self._stream is not None:
                self._container.mux(self._stream.encode())
        finally:
            if self._stream is not None:
                self._container.close()
        if self._stream is None:  # nothing written: no file either
            self.path.unlink(missing_ok=True)
            if exc[0] is None:
                raise ValueError("a video needs at least one frame")


def write_video(frames, path: str | os.PathLike, *, fps: float = 25.0) -> Path:
    """Write (H, W, 3) uint8 RGB frames as H.264 in MP4 (:class:`VideoWriter`); returns the path."""
    with VideoWriter(path, fps=fps) as writer:
        for image in frames:
            writer.write(image)
    return Path(path)
