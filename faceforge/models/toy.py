"""A toy family: an MLP generator of 8x8 coloured squares, the training loop's smallest end-to-end model.

It exists to check the framework: the loop (``faceforge/training/tasks/toy.py``), saving and loading, and the
path a new family takes into faceforge (``docs/adding-a-model.md`` walks through exactly this file).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from faceforge.family import ModelFamily
from faceforge.modeling import FaceForgeModel, ModelConfig


@dataclass
class ToyGeneratorConfig(ModelConfig):
    model_type: str = "toy_generator"
    latent_dim: int = 8
    hidden: int = 32
    image_size: int = 8

    def __post_init__(self) -> None:
        super().__post_init__()
        if min(self.latent_dim, self.hidden, self.image_size) < 1:
            raise ValueError("latent_dim, hidden and image_size must be >= 1")
        self.check_range("latent_dim", "hidden", low=1, high=4096)
        self.check_range("image_size", low=1, high=128)


class ToyGenerator(FaceForgeModel):
    """MLP generator: latent codes (B, latent_dim) -> images (B, 3, S, S) in [0, 1]."""

    config_class = ToyGeneratorConfig

    def __init__(self, config: ToyGeneratorConfig):
        super().__init__(config)
        s = config.image_size
        self.net = nn.Sequential(nn.Linear(config.latent_dim, config.hidden), nn.LeakyReLU(0.2),
                                 nn.Linear(config.hidden, 3 * s * s))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        s = self.config.image_size
        return torch.sigmoid(self.net(z)).view(-1, 3, s, s)

    def example_inputs(self, batch_size: int = 2, *, seed: int = 0) -> tuple[torch.Tensor, ...]:
        """One (B, latent_dim) batch of latent codes."""
        generator = torch.Generator().manual_seed(seed)
        return (torch.randn(batch_size, self.config.latent_dim, generator=generator),)

    def output_shapes(self, batch_size: int) -> tuple[int, ...]:
        s = self.config.image_size
        return (batch_size, 3, s, s)


# --- the family's declaration (docs/adding-a-model.md) ----------------------------------------------------------
FAMILY = ModelFamily(
    name="toy",
    summary="8x8 coloured-square GAN: the training loop's smallest end-to-end task",
    networks=(ToyGenerator,),
    tasks={"toy": "faceforge.training.tasks.toy:ToyGAN"},
)
