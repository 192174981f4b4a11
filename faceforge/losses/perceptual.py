"""Perceptual loss (Johnson et al. 2016), as MPENet Eq. (10) and the GAN papers use it:

    L_per = sum_k w_k * mean | phi_k(I_SR) - phi_k(I_HR) |

where ``phi_k`` are feature maps of a *frozen, trained* network. The papers take an ImageNet VGG-19; its
weights cannot be downloaded here, so the feature network is a parameter:

* ``PerceptualLoss.from_expression_classifier(path)``: the stage features of faceforge's shipped expression
  classifier (trained on faces: the offline default);
* ``PerceptualLoss.from_timm_vgg19(weights=...)``: timm's VGG-19, only from real weights, a local file or the
  Hub when it can be reached.

A randomly initialised network is never used: both constructors load trained weights or raise.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from faceforge.errors import FaceForgeError

FeatureFn = Callable[[torch.Tensor], Sequence[torch.Tensor]]
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class PerceptualWeightsError(FaceForgeError, FileNotFoundError):
    """No trained weights for the requested feature network."""


class PerceptualLoss(nn.Module):
    """Weighted L1 (or L2) distance between features of a frozen network.

    Args:
        network: the frozen feature network (kept as a sub-module, in eval mode, without gradients).
        features: ``features(images) -> [feature maps]`` for (B, 3, H, W) images in [0, 1].
        layers: which of the returned maps to compare (default: all).
        weights: one weight per compared layer (default: 1 each).
        criterion: ``"l1"`` or ``"l2"``.
        name: what the features are, for logs and model cards.
    """

    def __init__(self, network: nn.Module, features: FeatureFn, *, layers: Sequence[int] | None = None,
                 weights: Sequence[float] | None = None, criterion: str = "l1", name: str = "custom"):
        super().__init__()
        if criterion not in ("l1", "l2"):
            raise ValueError(f"criterion must be 'l1' or 'l2', got {criterion!r}")
        self.network = network.eval().requires_grad_(False)
        self._features = features
        self.layers = tuple(layers) if layers is not None else None
        if weights is not None and self.layers is not None and len(weights) != len(self.layers):
            raise ValueError(f"{len(weights)} weights for {len(self.layers)} layers")
        self.weights = tuple(weights) if weights is not None else None
        self.distance = F.l1_loss if criterion == "l1" else F.mse_loss
        self.name = name

    def train(self, mode: bool = True) -> PerceptualLoss:
        super().train(mode)
        self.network.eval()  # batch-norm statistics of the feature network never change
        return self

    def _select(self, images: torch.Tensor) -> list[torch.Tensor]:
        maps = list(self._features(images))
        return [maps[i] for i in self.layers] if self.layers is not None else maps

    def forward(self, output: torch.Tensor, target: torch.Tensor, *, reduction: str = "mean") -> torch.Tensor:
        """Perceptual distance of (B, 3, H, W) ``output`` to ``target``, both in [0, 1].

        ``reduction``: "mean" over every feature element, or "sum" over each image's feature elements and
        averaged over the batch (the squared norm of MPENet's Eq. 10 with the l2 criterion).
        """
        if reduction not in ("mean", "sum"):
            raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
        with torch.no_grad():
            target_maps = self._select(target)
        output_maps = self._select(output)
        weights = self.weights or (1.0,) * len(output_maps)
        return sum(w * self.distance(o, t) * (o[0].numel() if reduction == "sum" else 1)
                   for w, o, t in zip(weights, output_maps, target_maps))

    @classmethod
    def from_expression_classifier(cls, model: str | os.PathLike | nn.Module = "hub_cards/expression-classifier",
                                   *, layers: Sequence[int] = (1, 2, 3), **kwargs) -> PerceptualLoss:
        """Features of a trained faceforge ``ExpressionClassifier`` (a folder, Hub id or the model itself)."""
        from faceforge.models.expression import ExpressionClassifier

        if not isinstance(model, nn.Module):
            import faceforge
            from faceforge.modeling import ModelLoadError

            try:
                model = faceforge.from_pretrained(model)
            except ModelLoadError as err:
                raise PerceptualWeightsError(f"no trained expression classifier for the perceptual loss: {err}") \
                    from err
        if not isinstance(model, ExpressionClassifier):
            raise TypeError(f"expected an ExpressionClassifier, got {type(model).__name__}")
        return cls(model, lambda x: model.features(x)[0], layers=layers,
                   name=f"expression classifier stages {tuple(layers)}", **kwargs)

    @classmethod
    def from_timm_vgg19(cls, weights: str | os.PathLike | None = None, *, layers: Sequence[int] = (1, 2, 3, 4),
                        **kwargs) -> PerceptualLoss:
        """timm's ImageNet VGG-19 as the papers use it, from ``weights`` (a local .safetensors/.bin file of
        timm's ``vgg19`` state dict) or, when ``weights`` is None, from the Hub (fails offline)."""
        import timm

        if weights is not None:
            path = Path(weights)
            if not path.is_file():
                raise PerceptualWeightsError(f"VGG-19 weights file {path} does not exist")
            overlay = {"file": str(path)}
        else:
            overlay = None
        try:
            net = timm.create_model("vgg19", pretrained=True, features_only=True, pretrained_cfg_overlay=overlay)
        except Exception as err:  # timm raises many kinds (network, missing file, bad checkpoint)
            raise PerceptualWeightsError(
                "ImageNet VGG-19 weights are not available (no local file given and the Hub cannot be reached); "
                "use PerceptualLoss.from_expression_classifier() offline, or pass weights=PATH") from err
        mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
        std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)

        def features(x: torch.Tensor) -> list[torch.Tensor]:
            return net((x - mean.to(x)) / std.to(x))

        return cls(net, features, layers=layers, name="ImageNet VGG-19 (timm)", **kwargs)
