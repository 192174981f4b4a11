"""Data: the FaceForge-Synth face set, real-dataset loaders, and the degradations the papers use."""

from faceforge.data.datasets import build_dataset, list_datasets
from faceforge.data.degrade import (
    Degraded,
    apply_occlusion,
    bicubic_downsample,
    degrade,
    imresize,
    quantize_8bit,
    random_square_mask,
    resize_mask,
    to_low_resolution,
)

__all__ = [
    "build_dataset", "list_datasets",
    "Degraded", "apply_occlusion", "bicubic_downsample", "degrade", "imresize", "quantize_8bit",
    "random_square_mask", "resize_mask", "to_low_resolution",
]
