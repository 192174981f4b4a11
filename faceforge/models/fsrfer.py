"""FSR-FER: *Feature Super-Resolution Based Facial Expression Recognition for Multi-scale Low-Resolution Faces*
(Wei Jing, Feng Tian, Jizhong Zhang, Kuo-Ming Chao, Zhenxin Hong and Xu Liu, arXiv:2004.02234, 2020): a frozen
CovPoolFER expression recogniser split into a feature extractor and a classifier, and a GAN that maps the features of a
low-resolution face to those of its high-resolution original.

**The backbone: CovPoolFER** (Acharya, Huang, Paudel and Van Gool, "Covariance Pooling for Facial Expression
Recognition", CVPR Workshops 2018). A CNN's last feature map, its H*W positions taken as samples of a C-dimensional
feature, is pooled into its covariance matrix (second-order statistics), which SPDNet layers (Huang and Van Gool,
"A Riemannian Network for SPD Matrix Learning", AAAI 2017) reduce and flatten:

* covariance pooling: Sigma = 1/(n - 1) sum_i (f_i - mean)(f_i - mean)^T + eps I (n = H*W; the eps I keeps Sigma
  positive definite when n <= C or channels are constant);
* BiMap: X -> W^T X W with a semi-orthogonal W (d_in x d_out, W^T W = I), a smaller SPD matrix;
* ReEig: X -> U max(Lambda, eps) U^T, SPDNet's non-linearity (eigenvalues clamped from below);
* LogEig: X -> U log(Lambda) U^T, the matrix logarithm, which maps the SPD manifold to the flat space of symmetric
  matrices where Euclidean layers and losses apply;
* then the upper triangle of the log-matrix (its d(d+1)/2 free entries) through fully connected layers to a
  128-dimensional embedding and a softmax classifier.

FSR-FER splits it (Sec. 3.1, Fig. 2): F + SPD (Eq. (1)-(2)), the CNN through LogEig, is the feature extractor
(:meth:`CovPoolFER.features`, a (B, d, d) symmetric matrix); C, the layers after the SPDNet layers up to the
128-d vector (:meth:`CovPoolFER.embed`), gives the perceptual loss of Eq. (9); C and the final layer
(:meth:`CovPoolFER.classify`) are the "FSR classifier". FSR-FER does not give CovPoolFER's sizes: the CNN (stages
of two 3x3 convolutions and a max-pool, a 1x1 convolution before the pooling), its widths and the SPD sides are
this implementation's (config fields).

Numerics of the SPD layers: they run in float64 with autocast off; every matrix is symmetrised before an eigen-
decomposition; ReEig and LogEig have their own backward, the Daleckii-Krein formula
dL/dX = U (K o U^T sym(dL/dY) U) U^T with K_ij = (f(l_i) - f(l_j)) / (l_i - l_j) and K_ij = f'(l_i) where
l_i = l_j, so repeated eigenvalues (which ReEig's clamp creates) give no division by zero (SPDNet's own formula
has 1 / (l_i - l_j)); LogEig clamps the eigenvalues at ``log_eps`` before the log. The BiMap weight is kept
semi-orthogonal by construction: the stored (d_in, d_out) matrix is initialised orthogonal and orthonormalised by
a QR decomposition in every forward pass (signs fixed so that an orthonormal matrix maps to itself), so any
optimiser may update it, instead of SPDNet's Riemannian SGD on the Stiefel manifold.

**The feature generator G** (Eq. (3), Sec. 3.4): ESRGAN's residual-in-residual dense blocks (Wang et al.,
"ESRGAN", ECCV Workshops 2018) with fewer internal (growth) channels, 6 of them, on the d x d feature matrix as a
one-channel image: a 3x3 convolution in, the RRDBs, a 3x3 convolution and the trunk skip, a 3x3 convolution with
LeakyReLU and a 3x3 convolution out, at the input size (no upsampling: F_sr has F_lr's size). Two readings of
this implementation: G learns the residual F_sr = F_lr + G'(F_lr) (as the perceptual GAN of Li et al., the
paper's [21]), and its output is symmetrised, (Y + Y^T) / 2, since every log-matrix the backbone gives is symmetric.

**The discriminator D** (Sec. 3.4): ESRGAN's VGG-style discriminator without batch normalisation, on the d x d
feature: per stage a 3x3 convolution (stride 1) and a 4x4 convolution (stride 2) with LeakyReLU 0.2, channels
doubling up to 8x; then a dense layer of ``hidden`` units and one unbounded score (a WGAN critic).

**The LR input** (Sec. 4.1): the 100x100 face brought down by MATLAB's bicubic kernel by an integer factor x2-x8
(8-bit, as images are stored) and back up to the backbone's input size by bicubic interpolation
(:func:`low_resolution_input`).

The losses (Eq. (7)-(11)) and the training are in ``faceforge/training/tasks/fsrfer.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from faceforge.data.degrade import bicubic_downsample, imresize
from faceforge.face.expressions import EXPRESSIONS
from faceforge.family import ModelFamily, Paper, Shipped, Tab
from faceforge.modeling import FaceForgeModel, ModelConfig

SPD_DTYPE = torch.float64  # the SPD layers' precision


# --- the LR input -----------------------------------------------------------------------------------------------------
def low_resolution_input(faces: torch.Tensor, factor: int, *, size: int | None = None,
                         quantize: bool = True) -> torch.Tensor:
    """A face as FSR-FER sees it at a down-sampling factor: MATLAB bicubic down by ``factor`` and bicubic back up.

    Args:
        faces: (..., 3, S, S) HR faces in [0, 1].
        factor: integer down-sampling factor (the paper's x2-x8; 1 returns the faces at ``size``).
        size: side of the output, the backbone's input (default S).
        quantize: round the LR face to 8 bits, as an LR image file is.

    Returns:
        (..., 3, size, size) in [0, 1]: ``imresize(imresize(faces, 1/factor), [size size])``; a 100x100 face at x3
        passes through 34x34.
    """
    size = faces.shape[-1] if size is None else size
    small = bicubic_downsample(faces, factor, quantize=quantize) if factor > 1 else faces
    return imresize(small, size=size, clamp=True)


# --- the SPD layers ---------------------------------------------------------------------------------------------------
def symmetrize(x: torch.Tensor) -> torch.Tensor:
    """(X + X^T) / 2 over the last two axes."""
    return 0.5 * (x + x.transpose(-1, -2))


def covariance_pool(features: torch.Tensor, *, eps: float = 1e-4) -> torch.Tensor:
    """Covariance pooling: the H*W positions of a feature map as samples of a C-vector.

    Args:
        features: (B, C, H, W), H * W >= 2.
        eps: added to the diagonal so that the matrix is positive definite.

    Returns:
        (B, C, C) in float64: 1/(n - 1) sum_i (f_i - mean)(f_i - mean)^T + eps I, n = H * W.
    """
    b, c, h, w = features.shape
    n = h * w
    if n < 2:
        raise ValueError(f"covariance pooling needs at least two positions, got a {h}x{w} map")
    x = features.reshape(b, c, n).to(SPD_DTYPE)
    x = x - x.mean(-1, keepdim=True)
    cov = x @ x.transpose(-1, -2) / (n - 1)
    return symmetrize(cov) + eps * torch.eye(c, dtype=cov.dtype, device=cov.device)


def _rectify(s: torch.Tensor, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    return s.clamp(min=eps), (s > eps).to(s.dtype)


def _log(s: torch.Tensor, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    kept = s > eps
    s = s.clamp(min=eps)
    return s.log(), torch.where(kept, 1.0 / s, torch.zeros_like(s))


_SPECTRAL = {"rectify": _rectify, "log": _log}


class _SpectralFunction(torch.autograd.Function):
    """f(X) = U f(Lambda) U^T of sym(X), with the Daleckii-Krein backward (see the module docstring)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, kind: str, eps: float) -> torch.Tensor:
        s, u = torch.linalg.eigh(symmetrize(x))
        fs, dfs = _SPECTRAL[kind](s, eps)
        ctx.save_for_backward(u, s, fs, dfs)
        return (u * fs.unsqueeze(-2)) @ u.transpose(-1, -2)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        u, s, fs, dfs = ctx.saved_tensors
        diff = s.unsqueeze(-1) - s.unsqueeze(-2)
        # eigenvalues closer than round-off count as equal: there the divided difference is the derivative
        scale = s.abs().amax(-1, keepdim=True).unsqueeze(-1).clamp(min=1.0)
        equal = diff.abs() <= 1e-12 * scale
        divided = (fs.unsqueeze(-1) - fs.unsqueeze(-2)) / torch.where(equal, torch.ones_like(diff), diff)
        k = torch.where(equal, 0.5 * (dfs.unsqueeze(-1) + dfs.unsqueeze(-2)), divided)
        inner = u.transpose(-1, -2) @ symmetrize(grad) @ u
        return u @ (k * inner) @ u.transpose(-1, -2), None, None


