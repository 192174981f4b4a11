"""Losses shared by the models."""

from faceforge.losses.au import au_class_weights, au_loss, weighted_bce, weighted_dice

__all__ = ["au_class_weights", "au_loss", "weighted_bce", "weighted_dice"]
