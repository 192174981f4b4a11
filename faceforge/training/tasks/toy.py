"""A tiny GAN on 8x8 pictures of coloured squares: the smallest real task, for checking the training loop.

Everything the face models use is here at toy scale: two networks with their own Adam optimizers and
learning-rate schedules, D and G steps at a configurable ratio, the non-saturating GAN loss, dropout (so the
RNG matters), an EMA of the generator, sample grids and an evaluation metric. It trains in seconds on a CPU::

    python train/train.py --task toy
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from faceforge.models.toy import ToyGenerator, ToyGeneratorConfig
from faceforge.training.task import Step, Task


class ToyDiscriminator(nn.Module):
    """MLP critic: images (B, 3, S, S) -> logits (B,)."""

    def __init__(self, image_size: int, hidden: int, dropout: float):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(3 * image_size**2, hidden), nn.LeakyReLU(0.2),
                                 nn.Dropout(dropout), nn.Linear(hidden, 1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images).squeeze(1)


class ToySquares(Dataset):
    """``{"image": (3, S, S)}``: one coloured square on a dark background, drawn from ``(seed, index)``."""

    def __init__(self, length: int, *, size: int = 8, seed: int = 0):
        self.length, self.size, self.seed = length, size, seed

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        if not 0 <= index < self.length:
            raise IndexError(index)
        rng = np.random.default_rng([self.seed, index])
        image = np.full((3, self.size, self.size), 0.1, dtype=np.float32)
        side = int(rng.integers(2, self.size // 2 + 2))
        y, x = rng.integers(0, self.size - side + 1, size=2)
        image[:, y:y + side, x:x + side] = rng.uniform(0.3, 1.0, size=(3, 1, 1))
        return {"image": torch.from_numpy(image)}


@dataclass
class ToyOptions:
    net: ToyGeneratorConfig = field(default_factory=ToyGeneratorConfig)  # the generator (hidden: D's width too)
    dropout: float = 0.1
    length: int = 256  # training pictures
    eval_length: int = 64
    lr_g: float = 2e-3
    lr_d: float = 2e-3
    betas: tuple[float, float] = (0.5, 0.99)
    lr_decay: float = 0.999  # learning rates multiply by this after every update
    d_every: int = 1  # one D update every d_every iterations
    g_every: int = 1
    step_seconds: float = 0.0  # pause after each G step (to watch or interrupt a run mid-way)


class ToyGAN(Task):
    """Non-saturating GAN (Goodfellow et al. 2014): :class:`ToyGenerator` versus :class:`ToyDiscriminator`."""

    Options = ToyOptions
    ema = ("g",)
    opts: ToyOptions

    def build_networks(self) -> dict[str, nn.Module]:
        o = self.opts
        return {"g": ToyGenerator(o.net), "d": ToyDiscriminator(o.net.image_size, o.net.hidden, o.dropout)}

    def build_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        o = self.opts
        return {"d": torch.optim.Adam(self.nets["d"].parameters(), lr=o.lr_d, betas=o.betas),
                "g": torch.optim.Adam(self.nets["g"].parameters(), lr=o.lr_g, betas=o.betas)}

    def build_schedulers(self):
        return {k: torch.optim.lr_scheduler.ExponentialLR(opt, gamma=self.opts.lr_decay)
                for k, opt in self.optimizers.items()}

    def train_dataset(self) -> Dataset:
        return ToySquares(self.opts.length, size=self.opts.net.image_size, seed=self.run.seed)

    def eval_dataset(self) -> Dataset:
        return ToySquares(self.opts.eval_length, size=self.opts.net.image_size, seed=self.run.seed + 1)

    def steps(self) -> list[Step]:
        return [Step("d", self.d_step, every=self.opts.d_every),
                Step("g", self.g_step, every=self.opts.g_every)]

    def _noise(self, n: int) -> torch.Tensor:
        return torch.randn(n, self.opts.net.latent_dim, device=self.device)

    def d_step(self, batch: dict[str, torch.Tensor]):
        real = batch["image"]
        with torch.no_grad():
            fake = self.nets["g"](self._noise(real.shape[0]))
        real_logit, fake_logit = self.nets["d"](real), self.nets["d"](fake)
        loss = F.softplus(-real_logit).mean() + F.softplus(fake_logit).mean()
        return loss, {"real": real_logit.mean(), "fake": fake_logit.mean()}

    def g_step(self, batch: dict[str, torch.Tensor]):
        fake = self.nets["g"](self._noise(batch["image"].shape[0]))
        loss = F.softplus(-self.nets["d"](fake)).mean()
        if self.opts.step_seconds:
            time.sleep(self.opts.step_seconds)
        return loss, {}

    def _fixed_noise(self, n: int) -> torch.Tensor:
        generator = torch.Generator().manual_seed(0)
        return torch.randn(n, self.opts.net.latent_dim, generator=generator).to(self.device)

    def sample(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Each picture: a real one | a generated one (fixed latent codes)."""
        real = batch["image"]
        return torch.cat([real, self.nets["g"](self._fixed_noise(real.shape[0]))], dim=-1)

    def evaluate(self, loader) -> dict[str, float]:
        """``mean_l1``: mean absolute difference between the real and generated mean pictures."""
        real_sum, n = 0.0, 0
        for batch in loader:
            real_sum = real_sum + batch["image"].sum(0)
            n += batch["image"].shape[0]
        fake_mean = self.nets["g"](self._fixed_noise(max(n, 1))).mean(0)
        return {"mean_l1": float((real_sum / max(n, 1) - fake_mean).abs().mean())}

    def export(self) -> ToyGenerator:
        return self.nets["g"]

    def card(self, metrics: dict[str, float], test: dict) -> dict:
        o = self.opts
        return {
            "title": "faceforge toy generator",
            "summary": "An 8x8 coloured-square GAN generator: the training loop's smallest end-to-end task.",
            "pipeline_tag": "unconditional-image-generation",
            "datasets": ["toy-squares"],
            "metrics": [{"name": "L1 between mean real and mean generated picture", "type": "mae", "value": v,
                         "dataset_name": "Toy squares", "dataset_type": "toy-squares",
                         "dataset_split": "eval"} for k, v in metrics.items() if k == "mean_l1"],
            "training": {"data": f"toy squares, {o.length} training and {o.eval_length} eval pictures of "
                                 f"{o.net.image_size}x{o.net.image_size}"},
            "usage": "import torch, faceforge\ng = faceforge.from_pretrained('runs/toy/model')\n"
                     "images = g(torch.randn(16, g.config.latent_dim))  # (16, 3, 8, 8) in [0, 1]",
            "tags": ["gan", "toy"],
        }
