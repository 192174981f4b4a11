"""SRCNN and VDSR: the generic single-image super-resolution baselines of MPENet's Tables 1-2 (Zhang and Liu,
IJCB 2022), x8 on aligned faces (16x16 -> 128x128). Both refine the bicubic upsampling of the LR face.

* **SRCNN**: Chao Dong, Chen Change Loy, Kaiming He and Xiaoou Tang, *Learning a Deep Convolutional Network for
  Image Super-Resolution*, ECCV 2014. Three convolutions of the bicubic-upsampled image Y (Sec. 3.1):

      F_1(Y) = max(0, W_1 * Y + B_1)          (1)  patch extraction: n_1 = 64 filters of 9x9
      F_2(Y) = max(0, W_2 * F_1(Y) + B_2)     (2)  non-linear mapping: n_2 = 32 filters of 1x1
      F(Y)   = W_3 * F_2(Y) + B_3             (3)  reconstruction: c filters of 5x5

  trained with the mean squared error between F(Y) and the HR image (4).
* **VDSR**: Jiwon Kim, Jung Kwon Lee and Kyoung Mu Lee, *Accurate Image Super-Resolution Using Very Deep
  Convolutional Networks*, CVPR 2016. d = 20 layers of 3x3 convolutions with 64 filters, each but the last
  followed by a ReLU (Sec. 3.1); the last predicts the residual r = y - x between the HR image y and the
  bicubic-upsampled input x, and the output is x + f(x) (Sec. 3.2, residual learning), trained with
  1/2 ||r - f(x)||^2 at a high learning rate made stable by gradient clipping (Sec. 3.2).

Where this setting differs from the papers', and what they leave open:

* Colour: both papers restore the luminance (Y) alone; here the networks map RGB to RGB (c = 3 in Eq. (3),
  which SRCNN's formulation allows), so that the faces stay in colour. PSNR and SSIM are measured on Y.
* Upsampling: MATLAB's bicubic (:func:`~faceforge.data.degrade.imresize`), as both papers prepare their
  inputs; it runs in the input's precision even under autocast, so that bf16 never rounds VDSR's base image.
* Borders: SRCNN trains without padding on 33x33 sub-images and is applied with its borders replicated (the
  authors' test code filters with ``imfilter(..., 'same', 'replicate')``); here every layer pads by
  replication, so the output has the input's size. VDSR pads zeros before every convolution (Sec. 3.1).
* Initialisation: SRCNN's zero-mean Gaussian weights of standard deviation 0.001 and zero biases (Sec. 3.3);
  VDSR's He initialisation, as the paper uses.

The training tasks (``faceforge/training/tasks/sr_baselines.py``) train them on MPENet's data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, TypedDict

import torch
from torch import nn

from faceforge.data.degrade import imresize
from faceforge.face.aus import FACEFORGE_AUS
from faceforge.family import ModelFamily
from faceforge.modeling import FaceForgeModel, ModelConfig


@dataclass
class BicubicSRConfig(ModelConfig):
    """The sizes every network that refines a bicubic upsampling shares (not a model type of its own).

    Attributes:
        image_size: HR side (128); the LR input side is ``image_size // scale``.
        scale: upscaling factor (8).
    """

    image_size: int = 128
    scale: int = 8

    def __post_init__(self) -> None:
        super().__post_init__()
        self.check_range("image_size", low=1, high=1024)
        self.check_range("scale", low=1, high=16)
        if self.image_size % self.scale:
            raise ValueError(f"image_size {self.image_size} must be divisible by scale {self.scale}")

    @property
    def lr_size(self) -> int:
        """Side of the LR input (16)."""
        return self.image_size // self.scale

    @property
    def steps(self) -> int:
        """Outputs the network gives (1: a feed-forward network; MPENet's recurrent steps are its T)."""
        return 1

    @property
    def aus(self) -> tuple[int, ...]:
        """The AU label columns of a dataset that does not name its own (FaceForge-Synth's 18), for scoring the
        restored faces with a separate AU evaluator; the network itself predicts no AUs."""
        return FACEFORGE_AUS


class BicubicSROutput(TypedDict):
    """What :class:`SRCNN` and :class:`VDSR` return, in the layout of MPENet's output that
    :func:`faceforge.evaluation.evaluate_super_resolution` and the restoration pipeline read.

    Keys:
        sr: (B, 3, H, W) the restored face (not clamped).
        steps: ``(sr,)``: the one output of a feed-forward network.
    """

    sr: torch.Tensor
    steps: tuple[torch.Tensor, ...]


class BicubicSR(FaceForgeModel):
    """Base of the networks that restore a face from the bicubic upsampling of its LR input.

    Subclasses build ``body``, a (B, 3, H, W) -> (B, 3, H, W) network, and set ``residual``: whether the body
    predicts the residual added to the upsampled input (VDSR) or the image itself (SRCNN).

    Input: (B, 3, s, s) LR faces in [0, 1], s = ``config.lr_size`` (MATLAB-bicubic x8 downsampling of aligned
    128x128 faces). Output: :class:`BicubicSROutput`; ``out["sr"]`` is the restored (B, 3, 128, 128) face.
    """

    config: BicubicSRConfig
    residual: ClassVar[bool]
    body: nn.Sequential

    def upsample(self, lr: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) MATLAB-bicubic upsampling of the LR faces, not clamped, autocast off."""
        with torch.autocast(device_type=lr.device.type, enabled=False):
            return imresize(lr, size=self.config.image_size)

    def forward(self, lr: torch.Tensor) -> BicubicSROutput:
        """Restore LR faces.

        Args:
            lr: (B, 3, s, s) LR faces in [0, 1], s = ``config.lr_size`` (16).

        Returns:
            :class:`BicubicSROutput`: ``sr`` (B, 3, H, W) and ``steps`` = ``(sr,)``.
        """
        cfg = self.config
        if lr.ndim != 4 or tuple(lr.shape[1:]) != (3, cfg.lr_size, cfg.lr_size):
            raise ValueError(f"{type(self).__name__} takes (B, 3, {cfg.lr_size}, {cfg.lr_size}) LR faces, "
                             f"got {tuple(lr.shape)}")
        upsampled = self.upsample(lr)
        sr = self.body(upsampled)
        if self.residual:
            sr = sr + upsampled
        return BicubicSROutput(sr=sr, steps=(sr,))

    @torch.no_grad()
    def restore(self, lr: torch.Tensor) -> torch.Tensor:
        """The restored faces (B, 3, H, W), clamped to [0, 1]."""
        return self(lr)["sr"].clamp(0, 1)

    def example_inputs(self, batch_size: int = 2, *, seed: int = 0) -> tuple[torch.Tensor, ...]:
        """One (B, 3, s, s) LR batch in [0, 1]."""
        generator = torch.Generator().manual_seed(seed)
        s = self.config.lr_size
        return (torch.rand(batch_size, 3, s, s, generator=generator),)

    def output_shapes(self, batch_size: int) -> dict:
        """:class:`BicubicSROutput`'s shapes."""
        image = (batch_size, 3, self.config.image_size, self.config.image_size)
        return {"sr": image, "steps": (image,)}


# --- SRCNN ---------------------------------------------------------------------------------------------------------
@dataclass
class SRCNNConfig(BicubicSRConfig):
    """SRCNN's sizes; the defaults are the paper's 9-1-5 network with 64 and 32 filters.

    Attributes:
        image_size: HR side (128).
        scale: upscaling factor (8).
        kernel_sizes: filter sizes f_1, f_2, f_3 of Eq. (1)-(3) (9, 1, 5), odd.
        widths: filters n_1, n_2 of Eq. (1)-(2) (64, 32).
        init_std: standard deviation of the Gaussian initial weights (0.001, Sec. 3.3).
    """

    model_type: str = "srcnn"
    kernel_sizes: tuple[int, int, int] = (9, 1, 5)
    widths: tuple[int, int] = (64, 32)
    init_std: float = 1e-3

    def __post_init__(self) -> None:
        super().__post_init__()
        if any(not 1 <= k <= 15 or k % 2 == 0 for k in self.kernel_sizes):
            raise ValueError(f"SRCNNConfig.kernel_sizes must be odd and in [1, 15], got {self.kernel_sizes}")
        if any(not 1 <= n <= 1024 for n in self.widths):
            raise ValueError(f"SRCNNConfig.widths must be in [1, 1024], got {self.widths}")
        if not 0 < self.init_std <= 1:
            raise ValueError(f"SRCNNConfig.init_std must be in (0, 1], got {self.init_std!r}")


class SRCNN(BicubicSR):
    """SRCNN: three convolutions (Eq. 1-3) on the bicubic-upsampled LR face."""

    config_class: ClassVar[type[SRCNNConfig]] = SRCNNConfig
    config: SRCNNConfig
    residual: ClassVar[bool] = False

    def __init__(self, config: SRCNNConfig):
        super().__init__(config)
        (f1, f2, f3), (n1, n2) = config.kernel_sizes, config.widths

        def conv(in_channels: int, out_channels: int, kernel_size: int) -> nn.Conv2d:
            return nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2,
                             padding_mode="replicate")

        self.body = nn.Sequential(
            conv(3, n1, f1), nn.ReLU(inplace=True),  # Eq. (1): patch extraction and representation
            conv(n1, n2, f2), nn.ReLU(inplace=True),  # Eq. (2): non-linear mapping
            conv(n2, 3, f3),  # Eq. (3): reconstruction
        )
        for layer in self.body:
            if isinstance(layer, nn.Conv2d):
                nn.init.normal_(layer.weight, std=config.init_std)
                nn.init.zeros_(layer.bias)

    @classmethod
    def tiny_config(cls) -> SRCNNConfig:
        """x4 on 32x32 faces (8x8 inputs), a 5-1-3 network with 8 and 4 filters."""
        return SRCNNConfig(image_size=32, scale=4, kernel_sizes=(5, 1, 3), widths=(8, 4))


