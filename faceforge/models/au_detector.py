"""The AU detector: a timm ResNet-18 over the faceforge AUs, as MPENet's AU branch
(Zhang and Liu, "Face Super-Resolution with Progressive Embedding of Multi-scale Face Priors", IJCB 2022:
"we use ResNet-18 as AU classifier").

Trained with the weighted multi-label cross-entropy + weighted Dice loss of MPENet Eq. (6)-(8)
(``faceforge.losses.au``). It supervises IGCN, MPENet and the editing models; a separately trained instance
with another backbone is the *evaluator* that scores their outputs: ``au-evaluator-robust`` (trained on degraded
faces, the judge of restored ones) and ``au-evaluator`` (sharp faces only, the stricter second opinion).
"""

from __future__ import annotations

from dataclasses import dataclass

import timm
import torch

from faceforge.face.aus import FACEFORGE_AUS
from faceforge.family import ModelFamily, Shipped
from faceforge.modeling import FaceForgeModel, ModelConfig


@dataclass
class AUDetectorConfig(ModelConfig):
    model_type: str = "au_detector"
    backbone: str = "resnet18"  # any timm architecture name (weights are never downloaded)
    aus: tuple[int, ...] = FACEFORGE_AUS
    image_size: int = 128
    drop_rate: float = 0.1
    threshold: float = 0.5  # probability above which an AU is called present
    # per-AU thresholds in ``aus`` order, chosen on a validation split after training; () = ``threshold`` for all
    thresholds: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.aus:
            raise ValueError("aus must list at least one AU")
        if len(self.aus) > 128:
            raise ValueError(f"AUDetectorConfig.aus must list at most 128 AUs, got {len(self.aus)}")
        if self.thresholds and len(self.thresholds) != len(self.aus):
            raise ValueError(f"thresholds must give one value per AU ({len(self.aus)}), got {len(self.thresholds)}")
        if not all(0 < t < 1 for t in (self.threshold, *self.thresholds)):
            raise ValueError("thresholds must lie in (0, 1)")
        self.check_range("image_size", low=32, high=1024)
        self.check_range("drop_rate", low=0.0, high=1.0)
        if not timm.is_model(self.backbone):
            raise ValueError(f"unknown timm backbone {self.backbone!r}")


class AUDetector(FaceForgeModel):
    """Multi-label AU occurrence detector.

    Input: (B, 3, H, W) RGB in [0, 1] (aligned faces; resized to ``image_size`` if needed).
    Output: (B, n_aus) logits, AU order ``config.aus``.
    """

    config_class = AUDetectorConfig

    def __init__(self, config: AUDetectorConfig):
        super().__init__(config)
        self.net = timm.create_model(config.backbone, pretrained=False, num_classes=len(config.aus),
                                     drop_rate=config.drop_rate)

    def output_shapes(self, batch_size: int) -> tuple[int, int]:
        """(B, n_aus) logits."""
        return (batch_size, len(self.config.aus))

    @classmethod
    def tiny_config(cls) -> AUDetectorConfig:
        return AUDetectorConfig(backbone="resnet10t", image_size=32)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.shape[-1] != self.config.image_size or images.shape[-2] != self.config.image_size:
            images = torch.nn.functional.interpolate(images, size=self.config.image_size, mode="bilinear",
                                                     antialias=True, align_corners=False)
        return self.net((images - 0.5) / 0.25)

    def decision_thresholds(self) -> torch.Tensor:
        """(n_aus,) the probability above which each AU is called present (``thresholds`` or ``threshold``)."""
        values = self.config.thresholds or (self.config.threshold,) * len(self.config.aus)
        return torch.tensor(values, dtype=torch.float32)

    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """Probabilities (B, n_aus) and occurrences (B, n_aus) at the decision thresholds."""
        prob = torch.sigmoid(self(images))
        return {"probability": prob, "occurrence": (prob >= self.decision_thresholds().to(prob.device)).float()}


# --- the family's declaration (faceforge/registry.py lists this module) -----------------------------------------
FAMILY = ModelFamily(
    name="au_detector",
    summary="multi-label facial action unit detection (the AU supervisor and the separately trained AU evaluator)",
    networks=(AUDetector,),
    tasks={"au_detector": "faceforge.training.tasks.au_detector:AUDetectorTask"},
    evaluators={"au_detector": "faceforge.evaluation:evaluate_au_detector"},
    shipped=(
        Shipped("au-detector", "AU detector (ResNet-18), the AU supervisor of restoration and editing",
                roles=("app.au",)),
        Shipped("au-evaluator", "AU evaluator of sharp faces (ResNet-10t): the strict judge of generated faces; "
                                "never used in training", roles=("evaluator.au_sharp",)),
        Shipped("au-evaluator-robust", "AU evaluator of restored faces (ResNet-10t, trained on faces degraded by "
                                       "bicubic x1-x8, blur, noise and JPEG); never used in training",
                roles=("evaluator.au",)),
    ),
)
