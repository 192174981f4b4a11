"""Degradations that turn a clean aligned face into a model input: MATLAB bicubic resizing and occlusion, and
the random mix of resampling, blur, noise and JPEG (:func:`random_degradation`) that evaluators train on so
that they can judge restored faces.

Both restoration papers synthesise their inputs from 128x128 aligned faces:

* MPENet (Zhang and Liu, IJCB 2022, Sec. 4.1): "we obtain 16x16 LR inputs by bicubic downsampling";
  FSR-FER ("Feature Super-Resolution Based Facial Expression Recognition for Multi-scale
  Low-Resolution Faces") downsamples "with MATLAB bicubic kernel function" by x2 to x8.
* IGCN (Liu et al., MMM 2020, Sec. 4.1): "The input ill face images are produced by resizing high
  resolution face image to 16*16 via bicubic interpolation method and added a random binary mask, of which
  size is one fourth of the input size."

:func:`imresize` reproduces MATLAB's ``imresize(x, scale, 'bicubic')`` (Keys cubic kernel with a = -0.5, the
kernel stretched by 1/scale when shrinking, MATLAB's pixel-centre mapping and mirrored borders) as two
small weight matrices, so it is batched, differentiable and runs on any device.
"""

from __future__ import annotations

import functools
import io
import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    "Degradations",
    "Degraded",
    "apply_occlusion",
    "bicubic_downsample",
    "cubic_kernel",
    "degrade",
    "imresize",
    "quantize_8bit",
    "random_degradation",
    "random_square_mask",
    "resize_mask",
    "resize_matrix",
    "to_low_resolution",
]

_KERNEL_WIDTH = 4.0  # the cubic kernel is non-zero on (-2, 2)
_MASK_FRACTION = 0.25  # IGCN: the occluding square's side is a quarter of the input's side


def cubic_kernel(x: np.ndarray, a: float = -0.5) -> np.ndarray:
    """Keys' cubic convolution kernel (Keys 1981), the one MATLAB's ``'bicubic'`` uses (a = -0.5).

    Args:
        x: Distances to the sample, any shape.
        a: The kernel's free parameter; -0.5 is MATLAB's and PIL's, -0.75 is OpenCV's.

    Returns:
        Kernel values, the shape of ``x``.
    """
    ax = np.abs(x)
    ax2, ax3 = ax**2, ax**3
    near = ((a + 2) * ax3 - (a + 3) * ax2 + 1) * (ax <= 1)
    far = (a * ax3 - 5 * a * ax2 + 8 * a * ax - 4 * a) * ((ax > 1) & (ax <= 2))
    return near + far


@functools.lru_cache(maxsize=64)
def _resize_matrix_f64(in_len: int, out_len: int, scale: float, antialias: bool) -> torch.Tensor:
    shrink_aa = antialias and scale < 1
    # Antialiasing: h(x) = scale * k(scale * x), a low-pass kernel 1/scale times wider.
    width = _KERNEL_WIDTH / scale if shrink_aa else _KERNEL_WIDTH
    # MATLAB's 1-based mapping of output pixel centre x to input coordinate u.
    out_idx = np.arange(1, out_len + 1, dtype=np.float64)
    u = out_idx / scale + 0.5 * (1 - 1 / scale)
    left = np.floor(u - width / 2)
    taps = left[:, None] + np.arange(math.ceil(width) + 2)[None, :]  # (out_len, P) 1-based input indices
    dist = u[:, None] - taps
    weights = scale * cubic_kernel(scale * dist) if shrink_aa else cubic_kernel(dist)
    weights = weights / weights.sum(axis=1, keepdims=True)
    # Symmetric (mirror) padding: indices 0, -1, ... map to 1, 2, ... and in_len + 1 maps to in_len.
    mirror = np.concatenate([np.arange(in_len), np.arange(in_len - 1, -1, -1)])
    cols = mirror[np.mod(taps.astype(np.int64) - 1, 2 * in_len)]
    matrix = np.zeros((out_len, in_len), dtype=np.float64)
    np.add.at(matrix, (np.repeat(np.arange(out_len), taps.shape[1]), cols.ravel()), weights.ravel())
    return torch.from_numpy(matrix)


