"""The SRGAN discriminator (Ledig et al., *Photo-Realistic Single Image Super-Resolution Using a Generative
Adversarial Network*, CVPR 2017, Fig. 4), the discriminator of super-resolution GANs that cite it.

Eight 3x3 convolutions with LeakyReLU (slope 0.2), the channels doubling from ``channels`` every two layers and
every second layer striding by 2, batch normalisation on all but the first; then a dense layer of ``hidden``
units, LeakyReLU and a dense layer to one logit. SRGAN flattens its 6x6 map of 96x96 inputs straight into the
dense layer; here an adaptive average pool to ``pooled`` x ``pooled`` comes first, so the network takes any
input size and the dense layer stays the same size (8.4M weights at 128x128 instead of 33.6M).
"""

from __future__ import annotations

import torch
from torch import nn


class SRGANDiscriminator(nn.Module):
    """SRGAN's VGG-style discriminator, returning logits.

    Args:
        in_channels: image channels.
        channels: channels of the first two convolutions (SRGAN: 64).
        stages: pairs of (stride-1, stride-2) convolutions, channels doubling from the second pair (SRGAN: 4,
            i.e. 64, 128, 256, 512); the input side must be divisible by ``2 ** stages``.
        hidden: units of the first dense layer (SRGAN: 1024).
        pooled: side of the adaptive average pool before the dense layers.

    Shapes:
        (B, in_channels, H, W) -> (B,) logits (real > 0).
    """

    def __init__(self, in_channels: int = 3, *, channels: int = 64, stages: int = 4, hidden: int = 1024,
                 pooled: int = 4):
        super().__init__()
        if min(in_channels, channels, stages, hidden, pooled) < 1:
            raise ValueError("in_channels, channels, stages, hidden and pooled must be >= 1")
        layers: list[nn.Module] = [nn.Conv2d(in_channels, channels, 3, 1, 1), nn.LeakyReLU(0.2, inplace=True)]
        c_in = channels
        for stage in range(stages):
            c_out = channels * 2**stage
            for stride in ((2,) if stage == 0 else (1, 2)):  # the first stride-1 convolution is the input layer
                layers += [nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out),
                           nn.LeakyReLU(0.2, inplace=True)]
                c_in = c_out
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(pooled)
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(c_in * pooled * pooled, hidden),
                                        nn.LeakyReLU(0.2, inplace=True), nn.Linear(hidden, 1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.pool(self.features(images))).squeeze(1)
