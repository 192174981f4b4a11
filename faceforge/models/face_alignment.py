"""A 68-landmark face-alignment network: MPENet's alignment branch (Zhang and Liu, IJCB 2022, Sec. 3.1: "a
3x3 convolutional layer followed by three Residual Blocks and two hourglass modules") as a model of its own.

MPENet estimates landmarks from its first, still blurry, recurrent output I_SR^1. Trained jointly from scratch,
as the paper does over 2 epochs, the heatmap regression needs many thousand iterations before it leaves the
all-zero solution; a run at CPU scale is far shorter. This network is therefore trained first on its own, on
FaceForge-Synth faces blurred by bicubic x1-x8 down- and upsampling (the range of what I_SR^1 looks like), and
initialises the branch (``options.align_init`` of the ``mpenet`` task). Eq. (5) is its loss.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F

from faceforge.family import ModelFamily, Shipped
from faceforge.modeling import FaceForgeModel, ModelConfig
from faceforge.nn.heatmaps import decode_radius, heatmap_landmarks
from faceforge.nn.hourglass import FaceAlignmentBranch


@dataclass
class FaceAlignmentConfig(ModelConfig):
    """Sizes of the face-alignment network; the defaults are MPENet's branch for 128x128 faces.

    Attributes:
        image_size: side of the (aligned) faces it reads (128).
        heatmap_size: side of its heatmaps (32: MPENet's feature side at x8).
        points: landmarks (68).
        channels: feature channels (128).
        stacks: hourglass modules (2).
        depth: poolings inside each hourglass (4).
        heatmap_sigma: Gaussian width of the target heatmaps, in heatmap pixels.
    """

    model_type: str = "face_alignment"
    image_size: int = 128
    heatmap_size: int = 32
    points: int = 68
    channels: int = 128
    stacks: int = 2
    depth: int = 4
    heatmap_sigma: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        for name, high in (("image_size", 1024), ("heatmap_size", 1024), ("points", 1024), ("channels", 4096),
                           ("stacks", 8), ("depth", 8)):
            self.check_range(name, low=1, high=high)
        factor = self.image_size // self.heatmap_size
        if self.image_size % self.heatmap_size or factor & (factor - 1) or factor > 8:
            raise ValueError(f"image_size / heatmap_size must be 1, 2, 4 or 8, got {self.image_size} / "
                             f"{self.heatmap_size}")
        if self.heatmap_size % 2**self.depth:
            raise ValueError(f"depth {self.depth} pools the {self.heatmap_size}-pixel heatmaps below one pixel")
        if self.channels % 2:
            raise ValueError(f"channels must be even, got {self.channels}")
        if self.heatmap_sigma <= 0:
            raise ValueError(f"heatmap_sigma must be positive, got {self.heatmap_sigma}")
        self.check_range("heatmap_sigma", low=0.0, high=float(self.heatmap_size))

    @property
    def downsample(self) -> int:
        return self.image_size // self.heatmap_size


class FaceAlignment(FaceForgeModel):
    """Landmark heatmaps of aligned faces.

    Input: (B, 3, S, S) RGB in [0, 1], S = ``config.image_size`` (resized if needed). Output: (B, 68, h, h) the
    last hourglass's heatmaps; :meth:`heatmap_stacks` gives every hourglass's, :meth:`landmarks` the points.
    """

    config_class: ClassVar[type[FaceAlignmentConfig]] = FaceAlignmentConfig
    config: FaceAlignmentConfig

    def __init__(self, config: FaceAlignmentConfig):
        super().__init__(config)
        self.branch = FaceAlignmentBranch(config.channels, config.points, stacks=config.stacks, depth=config.depth,
                                          downsample=config.downsample)

    def output_shapes(self, batch_size: int) -> tuple[int, int, int, int]:
        """(B, points, h, w) heatmaps of the last hourglass."""
        c = self.config
        return (batch_size, c.points, c.heatmap_size, c.heatmap_size)

    @classmethod
    def tiny_config(cls) -> FaceAlignmentConfig:
        return FaceAlignmentConfig(image_size=32, heatmap_size=8, channels=8, stacks=1, depth=2)

    def heatmap_stacks(self, images: torch.Tensor) -> list[torch.Tensor]:
        """One (B, 68, h, h) heatmap tensor per hourglass (Eq. 5 supervises each)."""
        size = self.config.image_size
        if images.shape[-2:] != (size, size):
            images = F.interpolate(images, size=size, mode="bilinear", antialias=True, align_corners=False)
        return self.branch(images)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.heatmap_stacks(images)[-1]

    @torch.no_grad()
    def landmarks(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 68, 2) x, y landmarks in pixels of ``config.image_size`` faces."""
        return heatmap_landmarks(self(images).float(), image_size=self.config.image_size,
                                 radius=decode_radius(self.config.heatmap_sigma))


def blur_by_resampling(images: torch.Tensor, factors: torch.Tensor) -> torch.Tensor:
    """Each face brought down by its factor with MATLAB bicubic and back up (bicubic): what a x``factor``
    super-resolution input looks like once upsampled.

    Args:
        images: (B, 3, S, S) in [0, 1].
        factors: (B,) integer factors; 1 leaves a face as it is.
    """
    from faceforge.data.degrade import imresize

    out = images.clone()
    side = images.shape[-1]
    for factor in factors.unique().tolist():
        if factor <= 1:
            continue
        pick = factors == factor
        low = imresize(images[pick], size=max(1, math.ceil(side / factor)), quantize=True)
        out[pick] = imresize(low, size=side, clamp=True).to(out.dtype)
    return out


# --- the family's declaration (faceforge/registry.py lists this module) -----------------------------------------
FAMILY = ModelFamily(
    name="face_alignment",
    summary="68-landmark heatmap regression on blurred faces; initialises MPENet's alignment branch",
    networks=(FaceAlignment,),
    tasks={"face_alignment": "faceforge.training.tasks.face_alignment:FaceAlignmentTask"},
    shipped=(Shipped("face-alignment", "68-landmark heatmap network (2 hourglasses) on blurred faces: initialises "
                                       "MPENet's alignment branch"),),
)
