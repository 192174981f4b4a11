"""The exponential moving average of a network that the loop keeps for a task's ``ema`` networks."""

from __future__ import annotations

import copy

import torch
from torch import nn


class EMA:
    """Exponential moving average of a network's parameters (buffers are copied).

    After each update of the source network: ``ema = decay * ema + (1 - decay) * param``.
    """

    def __init__(self, module: nn.Module, decay: float):
        if not 0 <= decay < 1:
            raise ValueError(f"decay must be in [0, 1), got {decay}")
        self.decay = decay
        self.module = copy.deepcopy(module).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, source: nn.Module) -> None:
        ema_params = dict(self.module.named_parameters())
        for name, param in source.named_parameters():
            ema = ema_params[name]
            ema.mul_(self.decay).add_(param.detach().to(ema.dtype), alpha=1 - self.decay)
        ema_buffers = dict(self.module.named_buffers())
        for name, buffer in source.named_buffers():
            ema_buffers[name].copy_(buffer)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.module.state_dict()

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.module.load_state_dict(state, strict=True)
