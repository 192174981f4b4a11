"""Stacked hourglass networks (Newell et al., *Stacked Hourglass Networks for Human Pose Estimation*,
ECCV 2016), as face-alignment branches of face super-resolution networks use them (DIC, MPENet).

An hourglass of depth d at resolution h is, recursively:

    up  = R(x)
    low = R(HG_{d-1}(R(maxpool(x))))      (HG_0 = R)
    out = up + upsample_x2(low)

with ``R`` a :class:`~faceforge.nn.blocks.BottleneckResidual`. A stack of them predicts one heatmap per
landmark after each hourglass (intermediate supervision) and feeds the features and heatmaps into the next.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from faceforge.nn.blocks import BottleneckResidual


class Hourglass(nn.Module):
    """One hourglass module.

    Args:
        channels: feature channels (constant throughout).
        depth: number of 2x poolings; the input side must be divisible by ``2 ** depth``.

    Shapes:
        (B, C, H, W) -> (B, C, H, W).
    """

    def __init__(self, channels: int, depth: int):
        super().__init__()
        if depth < 1:
            raise ValueError(f"depth must be >= 1, got {depth}")
        self.skip = BottleneckResidual(channels, channels)
        self.down = BottleneckResidual(channels, channels)
        self.inner = Hourglass(channels, depth - 1) if depth > 1 else BottleneckResidual(channels, channels)
        self.up = BottleneckResidual(channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        low = self.up(self.inner(self.down(F.max_pool2d(x, 2))))
        return self.skip(x) + F.interpolate(low, scale_factor=2, mode="nearest")


class StackedHourglass(nn.Module):
    """``stacks`` hourglasses, each followed by a heatmap head; features and heatmaps of one stack are added
    back (through 1x1 convolutions) to the input of the next (Newell et al.'s intermediate supervision).

    Args:
        channels: feature channels.
        points: heatmaps (landmarks) predicted per stack.
        stacks: number of hourglasses.
        depth: depth of each hourglass.

    Shapes:
        (B, C, h, w) -> a list of ``stacks`` heatmap tensors (B, points, h, w), the last one the final
        prediction.
    """

    def __init__(self, channels: int, points: int, *, stacks: int = 2, depth: int = 4):
        super().__init__()
        if stacks < 1 or points < 1:
            raise ValueError(f"stacks and points must be >= 1, got {stacks}, {points}")
        self.hourglasses = nn.ModuleList(Hourglass(channels, depth) for _ in range(stacks))
        self.features = nn.ModuleList(
            nn.Sequential(BottleneckResidual(channels, channels), nn.Conv2d(channels, channels, 1),
                          nn.ReLU(inplace=True))
            for _ in range(stacks))
        self.heads = nn.ModuleList(nn.Conv2d(channels, points, 1) for _ in range(stacks))
        self.merge_features = nn.ModuleList(nn.Conv2d(channels, channels, 1) for _ in range(stacks - 1))
        self.merge_heatmaps = nn.ModuleList(nn.Conv2d(points, channels, 1) for _ in range(stacks - 1))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        heatmaps = []
        for i, hourglass in enumerate(self.hourglasses):
            y = self.features[i](hourglass(x))
            heatmaps.append(self.heads[i](y))
            if i < len(self.hourglasses) - 1:
                x = x + self.merge_features[i](y) + self.merge_heatmaps[i](heatmaps[-1])
        return heatmaps


class FaceAlignmentBranch(nn.Module):
    """A face-alignment network (MPENet's alignment branch, DIC's): a 3x3 conv, three residual blocks and
    stacked hourglasses.

    The first log2(``downsample``) residual blocks stride by 2, so the heatmaps come out at 1 / ``downsample`` of
    the image side (in MPENet: the resolution of the recurrent features).

    Args:
        channels: feature channels.
        points: landmarks (heatmaps).
        stacks: hourglass modules.
        depth: depth of each hourglass.
        downsample: image side / heatmap side (1, 2, 4 or 8).

    Shapes:
        (B, 3, H, W) -> ``stacks`` tensors (B, points, H / downsample, W / downsample).
    """

    def __init__(self, channels: int, points: int, *, stacks: int, depth: int, downsample: int):
        super().__init__()
        strided = int(math.log2(downsample))
        self.stem = nn.Sequential(nn.Conv2d(3, channels, 3, 1, 1), nn.ReLU(inplace=True))
        self.residuals = nn.Sequential(*(BottleneckResidual(channels, channels, stride=2 if i < strided else 1)
                                         for i in range(3)))
        self.hourglasses = StackedHourglass(channels, points, stacks=stacks, depth=depth)

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        return self.hourglasses(self.residuals(self.stem(images)))
