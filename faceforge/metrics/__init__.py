"""Evaluation metrics: Y-channel PSNR/SSIM for restoration, AU F1/accuracy/AUC/AP, expression accuracy, and
bootstrap confidence intervals over test faces."""

from faceforge.metrics.bootstrap import (
    BootstrapTable,
    Interval,
    bootstrap_interval,
    bootstrap_samples,
    paired_difference,
)
from faceforge.metrics.classification import (
    au_metrics,
    au_ranking_metrics,
    average_precision,
    best_f1_thresholds,
    binarize,
    classification_accuracy,
    confusion_matrix,
    expression_metrics,
    format_table,
    predicted_classes,
    roc_auc,
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
    "BootstrapTable",
    "ImageQualityMeter",
    "Interval",
    "au_metrics",
    "au_ranking_metrics",
    "average_precision",
    "batch_psnr_y",
    "best_f1_thresholds",
    "bootstrap_interval",
    "bootstrap_samples",
    "batch_ssim_y",
    "binarize",
    "classification_accuracy",
    "confusion_matrix",
    "expression_metrics",
    "format_table",
    "paired_difference",
    "predicted_classes",
    "psnr_y",
    "rgb_to_y",
    "roc_auc",
    "ssim_y",
    "y_channel",
]