def resize_matrix(
    in_len: int,
    out_len: int,
    *,
    scale: float | None = None,
    antialias: bool = True,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """The (out_len, in_len) matrix that resizes one axis the way MATLAB's bicubic ``imresize`` does.

    Args:
        in_len: Input length along the axis.
        out_len: Output length along the axis.
        scale: The scale factor MATLAB uses for the kernel; defaults to ``out_len / in_len`` (the
            output-size form of ``imresize``).
        antialias: Widen the kernel by 1/scale when shrinking (MATLAB's default ``'Antialiasing', true``).
        dtype: Matrix dtype.
        device: Matrix device.

    Returns:
        (out_len, in_len) weights; every row sums to 1.
    """
    if in_len < 1 or out_len < 1:
        raise ValueError(f"lengths must be positive, got in_len={in_len}, out_len={out_len}")
    scale = out_len / in_len if scale is None else float(scale)
    if scale <= 0:
        raise ValueError(f"scale must be positive, got {scale}")
    matrix = _resize_matrix_f64(int(in_len), int(out_len), scale, bool(antialias))
    return matrix.to(dtype=dtype, device=device, copy=True)  # callers may modify it; the cache stays intact


def _pair(value: float | int | tuple, name: str) -> tuple:
    pair = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(pair) != 2:
        raise ValueError(f"{name} must be a number or a (height, width) pair, got {value!r}")
    return pair


def quantize_8bit(x: torch.Tensor) -> torch.Tensor:
    """Clamp to [0, 1] and round to the 8-bit grid (k / 255), as saving to and loading from a PNG does.

    Args:
        x: Float tensor, any shape, nominally in [0, 1].

    Returns:
        Tensor of the same shape and dtype whose values are multiples of 1/255 in [0, 1]. Rounding has zero
        gradient.
    """
    return torch.round(x.clamp(0.0, 1.0) * 255.0) / 255.0


def _resize(
    x: torch.Tensor,
    out_hw: tuple[int, int],
    scales: tuple[float, float],
    *,
    antialias: bool,
    clamp: bool,
    quantize: bool,
) -> torch.Tensor:
    if not torch.is_floating_point(x):
        raise TypeError(f"resizing expects a float tensor, got {x.dtype}; convert uint8 images with x / 255")
    if x.ndim < 2:
        raise ValueError(f"resizing expects a (..., H, W) tensor, got shape {tuple(x.shape)}")
    (in_h, in_w), (out_h, out_w) = x.shape[-2:], out_hw
    kw = dict(antialias=antialias, dtype=x.dtype, device=x.device)
    rows = resize_matrix(in_h, out_h, scale=scales[0], **kw)
    cols = resize_matrix(in_w, out_w, scale=scales[1], **kw)
    # Separable filtering: out = R @ x @ C^T over the last two axes.
    out = torch.matmul(rows, torch.matmul(x, cols.transpose(0, 1)))
    if quantize:
        return quantize_8bit(out)
    return out.clamp(0.0, 1.0) if clamp else out


def imresize(
    x: torch.Tensor,
    *,
    scale: float | tuple[float, float] | None = None,
    size: int | tuple[int, int] | None = None,
    antialias: bool = True,
    clamp: bool = False,
    quantize: bool = False,
) -> torch.Tensor:
    """MATLAB's ``imresize(x, scale, 'bicubic')`` / ``imresize(x, [h w], 'bicubic')`` in torch.

    Exactly one of ``scale`` and ``size`` must be given. With ``scale`` the output size is
    ``ceil(scale * input size)`` and the kernel uses ``scale`` itself; with ``size`` the kernel uses
    ``size / input size`` per axis (MATLAB's two forms). Values are not clamped or rounded unless asked.

    Args:
        x: (..., H, W) float tensor, e.g. (B, C, H, W) or (C, H, W), on any device.
        scale: Scale factor, one number or (height, width).
        size: Output size, one number (square) or (height, width).
        antialias: Low-pass when shrinking, MATLAB's default.
        clamp: Clamp the output to [0, 1].
        quantize: Clamp to [0, 1] and round to k / 255 (what MATLAB returns for uint8 images).

    Returns:
        (..., h, w) tensor of ``x``'s dtype and device, differentiable with respect to ``x``.
    """
    if x.ndim < 2:
        raise ValueError(f"imresize expects a (..., H, W) tensor, got shape {tuple(x.shape)}")
    if (scale is None) == (size is None):
        raise ValueError("give exactly one of scale= and size=")
    in_h, in_w = x.shape[-2:]
    if size is not None:
        out_h, out_w = (int(s) for s in _pair(size, "size"))
        scale_h, scale_w = out_h / in_h, out_w / in_w
    else:
        scale_h, scale_w = (float(s) for s in _pair(scale, "scale"))
        out_h, out_w = math.ceil(scale_h * in_h), math.ceil(scale_w * in_w)
    return _resize(x, (out_h, out_w), (scale_h, scale_w), antialias=antialias, clamp=clamp, quantize=quantize)


def bicubic_downsample(
    x: torch.Tensor, factor: int, *, antialias: bool = True, clamp: bool = False, quantize: bool = False
) -> torch.Tensor:
    """``imresize(x, 1/factor, 'bicubic')``: the x2 .. x8 low-resolution images of FSR-FER and MPENet.

    Args:
        x: (..., H, W) float tensor.
        factor: Integer downsampling factor (1 returns a copy of ``x``).
        antialias: MATLAB's antialiasing (default on).
        clamp: Clamp the output to [0, 1].
        quantize: Clamp and round to k / 255, as 8-bit LR files are.

    Returns:
        (..., ceil(H / factor), ceil(W / factor)) tensor; a 100x100 face at x3 gives 34x34 as in MATLAB.
    """
    if isinstance(factor, bool) or not isinstance(factor, int) or factor < 1:
        raise ValueError(f"factor must be a positive integer, got {factor!r}")
    in_h, in_w = x.shape[-2:]
    # Integer ceil: the same size as MATLAB's ceil(H / factor) without float round-off.
    out_h, out_w = -(-in_h // factor), -(-in_w // factor)
    return _resize(
        x, (out_h, out_w), (1 / factor, 1 / factor), antialias=antialias, clamp=clamp, quantize=quantize
    )


def to_low_resolution(
    x: torch.Tensor, size: int = 16, *, clamp: bool = False, quantize: bool = False
) -> torch.Tensor:
    """Bicubic LR input of a given side: 128 -> 16 is MPENet's and IGCN's x8 setting.

    Args:
        x: (..., H, W) float tensor, e.g. (B, 3, 128, 128) in [0, 1].
        size: Output side (square output).
        clamp: Clamp the output to [0, 1].
        quantize: Clamp and round to k / 255.

    Returns:
        (..., size, size) tensor.
    """
    return imresize(x, size=(size, size), clamp=clamp, quantize=quantize)


def random_square_mask(
    batch: int,
    size: int | tuple[int, int],
    *,
    fraction: float = _MASK_FRACTION,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """IGCN's random binary occlusion masks: one axis-aligned square per image, 1 where occluded.

    The paper's mask "size is one fourth of the input size"; faceforge reads this as a square whose side is
    a quarter of the image side (4x4 on the 16x16 LR input, 1/16 of the area). ``fraction=0.5`` gives the
    other reading (a quarter of the area). The square lies wholly inside the image, its top-left corner
    uniform over all such positions.

    Args:
        batch: Number of masks B.
        size: Mask size, one number (square) or (height, width).
        fraction: Side of the square as a fraction of the image's shorter side (at least one pixel).
        generator: Optional generator for reproducible masks (its device is used for sampling).
        device: Device of the returned masks.
        dtype: Dtype of the returned masks.

    Returns:
        (B, 1, H, W) masks with 1 inside the occluded square and 0 elsewhere.
    """
    height, width = (int(s) for s in _pair(size, "size"))
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    side = max(1, round(fraction * min(height, width)))
    sample_device = generator.device if generator is not None else torch.device("cpu")
    top = torch.randint(0, height - side + 1, (batch,), generator=generator, device=sample_device)
    left = torch.randint(0, width - side + 1, (batch,), generator=generator, device=sample_device)
    top, left = top.to(device), left.to(device)
    ys = torch.arange(height, device=device)
    xs = torch.arange(width, device=device)
    in_rows = (ys[None, :] >= top[:, None]) & (ys[None, :] < top[:, None] + side)  # (B, H)
    in_cols = (xs[None, :] >= left[:, None]) & (xs[None, :] < left[:, None] + side)  # (B, W)
    return (in_rows[:, :, None] & in_cols[:, None, :]).unsqueeze(1).to(dtype)


def apply_occlusion(
    x: torch.Tensor, mask: torch.Tensor, *, fill: float | torch.Tensor = 0.0
) -> torch.Tensor:
    """Paint the occluded pixels: ``x * (1 - mask) + fill * mask``.

    Args:
        x: (B, C, H, W) images.
        mask: (B, 1, H, W) masks, 1 where occluded (soft values blend).
        fill: Value of occluded pixels; a number or a tensor broadcastable to ``x`` (e.g. (C, 1, 1) means).
            0 is black for [0, 1] images and mid-grey for [-1, 1] ones.

    Returns:
        (B, C, H, W) occluded images.
    """
    if mask.shape[-2:] != x.shape[-2:]:
        raise ValueError(f"mask size {tuple(mask.shape[-2:])} differs from image size {tuple(x.shape[-2:])}")
    mask = mask.to(dtype=x.dtype)
    return x * (1 - mask) + mask * torch.as_tensor(fill, dtype=x.dtype, device=x.device)


def resize_mask(mask: torch.Tensor, size: int | tuple[int, int]) -> torch.Tensor:
    """Nearest-neighbour resize of masks, e.g. a 16x16 LR mask to the 128x128 region it covers.

    Args:
        mask: (B, 1, h, w) masks.
        size: Output size, one number or (height, width).

    Returns:
        (B, 1, H, W) masks; for integer factors each mask pixel becomes a factor x factor block.
    """
    return F.interpolate(mask, size=tuple(int(s) for s in _pair(size, "size")), mode="nearest")


class Degraded(NamedTuple):
    """A degraded batch: ``lr`` is the model input, ``mask`` marks its occluded pixels (1 = occluded)."""

    lr: torch.Tensor
    mask: torch.Tensor


def degrade(
    x: torch.Tensor,
    *,
    scale: int = 8,
    occlude: bool = True,
    fraction: float = _MASK_FRACTION,
    fill: float | torch.Tensor = 0.0,
    quantize: bool = True,
    generator: torch.Generator | None = None,
) -> Degraded:
    """IGCN's ill input: bicubic x``scale`` downsampling, then a random square occlusion.

    Order as in the paper: resize the HR face, (optionally) round to 8 bits like a saved LR image, then
    paint the mask on the LR image.

    Args:
        x: (B, C, H, W) or (C, H, W) float HR faces in [0, 1], e.g. (B, 3, 128, 128).
        scale: Integer downsampling factor (8: 128 -> 16).
        occlude: Add the random square; when False the returned mask is all zeros.
        fraction: Side of the square over the LR image side (see :func:`random_square_mask`).
        fill: Value painted into the square.
        quantize: Round the LR image to k / 255 before occluding (the papers' 8-bit LR inputs).
        generator: Optional generator for reproducible masks.

    Returns:
        ``Degraded(lr, mask)``: lr (B, C, h, w) and mask (B, 1, h, w) with h = ceil(H / scale), or both
        without the batch axis for a (C, H, W) input.
    """
    if x.ndim not in (3, 4):
        raise ValueError(f"degrade expects (B, C, H, W) or (C, H, W), got shape {tuple(x.shape)}")
    batched = x.unsqueeze(0) if x.ndim == 3 else x
    lr = bicubic_downsample(batched, scale, quantize=quantize)
    if occlude:
        mask = random_square_mask(
            lr.shape[0],
            lr.shape[-2:],
            fraction=fraction,
            generator=generator,
            device=lr.device,
            dtype=lr.dtype,
        )
        lr = apply_occlusion(lr, mask, fill=fill)
    else:
        mask = lr.new_zeros((lr.shape[0], 1, *lr.shape[-2:]))
    if x.ndim == 3:
        return Degraded(lr[0], mask[0])
    return Degraded(lr, mask)


@dataclass
class Degradations:
    """A random mix of what restored and low-resolution faces look like (:func:`random_degradation`).

    Each face independently: bicubic down and back up by a factor drawn from ``factors`` (1: untouched), then
    with probability ``blur_p`` a Gaussian blur of sigma in ``blur_sigma`` (pixels), with ``noise_p`` Gaussian
    noise of sigma in ``noise_sigma``, with ``jpeg_p`` JPEG compression at a quality in ``jpeg_quality``.
    The default does nothing.
    """

    factors: tuple[int, ...] = (1,)
    blur_p: float = 0.0
    blur_sigma: tuple[float, float] = (0.5, 1.5)
    noise_p: float = 0.0
    noise_sigma: tuple[float, float] = (0.005, 0.03)
    jpeg_p: float = 0.0
    jpeg_quality: tuple[int, int] = (40, 95)

    def __post_init__(self) -> None:
        self.factors = tuple(self.factors)
        if not self.factors or any(isinstance(f, bool) or int(f) != f or f < 1 for f in self.factors):
            raise ValueError(f"factors must be integers >= 1, got {self.factors}")
        for name in ("blur_p", "noise_p", "jpeg_p"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must lie in [0, 1], got {getattr(self, name)}")
        for name, low in (("blur_sigma", 1e-3), ("noise_sigma", 0.0), ("jpeg_quality", 1)):
            lo, hi = getattr(self, name)
            if not low <= lo <= hi or (name == "jpeg_quality" and hi > 100):
                raise ValueError(f"{name} must be an increasing range from {low} (jpeg_quality: up to 100), "
                                 f"got {(lo, hi)}")

    @property
    def active(self) -> bool:
        return self.factors != (1,) or self.blur_p > 0 or self.noise_p > 0 or self.jpeg_p > 0


def _gaussian_blur(image: torch.Tensor, sigma: float) -> torch.Tensor:
    radius = max(1, math.ceil(3 * sigma))
    x = torch.arange(-radius, radius + 1, dtype=image.dtype, device=image.device)
    kernel = torch.exp(-0.5 * (x / sigma) ** 2)
    kernel = kernel / kernel.sum()
    channels = image.shape[0]
    padded = F.pad(image[None], (radius, radius, radius, radius), mode="reflect")
    out = F.conv2d(padded, kernel.view(1, 1, 1, -1).expand(channels, 1, 1, -1), groups=channels)
    return F.conv2d(out, kernel.view(1, 1, -1, 1).expand(channels, 1, -1, 1), groups=channels)[0]


def _jpeg(image: torch.Tensor, quality: int) -> torch.Tensor:
    from PIL import Image

    array = (image.detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255).round().astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="JPEG", quality=int(quality))
    decoded = np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"), dtype=np.float32) / 255
    return torch.from_numpy(decoded).permute(2, 0, 1).to(image)


def random_degradation(images: torch.Tensor, config: Degradations, *,
                       generator: torch.Generator | None = None) -> torch.Tensor:
    """Degrade each face of a batch at random as ``config`` says (see :class:`Degradations`).

    Every random choice comes from torch's generator (``generator`` or the global one), so a training run that
    saves and restores torch's RNG state draws the same degradations after a resume.

    Args:
        images: (B, 3, S, S) faces in [0, 1].
        config: What to draw from.
        generator: Optional CPU generator.

    Returns:
        (B, 3, S, S) degraded faces in [0, 1], same dtype and device.
    """
    if images.ndim != 4:
        raise ValueError(f"random_degradation expects (B, C, H, W), got shape {tuple(images.shape)}")
    count = images.shape[0]

    def uniform(low: float, high: float) -> torch.Tensor:
        return low + (high - low) * torch.rand(count, generator=generator)

    choices = torch.tensor(config.factors)
    factors = choices[torch.randint(len(choices), (count,), generator=generator)]
    blur = torch.rand(count, generator=generator) < config.blur_p
    sigmas = uniform(*config.blur_sigma)
    noisy = torch.rand(count, generator=generator) < config.noise_p
    noise_sigmas = uniform(*config.noise_sigma)
    noise = torch.randn(images.shape, generator=generator)
    jpeg = torch.rand(count, generator=generator) < config.jpeg_p
    qualities = torch.randint(config.jpeg_quality[0], config.jpeg_quality[1] + 1, (count,), generator=generator)

    out = images.clone()
    height, width = images.shape[-2:]
    for factor in factors.unique().tolist():
        if factor > 1:
            pick = (factors == factor).to(images.device)
            low = imresize(images[pick], size=(math.ceil(height / factor), math.ceil(width / factor)), quantize=True)
            out[pick] = imresize(low, size=(height, width), clamp=True).to(out.dtype)
    for i in range(count):
        if blur[i]:
            out[i] = _gaussian_blur(out[i], float(sigmas[i]))
        if noisy[i]:
            out[i] = (out[i] + noise_sigmas[i].item() * noise[i].to(out)).clamp(0, 1)
        if jpeg[i]:
            out[i] = _jpeg(out[i], int(qualities[i]))
    return out
