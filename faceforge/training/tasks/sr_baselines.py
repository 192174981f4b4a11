"""Training tasks of SRCNN and VDSR (``faceforge.models.sr_baselines``), the generic baselines of MPENet's
Tables 1-2, trained on MPENet's data so that their rows compare with MPENet's ("all models are trained on the
same dataset", MPENet Sec. 4.3).

Data: exactly the ``mpenet`` task's (:class:`~faceforge.training.tasks.mpenet.SuperResolutionFaces`, MPENet
Sec. 4.2): random 128x128 crops of 144x144 aligned faces with horizontal flips for training, centre crops for
evaluation, and their MATLAB-bicubic x8 downsampling rounded to 8 bits as the 16x16 input.

Loss: the mean squared error of the restored face: SRCNN's Eq. (4), and VDSR's residual loss
1/2 ||r - f(x)||^2 (Sec. 3.2) up to its factor 1/2, since the output x + f(x) differs from y by f(x) - r.

Optimisation: Adam (``weight_decay`` 0) with a linear warm-up and cosine decay. The papers train with SGD:
SRCNN at 1e-4 (1e-5 in the last layer) on 33x33 sub-images, VDSR with momentum 0.9, weight decay 1e-4 and a
learning rate of 0.1 divided by 10 every 20 epochs, made stable by clipping every gradient to
[-theta / gamma, theta / gamma] at learning rate gamma ("adjustable gradient clipping", Sec. 3.2). Adam's steps
are bounded by its learning rate already; VDSR's runs clip the global gradient norm (the run's ``clip_grad``).

Run with ``train/configs/srcnn_cpu.yaml`` and ``vdsr_cpu.yaml`` (MPENet's CPU schedule) or ``srcnn.yaml`` and
``vdsr.yaml`` (the length of MPENet's paper schedule).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from faceforge.models.sr_baselines import SRCNN, VDSR, BicubicSR, SRCNNConfig, VDSRConfig
from faceforge.training.tasks.faces import SingleNetworkTask, dataset_card_name
from faceforge.training.tasks.mpenet import SuperResolutionFaces, super_resolution_split


@dataclass
class BicubicSROptions:
    """Data and optimisation of the ``srcnn`` and ``vdsr`` tasks (MPENet's data; the subclasses add ``net``)."""

    # data, as the mpenet task's
    crop_margin: int = 8  # training faces are (image_size + 2 margin) squares: 144 for random 128 crops
    train_length: int = 24000  # synthetic training faces
    eval_length: int = 500
    test_length: int | None = 2000  # test faces the model card reports on (None: the whole split)
    eval_split: str = "val"
    # Adam (AdamW without weight decay) with a linear warm-up over ``warmup`` of the run, then cosine decay
    lr: float = 1e-3
    weight_decay: float = 0.0
    warmup: float = 0.02

    def __post_init__(self) -> None:
        if self.crop_margin < 0:
            raise ValueError(f"crop_margin must be >= 0, got {self.crop_margin}")
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr}")
        if self.weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay}")
        if not 0 <= self.warmup < 1:
            raise ValueError(f"warmup must be in [0, 1), got {self.warmup}")


@dataclass
class SRCNNOptions(BicubicSROptions):
    """Options of the ``srcnn`` task; the network is ``net`` (``options.net.widths=[32,16]``)."""

    net: SRCNNConfig = field(default_factory=SRCNNConfig)


@dataclass
class VDSROptions(BicubicSROptions):
    """Options of the ``vdsr`` task; the network is ``net`` (``options.net.depth=10``)."""

    net: VDSRConfig = field(default_factory=VDSRConfig)


