"""Evaluation metrics: Y-channel PSNR/SSIM for restoration, AU F1/accuracy and expression accuracy."""

from faceforge.metrics.classification import (
    au_metrics,
    binarize,
    classification_accuracy,
    confusion_matrix,
    expression_metrics,
    format_table,
    predicted_classes,
)
from faceforge.metrics.image import (
    ImageQualityMeter,
    batch_psnr_y,
    batch_ssim_y,
    psnr_y,
    rgb_to_y,
    ssim_y,
    y_channel,
)

__all__ = [
    "ImageQualityMeter",
    "au_metrics",
    "batch_psnr_y",
    "batch_ssim_y",
    "binarize",
    "classification_accuracy",
    "confusion_matrix",
    "expression_metrics",
    "format_table",
    "predicted_classes",
    "psnr_y",
    "rgb_to_y",
    "ssim_y",
    "y_channel",
]
