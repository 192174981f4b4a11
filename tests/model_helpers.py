"""Helpers the model tests share: a tiny network with non-default weights, and the tensors of an output."""

from __future__ import annotations

import torch

from faceforge.modeling import FaceForgeModel
from faceforge.registry import get_model_class


def trained_like(model_type: str, seed: int = 0) -> FaceForgeModel:
    """A tiny model whose weights and buffers (BatchNorm statistics) are not the constructor's defaults."""
    torch.manual_seed(seed)
    cls = get_model_class(model_type)
    model = cls(cls.tiny_config())
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.01)
        model.train()
        model(*model.example_inputs(2, seed=seed))  # updates running statistics
    return model.eval()


def tensors(output) -> list[torch.Tensor]:
    """Every tensor in a (nested) forward output."""
    if isinstance(output, torch.Tensor):
        return [output]
    if isinstance(output, dict):
        output = list(output.values())
    if isinstance(output, list | tuple):
        return [t for item in output for t in tensors(item)]
    return []