class BicubicSRTask(SingleNetworkTask):
    """Train one :class:`~faceforge.models.sr_baselines.BicubicSR` network with the pixel MSE on MPENet's data;
    an EMA copy of it is evaluated and exported, as the ``mpenet`` task's generator.

    Subclasses set ``Options``, ``network``, ``name`` and ``citation`` and describe the network in
    :meth:`architecture`.
    """

    opts: SRCNNOptions | VDSROptions
    ema = ("net",)
    network: ClassVar[type[BicubicSR]]
    name: ClassVar[str]  # as the model card names the network
    citation: ClassVar[str]

    # --- data ----------------------------------------------------------------------------------------------------
    def _faces(self, split: str, length: int | None, *, train: bool) -> SuperResolutionFaces:
        return super_resolution_split(self, split, length, train=train)

    def train_dataset(self) -> Dataset:
        self.train_set = self._faces("train", self.opts.train_length, train=True)
        return self.train_set

    def eval_dataset(self) -> Dataset:
        return self._faces(self.opts.eval_split, self.opts.eval_length, train=False)

    # --- network and loss ----------------------------------------------------------------------------------------
    def build_networks(self) -> dict[str, torch.nn.Module]:
        return {"net": self.network(self.opts.net)}

    def step(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict]:
        # SRCNN Eq. (4) / VDSR Sec. 3.2: the squared error of the restored face, averaged over its pixels
        sr = self.nets["net"](batch["lr"])["sr"]
        return F.mse_loss(sr.float(), batch["image"]), {}

    # --- evaluation ----------------------------------------------------------------------------------------------
    def evaluate(self, loader) -> dict[str, float]:
        """PSNR / SSIM on Y of the output and of bicubic upsampling (``psnr``, ``ssim``, ``psnr_bicubic``, ...):
        :class:`faceforge.evaluation.SuperResolutionScores`, as ``faceforge eval`` and the mpenet task measure."""
        from faceforge.evaluation import SuperResolutionScores

        net = self.nets["net"]
        scores = SuperResolutionScores(steps=net.config.steps, image_size=net.config.image_size)
        for batch in loader:
            scores.add(batch["image"], batch["lr"], net(batch["lr"]))
        return scores.metrics(())  # no AU columns

    def sample(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Each row: the LR input (nearest upsampling) | bicubic | the output | the HR face."""
        net = self.nets["net"]
        lr = batch["lr"]
        nearest = F.interpolate(lr, scale_factor=net.config.scale, mode="nearest")
        return torch.cat([nearest, net.upsample(lr).clamp(0, 1), net.restore(lr).float(), batch["image"]], dim=-1)

    # --- model card ----------------------------------------------------------------------------------------------
    def test_metrics(self) -> dict[str, float]:
        """``evaluate`` on the test split (centre crops), the figures the card reports."""
        test = self._faces("test", self.opts.test_length, train=False)
        loader = DataLoader(test, batch_size=self.run.eval_batch_size or self.run.batch_size, num_workers=0)
        return self.evaluate({k: v.to(self.device) for k, v in b.items()} for b in loader)

    def architecture(self) -> str:
        """The network in a few words, from its config."""
        raise NotImplementedError(f"{type(self).__name__} must describe its network (architecture)")

    def card(self, metrics: dict[str, float], test: dict) -> dict:
        cfg = self.nets["net"].config
        lr, size = cfg.lr_size, cfg.image_size
        data_id, data_text = dataset_card_name(self)
        rows = [{"name": f"{kind.upper()} (Y)", "type": kind, "value": round(test[kind], 4), "dataset_name": data_id,
                 "dataset_type": data_id, "dataset_split": "test"} for kind in ("psnr", "ssim")]
        lines = ["| output | PSNR-Y (dB) | SSIM-Y |", "|---|---|---|",
                 f"| bicubic | {test['psnr_bicubic']:.2f} | {test['ssim_bicubic']:.4f} |",
                 f"| {self.name} | {test['psnr']:.2f} | {test['ssim']:.4f} |",
                 "", f"{self.name} - bicubic: {test['psnr'] - test['psnr_bicubic']:+.2f} dB PSNR-Y, "
                     f"{test['ssim'] - test['ssim_bicubic']:+.4f} SSIM-Y."]
        faces = self.total_steps * self.run.batch_size * self.run.grad_accum * self.num_processes
        bordered = size + 2 * self.opts.crop_margin
        clipping = f", gradient norm clipped at {self.run.clip_grad:g}" if self.run.clip_grad > 0 else ""
        training = {
            "data": (f"{data_text}; random {size} crops of {bordered} faces with horizontal flips, MATLAB-bicubic "
                     f"x{cfg.scale} inputs (the mpenet task's data)"),
            "schedule": (f"{self.total_steps} iterations, {faces} faces = {faces / len(self.train_set):.2f} epochs "
                         f"of the {len(self.train_set)} training faces; pixel MSE, Adam lr {self.opts.lr:g} with "
                         f"{self.opts.warmup:.0%} warm-up and cosine decay{clipping}"),
        }
        test_faces = f"{self.opts.test_length} faces" if self.opts.test_length else "the whole split"
        return {
            "title": f"faceforge {self.name} (baseline of MPENet's Tables 1-2)",
            "summary": (f"x{cfg.scale} face super-resolution ({lr}x{lr} -> {size}x{size}, aligned faces) with "
                        f"{self.name} ({self.citation}): {self.architecture()}. Trained on the data of faceforge's "
                        f"MPENet as a baseline row of its Tables 1-2; not a shipped model."),
            "pipeline_tag": "image-to-image",
            "datasets": [data_id],
            "metrics": rows,
            "training": training,
            "tags": ["face-super-resolution", "super-resolution", self.name.lower()],
            "sections": {f"Results on the test split (centre crops, {test_faces})": "\n".join(lines)},
            "usage": ("import faceforge, torch\n"
                      "model = faceforge.from_pretrained(\"path/to/this/folder\")\n"
                      f"lr = torch.rand(1, 3, {lr}, {lr})  # aligned faces, bicubic x{cfg.scale} downsampled\n"
                      f"face = model.restore(lr)  # (1, 3, {size}, {size}) in [0, 1]; model(lr)['sr'] unclamped"),
        }


class SRCNNTask(BicubicSRTask):
    """SRCNN (Dong et al., ECCV 2014) on MPENet's data."""

    Options = SRCNNOptions
    opts: SRCNNOptions
    network = SRCNN
    name = "SRCNN"
    citation = "Dong, Loy, He and Tang, ECCV 2014"

    def architecture(self) -> str:
        (f1, f2, f3), (n1, n2) = self.opts.net.kernel_sizes, self.opts.net.widths
        return f"three convolutions ({f1}-{f2}-{f3}, {n1} and {n2} filters, ReLU) on the bicubic-upsampled input"


class VDSRTask(BicubicSRTask):
    """VDSR (Kim, Lee and Lee, CVPR 2016) on MPENet's data."""

    Options = VDSROptions
    opts: VDSROptions
    network = VDSR
    name = "VDSR"
    citation = "Kim, Lee and Lee, CVPR 2016"

    def architecture(self) -> str:
        net = self.opts.net
        return (f"{net.depth} 3x3 convolutions ({net.channels} filters, ReLU) that predict the residual of the "
                f"bicubic-upsampled input (global residual learning)")
