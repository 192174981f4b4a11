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

``edit_photo`` finds and aligns every face the same way and edits it with Cascade EF-GAN (or one EF-GAN) to a target
(:class:`EditTarget`): an expression at an intensity, whose FaceForge-Synth AU prototype becomes the target AUs, or
chosen AU intensities (FACS 0-5), the others kept as the face shows them. The face's own AUs are estimated by the AU
detector, whose occurrence probabilities stand in for intensities (:func:`estimate_aus`). Every face comes back with
each stage's edit and attention maps (where its global and its local branches repaint) and the continuous edit: the
face edited to ``source + t (target - source)`` for t from 0 to 1.

Example:
    >>> model = faceforge.from_pretrained("mpenet")
    >>> result = restore_photo("group.jpg", model)
    >>> result.photo                       # (H, W, 3) uint8, every face restored
    >>> result.faces[0].steps              # the three recurrent steps' outputs, (128, 128, 3) uint8 each
    >>> recognition = recognize_photo("group.jpg", faceforge.from_pretrained("fsrfer"), scale=8)
    >>> recognition.faces[0].labels        # {"hr": ..., "bicubic": ..., "fsrfer": ...}
    >>> recognition.to_dict()              # boxes and probabilities, JSON-able
    >>> edit = edit_photo("group.jpg", faceforge.from_pretrained("cascade-efgan"), "surprise")
    >>> edit.photo                         # (H, W, 3) uint8, every face edited and pasted back
    >>> edit.faces[0].stages               # the three stages' edits; .frames: the continuous edit
    >>> edit.faces[0].attention_picture    # per stage: the edit, its global and its local attention maps
    >>> edit_photo("group.jpg", model, {12: 4, 6: 3})   # AU12 and AU6 set (FACS 0-5), the other AUs kept