def spd_rectify(x: torch.Tensor, eps: float) -> torch.Tensor:
    """ReEig: U max(Lambda, eps) U^T of sym(X). (..., d, d) -> (..., d, d)."""
    return _SpectralFunction.apply(x, "rectify", float(eps))


def spd_log(x: torch.Tensor, eps: float) -> torch.Tensor:
    """LogEig: U log(max(Lambda, eps)) U^T of sym(X), the matrix logarithm of an SPD matrix. (..., d, d)."""
    return _SpectralFunction.apply(x, "log", float(eps))


def orthonormalize(weight: torch.Tensor) -> torch.Tensor:
    """The semi-orthogonal matrix of a full-rank (d_in, d_out) matrix, d_in >= d_out: Q of its reduced QR with the
    signs of R's diagonal made positive, so that a matrix with orthonormal columns maps to itself."""
    q, r = torch.linalg.qr(weight)
    signs = torch.sign(torch.diagonal(r, dim1=-2, dim2=-1))
    return q * torch.where(signs == 0, torch.ones_like(signs), signs).unsqueeze(-2)


class BiMap(nn.Module):
    """SPDNet's bilinear map X -> W^T X W with a semi-orthogonal W (orthonormalised in every pass).

    Args:
        in_dim: side d_in of the input matrices.
        out_dim: side d_out <= d_in of the output.

    Shapes:
        (B, d_in, d_in) SPD -> (B, d_out, d_out) SPD, in the input's dtype.
    """

    def __init__(self, in_dim: int, out_dim: int):
        super().__init__()
        if not 1 <= out_dim <= in_dim:
            raise ValueError(f"BiMap reduces: need 1 <= out_dim <= in_dim, got {in_dim} -> {out_dim}")
        self.weight = nn.Parameter(torch.empty(in_dim, out_dim))
        nn.init.orthogonal_(self.weight)

    def projection(self) -> torch.Tensor:
        """The semi-orthogonal W in use, (d_in, d_out) in float64."""
        return orthonormalize(self.weight.to(SPD_DTYPE))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.projection().to(x.dtype)
        return symmetrize(w.transpose(0, 1) @ x @ w)


