"""GroupGAN: *GroupGAN for weak expression recognition via expression magnification* (Niu et al.,
Knowledge-Based Systems, 2022): a weak facial expression (frames 6-8 of a sequence from neutral to peak) is
magnified towards its peak by a generator, and the magnified face is classified.

**The BaseNet** (Sec. 4.3): the classifier C of Eq. (11) and, without its last fully connected layer, the
extractor E of the 2V2 game (Sec. 3.2). AlexNet, VGG11/13/16 and ResNet18, defined here without pre-trained weights,
with the fully connected layers "reduced from 4096 to 512 or 256": two hidden layers of ``fc = (512, 256)`` units,
then the c-way classifier; the 256-d output of the second is the expression feature F_exp (the "256-dimension
feature" of Fig. 4). ResNet18 has no hidden layers of its own; it gets the same two after its global pooling. Two
departures from the originals, both config fields: ``width`` multiplies every convolution's channels (1 is the
original; a fraction sizes a network for a CPU), and AlexNet / VGG take batch normalisation after each convolution
(``batch_norm``), which keeps them trainable from the paper's N(0, 0.01) initialisation.

**The generator G** (Sec. 3.2, "Architecture"): an encoder of four convolutions with kernels 7, 5, 3 and 3 (strides
1, 2, 2, 2), each followed by a residual block, and a decoder of four deconvolutions (strides 1, 2, 2, 2) and two
3x3 convolutions, batch normalisation and ReLU between them and a sigmoid at the end, so faces stay in [0, 1]. In the
2V2 game "at the bottleneck of the generator, the features learned by the generator are concatenated with the
emotion vector" (Fig. 3): F_exp is tiled over the bottleneck's positions and concatenated to its channels
(``cond_dim``; 0 for DCGAN and 1V2, whose G has no extractor).

**The discriminators D and D'**: "VGG-like structures ... constructed by convolutional layers and fully connected
layers": stages of a 3x3 convolution and a 4x4 stride-2 convolution with LeakyReLU 0.2, a hidden fully connected
layer, and one logit (D(x) = sigmoid(logit), the probability of "real" for D, of "peak" for D'). Conditions join
where the paper puts them: D' is "conditioning on the input images" (the weak input concatenated to its channels,
``condition_image``), and in 2V2 both take F_exp (Eq. (14), (16)), concatenated to the hidden layer (``cond_dim``).

**The exported recogniser** :class:`GroupGAN`: C(G(X_weak, E(X_weak))) for 2V2, C(G(X_weak)) for DCGAN and 1V2.

The losses of Eq. (1)-(17) and Algorithm 1 are in ``faceforge/training/tasks/groupgan.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Literal

import torch
from torch import nn

from faceforge.face.expressions import EXPRESSIONS
from faceforge.family import ModelFamily, Paper, Shipped, Tab
from faceforge.modeling import FaceForgeModel, ModelConfig

BaseNetArch = Literal["alexnet", "vgg11", "vgg13", "vgg16", "resnet18"]
Variant = Literal["dcgan", "1v2", "2v2"]

# convolution widths of VGG's configurations A, B and D ("M": 2x2 max-pooling)
_VGG: dict[str, tuple[int | str, ...]] = {
    "vgg11": (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    "vgg13": (64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    "vgg16": (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"),
}
# AlexNet's convolutions: (channels, kernel, stride, padding), each with a max-pooling after it where marked
_ALEXNET: tuple[tuple[int, int, int, int, bool], ...] = (
    (64, 11, 4, 2, True), (192, 5, 1, 2, True), (384, 3, 1, 1, False), (256, 3, 1, 1, False), (256, 3, 1, 1, True))


def gaussian_init_(module: nn.Module, *, std: float = 0.01, bias: float = 1.0) -> nn.Module:
    """Sec. 4.2's initialisation: every convolution, deconvolution and linear weight from N(0, std^2), every such
    bias set to ``bias`` (the paper's 0.01 and 1). Normalisation layers keep their unit scale and zero shift.
    Returns ``module``."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d | nn.ConvTranspose2d | nn.Linear):
            nn.init.normal_(m.weight, mean=0.0, std=std)
            if m.bias is not None:
                nn.init.constant_(m.bias, bias)
    return module


def _scaled(channels: int, width: float) -> int:
    return max(1, round(channels * width))


# --- the BaseNets -----------------------------------------------------------------------------------------------------
@dataclass
class BaseNetConfig(ModelConfig):
    """A BaseNet of Sec. 4.3.

    Attributes:
        arch: ``alexnet``, ``vgg11``, ``vgg13``, ``vgg16`` or ``resnet18``.
        image_size: input side (128, the paper's crops).
        classes: the expressions, in logit order; default faceforge's eight, so that dataset labels index them.
        width: multiplier of every convolution's channels (1: the original network).
        fc: units of the two hidden fully connected layers (the paper's 512 and 256); the last is F_exp's size.
        pool: side of the average pooling before the first fully connected layer (AlexNet / VGG; ResNet18 pools
            globally).
        batch_norm: batch normalisation after each AlexNet / VGG convolution (ResNet18 always has it).
        dropout: before each hidden fully connected layer's successor.
    """

    model_type: str = "groupgan_basenet"
    arch: BaseNetArch = "vgg13"
    image_size: int = 128
    classes: tuple[str, ...] = EXPRESSIONS
    width: float = 1.0
    fc: tuple[int, int] = (512, 256)
    pool: int = 4
    batch_norm: bool = True
    dropout: float = 0.5

    def __post_init__(self) -> None:
        super().__post_init__()
        self.check_range("image_size", low=32, high=1024)
        self.check_range("width", low=1e-3, high=4.0)
        self.check_range("pool", low=1, high=16)
        self.check_range("dropout", low=0.0, high=1.0)
        if any(not 1 <= n <= 16384 for n in self.fc):
            raise ValueError(f"fc units must be in [1, 16384], got {self.fc}")
        if not 2 <= len(self.classes) <= 1024:
            raise ValueError(f"classes must name 2 to 1024 expressions, got {len(self.classes)}")

    @property
    def feature_size(self) -> int:
        """Size of F_exp, the extractor's output (the last hidden layer)."""
        return self.fc[-1]


class _BasicBlock(nn.Module):
    """ResNet's basic block: two 3x3 convolutions with batch norm, the identity (or a strided 1x1 projection)
    added before the last ReLU."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True), nn.Conv2d(c_out, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out))
        self.shortcut = (nn.Identity() if stride == 1 and c_in == c_out else
                         nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.shortcut(x))


def _convolutions(cfg: BaseNetConfig) -> tuple[nn.Sequential, int]:
    """The convolutional part of a BaseNet and its output channels."""
    w, layers = cfg.width, []
    if cfg.arch == "resnet18":
        c = _scaled(64, w)
        layers += [nn.Conv2d(3, c, 7, stride=2, padding=3, bias=False), nn.BatchNorm2d(c), nn.ReLU(inplace=True),
                   nn.MaxPool2d(3, stride=2, padding=1)]
        for i, channels in enumerate((64, 128, 256, 512)):
            c_out = _scaled(channels, w)
            layers += [_BasicBlock(c, c_out, 1 if i == 0 else 2), _BasicBlock(c_out, c_out, 1)]
            c = c_out
        return nn.Sequential(*layers), c

    def conv(c_in: int, c_out: int, k: int, s: int, p: int) -> list[nn.Module]:
        norm = [nn.BatchNorm2d(c_out)] if cfg.batch_norm else []
        return [nn.Conv2d(c_in, c_out, k, stride=s, padding=p, bias=not cfg.batch_norm), *norm, nn.ReLU(inplace=True)]

    c = 3
    if cfg.arch == "alexnet":
        for channels, k, s, p, pool in _ALEXNET:
            layers += conv(c, _scaled(channels, w), k, s, p)
            c = _scaled(channels, w)
            if pool:
                layers.append(nn.MaxPool2d(3, stride=2))
        return nn.Sequential(*layers), c
    for item in _VGG[cfg.arch]:
        if item == "M":
            layers.append(nn.MaxPool2d(2))
        else:
            layers += conv(c, _scaled(int(item), w), 3, 1, 1)
            c = _scaled(int(item), w)
    return nn.Sequential(*layers), c


class BaseNet(FaceForgeModel):
    """The classifier C of Eq. (11); :meth:`features` is the extractor E (C without its last layer).

    Input: (B, 3, S, S) faces in [0, 1], S = ``config.image_size``. Output: (B, n_classes) logits, order
    ``config.classes``.
    """

    config_class: ClassVar[type[BaseNetConfig]] = BaseNetConfig
    config: BaseNetConfig

    def __init__(self, config: BaseNetConfig):
        super().__init__(config)
        self.convolutions, channels = _convolutions(config)
        pool = 1 if config.arch == "resnet18" else config.pool
        hidden, feature = config.fc
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(pool), nn.Flatten(),
            nn.Linear(channels * pool * pool, hidden), nn.ReLU(inplace=True), nn.Dropout(config.dropout),
            nn.Linear(hidden, feature), nn.ReLU(inplace=True), nn.Dropout(config.dropout))
        self.classifier = nn.Linear(feature, len(config.classes))

    @classmethod
    def tiny_config(cls) -> BaseNetConfig:
        return BaseNetConfig(arch="vgg11", image_size=32, width=1 / 16, fc=(16, 8), pool=1)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """E(x): F_exp, (B, fc[-1]), the output of the last hidden layer."""
        return self.head(self.convolutions(x))

    def extractor_parameters(self) -> list[nn.Parameter]:
        """E's parameters: all but the last fully connected layer's (what the 2V2 game's E update trains)."""
        return [p for name, p in self.named_parameters() if not name.startswith("classifier.")]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))

    def output_shapes(self, batch_size: int) -> tuple[int, int]:
        """(B, n_classes) logits."""
        return (batch_size, len(self.config.classes))


