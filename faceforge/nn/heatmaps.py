"""Landmark heatmaps: Gaussian targets from landmark coordinates and coordinates back from heatmaps.

A heatmap of side (h, w) covers an image of side (H, W); pixel centres are at integers in both, so image
coordinate ``x`` is heatmap coordinate ``(x + 0.5) * w / W - 0.5`` (and back). Targets are unnormalised
Gaussians, 1 at the landmark:

    G_k(u, v) = exp(-((u - x_k)^2 + (v - y_k)^2) / (2 sigma^2)),   sigma in heatmap pixels.

Decoding (:func:`heatmap_landmarks`) takes each heatmap's arg-max pixel and refines it to sub-pixel precision
with the mean of the pixel coordinates in a (2r + 1)^2 window around it, weighted by the non-negative heatmap
values (a local soft-argmax). On a target Gaussian with ``r >= 3 sigma`` this recovers the landmark to a few
hundredths of a heatmap pixel; near a border the window shrinks to stay symmetric, and the error grows to at
most about half a heatmap pixel. A global soft-argmax would be pulled towards the centre by the
background of a predicted heatmap.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch


def _pair(value: int | Sequence[int]) -> tuple[int, int]:
    h, w = (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))
    if h < 1 or w < 1:
        raise ValueError(f"sizes must be positive, got {value}")
    return h, w


def landmark_heatmaps(landmarks: torch.Tensor, *, size: int | Sequence[int], image_size: int | Sequence[int],
                      sigma: float = 1.0) -> torch.Tensor:
    """Gaussian heatmaps of landmarks (the targets of a heatmap regression loss).

    Args:
        landmarks: (B, N, 2) x, y pixel coordinates in an image of ``image_size``.
        size: (h, w) or side of the heatmaps.
        image_size: (H, W) or side of the image the landmarks are in.
        sigma: Gaussian standard deviation in heatmap pixels.

    Returns:
        (B, N, h, w) heatmaps in (0, 1], the landmarks' dtype and device.
    """
    if sigma <= 0:
        raise ValueError(f"sigma must be positive, got {sigma}")
    h, w = _pair(size)
    img_h, img_w = _pair(image_size)
    lm = landmarks if landmarks.is_floating_point() else landmarks.float()
    x = (lm[..., 0] + 0.5) * (w / img_w) - 0.5  # (B, N), heatmap pixels
    y = (lm[..., 1] + 0.5) * (h / img_h) - 0.5
    us = torch.arange(w, dtype=lm.dtype, device=lm.device)
    vs = torch.arange(h, dtype=lm.dtype, device=lm.device)
    gx = torch.exp(-((us - x[..., None]) ** 2) / (2 * sigma**2))  # (B, N, w)
    gy = torch.exp(-((vs - y[..., None]) ** 2) / (2 * sigma**2))  # (B, N, h)
    return gy[..., :, None] * gx[..., None, :]  # separable: exp(-(dx^2 + dy^2) / 2 sigma^2)


def decode_radius(sigma: float) -> int:
    """The window radius :func:`heatmap_landmarks` should use for heatmaps of Gaussian width ``sigma``."""
    return max(1, math.ceil(3 * sigma))


def heatmap_landmarks(heatmaps: torch.Tensor, *, image_size: int | Sequence[int], radius: int = 3
                      ) -> torch.Tensor:
    """Landmark coordinates from heatmaps: arg-max, refined by a local soft-argmax.

    Args:
        heatmaps: (B, N, h, w) heatmaps (larger = more likely).
        image_size: (H, W) or side of the image the coordinates are returned in.
        radius: half-width of the refinement window in heatmap pixels (``decode_radius(sigma)`` for
            Gaussians of width ``sigma``).

    Returns:
        (B, N, 2) x, y pixel coordinates in the image, the heatmaps' dtype. Differentiable with respect to the
        heatmap values in the window (not to the arg-max choice). Where every value in the window is <= 0, the
        arg-max pixel itself is returned.
    """
    if heatmaps.ndim != 4:
        raise ValueError(f"heatmaps must be (B, N, h, w), got {tuple(heatmaps.shape)}")
    if radius < 0:
        raise ValueError(f"radius must be >= 0, got {radius}")
    b, n, h, w = heatmaps.shape
    img_h, img_w = _pair(image_size)
    flat = heatmaps.reshape(b, n, h * w)
    peak = flat.argmax(dim=-1)  # (B, N)
    py, px = peak // w, peak % w
    offsets = torch.arange(-radius, radius + 1, device=heatmaps.device)
    ys = py[..., None] + offsets  # (B, N, K)
    xs = px[..., None] + offsets
    # The window is shrunk symmetrically near the borders (a one-sided window would pull the mean inwards).
    reach_y = torch.minimum(py, h - 1 - py).clamp(max=radius)[..., None]  # (B, N, 1)
    reach_x = torch.minimum(px, w - 1 - px).clamp(max=radius)[..., None]
    valid = (offsets.abs() <= reach_y)[..., :, None] & (offsets.abs() <= reach_x)[..., None, :]  # (B, N, K, K)
    index = ys.clamp(0, h - 1)[..., :, None] * w + xs.clamp(0, w - 1)[..., None, :]
    values = flat.gather(-1, index.reshape(b, n, -1)).reshape(index.shape)
    weights = values.clamp(min=0) * valid
    total = weights.sum(dim=(-2, -1))
    dtype = heatmaps.dtype
    mean_y = (weights * ys[..., :, None].to(dtype)).sum(dim=(-2, -1))
    mean_x = (weights * xs[..., None, :].to(dtype)).sum(dim=(-2, -1))
    empty = total <= 0
    safe = torch.where(empty, torch.ones_like(total), total)
    u = torch.where(empty, px.to(dtype), mean_x / safe)
    v = torch.where(empty, py.to(dtype), mean_y / safe)
    # Heatmap pixels -> image pixels (pixel centres at integers in both).
    return torch.stack([(u + 0.5) * (img_w / w) - 0.5, (v + 0.5) * (img_h / h) - 0.5], dim=-1)
