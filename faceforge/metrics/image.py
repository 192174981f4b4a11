"""PSNR and SSIM on the luminance (Y) channel, as face super-resolution papers report them.

MPENet (Zhang and Liu, IJCB 2022, Sec. 4.1): PSNR and SSIM [Wang et al. 2004] "are computed on the
luminance (Y) channel of the YCbCr space"; IGCN's Table 3 reports the same pair. The conventions here are
those of MATLAB evaluation scripts:

* Y is ITU-R BT.601 luma of MATLAB's ``rgb2ycbcr``: ``Y = 16 + 65.481 R + 128.553 G + 24.966 B`` for RGB in
  [0, 1], so Y lies in [16, 235] and both metrics use a data range of 255.
* SSIM uses an 11x11 Gaussian window with sigma 1.5, K1 = 0.01, K2 = 0.03, population covariances, and
  averages the SSIM map over the pixels where the window fits (Wang et al.'s ``ssim_index``).
* Float images are first rounded to 8 bits (``quantize=True``), as the papers evaluate saved PNG files.

The NumPy functions (:func:`psnr_y`, :func:`ssim_y`) use scikit-image and are the reference for reported
numbers; :func:`batch_psnr_y` and :func:`batch_ssim_y` are differentiable torch versions for training logs.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from skimage.color import rgb2ycbcr
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

__all__ = [
    "ImageQualityMeter",
    "batch_psnr_y",
    "batch_ssim_y",
    "frechet_distance",
    "psnr_y",
    "rgb_to_y",
    "ssim_y",
    "y_channel",
]

# MATLAB rgb2ycbcr, BT.601 "studio swing": Y = 16 + [65.481, 128.553, 24.966] . [R, G, B], RGB in [0, 1].
_Y_OFFSET = 16.0
_Y_WEIGHTS = (65.481, 128.553, 24.966)
DATA_RANGE = 255.0
SSIM_WINDOW, SSIM_SIGMA, SSIM_K1, SSIM_K2 = 11, 1.5, 0.01, 0.03

ImageBatch = torch.Tensor | np.ndarray


def rgb_to_y(x: torch.Tensor) -> torch.Tensor:
    """BT.601 luma of RGB images on MATLAB's 0..255 scale (white -> 235, black -> 16), differentiable.

    Args:
        x: (..., 3, H, W) RGB in [0, 1].

    Returns:
        (..., H, W) Y in [16, 235], not rounded.
    """
    if x.ndim < 3 or x.shape[-3] != 3:
        raise ValueError(f"expected (..., 3, H, W) RGB images, got shape {tuple(x.shape)}")
    weights = torch.tensor(_Y_WEIGHTS, dtype=x.dtype, device=x.device).view(3, 1, 1)
    return _Y_OFFSET + (x * weights).sum(dim=-3)


def _as_rgb_batch(images: ImageBatch, *, quantize: bool) -> np.ndarray:
    """(B, H, W, 3) float64 RGB in [0, 1] from a torch (B, 3, H, W) / (3, H, W) or NumPy (B, H, W, 3) /
    (H, W, 3) batch (uint8, or float in [0, 1])."""
    if isinstance(images, torch.Tensor):
        array = images.detach().to("cpu", torch.float64).numpy()
        if array.ndim == 3:
            array = array[None]
        if array.ndim != 4 or array.shape[1] != 3:
            raise ValueError(f"expected a (B, 3, H, W) or (3, H, W) tensor, got shape {tuple(images.shape)}")
        array = array.transpose(0, 2, 3, 1)
    else:
        array = np.asarray(images)
        if array.ndim == 3:
            array = array[None]
        if array.ndim != 4 or array.shape[-1] != 3:
            raise ValueError(f"expected a (B, H, W, 3) or (H, W, 3) array, got shape {array.shape}")
        if array.dtype == np.uint8:
            return array.astype(np.float64) / 255.0
        if not np.issubdtype(array.dtype, np.floating):
            raise TypeError(f"expected uint8 or float images, got {array.dtype}")
        array = array.astype(np.float64)
    if quantize:
        array = np.round(np.clip(array, 0.0, 1.0) * 255.0) / 255.0
    return array


def y_channel(images: ImageBatch, *, quantize: bool = True, round_y: bool = False) -> np.ndarray:
    """Y channel (scikit-image's ``rgb2ycbcr``, MATLAB's coefficients) of a batch of RGB images.

    Args:
        images: torch (B, 3, H, W) / (3, H, W) in [0, 1], or NumPy (B, H, W, 3) / (H, W, 3) uint8 or float
            in [0, 1].
        quantize: Round float images to 8 bits first (uint8 inputs are exact already).
        round_y: Round Y to integers, as MATLAB's ``rgb2ycbcr`` does for uint8 images.

    Returns:
        (B, H, W) float64 Y in [16, 235].
    """
    rgb = _as_rgb_batch(images, quantize=quantize)
    y = np.stack([rgb2ycbcr(img)[..., 0] for img in rgb])
    return np.round(y) if round_y else y


def _paired_y(
    sr: ImageBatch, hr: ImageBatch, *, crop_border: int, quantize: bool, round_y: bool
) -> tuple[np.ndarray, np.ndarray]:
    sr_y = y_channel(sr, quantize=quantize, round_y=round_y)
    hr_y = y_channel(hr, quantize=quantize, round_y=round_y)
    if sr_y.shape != hr_y.shape:
        raise ValueError(f"image batches differ in shape: {sr_y.shape} vs {hr_y.shape}")
    if crop_border < 0:
        raise ValueError(f"crop_border must be >= 0, got {crop_border}")
    if crop_border:
        crop = (slice(None), slice(crop_border, -crop_border), slice(crop_border, -crop_border))
        sr_y, hr_y = sr_y[crop], hr_y[crop]
    return sr_y, hr_y


def psnr_y(
    sr: ImageBatch, hr: ImageBatch, *, crop_border: int = 0, quantize: bool = True, round_y: bool = False
) -> np.ndarray:
    """Per-image PSNR (dB) on the Y channel: ``10 log10(255^2 / MSE)``.

    Args:
        sr: Restored images (formats as in :func:`y_channel`).
        hr: Ground-truth images, same shape as ``sr``.
        crop_border: Pixels cut from every side before measuring.
        quantize: Round float images to 8 bits first.
        round_y: Round Y to integers (MATLAB on uint8).

    Returns:
        (B,) float64 PSNR values; ``inf`` for identical images.
    """
    sr_y, hr_y = _paired_y(sr, hr, crop_border=crop_border, quantize=quantize, round_y=round_y)
    with np.errstate(divide="ignore"):
        return np.array([peak_signal_noise_ratio(h, s, data_range=DATA_RANGE) for s, h in zip(sr_y, hr_y)])


def ssim_y(
    sr: ImageBatch, hr: ImageBatch, *, crop_border: int = 0, quantize: bool = True, round_y: bool = False
) -> np.ndarray:
    """Per-image SSIM (Wang et al. 2004) on the Y channel: Gaussian 11x11 window, sigma 1.5, K = (0.01, 0.03).

    Args:
        sr: Restored images (formats as in :func:`y_channel`).
        hr: Ground-truth images, same shape as ``sr``.
        crop_border: Pixels cut from every side before measuring.
        quantize: Round float images to 8 bits first.
        round_y: Round Y to integers (MATLAB on uint8).

    Returns:
        (B,) float64 SSIM values, 1 for identical images.
    """
    sr_y, hr_y = _paired_y(sr, hr, crop_border=crop_border, quantize=quantize, round_y=round_y)
    options = dict(
        data_range=DATA_RANGE,
        gaussian_weights=True,
        sigma=SSIM_SIGMA,
        use_sample_covariance=False,
        K1=SSIM_K1,
        K2=SSIM_K2,
    )
    return np.array([structural_similarity(h, s, **options) for s, h in zip(sr_y, hr_y)])


def _paired_y_torch(
    sr: torch.Tensor, hr: torch.Tensor, crop_border: int
) -> tuple[torch.Tensor, torch.Tensor]:
    if sr.shape != hr.shape:
        raise ValueError(f"image batches differ in shape: {tuple(sr.shape)} vs {tuple(hr.shape)}")
    sr_y, hr_y = rgb_to_y(sr), rgb_to_y(hr)
    if crop_border:
        sr_y = sr_y[..., crop_border:-crop_border, crop_border:-crop_border]
        hr_y = hr_y[..., crop_border:-crop_border, crop_border:-crop_border]
    return sr_y, hr_y


def batch_psnr_y(sr: torch.Tensor, hr: torch.Tensor, *, crop_border: int = 0) -> torch.Tensor:
    """Differentiable per-image Y-channel PSNR on tensors (no 8-bit rounding), for training logs.

    Args:
        sr: (B, 3, H, W) restored images in [0, 1].
        hr: (B, 3, H, W) ground truth in [0, 1].
        crop_border: Pixels cut from every side before measuring.

    Returns:
        (B,) PSNR in dB (``inf`` where the images are identical).
    """
    sr_y, hr_y = _paired_y_torch(sr, hr, crop_border)
    mse = (sr_y - hr_y).pow(2).mean(dim=(-2, -1))
    return 10.0 * torch.log10(DATA_RANGE**2 / mse)


@functools.lru_cache(maxsize=8)
def _gaussian_window(size: int, sigma: float) -> torch.Tensor:
    coords = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    g = g / g.sum()
    return torch.outer(g, g)


def batch_ssim_y(sr: torch.Tensor, hr: torch.Tensor, *, crop_border: int = 0) -> torch.Tensor:
    """Differentiable per-image Y-channel SSIM on tensors, the same definition as :func:`ssim_y`.

    Args:
        sr: (B, 3, H, W) restored images in [0, 1]; H, W >= 11 after cropping.
        hr: (B, 3, H, W) ground truth in [0, 1].
        crop_border: Pixels cut from every side before measuring.

    Returns:
        (B,) SSIM values.
    """
    sr_y, hr_y = _paired_y_torch(sr, hr, crop_border)
    x, y = sr_y.reshape(-1, 1, *sr_y.shape[-2:]), hr_y.reshape(-1, 1, *hr_y.shape[-2:])
    window = _gaussian_window(SSIM_WINDOW, SSIM_SIGMA).to(dtype=x.dtype, device=x.device)[None, None]

    def blur(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(t, window)  # 'valid' filtering, as in Wang et al.'s ssim_index

    c1, c2 = (SSIM_K1 * DATA_RANGE) ** 2, (SSIM_K2 * DATA_RANGE) ** 2
    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x**2
    var_y = blur(y * y) - mu_y**2
    cov = blur(x * y) - mu_x * mu_y
    # SSIM map (Wang et al. 2004, Eq. 13).
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    return ssim_map.mean(dim=(-3, -2, -1)).reshape(sr_y.shape[:-2])


@dataclass
class ImageQualityMeter:
    """Collects per-image Y-channel PSNR and SSIM over an evaluation loop and reports their means.

    Attributes:
        crop_border: Pixels cut from every side before measuring.
        quantize: Round float images to 8 bits first.
        psnr: Every PSNR value so far.
        ssim: Every SSIM value so far.
    """

    crop_border: int = 0
    quantize: bool = True
    psnr: list[float] = field(default_factory=list)
    ssim: list[float] = field(default_factory=list)

    def update(self, sr: ImageBatch, hr: ImageBatch) -> None:
        """Adds a batch (formats as in :func:`y_channel`)."""
        options = dict(crop_border=self.crop_border, quantize=self.quantize)
        self.psnr.extend(psnr_y(sr, hr, **options).tolist())
        self.ssim.extend(ssim_y(sr, hr, **options).tolist())

    def compute(self) -> dict[str, float]:
        """Means over all images so far: ``{"psnr": dB, "ssim": value, "count": images}``."""
        if not self.psnr:
            raise ValueError("no images were added")
        return {"psnr": float(np.mean(self.psnr)), "ssim": float(np.mean(self.ssim)), "count": len(self.psnr)}


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """The Fréchet distance between Gaussians fitted to two feature sets (FID, Heusel et al., NIPS 2017, when the
    features are Inception's): ``|mu_a - mu_b|^2 + tr(S_a) + tr(S_b) - 2 tr((S_a S_b)^(1/2))``.

    Args:
        a, b: (N, D) and (M, D) features, one row per image; N, M >= 2.

    ``tr((S_a S_b)^(1/2))`` is computed as the trace of the square root of the symmetric ``S_a^(1/2) S_b S_a^(1/2)``
    (the same eigenvalues), whose eigenvalues are clipped at zero. Like every FID, the value is biased upwards for
    small N: compare figures computed on the same number of images.
    """
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or min(len(a), len(b)) < 2:
        raise ValueError(f"need (N, D) and (M, D) features with N, M >= 2, got {a.shape} and {b.shape}")
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    w, v = np.linalg.eigh(cov_a)
    root_a = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    cross = np.sqrt(np.clip(np.linalg.eigvalsh(root_a @ cov_b @ root_a), 0, None)).sum()
    return float(((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * cross)