# --- VDSR ----------------------------------------------------------------------------------------------------------
@dataclass
class VDSRConfig(BicubicSRConfig):
    """VDSR's sizes; the defaults are the paper's 20 layers of 64 filters.

    Attributes:
        image_size: HR side (128).
        scale: upscaling factor (8).
        depth: convolutional layers d, the first and the last included (20).
        channels: filters of every layer but the last (64).
    """

    model_type: str = "vdsr"
    depth: int = 20
    channels: int = 64

    def __post_init__(self) -> None:
        super().__post_init__()
        self.check_range("depth", low=2, high=64)
        self.check_range("channels", low=1, high=1024)


class VDSR(BicubicSR):
    """VDSR: ``depth`` 3x3 convolutions that predict the residual of the bicubic-upsampled LR face (Sec. 3)."""

    config_class: ClassVar[type[VDSRConfig]] = VDSRConfig
    config: VDSRConfig
    residual: ClassVar[bool] = True

    def __init__(self, config: VDSRConfig):
        super().__init__(config)
        c = config.channels
        # Sec. 3.1: the first layer operates on the input, d - 2 layers of 64 3x3x64 filters, the last layer
        # reconstructs the residual image; zeros are padded so that every feature map keeps the image's size.
        layers: list[nn.Module] = [nn.Conv2d(3, c, 3, padding=1), nn.ReLU(inplace=True)]
        for _ in range(config.depth - 2):
            layers += [nn.Conv2d(c, c, 3, padding=1), nn.ReLU(inplace=True)]
        layers.append(nn.Conv2d(c, 3, 3, padding=1))
        self.body = nn.Sequential(*layers)
        for layer in self.body:
            if isinstance(layer, nn.Conv2d):
                nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
                nn.init.zeros_(layer.bias)

    @classmethod
    def tiny_config(cls) -> VDSRConfig:
        """x4 on 32x32 faces (8x8 inputs), 4 layers of 8 filters."""
        return VDSRConfig(image_size=32, scale=4, depth=4, channels=8)


# --- the family's declaration (faceforge/registry.py lists this module) -----------------------------------------
# Two papers, both cited above, so no single ``paper``; nothing is shipped: the tasks train rows of MPENet's tables.
FAMILY = ModelFamily(
    name="sr_baselines",
    summary="SRCNN and VDSR on bicubic-upsampled 16x16 faces: the generic x8 baselines of MPENet's Tables 1-2",
    networks=(SRCNN, VDSR),
    tasks={"srcnn": "faceforge.training.tasks.sr_baselines:SRCNNTask",
           "vdsr": "faceforge.training.tasks.sr_baselines:VDSRTask"},
    evaluators={"srcnn": "faceforge.evaluation:evaluate_super_resolution",
                "vdsr": "faceforge.evaluation:evaluate_super_resolution"},
)
