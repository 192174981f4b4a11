"""AU losses of MPENet (Zhang and Liu, IJCB 2022, "AU Detection Branch"), Eq. (6)-(8).

    L_cross = -sum_i w_i [y_i log p_i + (1 - y_i) log(1 - p_i)]                       (6)
    L_dice  =  sum_i w_i (1 - (2 y_i p_i + eps) / (y_i^2 + p_i^2 + eps))               (7)
    L_au    =  L_cross + L_dice                                                          (8)
    w_i     = n_au (1 / r_i) / sum_j (1 / r_j),   r_i the occurrence rate of AU i in the training set.

Eq. (6)'s first term is printed as ``y_hat log y_hat`` in the text; it is the usual ``y log y_hat``. The Dice
term is summed over the batch per AU before the ratio (as JAA-Net, which the paper cites for it, does), which
keeps it defined for AUs absent from a batch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def au_class_weights(occurrence_rates: torch.Tensor, *, min_rate: float = 1e-3) -> torch.Tensor:
    """w_i = n_au (1 / r_i) / sum_j (1 / r_j), from (n_au,) occurrence rates in (0, 1]."""
    inv = 1.0 / occurrence_rates.clamp(min=min_rate)
    return inv * occurrence_rates.numel() / inv.sum()


def weighted_bce(logits: torch.Tensor, target: torch.Tensor, weights: torch.Tensor | None = None,
                 mask: torch.Tensor | None = None) -> torch.Tensor:
    """Eq. (6), averaged over the batch. logits/target/mask: (B, n_au); weights: (n_au,); mask 1 = label known."""
    loss = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    if weights is not None:
        loss = loss * weights
    if mask is not None:
        loss = loss * mask
        return loss.sum() / mask.sum().clamp(min=1) * logits.shape[1] / max(1, logits.shape[1])
    return loss.sum(1).mean() / logits.shape[1]


def weighted_dice(logits: torch.Tensor, target: torch.Tensor, weights: torch.Tensor | None = None,
                  mask: torch.Tensor | None = None, eps: float = 1.0) -> torch.Tensor:
    """Eq. (7) with the sums over the batch, averaged over AUs."""
    p = torch.sigmoid(logits)
    if mask is not None:
        p, target = p * mask, target * mask
    dice = 1 - (2 * (p * target).sum(0) + eps) / ((target**2).sum(0) + (p**2).sum(0) + eps)
    if weights is not None:
        dice = dice * weights
    return dice.mean()


def au_loss(logits: torch.Tensor, target: torch.Tensor, weights: torch.Tensor | None = None,
            mask: torch.Tensor | None = None) -> torch.Tensor:
    """Eq. (8): L_au = L_cross + L_dice (both normalised per AU so the scale does not grow with n_au)."""
    return weighted_bce(logits, target, weights, mask) + weighted_dice(logits, target, weights, mask)
