"""MPENet's AU losses, Eq. (6)-(8), against hand-computed values."""

import math

import pytest
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
    expected = weighted_bce(logits, target, w) + weighted_dice(logits, target, w)
    assert torch.allclose(au_loss(logits, target, w), expected)
    mask = torch.ones(8, 5)
    mask[:, 0] = 0
    flipped = target.clone()
    flipped[:, 0] = 1 - flipped[:, 0]  # changing a masked-out label changes nothing
    assert torch.allclose(au_loss(logits, target, w, mask), au_loss(logits, flipped, w, mask))


def test_perceptual_loss_uses_a_trained_classifier_and_never_a_random_network(tmp_path):
    import pytest

    from faceforge.losses import PerceptualLoss, PerceptualWeightsError
    from faceforge.models.expression import ExpressionClassifier

    with pytest.raises(PerceptualWeightsError, match="no trained expression classifier"):
        PerceptualLoss.from_expression_classifier(tmp_path / "missing")
    with pytest.raises(PerceptualWeightsError, match="does not exist"):
        PerceptualLoss.from_timm_vgg19(tmp_path / "vgg19.safetensors")

    model = ExpressionClassifier(ExpressionClassifier.tiny_config())
    model.save_pretrained(tmp_path / "expr")  # a saved (here: tiny) classifier folder, as the shipped one
    loss = PerceptualLoss.from_expression_classifier(tmp_path / "expr", layers=(0, 1))
    x = torch.rand(2, 3, 32, 32)
    assert float(loss(x, x)) == 0.0
    y = x.clone().requires_grad_(True)
    value = loss(y, torch.rand(2, 3, 32, 32))
    value.backward()
    assert value > 0 and y.grad is not None
    assert all(not p.requires_grad for p in loss.network.parameters())
    loss.train()
    assert not loss.network.training  # feature statistics stay frozen


@pytest.mark.slow
def test_timm_vgg19_loads_from_a_local_weights_file(tmp_path):
    import timm
    from safetensors.torch import save_file

    from faceforge.losses import PerceptualLoss

    reference = timm.create_model("vgg19", pretrained=False)
    save_file(reference.state_dict(), str(tmp_path / "vgg19.safetensors"))
    loss = PerceptualLoss.from_timm_vgg19(tmp_path / "vgg19.safetensors", layers=(0,))
    loaded = loss.network.state_dict()
    assert torch.equal(loaded["features_0.weight"], reference.state_dict()["features.0.weight"])  # from the file
    x = torch.rand(1, 3, 64, 64)
    assert float(loss(x, x)) == 0.0


def test_perceptual_sum_reduction_is_the_squared_norm_per_image(tmp_path):
    from faceforge.losses import PerceptualLoss
    from faceforge.models.expression import ExpressionClassifier

    torch.manual_seed(0)
    model = ExpressionClassifier(ExpressionClassifier.tiny_config()).eval()
    loss = PerceptualLoss.from_expression_classifier(model, layers=(1,), criterion="l2")
    x, y = torch.rand(3, 3, 32, 32), torch.rand(3, 3, 32, 32)
    fx, fy = model.features(x)[0][1], model.features(y)[0][1]
    expected = (fx - fy).square().flatten(1).sum(1).mean()
    assert torch.allclose(loss(x, y, reduction="sum"), expected, rtol=1e-5)
    assert torch.allclose(loss(x, y), (fx - fy).square().mean(), rtol=1e-5)
