"""Photo -> faces -> model -> photo: what the app, the Space and the CLI run, written once.

``restore_photo`` finds and aligns every face of a photo (:mod:`faceforge.face.pipeline`), restores each
with a face super-resolution network (MPENet or MPEGAN, x8: 16x16 -> 128x128) and pastes the results back
with a feathered mask. Two ways to read the photo:

* ``mode="degrade"`` (the papers' protocol): each aligned 128x128 face is first brought down to 16x16 by
  MATLAB-bicubic x8 downsampling, so the restored face can be compared with the face it came from.
* ``mode="as_given"``: the photo's faces are taken to be low-resolution already. The model sees each face at
  16x16 as the photo holds it, and the photo is enlarged (up to x8) so that the restored faces are pasted
  back at their new resolution.

``occlusion`` paints part of every face's model input black, as IGCN's training does: ``"random"`` (one square
covering a quarter of the 16x16 input, as in training, drawn per face from ``seed``), a rectangle
``(x, y, w, h)`` in pixels of the aligned 128x128 face, or a drawn (128, 128) mask (the input pixels at least half
covered are occluded). IGCN is trained to restore such faces; MPENet and MPEGAN never saw one.

``recognize_photo`` finds and aligns every face the same way, brings each to the 100x100 side of FSR-FER's
backbone and reads its expression from a low-resolution version of it, two ways: the backbone alone on the face
brought back up by bicubic interpolation (the paper's "Bicubic" row) and FSR-FER, the backbone's classifier on
the generator's super-resolved features. ``scale`` (2-8) degrades each face on purpose, MATLAB-bicubic down by
that factor (8-bit) and back up, and the backbone also reads the face before degradation (HR); ``scale=None``
(or 1) takes the faces as the photo holds them, for photos whose faces are small already.

Example:
    >>> model = faceforge.from_pretrained("mpenet")
    >>> result = restore_photo("group.jpg", model)
    >>> result.photo                       # (H, W, 3) uint8, every face restored
    >>> result.faces[0].steps              # the three recurrent steps' outputs, (128, 128, 3) uint8 each
    >>> recognition = recognize_photo("group.jpg", faceforge.from_pretrained("fsrfer"), scale=8)
    >>> recognition.faces[0].labels        # {"hr": ..., "bicubic": ..., "fsrfer": ...}
    >>> recognition.to_dict()              # boxes and probabilities, JSON-able
"""

from __future__ import annotations

import dataclasses
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
from PIL import Image

from faceforge.data.degrade import (
    apply_occlusion,
    bicubic_downsample,
    imresize,
    random_square_mask,
    to_low_resolution,
)
from faceforge.errors import NotAFaceCropError, ScaleError
from faceforge.face.detect import DetectorKind, FaceDetector
from faceforge.face.io import ImageSource, load_image
from faceforge.face.paste import paste_back
from faceforge.face.pipeline import Face, find_faces
from faceforge.face.template import TEMPLATE_SIZE

if TYPE_CHECKING:
    from faceforge.models.fsrfer import FSRFER, CovPoolFER, FeatureGenerator

RestoreMode = Literal["degrade", "as_given"]
RESTORE_MODES: tuple[str, ...] = ("degrade", "as_given")
Occlusion = Literal["random"] | tuple[int, int, int, int] | np.ndarray
RANDOM_MASK_FRACTION = 0.5  # "random": a square of half the input's side (a quarter of its area), IGCN's training
MAX_ENLARGED_SIDE = 4096  # "as_given" never enlarges a photo beyond this side


