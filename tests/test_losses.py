"""MPENet's AU losses, Eq. (6)-(8), against hand-computed values."""

import math

import torch

from faceforge.losses import au_class_weights, au_loss, weighted_bce, weighted_dice


def test_class_weights_follow_inverse_occurrence_rates_and_sum_to_n_au():
    rates = torch.tensor([0.5, 0.25, 0.1])
    w = au_class_weights(rates)
    inv = torch.tensor([2.0, 4.0, 10.0])
    assert torch.allclose(w, inv * 3 / inv.sum())
    assert math.isclose(float(w.sum()), 3.0, rel_tol=1e-6)
    assert w[2] > w[1] > w[0]  # rare AUs weigh more


def test_weighted_bce_matches_the_formula():
    logits = torch.tensor([[0.0, 2.0], [-1.0, 1.0]])
    target = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    w = torch.tensor([1.0, 3.0])
    p = torch.sigmoid(logits)
    manual = -(w * (target * p.log() + (1 - target) * (1 - p).log())).sum(1).mean() / 2
    assert torch.allclose(weighted_bce(logits, target, w), manual)


def test_dice_is_zero_for_perfect_predictions_and_one_for_disjoint_ones():
    target = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    perfect = (target * 2 - 1) * 40.0
    assert float(weighted_dice(perfect, target, eps=1e-6)) < 1e-4
    assert math.isclose(float(weighted_dice(-perfect, target, eps=1e-6)), 1.0, abs_tol=1e-4)


def test_au_loss_is_their_sum_and_masks_unknown_labels():
    torch.manual_seed(0)
    logits, target = torch.randn(8, 5), (torch.rand(8, 5) > 0.5).float()
    w = au_class_weights(torch.full((5,), 0.3))
    assert torch.allclose(au_loss(logits, target, w), weighted_bce(logits, target, w) + weighted_dice(logits, target, w))
    mask = torch.ones(8, 5)
    mask[:, 0] = 0
    flipped = target.clone()
    flipped[:, 0] = 1 - flipped[:, 0]  # changing a masked-out label changes nothing
    assert torch.allclose(au_loss(logits, target, w, mask), au_loss(logits, flipped, w, mask))