# --- CovPoolFER -------------------------------------------------------------------------------------------------------
@dataclass
class CovPoolFERConfig(ModelConfig):
    """CovPoolFER's sizes; the defaults take the paper's 100x100 faces.

    Attributes:
        image_size: input side (100, RAF-DB's aligned faces).
        classes: the expressions, in logit order. Default: the eight FaceForge-Synth labels (neutral, anger,
            disgust, fear, happiness, sadness, surprise, contempt): RAF-DB's seven plus contempt.
        widths: channels of the CNN's stages; each stage is two 3x3 convolutions with batch norm and ReLU, then a
            2x2 max-pool.
        cov_channels: channels of the 1x1 convolution (with batch norm) whose map is covariance-pooled.
        spd_dims: output side of each BiMap + ReEig block, non-increasing; the last is the feature side d.
        hidden: units of the fully connected layer between the log-matrix and the embedding.
        embedding: size of the embedding, C's output (128).
        dropout: before the final classifier.
        cov_eps: added to the covariance diagonal.
        reeig_eps: ReEig's eigenvalue floor.
        log_eps: LogEig's eigenvalue floor.
    """

    model_type: str = "covpoolfer"
    image_size: int = 100
    classes: tuple[str, ...] = EXPRESSIONS
    widths: tuple[int, ...] = (64, 128, 256)
    cov_channels: int = 128
    spd_dims: tuple[int, ...] = (64, 32)
    hidden: int = 512
    embedding: int = 128
    dropout: float = 0.3
    cov_eps: float = 1e-4
    reeig_eps: float = 1e-4
    log_eps: float = 1e-8

    def __post_init__(self) -> None:
        super().__post_init__()
        self.check_range("image_size", low=16, high=1024)
        for name, high in (("cov_channels", 512), ("hidden", 8192), ("embedding", 4096)):
            self.check_range(name, low=1, high=high)
        self.check_range("dropout", low=0.0, high=1.0)
        for name in ("cov_eps", "reeig_eps", "log_eps"):
            self.check_range(name, low=0.0, high=1.0)
        if not 2 <= len(self.classes) <= 1024:
            raise ValueError(f"classes must name 2 to 1024 expressions, got {len(self.classes)}")
        if not 1 <= len(self.widths) <= 6 or any(not 1 <= w <= 2048 for w in self.widths):
            raise ValueError(f"widths must list 1 to 6 stage widths in [1, 2048], got {self.widths}")
        if self.map_size < 2:
            raise ValueError(f"{len(self.widths)} poolings leave a {self.map_size}x{self.map_size} map of a "
                             f"{self.image_size}-pixel face: too small to pool a covariance")
        dims = (self.cov_channels, *self.spd_dims)
        if not self.spd_dims or any(b < 1 or b > a for a, b in zip(dims, dims[1:])):
            raise ValueError(f"spd_dims must be non-increasing sides <= cov_channels ({self.cov_channels}), "
                             f"got {self.spd_dims}")

    @property
    def map_size(self) -> int:
        """Side of the covariance-pooled feature map (100 -> 12 after three poolings)."""
        side = self.image_size
        for _ in self.widths:
            side //= 2
        return side

    @property
    def feature_size(self) -> int:
        """Side d of the SPD feature F (the last of ``spd_dims``)."""
        return self.spd_dims[-1]

    @property
    def flat_size(self) -> int:
        """Entries of the log-matrix's upper triangle, C's input: d (d + 1) / 2."""
        return self.feature_size * (self.feature_size + 1) // 2