@dataclass(frozen=True)
class FaceRestoration:
    """One restored face.

    Attributes:
        face: where it was found in the photo (None when the input was an aligned crop).
        original: (S, S, 3) uint8 the aligned face at the model's output size, before degradation (in
            ``"as_given"`` mode the photo's own pixels, as blurred as the photo is).
        lr: (s, s, 3) uint8 the model's input (16x16 for x8).
        upsampled: (S, S, 3) uint8 ``lr`` brought to S by bicubic interpolation: what the face looks like
            without the model.
        steps: the outputs of the recurrent steps, (S, S, 3) uint8 each; the last is ``restored``.
        landmarks: (68, 2) landmarks of the alignment branch in output pixels (None without the branch).
        au_probability: {AU number: probability} of the AU branch (None without the branch).
        mask: (s, s) bool, True on the input pixels painted over (None without occlusion); ``lr`` and
            ``upsampled`` show them black.
    """

    face: Face | None
    original: np.ndarray
    lr: np.ndarray
    upsampled: np.ndarray
    steps: tuple[np.ndarray, ...]
    landmarks: np.ndarray | None
    au_probability: dict[int, float] | None
    mask: np.ndarray | None = None

    @property
    def restored(self) -> np.ndarray:
        """(S, S, 3) uint8 the restored face (the last step)."""
        return self.steps[-1]


@dataclass(frozen=True)
class PhotoRestoration:
    """A photo with every face restored.

    Attributes:
        faces: the restored faces, largest first.
        photo: (H', W', 3) uint8 the photo with the restored faces pasted back (enlarged in ``"as_given"``
            mode by ``scale``).
        scale: how much ``photo`` is enlarged over the input photo (1.0 in ``"degrade"`` mode).
    """

    faces: tuple[FaceRestoration, ...]
    photo: np.ndarray
    scale: float


