"""faceforge: facial-expression-aware face restoration, recognition and editing."""

__version__ = "0.1.0"
