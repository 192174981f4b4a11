"""Photo -> aligned faces -> (a model) -> photo: the one place the app, the CLI and dataset preparation
find, align and paste back faces.

Example:
    >>> photo = load_image("group.jpg")
    >>> faces = find_faces(photo, size=128)
    >>> restored = [model(face.crop) for face in faces]
    >>> result = paste_faces(photo, faces, restored)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from faceforge.face.align import BorderMode, align_face
from faceforge.face.detect import DetectorKind, FaceDetector, default_detector
from faceforge.face.io import ImageSource, as_photo
from faceforge.face.paste import DEFAULT_ERODE, DEFAULT_FEATHER, paste_back


@dataclass(frozen=True)
class Face:
    """A face found in a photo and aligned onto the canonical template.

    Attributes:
        box: detector box ``(x0, y0, x1, y1)`` in photo pixels.
        score: detector confidence.
        landmarks: (68, 2) float64 photo landmarks (pixel centres at integers).
        crop: (S, S, 3) uint8 RGB aligned crop.
        crop_landmarks: (68, 2) float64 landmarks in crop pixels.
        matrix: (2, 3) photo -> crop similarity.
        inverse: (2, 3) crop -> photo similarity.
    """

    box: tuple[float, float, float, float]
    score: float
    landmarks: np.ndarray
    crop: np.ndarray
    crop_landmarks: np.ndarray
    matrix: np.ndarray
    inverse: np.ndarray

    @property
    def size(self) -> int:
        """Side S of the aligned crop."""
        return int(self.crop.shape[0])

    def __repr__(self) -> str:
        box = ", ".join(f"{v:.1f}" for v in self.box)
        return f"Face(box=({box}), score={self.score:.3f}, crop={self.size}x{self.size})"


def find_faces(
    image: ImageSource,
    *,
    size: int = 128,
    margin: int = 0,
    detector: FaceDetector | DetectorKind | None = None,
    max_faces: int | None = None,
    require: bool = False,
    border: BorderMode = "reflect",
) -> list[Face]:
    """Detect, landmark and align every face in a photo.

    Args:
        image: (H, W, 3) uint8 RGB photo or anything :func:`~faceforge.face.io.load_image` reads. To paste
            results back, load the photo first and pass the array, so both steps see the same pixels. An
            (H, W, 3) uint8 array is used as it is, neither copied nor converted (only the pixel limit is
            checked); detection runs on a downscaled working copy of a large photo, and landmarks and crops
            come from the full-resolution pixels around each face.
        size: side of the aligned crops (128 native; e.g. 100 for RAF-DB framing).
        margin: extra border pixels on every side of the crop at the same face scale.
        detector: a :class:`~faceforge.face.detect.FaceDetector`, ``"hog"`` / ``"cnn"`` for the shared
            default of that kind, or ``None`` for the shared HOG detector.
        max_faces: keep only the largest ones.
        require: raise :class:`~faceforge.errors.NoFaceFoundError` when no face is found.
        border: fill of crop pixels outside the photo (see :func:`~faceforge.face.align.warp_affine`).

    Returns:
        The faces, largest first.

    Raises:
        ImageReadError, ImageTooLargeError: the image cannot be read.
        NoFaceFoundError: ``require`` and no face.
    """
    photo = as_photo(image)
    if detector is None or isinstance(detector, str):
        detector = default_detector(detector or "hog")
    faces = []
    for det in detector.detect(photo, max_faces=max_faces, require=require):
        aligned = align_face(photo, det.landmarks, size=size, margin=margin, border=border)
        faces.append(
            Face(
                box=det.box,
                score=det.score,
                landmarks=det.landmarks,
                crop=aligned.image,
                crop_landmarks=aligned.landmarks,
                matrix=aligned.matrix,
                inverse=aligned.inverse,
            )
        )
    return faces


def paste_faces(
    photo: np.ndarray,
    faces: Sequence[Face],
    crops: Sequence[np.ndarray],
    *,
    feather: float = DEFAULT_FEATHER,
    erode: float = DEFAULT_ERODE,
) -> np.ndarray:
    """Paste processed crops back into the photo, one per face, in order (see :func:`paste_back`).

    Args:
        photo: (H, W, 3) uint8 RGB photo the faces were found in.
        faces: faces from :func:`find_faces`.
        crops: one (S', S', 3) uint8 crop per face; S' may differ from the aligned size (the alignment is
            rescaled).
        feather: soft-edge width as a fraction of the crop side.
        erode: inward shift of the mask as a fraction of the crop side.

    Returns:
        (H, W, 3) uint8 new photo (the photo is copied once, not once per face).
    """
    if len(faces) != len(crops):
        raise ValueError(f"got {len(faces)} faces but {len(crops)} crops")
    out = np.array(photo)  # the one copy of the photo; every face is pasted into it in place
    for face, crop in zip(faces, crops):
        paste_back(out, np.asarray(crop), face.matrix, crop_size=face.size, feather=feather, erode=erode, out=out)
    return out