def _to_uint8(images: torch.Tensor) -> np.ndarray:
    """(B, 3, H, W) float in [0, 1] -> (B, H, W, 3) uint8."""
    return (images.float().clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


def _to_tensor(images: np.ndarray) -> torch.Tensor:
    """(B, H, W, 3) uint8 -> (B, 3, H, W) float in [0, 1]."""
    return torch.tensor(images).permute(0, 3, 1, 2).float() / 255


def _model_sizes(model: torch.nn.Module) -> tuple[int, int]:
    config = model.config
    for name in ("image_size", "lr_size"):
        if not hasattr(config, name):
            raise TypeError(f"{type(model).__name__} is not a face super-resolution model (its config has no {name})")
    return config.image_size, config.lr_size


def occlusion_masks(occlusion: Occlusion, count: int, size: int, lr_size: int, *, seed: int = 0) -> torch.Tensor:
    """(count, 1, lr_size, lr_size) float masks of the model input, 1 where occluded.

    Args:
        occlusion: ``"random"`` (a square of side ``RANDOM_MASK_FRACTION`` of the input at a uniform position,
            face ``i``'s from a generator seeded with ``seed + i``), ``(x, y, w, h)`` in pixels of the aligned
            ``size`` x ``size`` face (every input pixel the rectangle touches), or a (size, size) mask (bool or
            0-255) such as a drawing over the aligned face (the input pixels at least half covered; at least the
            most covered one).
        count: faces.
        size: the aligned face's side (the model's output, 128).
        lr_size: the model input's side (16).

    Raises:
        ValueError: an occlusion of another kind, a rectangle outside the face or empty, an empty mask.
    """
    factor = size / lr_size
    if isinstance(occlusion, str):
        if occlusion != "random":
            raise ValueError(f"occlusion must be 'random', (x, y, w, h) or a mask, got {occlusion!r}")
        return torch.cat([random_square_mask(1, lr_size, fraction=RANDOM_MASK_FRACTION,
                                             generator=torch.Generator().manual_seed(seed + i))
                          for i in range(count)])
    if isinstance(occlusion, np.ndarray) and occlusion.ndim >= 2:
        drawn = occlusion if occlusion.ndim == 2 else occlusion.max(axis=-1)
        if drawn.shape != (size, size):
            raise ValueError(f"an occlusion mask must be {size}x{size} (the aligned face), got {drawn.shape}")
        cover = torch.nn.functional.avg_pool2d(torch.as_tensor(drawn > 0, dtype=torch.float32)[None, None],
                                               round(factor))
        if cover.max() == 0:
            raise ValueError("the occlusion mask is empty: paint over part of the face")
        mask = (cover >= 0.5) | (cover == cover.max())
        return mask.float().expand(count, 1, lr_size, lr_size).clone()
    try:
        x, y, w, h = (float(v) for v in occlusion)
    except (TypeError, ValueError):
        raise ValueError(f"occlusion must be 'random', (x, y, w, h) or a mask, got {occlusion!r}") from None
    if not np.isfinite([x, y, w, h]).all() or w <= 0 or h <= 0 or x < 0 or y < 0 or x + w > size or y + h > size:
        raise ValueError(f"the occluded rectangle (x={x:g}, y={y:g}, w={w:g}, h={h:g}) must be non-empty and "
                         f"inside the {size}x{size} aligned face")
    mask = torch.zeros(count, 1, lr_size, lr_size)
    left, top = int(x // factor), int(y // factor)
    right, bottom = int(np.ceil((x + w) / factor)), int(np.ceil((y + h) / factor))
    mask[:, :, top:bottom, left:right] = 1
    return mask


@torch.no_grad()
def restore_crops(model: torch.nn.Module, crops: np.ndarray | Sequence[np.ndarray], *, batch_size: int = 4,
                  occlusion: Occlusion | None = None, seed: int = 0) -> list[FaceRestoration]:
    """Restore aligned faces.

    Args:
        model: a face super-resolution network in eval mode: :class:`~faceforge.models.mpenet.MPENet` (MPENet or
            MPEGAN weights) or :class:`~faceforge.models.igcn.IGCNGenerator`.
        crops: (N, S, S, 3) uint8 aligned faces at the model's output size S (128), or a list of such; the
            model sees their MATLAB-bicubic downsampling to its input size (16).
        occlusion: paint part of every input black first (:func:`occlusion_masks`); None: none.
        seed: the random masks' seed (crop ``i`` gets ``seed + i``).
        batch_size: faces per forward pass. Small batches are fastest per face on a CPU in fp32: the 128x128
            feature maps make the network memory-bound (see ``benchmarks/restore_speed.py``).

    Returns:
        One :class:`FaceRestoration` per crop, with ``face=None``.
    """
    size, lr_size = _model_sizes(model)
    crops = np.stack([np.asarray(c) for c in crops]) if not isinstance(crops, np.ndarray) else crops
    if crops.ndim != 4 or crops.shape[1:] != (size, size, 3) or crops.dtype != np.uint8:
        raise ValueError(f"crops must be (N, {size}, {size}, 3) uint8, got {crops.shape} {crops.dtype}")
    device = next(model.parameters()).device
    masks = occlusion_masks(occlusion, len(crops), size, lr_size, seed=seed) if occlusion is not None else None
    results = []
    for start in range(0, len(crops), batch_size):
        hr = _to_tensor(crops[start:start + batch_size]).to(device)
        # The model's input: MATLAB bicubic x8, rounded to 8 bits as the training inputs are.
        lr = to_low_resolution(hr, lr_size, quantize=True)
        mask = masks[start:start + len(hr)].to(device) if masks is not None else None
        if mask is not None:
            lr = apply_occlusion(lr, mask)  # black, as IGCN's training masks (mask_fill 0)
        out = model(lr)
        upsampled = imresize(lr, size=size, clamp=True)
        steps = [_to_uint8(s) for s in out["steps"]]
        landmarks = out.get("landmarks")
        au_logits = out.get("au_logits")
        au_prob = torch.sigmoid(au_logits.float()).cpu().numpy() if au_logits is not None else None
        lr_u8, up_u8 = _to_uint8(lr), _to_uint8(upsampled)
        for i in range(len(hr)):
            results.append(FaceRestoration(
                face=None,
                original=crops[start + i],
                lr=lr_u8[i],
                upsampled=up_u8[i],
                steps=tuple(s[i] for s in steps),
                landmarks=landmarks[i].float().cpu().numpy() if landmarks is not None else None,
                au_probability=(dict(zip(model.config.aus, (float(p) for p in au_prob[i])))
                                if au_prob is not None else None),
                mask=mask[i, 0].bool().cpu().numpy() if mask is not None else None,
            ))
    return results


def as_face_crop(image: ImageSource, size: int) -> np.ndarray:
    """An image that already is an aligned face (e.g. a dataset crop) at ``size`` x ``size``.

    Raises:
        NotAFaceCropError: the image is not square (within 2%): it is a photo, not a crop.
        ImageReadError, ImageTooLargeError: the image cannot be read.
    """
    photo = load_image(image)
    h, w = photo.shape[:2]
    if abs(h - w) > 0.02 * max(h, w):
        raise NotAFaceCropError(f"an aligned face crop is square; this image is {w}x{h}. Untick 'aligned face' "
                                f"to find the faces in it")
    if (h, w) == (size, size):
        return photo
    return np.asarray(Image.fromarray(photo).resize((size, size), Image.Resampling.BICUBIC, reducing_gap=None))


def restore_photo(image: ImageSource, model: torch.nn.Module, *, mode: RestoreMode = "degrade",
                  aligned: bool = False, max_faces: int | None = None,
                  detector: FaceDetector | DetectorKind | None = None, occlusion: Occlusion | None = None,
                  seed: int = 0) -> PhotoRestoration:
    """Find, restore and paste back every face of a photo.

    Args:
        image: a photo (path, bytes, PIL image or (H, W, 3) uint8 array; see
            :func:`~faceforge.face.io.load_image`).
        model: a face super-resolution network (MPENet / MPEGAN / IGCN) in eval mode.
        mode: ``"degrade"`` or ``"as_given"`` (see the module docstring).
        aligned: the image is one aligned face crop (square): no detection; ``photo`` is the restored crop.
        max_faces: restore only the largest ones.
        detector: see :func:`~faceforge.face.pipeline.find_faces`.
        occlusion: occlude every face's input (see the module docstring; rectangles and masks in the aligned
            face's pixels); ``seed``: the random masks' seed (face ``i`` gets ``seed + i``, largest first).

    Returns:
        :class:`PhotoRestoration`.

    Raises:
        NoFaceFoundError: no face in the photo.
        NotAFaceCropError: ``aligned`` and the image is not square.
        ImageReadError, ImageTooLargeError: the image cannot be read.
        ValueError: an unknown ``mode`` or an invalid ``occlusion``.
    """
    if mode not in RESTORE_MODES:
        raise ValueError(f"mode must be one of {', '.join(RESTORE_MODES)}, got {mode!r}")
    size, lr_size = _model_sizes(model)
    if occlusion is not None:
        occlusion_masks(occlusion, 1, size, lr_size)  # a wrong occlusion fails before the faces are searched
    if aligned:
        (result,) = restore_crops(model, as_face_crop(image, size)[None], occlusion=occlusion, seed=seed)
        return PhotoRestoration(faces=(result,), photo=result.restored, scale=1.0)
    photo = load_image(image)
    # A photo decoded here is ours to paste into; a caller's array is never changed.
    owned = not (isinstance(image, np.ndarray) and np.shares_memory(photo, image))
    faces = find_faces(photo, size=size, detector=detector, max_faces=max_faces, require=True)
    restored = restore_crops(model, np.stack([f.crop for f in faces]), occlusion=occlusion, seed=seed)
    restored = [dataclasses.replace(r, face=f) for r, f in zip(restored, faces)]
    scale = 1.0
    if mode == "as_given":
        # Each face held about size / zoom photo pixels across; enlarge the photo so the largest face gets its
        # restored resolution, at most x(size / lr_size) and MAX_ENLARGED_SIDE pixels.
        zoom = max(float(np.sqrt(abs(np.linalg.det(f.matrix[:, :2])))) for f in faces)
        scale = float(np.clip(zoom, 1.0, size / lr_size))
        scale = min(scale, MAX_ENLARGED_SIDE / max(photo.shape[:2]))
        scale = max(scale, 1.0)
    if scale > 1.0:
        h, w = photo.shape[:2]
        canvas = np.array(Image.fromarray(photo).resize((round(w * scale), round(h * scale)),
                                                        Image.Resampling.BICUBIC))
        scale = canvas.shape[1] / w
    else:
        canvas = photo if owned else photo.copy()  # every face is pasted into it in place
    for r in restored:
        matrix = r.face.matrix if scale == 1.0 else _enlarged(r.face.matrix, scale)
        canvas = paste_back(canvas, r.restored, matrix, crop_size=size, out=canvas)
    return PhotoRestoration(faces=tuple(restored), photo=canvas, scale=scale)


def _enlarged(matrix: np.ndarray, scale: float) -> np.ndarray:
    """The (2, 3) photo -> crop similarity for the photo enlarged by ``scale``, pixel centres kept aligned."""
    # A pixel centre x of the enlarged photo sits at (x + 0.5) / scale - 0.5 in the original photo.
    a, b = 1.0 / scale, 0.5 / scale - 0.5
    return np.concatenate([matrix[:, :2] * a, (matrix[:, :2].sum(1) * b + matrix[:, 2])[:, None]], axis=1)


# --- low-resolution expression recognition (FSR-FER) --------------------------------------------------------------
DEFAULT_RECOGNITION_SCALE = 8  # the paper's hardest factor: a 100x100 face seen at 13x13
MAX_RECOGNITION_SCALE = 8  # FSR-FER is trained on x2-x8
# The routes a face is read by, in the order they are reported: the backbone on the aligned face before any
# degradation (only when the face was degraded on purpose), the backbone alone on the LR face brought back up by
# bicubic interpolation (the paper's "Bicubic" row), and FSR-FER (the backbone's classifier on G's features).
RECOGNITION_ROUTES: tuple[str, ...] = ("hr", "bicubic", "fsrfer")
ROUTE_TITLES: dict[str, str] = {"hr": "HR (before degradation)", "bicubic": "Bicubic (CovPoolFER alone)",
                                "fsrfer": "FSR-FER"}


def recognition_scale(scale: Any) -> int | None:
    """The down-sampling factor ``scale`` names: an integer 2-8, or None for "as given" (``None`` or 1).

    Raises:
        ScaleError: not a whole number, or outside 1-8.
    """
    if scale is None:
        return None
    if isinstance(scale, bool) or not isinstance(scale, numbers.Real) or not float(scale).is_integer():
        raise ScaleError(f"scale must be a whole number from 1 to {MAX_RECOGNITION_SCALE} (1 or None: the faces as "
                         f"given), got {scale!r}")
    factor = int(scale)
    if not 1 <= factor <= MAX_RECOGNITION_SCALE:
        raise ScaleError(f"scale must be from 1 to {MAX_RECOGNITION_SCALE} (FSR-FER is trained on "
                         f"x2-x{MAX_RECOGNITION_SCALE}; 1: the faces as given), got {scale!r}")
    return None if factor == 1 else factor


@dataclass(frozen=True)
class FaceRecognition:
    """One face's expression, read by each route.

    Attributes:
        face: where it was found in the photo (None when the input was an aligned crop).
        aligned: (S, S, 3) uint8 the aligned face at the backbone's side S (100): the HR face.
        lr: (s, s, 3) uint8 the low-resolution face, s = ceil(S / scale) (13 at x8); ``aligned`` itself when the
            face is taken as given.
        model_input: (S, S, 3) uint8 what both LR routes read: ``lr`` brought back up to S by bicubic
            interpolation (``aligned`` when taken as given).
        scale: the down-sampling factor (2-8), or None (as given).
        probabilities: ``{route: {expression: probability}}`` for the routes of ``RECOGNITION_ROUTES`` that ran
            (``"hr"`` only when ``scale`` is set), expressions in the model's class order; each sums to 1.
    """

    face: Face | None
    aligned: np.ndarray
    lr: np.ndarray
    model_input: np.ndarray
    scale: int | None
    probabilities: Mapping[str, Mapping[str, float]]

    @property
    def labels(self) -> dict[str, str]:
        """``{route: the most probable expression}``."""
        return {route: max(probs, key=probs.get) for route, probs in self.probabilities.items()}

    @property
    def label(self) -> str:
        """FSR-FER's answer: its most probable expression."""
        return self.labels["fsrfer"]

    def to_dict(self) -> dict[str, Any]:
        """JSON-able: ``box`` ([x0, y0, x1, y1] in photo pixels, or None for an aligned crop), ``score``,
        ``lr_size`` (the LR face's side), ``labels`` and ``probabilities`` per route."""
        face = self.face
        return {
            "box": [round(float(v), 2) for v in face.box] if face is not None else None,
            "score": round(float(face.score), 4) if face is not None else None,
            "lr_size": int(self.lr.shape[0]),
            "labels": self.labels,
            "probabilities": {route: {name: float(p) for name, p in probs.items()}
                              for route, probs in self.probabilities.items()},
        }


@dataclass(frozen=True)
class PhotoRecognition:
    """Every face of a photo, recognised.

    Attributes:
        faces: the faces, largest first.
        photo: (H, W, 3) uint8 the photo as read (the aligned crop for ``aligned`` input).
        scale: the down-sampling factor (2-8), or None (the faces as given).
        classes: the expressions, in the model's order.
    """

    faces: tuple[FaceRecognition, ...]
    photo: np.ndarray
    scale: int | None
    classes: tuple[str, ...]

    @property
    def routes(self) -> tuple[str, ...]:
        """The routes every face was read by (``RECOGNITION_ROUTES``, without ``"hr"`` when taken as given)."""
        return RECOGNITION_ROUTES if self.scale is not None else RECOGNITION_ROUTES[1:]

    def to_dict(self) -> dict[str, Any]:
        """The result as plain JSON types: ``scale`` (None: as given), ``as_given``, ``classes``, ``routes``,
        ``photo_size`` ([width, height]) and ``faces`` (:meth:`FaceRecognition.to_dict` each, largest first)."""
        return {
            "scale": self.scale,
            "as_given": self.scale is None,
            "classes": list(self.classes),
            "routes": list(self.routes),
            "photo_size": [int(self.photo.shape[1]), int(self.photo.shape[0])],
            "faces": [f.to_dict() for f in self.faces],
        }


def _recognizer_parts(model: torch.nn.Module) -> tuple[CovPoolFER, FeatureGenerator]:
    from faceforge.models.fsrfer import FSRFER

    if not isinstance(model, FSRFER):
        raise TypeError(f"{type(model).__name__} is not an FSR-FER recogniser (faceforge.models.fsrfer.FSRFER)")
    return model.backbone, model.generator


@torch.no_grad()
def recognize_crops(model: FSRFER, crops: np.ndarray | Sequence[np.ndarray], *,
                    scale: int | None = DEFAULT_RECOGNITION_SCALE, batch_size: int = 16) -> list[FaceRecognition]:
    """Read the expressions of aligned faces.

    Args:
        model: an :class:`~faceforge.models.fsrfer.FSRFER` in eval mode.
        crops: (N, A, A, 3) uint8 aligned faces of any side A (the photo pipeline's 128), or a list of such; each
            is brought to the backbone's side S (100) by MATLAB bicubic (8-bit) first.
        scale: 2-8: MATLAB-bicubic down by that factor (8-bit) and back up to S
            (:func:`~faceforge.models.fsrfer.low_resolution_input`), and the HR face read as well; None or 1: the
            faces as given.
        batch_size: faces per forward pass.

    Returns:
        One :class:`FaceRecognition` per crop, with ``face=None``.

    Raises:
        ScaleError: a ``scale`` that is not a whole number from 1 to 8.
        ValueError: crops of another shape or type.
    """
    from faceforge.models.fsrfer import low_resolution_input

    backbone, generator = _recognizer_parts(model)
    factor = recognition_scale(scale)
    size = backbone.config.image_size
    classes = tuple(backbone.config.classes)
    crops = np.stack([np.asarray(c) for c in crops]) if not isinstance(crops, np.ndarray) else crops
    if crops.ndim != 4 or crops.shape[1] != crops.shape[2] or crops.shape[3] != 3 or crops.dtype != np.uint8:
        raise ValueError(f"crops must be (N, A, A, 3) uint8 aligned faces, got {crops.shape} {crops.dtype}")
    parameter = next(model.parameters())
    results = []
    for start in range(0, len(crops), batch_size):
        hr = _to_tensor(crops[start:start + batch_size]).to(parameter.device, parameter.dtype)
        if hr.shape[-1] != size:
            hr = imresize(hr, size=size, quantize=True)  # the aligned face at the backbone's side, 8-bit
        if factor is None:
            lr = seen = hr
        else:
            lr = bicubic_downsample(hr, factor, quantize=True)
            seen = low_resolution_input(hr, factor)  # == imresize(lr, size=size, clamp=True)
        features = backbone.features(seen)
        routes = {}
        if factor is not None:
            routes["hr"] = backbone(hr)
        routes["bicubic"] = backbone.classify_features(features)
        routes["fsrfer"] = backbone.classify_features(generator(features))  # FSR-FER: C(G(F(I_lr)))
        probs = {route: logits.float().softmax(-1).cpu().numpy() for route, logits in routes.items()}
        hr_u8, lr_u8, seen_u8 = _to_uint8(hr), _to_uint8(lr), _to_uint8(seen)
        for i in range(len(hr)):
            results.append(FaceRecognition(
                face=None,
                aligned=hr_u8[i],
                lr=lr_u8[i],
                model_input=seen_u8[i],
                scale=factor,
                probabilities={route: dict(zip(classes, (float(p) for p in p_route[i])))
                               for route, p_route in probs.items()},
            ))
    return results


def recognize_photo(image: ImageSource, model: FSRFER, *, scale: int | None = DEFAULT_RECOGNITION_SCALE,
                    aligned: bool = False, max_faces: int | None = None,
                    detector: FaceDetector | DetectorKind | None = None) -> PhotoRecognition:
    """Find every face of a photo and read its expression at low resolution, by bicubic and by FSR-FER.

    Each face is found and aligned onto the 128x128 template as :func:`restore_photo` aligns it, brought to the
    backbone's 100x100 by MATLAB bicubic, then degraded by ``scale`` (see :func:`recognize_crops`).

    Args:
        image: a photo (path, bytes, PIL image or (H, W, 3) uint8 array; see
            :func:`~faceforge.face.io.load_image`).
        model: an :class:`~faceforge.models.fsrfer.FSRFER` in eval mode (``faceforge.from_pretrained("fsrfer")``).
        scale: 2-8 (default 8): degrade every face by that factor first; None or 1: the faces as the photo holds
            them (photos whose faces are small already).
        aligned: the image is one aligned face crop (square): no detection.
        max_faces: recognise only the largest ones.
        detector: see :func:`~faceforge.face.pipeline.find_faces`.

    Returns:
        :class:`PhotoRecognition`.

    Raises:
        ScaleError: a ``scale`` that is not a whole number from 1 to 8 (before the photo is read).
        NoFaceFoundError: no face in the photo.
        NotAFaceCropError: ``aligned`` and the image is not square.
        ImageReadError, ImageTooLargeError: the image cannot be read.
        TypeError: ``model`` is not an FSR-FER recogniser.
    """
    backbone, _ = _recognizer_parts(model)
    factor = recognition_scale(scale)
    classes = tuple(backbone.config.classes)
    if aligned:
        photo = load_image(image)
        crop = as_face_crop(photo, photo.shape[0])
        (result,) = recognize_crops(model, crop[None], scale=factor)
        return PhotoRecognition(faces=(result,), photo=crop, scale=factor, classes=classes)
    photo = load_image(image)
    faces = find_faces(photo, size=TEMPLATE_SIZE, detector=detector, max_faces=max_faces, require=True)
    results = recognize_crops(model, np.stack([f.crop for f in faces]), scale=factor)
    results = [dataclasses.replace(r, face=f) for r, f in zip(results, faces)]
    return PhotoRecognition(faces=tuple(results), photo=photo, scale=factor, classes=classes)
