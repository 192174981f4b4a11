"""MPENet and MPEGAN: *Face Super-Resolution with Progressive Embedding of Multi-scale Face Priors*
(Chenggong Zhang and Zhilei Liu, IJCB 2022), x8 face super-resolution (16x16 -> 128x128).

A recurrent network unfolded over T = 3 steps (Sec. 3.1, Fig. 1). Every step t runs

    F_sf^t  = H_SFE(I_LR)                                   (1)  3x3 conv + pixel shuffle
    F_fb^t  = H_PERB(F_sf^t, F_fb^{t-1}, F_prior)           (2)  1x1 + 3x3 fusion, SRFBN feedback block
    I_res^t = H_RECB(F_fb^t)                                (3)  deconvolution + 3x3 conv
    I_SR^t  = I_res^t + H_UP(I_LR)                          (4)  H_UP: bilinear upsampling

and two prior branches feed the later steps:

* face alignment on I_SR^1 (3x3 conv, three residual blocks, two hourglasses; Eq. (5) is its heatmap loss):
  its 68 heatmaps are the *shape prior* of steps 2 and 3;
* AU detection on I_SR^2 (ResNet-18, :class:`~faceforge.models.au_detector.AUDetector`; Eq. (6)-(8) is its
  loss): each predicted AU probability becomes a feature map, multiplied by the AU's attention map built from
  the landmarks of the alignment branch (JAA-Net's rules, :func:`~faceforge.face.aus.au_attention_maps`): the
  *texture prior* of step 3.

The training losses (Eq. (5)-(13)) are in ``faceforge/training/tasks/mpenet.py``. MPEGAN is the same generator
trained further against :class:`MPEGANDiscriminator` with perceptual and adversarial losses.

Reading of the parts the paper leaves open (each is a config field):

* Weights are shared over the steps (a recurrent network). "No prior information and hidden state at the first
  iteration": the fusion layer always sees ``[F_sf, F_fb^{t-1}, shape prior, texture prior]`` with zeros for
  what a step does not have yet (step 1: hidden state and both priors; step 2: the texture prior), which is the
  same as leaving those inputs out. Steps after the one that introduces a prior keep it (step 3 sees the
  landmarks and the AUs).
* Eq. (1) gives the same F_sf at every step (the same layers on the same input); it is computed once.
* Features live at twice the LR resolution (the pixel shuffle is x2, as DIC's); the feedback block and the
  reconstruction deconvolution upsample by the remaining x4. The alignment branch brings I_SR^1 down to that
  same resolution (two of its residual blocks stride by 2), so its heatmaps (32x32 for 128x128 faces, as
  DIC's) are fed to the fusion layer as they are.
* Landmarks are read from the last hourglass's heatmaps by arg-max with a local soft-argmax refinement
  (:func:`~faceforge.nn.heatmaps.heatmap_landmarks`); they only build the attention maps and are detached.
* The AU feature maps hold the predicted AU *probabilities* (sigmoid of the logits).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, TypedDict

import timm
import torch
import torch.nn.functional as F
from torch import nn

from faceforge.face.aus import AU_CENTRE_RULES, FACEFORGE_AUS, au_attention_maps
from faceforge.family import ModelFamily, Paper, Shipped, Tab
from faceforge.modeling import FaceForgeModel, ModelConfig
from faceforge.models.au_detector import AUDetector, AUDetectorConfig
from faceforge.nn.blocks import conv_prelu, deconv_prelu
from faceforge.nn.discriminator import SRGANDiscriminator
from faceforge.nn.feedback import FeedbackBlock, projection_geometry
from faceforge.nn.heatmaps import decode_radius, heatmap_landmarks
from faceforge.nn.hourglass import FaceAlignmentBranch

# The variants of the paper's ablation study (Table 4): (use_landmarks, use_aus, au_attention).
ABLATIONS: dict[str, tuple[bool, bool, bool]] = {
    "baseline": (False, False, False),  # no alignment and no AU branch
    "landmarks": (True, False, False),  # + landmarks
    "landmarks_aus": (True, True, False),  # + landmarks + AUs (AU maps without attention)
    "full": (True, True, True),  # + landmarks + AUs + attention maps: MPENet
}


@dataclass
class MPENetConfig(ModelConfig):
    """Every size of MPENet; the defaults are the paper's x8 model.

    Attributes:
        image_size: HR side (128); the LR input side is ``image_size // scale``.
        scale: upscaling factor (8).
        channels: feature channels of the super-resolution branch (48).
        groups: projection groups of the feedback block (6).
        steps: unfolded recurrent steps (3); the landmark prior needs >= 2, the AU prior >= 3.
        shuffle_scale: pixel-shuffle factor of the shallow feature extractor (2: features at 2x the LR side).
        prelu_init: initial PReLU slope (SRFBN's 0.2).
        use_landmarks: face-alignment branch and shape prior (Table 4, "+landmarks").
        use_aus: AU branch and texture prior (Table 4, "+AUs").
        au_attention: multiply the AU maps by AU attention maps (Table 4, "+attention maps").
        n_landmarks: heatmaps of the alignment branch (68; the attention maps need the 68-point layout).
        align_channels: channels of the alignment branch.
        align_stacks: hourglass modules of the alignment branch (2).
        hourglass_depth: poolings inside each hourglass (4).
        heatmap_sigma: Gaussian width of the target heatmaps, in heatmap pixels (also sets the decoding window).
        detach_priors: feed the priors to the SR branch without a gradient path back into the alignment and AU
            branches, so those learn from their own losses only (Eq. 5-8; both still reach the SR steps through
            I_SR^1 and I_SR^2). With the path open, L_rec turned the heatmaps into free features: the landmark
            error of the alignment branch rose from 7 to 60 px within 500 iterations (CPU-scale schedule).
        aus: the AUs of the AU branch, in its output order.
        au_backbone: timm architecture of the AU branch ("resnet18").
        au_image_size: side the AU branch resizes its input to.
        au_drop_rate: dropout before the AU branch's classifier.
    """

    model_type: str = "mpenet"
    image_size: int = 128
    scale: int = 8
    channels: int = 48
    groups: int = 6
    steps: int = 3
    shuffle_scale: int = 2
    prelu_init: float = 0.2
    use_landmarks: bool = True
    use_aus: bool = True
    au_attention: bool = True
    n_landmarks: int = 68
    align_channels: int = 128
    align_stacks: int = 2
    hourglass_depth: int = 4
    heatmap_sigma: float = 1.0
    detach_priors: bool = True
    aus: tuple[int, ...] = FACEFORGE_AUS
    au_backbone: str = "resnet18"
    au_image_size: int = 128
    au_drop_rate: float = 0.1

    def __post_init__(self) -> None:
        super().__post_init__()
        for name, high in (("image_size", 1024), ("scale", 16), ("channels", 4096), ("groups", 64), ("steps", 16),
                           ("shuffle_scale", 16), ("n_landmarks", 1024), ("align_stacks", 8), ("hourglass_depth", 8)):
            self.check_range(name, low=1, high=high)
        self.check_range("prelu_init", low=-1.0, high=1.0)
        if self.image_size % self.scale:
            raise ValueError(f"image_size {self.image_size} must be divisible by scale {self.scale}")
        if self.scale % self.shuffle_scale:
            raise ValueError(f"scale {self.scale} must be divisible by shuffle_scale {self.shuffle_scale}")
        if self.heatmap_sigma <= 0:
            raise ValueError(f"heatmap_sigma must be positive, got {self.heatmap_sigma}")
        self.check_range("heatmap_sigma", low=0.0, high=float(self.feature_size))
        if self.use_landmarks:
            if self.steps < 2:
                raise ValueError(f"use_landmarks needs steps >= 2 (the shape prior enters step 2), got {self.steps}")
            factor = self.feature_factor
            if factor & (factor - 1) or factor > 8:
                raise ValueError(f"the alignment branch downsamples by scale / shuffle_scale = {factor}, which must "
                                 f"be 1, 2, 4 or 8 (its three residual blocks stride by 2 at most)")
            if self.feature_size % 2**self.hourglass_depth:
                raise ValueError(f"hourglass_depth {self.hourglass_depth} pools the {self.feature_size}-pixel "
                                 f"heatmaps below one pixel; lower it")
            if self.align_channels < 2 or self.align_channels % 2:
                raise ValueError(f"align_channels must be even and >= 2, got {self.align_channels}")
            self.check_range("align_channels", low=2, high=4096)
        if self.use_aus:
            if self.steps < 3:
                raise ValueError(f"use_aus needs steps >= 3 (the texture prior enters step 3), got {self.steps}")
            if not self.aus:
                raise ValueError("aus must list at least one AU")
            if len(self.aus) > 128:
                raise ValueError(f"MPENetConfig.aus must list at most 128 AUs, got {len(self.aus)}")
            if not timm.is_model(self.au_backbone):
                raise ValueError(f"unknown timm au_backbone {self.au_backbone!r}")
            self.check_range("au_image_size", low=32, high=1024)
            self.check_range("au_drop_rate", low=0.0, high=1.0)
        if self.au_attention:
            if not (self.use_landmarks and self.use_aus):
                raise ValueError("au_attention needs use_landmarks and use_aus")
            if self.n_landmarks != 68:
                raise ValueError(f"au_attention needs the 68-point layout, got n_landmarks={self.n_landmarks}")
            unknown = [au for au in self.aus if au not in AU_CENTRE_RULES]
            if unknown:
                raise ValueError(f"aus {unknown} have no attention-map rule")

    @property
    def lr_size(self) -> int:
        """Side of the LR input (16)."""
        return self.image_size // self.scale

    @property
    def feature_size(self) -> int:
        """Side of the recurrent features and of the heatmaps (32)."""
        return self.lr_size * self.shuffle_scale

    @property
    def feature_factor(self) -> int:
        """HR side / feature side: the upscaling of the feedback block and the reconstruction block (4)."""
        return self.scale // self.shuffle_scale

    @property
    def prior_channels(self) -> int:
        """Channels of F_prior in the fusion layer: landmark heatmaps, then AU maps."""
        return self.n_landmarks * self.use_landmarks + len(self.aus) * self.use_aus

    @property
    def variant(self) -> str:
        """The Table 4 row this config is (``"custom"`` for other switch combinations)."""
        switches = (self.use_landmarks, self.use_aus, self.au_attention)
        return next((name for name, value in ABLATIONS.items() if value == switches), "custom")

    @classmethod
    def ablation(cls, variant: str, **fields) -> MPENetConfig:
        """The config of a Table 4 row: ``"baseline"``, ``"landmarks"``, ``"landmarks_aus"`` or ``"full"``."""
        if variant not in ABLATIONS:
            raise ValueError(f"unknown MPENet variant {variant!r}; the variants are {', '.join(ABLATIONS)}")
        use_landmarks, use_aus, au_attention = ABLATIONS[variant]
        return cls(use_landmarks=use_landmarks, use_aus=use_aus, au_attention=au_attention, **fields)


class MPENetOutput(TypedDict):
    """What :meth:`MPENet.forward` returns (keys in this order; absent branches give None).

    Keys:
        sr: (B, 3, H, W) the last step's output I_SR^T, the restored face.
        steps: T tensors (B, 3, H, W), I_SR^1 .. I_SR^T (Table 3 compares them).
        heatmaps: (B, n_landmarks, h, w) the last hourglass's heatmaps of I_SR^1 (h = w = feature side).
        heatmap_stacks: one (B, n_landmarks, h, w) per hourglass (intermediate supervision of Eq. (5)).
        landmarks: (B, n_landmarks, 2) x, y pixel coordinates in the HR image, decoded from ``heatmaps``.
        au_logits: (B, n_aus) AU logits of I_SR^2, order ``config.aus``.
    """

    sr: torch.Tensor
    steps: tuple[torch.Tensor, ...]
    heatmaps: torch.Tensor | None
    heatmap_stacks: tuple[torch.Tensor, ...] | None
    landmarks: torch.Tensor | None
    au_logits: torch.Tensor | None


class MPENet(FaceForgeModel):
    """MPENet: 16x16 LR faces to 128x128 in three recurrent steps with landmark and AU priors.

    Input: (B, 3, s, s) LR faces in [0, 1], s = ``config.lr_size`` (bicubic x8 downsampling of aligned 128x128
    faces). Output: :class:`MPENetOutput`; ``out["sr"]`` is the restored (B, 3, 128, 128) face (not clamped).
    """

    config_class: ClassVar[type[MPENetConfig]] = MPENetConfig
    config: MPENetConfig

    def __init__(self, config: MPENetConfig):
        super().__init__(config)
        c, init = config.channels, config.prelu_init
        kernel, stride, padding = projection_geometry(config.feature_factor)
        # Eq. (1) H_SFE: a 3x3 conv to r^2 C channels and a pixel shuffle by r (r = 2): C maps at 2x the LR side.
        self.sfe = nn.Sequential(nn.Conv2d(3, c * config.shuffle_scale**2, 3, 1, 1), nn.PReLU(init=init),
                                 nn.PixelShuffle(config.shuffle_scale))
        # Eq. (2) H_PERB: a 1x1 and a 3x3 conv fuse [F_sf, F_fb^{t-1}, F_prior], then SRFBN's feedback block
        # without its first conv (6 groups, 48 channels).
        self.fuse = nn.Sequential(conv_prelu(2 * c + config.prior_channels, c, 1, prelu_init=init),
                                  conv_prelu(c, c, 3, prelu_init=init))
        self.feedback = FeedbackBlock(c, config.groups, config.feature_factor, prelu_init=init)
        # Eq. (3) H_RECB: a deconvolution to the HR side and a 3x3 conv to the RGB residual.
        self.reconstruct = nn.Sequential(deconv_prelu(c, c, kernel, stride=stride, padding=padding, prelu_init=init),
                                         nn.Conv2d(c, 3, 3, 1, 1))
        self.align = (FaceAlignmentBranch(config.align_channels, config.n_landmarks, stacks=config.align_stacks,
                                          depth=config.hourglass_depth, downsample=config.feature_factor)
                      if config.use_landmarks else None)
        self.au_branch = (AUDetector(AUDetectorConfig(backbone=config.au_backbone, aus=config.aus,
                                                      image_size=config.au_image_size,
                                                      drop_rate=config.au_drop_rate))
                          if config.use_aus else None)

    @classmethod
    def tiny_config(cls) -> MPENetConfig:
        """x4 on 32x32 faces (8x8 inputs), 8 channels, 2 groups, a 16-channel depth-2 hourglass, ResNet-10t."""
        return MPENetConfig(image_size=32, scale=4, channels=8, groups=2, align_channels=16, hourglass_depth=2,
                            au_backbone="resnet10t", au_image_size=32)

    def output_shapes(self, batch_size: int) -> dict:
        """:class:`MPENetOutput`'s shapes (None for a branch the config leaves out)."""
        c, b = self.config, batch_size
        image = (b, 3, c.image_size, c.image_size)
        heatmap = (b, c.n_landmarks, c.feature_size, c.feature_size)
        return {"sr": image, "steps": (image,) * c.steps,
                "heatmaps": heatmap if c.use_landmarks else None,
                "heatmap_stacks": (heatmap,) * c.align_stacks if c.use_landmarks else None,
                "landmarks": (b, c.n_landmarks, 2) if c.use_landmarks else None,
                "au_logits": (b, len(c.aus)) if c.use_aus else None}

    def example_inputs(self, batch_size: int = 2, *, seed: int = 0) -> tuple[torch.Tensor, ...]:
        """One (B, 3, s, s) LR batch in [0, 1]."""
        generator = torch.Generator().manual_seed(seed)
        s = self.config.lr_size
        return (torch.rand(batch_size, 3, s, s, generator=generator),)

    # --- priors --------------------------------------------------------------------------------------------------
    def texture_prior(self, au_logits: torch.Tensor, landmarks: torch.Tensor | None) -> torch.Tensor:
        """The AU prior of step 3: one map per AU, its predicted probability times its attention map.

        Args:
            au_logits: (B, n_aus) AU logits, order ``config.aus``.
            landmarks: (B, 68, 2) HR pixel landmarks for the attention maps (ignored without ``au_attention``).

        Returns:
            (B, n_aus, h, w) at the feature side h = w = ``config.feature_size``.
        """
        size = self.config.feature_size
        # "we reshape the predicted AU values into a certain number of feature maps, in which each channel
        # corresponds to an AU"
        maps = torch.sigmoid(au_logits)[:, :, None, None].expand(-1, -1, size, size)
        if self.config.au_attention:
            if landmarks is None:
                raise ValueError("au_attention needs landmarks")
            # "...generate AU attention maps following the rules in [36] and then multiply the AU feature maps
            # by them": a fixed function of the estimated landmarks, so no gradient flows through it.
            attention = au_attention_maps(landmarks.detach(), aus=self.config.aus, map_size=size,
                                          image_size=self.config.image_size)
            maps = maps * attention.to(maps.dtype)
        return maps

    def landmarks_from_heatmaps(self, heatmaps: torch.Tensor) -> torch.Tensor:
        """(B, N, 2) float32 HR pixel landmarks from (B, N, h, w) heatmaps (arg-max + local soft-argmax), detached."""
        return heatmap_landmarks(heatmaps.detach().float(), image_size=self.config.image_size,
                                 radius=decode_radius(self.config.heatmap_sigma))

    # --- forward -------------------------------------------------------------------------------------------------
    def forward(self, lr: torch.Tensor) -> MPENetOutput:
        """Restore LR faces in ``config.steps`` recurrent steps.

        Args:
            lr: (B, 3, s, s) LR faces in [0, 1], s = ``config.lr_size`` (16).

        Returns:
            :class:`MPENetOutput`: ``sr`` (B, 3, H, W), ``steps`` (T x (B, 3, H, W)), ``heatmaps``
            (B, 68, h, w), ``heatmap_stacks``, ``landmarks`` (B, 68, 2) and ``au_logits`` (B, n_aus); the
            branches a variant lacks give None.
        """
        cfg = self.config
        if lr.ndim != 4 or tuple(lr.shape[1:]) != (3, cfg.lr_size, cfg.lr_size):
            raise ValueError(f"MPENet takes (B, 3, {cfg.lr_size}, {cfg.lr_size}) LR faces, got {tuple(lr.shape)}")
        b, size = lr.shape[0], cfg.feature_size
        upsampled = F.interpolate(lr, scale_factor=cfg.scale, mode="bilinear", align_corners=False)  # H_UP
        shallow = self.sfe(lr)  # Eq. (1), the same at every step
        hidden = shallow.new_zeros(b, cfg.channels, size, size)  # no hidden state at step 1
        shape_prior = shallow.new_zeros(b, cfg.n_landmarks * cfg.use_landmarks, size, size)
        texture_prior = shallow.new_zeros(b, len(cfg.aus) * cfg.use_aus, size, size)
        outputs: list[torch.Tensor] = []
        stacks = landmarks = au_logits = None
        for step in range(1, cfg.steps + 1):
            # Eq. (2): F_fb^t = H_PERB(F_sf^t, F_fb^{t-1}, F_prior)
            hidden = self.feedback(self.fuse(torch.cat([shallow, hidden, shape_prior, texture_prior], dim=1)))
            # Eq. (3)-(4): I_SR^t = H_RECB(F_fb^t) + H_UP(I_LR)
            outputs.append(self.reconstruct(hidden) + upsampled)
            if step == 1 and self.align is not None:
                # Landmarks from I_SR^1 (Eq. 5's H_align); their heatmaps are the shape prior of the next steps.
                stacks = tuple(self.align(outputs[-1]))
                shape_prior = stacks[-1].detach() if cfg.detach_priors else stacks[-1]
                landmarks = self.landmarks_from_heatmaps(stacks[-1])
            if step == 2 and self.au_branch is not None:
                # AUs from I_SR^2; their (attention-weighted) maps are the texture prior of step 3.
                au_logits = self.au_branch(outputs[-1])
                texture_prior = self.texture_prior(au_logits.detach() if cfg.detach_priors else au_logits, landmarks)
        return MPENetOutput(sr=outputs[-1], steps=tuple(outputs), heatmaps=stacks[-1] if stacks else None,
                            heatmap_stacks=stacks, landmarks=landmarks, au_logits=au_logits)

    @torch.no_grad()
    def restore(self, lr: torch.Tensor) -> torch.Tensor:
        """The restored faces (B, 3, H, W), clamped to [0, 1]."""
        return self(lr)["sr"].clamp(0, 1)


# --- MPEGAN's discriminator ----------------------------------------------------------------------------------------
@dataclass
class MPEGANDiscriminatorConfig(ModelConfig):
    """MPEGAN's discriminator. The paper does not describe it and takes its adversarial loss (Eq. 11-12) from
    SRGAN [19]; this is SRGAN's discriminator (:class:`~faceforge.nn.discriminator.SRGANDiscriminator`).

    Attributes:
        image_size: side of the faces it judges (128).
        channels: channels of the first convolutions (64).
        stages: stride-2 stages, channels doubling (4: 64 -> 512).
        hidden: units of the first dense layer (1024).
        pooled: side of the average pool before the dense layers (4).
    """

    model_type: str = "mpegan_discriminator"
    image_size: int = 128
    channels: int = 64
    stages: int = 4
    hidden: int = 1024
    pooled: int = 4

    def __post_init__(self) -> None:
        super().__post_init__()
        for name, high in (("image_size", 1024), ("channels", 4096), ("stages", 10), ("hidden", 8192), ("pooled", 32)):
            self.check_range(name, low=1, high=high)
        if self.image_size % 2**self.stages:
            raise ValueError(f"image_size {self.image_size} must be divisible by 2 ** stages = {2**self.stages}")
        widest = self.channels * 2 ** (self.stages - 1)
        if widest > 4096:
            raise ValueError(f"MPEGANDiscriminatorConfig.channels * 2 ** (stages - 1), the widest convolution, must "
                             f"be <= 4096, got {widest}")


class MPEGANDiscriminator(FaceForgeModel):
    """Input: (B, 3, S, S) faces in [0, 1]. Output: (B,) logits, > 0 for real."""

    config_class: ClassVar[type[MPEGANDiscriminatorConfig]] = MPEGANDiscriminatorConfig
    config: MPEGANDiscriminatorConfig

    def __init__(self, config: MPEGANDiscriminatorConfig):
        super().__init__(config)
        self.net = SRGANDiscriminator(3, channels=config.channels, stages=config.stages, hidden=config.hidden,
                                      pooled=config.pooled)

    @classmethod
    def tiny_config(cls) -> MPEGANDiscriminatorConfig:
        return MPEGANDiscriminatorConfig(image_size=32, channels=8, stages=2, hidden=16, pooled=2)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net((images - 0.5) / 0.5)

    def output_shapes(self, batch_size: int) -> tuple[int]:
        """(B,) logits."""
        return (batch_size,)


# --- the family's declaration (faceforge/registry.py lists this module) -----------------------------------------
FAMILY = ModelFamily(
    name="mpenet",
    summary="x8 face super-resolution (16x16 -> 128x128) with progressively embedded landmark and AU priors",
    paper=Paper(title="Face Super-Resolution with Progressive Embedding of Multi-scale Face Priors",
                 authors="Chenggong Zhang and Zhilei Liu", venue="IJCB", year=2022),
    networks=(MPENet, MPEGANDiscriminator),
    tasks={"mpenet": "faceforge.training.tasks.mpenet:MPENetTask",
           "mpegan": "faceforge.training.tasks.mpenet:MPEGANTask"},
    evaluators={"mpenet": "faceforge.evaluation:evaluate_super_resolution"},
    shipped=(
        Shipped("mpenet", "MPENet: x8 face super-resolution (16x16 -> 128x128) with landmark and AU priors, "
                          "PSNR-oriented", roles=("app.mpenet",)),
        Shipped("mpegan", "MPEGAN: MPENet trained further with perceptual and adversarial losses",
                roles=("app.mpegan",)),
    ),
    commands=("faceforge.commands.restore",),
    tabs=(Tab("Restoration", "faceforge.demo.restore_tab:build_restore_tab", order=10),),
)
