"""The feedback block of SRFBN (Li et al., *Feedback Network for Image Super-Resolution*, CVPR 2019).

SRFBN's block is a 1x1 convolution over the concatenation of the step's input features and the block's
previous output (the hidden state), followed by ``groups`` projection groups with dense connections:

    L_0 = input;  for g = 1..G:  H_g = up_g(T^L_g([L_0, ..., L_{g-1}]))        (T^L_1 = identity)
                                 L_g = down_g(T^H_g([H_1, ..., H_g]))          (T^H_1 = identity)
    output = 1x1 conv([L_1, ..., L_G])

where ``up`` is a strided transposed convolution to the high resolution, ``down`` a strided convolution back,
and ``T`` 1x1 convolutions that compress the concatenations. :class:`FeedbackBlock` is that block *without* its
first 1x1 convolution: MPENet (Zhang and Liu, IJCB 2022, Sec. 3.1, Eq. (2)) removes it and fuses the input,
the hidden state and the face priors itself; SRFBN's complete block is ``conv_prelu(2C, C, 1)`` over
``[input, hidden]`` followed by this module. The recurrence (feeding the output back) is the caller's, so the
module holds no state.
"""

from __future__ import annotations

import torch
from torch import nn

from faceforge.nn.blocks import PRELU_INIT, conv_prelu, deconv_prelu


def projection_geometry(scale: int) -> tuple[int, int, int]:
    """SRFBN's (kernel, stride, padding) of the up/down projections for an integer ``scale``.

    ``kernel = scale + 4``, ``stride = scale``, ``padding = 2`` (SRFBN's table: x2 -> 6/2/2, x3 -> 7/3/2,
    x4 -> 8/4/2, x8 -> 12/8/2): the transposed convolution maps H to ``scale * H`` exactly and the strided
    convolution maps it back.
    """
    if scale < 1:
        raise ValueError(f"scale must be >= 1, got {scale}")
    return scale + 4, scale, 2


class FeedbackBlock(nn.Module):
    """SRFBN's feedback block without its first convolution: ``groups`` dense up/down projection groups.

    Args:
        channels: feature channels C (MPENet: 48).
        groups: projection groups G (MPENet: 6).
        scale: resolution factor of the projections (the high-resolution side is ``scale`` times the input's).
        prelu_init: initial PReLU slope.

    Shapes:
        (B, C, h, w) -> (B, C, h, w). Inside, the up projections work at (scale * h, scale * w).
    """

    def __init__(self, channels: int, groups: int, scale: int, *, prelu_init: float = PRELU_INIT):
        super().__init__()
        if channels < 1 or groups < 1:
            raise ValueError(f"channels and groups must be >= 1, got {channels}, {groups}")
        kernel, stride, padding = projection_geometry(scale)
        self.groups = groups
        self.up = nn.ModuleList(deconv_prelu(channels, channels, kernel, stride=stride, padding=padding,
                                             prelu_init=prelu_init) for _ in range(groups))
        self.down = nn.ModuleList(conv_prelu(channels, channels, kernel, stride=stride, padding=padding,
                                             prelu_init=prelu_init) for _ in range(groups))
        # T^L_g and T^H_g compress g concatenated maps to C (none for the first group).
        self.compress_low = nn.ModuleList(conv_prelu(channels * g, channels, 1, prelu_init=prelu_init)
                                          for g in range(2, groups + 1))
        self.compress_high = nn.ModuleList(conv_prelu(channels * g, channels, 1, prelu_init=prelu_init)
                                           for g in range(2, groups + 1))
        self.compress_out = conv_prelu(channels * groups, channels, 1, prelu_init=prelu_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        low: list[torch.Tensor] = [x]
        high: list[torch.Tensor] = []
        for g in range(self.groups):
            # H_g = up_g(T^L_g([L_0, ..., L_{g-1}]))
            lr = low[0] if g == 0 else self.compress_low[g - 1](torch.cat(low, dim=1))
            high.append(self.up[g](lr))
            # L_g = down_g(T^H_g([H_1, ..., H_g]))
            hr = high[0] if g == 0 else self.compress_high[g - 1](torch.cat(high, dim=1))
            low.append(self.down[g](hr))
        # output = 1x1 conv([L_1, ..., L_G]): the input L_0 is left out, as in SRFBN.
        return self.compress_out(torch.cat(low[1:], dim=1))