class CovPoolFER(FaceForgeModel):
    """CovPoolFER, split as FSR-FER uses it: :meth:`features` (F + SPD), :meth:`embed` (C), :meth:`classify`.

    Input: (B, 3, S, S) faces in [0, 1], S = ``config.image_size``. Output: (B, n_classes) logits, class order
    ``config.classes``.
    """

    config_class: ClassVar[type[CovPoolFERConfig]] = CovPoolFERConfig
    config: CovPoolFERConfig

    def __init__(self, config: CovPoolFERConfig):
        super().__init__(config)
        stages, c_in = [], 3
        for width in config.widths:
            stages.append(nn.Sequential(
                nn.Conv2d(c_in, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True),
                nn.Conv2d(width, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True),
                nn.MaxPool2d(2)))
            c_in = width
        reduce = nn.Conv2d(c_in, config.cov_channels, 1, bias=False)
        self.cnn = nn.Sequential(*stages, reduce, nn.BatchNorm2d(config.cov_channels))
        dims = (config.cov_channels, *config.spd_dims)
        self.bimaps = nn.ModuleList(BiMap(a, b) for a, b in zip(dims, dims[1:]))
        d = config.feature_size
        self.register_buffer("triu", torch.triu_indices(d, d), persistent=False)
        self.head = nn.Sequential(nn.Linear(config.flat_size, config.hidden), nn.ReLU(inplace=True),
                                  nn.Linear(config.hidden, config.embedding))
        self.classifier = nn.Sequential(nn.Dropout(config.dropout), nn.Linear(config.embedding, len(config.classes)))

    @classmethod
    def tiny_config(cls) -> CovPoolFERConfig:
        """32x32 faces, two narrow stages (an 8x8 map), covariance 8x8 -> 6x6 -> 4x4, an 8-d embedding."""
        return CovPoolFERConfig(image_size=32, widths=(4, 8), cov_channels=8, spd_dims=(6, 4), hidden=16,
                                embedding=8)

    def output_shapes(self, batch_size: int) -> tuple[int, int]:
        """(B, n_classes) logits."""
        return (batch_size, len(self.config.classes))

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """F + SPD, Eq. (1)-(2): the second-order feature of each face.

        Args:
            images: (B, 3, S, S) in [0, 1], S = ``config.image_size``.

        Returns:
            (B, d, d) symmetric log-matrices in float32, d = ``config.feature_size``.
        """
        cfg = self.config
        if images.ndim != 4 or tuple(images.shape[1:]) != (3, cfg.image_size, cfg.image_size):
            raise ValueError(f"CovPoolFER takes (B, 3, {cfg.image_size}, {cfg.image_size}) faces, "
                             f"got {tuple(images.shape)}")
        maps = self.cnn((images - 0.5) / 0.25)
        with torch.autocast(device_type=maps.device.type, enabled=False):
            x = covariance_pool(maps.float(), eps=cfg.cov_eps)
            for bimap in self.bimaps:
                x = spd_rectify(bimap(x), cfg.reeig_eps)
            return spd_log(x, cfg.log_eps).float()

    def embed(self, features: torch.Tensor) -> torch.Tensor:
        """C: the (B, d, d) log-matrix's upper triangle through the dense layers to the (B, embedding) vector."""
        return self.head(features[..., self.triu[0], self.triu[1]])

    def classify(self, embedding: torch.Tensor) -> torch.Tensor:
        """The final layer: (B, embedding) -> (B, n_classes) logits."""
        return self.classifier(embedding)

    def classify_features(self, features: torch.Tensor) -> torch.Tensor:
        """The FSR classifier of Fig. 2, C and the final layer: (B, d, d) features -> (B, n_classes) logits."""
        return self.classify(self.embed(features))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.classify_features(self.features(images))


