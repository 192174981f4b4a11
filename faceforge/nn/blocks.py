"""Small convolutional blocks shared by the networks.

* :func:`conv_prelu` / :func:`deconv_prelu`: a convolution (or transposed convolution) followed by a PReLU, the
  unit SRFBN (Li et al., CVPR 2019) and the recurrent face super-resolution networks built on it (DIC, MPENet)
  are made of. PReLU starts at slope 0.2, as in SRFBN.
* :class:`BottleneckResidual`: the bottleneck residual block of He et al. (CVPR 2016) that stacked hourglasses
  (Newell et al., ECCV 2016) and their face-alignment variants are made of.
"""

from __future__ import annotations

import torch
from torch import nn

PRELU_INIT = 0.2  # SRFBN's initial PReLU slope


def conv_prelu(in_channels: int, out_channels: int, kernel_size: int, *, stride: int = 1,
               padding: int | None = None, prelu_init: float = PRELU_INIT) -> nn.Sequential:
    """``Conv2d`` then ``PReLU`` (one slope shared over channels).

    Args:
        in_channels: input channels.
        out_channels: output channels.
        kernel_size: square kernel side.
        stride: convolution stride.
        padding: zero padding; default ``kernel_size // 2`` ("same" for odd kernels at stride 1).
        prelu_init: initial PReLU slope.

    Returns:
        A module mapping (B, in_channels, H, W) to (B, out_channels, H', W').
    """
    padding = kernel_size // 2 if padding is None else padding
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding),
                         nn.PReLU(init=prelu_init))


def deconv_prelu(in_channels: int, out_channels: int, kernel_size: int, *, stride: int, padding: int,
                 prelu_init: float = PRELU_INIT) -> nn.Sequential:
    """``ConvTranspose2d`` then ``PReLU``.

    Args:
        in_channels: input channels.
        out_channels: output channels.
        kernel_size: square kernel side.
        stride: upsampling factor.
        padding: transposed-convolution padding.
        prelu_init: initial PReLU slope.

    Returns:
        A module mapping (B, in_channels, H, W) to (B, out_channels, (H - 1) * stride - 2 * padding + kernel_size,
        ...).
    """
    return nn.Sequential(nn.ConvTranspose2d(in_channels, out_channels, kernel_size, stride, padding),
                         nn.PReLU(init=prelu_init))


class BottleneckResidual(nn.Module):
    """Bottleneck residual block: 1x1 (to half the output channels), 3x3, 1x1, each followed by a ReLU except
    the last, plus the identity (or a 1x1 projection when the channels or resolution change).

    No normalisation layer: the face-alignment hourglasses of the recurrent face super-resolution networks
    (DIC) train without one, which keeps the block independent of the batch size (MPENet trains with batches
    of 4).

    Args:
        in_channels: input channels.
        out_channels: output channels (even).
        stride: stride of the 3x3 convolution (2 halves the resolution).

    Shapes:
        (B, in_channels, H, W) -> (B, out_channels, H / stride, W / stride).
    """

    def __init__(self, in_channels: int, out_channels: int, *, stride: int = 1):
        super().__init__()
        if out_channels < 2 or out_channels % 2:
            raise ValueError(f"out_channels must be even and >= 2, got {out_channels}")
        mid = out_channels // 2
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, mid, 1), nn.ReLU(inplace=True),
            nn.Conv2d(mid, mid, 3, stride, 1), nn.ReLU(inplace=True),
            nn.Conv2d(mid, out_channels, 1),
        )
        needs_projection = in_channels != out_channels or stride != 1
        self.skip = nn.Conv2d(in_channels, out_channels, 1, stride) if needs_projection else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.skip(x) + self.body(x)
