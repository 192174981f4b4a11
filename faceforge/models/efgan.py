"""Cascade EF-GAN: *Cascade EF-GAN: Progressive Facial Expression Editing with Local Focuses* (Rongliang Wu, Gongjie
Zhang, Shijian Lu and Tao Chen, CVPR 2020): an aligned 128x128 face edited to a target expression, given as Action
Unit intensities, by an Expression Transformer with a global and three local branches, a Refiner that fuses them, and
three such EF-GANs in cascade.

**The Expression Transformer** (Sec. 3.1, Fig. 2). A global branch sees the whole face; three local branches see
fixed crops around the eyes (40x92), the nose (40x48) and the mouth (40x60) at 128x128 (Sec. 4.1), each centred on
"the average position of the corresponding key points over all training samples". faceforge aligns every face onto
its canonical 68-landmark template, which is the mean landmark layout of FaceForge-Synth
(:mod:`faceforge.face.template`): the centres are the means of the template's eye (36-47), nose (27-35) and mouth
(48-67) landmarks (:func:`focus_boxes`). Every branch is conditioned on the target AUs (intensities scaled to 0-1,
each AU a constant input map, as GANimation) and outputs colour maps M_C and an attention map M_A, combined with its
input I_in as

    I_init = M_A * M_C + (1 - M_A) * I_in                                                     (1)

(:func:`attend`): M_A = 1 repaints a pixel, M_A = 0 keeps it. "All branches share similar network architectures
without sharing weights": each is GANimation's generator (Pumarola et al., "GANimation: Anatomically-aware Facial
Animation from a Single Image", ECCV 2018): a 7x7 convolution, ``downsamplings`` stride-2 4x4 convolutions doubling
the channels, ``blocks`` residual blocks, as many stride-2 4x4 transposed convolutions, instance normalisation and
ReLU throughout, then a 7x7 convolution with tanh for M_C and one with a sigmoid for M_A.

**The Refiner** (Sec. 3.1). "The outputs of the three local branches are first stitched into a single image according
to their respective locations within a facial image. The stitched image is then concatenated with the output of the
global branch and fed to the Refiner": the stitched image holds each local I_init at its crop's pixels, the mean of
the local outputs where crops overlap (the nose crop meets the eyes' and the mouth's at 128x128) and zeros outside
every crop (:func:`stitch`); the Refiner is the branches' encoder-decoder on these six channels, with ``refiner_blocks``
residual blocks and a 7x7 convolution to a correction added to the global output, that convolution initialised to
zero: the untrained EF-GAN edits as its global branch does, and the Refiner learns what the local branches add. The
paper gives the Refiner's layers in its supplementary material, which is not available: this architecture is
faceforge's reading (a first reading that painted the whole face anew through a tanh produced blurred, checkered
faces after the CPU schedule's 240 generator updates, where the global-only baseline already kept its input).

**The cascade** (Sec. 3.2). K = 3 EF-GANs in sequence, each editing the previous one's output. The k-th is conditioned
on intermediate AUs from the **AU Interpolator**, shared by every stage: pseudo targets y_k = y_src + (k / K)
(y_tgt - y_src) (:func:`pseudo_targets`), their residuals r_k = y_k - y_src, and the Interpolator maps (y_src, r_k)
to AUs on the manifold of real ones (trained against a Wasserstein critic on real AU vectors, :class:`AUCritic`).
The last stage is conditioned on y_tgt itself. Here the Interpolator is an MLP that predicts a correction to the
pseudo target: y_k' = clamp(y_src + r_k + MLP(y_src, r_k), 0, 1).

**The discriminator** is GANimation's WGAN-GP critic on the whole face with an AU-regression head
(:class:`EFGANCritic`); the paper does not mention local discriminators and none is used.

The losses (Eq. (2): adversarial, conditional expression, content, attention and interpolation terms, detailed in the
paper's supplementary material and taken here from GANimation) and the training scheme of Sec. 3.3 are in
``faceforge/training/tasks/efgan.py``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, TypedDict

import torch
from torch import nn

from faceforge.face.aus import FACEFORGE_AUS
from faceforge.face.template import canonical_landmarks
from faceforge.family import ModelFamily, Paper, Shipped, Tab
from faceforge.modeling import FaceForgeModel, ModelConfig

# The local focuses in the Refiner's stitching order, with the template landmarks whose mean centres each crop.
FOCI: tuple[str, ...] = ("eyes", "nose", "mouth")
FOCUS_LANDMARKS: dict[str, range] = {"eyes": range(36, 48), "nose": range(27, 36), "mouth": range(48, 68)}
# Sec. 4.1: (height, width) of the eyes, nose and mouth patches of a 128x128 face.
PAPER_FOCUS_SIZES: tuple[tuple[int, int], ...] = ((40, 92), (40, 48), (40, 60))

Box = tuple[int, int, int, int]  # top, left, height, width


# --- Eq. (1), the local focuses and the stitching ---------------------------------------------------------------------
def attend(colour: torch.Tensor, attention: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    """Eq. (1): I_init = M_A * M_C + (1 - M_A) * I_in.

    Args:
        colour: (B, 3, H, W) M_C in [0, 1].
        attention: (B, 1, H, W) M_A in [0, 1] (broadcast over the channels).
        image: (B, 3, H, W) I_in in [0, 1].
    """
    return attention * colour + (1 - attention) * image


def focus_boxes(image_size: int, sizes: Sequence[tuple[int, int]] = PAPER_FOCUS_SIZES) -> tuple[Box, ...]:
    """The crops of the local focuses, centred on the template's mean eye, nose and mouth landmarks.

    A crop of height h is centred on y when its rows are ``[top, top + h)`` with ``top + (h - 1) / 2`` the nearest
    such centre to y (halves round up); crops are kept inside the image.

    Args:
        image_size: side S of the aligned face.
        sizes: (height, width) of each focus in :data:`FOCI` order, in pixels of the S x S face.

    Returns:
        ``(top, left, height, width)`` per focus; at 128x128 with the paper's sizes ``((35, 18, 40, 92),
        (55, 40, 40, 48), (79, 34, 40, 60))``.
    """
    if len(sizes) != len(FOCI):
        raise ValueError(f"give one (height, width) per focus ({', '.join(FOCI)}), got {len(sizes)}")
    template = canonical_landmarks(image_size)
    boxes = []
    for name, (h, w) in zip(FOCI, sizes, strict=True):
        if not (1 <= h <= image_size and 1 <= w <= image_size):
            raise ValueError(f"the {name} focus {h}x{w} does not fit a {image_size}x{image_size} face")
        x, y = template[list(FOCUS_LANDMARKS[name])].mean(0)
        top = min(max(math.floor(y - (h - 1) / 2 + 0.5), 0), image_size - h)
        left = min(max(math.floor(x - (w - 1) / 2 + 0.5), 0), image_size - w)
        boxes.append((top, left, h, w))
    return tuple(boxes)


def crop(images: torch.Tensor, box: Box) -> torch.Tensor:
    """The ``(top, left, height, width)`` crop of (B, C, H, W) images."""
    top, left, h, w = box
    return images[..., top:top + h, left:left + w]


def stitch(patches: Sequence[torch.Tensor], boxes: Sequence[Box], image_size: int) -> torch.Tensor:
    """The local outputs put back at their crops' pixels: the Refiner's stitched image.

    Args:
        patches: (B, C, h_i, w_i) per focus.
        boxes: the crops they come from (:func:`focus_boxes`).
        image_size: side S of the face.

    Returns:
        (B, C, S, S): each patch at its place, the mean of the patches where crops overlap, 0 outside every crop.
    """
    first = patches[0]
    canvas = first.new_zeros(first.shape[0], first.shape[1], image_size, image_size)
    cover = first.new_zeros(1, 1, image_size, image_size)
    for patch, (top, left, h, w) in zip(patches, boxes, strict=True):
        if tuple(patch.shape[-2:]) != (h, w):
            raise ValueError(f"a {h}x{w} crop cannot hold a patch of {tuple(patch.shape[-2:])}")
        canvas = canvas + nn.functional.pad(patch, (left, image_size - left - w, top, image_size - top - h))
        cover[..., top:top + h, left:left + w] += 1
    return canvas / cover.clamp(min=1)


def pseudo_targets(source: torch.Tensor, target: torch.Tensor, stages: int) -> tuple[torch.Tensor, ...]:
    """Sec. 3.2's pseudo intermediate targets: y_k = y_src + (k / K) (y_tgt - y_src), k = 1 .. K.

    Args:
        source, target: (B, n_aus) AU intensities in [0, 1].
        stages: K.

    Returns:
        K tensors (B, n_aus); with K = 3 the points 1/3, 2/3 and 1 of the way to the target.
    """
    if stages < 1:
        raise ValueError(f"stages must be >= 1, got {stages}")
    return tuple(source + (k / stages) * (target - source) for k in range(1, stages + 1))


# --- the branches and the Refiner -------------------------------------------------------------------------------------
class ResidualBlock(nn.Module):
    """GANimation's residual block: x + IN(conv3x3(ReLU(IN(conv3x3(x)))))."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(channels, channels, 3, 1, 1, bias=False), _norm(channels),
                                  nn.ReLU(inplace=True), nn.Conv2d(channels, channels, 3, 1, 1, bias=False),
                                  _norm(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def _norm(channels: int) -> nn.Module:
    return nn.InstanceNorm2d(channels, affine=True)


def encoder_decoder(in_channels: int, channels: int, downsamplings: int, blocks: int) -> nn.Sequential:
    """GANimation's generator trunk: 7x7 conv, stride-2 4x4 convs (channels doubling), residual blocks, stride-2 4x4
    transposed convs back, instance normalisation and ReLU after every convolution; ``channels`` features out, at the
    input's size (its sides divisible by 2 ** downsamplings)."""
    layers: list[nn.Module] = [nn.Conv2d(in_channels, channels, 7, 1, 3, bias=False), _norm(channels),
                               nn.ReLU(inplace=True)]
    width = channels
    for _ in range(downsamplings):
        layers += [nn.Conv2d(width, 2 * width, 4, 2, 1, bias=False), _norm(2 * width), nn.ReLU(inplace=True)]
        width *= 2
    layers += [ResidualBlock(width) for _ in range(blocks)]
    for _ in range(downsamplings):
        layers += [nn.ConvTranspose2d(width, width // 2, 4, 2, 1, bias=False), _norm(width // 2),
                   nn.ReLU(inplace=True)]
        width //= 2
    return nn.Sequential(*layers)


class ExpressionBranch(nn.Module):
    """One branch of the Expression Transformer: GANimation's generator on a face or a crop of it.

    Shapes:
        image (B, 3, h, w) in [0, 1] and aus (B, n_aus) in [0, 1] -> colour M_C (B, 3, h, w) in [0, 1] and
        attention M_A (B, 1, h, w) in [0, 1].
    """

    def __init__(self, n_aus: int, channels: int, downsamplings: int, blocks: int):
        super().__init__()
        self.trunk = encoder_decoder(3 + n_aus, channels, downsamplings, blocks)
        self.colour = nn.Conv2d(channels, 3, 7, 1, 3)
        self.attention = nn.Conv2d(channels, 1, 7, 1, 3)

    def forward(self, image: torch.Tensor, aus: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, _, h, w = image.shape
        maps = aus[:, :, None, None].to(image.dtype).expand(b, aus.shape[1], h, w)  # one constant map per AU
        features = self.trunk(torch.cat([image * 2 - 1, maps], dim=1))
        return torch.tanh(self.colour(features)) * 0.5 + 0.5, torch.sigmoid(self.attention(features))


class Refiner(nn.Module):
    """The Refiner: the stitched local outputs and the global output (B, 6, S, S) in [0, 1] -> the edit (B, 3, S, S),
    the global output plus a correction whose last convolution starts at zero (an untrained Refiner passes the
    global edit through; a Refiner that paints the face from nothing takes thousands of updates to learn it)."""

    def __init__(self, channels: int, downsamplings: int, blocks: int):
        super().__init__()
        self.trunk = encoder_decoder(6, channels, downsamplings, blocks)
        self.out = nn.Conv2d(channels, 3, 7, 1, 3)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, fused: torch.Tensor) -> torch.Tensor:
        return fused[:, 3:] + self.out(self.trunk(fused * 2 - 1))


# --- EF-GAN ---------------------------------------------------------------------------------------------------------
@dataclass
class EFGANConfig(ModelConfig):
    """One EF-GAN; the defaults are the paper's local focuses with GANimation's generator in every branch.

    Attributes:
        image_size: side of the aligned face (128).
        aus: the AUs of the condition vector, in order (faceforge's 18).
        local: the three local branches and the Refiner; False is the paper's "Baseline" (GANimation: the global
            branch's Eq. (1) output is the edit).
        channels: features after the first convolution of every branch and of the Refiner (GANimation: 64).
        downsamplings: stride-2 stages of the encoder-decoders (GANimation: 2).
        blocks: residual blocks of every branch (GANimation: 6).
        refiner_blocks: residual blocks of the Refiner (not given by the paper).
        focus_sizes: (height, width) of the eyes, nose and mouth crops at ``image_size`` (Sec. 4.1's at 128); each
            side divisible by 2 ** downsamplings.
    """

    model_type: str = "efgan"
    image_size: int = 128
    aus: tuple[int, ...] = FACEFORGE_AUS
    local: bool = True
    channels: int = 64
    downsamplings: int = 2
    blocks: int = 6
    refiner_blocks: int = 2
    focus_sizes: tuple[tuple[int, int], ...] = PAPER_FOCUS_SIZES

    def __post_init__(self) -> None:
        super().__post_init__()
        self.check_range("image_size", low=16, high=1024)
        self.check_range("channels", low=1, high=512)
        self.check_range("downsamplings", low=0, high=5)
        self.check_range("blocks", "refiner_blocks", low=0, high=32)
        if not 1 <= len(self.aus) <= 128 or len(set(self.aus)) != len(self.aus):
            raise ValueError(f"aus must list 1 to 128 distinct AUs, got {self.aus}")
        step = 2 ** self.downsamplings
        sizes = (self.image_size, *(side for size in self.focus_sizes for side in size))
        if any(side % step for side in sizes):
            raise ValueError(f"image_size and focus_sizes must be divisible by 2 ** downsamplings = {step}, got "
                             f"{self.image_size} and {self.focus_sizes}")
        focus_boxes(self.image_size, self.focus_sizes)  # every focus fits the face

    @property
    def boxes(self) -> tuple[Box, ...]:
        """The crops of the local focuses (:func:`focus_boxes`)."""
        return focus_boxes(self.image_size, self.focus_sizes)


class EFGANOutput(TypedDict):
    """What :meth:`EFGAN.forward` returns.

    Keys:
        out: (B, 3, S, S) the edited face in [0, 1] (the Refiner's, or the global I_init without local branches).
        initial: (B, 3, S, S) the global branch's I_init, Eq. (1).
        attention: (B, 1, S, S) the global branch's M_A.
        local: the local branches' I_init, (B, 3, h, w) per focus (eyes, nose, mouth); () without local branches.
        local_attention: their M_A, (B, 1, h, w) per focus; () without local branches.
    """

    out: torch.Tensor
    initial: torch.Tensor
    attention: torch.Tensor
    local: tuple[torch.Tensor, ...]
    local_attention: tuple[torch.Tensor, ...]


class EFGAN(FaceForgeModel):
    """One EF-GAN: the Expression Transformer (a global and three local branches) and the Refiner.

    Input: (B, 3, S, S) aligned faces in [0, 1] and (B, n_aus) target AU intensities in [0, 1] (FACS 0-5 / 5) in
    ``config.aus`` order. Output: :class:`EFGANOutput`.
    """

    config_class: ClassVar[type[EFGANConfig]] = EFGANConfig
    config: EFGANConfig

    def __init__(self, config: EFGANConfig):
        super().__init__(config)
        c, n = config.channels, len(config.aus)
        self.global_branch = ExpressionBranch(n, c, config.downsamplings, config.blocks)
        if config.local:
            self.local_branches = nn.ModuleList(ExpressionBranch(n, c, config.downsamplings, config.blocks)
                                                for _ in FOCI)
            self.refiner = Refiner(c, config.downsamplings, config.refiner_blocks)
        self.boxes = config.boxes

    @classmethod
    def tiny_config(cls) -> EFGANConfig:
        """32x32 faces, 4 channels, one residual block per branch and in the Refiner, crops of 12x24, 8x12, 8x16."""
        return EFGANConfig(image_size=32, channels=4, blocks=1, refiner_blocks=1,
                           focus_sizes=((12, 24), (8, 12), (8, 16)))

    def example_inputs(self, batch_size: int = 2, *, seed: int = 0) -> tuple[torch.Tensor, ...]:
        """(B, 3, S, S) faces and (B, n_aus) target AUs, both uniform in [0, 1]."""
        generator = torch.Generator().manual_seed(seed)
        s = self.config.image_size
        return (torch.rand(batch_size, 3, s, s, generator=generator),
                torch.rand(batch_size, len(self.config.aus), generator=generator))

    def output_shapes(self, batch_size: int) -> dict:
        """:class:`EFGANOutput`'s shapes."""
        s = self.config.image_size
        boxes = self.boxes if self.config.local else ()
        return {"out": (batch_size, 3, s, s), "initial": (batch_size, 3, s, s), "attention": (batch_size, 1, s, s),
                "local": tuple((batch_size, 3, h, w) for _, _, h, w in boxes),
                "local_attention": tuple((batch_size, 1, h, w) for _, _, h, w in boxes)}

    def _check(self, image: torch.Tensor, aus: torch.Tensor) -> None:
        s, n = self.config.image_size, len(self.config.aus)
        if image.ndim != 4 or tuple(image.shape[1:]) != (3, s, s):
            raise ValueError(f"{type(self).__name__} takes (B, 3, {s}, {s}) faces, got {tuple(image.shape)}")
        if aus.ndim != 2 or tuple(aus.shape) != (image.shape[0], n):
            raise ValueError(f"{type(self).__name__} takes ({image.shape[0]}, {n}) AU vectors, got {tuple(aus.shape)}")

    def refiner_input(self, initial: torch.Tensor, local: Sequence[torch.Tensor]) -> torch.Tensor:
        """The Refiner's input: the stitched local outputs (channels 0-2) and the global output (channels 3-5)."""
        return torch.cat([stitch(local, self.boxes, self.config.image_size), initial], dim=1)

    def forward(self, image: torch.Tensor, aus: torch.Tensor) -> EFGANOutput:
        """Edit faces to target AUs.

        Args:
            image: (B, 3, S, S) aligned faces in [0, 1].
            aus: (B, n_aus) target AU intensities in [0, 1].

        Returns:
            :class:`EFGANOutput`.
        """
        self._check(image, aus)
        colour, attention = self.global_branch(image, aus)
        initial = attend(colour, attention, image)  # Eq. (1), global branch
        if not self.config.local:
            return EFGANOutput(out=initial, initial=initial, attention=attention, local=(), local_attention=())
        local, local_attention = [], []
        for branch, box in zip(self.local_branches, self.boxes, strict=True):
            region = crop(image, box)
            colour, attention_map = branch(region, aus)
            local.append(attend(colour, attention_map, region))  # Eq. (1), local branch
            local_attention.append(attention_map)
        out = self.refiner(self.refiner_input(initial, local))
        return EFGANOutput(out=out, initial=initial, attention=attention, local=tuple(local),
                           local_attention=tuple(local_attention))

    @torch.no_grad()
    def edit(self, image: torch.Tensor, source_aus: torch.Tensor, target_aus: torch.Tensor) -> torch.Tensor:
        """The edited faces (B, 3, S, S), clamped to [0, 1]. One EF-GAN edits in one step: ``source_aus`` is not
        needed (the signature is :meth:`CascadeEFGAN.edit`'s)."""
        return self(image, target_aus)["out"].clamp(0, 1)


# --- the AU Interpolator and its critic -----------------------------------------------------------------------------
@dataclass
class AUInterpolatorConfig(ModelConfig):
    """The AU Interpolator (Sec. 3.2): an MLP of ``layers`` linear layers (``hidden`` units, LeakyReLU 0.2)."""

    model_type: str = "efgan_au_interpolator"
    aus: tuple[int, ...] = FACEFORGE_AUS
    hidden: int = 256
    layers: int = 3

    def __post_init__(self) -> None:
        super().__post_init__()
        self.check_range("hidden", low=1, high=4096)
        self.check_range("layers", low=1, high=16)
        if not 1 <= len(self.aus) <= 128:
            raise ValueError(f"aus must list 1 to 128 AUs, got {len(self.aus)}")


def _mlp(inputs: int, hidden: int, outputs: int, layers: int) -> nn.Sequential:
    widths = [inputs, *([hidden] * (layers - 1)), outputs]
    modules: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
        modules.append(nn.Linear(a, b))
        if i < layers - 1:
            modules.append(nn.LeakyReLU(0.2))
    return nn.Sequential(*modules)


class AUInterpolator(FaceForgeModel):
    """Intermediate AUs from the source AUs and a pseudo target's residual.

    Input: source AUs y_src and residuals r_k = y_k - y_src, both (B, n_aus). Output: (B, n_aus)
    clamp(y_src + r_k + MLP([y_src, r_k]), 0, 1): the pseudo target moved onto the manifold of real AUs.
    """

    config_class: ClassVar[type[AUInterpolatorConfig]] = AUInterpolatorConfig
    config: AUInterpolatorConfig

    def __init__(self, config: AUInterpolatorConfig):
        super().__init__(config)
        n = len(config.aus)
        self.net = _mlp(2 * n, config.hidden, n, config.layers)

    @classmethod
    def tiny_config(cls) -> AUInterpolatorConfig:
        return AUInterpolatorConfig(hidden=8, layers=2)

    def example_inputs(self, batch_size: int = 2, *, seed: int = 0) -> tuple[torch.Tensor, ...]:
        """Source AUs in [0, 1] and residuals a third of the way to other AUs in [0, 1]."""
        generator = torch.Generator().manual_seed(seed)
        n = len(self.config.aus)
        source, target = torch.rand(2, batch_size, n, generator=generator)
        return source, (target - source) / 3

    def output_shapes(self, batch_size: int) -> tuple[int, int]:
        return (batch_size, len(self.config.aus))

    def forward(self, source: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return (source + residual + self.net(torch.cat([source, residual], dim=1))).clamp(0, 1)


@dataclass
class AUCriticConfig(AUInterpolatorConfig):
    """The Wasserstein critic of AU vectors that trains the Interpolator (Sec. 3.2): an MLP of the Interpolator's
    shape, LeakyReLU 0.2."""

    model_type: str = "efgan_au_critic"


class AUCritic(FaceForgeModel):
    """Input: (B, n_aus) AU vectors in [0, 1]. Output: (B,) scores, higher for real AUs."""

    config_class: ClassVar[type[AUCriticConfig]] = AUCriticConfig
    config: AUCriticConfig

    def __init__(self, config: AUCriticConfig):
        super().__init__(config)
        self.net = _mlp(len(config.aus), config.hidden, 1, config.layers)

    @classmethod
    def tiny_config(cls) -> AUCriticConfig:
        return AUCriticConfig(hidden=8, layers=2)

    def example_inputs(self, batch_size: int = 2, *, seed: int = 0) -> tuple[torch.Tensor, ...]:
        generator = torch.Generator().manual_seed(seed)
        return (torch.rand(batch_size, len(self.config.aus), generator=generator),)

    def output_shapes(self, batch_size: int) -> tuple[int]:
        return (batch_size,)

    def forward(self, aus: torch.Tensor) -> torch.Tensor:
        return self.net(aus).squeeze(1)


# --- Cascade EF-GAN -------------------------------------------------------------------------------------------------
@dataclass
class CascadeEFGANConfig(EFGANConfig):
    """``stages`` EF-GANs of the fields inherited from :class:`EFGANConfig` in sequence, and the AU Interpolator.

    Attributes:
        stages: K, the EF-GANs in cascade (3).
        interpolator_hidden, interpolator_layers: the Interpolator's MLP (:class:`AUInterpolatorConfig`).
    """

    model_type: str = "cascade_efgan"
    stages: int = 3
    interpolator_hidden: int = 256
    interpolator_layers: int = 3

    def __post_init__(self) -> None:
        super().__post_init__()
        self.check_range("stages", low=2, high=8)
        self.interpolator_config()  # refuses impossible sizes

    def stage_config(self) -> EFGANConfig:
        """The config of every stage."""
        return EFGANConfig(**{f.name: getattr(self, f.name) for f in dataclasses.fields(EFGANConfig)
                              if f.name != "model_type"})

    def interpolator_config(self) -> AUInterpolatorConfig:
        return AUInterpolatorConfig(aus=self.aus, hidden=self.interpolator_hidden, layers=self.interpolator_layers)


class CascadeEFGANOutput(TypedDict):
    """What :meth:`CascadeEFGAN.forward` returns.

    Keys:
        out: (B, 3, S, S) the last stage's edit.
        stages: the K stages' edits, (B, 3, S, S) each (the last is ``out``).
        aus: the K stages' conditions, (B, n_aus) each: the Interpolator's intermediate AUs, then the target.
    """

    out: torch.Tensor
    stages: tuple[torch.Tensor, ...]
    aus: tuple[torch.Tensor, ...]


class CascadeEFGAN(FaceForgeModel):
    """Cascade EF-GAN: K EF-GANs in sequence conditioned on the AU Interpolator's intermediate AUs.

    Input: (B, 3, S, S) faces in [0, 1], their (B, n_aus) AU intensities and the target's, in [0, 1]. Output:
    :class:`CascadeEFGANOutput`.
    """

    config_class: ClassVar[type[CascadeEFGANConfig]] = CascadeEFGANConfig
    config: CascadeEFGANConfig

    def __init__(self, config: CascadeEFGANConfig):
        super().__init__(config)
        self.stages = nn.ModuleList(EFGAN(config.stage_config()) for _ in range(config.stages))
        self.interpolator = AUInterpolator(config.interpolator_config())

    @classmethod
    def from_parts(cls, stages: Sequence[EFGAN], interpolator: AUInterpolator) -> CascadeEFGAN:
        """The cascade of trained stages (identical configs) and Interpolator, their weights copied."""
        configs = {dataclasses.astuple(s.config) for s in stages}
        if len(configs) != 1:
            raise ValueError("the stages of a cascade must share one config")
        stage = stages[0].config
        if interpolator.config.aus != stage.aus:
            raise ValueError(f"the Interpolator's AUs {interpolator.config.aus} are not the stages' {stage.aus}")
        fields = {f.name: getattr(stage, f.name) for f in dataclasses.fields(EFGANConfig) if f.name != "model_type"}
        config = CascadeEFGANConfig(**fields, stages=len(stages), interpolator_hidden=interpolator.config.hidden,
                                    interpolator_layers=interpolator.config.layers)
        model = cls(config)
        for mine, theirs in zip(model.stages, stages, strict=True):
            mine.load_state_dict(theirs.state_dict())
        model.interpolator.load_state_dict(interpolator.state_dict())
        return model.to(next(stages[0].parameters()).device)

    @classmethod
    def tiny_config(cls) -> CascadeEFGANConfig:
        """Three of :meth:`EFGAN.tiny_config`'s stages and an 8-unit, 2-layer Interpolator."""
        stage = EFGAN.tiny_config()
        fields = {f.name: getattr(stage, f.name) for f in dataclasses.fields(EFGANConfig) if f.name != "model_type"}
        return CascadeEFGANConfig(**fields, interpolator_hidden=8, interpolator_layers=2)

    def example_inputs(self, batch_size: int = 2, *, seed: int = 0) -> tuple[torch.Tensor, ...]:
        """(B, 3, S, S) faces and (B, n_aus) source and target AUs, uniform in [0, 1]."""
        generator = torch.Generator().manual_seed(seed)
        s, n = self.config.image_size, len(self.config.aus)
        return (torch.rand(batch_size, 3, s, s, generator=generator), torch.rand(batch_size, n, generator=generator),
                torch.rand(batch_size, n, generator=generator))

    def output_shapes(self, batch_size: int) -> dict:
        """:class:`CascadeEFGANOutput`'s shapes."""
        s, n, k = self.config.image_size, len(self.config.aus), self.config.stages
        return {"out": (batch_size, 3, s, s), "stages": ((batch_size, 3, s, s),) * k, "aus": ((batch_size, n),) * k}

    def conditions(self, source: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The K stages' AUs: the Interpolator's for the pseudo targets 1/K .. (K-1)/K of the way, then ``target``."""
        pseudo = pseudo_targets(source, target, self.config.stages)[:-1]
        return (*(self.interpolator(source, y - source) for y in pseudo), target)

    def forward(self, image: torch.Tensor, source_aus: torch.Tensor, target_aus: torch.Tensor) -> CascadeEFGANOutput:
        """Edit faces progressively from their AUs to the target AUs.

        Args:
            image: (B, 3, S, S) aligned faces in [0, 1].
            source_aus: (B, n_aus) their AU intensities in [0, 1].
            target_aus: (B, n_aus) the target AU intensities in [0, 1].
        """
        if source_aus.shape != target_aus.shape:
            raise ValueError(f"source and target AUs differ in shape: {tuple(source_aus.shape)} and "
                             f"{tuple(target_aus.shape)}")
        aus = self.conditions(source_aus, target_aus)
        edits, current = [], image
        for stage, condition in zip(self.stages, aus, strict=True):
            current = stage(current, condition)["out"]  # the previous stage's edit is the next one's input
            edits.append(current)
        return CascadeEFGANOutput(out=current, stages=tuple(edits), aus=aus)

    @torch.no_grad()
    def edit(self, image: torch.Tensor, source_aus: torch.Tensor, target_aus: torch.Tensor) -> torch.Tensor:
        """The final edits (B, 3, S, S), clamped to [0, 1]."""
        return self(image, source_aus, target_aus)["out"].clamp(0, 1)


# --- the critic -----------------------------------------------------------------------------------------------------
@dataclass
class EFGANCriticConfig(ModelConfig):
    """GANimation's critic: ``layers`` stride-2 4x4 convolutions with LeakyReLU 0.01 (channels doubling from
    ``channels``, at most ``max_channels``), then a 3x3 convolution to a patch map of scores (their mean is the
    critic's score) and a convolution over the whole remaining map to the AU intensities. No normalisation (WGAN-GP).
    """

    model_type: str = "efgan_critic"
    image_size: int = 128
    aus: tuple[int, ...] = FACEFORGE_AUS
    channels: int = 64
    layers: int = 6
    max_channels: int = 2048

    def __post_init__(self) -> None:
        super().__post_init__()
        self.check_range("image_size", low=16, high=1024)
        self.check_range("channels", "max_channels", low=1, high=4096)
        self.check_range("layers", low=1, high=8)
        if self.image_size % 2 ** self.layers:
            raise ValueError(f"image_size {self.image_size} must be divisible by 2 ** layers = {2 ** self.layers}")
        if not 1 <= len(self.aus) <= 128:
            raise ValueError(f"aus must list 1 to 128 AUs, got {len(self.aus)}")


class CriticOutput(TypedDict):
    """Keys: ``score`` (B,) the Wasserstein score, higher for real faces; ``aus`` (B, n_aus) the regressed AUs."""

    score: torch.Tensor
    aus: torch.Tensor


class EFGANCritic(FaceForgeModel):
    """Input: (B, 3, S, S) faces in [0, 1]. Output: :class:`CriticOutput`."""

    config_class: ClassVar[type[EFGANCriticConfig]] = EFGANCriticConfig
    config: EFGANCriticConfig

    def __init__(self, config: EFGANCriticConfig):
        super().__init__(config)
        layers: list[nn.Module] = []
        width_in, width = 3, config.channels
        for _ in range(config.layers):
            layers += [nn.Conv2d(width_in, width, 4, 2, 1), nn.LeakyReLU(0.01, inplace=True)]
            width_in, width = width, min(2 * width, config.max_channels)
        self.body = nn.Sequential(*layers)
        self.score = nn.Conv2d(width_in, 1, 3, 1, 1, bias=False)
        side = config.image_size // 2 ** config.layers
        self.au_head = nn.Conv2d(width_in, len(config.aus), side, bias=False)

    @classmethod
    def tiny_config(cls) -> EFGANCriticConfig:
        return EFGANCriticConfig(image_size=32, channels=4, layers=3)

    def output_shapes(self, batch_size: int) -> dict:
        return {"score": (batch_size,), "aus": (batch_size, len(self.config.aus))}

    def forward(self, image: torch.Tensor) -> CriticOutput:
        features = self.body(image * 2 - 1)
        return CriticOutput(score=self.score(features).flatten(1).mean(1), aus=self.au_head(features).flatten(1))


# --- the family's declaration (faceforge/registry.py lists this module) -----------------------------------------
FAMILY = ModelFamily(
    name="efgan",
    summary="AU-conditioned facial expression editing with local focuses on eyes, nose and mouth, progressive in a "
            "cascade of three EF-GANs",
    paper=Paper(title="Cascade EF-GAN: Progressive Facial Expression Editing with Local Focuses",
                authors="Rongliang Wu, Gongjie Zhang, Shijian Lu and Tao Chen", venue="CVPR", year=2020),
    networks=(EFGAN, CascadeEFGAN, AUInterpolator, AUCritic, EFGANCritic),
    shipped=(Shipped("cascade-efgan", "Cascade EF-GAN: AU-driven expression editing of aligned 128x128 faces in three "
                                      "progressive stages with local focuses on eyes, nose and mouth",
                     roles=("app.editor",)),),
    tasks={"efgan": "faceforge.training.tasks.efgan:EFGANTask",
           "efgan_cascade": "faceforge.training.tasks.efgan:CascadeEFGANTask"},
    evaluators={"efgan": "faceforge.training.tasks.efgan:evaluate_expression_editing",
                "cascade_efgan": "faceforge.training.tasks.efgan:evaluate_expression_editing"},
    commands=("faceforge.commands.edit",),
    tabs=(Tab("Editing", "faceforge.demo.edit_tab:build_edit_tab", order=30),),
)
