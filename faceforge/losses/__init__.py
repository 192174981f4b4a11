"""Losses shared by the models."""

from faceforge.losses.adversarial import interpolated_gradients
from faceforge.losses.au import au_class_weights, au_loss, weighted_bce, weighted_dice
from faceforge.losses.perceptual import PerceptualLoss, PerceptualWeightsError

__all__ = ["PerceptualLoss", "PerceptualWeightsError", "au_class_weights", "au_loss", "interpolated_gradients",
           "weighted_bce", "weighted_dice"]