"""

from __future__ import annotations

import dataclasses
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
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
from faceforge.errors import EditTargetError, NotAFaceCropError, ScaleError
from faceforge.face.detect import DetectorKind, FaceDetector
from faceforge.face.io import ImageSource, load_image
from faceforge.face.paste import paste_back
from faceforge.face.pipeline import Face, find_faces
from faceforge.face.template import TEMPLATE_SIZE

if TYPE_CHECKING:
    from faceforge.models.efgan import EFGANOutput
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


@torch.no_grad()
def restore_input(model: torch.nn.Module, lr: np.ndarray) -> np.ndarray:
    """Restore one model input exactly as given: ``FaceRestoration.lr`` of another model's result, so that two
    restorers are compared on the same pixels (the same occlusion included).

    Args:
        model: a face super-resolution network in eval mode (as :func:`restore_crops`).
        lr: (s, s, 3) uint8, s the model's input side (16).

    Returns:
        (S, S, 3) uint8 the restored face.
    """
    size, lr_size = _model_sizes(model)
    lr = np.asarray(lr)
    if lr.shape != (lr_size, lr_size, 3) or lr.dtype != np.uint8:
        raise ValueError(f"the input must be ({lr_size}, {lr_size}, 3) uint8, got {lr.shape} {lr.dtype}")
    device = next(model.parameters()).device
    return _to_uint8(model(_to_tensor(lr[None]).to(device))["sr"])[0]


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


# --- expression editing (Cascade EF-GAN) --------------------------------------------------------------------------
MAX_AU_INTENSITY = 5.0  # FACS levels 0 (absent) to 5 (E, maximum); the editors take them divided by this
DEFAULT_EDIT_FRAMES = 8  # frames of the continuous edit, the input's own AUs to the target (Fig. 7 of the paper)
MAX_EDIT_FRAMES = 64
# heat_map's colours at 0, 1/4, 1/2, 3/4 and 1: matplotlib's inferno (black at 0)
HEAT_COLOURS = np.array([[0, 0, 0], [87, 16, 110], [188, 55, 84], [249, 142, 9], [252, 255, 164]], np.float32)


@dataclass(frozen=True)
class EditTarget:
    """What the faces are edited to: an expression at an intensity, or the intensities of chosen AUs.

    Give either ``expression`` (one of :data:`~faceforge.face.expressions.EXPRESSIONS`; "happy", "angry" ... are
    read as their names) or ``aus``, never both.

    Attributes:
        expression: the target AUs are the expression's FaceForge-Synth prototype at ``intensity``
            (:func:`~faceforge.data.synth.faces.expression_aus`, the larger side of a one-sided AU), every other AU
            0 (absent).
        intensity: the expression's intensity in [0, 1] (1: its peak).
        aus: ``{AU number: FACS intensity 0-5}``; every AU not given keeps the face's own (estimated) value.

    Raises:
        EditTargetError: both or neither given, an unknown expression, an intensity outside [0, 1] or an AU
            intensity outside 0-5 (the message says what is allowed).
    """

    expression: str | None = None
    intensity: float = 1.0
    aus: Mapping[int, float] | None = None

    def __post_init__(self) -> None:
        from faceforge.face.expressions import EXPRESSIONS, expression_index

        if (self.expression is None) == (self.aus is None):
            raise EditTargetError("give a target expression or target AU intensities, not both or neither")
        if self.aus is not None:
            if not isinstance(self.aus, Mapping) or not self.aus:
                raise EditTargetError(f"target AUs are {{AU number: intensity 0-5}}, got {self.aus!r}")
            object.__setattr__(self, "aus", {_au_number(au): _bounded(v, f"the intensity of AU{au}", MAX_AU_INTENSITY)
                                             for au, v in self.aus.items()})
            return
        try:
            name = EXPRESSIONS[expression_index(self.expression)]
        except (AttributeError, ValueError):
            raise EditTargetError(f"unknown expression {self.expression!r}; the expressions are "
                                  f"{', '.join(EXPRESSIONS)}") from None
        object.__setattr__(self, "expression", name)
        object.__setattr__(self, "intensity", _bounded(self.intensity, "the expression intensity", 1.0))

    @classmethod
    def from_text(cls, text: str) -> EditTarget:
        """The AU target ``"12:3,6:2"`` (``AU:intensity`` pairs, FACS 0-5; ``"AU12:3"`` reads the same)."""
        return cls(aus=parse_au_intensities(text))

    def vector(self, aus: Sequence[int], source: np.ndarray | None = None) -> np.ndarray:
        """The target AU intensities in [0, 1] (FACS / 5) over ``aus``, in that order.

        Args:
            aus: the editor's AUs (``model.config.aus``).
            source: (N, n) or (n,) the faces' own AU intensities in [0, 1] over ``aus``, which the AUs an AU
                target does not name keep (None: zeros).

        Returns:
            An array of ``source``'s shape ((n,) without it), float32.

        Raises:
            EditTargetError: an AU target names an AU the editor does not take (the message lists those it does).
        """
        aus = tuple(int(au) for au in aus)
        base = np.zeros(len(aus), np.float32) if source is None else np.asarray(source, np.float32)
        if self.aus is None:
            from faceforge.data.synth.faces import expression_aus
            from faceforge.face.aus import FACEFORGE_AUS

            left, right = expression_aus(self.expression, self.intensity)
            prototype = dict(zip(FACEFORGE_AUS, np.maximum(left, right) / MAX_AU_INTENSITY))
            return np.broadcast_to(np.array([prototype.get(au, 0.0) for au in aus], np.float32), base.shape).copy()
        unknown = sorted(set(self.aus) - set(aus))
        if unknown:
            raise EditTargetError(f"the editor does not take {', '.join(f'AU{au}' for au in unknown)}; its AUs are "
                                  f"{', '.join(f'AU{au}' for au in aus)}")
        target = base.copy()
        for au, value in self.aus.items():
            target[..., aus.index(au)] = value / MAX_AU_INTENSITY
        return target

    def describe(self) -> str:
        """``"happiness at intensity 0.8"`` or ``"AU12 at 3, AU6 at 2"``."""
        if self.aus is None:
            return f"{self.expression} at intensity {self.intensity:g}"
        return ", ".join(f"AU{au} at {value:g}" for au, value in self.aus.items())

    def to_dict(self) -> dict[str, Any]:
        """``{"expression", "intensity"}`` or ``{"aus": {AU label: FACS intensity 0-5}}``."""
        from faceforge.face.aus import au_label

        if self.aus is None:
            return {"expression": self.expression, "intensity": self.intensity}
        return {"aus": {au_label(au): value for au, value in self.aus.items()}}


def _au_number(au: Any) -> int:
    from faceforge.face.aus import ACTION_UNITS

    if isinstance(au, str) and au.strip().upper().removeprefix("AU").isdigit():
        au = int(au.strip().upper().removeprefix("AU"))
    if isinstance(au, bool) or not isinstance(au, numbers.Real) or not float(au).is_integer() \
            or int(au) not in ACTION_UNITS:
        raise EditTargetError(f"unknown action unit {au!r}; the AUs are "
                              f"{', '.join(str(n) for n in sorted(ACTION_UNITS))}")
    return int(au)


def _bounded(value: Any, what: str, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= float(value) <= high:
        raise EditTargetError(f"{what} must be a number from 0 to {high:g}, got {value!r}")
    return float(value)


def parse_au_intensities(text: str) -> dict[int, float]:
    """``"12:3,6:2"`` -> ``{12: 3.0, 6: 2.0}``: comma-separated ``AU:intensity`` pairs, FACS intensities 0-5 (an
    ``AU`` prefix and spaces are allowed: ``"AU12: 3, AU6: 2"``).

    Raises:
        EditTargetError: not such pairs, an AU given twice, an unknown AU or an intensity outside 0-5.
    """
    found: dict[int, float] = {}
    for pair in str(text).split(","):
        au, sep, value = pair.strip().partition(":")
        au = au.strip().upper().removeprefix("AU")
        try:
            number_, intensity = int(au), float(value)
        except ValueError:
            raise EditTargetError(f"target AUs are AU:intensity pairs separated by commas, such as 12:3,6:2 (FACS "
                                  f"intensities 0-5), got {text!r}") from None
        if number_ in found:
            raise EditTargetError(f"AU{number_} is given twice in {text!r}")
        found[_au_number(number_)] = _bounded(intensity, f"the intensity of AU{number_}", MAX_AU_INTENSITY)
    return found


def edit_target(target: EditTarget | str | Mapping[int, float], *, intensity: float = 1.0) -> EditTarget:
    """``target`` as an :class:`EditTarget`: an expression name (at ``intensity``), ``{AU: FACS intensity 0-5}`` or
    an :class:`EditTarget` as it is."""
    if isinstance(target, EditTarget):
        return target
    if isinstance(target, str):
        return EditTarget(expression=target, intensity=intensity)
    return EditTarget(aus=target)


def edit_times(frames: int) -> tuple[float, ...]:
    """The points t of the continuous edit: ``frames`` evenly spaced in [0, 1] (t = 0: the face's own AUs, 1: the
    target; ``frames=1``: the target only, 0: none).

    Raises:
        ValueError: not a whole number from 0 to ``MAX_EDIT_FRAMES``.
    """
    if isinstance(frames, bool) or not isinstance(frames, numbers.Integral) or not 0 <= frames <= MAX_EDIT_FRAMES:
        raise ValueError(f"frames must be a whole number from 0 to {MAX_EDIT_FRAMES}, got {frames!r}")
    return tuple(float(t) for t in np.linspace(0, 1, int(frames))) if frames > 1 else (1.0,) * int(frames)


def heat_map(values: np.ndarray) -> np.ndarray:
    """(H, W) values in [0, 1] (clipped) as an (H, W, 3) uint8 picture: black at 0 through purple, red and orange to
    pale yellow at 1 (:data:`HEAT_COLOURS`)."""
    stops = np.linspace(0, 1, len(HEAT_COLOURS))
    values = np.clip(values, 0, 1)
    return np.stack([np.interp(values, stops, HEAT_COLOURS[:, c]) for c in range(3)], axis=-1).round().astype(
        np.uint8)


@dataclass(frozen=True)
class FaceEdit:
    """One edited face.

    Attributes:
        face: where it was found in the photo (None when the input was an aligned crop).
        aligned: (S, S, 3) uint8 the aligned face the editor saw (S: its ``config.image_size``, 128).
        aus: the AU numbers of the vectors below (the editor's ``config.aus``).
        source: (n,) float32 the face's own AU intensities in [0, 1] (FACS / 5): the AU detector's occurrence
            probabilities (see :func:`estimate_aus`) unless given.
        target: (n,) float32 the target AU intensities in [0, 1].
        conditions: (n,) float32 per stage, the AUs it was conditioned on: the AU Interpolator's intermediate AUs
            and then ``target`` (Cascade EF-GAN), or ``target`` alone (one EF-GAN).
        stages: (S, S, 3) uint8 per stage, its edit; the last is ``edited``.
        attention: (S, S) float32 in [0, 1] per stage, its global branch's attention map M_A (Eq. (1): 1 repaints
            the pixel, 0 keeps the stage's input).
        local_attention: (S, S) float32 in [0, 1] per stage, its eye, nose and mouth branches' M_A stitched at
            their crops (0 outside every crop, the mean where crops overlap); () for an editor without local
            branches (``config.local=False``).
        times: the points t in [0, 1] of the continuous edit.
        frames: (S, S, 3) uint8 per time t, the editor's edit of ``aligned`` to ``source + t (target - source)``
            (the last, at t = 1, is ``edited``).
    """

    face: Face | None
    aligned: np.ndarray
    aus: tuple[int, ...]
    source: np.ndarray
    target: np.ndarray
    conditions: tuple[np.ndarray, ...]
    stages: tuple[np.ndarray, ...]
    attention: tuple[np.ndarray, ...]
    local_attention: tuple[np.ndarray, ...]
    times: tuple[float, ...] = ()
    frames: tuple[np.ndarray, ...] = ()

    @property
    def edited(self) -> np.ndarray:
        """(S, S, 3) uint8 the edited face (the last stage)."""
        return self.stages[-1]

    @property
    def strip(self) -> np.ndarray:
        """(S, (K + 1) S, 3) uint8: the aligned face, then each stage's edit, side by side."""
        return np.concatenate([self.aligned, *self.stages], axis=1)

    @property
    def attention_picture(self) -> np.ndarray:
        """(K S, 3 S, 3) uint8, a row per stage: its edit, then its global and its stitched local attention maps as
        :func:`heat_map` pictures ((K S, 2 S, 3) without local branches)."""
        rows = []
        for k, stage in enumerate(self.stages):
            maps = [self.attention[k], *self.local_attention[k:k + 1]]  # no local map without local branches
            rows.append(np.concatenate([stage, *map(heat_map, maps)], axis=1))
        return np.concatenate(rows)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able: ``box`` ([x0, y0, x1, y1] in photo pixels, or None for an aligned crop), ``score``, ``stages``
        and ``frames`` (counts), and ``source_aus``, ``target_aus`` and per stage ``stage_aus`` as ``{AU label:
        intensity in [0, 1]}``."""
        from faceforge.face.aus import au_label

        def by_label(vector: np.ndarray) -> dict[str, float]:
            return {au_label(au): round(float(v), 4) for au, v in zip(self.aus, vector)}

        face = self.face
        return {
            "box": [round(float(v), 2) for v in face.box] if face is not None else None,
            "score": round(float(face.score), 4) if face is not None else None,
            "stages": len(self.stages),
            "frames": len(self.frames),
            "source_aus": by_label(self.source),
            "target_aus": by_label(self.target),
            "stage_aus": [by_label(c) for c in self.conditions],
        }


@dataclass(frozen=True)
class PhotoEdit:
    """A photo with every face edited.

    Attributes:
        faces: the edited faces, largest first.
        photo: (H, W, 3) uint8 the photo with every edited face pasted back (the edited crop for ``aligned``
            input).
        target: what the faces were edited to.
    """

    faces: tuple[FaceEdit, ...]
    photo: np.ndarray
    target: EditTarget

    def to_dict(self) -> dict[str, Any]:
        """The result as plain JSON types: ``target`` (:meth:`EditTarget.to_dict`), ``photo_size`` ([width,
        height]) and ``faces`` (:meth:`FaceEdit.to_dict` each, largest first)."""
        return {"target": self.target.to_dict(), "photo_size": [int(self.photo.shape[1]), int(self.photo.shape[0])],
                "faces": [f.to_dict() for f in self.faces]}


def _editor_aus(model: torch.nn.Module) -> tuple[int, ...]:
    from faceforge.models.efgan import EFGAN, CascadeEFGAN

    if not isinstance(model, EFGAN | CascadeEFGAN):
        raise TypeError(f"{type(model).__name__} is not an expression editor (faceforge.models.efgan.CascadeEFGAN "
                        f"or EFGAN)")
    return tuple(int(au) for au in model.config.aus)


def _au_detector(au_detector: torch.nn.Module | str | None) -> torch.nn.Module:
    """The AU detector given, the one a shipped name, folder or Hub id holds, or (None) the app's (``app.au``)."""
    if au_detector is None or isinstance(au_detector, str):
        from faceforge.loading import load_pretrained
        from faceforge.registry import default_model

        au_detector = load_pretrained(au_detector or default_model("app.au"))
    if not hasattr(au_detector, "predict") or not hasattr(au_detector.config, "aus"):
        raise TypeError(f"{type(au_detector).__name__} is not an AU detector (faceforge.models.au_detector)")
    return au_detector


@torch.no_grad()
def estimate_aus(au_detector: torch.nn.Module, crops: np.ndarray, aus: Sequence[int], *,
                 batch_size: int = 16) -> np.ndarray:
    """The faces' own AU intensities as an editor takes them, estimated by an AU detector.

    The shipped AU detector predicts whether each AU occurs, not how strongly: its occurrence probability is taken
    as the intensity in [0, 1] (a face certain to show an AU reads as level E). This is an estimate only; give the
    true intensities where they are known (``source=`` of :func:`edit_crops`).

    Args:
        au_detector: an :class:`~faceforge.models.au_detector.AUDetector` in eval mode.
        crops: (N, A, A, 3) uint8 aligned faces (the detector resizes them to its own side).
        aus: the editor's AUs; those the detector does not predict are 0.

    Returns:
        (N, len(aus)) float32 in [0, 1].
    """
    parameter = next(au_detector.parameters())
    detected = {int(au): i for i, au in enumerate(au_detector.config.aus)}
    columns = [detected.get(int(au)) for au in aus]
    out = np.zeros((len(crops), len(columns)), np.float32)
    for start in range(0, len(crops), batch_size):
        images = _to_tensor(crops[start:start + batch_size]).to(parameter.device, parameter.dtype)
        probability = au_detector.predict(images)["probability"].float().cpu().numpy()
        for j, column in enumerate(columns):
            if column is not None:
                out[start:start + len(images), j] = probability[:, column]
    return out


def _edit_stages(model: torch.nn.Module, image: torch.Tensor, source: torch.Tensor,
                 target: torch.Tensor) -> list[tuple[EFGANOutput, torch.Tensor]]:
    """Per stage, its :class:`~faceforge.models.efgan.EFGANOutput` (the edit and the attention maps) and its AU
    condition: one forward pass per stage, each stage editing the previous one's output as
    :meth:`~faceforge.models.efgan.CascadeEFGAN.forward` does (which keeps only the edits)."""
    from faceforge.models.efgan import CascadeEFGAN

    if not isinstance(model, CascadeEFGAN):
        return [(model(image, target), target)]
    stages, current = [], image
    for stage, condition in zip(model.stages, model.conditions(source, target), strict=True):
        stages.append((stage(current, condition), condition))
        current = stages[-1][0]["out"]
    return stages


def _attention_maps(model: torch.nn.Module, out: EFGANOutput) -> tuple[np.ndarray, np.ndarray | None]:
    """(B, S, S) float32 the global M_A and (B, S, S) the local M_A stitched at their boxes (0 outside every box, the
    mean where boxes overlap), or None without local branches."""
    from faceforge.models.efgan import stitch

    global_map = out["attention"][:, 0].float().cpu().numpy()
    if not out["local_attention"]:
        return global_map, None
    local = stitch(out["local_attention"], model.config.boxes, model.config.image_size)
    return global_map, local[:, 0].float().cpu().numpy()


@torch.no_grad()
def edit_crops(model: torch.nn.Module, crops: np.ndarray | Sequence[np.ndarray],
               target: EditTarget | str | Mapping[int, float], *, source: np.ndarray | None = None,
               au_detector: torch.nn.Module | str | None = None, frames: int = DEFAULT_EDIT_FRAMES,
               batch_size: int = 8) -> list[FaceEdit]:
    """Edit aligned faces to a target expression or AUs.

    Args:
        model: a :class:`~faceforge.models.efgan.CascadeEFGAN` or :class:`~faceforge.models.efgan.EFGAN` in eval
            mode.
        crops: (N, S, S, 3) uint8 aligned faces at the editor's side S (``config.image_size``, 128), or a list
            of such.
        target: an :class:`EditTarget`, an expression name (at intensity 1) or ``{AU: FACS intensity 0-5}``.
        source: (N, n) the faces' own AU intensities in [0, 1] over ``model.config.aus``, where known (a
            synthetic face's truth); None: estimated by ``au_detector`` (:func:`estimate_aus`).
        au_detector: an AU detector, or its shipped name, folder or Hub id; None: the app's (``app.au``), loaded
            here on every call (pass a loaded one to reuse it).
        frames: the points of the continuous edit (:func:`edit_times`; 0: none).
        batch_size: faces per forward pass (the frames of a batch of faces go through in batches of this many).

    Returns:
        One :class:`FaceEdit` per crop, with ``face=None``.

    Raises:
        EditTargetError: an invalid target, or one naming an AU the editor does not take.
        TypeError: ``model`` is not an expression editor.
        ValueError: crops or ``source`` of another shape, ``frames`` out of range.
    """
    aus = _editor_aus(model)
    size = model.config.image_size
    target = edit_target(target)
    times = edit_times(frames)
    crops = np.stack([np.asarray(c) for c in crops]) if not isinstance(crops, np.ndarray) else crops
    if crops.ndim != 4 or crops.shape[1:] != (size, size, 3) or crops.dtype != np.uint8:
        raise ValueError(f"crops must be (N, {size}, {size}, 3) uint8, got {crops.shape} {crops.dtype}")
    if source is None:
        source = estimate_aus(_au_detector(au_detector), crops, aus)
    source = np.asarray(source, np.float32)
    if source.shape != (len(crops), len(aus)) or not ((source >= 0) & (source <= 1)).all():
        raise ValueError(f"source must be ({len(crops)}, {len(aus)}) AU intensities in [0, 1], got {source.shape}")
    goal = target.vector(aus, source)
    parameter = next(model.parameters())

    def tensor(values: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(values).to(parameter.device, parameter.dtype)

    results = []
    for start in range(0, len(crops), batch_size):
        stop = min(start + batch_size, len(crops))
        image, src, tgt = _to_tensor(crops[start:stop]).to(parameter.device, parameter.dtype), tensor(
            source[start:stop]), tensor(goal[start:stop])
        stages = _edit_stages(model, image, src, tgt)
        stages_u8 = [_to_uint8(out["out"].clamp(0, 1)) for out, _ in stages]
        conditions_np = [c.float().cpu().numpy() for _, c in stages]
        maps = [_attention_maps(model, out) for out, _ in stages]
        # The continuous edit: every face to source + t (target - source) for t < 1 (t = 1 is the edit itself).
        ts = [t for t in times if t < 1]
        pairs = [(i, t) for i in range(len(image)) for t in ts]
        edits = []
        for first in range(0, len(pairs), batch_size):
            chunk = pairs[first:first + batch_size]
            index = torch.tensor([i for i, _ in chunk], device=parameter.device)
            t = tensor(np.array([[t] for _, t in chunk], np.float32))
            edits.append(_to_uint8(model.edit(image[index], src[index], src[index] + t * (tgt[index] - src[index]))))
        edits = np.concatenate(edits) if edits else np.zeros((0, size, size, 3), np.uint8)
        for i in range(len(image)):
            continuous = list(edits[i * len(ts):(i + 1) * len(ts)])
            continuous += [stages_u8[-1][i]] * (len(times) - len(ts))
            results.append(FaceEdit(
                face=None,
                aligned=crops[start + i],
                aus=aus,
                source=source[start + i],
                target=goal[start + i],
                conditions=tuple(c[i] for c in conditions_np),
                stages=tuple(s[i] for s in stages_u8),
                attention=tuple(g[i] for g, _ in maps),
                local_attention=tuple(local[i] for _, local in maps if local is not None),
                times=times,
                frames=tuple(continuous),
            ))
    return results


def edit_photo(image: ImageSource, model: torch.nn.Module, target: EditTarget | str | Mapping[int, float], *,
               frames: int = DEFAULT_EDIT_FRAMES, aligned: bool = False, max_faces: int | None = None,
               detector: FaceDetector | DetectorKind | None = None,
               au_detector: torch.nn.Module | str | None = None) -> PhotoEdit:
    """Find every face of a photo, edit it to a target expression or AUs and paste it back.

    Each face is found and aligned onto the template at the editor's side as :func:`restore_photo` aligns it, its
    own AUs are estimated by the AU detector (:func:`estimate_aus`), and it is edited by the editor
    (:func:`edit_crops`) and pasted back with a feathered mask.

    Args:
        image: a photo (path, bytes, PIL image or (H, W, 3) uint8 array; see
            :func:`~faceforge.face.io.load_image`).
        model: a :class:`~faceforge.models.efgan.CascadeEFGAN` or :class:`~faceforge.models.efgan.EFGAN` in eval
            mode (``faceforge.from_pretrained("cascade-efgan")``).
        target: an :class:`EditTarget`, an expression name (at intensity 1) or ``{AU: FACS intensity 0-5}``.
        frames: the points of the continuous edit per face (:func:`edit_times`; 0: none).
        aligned: the image is one aligned face crop (square): no detection; ``photo`` is the edited crop.
        max_faces: edit only the largest ones.
        detector: see :func:`~faceforge.face.pipeline.find_faces`.
        au_detector: see :func:`edit_crops`.

    Returns:
        :class:`PhotoEdit`.

    Raises:
        EditTargetError: an invalid target, or one naming an AU the editor does not take (before the photo is
            read).
        NoFaceFoundError: no face in the photo.
        NotAFaceCropError: ``aligned`` and the image is not square.
        ImageReadError, ImageTooLargeError: the image cannot be read.
        TypeError: ``model`` is not an expression editor.
        ValueError: ``frames`` out of range.
    """
    aus = _editor_aus(model)
    size = model.config.image_size
    target = edit_target(target)
    target.vector(aus)  # a target the editor cannot take fails before the photo is read
    edit_times(frames)
    if aligned:
        (result,) = edit_crops(model, as_face_crop(image, size)[None], target, au_detector=au_detector,
                               frames=frames)
        return PhotoEdit(faces=(result,), photo=result.edited, target=target)
    photo = load_image(image)
    # A photo decoded here is ours to paste into; a caller's array is never changed.
    owned = not (isinstance(image, np.ndarray) and np.shares_memory(photo, image))
    faces = find_faces(photo, size=size, detector=detector, max_faces=max_faces, require=True)
    edits = edit_crops(model, np.stack([f.crop for f in faces]), target, au_detector=au_detector, frames=frames)
    edits = [dataclasses.replace(e, face=f) for e, f in zip(edits, faces)]
    canvas = photo if owned else photo.copy()
    for e in edits:
        canvas = paste_back(canvas, e.edited, e.face.matrix, crop_size=size, out=canvas)
    return PhotoEdit(faces=tuple(edits), photo=canvas, target=target)


def write_animation(frames: Sequence[np.ndarray], path: str | Path, *, frame_ms: int = 120,
                    hold_ms: int = 600) -> Path:
    """Write frames ((H, W, 3) uint8 each, such as :attr:`FaceEdit.frames`) as a looping GIF, the first and the
    last shown for ``hold_ms``, the others for ``frame_ms``; returns the path."""
    if not frames:
        raise ValueError("an animation needs at least one frame")
    images = [Image.fromarray(np.ascontiguousarray(f)) for f in frames]
    durations = [hold_ms if i in (0, len(images) - 1) else frame_ms for i in range(len(images))]
    path = Path(path)
    images[0].save(path, format="GIF", save_all=True, append_images=images[1:], duration=durations, loop=0)
    return path