# --- the feature generator G --------------------------------------------------------------------------------------
def _scaled_init(module: nn.Module, scale: float) -> None:
    """ESRGAN's initialisation: Kaiming-normal convolutions multiplied by ``scale``, zero biases."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, a=0, mode="fan_in")
            m.weight.data.mul_(scale)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


class ResidualDenseBlock(nn.Module):
    """ESRGAN's dense block of five 3x3 convolutions: each sees the input and every earlier output
    (``growth`` channels each, LeakyReLU 0.2), the fifth maps back to ``channels``; out = x + ``beta`` * conv5.

    Shapes:
        (B, channels, H, W) -> (B, channels, H, W).
    """

    def __init__(self, channels: int, growth: int, *, beta: float = 0.2):
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv2d(channels + i * growth, growth if i < 4 else channels, 3, 1, 1)
                                   for i in range(5))
        self.beta = beta
        _scaled_init(self, 0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        seen = [x]
        for conv in self.convs[:4]:
            seen.append(F.leaky_relu(conv(torch.cat(seen, 1)), 0.2))
        return x + self.beta * self.convs[4](torch.cat(seen, 1))


class RRDB(nn.Module):
    """ESRGAN's residual-in-residual dense block: three dense blocks, out = x + ``beta`` * RDB3(RDB2(RDB1(x))).

    Shapes:
        (B, channels, H, W) -> (B, channels, H, W).
    """

    def __init__(self, channels: int, growth: int, *, beta: float = 0.2):
        super().__init__()
        self.blocks = nn.Sequential(*(ResidualDenseBlock(channels, growth, beta=beta) for _ in range(3)))
        self.beta = beta

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.beta * self.blocks(x)


@dataclass
class FeatureGeneratorConfig(ModelConfig):
    """G's sizes (Sec. 3.4: ESRGAN's RRDB with reduced internal channels, 6 blocks).

    Attributes:
        feature_size: side d of the feature matrices (the backbone's ``feature_size``).
        channels: trunk channels (ESRGAN's 64).
        growth: internal channels of the dense blocks (ESRGAN's 32, reduced to 16).
        blocks: RRDBs (6).
        beta: residual scaling of the dense blocks and RRDBs (ESRGAN's 0.2).
    """

    model_type: str = "fsrfer_generator"
    feature_size: int = 32
    channels: int = 64
    growth: int = 16
    blocks: int = 6
    beta: float = 0.2

    def __post_init__(self) -> None:
        super().__post_init__()
        for name, high in (("feature_size", 512), ("channels", 512), ("growth", 512), ("blocks", 64)):
            self.check_range(name, low=1, high=high)
        self.check_range("beta", low=0.0, high=1.0)


class FeatureGenerator(FaceForgeModel):
    """G, Eq. (3): F_sr = G(F_lr), the LR face's feature made like the HR face's.

    Input: (B, d, d) symmetric features (:meth:`CovPoolFER.features`). Output: (B, d, d) symmetric,
    F_lr + the RRDB network's correction, symmetrised.
    """

    config_class: ClassVar[type[FeatureGeneratorConfig]] = FeatureGeneratorConfig
    config: FeatureGeneratorConfig

    def __init__(self, config: FeatureGeneratorConfig):
        super().__init__(config)
        c = config.channels
        self.head = nn.Conv2d(1, c, 3, 1, 1)
        self.trunk = nn.Sequential(*(RRDB(c, config.growth, beta=config.beta) for _ in range(config.blocks)))
        self.trunk_end = nn.Conv2d(c, c, 3, 1, 1)
        self.tail = nn.Sequential(nn.Conv2d(c, c, 3, 1, 1), nn.LeakyReLU(0.2, inplace=True), nn.Conv2d(c, 1, 3, 1, 1))

    @classmethod
    def tiny_config(cls) -> FeatureGeneratorConfig:
        return FeatureGeneratorConfig(feature_size=4, channels=8, growth=4, blocks=2)

    def example_inputs(self, batch_size: int = 2, *, seed: int = 0) -> tuple[torch.Tensor, ...]:
        """One (B, d, d) batch of symmetric matrices."""
        d = self.config.feature_size
        x = torch.randn(batch_size, d, d, generator=torch.Generator().manual_seed(seed))
        return (symmetrize(x),)

    def output_shapes(self, batch_size: int) -> tuple[int, int, int]:
        """(B, d, d)."""
        return (batch_size, self.config.feature_size, self.config.feature_size)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        d = self.config.feature_size
        if features.ndim != 3 or tuple(features.shape[1:]) != (d, d):
            raise ValueError(f"FeatureGenerator takes (B, {d}, {d}) features, got {tuple(features.shape)}")
        head = self.head(features.unsqueeze(1))
        trunk = self.trunk_end(self.trunk(head)) + head
        return symmetrize(features + self.tail(trunk).squeeze(1))


# --- the discriminator D ------------------------------------------------------------------------------------------
@dataclass
class FeatureDiscriminatorConfig(ModelConfig):
    """D's sizes: ESRGAN's discriminator without batch normalisation, on (d, d) features.

    Attributes:
        feature_size: side d of the features.
        channels: channels of the first stage (ESRGAN's 64); doubling per stage up to 8x.
        stages: (3x3 stride 1, 4x4 stride 2) pairs, each halving the side (rounded down); 2 ** stages <= d.
        hidden: units of the dense layer (ESRGAN's 100).
    """

    model_type: str = "fsrfer_discriminator"
    feature_size: int = 32
    channels: int = 64
    stages: int = 3
    hidden: int = 100

    def __post_init__(self) -> None:
        super().__post_init__()
        for name, high in (("feature_size", 512), ("channels", 512), ("stages", 8), ("hidden", 4096)):
            self.check_range(name, low=1, high=high)
        if 2**self.stages > self.feature_size:
            raise ValueError(f"{self.stages} stride-2 stages need features of side >= {2**self.stages}, "
                             f"got {self.feature_size}")


class FeatureDiscriminator(FaceForgeModel):
    """D of Eq. (8): a critic on features. Input: (B, d, d). Output: (B,) scores (unbounded; Eq. (8) makes them low
    for F_hr and high for F_sr)."""

    config_class: ClassVar[type[FeatureDiscriminatorConfig]] = FeatureDiscriminatorConfig
    config: FeatureDiscriminatorConfig

    def __init__(self, config: FeatureDiscriminatorConfig):
        super().__init__(config)
        layers: list[nn.Module] = []
        c_in, side = 1, config.feature_size
        for stage in range(config.stages):
            c = config.channels * min(2**stage, 8)
            layers += [nn.Conv2d(c_in, c, 3, 1, 1), nn.LeakyReLU(0.2, inplace=True),
                       nn.Conv2d(c, c, 4, 2, 1), nn.LeakyReLU(0.2, inplace=True)]
            c_in, side = c, side // 2
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(c_in * side * side, config.hidden),
                                        nn.LeakyReLU(0.2, inplace=True), nn.Linear(config.hidden, 1))

    @classmethod
    def tiny_config(cls) -> FeatureDiscriminatorConfig:
        return FeatureDiscriminatorConfig(feature_size=4, channels=4, stages=1, hidden=8)

    def example_inputs(self, batch_size: int = 2, *, seed: int = 0) -> tuple[torch.Tensor, ...]:
        """One (B, d, d) batch of symmetric matrices."""
        d = self.config.feature_size
        return (symmetrize(torch.randn(batch_size, d, d, generator=torch.Generator().manual_seed(seed))),)

    def output_shapes(self, batch_size: int) -> tuple[int]:
        """(B,) scores."""
        return (batch_size,)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(features.unsqueeze(1))).squeeze(1)


# --- the whole recogniser -----------------------------------------------------------------------------------------
@dataclass
class FSRFERConfig(ModelConfig):
    """The exported FSR-FER recogniser: the frozen backbone and the trained G.

    Attributes:
        backbone: the CovPoolFER's config.
        generator: G's config; its ``feature_size`` is the backbone's.
    """

    model_type: str = "fsrfer"
    backbone: CovPoolFERConfig = field(default_factory=CovPoolFERConfig)
    generator: FeatureGeneratorConfig = field(default_factory=FeatureGeneratorConfig)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.generator.feature_size != self.backbone.feature_size:
            raise ValueError(f"generator.feature_size ({self.generator.feature_size}) must be the backbone's "
                             f"feature_size ({self.backbone.feature_size})")


class FSRFER(FaceForgeModel):
    """Expression recognition of low-resolution faces: C(G(SPD(F(I_lr)))) and the final layer.

    Input: (B, 3, S, S) faces in [0, 1] at the backbone's size S: an LR face brought up by bicubic interpolation
    (:meth:`recognize` does that for any side). Output: (B, n_classes) logits, order ``config.backbone.classes``.
    """

    config_class: ClassVar[type[FSRFERConfig]] = FSRFERConfig
    config: FSRFERConfig

    def __init__(self, config: FSRFERConfig):
        super().__init__(config)
        self.backbone = CovPoolFER(config.backbone)
        self.generator = FeatureGenerator(config.generator)

    @classmethod
    def tiny_config(cls) -> FSRFERConfig:
        return FSRFERConfig(backbone=CovPoolFER.tiny_config(), generator=FeatureGenerator.tiny_config())

    @classmethod
    def from_parts(cls, backbone: CovPoolFER, generator: FeatureGenerator) -> FSRFER:
        """The recogniser made of a backbone and a generator (their weights copied)."""
        model = cls(FSRFERConfig(backbone=backbone.config, generator=generator.config))
        model.backbone.load_state_dict(backbone.state_dict())
        model.generator.load_state_dict(generator.state_dict())
        return model

    def example_inputs(self, batch_size: int = 2, *, seed: int = 0) -> tuple[torch.Tensor, ...]:
        """One (B, 3, S, S) batch in [0, 1] at the backbone's side S."""
        size = self.config.backbone.image_size
        return (torch.rand(batch_size, 3, size, size, generator=torch.Generator().manual_seed(seed)),)

    def output_shapes(self, batch_size: int) -> tuple[int, int]:
        """(B, n_classes) logits."""
        return (batch_size, len(self.config.backbone.classes))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.backbone.classify_features(self.generator(self.backbone.features(images)))

    @torch.no_grad()
    def recognize(self, faces: torch.Tensor) -> torch.Tensor:
        """Class probabilities of aligned faces of any side (B, 3, h, w) in [0, 1], brought to the backbone's
        side by bicubic interpolation first: (B, n_classes)."""
        size = self.config.backbone.image_size
        if faces.shape[-2:] != (size, size):
            faces = imresize(faces.float(), size=size, clamp=True)
        return self(faces).softmax(-1)


# --- the family's declaration (faceforge/registry.py lists this module) -----------------------------------------
FAMILY = ModelFamily(
    name="fsrfer",
    summary="expression recognition of x2-x8 low-resolution faces: a GAN super-resolves CovPoolFER's second-order "
            "features",
    paper=Paper(title="Feature Super-Resolution Based Facial Expression Recognition for Multi-scale Low-Resolution "
                      "Faces",
                authors="Wei Jing, Feng Tian, Jizhong Zhang, Kuo-Ming Chao, Zhenxin Hong and Xu Liu",
                venue="arXiv:2004.02234", year=2020),
    networks=(CovPoolFER, FeatureGenerator, FeatureDiscriminator, FSRFER),
    tasks={"covpoolfer": "faceforge.training.tasks.fsrfer:CovPoolFERTask",
           "fsrfer": "faceforge.training.tasks.fsrfer:FSRFERTask",
           "fsrfer_isr": "faceforge.training.tasks.fsrfer:ISRTask"},
    evaluators={"covpoolfer": "faceforge.training.tasks.fsrfer:evaluate_low_resolution_recognition",
                "fsrfer": "faceforge.training.tasks.fsrfer:evaluate_low_resolution_recognition"},
    shipped=(
        Shipped("covpoolfer", "CovPoolFER: expression recognition of 100x100 faces with covariance pooling and SPD "
                              "layers, FSR-FER's frozen backbone (the app reads it inside fsrfer)"),
        Shipped("fsrfer", "FSR-FER: expression recognition of x2-x8 low-resolution faces by super-resolving "
                          "CovPoolFER's features", roles=("app.fsrfer",)),
    ),
    commands=("faceforge.commands.recognize",),
    tabs=(Tab("Low-res recognition", "faceforge.demo.recognize_tab:build_recognize_tab", order=20),),
)
