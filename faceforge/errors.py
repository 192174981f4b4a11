"""Exceptions faceforge raises for bad input. Each carries a message meant to be shown to a person as is."""

from __future__ import annotations


class FaceForgeError(Exception):
    """Base class of every error faceforge raises on purpose."""


class ImageReadError(FaceForgeError, ValueError):
    """The input is not a readable image (corrupt, empty, unsupported format)."""


class ImageTooLargeError(FaceForgeError, ValueError):
    """The input image is larger than the configured pixel limit."""


class NoFaceFoundError(FaceForgeError, LookupError):
    """No face was detected in the image."""


class NotAFaceCropError(FaceForgeError, ValueError):
    """An image given as an aligned face crop is not one (it is not square)."""


class ScaleError(FaceForgeError, ValueError):
    """A down-sampling factor a model does not take (not a whole number, or outside its range)."""


class EditTargetError(FaceForgeError, ValueError):
    """An editing target an editor cannot take: an unknown expression or AU, an intensity out of range."""


class DatasetLayoutError(FaceForgeError, FileNotFoundError):
    """A dataset folder does not have the layout its loader expects."""


class ModelLoadError(FaceForgeError, ValueError):
    """A model folder or Hub repo cannot be turned into a network (unknown type, bad config or weights)."""


class VideoReadError(FaceForgeError, ValueError):
    """The input is not a readable video (corrupt, empty, no video stream), or it is longer than the frame limit."""
