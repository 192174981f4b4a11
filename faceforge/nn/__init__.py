"""Network building blocks shared by the faceforge models: convolution units, residual blocks, SRFBN's
feedback block, stacked hourglasses, landmark heatmaps and discriminators."""

from faceforge.nn.blocks import BottleneckResidual, conv_prelu, deconv_prelu
from faceforge.nn.discriminator import SRGANDiscriminator
from faceforge.nn.feedback import FeedbackBlock, projection_geometry
from faceforge.nn.heatmaps import decode_radius, heatmap_landmarks, landmark_heatmaps
from faceforge.nn.hourglass import FaceAlignmentBranch, Hourglass, StackedHourglass

__all__ = [
    "BottleneckResidual",
    "FaceAlignmentBranch",
    "FeedbackBlock",
    "Hourglass",
    "SRGANDiscriminator",
    "StackedHourglass",
    "conv_prelu",
    "decode_radius",
    "deconv_prelu",
    "heatmap_landmarks",
    "landmark_heatmaps",
    "projection_geometry",
]