# --- the generator ----------------------------------------------------------------------------------------------------
@dataclass
class GroupGANGeneratorConfig(ModelConfig):
    """G's sizes (the paper gives the kernels, not the widths).

    Attributes:
        image_size: face side, divisible by 8 (the bottleneck is S/8).
        channels: output channels of the four encoder convolutions (kernels 7, 5, 3, 3; strides 1, 2, 2, 2); the
            decoder mirrors them.
        cond_dim: size of the F_exp vector concatenated at the bottleneck (2V2: the extractor's ``fc[-1]``); 0: no
            condition (DCGAN, 1V2).
    """

    model_type: str = "groupgan_generator"
    image_size: int = 128
    channels: tuple[int, int, int, int] = (32, 64, 128, 256)
    cond_dim: int = 256

    def __post_init__(self) -> None:
        super().__post_init__()
        self.check_range("image_size", low=8, high=1024)
        self.check_range("cond_dim", low=0, high=16384)
        if self.image_size % 8:
            raise ValueError(f"image_size must be divisible by 8 (three stride-2 convolutions), got {self.image_size}")
        if any(not 1 <= c <= 2048 for c in self.channels):
            raise ValueError(f"channels must be in [1, 2048], got {self.channels}")


class ResidualBlock(nn.Module):
    """He et al.'s residual block: x + BN(conv3(ReLU(BN(conv3(x))))), then ReLU."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels), nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x + self.body(x))


def _conv_bn(c_in: int, c_out: int, k: int, stride: int = 1, *, transposed: bool = False) -> nn.Sequential:
    if transposed:
        conv: nn.Module = (nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1, bias=False) if stride == 2 else
                           nn.ConvTranspose2d(c_in, c_out, k, padding=k // 2, bias=False))
    else:
        conv = nn.Conv2d(c_in, c_out, k, stride=stride, padding=k // 2, bias=False)
    return nn.Sequential(conv, nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


class GroupGANGenerator(FaceForgeModel):
    """G: weak face (and F_exp) -> magnified face.

    Input: (B, 3, S, S) weak faces in [0, 1] and, when ``cond_dim`` > 0, F_exp (B, cond_dim). Output: (B, 3, S, S)
    in [0, 1].
    """

    config_class: ClassVar[type[GroupGANGeneratorConfig]] = GroupGANGeneratorConfig
    config: GroupGANGeneratorConfig

    def __init__(self, config: GroupGANGeneratorConfig):
        super().__init__(config)
        c1, c2, c3, c4 = config.channels
        encoder, c_in = [], 3
        for c_out, k, stride in ((c1, 7, 1), (c2, 5, 2), (c3, 3, 2), (c4, 3, 2)):
            encoder += [_conv_bn(c_in, c_out, k, stride), ResidualBlock(c_out)]
            c_in = c_out
        self.encoder = nn.Sequential(*encoder)
        self.decoder = nn.Sequential(
            _conv_bn(c4 + config.cond_dim, c4, 3, transposed=True), _conv_bn(c4, c3, 4, 2, transposed=True),
            _conv_bn(c3, c2, 4, 2, transposed=True), _conv_bn(c2, c1, 4, 2, transposed=True),
            _conv_bn(c1, c1, 3), nn.Conv2d(c1, 3, 3, padding=1), nn.Sigmoid())

    @classmethod
    def tiny_config(cls) -> GroupGANGeneratorConfig:
        return GroupGANGeneratorConfig(image_size=16, channels=(4, 4, 8, 8), cond_dim=3)

    def forward(self, x: torch.Tensor, f_exp: torch.Tensor | None = None) -> torch.Tensor:
        h = self.encoder(x)
        if self.config.cond_dim:
            if f_exp is None or f_exp.shape != (x.shape[0], self.config.cond_dim):
                raise ValueError(f"this generator is conditioned on F_exp of shape (B, {self.config.cond_dim}), got "
                                 f"{None if f_exp is None else tuple(f_exp.shape)}")
            h = torch.cat([h, f_exp[:, :, None, None].to(h.dtype).expand(-1, -1, *h.shape[-2:])], 1)
        elif f_exp is not None:
            raise ValueError("this generator has no F_exp condition (cond_dim=0)")
        return self.decoder(h)

    def example_inputs(self, batch_size: int = 2, *, seed: int = 0) -> tuple[torch.Tensor, ...]:
        """A (B, 3, S, S) batch in [0, 1] and, when conditioned, a (B, cond_dim) F_exp."""
        generator = torch.Generator().manual_seed(seed)
        size, cond = self.config.image_size, self.config.cond_dim
        x = torch.rand(batch_size, 3, size, size, generator=generator)
        return (x, torch.rand(batch_size, cond, generator=generator)) if cond else (x,)

    def output_shapes(self, batch_size: int) -> tuple[int, int, int, int]:
        """(B, 3, S, S)."""
        return (batch_size, 3, self.config.image_size, self.config.image_size)


# --- the discriminators -----------------------------------------------------------------------------------------------
@dataclass
class GroupGANDiscriminatorConfig(ModelConfig):
    """D (real vs fake) or D' (peak vs weak).

    Attributes:
        image_size: face side, divisible by 2 ** len(channels).
        channels: per stage, the channels of its 3x3 and 4x4 stride-2 convolutions.
        hidden: units of the hidden fully connected layer.
        condition_image: take the weak input face as a condition, concatenated to the channels (D').
        cond_dim: size of the F_exp condition, concatenated to the hidden layer (2V2, Eq. (14), (16)); 0: none.
    """

    model_type: str = "groupgan_discriminator"
    image_size: int = 128
    channels: tuple[int, ...] = (32, 64, 128, 256, 256)
    hidden: int = 256
    condition_image: bool = False
    cond_dim: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        self.check_range("image_size", low=8, high=1024)
        self.check_range("hidden", low=1, high=16384)
        self.check_range("cond_dim", low=0, high=16384)
        if not 1 <= len(self.channels) <= 8 or any(not 1 <= c <= 2048 for c in self.channels):
            raise ValueError(f"channels must list 1 to 8 widths in [1, 2048], got {self.channels}")
        if self.image_size % 2 ** len(self.channels):
            raise ValueError(f"image_size {self.image_size} must be divisible by 2 ** {len(self.channels)} "
                             f"(one stride-2 convolution per stage)")


class GroupGANDiscriminator(FaceForgeModel):
    """A VGG-like discriminator with optional conditions.

    Input: (B, 3, S, S) faces in [0, 1]; F_exp (B, cond_dim) when ``cond_dim`` > 0; the weak input (B, 3, S, S)
    when ``condition_image``. Output: (B,) logits (sigmoid: D's probability).
    """

    config_class: ClassVar[type[GroupGANDiscriminatorConfig]] = GroupGANDiscriminatorConfig
    config: GroupGANDiscriminatorConfig

    def __init__(self, config: GroupGANDiscriminatorConfig):
        super().__init__(config)
        layers: list[nn.Module] = []
        c_in = 6 if config.condition_image else 3
        for c in config.channels:
            layers += [nn.Conv2d(c_in, c, 3, padding=1), nn.LeakyReLU(0.2, inplace=True),
                       nn.Conv2d(c, c, 4, stride=2, padding=1), nn.LeakyReLU(0.2, inplace=True)]
            c_in = c
        side = config.image_size // 2 ** len(config.channels)
        self.features = nn.Sequential(*layers, nn.Flatten(), nn.Linear(c_in * side * side, config.hidden),
                                      nn.LeakyReLU(0.2, inplace=True))
        self.out = nn.Linear(config.hidden + config.cond_dim, 1)

    @classmethod
    def tiny_config(cls) -> GroupGANDiscriminatorConfig:
        return GroupGANDiscriminatorConfig(image_size=16, channels=(4, 8), hidden=8, condition_image=True, cond_dim=3)

    def forward(self, x: torch.Tensor, f_exp: torch.Tensor | None = None,
                condition: torch.Tensor | None = None) -> torch.Tensor:
        cfg = self.config
        if cfg.condition_image != (condition is not None) or bool(cfg.cond_dim) != (f_exp is not None):
            raise ValueError(f"this discriminator takes {'a' if cfg.condition_image else 'no'} condition image and "
                             f"{'an' if cfg.cond_dim else 'no'} F_exp")
        if condition is not None:
            x = torch.cat([x, condition.to(x.dtype)], 1)
        h = self.features(x)
        if f_exp is not None:
            h = torch.cat([h, f_exp.to(h.dtype)], 1)
        return self.out(h).squeeze(1)

    def example_inputs(self, batch_size: int = 2, *, seed: int = 0) -> tuple[torch.Tensor | None, ...]:
        """Faces, then F_exp and the condition image (None where the config takes none)."""
        generator = torch.Generator().manual_seed(seed)
        size, cfg = self.config.image_size, self.config
        x = torch.rand(batch_size, 3, size, size, generator=generator)
        f_exp = torch.rand(batch_size, cfg.cond_dim, generator=generator) if cfg.cond_dim else None
        condition = torch.rand(batch_size, 3, size, size, generator=generator) if cfg.condition_image else None
        return x, f_exp, condition

    def output_shapes(self, batch_size: int) -> tuple[int]:
        """(B,) logits."""
        return (batch_size,)


# --- the exported recogniser ------------------------------------------------------------------------------------------
@dataclass
class GroupGANConfig(ModelConfig):
    """The trained recogniser: G and C (whose trunk is E).

    Attributes:
        variant: ``dcgan``, ``1v2`` or ``2v2`` (Table 1's columns after CNN); 2V2's G is conditioned on E's F_exp.
        generator: G's config.
        classifier: C's config (the BaseNet).
        context: the framing of the faces it was trained on: an aligned face resized to ``context`` times the
            input side, then centre-cropped (Sec. 4.2's 144 and 128: 1.125). Photos are framed the same way.
    """

    model_type: str = "groupgan"
    variant: Variant = "2v2"
    generator: GroupGANGeneratorConfig = field(default_factory=GroupGANGeneratorConfig)
    classifier: BaseNetConfig = field(default_factory=BaseNetConfig)
    context: float = 1.125

    def __post_init__(self) -> None:
        super().__post_init__()
        expected = self.classifier.feature_size if self.variant == "2v2" else 0
        if self.generator.cond_dim != expected:
            raise ValueError(f"variant {self.variant} needs generator.cond_dim={expected}, got "
                             f"{self.generator.cond_dim}")
        if self.generator.image_size != self.classifier.image_size:
            raise ValueError(f"generator.image_size ({self.generator.image_size}) must be the classifier's "
                             f"({self.classifier.image_size})")
        self.check_range("context", low=1.0, high=2.0)


class GroupGAN(FaceForgeModel):
    """Weak expression recognition by magnification: C(G(X_weak, E(X_weak))) (2V2) or C(G(X_weak)).

    Input: (B, 3, S, S) weak faces in [0, 1]. Output: (B, n_classes) logits of the magnified faces, order
    ``config.classifier.classes``; :meth:`magnify` gives the faces.
    """

    config_class: ClassVar[type[GroupGANConfig]] = GroupGANConfig
    config: GroupGANConfig

    def __init__(self, config: GroupGANConfig):
        super().__init__(config)
        self.generator = GroupGANGenerator(config.generator)
        self.classifier = BaseNet(config.classifier)

    @classmethod
    def tiny_config(cls) -> GroupGANConfig:
        classifier = BaseNet.tiny_config()
        return GroupGANConfig(generator=GroupGANGeneratorConfig(image_size=32, channels=(4, 4, 8, 8),
                                                                cond_dim=classifier.feature_size),
                              classifier=classifier)

    @classmethod
    def from_parts(cls, variant: Variant, generator: GroupGANGenerator, classifier: BaseNet, *,
                   context: float = 1.125) -> GroupGAN:
        """The recogniser made of a trained G and C (their weights copied)."""
        model = cls(GroupGANConfig(variant=variant, generator=generator.config, classifier=classifier.config,
                                   context=context))
        model.generator.load_state_dict(generator.state_dict())
        model.classifier.load_state_dict(classifier.state_dict())
        return model

    def magnify(self, x: torch.Tensor) -> torch.Tensor:
        """G's magnified faces, (B, 3, S, S) in [0, 1]."""
        f_exp = self.classifier.features(x) if self.config.variant == "2v2" else None
        return self.generator(x, f_exp)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.magnify(x))

    def output_shapes(self, batch_size: int) -> tuple[int, int]:
        """(B, n_classes) logits."""
        return (batch_size, len(self.config.classifier.classes))

    def example_inputs(self, batch_size: int = 2, *, seed: int = 0) -> tuple[torch.Tensor, ...]:
        """One (B, 3, S, S) batch in [0, 1]."""
        size = self.config.generator.image_size
        return (torch.rand(batch_size, 3, size, size, generator=torch.Generator().manual_seed(seed)),)


FAMILY = ModelFamily(
    name="groupgan",
    summary="weak expressions magnified towards their peak by a generator (with an extractor) against two "
            "discriminators, then classified",
    paper=Paper(title="GroupGAN for weak expression recognition via expression magnification",
                authors="Niu et al.", venue="Knowledge-Based Systems", year=2022),
    networks=(BaseNet, GroupGANGenerator, GroupGANDiscriminator, GroupGAN),
    shipped=(Shipped("groupgan", "GroupGAN (2V2, VGG13 BaseNet): weak expressions of aligned faces magnified towards "
                                 "their peak and recognised", roles=("app.magnifier",)),),
    tasks={"groupgan_basenet": "faceforge.training.tasks.groupgan:BaseNetTask",
           "groupgan": "faceforge.training.tasks.groupgan:GroupGANTask"},
    evaluators={"groupgan": "faceforge.training.tasks.groupgan:evaluate_weak_recognition",
                "groupgan_basenet": "faceforge.training.tasks.groupgan:evaluate_weak_recognition"},
    commands=("faceforge.commands.magnify",),
    tabs=(Tab("Weak-expression magnification", "faceforge.demo.magnify_tab:build_magnify_tab", order=40),),
)
