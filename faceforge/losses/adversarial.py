"""What the gradient penalties of Wasserstein critics share."""

from __future__ import annotations

import torch


def interpolated_gradients(critic, real: torch.Tensor, fake: torch.Tensor,
                           mix: torch.Tensor | None = None) -> torch.Tensor:
    """The critic's input gradients at x^ = u real + (1 - u) fake, one u per sample.

    Args:
        critic: (B, ...) -> (B,) scores.
        real, fake: (B, ...) samples (detached here from what made them).
        mix: (B,) the u of each sample; default uniform in [0, 1) from torch's RNG.

    Returns:
        (B, N) the flattened gradients, with ``create_graph`` so that a penalty on them trains the critic.
    """
    u = torch.rand(real.shape[0], device=real.device, dtype=real.dtype) if mix is None else mix.to(real)
    u = u.reshape(-1, *([1] * (real.ndim - 1)))
    points = (u * real.detach() + (1 - u) * fake.detach()).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(points).float().sum(), points, create_graph=True)
    return grad.flatten(1)
