"""The expression classifier: a VGG-style BaseNet over the eight faceforge expressions.

GroupGAN (Niu et al., "GroupGAN for weak expression recognition via expression magnification", Knowledge-Based
Systems 2022, Table "BaseNet") compares AlexNet and VGG11-19 as its recognition
backbone and finds VGG13 best; this is VGG13's layout (two 3x3 convs per stage, five stages) with batch norm,
a width multiplier so it trains on a CPU, and global average pooling. Its intermediate features are the
offline perceptual feature space of faceforge (no ImageNet weights can be downloaded here).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from faceforge.face.expressions import EXPRESSIONS
from faceforge.family import ModelFamily, Shipped
from faceforge.modeling import FaceForgeModel, ModelConfig

VGG_LAYOUTS: dict[str, tuple[int, ...]] = {
    "vgg11": (1, 1, 2, 2, 2),
    "vgg13": (2, 2, 2, 2, 2),
    "vgg16": (2, 2, 3, 3, 3),
}
VGG_WIDTHS = (64, 128, 256, 512, 512)


@dataclass
class ExpressionClassifierConfig(ModelConfig):
    model_type: str = "expression_classifier"
    layout: str = "vgg13"
    width: float = 0.25  # multiplies VGG's 64-128-256-512-512 channels
    classes: tuple[str, ...] = EXPRESSIONS
    image_size: int = 128
    dropout: float = 0.3

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.layout not in VGG_LAYOUTS:
            raise ValueError(f"layout must be one of {sorted(VGG_LAYOUTS)}, got {self.layout!r}")
        if not 0 < self.width <= 4:
            raise ValueError(f"width must be in (0, 4], got {self.width}")
        if len(self.classes) < 2:
            raise ValueError("classes must name at least two expressions")
        if len(self.classes) > 1024:
            raise ValueError(f"ExpressionClassifierConfig.classes must name at most 1024 classes, "
                             f"got {len(self.classes)}")
        self.check_range("image_size", low=32, high=1024)  # five poolings
        self.check_range("dropout", low=0.0, high=1.0)


class ExpressionClassifier(FaceForgeModel):
    """Expression recognition BaseNet.

    Input: (B, 3, H, W) RGB in [0, 1]. Output: (B, n_classes) logits, class order ``config.classes``.
    ``features(x)`` returns the five stage outputs (for perceptual losses) and the pooled embedding.
    """

    config_class = ExpressionClassifierConfig

    def __init__(self, config: ExpressionClassifierConfig):
        super().__init__(config)
        stages, in_ch = [], 3
        for n_convs, base in zip(VGG_LAYOUTS[config.layout], VGG_WIDTHS):
            out_ch = max(8, int(round(base * config.width)))
            layers: list[nn.Module] = []
            for _ in range(n_convs):
                layers += [nn.Conv2d(in_ch, out_ch, 3, padding=1, bias=False), nn.BatchNorm2d(out_ch),
                           nn.ReLU(inplace=True)]
                in_ch = out_ch
            stages.append(nn.Sequential(*layers))
        self.stages = nn.ModuleList(stages)
        self.pool = nn.MaxPool2d(2)
        self.head = nn.Sequential(nn.Dropout(config.dropout), nn.Linear(in_ch, len(config.classes)))
        self.embedding_dim = in_ch

    def output_shapes(self, batch_size: int) -> tuple[int, int]:
        """(B, n_classes) logits."""
        return (batch_size, len(self.config.classes))

    @classmethod
    def tiny_config(cls) -> ExpressionClassifierConfig:
        return ExpressionClassifierConfig(layout="vgg11", width=0.0625, image_size=32)

    def features(self, images: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Stage outputs [(B, C_k, H/2^k, W/2^k)] before each pooling, and the (B, C) pooled embedding."""
        if images.shape[-1] != self.config.image_size or images.shape[-2] != self.config.image_size:
            images = torch.nn.functional.interpolate(images, size=self.config.image_size, mode="bilinear",
                                                     antialias=True, align_corners=False)
        x = (images - 0.5) / 0.25
        feats = []
        for stage in self.stages:
            x = stage(x)
            feats.append(x)
            x = self.pool(x)
        return feats, x.mean((2, 3))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(images)[1])


# --- the family's declaration (faceforge/registry.py lists this module) -----------------------------------------
FAMILY = ModelFamily(
    name="expression",
    summary="expression recognition over the eight faceforge expressions (supervisor, perceptual features, evaluator)",
    networks=(ExpressionClassifier,),
    tasks={"expression_classifier": "faceforge.training.tasks.expression:ExpressionTask"},
    evaluators={"expression_classifier": "faceforge.evaluation:evaluate_expression_classifier"},
    shipped=(
        Shipped("expression-classifier",
                "expression classifier (VGG13 BaseNet): supervisor and perceptual features", roles=("app.expression",)),
        Shipped("expression-evaluator", "expression evaluator (VGG11): scores expressions of generated faces",
                roles=("evaluator.expression",)),
    ),
)
